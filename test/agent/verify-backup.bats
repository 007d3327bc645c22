#!/usr/bin/env bats
# verify-backup: arguments, the choice of backup, and the failures found before any server is involved (no
# complete backup, missing or unreadable tars, a manifest mismatch found by the real pg_verifybackup), each
# recorded in last-result with the scratch directory removed.
load helpers
load postgres-stubs

setup() {
  agent_setup
  mkdir -p "$TMP/base" "$TMP/wal"
  setting PG_BIN /usr/lib/postgresql/15/bin
  setting PG_OS_USER "$(id -un)"
  setting PGHOST "$TMP/sock"
  setting PGPORT 5432
  setting PGUSER postgres
  setting BASE_DIR "$TMP/base"
  setting WAL_DIR "$TMP/wal"
  setting VERIFY_DIR "$TMP/verify"
  setting VERIFY_TIMEOUT 300
  setting_array PG_DATABASES app reports
}
teardown() { agent_teardown; }

field() { sed -n "s/^$1=//p" "$TMP/verify/last-result"; }
no_scratch() { [ -z "$(find "$TMP/verify" -maxdepth 1 -name 'scratch*')" ]; }

@test "without a complete base backup there is nothing to verify" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  rm "$TMP/base/20240102T030405Z/drkit-backup.env"
  run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup in $TMP/base to verify"* ]]
  [ ! -e "$TMP/verify/last-result" ]
}

@test "--backup naming an incomplete backup fails" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  rm "$TMP/base/20240102T030405Z/drkit-backup.env"
  run "$AGENT/verify-backup" --backup 20240102T030405Z
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup 20240102T030405Z in $TMP/base"* ]]
}

@test "verifies the newest complete backup; a backup without its tars FAILs and is recorded" {
  fake_base "$TMP/base" 20240101T000000Z 1704067200
  fake_base "$TMP/base" 20240102T000000Z 1704153600
  rm "$TMP/base/20240102T000000Z/pg_wal.tar"
  fake_base "$TMP/base" 20240103T000000Z 1704240000
  rm "$TMP/base/20240103T000000Z/drkit-backup.env" # still being written: not complete
  run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  [[ $output == *"verifying base backup 20240102T000000Z"* ]]
  [[ $output == *"verification of 20240102T000000Z: FAIL (backup 20240102T000000Z is missing base.tar or"* ]]
  [ "$(field result)" = FAIL ]
  [ "$(field backup)" = 20240102T000000Z ]
  [ "$(field service)" = testsvc ]
  [ "$(field reason)" = "backup 20240102T000000Z is missing base.tar or pg_wal.tar" ]
  no_scratch
}

@test "an archive that cannot be extracted FAILs" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  rm "$TMP/base/20240102T030405Z/base.tar"
  head -c 4096 /dev/urandom >"$TMP/base/20240102T030405Z/base.tar.zst"
  run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  [[ $output == *"FAIL (cannot extract $TMP/base/20240102T030405Z/base.tar.zst)"* ]]
  [ "$(field result)" = FAIL ]
  no_scratch
}

@test "a backup that does not match its manifest FAILs (pg_verifybackup)" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  run "$AGENT/verify-backup" --backup 20240102T030405Z
  [ "$status" -eq 1 ]
  [[ $output == *"FAIL (backup 20240102T030405Z does not match its manifest (pg_verifybackup))"* ]]
  [ "$(field result)" = FAIL ]
  no_scratch
}

@test "a malformed --backup is a usage error (exit 2)" {
  run "$AGENT/verify-backup" --backup ../../etc
  [ "$status" -eq 2 ]
  [[ $output == *"--backup must be a backup id"* ]]
  run "$AGENT/verify-backup" --backup
  [ "$status" -eq 2 ]
  [[ $output == *"--backup needs a value"* ]]
  [ ! -e "$TMP/verify" ]
}

@test "a --timeout that is not whole seconds is a usage error (exit 2)" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  run "$AGENT/verify-backup" --timeout 5m
  [ "$status" -eq 2 ]
  [[ $output == *"--timeout must be whole seconds, got '5m'"* ]]
  run "$AGENT/verify-backup" --timeout
  [ "$status" -eq 2 ]
  [[ $output == *"--timeout needs a value (usage: verify-backup [--backup ID] [--timeout SECONDS]"* ]]
  [ ! -e "$TMP/verify" ]
}

@test "a VERIFY_TIMEOUT that is not whole seconds is refused too" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  setting VERIFY_TIMEOUT 10s
  run "$AGENT/verify-backup"
  [ "$status" -eq 2 ]
  [[ $output == *"--timeout must be whole seconds, got '10s'"* ]]
}

@test "an unknown argument is a usage error (exit 2)" {
  run "$AGENT/verify-backup" 20240102T030405Z
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '20240102T030405Z' (usage: verify-backup"* ]]
}

@test "a second run while one holds the lock fails" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  hold_lock verify
  run "$AGENT/verify-backup"
  exec 7>&-
  [ "$status" -eq 1 ]
  [[ $output == *"not starting a second one"* ]]
  [ ! -e "$TMP/verify/last-result" ]
}

@test "a settings file without the database list fails naming it" {
  grep -v '^PG_DATABASES=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  [[ $output == *"setting PG_DATABASES is not set as a list"* ]]
}

@test "a settings file without VERIFY_DIR fails naming it" {
  grep -v '^VERIFY_DIR=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  [[ $output == *"setting VERIFY_DIR is not set"* ]]
}

@test "not enough space for the restored copy: FAILs naming the directory and the bytes, before extracting" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  free_space 4096
  run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  # Nothing in the manifest, the WAL tar's bytes and 64 MiB for the WAL replayed.
  need=$(($(stat -c %s "$TMP/base/20240102T030405Z/pg_wal.tar") + 67108864))
  [[ $output == *"not enough space in $TMP/verify for the restore test of 20240102T030405Z: needs about $need bytes"*", 4096 bytes (4.0K) are available; nothing was written"* ]]
  [ "$(field result)" = FAIL ]
  [[ $(field reason) == "not enough space in $TMP/verify for the restore test of 20240102T030405Z: needs about $need"* ]]
  no_scratch
}

@test "the sizes the manifest lists count towards the space needed" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  printf '{"Files": [\n{ "Path": "a", "Size": 1000 },\n{ "Path": "b", "Size": 24 }\n]}\n' \
    >"$TMP/base/20240102T030405Z/backup_manifest"
  free_space 4096
  run "$AGENT/verify-backup"
  need=$((1024 + $(stat -c %s "$TMP/base/20240102T030405Z/pg_wal.tar") + 67108864))
  [[ $output == *"needs about $need bytes"* ]]
}

@test "what a killed run left (its scratch copy, a temp result file) is removed by the next run" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  mkdir -p "$TMP/verify/scratch.Ab12Cd/data"
  echo half >"$TMP/verify/.last-result.Xy34Zw"
  run "$AGENT/verify-backup"
  [[ $output == *"removed $TMP/verify/scratch.Ab12Cd, left by an earlier run that did not finish"* ]]
  [[ $output == *"removed $TMP/verify/.last-result.Xy34Zw, left by an earlier run"* ]]
  no_scratch
  [ ! -e "$TMP/verify/.last-result.Xy34Zw" ]
}

@test "a run that cannot take the lock leaves the running job's scratch copy alone" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  mkdir -p "$TMP/verify/scratch.Ab12Cd/data"
  hold_lock verify
  run "$AGENT/verify-backup"
  exec 7>&-
  [ "$status" -eq 1 ]
  [ -d "$TMP/verify/scratch.Ab12Cd/data" ]
}

# incremental ID PARENT: makes backup ID (PostgreSQL 17) an incremental one built on PARENT.
incremental() {
  printf 'server_version=170004\nparent=%s\nfull=%s\ntype=incremental\n' "$2" "$2" >>"$TMP/base/$1/drkit-backup.env"
}

@test "an incremental backup whose parent is gone FAILs naming it, before anything is extracted" {
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  incremental 20240102T030405Z 20240101T030405Z
  run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  [ "$(field result)" = FAIL ]
  [ "$(field reason)" = "base backup 20240101T030405Z, the parent of incremental backup 20240102T030405Z, is not\
 complete in $TMP/base" ]
  no_scratch
}

@test "an incremental backup FAILs naming pg_combinebackup when the PostgreSQL 17 programs are not installed" {
  fake_base "$TMP/base" 20240101T030405Z 1704078245
  fake_base "$TMP/base" 20240102T030405Z 1704164645
  incremental 20240102T030405Z 20240101T030405Z
  run "$AGENT/verify-backup"
  [ "$status" -eq 1 ]
  [[ "$(field reason)" == "/usr/lib/postgresql/15/bin/pg_combinebackup is missing: install the PostgreSQL 17 programs"* ]]
  no_scratch
}
