#!/usr/bin/env bats
# backup-logical: no arguments; with pg_dump/pg_restore/pg_dumpall stubbed: one <db>_<id>.custom.dump per
# database and globals_<id>.sql, the dump options passed on, each dump checked before it is published, nothing
# partial left on failure, and the set shipped off-site when the service has object stores.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  mkdir -p "$TMP/logical"
  setting LOGICAL_DIR "$TMP/logical"
  setting_array PG_DATABASES app reports
  setting_array DUMP_ARGS --compress=zstd:3
  sql_answer "*pg_database_size*" 1048576
}
teardown() { agent_teardown; }

set_id() { find "$TMP/logical" -name 'globals_*.sql' -printf '%f\n' | grep -oE '[0-9]{8}T[0-9]{6}Z'; }

@test "dumps every database in custom format and the globals, under names that say so" {
  run "$AGENT/backup-logical"
  [ "$status" -eq 0 ]
  id=$(set_id)
  [[ $id =~ ^[0-9]{8}T[0-9]{6}Z$ ]]
  [ "$(find "$TMP/logical" -type f -printf '%f\n' | sort | tr '\n' ' ')" = \
    "app_$id.custom.dump globals_$id.sql reports_$id.custom.dump " ]
  [ "$(cat "$TMP/logical/reports_$id.custom.dump")" = "PGDMP dump of reports" ]
  [ "$(stat -c %a "$TMP/logical/app_$id.custom.dump")" = 600 ]
  grep -q "^pg_dump --format=custom --compress=zstd:3 --no-password --dbname=app --file=" "$TMP/calls"
  [ "$(grep -c '^pg_restore --list' "$TMP/calls")" -eq 2 ]
  grep -q "^pg_dumpall --globals-only --no-password" "$TMP/calls"
  [[ $output == *"logical backup $id complete: 2 database(s) and roles"* ]]
}

@test "an empty DUMP_ARGS list passes no extra options" {
  sed -i 's/^DUMP_ARGS=.*/DUMP_ARGS=()/' "$DRKIT_ENV"
  run "$AGENT/backup-logical"
  [ "$status" -eq 0 ]
  grep -q "^pg_dump --format=custom --no-password --dbname=app --file=" "$TMP/calls"
}

@test "a dump pg_restore cannot read fails; nothing partial is left and no set is completed" {
  stub_fails list
  run "$AGENT/backup-logical"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_restore cannot read the dump of app"* ]]
  [[ $output == *"FAILED (exit 1); no partial dump was published"* ]]
  [ -z "$(ls -A "$TMP/logical")" ]
  ! grep -q "^pg_dumpall" "$TMP/calls" || false
}

@test "a failing pg_dump fails the backup" {
  stub_fails pg_dump
  run "$AGENT/backup-logical"
  [ "$status" -ne 0 ]
  [[ $output == *"FAILED"* ]]
  [ -z "$(ls -A "$TMP/logical")" ]
}

@test "with object stores the set is shipped off-site, and a failed shipment fails the job" {
  agent_copy backup-logical
  sibling_stub ship-offsite "exit 0"
  setting_array OFFSITE_STORES site-a
  run "$AGENT/backup-logical"
  [ "$status" -eq 0 ]
  grep -qx "ship-offsite logical $(set_id)" "$TMP/calls"
  sibling_stub ship-offsite "exit 1"
  sleep 1
  run "$AGENT/backup-logical"
  [ "$status" -eq 1 ]
}

@test "without object stores nothing is shipped" {
  agent_copy backup-logical
  sibling_stub ship-offsite "exit 1"
  run "$AGENT/backup-logical"
  [ "$status" -eq 0 ]
  ! grep -q "^ship-offsite" "$TMP/calls" || false
}

@test "a second run while one holds the lock fails" {
  hold_lock logical
  run "$AGENT/backup-logical"
  exec 7>&-
  [ "$status" -eq 1 ]
  [[ $output == *"not starting a second one"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "any argument is a usage error (exit 2)" {
  run "$AGENT/backup-logical" app
  [ "$status" -eq 2 ]
  [[ $output == *"usage: backup-logical (no arguments)"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a settings file without DUMP_ARGS fails naming it" {
  grep -v '^DUMP_ARGS=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/backup-logical"
  [ "$status" -eq 1 ]
  [[ $output == *"setting DUMP_ARGS is not set as a list"* ]]
}

@test "not enough space: fails naming the directory, the bytes needed and available, before dumping anything" {
  sed -i '/pg_database_size/d' "$STUBS/answers"
  sql_answer "*pg_database_size*" 1000000000000000000
  run "$AGENT/backup-logical"
  [ "$status" -eq 1 ]
  [[ $output =~ "not enough space in $TMP/logical for logical backup "[0-9]{8}T[0-9]{6}Z": needs about 1000000000000000000 bytes (889P), "[0-9]+" bytes" ]]
  [[ $output == *"are available; nothing was written"* ]]
  grep -q "pg_database_size(datname)).*WHERE datname IN ('app','reports')" "$TMP/calls"
  ! grep -qE "^pg_dump" "$TMP/calls" || false
  [ -z "$(ls -A "$TMP/logical")" ]
}

@test "what a killed run left is removed by the next run: partial dumps and a set without its globals file" {
  echo half >"$TMP/logical/.partial-app-20240101T000000Z.dump"
  echo dump >"$TMP/logical/app_20240101T000000Z.custom.dump"
  echo dump >"$TMP/logical/app_20231231T000000Z.custom.dump"
  echo dump >"$TMP/logical/reports_20231231T000000Z.custom.dump"
  echo roles >"$TMP/logical/globals_20231231T000000Z.sql"
  run "$AGENT/backup-logical"
  [ "$status" -eq 0 ]
  [[ $output == *"removed $TMP/logical/.partial-app-20240101T000000Z.dump, left by an earlier run"* ]]
  [[ $output == *"removed the incomplete logical backup set 20240101T000000Z (no globals_20240101T000000Z.sql)"* ]]
  [ ! -e "$TMP/logical/app_20240101T000000Z.custom.dump" ]
  # The complete set stays.
  [ -f "$TMP/logical/app_20231231T000000Z.custom.dump" ]
  [ -f "$TMP/logical/reports_20231231T000000Z.custom.dump" ]
  [ "$(find "$TMP/logical" -name 'globals_*.sql' | wc -l)" -eq 2 ]
}

@test "a run that cannot take the lock leaves the running job's files alone" {
  echo half >"$TMP/logical/.partial-app-20240101T000000Z.dump"
  echo dump >"$TMP/logical/app_20240101T000000Z.custom.dump"
  hold_lock logical
  run "$AGENT/backup-logical"
  exec 7>&-
  [ "$status" -eq 1 ]
  [ -f "$TMP/logical/.partial-app-20240101T000000Z.dump" ]
  [ -f "$TMP/logical/app_20240101T000000Z.custom.dump" ]
}
