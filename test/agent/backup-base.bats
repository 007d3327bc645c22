#!/usr/bin/env bats
# backup-base: arguments, settings, the lock, and that nothing is published unless pg_basebackup wrote a complete
# set whose every file matches its manifest; a published backup carries its metadata file. pg_basebackup is a
# stand-in that writes a small tar set with a real manifest (fake-base-backup); pg_waldump and pg_verifybackup
# are stand-ins that record their arguments. The check reads the tars with python3 (the real one); a host
# without python3 checks an extracted copy with pg_verifybackup instead.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  base_backup_stubs 150018
}
teardown() { agent_teardown; }

# without_python: python3 fails, as on a host that has none.
without_python() {
  mkdir -p "$TMP/nopython"
  printf '#!/bin/sh\nexit 127\n' >"$TMP/nopython/python3"
  chmod +x "$TMP/nopython/python3"
  export PATH="$TMP/nopython:$PATH"
}
published() { find "$TMP/base" -mindepth 1 -maxdepth 1 -printf '%f\n'; }
# space_needed BYTES: what the server's size query answers (the space check asks twice that and more).
space_needed() {
  sed -i '/pg_database_size/d' "$STUBS/answers"
  sql_answer "*pg_database_size*" "$1 16777216"
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
  # its WAL is on one timeline: the segment size names the segments it needs (restore-pitr's backup_wal_archived)
  grep -qx "wal_segment_bytes=16777216" "$TMP/base/$id/drkit-backup.env"
  # the manifest carries SHA-256 checksums, which the stream check compares; pg_waldump parses its WAL range
  grep -q "^pg_basebackup .*--manifest-checksums=SHA256" "$TMP/calls"
  grep -q "^pg_waldump --quiet --path=$TMP/base/.verify-$id.*/pg_wal --timeline=1 --start=0/2000028 --end=0/2000138\$" \
    "$TMP/calls"
  ! grep -q "pg_verifybackup" "$TMP/calls" || false
  [[ $output == *"base backup $id complete"* ]]
  # the base tar was checked while pg_basebackup wrote it, not read a second time
  [[ $output != *"reading $TMP/base/.partial-$id/base.tar again"* ]]
}

@test "WAL on two timelines (two WAL ranges), or no segment size from the server: no wal_segment_bytes" {
  touch "$STUBS/two-timelines"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  first=$(published)
  grep -qx "end_lsn=0/2000138" "$TMP/base/$first/drkit-backup.env"
  ! grep -q "wal_segment_bytes" "$TMP/base/$first/drkit-backup.env" || false
  rm "$STUBS/two-timelines"
  sed -i '/pg_database_size/d' "$STUBS/answers"
  sql_answer "*pg_database_size*" 1048576
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  second=$(published | grep -vx "$first")
  grep -qx "end_lsn=0/2000138" "$TMP/base/$second/drkit-backup.env"
  ! grep -q "wal_segment_bytes" "$TMP/base/$second/drkit-backup.env" || false
}

@test "the base tar is checked while it grows; a file written after the check would be caught by the second read" {
  touch "$TMP/stubs/slow"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  [[ $output != *" again: following it"* ]]
  [[ $output == *"base backup $(published) complete"* ]]
  # With tail unable to follow, the finished file is read instead: the same check, a second read.
  mkdir -p "$TMP/notail"
  printf '#!/bin/sh\necho "tail: cannot follow" >&2\nexit 1\n' >"$TMP/notail/tail"
  chmod +x "$TMP/notail/tail"
  rm -rf "${TMP:?}/base"/*
  touch "$TMP/stubs/corrupt"
  PATH=$TMP/notail:$PATH run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"base.tar again: following it while pg_basebackup wrote it did not finish (tail: cannot follow)"* ]]
  [[ $output == *'"PG_VERSION" does not match its checksum in the manifest'* ]]
  [ -z "$(published)" ]
}

@test "a compressed tar is read to its end: the decompressor is never cut off while it writes the padding" {
  touch "$TMP/stubs/zstd"
  for _ in 1 2 3; do
    run "$AGENT/backup-base"
    [ "$status" -eq 0 ]
    [[ $output != *"failed with exit"* ]]
    sleep 1
  done
  [ "$(published | wc -l)" -eq 3 ]
}

@test "data after the end of a tar archive: refused, nothing published" {
  touch "$TMP/stubs/trailing"
  run "$AGENT/backup-base"
  [ "$status" -ne 0 ]
  [[ $output == *"base.tar: data after the end of the tar archive"* ]]
  [ -z "$(published)" ]
}

@test "without python3: an extracted copy is checked by pg_verifybackup against CRC32C checksums" {
  without_python
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  id=$(published)
  grep -q "^pg_basebackup .*--manifest-checksums=CRC32C" "$TMP/calls"
  grep -q "^pg_verifybackup --quiet --manifest-path=$TMP/base/.partial-$id/backup_manifest" "$TMP/calls"
  grep -qx "start_wal=000000010000000000000002" "$TMP/base/$id/drkit-backup.env"
  stub_fails pg_verifybackup
  sleep 1
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_verifybackup found the backup does not match its manifest"* ]]
  [ "$(published)" = "$id" ]
}

@test "the space check counts the extracted copy only where one is made" {
  space_needed 1000000
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  grep -q "SELECT (1 \* ((SELECT sum(pg_database_size" "$TMP/calls"
  without_python
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  grep -q "SELECT (2 \* ((SELECT sum(pg_database_size" "$TMP/calls"
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

@test "a file changed after the manifest was made: refused, naming the file, nothing published or left" {
  touch "$STUBS/corrupt"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *'"PG_VERSION" does not match its checksum in the manifest'* ]]
  [[ $output == *"the backup does not match its manifest"* ]]
  [ -z "$(ls -A "$TMP/base")" ]
}

@test "a file the manifest does not list, or a listed file missing: refused, naming it" {
  touch "$STUBS/extra"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *'"stray" is in the backup but not in the manifest'* ]]
  rm "$STUBS/extra"
  touch "$STUBS/short"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *'"PG_VERSION" is in the manifest but not in the backup'* ]]
  [ -z "$(published)" ]
}

@test "a manifest edited after it was written fails its own checksum" {
  printf 'sed -i "s/2000138/2000140/" "$dir/backup_manifest"\n' >>"$TMP/bin/pg_basebackup"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"backup_manifest: its own checksum does not match its contents"* ]]
  [ -z "$(published)" ]
}

@test "WAL that pg_waldump cannot parse: not published" {
  stub_fails pg_waldump
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_waldump cannot parse the backup's WAL from 0/2000028 to 0/2000138"* ]]
  [ -z "$(published)" ]
}

@test "VERIFY_AFTER_BACKUP=no skips the checks but still publishes a complete set with its metadata" {
  setting VERIFY_AFTER_BACKUP no
  touch "$STUBS/corrupt"
  run "$AGENT/backup-base"
  [ "$status" -eq 0 ]
  ! grep -q "pg_verifybackup\|pg_waldump --quiet" "$TMP/calls" || false
  grep -qx "start_wal=000000010000000000000002" "$TMP/base/$(published)/drkit-backup.env"
}

@test "programs of another major than the server's: fails naming them and the fix, before any copy" {
  echo 14 >"$TMP/stubs/tools-major"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_basebackup is PostgreSQL 14 but the server is PostgreSQL 15: point postgres.binDirectory at the PostgreSQL 15 programs"* ]]
  ! grep -q "^pg_basebackup --pgdata" "$TMP/calls" || false
  [ -z "$(published)" ]
  rm "$TMP/bin/pg_waldump"
  rm "$TMP/stubs/tools-major"
  run "$AGENT/backup-base"
  [ "$status" -eq 1 ]
  [[ $output == *"pg_waldump is missing: install the PostgreSQL 15 programs"* ]]
  rm "$TMP/bin/pg_verifybackup"
  without_python
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
