#!/usr/bin/env bats
# restore-pitr: arguments (a malformed --target-time, --timeout, --action, --backup), the choice of base
# backup by the target, then with pg_ctl/psql stubbed: the old data directory moved aside, the backup extracted,
# the recovery settings written, the wait bounded by the timeout, and --from-offsite through fetch-offsite.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  mkdir -p "$TMP/base" "$TMP/wal" "$TMP/data" "$TMP/root"
  setting BASE_DIR "$TMP/base"
  setting WAL_DIR "$TMP/wal"
  setting BACKUP_ROOT "$TMP/root"
  setting RTO_SECONDS 30
  echo "the old cluster" >"$TMP/data/PG_VERSION"
  running "$TMP/data"
  # Finished 2024-01-01 00:10 and 2024-01-02 00:10 UTC.
  fake_base "$TMP/base" 20240101T000000Z 1704067800 first
  fake_base "$TMP/base" 20240102T000000Z 1704154200 second
  sql_answer '*pg_is_in_recovery*' ended
}
teardown() { agent_teardown; }

aside() { find "$TMP" -maxdepth 1 -name 'data.before-restore-*'; }
untouched() {
  [ "$(cat "$TMP/data/PG_VERSION")" = "the old cluster" ]
  [ -f "$TMP/data/postmaster.pid" ]
  [ -z "$(aside)" ]
  ! grep -q '^pg_ctl .* stop' "$TMP/calls"
}

@test "restores the newest backup that finished before the target, to the target" {
  run "$AGENT/restore-pitr" --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = first ]
  [ -f "$TMP/data/pg_wal/000000010000000000000002" ]
  [ -f "$TMP/data/recovery.signal" ]
  grep -qxF "restore_command = 'cp $TMP/wal/%f %p'" "$TMP/data/postgresql.auto.conf"
  grep -qxF "recovery_target_time = '2024-01-02 00:05:00+00'" "$TMP/data/postgresql.auto.conf"
  grep -qxF "recovery_target_action = 'promote'" "$TMP/data/postgresql.auto.conf"
  old=$(aside)
  [ "$(cat "$old/PG_VERSION")" = "the old cluster" ]
  [[ $output == *"moved the old data directory aside to $old"* ]]
  [[ $output == *"restoring base backup 20240101T000000Z, then WAL (cp $TMP/wal/%f %p) to 2024-01-02 00:05:00+00"* ]]
  grep -q "^pg_ctl -D $TMP/data -m fast -w stop" "$TMP/calls"
  grep -q "^pg_ctl -D $TMP/data -l $TMP/log/postgresql.log -W start" "$TMP/calls"
  grep -q "ALTER SYSTEM RESET restore_command ; ALTER SYSTEM RESET recovery_target_time" "$TMP/calls"
  [[ $output == *"recovery ended after"* ]]
}

@test "without a target the newest complete backup is restored to the end of the archive" {
  fake_base "$TMP/base" 20240103T000000Z 1704240600 incomplete
  rm "$TMP/base/20240103T000000Z/drkit-backup.env"
  run "$AGENT/restore-pitr"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
  ! grep -q recovery_target "$TMP/data/postgresql.auto.conf"
  [[ $output == *"to the end of the archive"* ]]
}

@test "--backup and --action pause: that backup, and the recovery settings stay for the operator" {
  run "$AGENT/restore-pitr" --backup 20240102T000000Z --action pause --target-time "2024-01-05 10:00:00Z"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
  grep -qxF "recovery_target_action = 'pause'" "$TMP/data/postgresql.auto.conf"
  grep -q "pg_is_wal_replay_paused" "$TMP/calls"
  ! grep -q "ALTER SYSTEM RESET" "$TMP/calls"
}

@test "no backup finished before the target: fails before touching the server" {
  run "$AGENT/restore-pitr" --target-time "2023-12-31 23:00:00+00"
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup in $TMP/base finished before 2023-12-31 23:00:00+00"* ]]
  untouched
}

@test "recovery that does not end within the timeout fails naming the old data directory" {
  sed -i '/pg_is_in_recovery/d' "$STUBS/answers"
  sql_answer '*pg_is_in_recovery*' recovering
  run "$AGENT/restore-pitr" --timeout 1
  [ "$status" -eq 1 ]
  [[ $output == *"recovery did not end within 1s; PostgreSQL is still replaying, see $TMP/log/postgresql.log."* ]]
  [[ $output == *"The old data directory is at $(aside)"* ]]
}

@test "a server that stops during recovery fails at once, naming its log and the old data directory" {
  stub_fails start
  sed -i '/pg_is_in_recovery/d' "$STUBS/answers"
  sql_fails '*pg_is_in_recovery*'
  run "$AGENT/restore-pitr" --timeout 30
  [ "$status" -eq 1 ]
  [[ $output == *"PostgreSQL stopped during recovery"*"see $TMP/log/postgresql.log"* ]]
  [[ $output == *"The old data directory is at $(aside)"* ]]
}

@test "--from-offsite fetches the base backup and restores WAL through fetch-offsite" {
  agent_copy restore-pitr
  sibling_stub fetch-offsite "case \$1 in
  choose-base) echo 20240102T000000Z ;;
  base) mkdir -p \"\$3\" && cp -- '$TMP/remote'/* \"\$3\"/ ;;
esac"
  setting_array OFFSITE_STORES site-a site-b
  mv "$TMP/base/20240102T000000Z" "$TMP/remote"
  rm -rf "$TMP/base"
  run "$AGENT/restore-pitr" --from-offsite --store site-b --target-time "2024-01-05 10:00:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
  grep -qxF "fetch-offsite choose-base 1704448800 --store site-b" "$TMP/calls"
  grep -qxF "fetch-offsite base 20240102T000000Z $TMP/root/.restore-staging/20240102T000000Z --store site-b" \
    "$TMP/calls"
  grep -qxF "restore_command = 'DRKIT_ENV=$DRKIT_ENV $TMP/agent/fetch-offsite wal %f %p --store site-b'" \
    "$TMP/data/postgresql.auto.conf"
  [ ! -e "$TMP/root/.restore-staging" ]
}

@test "--from-offsite fails when fetch-offsite finds no base backup" {
  agent_copy restore-pitr
  sibling_stub fetch-offsite "exit 1"
  setting_array OFFSITE_STORES site-a
  run "$AGENT/restore-pitr" --from-offsite
  [ "$status" -eq 1 ]
  [[ $output == *"no usable base backup off-site"* ]]
  untouched
}

@test "--from-offsite without object stores fails" {
  run "$AGENT/restore-pitr" --from-offsite
  [ "$status" -eq 1 ]
  [[ $output == *"--from-offsite: this service has no off-site targets"* ]]
  untouched
}

@test "a malformed --target-time is a usage error (exit 2) before anything is touched" {
  for bad in "yesterday; rm -rf /" "2024-01-02" "2024-01-02 00:05:00 +00" "'2024-01-02 00:05:00'"; do
    run "$AGENT/restore-pitr" --target-time "$bad"
    [ "$status" -eq 2 ]
    [[ $output == *"--target-time must look like '2026-02-16 14:30:00+00', got '$bad'"* ]]
  done
  run "$AGENT/restore-pitr" --target-time "2024-02-30 00:00:00+00"
  [ "$status" -eq 2 ]
  [[ $output == *"cannot read --target-time '2024-02-30 00:00:00+00'"* ]]
  run "$AGENT/restore-pitr" --target-time
  [ "$status" -eq 2 ]
  [[ $output == *"--target-time needs a value"* ]]
  untouched
}

@test "a --timeout that is not whole seconds is a usage error (exit 2)" {
  run "$AGENT/restore-pitr" --timeout 1h
  [ "$status" -eq 2 ]
  [[ $output == *"--timeout must be whole seconds, got '1h'"* ]]
  untouched
}

@test "--action other than promote or pause, a malformed --backup, --store alone: usage errors (exit 2)" {
  run "$AGENT/restore-pitr" --action shutdown
  [ "$status" -eq 2 ]
  [[ $output == *"--action must be promote or pause, got 'shutdown'"* ]]
  run "$AGENT/restore-pitr" --backup latest
  [ "$status" -eq 2 ]
  [[ $output == *"--backup must be a backup id"* ]]
  run "$AGENT/restore-pitr" --store site-a
  [ "$status" -eq 2 ]
  [[ $output == *"--store goes with --from-offsite"* ]]
  setting_array OFFSITE_STORES site-a
  run "$AGENT/restore-pitr" --from-offsite --store
  [ "$status" -eq 2 ]
  [[ $output == *"--store needs a value"* ]]
  run "$AGENT/restore-pitr" --now
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '--now' (usage: restore-pitr"* ]]
  untouched
}

@test "--backup naming a backup that is not complete fails" {
  rm "$TMP/base/20240102T000000Z/drkit-backup.env"
  run "$AGENT/restore-pitr" --backup 20240102T000000Z
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup 20240102T000000Z in $TMP/base"* ]]
  untouched
}

@test "a second restore while one holds the lock fails" {
  hold_lock restore
  run "$AGENT/restore-pitr"
  exec 7>&-
  [ "$status" -eq 1 ]
  [[ $output == *"not starting a second one"* ]]
  untouched
}

@test "a settings file without PG_MANAGER fails naming it" {
  grep -v '^PG_MANAGER=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/restore-pitr"
  [ "$status" -eq 1 ]
  [[ $output == *"setting PG_MANAGER is not set"* ]]
  untouched
}
