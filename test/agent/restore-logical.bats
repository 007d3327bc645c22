#!/usr/bin/env bats
# restore-logical: arguments, the database (named or from the dump's file name, one of the service's), a
# missing or unreadable dump (the real pg_restore), then with psql/pg_dump/pg_restore stubbed: the safety dump,
# the restore into a staging database and the swap, and a failed pg_restore leaving the live database alone.
load helpers
load postgres-stubs

DUMP_ID=20240102T030405Z

setup() {
  agent_setup
  postgres_stubs
  mkdir -p "$TMP/logical"
  setting LOGICAL_DIR "$TMP/logical"
  setting_array PG_DATABASES app reports
  echo "PGDMP a dump" >"$TMP/logical/app_$DUMP_ID.custom.dump"
  sql_answer "*FROM pg_database WHERE datname = 'app'*" 1
}
teardown() { agent_teardown; }

@test "restores into a staging database and swaps it in, after a safety dump of the current one" {
  run "$AGENT/restore-logical" "$TMP/logical/app_$DUMP_ID.custom.dump"
  [ "$status" -eq 0 ]
  safety=$(find "$TMP/logical/safety" -name 'app_before-restore_*.custom.dump')
  [[ $(basename "$safety") =~ ^app_before-restore_[0-9]{8}T[0-9]{6}Z\.custom\.dump$ ]]
  [ "$(cat "$safety")" = "PGDMP dump of app" ]
  [ -z "$(find "$TMP/logical/safety" -name '*.partial')" ]
  grep -q "CREATE DATABASE app__drkit_restore TEMPLATE template0" "$TMP/calls"
  dump=$TMP/logical/app_$DUMP_ID.custom.dump
  grep -qxF "pg_restore --exit-on-error --no-password --jobs=2 --dbname=app__drkit_restore $dump" "$TMP/calls"
  grep -q "ALTER DATABASE app RENAME TO app__drkit_old ; ALTER DATABASE app__drkit_restore RENAME TO app" "$TMP/calls"
  grep -q "DROP DATABASE app__drkit_old" "$TMP/calls"
  # the safety dump first, then the restore, then the swap
  line() { grep -nE "$1" "$TMP/calls" | head -n1 | cut -d: -f1; }
  [ "$(line '^pg_dump ')" -lt "$(line '^pg_restore --exit')" ]
  [ "$(line '^pg_restore --exit')" -lt "$(line 'RENAME TO app__drkit_old')" ]
  [[ $output == *"restored app from $TMP/logical/app_$DUMP_ID.custom.dump (the previous contents are in $safety)"* ]]
}

@test "a failed pg_restore drops the staging database and leaves the live one alone" {
  stub_fails pg_restore
  run "$AGENT/restore-logical" "$TMP/logical/app_$DUMP_ID.custom.dump"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_restore failed; app was not touched"* ]]
  [ "$(grep -c 'DROP DATABASE IF EXISTS app__drkit_restore' "$TMP/calls")" -eq 2 ]
  ! grep -q "RENAME\|ALLOW_CONNECTIONS\|pg_terminate_backend" "$TMP/calls" || false
}

@test "a database that does not exist yet is created from the staging one, without a safety dump" {
  echo "PGDMP reports" >"$TMP/reports.dump"
  run "$AGENT/restore-logical" "$TMP/reports.dump" --database reports --jobs 4
  [ "$status" -eq 0 ]
  ! grep -q "^pg_dump" "$TMP/calls" || false
  [ ! -e "$TMP/logical/safety" ]
  grep -q "jobs=4 --dbname=reports__drkit_restore" "$TMP/calls"
  grep -q "ALTER DATABASE reports__drkit_restore RENAME TO reports$" "$TMP/calls"
  [[ $output == *"restored reports from $TMP/reports.dump" ]]
}

@test "a missing dump file fails" {
  run "$AGENT/restore-logical" "$TMP/logical/app_20990101T000000Z.custom.dump"
  [ "$status" -eq 1 ]
  [[ $output == *"dump file '$TMP/logical/app_20990101T000000Z.custom.dump' does not exist"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a file that is not a custom-format dump is refused by the real pg_restore" {
  setting PG_BIN /usr/lib/postgresql/15/bin
  echo "not a dump" >"$TMP/bogus.custom.dump"
  run "$AGENT/restore-logical" "$TMP/bogus.custom.dump" --database app
  [ "$status" -eq 1 ]
  [[ $output == *"'$TMP/bogus.custom.dump' is not a readable custom-format dump"* ]]
}

@test "a database that is not one of the service's is a usage error (exit 2)" {
  echo "PGDMP" >"$TMP/other_$DUMP_ID.custom.dump"
  run "$AGENT/restore-logical" "$TMP/other_$DUMP_ID.custom.dump"
  [ "$status" -eq 2 ]
  [[ $output == *"database 'other' is not one of this service's databases (app reports)"* ]]
  run "$AGENT/restore-logical" "$TMP/logical/app_$DUMP_ID.custom.dump" --database 'app; DROP TABLE x'
  [ "$status" -eq 2 ]
  [[ $output == *"is not a plain lowercase identifier"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "argument errors are usage errors (exit 2)" {
  run "$AGENT/restore-logical"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: restore-logical <dump file> [--database NAME] [--jobs N]"* ]]
  run "$AGENT/restore-logical" a.dump b.dump
  [ "$status" -eq 2 ]
  [[ $output == *"only one dump file, please"* ]]
  run "$AGENT/restore-logical" a.dump --force
  [ "$status" -eq 2 ]
  [[ $output == *"unknown option '--force'"* ]]
  run "$AGENT/restore-logical" "$TMP/logical/app_$DUMP_ID.custom.dump" --jobs 0
  [ "$status" -eq 2 ]
  [[ $output == *"--jobs must be a number from 1 to 99, got '0'"* ]]
  run "$AGENT/restore-logical" "$TMP/logical/app_$DUMP_ID.custom.dump" --database
  [ "$status" -eq 2 ]
  [[ $output == *"--database needs a value"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a settings file without LOGICAL_DIR fails naming it" {
  grep -v '^LOGICAL_DIR=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/restore-logical" "$TMP/logical/app_$DUMP_ID.custom.dump"
  [ "$status" -eq 1 ]
  [[ $output == *"setting LOGICAL_DIR is not set"* ]]
}
