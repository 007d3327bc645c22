#!/usr/bin/env bats
# Incremental base backups (PostgreSQL 17+): the chain logic of lib.sh (backup_chain, keep_parents), prune
# keeping every backup a retained incremental one builds on, and backup-base choosing between a full and an
# incremental backup (INCREMENTAL_FULL_EVERY), falling back to a full one when the incremental one fails.
# pg_basebackup is a stand-in writing a small tar set with a real manifest (fake-base-backup) whose backup_label
# says it started 2026-11-30 02:00 UTC.
load helpers
load postgres-stubs

PG15=/usr/lib/postgresql/15/bin
WEEK=604800
F1=20260101T020000Z
I1=20260102T020000Z
I2=20260103T020000Z
F2=20260108T020000Z
I3=20260109T020000Z

setup() {
  agent_setup
  postgres_stubs
  base_backup_stubs 170004
}
teardown() { agent_teardown; }

# lib FUNCTION ARGS...: runs one of lib.sh's functions with the test's settings loaded.
lib() { bash -c '. "$1"; load_settings; "${@:2}"' lib "$AGENT/lib.sh" "$@"; }
# chain_meta ID [PARENT FULL]: a complete base backup's metadata, incremental when PARENT is given; its WAL
# starts at segment N where N is the backup's day of the month.
chain_meta() {
  mkdir -p "$TMP/base/$1"
  printf 'id=%s\nstart_wal=0000000100000000%08X\nserver_version=170004\n' "$1" "$((10#${1:6:2}))" \
    >"$TMP/base/$1/drkit-backup.env"
  [[ $# -eq 1 ]] || printf 'parent=%s\nfull=%s\ntype=incremental\n' "$2" "$3" >>"$TMP/base/$1/drkit-backup.env"
}
two_chains() {
  chain_meta "$F1"
  chain_meta "$I1" "$F1" "$F1"
  chain_meta "$I2" "$I1" "$F1"
  chain_meta "$F2"
  chain_meta "$I3" "$F2" "$F2"
}
published() { find "$TMP/base" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }
meta() { cat "$TMP/base/$1/drkit-backup.env"; }

@test "backup_chain: an incremental backup's chain, its full backup first; a missing parent is named" {
  two_chains
  run lib backup_chain "$TMP/base" "$I2"
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf '%s\n' "$F1" "$I1" "$I2")" ]
  run lib backup_chain "$TMP/base" "$F2"
  [ "$output" = "$F2" ]
  rm "$TMP/base/$I1/drkit-backup.env"
  run lib backup_chain "$TMP/base" "$I2"
  [ "$status" -eq 1 ]
  [[ $output == *"base backup $I1, the parent of incremental backup $I2, is not complete in $TMP/base"* ]]
}

@test "chain_parents lists every incremental backup with its parent" {
  two_chains
  run lib chain_parents "$TMP/base"
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf '%s\n' "$I3 $F2" "$I2 $I1" "$I1 $F1")" ]
}

@test "keep_parents keeps every ancestor of a kept backup, in the plan's order, and nothing else" {
  printf '%s\n' "$I3 $F2" "$I2 $I1" "$I1 $F1" >"$TMP/parents"
  plan=$(printf '%s\n' "keep $I3 newest" "drop $F2" "keep $I2 weekly" "drop $I1" "drop $F1")
  run lib keep_parents "$TMP/parents" <<<"$plan"
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf '%s\n' "keep $I3 newest" "keep $F2 parent of incremental $I3" "keep $I2 weekly" \
    "keep $I1 parent of incremental $I2" "keep $F1 parent of incremental $I1")" ]
  # Only the newest kept: the older chain goes whole; a backup kept on its own keeps its reason.
  plan=$(printf '%s\n' "keep $I3 newest" "keep $F2 daily" "drop $I2" "drop $I1" "drop $F1")
  run lib keep_parents "$TMP/parents" <<<"$plan"
  [ "$output" = "$(printf '%s\n' "keep $I3 newest" "keep $F2 daily" "drop $I2" "drop $I1" "drop $F1")" ]
  # Without incremental backups the plan passes unchanged.
  run lib keep_parents /dev/null <<<"$plan"
  [ "$output" = "$plan" ]
}

@test "prune keeps the full backup and the incremental ones a retained incremental backup needs, and their WAL" {
  two_chains
  setting PG_BIN "$PG15"
  setting PG_OS_USER "$(id -un)"
  mkdir -p "$TMP/logical" "$TMP/wal"
  setting LOGICAL_DIR "$TMP/logical"
  setting WAL_DIR "$TMP/wal"
  setting RETAIN_DAILY_DAYS 1
  setting RETAIN_WEEKLY_WEEKS 0
  setting RETAIN_MONTHS 0
  setting RETAIN_NEWEST 2
  for day in $(seq 1 9); do echo wal >"$TMP/wal/$(printf '0000000100000000%08X' "$day")"; done
  # 2026-01-20: only the two newest are kept by retention; I3 needs F2, so the chain of F1 goes.
  run "$AGENT/prune" --now 1768867200
  [ "$status" -eq 0 ]
  [ "$(published | tr '\n' ' ')" = "$F2 $I3 " ]
  [[ $output == *"keeping base backup $F2 (newest)"* ]]
  # WAL from the oldest retained backup's start (day 8) is kept.
  [ "$(find "$TMP/wal" -type f | wc -l)" -eq 2 ]
  # Retention keeping only the newest would drop F2: the chain keeps it.
  setting RETAIN_NEWEST 1
  run "$AGENT/prune" --now 1768867200
  [ "$status" -eq 0 ]
  [ "$(published | tr '\n' ' ')" = "$F2 $I3 " ]
  [[ $output == *"keeping base backup $F2 (parent of incremental $I3)"* ]]
}

@test "backup-base: a full backup first, then incremental ones against the newest, naming parent and full" {
  setting INCREMENTAL_FULL_EVERY "$WEEK"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [[ $output == *"taking a full backup: there is none to build an incremental one on"* ]]
  first=$(published)
  meta "$first" | grep -qx "type=full"
  ! meta "$first" | grep -q "^parent=" || false
  ! grep -q -- "--incremental" "$TMP/calls" || false

  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  second=$(published | tail -n1)
  [ "$second" != "$first" ]
  grep -q "^pg_basebackup .* --incremental=$TMP/base/$first/backup_manifest\$" "$TMP/calls"
  meta "$second" | grep -qx "type=incremental"
  meta "$second" | grep -qx "parent=$first"
  meta "$second" | grep -qx "full=$first"
  [[ $output == *"starting incremental base backup $second of testsvc into $TMP/base, against $first"* ]]

  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  third=$(published | tail -n1)
  meta "$third" | grep -qx "parent=$second"
  meta "$third" | grep -qx "full=$first"
  run lib backup_chain "$TMP/base" "$third"
  [ "$output" = "$(printf '%s\n' "$first" "$second" "$third")" ]
}

@test "backup-base: a full backup when the chain's full backup is as old as INCREMENTAL_FULL_EVERY" {
  setting INCREMENTAL_FULL_EVERY 3600
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  # The stand-in's backups started 2026-11-30 02:00 UTC: more than an hour ago.
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  first=$(published | head -n1)
  [[ $output == *"taking a full backup: the chain's full backup $first is"*" s old, one is due every 3600 s"* ]]
  ! grep -q -- "--incremental" "$TMP/calls" || false
  meta "$(published | tail -n1)" | grep -qx "type=full"
}

@test "backup-base: a failed incremental backup is followed by a full one in the same run" {
  setting INCREMENTAL_FULL_EVERY "$WEEK"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  touch "$TMP/stubs/fails.incremental"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [[ $output == *"WAL summaries are required"* ]]
  [[ $output == *"WARNING: the incremental backup against $(published | head -n1) failed (see above); taking a full"* ]]
  [ "$(published | wc -l)" -eq 2 ]
  newest=$(published | tail -n1)
  meta "$newest" | grep -qx "type=full"
  ! meta "$newest" | grep -q "^parent=" || false
  [ "$(grep -c "^pg_basebackup " "$TMP/calls")" -eq 3 ]
}

@test "backup-base: a full backup when a backup the newest builds on is gone" {
  setting INCREMENTAL_FULL_EVERY "$WEEK"
  run "$AGENT/backup-base"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  first=$(published | head -n1)
  second=$(published | tail -n1)
  rm -r "${TMP:?}/base/$first"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [[ $output == *"taking a full backup: a backup that the newest, $second, builds on is gone"* ]]
  meta "$(published | tail -n1)" | grep -qx "type=full"
}

@test "backup-base: a full and an incremental backup are compared in size only with their own kind" {
  setting INCREMENTAL_FULL_EVERY "$WEEK"
  setting METRICS_DIR "$TMP/metrics"
  mkdir -p "$TMP/metrics"
  metric() { sed -n "s/^$1{.*} //p" "$TMP/metrics/drkit_testsvc_job_base.prom"; }
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  grep -q 'drkit_backup_info{.*type="full"} 1' "$TMP/metrics/drkit_testsvc_job_base.prom"
  # the incremental ones made larger than the full one, so that a comparison across kinds would show
  mv "$TMP/bin/pg_basebackup" "$TMP/bin/pg_basebackup.orig"
  cat >"$TMP/bin/pg_basebackup" <<STUB
#!/usr/bin/env bash
"$TMP/bin/pg_basebackup.orig" "\$@" || exit
for arg in "\$@"; do
  [[ \$arg != --pgdata=* ]] || head -c "\$(cat "$TMP/padding")" /dev/urandom >"\${arg#--pgdata=}/padding"
done
STUB
  chmod +x "$TMP/bin/pg_basebackup"
  echo 300000 >"$TMP/padding"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  grep -q 'drkit_backup_info{.*type="incremental"} 1' "$TMP/metrics/drkit_testsvc_job_base.prom"
  [ "$(metric drkit_backup_previous_size_bytes)" = "$(metric drkit_backup_size_bytes)" ]
  # the next incremental one, larger again, is compared with this one
  size=$(metric drkit_backup_size_bytes)
  echo 600000 >"$TMP/padding"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [ "$(metric drkit_backup_previous_size_bytes)" = "$size" ]
  [ "$(metric drkit_backup_size_bytes)" -gt "$size" ]
}

@test "prune keeps what a backup not yet on every object store builds on" {
  two_chains
  setting PG_BIN "$PG15"
  setting PG_OS_USER "$(id -un)"
  mkdir -p "$TMP/logical" "$TMP/wal" "$TMP/marks/site-a/base"
  setting LOGICAL_DIR "$TMP/logical"
  setting WAL_DIR "$TMP/wal"
  setting OFFSITE_MARKS "$TMP/marks"
  setting_array OFFSITE_STORES site-a
  setting RETAIN_DAILY_DAYS 1
  setting RETAIN_WEEKLY_WEEKS 0
  setting RETAIN_MONTHS 0
  setting RETAIN_NEWEST 1
  # every backup confirmed but I2, which retention alone would drop
  for id in "$F1" "$I1" "$F2" "$I3"; do touch "$TMP/marks/site-a/base/$id"; done
  run "$AGENT/prune" --now 1768867200
  [ "$status" -eq 0 ]
  [[ $output == *"keeping base backup $I2: not yet confirmed on every object store"* ]]
  [[ $output == *"keeping base backup $I1 (parent of incremental $I2)"* ]]
  [[ $output == *"keeping base backup $F1 (parent of incremental $I1)"* ]]
  [ "$(published | tr '\n' ' ')" = "$F1 $I1 $I2 $F2 $I3 " ]
}

@test "backup-base: the newest backup of another major version starts a new chain" {
  setting INCREMENTAL_FULL_EVERY "$WEEK"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  first=$(published)
  sed -i 's/^server_version=.*/server_version=160004/' "$TMP/base/$first/drkit-backup.env"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [[ $output == *"taking a full backup: the newest, $first, is of another PostgreSQL version (160004)"* ]]
  ! grep -q -- "--incremental" "$TMP/calls" || false
}

@test "backup-base: INCREMENTAL_FULL_EVERY on a server older than 17 fails before any backup" {
  setting INCREMENTAL_FULL_EVERY "$WEEK"
  sed -i '/server_version_num/d' "$STUBS/answers"
  sql_answer "SHOW server_version_num" 150018
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"incremental backups (INCREMENTAL_FULL_EVERY) need PostgreSQL 17 or later; the server is 150018"* ]]
  [ -z "$(published)" ]
  ! grep -q "^pg_basebackup " "$TMP/calls" || false
}
