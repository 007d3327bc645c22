#!/usr/bin/env bats
# prune: arguments, then retention decisions on a fake backup tree (base backups with their metadata, logical
# sets, archived WAL) at a fixed --now: daily, weekly and monthly sets, --dry-run, sets not yet confirmed
# off-site, WAL kept back to the oldest retained base backup (the real pg_archivecleanup), crash leftovers.
load helpers
load postgres-stubs

PG15=/usr/lib/postgresql/15/bin
NOW=1772625600 # 2026-03-04T12:00:00Z, a Wednesday (ISO week 2026-W10)
# Oldest first, each with the WAL segment it starts at.
IDS=(20251201T020000Z 20260115T020000Z 20260210T020000Z 20260220T020000Z 20260222T020000Z 20260226T020000Z
  20260228T020000Z 20260301T020000Z 20260302T020000Z 20260303T020000Z 20260304T020000Z)
# With 1 daily day, 2 weekly weeks and 3 months: the newest; the newest of W09 (03-01) and of W08 (02-22);
# the newest of February not already kept (02-28) and of January (01-15). December is 3 months back.
KEPT=(20260115T020000Z 20260222T020000Z 20260228T020000Z 20260301T020000Z 20260304T020000Z)
DROPPED=(20251201T020000Z 20260210T020000Z 20260220T020000Z 20260226T020000Z 20260302T020000Z 20260303T020000Z)

segment() { printf '0000000100000000%08X' "$1"; }

setup() {
  agent_setup
  mkdir -p "$TMP/base" "$TMP/logical" "$TMP/wal" "$TMP/marks"
  setting PG_BIN "$PG15"
  setting PG_OS_USER "$(id -un)"
  setting BASE_DIR "$TMP/base"
  setting LOGICAL_DIR "$TMP/logical"
  setting WAL_DIR "$TMP/wal"
  setting RETAIN_DAILY_DAYS 1
  setting RETAIN_WEEKLY_WEEKS 2
  setting RETAIN_MONTHS 3
  setting RETAIN_NEWEST 1
  local i id
  for i in "${!IDS[@]}"; do
    id=${IDS[$i]}
    mkdir -p "$TMP/base/$id"
    echo data >"$TMP/base/$id/base.tar"
    printf 'id=%s\nstart_wal=%s\n' "$id" "$(segment $((2 * i + 1)))" >"$TMP/base/$id/drkit-backup.env"
    echo dump >"$TMP/logical/app_$id.custom.dump"
    echo dump >"$TMP/logical/reports_$id.custom.dump"
    echo roles >"$TMP/logical/globals_$id.sql"
  done
  for i in $(seq 1 22); do echo wal >"$TMP/wal/$(segment "$i")"; done
  echo history >"$TMP/wal/00000002.history"
}
teardown() { agent_teardown; }

base_ids() { find "$TMP/base" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '; }
logical_ids() {
  find "$TMP/logical" -maxdepth 1 -type f -printf '%f\n' | grep -oE '[0-9]{8}T[0-9]{6}Z' | sort -u | tr '\n' ' '
}
list() { printf '%s ' "$@"; }

@test "keeps the newest, daily, weekly and monthly base backups and logical sets, removes the rest" {
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  [ "$(base_ids)" = "$(list "${KEPT[@]}")" ]
  [ "$(logical_ids)" = "$(list "${KEPT[@]}")" ]
  [ -f "$TMP/logical/reports_20260115T020000Z.custom.dump" ]
  [[ $output == *"keeping base backup 20260304T020000Z (newest)"* ]]
  [[ $output == *"keeping base backup 20260301T020000Z (weekly)"* ]]
  [[ $output == *"keeping base backup 20260228T020000Z (monthly)"* ]]
  [[ $output == *"removed base backup 20260303T020000Z"* ]]
  [[ $output == *"removed logical backup set 20251201T020000Z"* ]]
  [[ $output == *"retention done: kept 5 base backup(s), removed 6"* ]]
}

@test "removes WAL only below the start of the oldest retained base backup; history files stay" {
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  # 20260115T020000Z starts at segment 3.
  [ ! -e "$TMP/wal/$(segment 1)" ]
  [ ! -e "$TMP/wal/$(segment 2)" ]
  [ -f "$TMP/wal/$(segment 3)" ]
  [ -f "$TMP/wal/$(segment 22)" ]
  [ -f "$TMP/wal/00000002.history" ]
  [ "$(find "$TMP/wal" -type f | wc -l)" -eq 21 ]
  [[ $output == *"removed 2 WAL segment(s) older than $(segment 3), the start of the oldest retained base backup"* ]]
  [[ $output == *"oldest retained base backup 20260115T020000Z"* ]]
}

@test "--dry-run removes nothing and says what it would remove" {
  before=$(find "$TMP" -path "$TMP/locks" -prune -o -print | sort)
  run "$AGENT/prune" --dry-run --now "$NOW"
  [ "$status" -eq 0 ]
  [ "$(find "$TMP" -path "$TMP/locks" -prune -o -print | sort)" = "$before" ]
  for id in "${DROPPED[@]}"; do [[ $output == *"would remove $TMP/base/$id"* ]]; done
  for id in "${KEPT[@]}"; do [[ $output != *"would remove $TMP/base/$id"* ]]; done
  [[ $output == *"would remove $TMP/logical/"*"_20260210T020000Z"* ]]
  [[ $output == *"would remove 2 WAL segment(s) older than $(segment 3)"* ]]
}

@test "the retention settings are read: a longer daily window keeps more" {
  sed -i 's/^RETAIN_DAILY_DAYS=.*/RETAIN_DAILY_DAYS=30/' "$DRKIT_ENV"
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  # Everything younger than 30 days, plus the monthly January and nothing from December.
  [ "$(base_ids)" = "$(list "${IDS[@]:1}")" ]
}

@test "RETAIN_NEWEST keeps that many newest even outside every window" {
  sed -i 's/^RETAIN_DAILY_DAYS=.*/RETAIN_DAILY_DAYS=0/; s/^RETAIN_WEEKLY_WEEKS=.*/RETAIN_WEEKLY_WEEKS=0/;
    s/^RETAIN_MONTHS=.*/RETAIN_MONTHS=0/; s/^RETAIN_NEWEST=.*/RETAIN_NEWEST=3/' "$DRKIT_ENV"
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  [ "$(base_ids)" = "20260302T020000Z 20260303T020000Z 20260304T020000Z " ]
  [ -f "$TMP/wal/$(segment 17)" ]
  [ ! -e "$TMP/wal/$(segment 16)" ]
}

@test "with object stores, a set not confirmed on every store is kept, and the WAL it needs with it" {
  setting_array OFFSITE_STORES site-a site-b
  setting OFFSITE_MARKS "$TMP/marks"
  for id in "${IDS[@]}"; do
    for store in site-a site-b; do mkdir -p "$TMP/marks/$store/base" "$TMP/marks/$store/logical"; done
    touch "$TMP/marks/site-a/base/$id" "$TMP/marks/site-a/logical/$id"
    [ "$id" = 20251201T020000Z ] || touch "$TMP/marks/site-b/base/$id"
    [ "$id" = 20260210T020000Z ] || touch "$TMP/marks/site-b/logical/$id"
  done
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  [[ $output == *"keeping base backup 20251201T020000Z: not yet confirmed on every object store"* ]]
  [[ $output == *"keeping logical backup set 20260210T020000Z: not yet confirmed on every object store"* ]]
  [ -d "$TMP/base/20251201T020000Z" ]
  [ ! -e "$TMP/base/20260210T020000Z" ]
  [ -f "$TMP/logical/app_20260210T020000Z.custom.dump" ]
  [ ! -e "$TMP/logical/app_20251201T020000Z.custom.dump" ]
  # The oldest kept base backup now starts at segment 1: no WAL goes.
  [ -f "$TMP/wal/$(segment 1)" ]
  [[ $output == *"retention done: kept 6 base backup(s), removed 5"* ]]
}

@test "without a complete retained base backup every WAL segment is kept" {
  rm -f "$TMP"/base/*/drkit-backup.env
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  [[ $output == *"no complete base backup is retained; keeping every archived WAL segment"* ]]
  [ "$(find "$TMP/wal" -type f | wc -l)" -eq 23 ]
}

@test "a retained base backup whose metadata has no valid start_wal fails" {
  printf 'id=20260304T020000Z\nstart_wal=../../etc\n' >"$TMP/base/20260115T020000Z/drkit-backup.env"
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 1 ]
  [[ $output == *"base backup 20260115T020000Z has no valid start_wal in drkit-backup.env"* ]]
  [ "$(find "$TMP/wal" -type f | wc -l)" -eq 23 ]
}

@test "removes leftovers of crashed runs, but not while a base backup runs" {
  mkdir -p "$TMP/base/.partial-20260304T030000Z" "$TMP/base/.verify-20260304T030000Z.abc"
  echo old >"$TMP/wal/.000000010000000000000017.x1"
  touch -d '2 days ago' "$TMP/wal/.000000010000000000000017.x1"
  echo new >"$TMP/wal/.000000010000000000000018.x2"
  hold_lock base
  run "$AGENT/prune" --now "$NOW"
  exec 7>&-
  [ "$status" -eq 0 ]
  [ -d "$TMP/base/.partial-20260304T030000Z" ]
  [ ! -e "$TMP/wal/.000000010000000000000017.x1" ]
  [ -f "$TMP/wal/.000000010000000000000018.x2" ]
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/base/.partial-20260304T030000Z" ]
  [ ! -e "$TMP/base/.verify-20260304T030000Z.abc" ]
}

@test "a second run while one holds the lock fails" {
  hold_lock prune
  run "$AGENT/prune" --now "$NOW"
  exec 7>&-
  [ "$status" -eq 1 ]
  [[ $output == *"not starting a second one"* ]]
  [ "$(base_ids)" = "$(list "${IDS[@]}")" ]
}

@test "an unknown argument is a usage error (exit 2)" {
  run "$AGENT/prune" --force
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '--force' (usage: prune [--dry-run] [--now EPOCH_SECONDS])"* ]]
  [ "$(base_ids)" = "$(list "${IDS[@]}")" ]
}

@test "--now without whole seconds is a usage error (exit 2)" {
  run "$AGENT/prune" --now yesterday
  [ "$status" -eq 2 ]
  [[ $output == *"--now needs seconds since the epoch"* ]]
  run "$AGENT/prune" --now
  [ "$status" -eq 2 ]
  [ "$(base_ids)" = "$(list "${IDS[@]}")" ]
}

@test "a settings file without a retention setting fails naming it" {
  grep -v '^RETAIN_MONTHS=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 1 ]
  [[ $output == *"setting RETAIN_MONTHS is not set"* ]]
  [ "$(base_ids)" = "$(list "${IDS[@]}")" ]
}

@test "a base backup is renamed out of sight before it is deleted; a killed prune's .pruned-* is removed next run" {
  mkdir -p "$TMP/base/.pruned-20260210T020000Z"
  echo half >"$TMP/base/.pruned-20260210T020000Z/pg_wal.tar"
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  [[ $output == *"removed $TMP/base/.pruned-20260210T020000Z, left by an earlier run that did not finish"* ]]
  [ "$(base_ids)" = "$(list "${KEPT[@]}")" ]
  [ -z "$(find "$TMP/base" -maxdepth 1 -name '.pruned-*')" ]
}

@test "a logical set loses its globals file first; a set without one is not a set retention counts or keeps" {
  # A newer set without its globals file (a killed backup-logical): not counted as the newest set.
  echo dump >"$TMP/logical/app_20260304T030000Z.custom.dump"
  sed -i 's/^RETAIN_DAILY_DAYS=.*/RETAIN_DAILY_DAYS=0/; s/^RETAIN_WEEKLY_WEEKS=.*/RETAIN_WEEKLY_WEEKS=0/;
    s/^RETAIN_MONTHS=.*/RETAIN_MONTHS=0/' "$DRKIT_ENV"
  run "$AGENT/prune" --now "$NOW"
  [ "$status" -eq 0 ]
  [ -f "$TMP/logical/globals_20260304T020000Z.sql" ]
  [ -f "$TMP/logical/app_20260304T020000Z.custom.dump" ]
  [[ $output != *"set 20260304T030000Z"* ]]
  [ ! -e "$TMP/logical/globals_20260303T020000Z.sql" ]
  [ ! -e "$TMP/logical/app_20260303T020000Z.custom.dump" ]
}

@test "--dry-run lists a logical set's globals file first" {
  run "$AGENT/prune" --dry-run --now "$NOW"
  [ "$status" -eq 0 ]
  [[ $output == *"would remove $TMP/logical/globals_20260210T020000Z.sql $TMP/logical/"*"_20260210T020000Z.custom.dump"* ]]
}
