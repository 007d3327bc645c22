#!/usr/bin/env bats
# backup-base: arguments, settings, the lock, and that nothing is published unless pg_basebackup wrote a complete
# set that pg_verifybackup accepts; a published backup carries its metadata file. pg_basebackup and
# pg_verifybackup are stand-ins that write a small tar set (a real backup_label inside base.tar).
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  mkdir -p "$TMP/base"
  setting BASE_DIR "$TMP/base"
  setting VERIFY_AFTER_BACKUP yes
  setting_array COMPRESS_ARGS
  sql_answer "SHOW server_version_num" 150018
  sql_answer "*pg_database_size*" 1048576
  cat >"$TMP/bin/pg_basebackup" <<STUB
#!/usr/bin/env bash
[[ \$1 != --version ]] || { echo "pg_basebackup (PostgreSQL) \$(cat "$TMP/stubs/tools-major" 2>/dev/null || echo 15).14"; exit; }
echo "pg_basebackup \$*" >>"$TMP/calls"
[[ ! -e "$TMP/stubs/fails.pg_basebackup" ]] || exit 1
for arg in "\$@"; do [[ \$arg != --pgdata=* ]] || dir=\${arg#--pgdata=}; done
src=\$(mktemp -d)
printf 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIME: 2026-11-30 02:00:00 UTC\nSTART TIMELINE: 1\n' >"\$src/backup_label"
tar -cf "\$dir/base.tar" -C "\$src" backup_label
tar -cf "\$dir/pg_wal.tar" -T /dev/null
[[ -e "$TMP/stubs/fails.manifest" ]] ||
  printf '{"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000138" }\n]}\n' >"\$dir/backup_manifest"
rm -rf -- "\$src"
STUB
  cat >"$TMP/bin/pg_verifybackup" <<STUB
#!/usr/bin/env bash
[[ \$1 != --version ]] || { echo "pg_verifybackup (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"; exit; }
echo "pg_verifybackup \$*" >>"$TMP/calls"
[[ ! -e "$TMP/stubs/fails.verify" ]]
STUB
  chmod +x "$TMP/bin/pg_basebackup" "$TMP/bin/pg_verifybackup"
}
teardown() { agent_teardown; }

published() { find "$TMP/base" -mindepth 1 -maxdepth 1 -printf '%f\n'; }
# space_needed BYTES: what the server's size query answers (the space check asks twice that and more).
space_needed() {
  sed -i '/pg_database_size/d' "$STUBS/answers"
  sql_answer "*pg_database_size*" "$1"
}

@test "publishes a verified backup under its id with the metadata file, and leaves no scratch copy" {
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  id=$(published)
  [[ $id =~ ^[0-9]{8}T[0-9]{6}Z$ ]]
  grep -qx "start_wal=000000010000000000000002" "$TMP/base/$id/drkit-backup.env"
  grep -qx "timeline=1" "$TMP/base/$id/drkit-backup.env"
  # where the backup starts (backup_label) and where it is consistent (the manifest's WAL range)
  grep -qx "start_lsn=0/2000028" "$TMP/base/$id/drkit-backup.env"
  grep -qx "end_lsn=0/2000138" "$TMP/base/$id/drkit-backup.env"
  grep -qx "server_version=150018" "$TMP/base/$id/drkit-backup.env"
  grep -q "pg_verifybackup" "$TMP/calls"
  [[ $output == *"base backup $id complete"* ]]
}

@test "a failed pg_basebackup publishes nothing and leaves no partial directory" {
  stub_fails pg_basebackup
  run "$AGENT/backup-base"
  [ "$status" -ne 0 ]
  [ -z "$(published)" ]
  [[ $output == *"FAILED"*"nothing was published"* ]]
}

@test "an incomplete set (no backup_manifest) is refused and not published" {
  stub_fails manifest
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"did not write base.tar, pg_wal.tar and backup_manifest"* ]]
  [ -z "$(published)" ]
}

@test "a backup that does not match its manifest is not published" {
  stub_fails verify
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"does not match its manifest"* ]]
  [ -z "$(published)" ]
}

@test "VERIFY_AFTER_BACKUP=no skips pg_verifybackup but still publishes a complete set" {
  setting VERIFY_AFTER_BACKUP no
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  ! grep -q "pg_verifybackup" "$TMP/calls" || false
  [ -n "$(published)" ]
}

@test "programs of another major than the server's: fails naming them and the fix, before any copy" {
  echo 14 >"$TMP/stubs/tools-major"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_basebackup is PostgreSQL 14 but the server is PostgreSQL 15: point postgres.binDirectory at the PostgreSQL 15 programs"* ]]
  ! grep -q "^pg_basebackup --pgdata" "$TMP/calls"
  [ -z "$(published)" ]
  rm "$TMP/bin/pg_verifybackup"
  rm "$TMP/stubs/tools-major"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_verifybackup is missing: install the PostgreSQL 15 programs"* ]]
}

@test "a second run while one holds the lock does not start" {
  hold_lock base
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"another run holds $TMP/locks/base.lock"* ]]
  ! grep -q pg_basebackup "$TMP/calls" || false
}

@test "arguments are a usage error (exit 2)" {
  run "$AGENT/backup-base" --now
  [ "$status" -eq 2 ]
  [[ $output == *"usage: backup-base"* ]]
}

@test "a settings file without BASE_DIR fails naming the setting" {
  grep -v '^BASE_DIR=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"setting BASE_DIR is not set"* ]]
}

@test "not enough space: fails naming the directory, the bytes needed and available, before writing anything" {
  space_needed 1000000000000000000
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output =~ "not enough space in $TMP/base for base backup "[0-9]{8}T[0-9]{6}Z": needs about 1000000000000000000 bytes (889P), "[0-9]+" bytes ("[^\)]+") are available; nothing was written" ]]
  ! grep -q pg_basebackup "$TMP/calls" || false
  [ -z "$(ls -A "$TMP/base")" ]
}

@test "the space check asks the server for the size of every database, pg_global and the WAL segment" {
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  grep -q "sum(pg_database_size(oid)) FROM pg_database.*pg_tablespace_size('pg_global').*wal_segment_size" \
    "$TMP/calls"
}

@test "a server that cannot say how large it is: fails before writing anything" {
  sed -i '/pg_database_size/d' "$STUBS/answers"
  sql_fails "*pg_database_size*"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot ask the server how large its databases are"* ]]
  ! grep -q pg_basebackup "$TMP/calls" || false
  [ -z "$(ls -A "$TMP/base")" ]
}

@test "what a killed run left (.partial-*, .verify-*) is removed by the next run, which publishes its own" {
  mkdir -p "$TMP/base/.partial-20240101T000000Z" "$TMP/base/.verify-20240101T000000Z.Ab12Cd/pg_wal"
  echo half >"$TMP/base/.partial-20240101T000000Z/base.tar"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [[ $output == *"removed $TMP/base/.partial-20240101T000000Z, left by an earlier run that did not finish"* ]]
  [[ $output == *"removed $TMP/base/.verify-20240101T000000Z.Ab12Cd, left by an earlier run"* ]]
  [[ $(published) =~ ^[0-9]{8}T[0-9]{6}Z$ ]]
}

@test "a run that cannot take the lock leaves the running job's partial directory alone" {
  mkdir -p "$TMP/base/.partial-20240101T000000Z"
  hold_lock base
  run "$AGENT/backup-base"
  exec 7>&-
  [ "$status" -eq 1 ]
  [ -d "$TMP/base/.partial-20240101T000000Z" ]
}

@test "a run in the same second as a published backup waits for the next second instead of failing" {
  taken=$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$TMP/base/$taken"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [ "$(published | grep -cv "^$taken\$")" -eq 1 ]
}

@test "on the WAL archive's filesystem the archive's reserve must stay free too" {
  mkdir -p "$TMP/wal"
  setting WAL_DIR "$TMP/wal"
  setting WAL_ARCHIVE_MIN_FREE_BYTES 1000000000000000000
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"needs about 1048576 bytes (1.0M) plus the WAL archive's reserve of 1000000000000000000 bytes (889P), "*" are available; nothing was written"* ]]
  ! grep -q pg_basebackup "$TMP/calls" || false
  setting WAL_ARCHIVE_MIN_FREE_BYTES 1048576
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
}
