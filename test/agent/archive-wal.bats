#!/usr/bin/env bats
# archive-wal: arguments, the WAL name pattern, never overwriting, idempotent re-archiving.
load helpers

setup() {
  agent_setup
  mkdir -p "$TMP/wal" "$TMP/pg_wal"
  setting WAL_DIR "$TMP/wal"
  head -c 16384 /dev/urandom >"$TMP/pg_wal/000000010000000000000001"
}
teardown() { agent_teardown; }

@test "archives a segment atomically into WAL_DIR" {
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  cmp "$TMP/pg_wal/000000010000000000000001" "$TMP/wal/000000010000000000000001"
  [ -z "$(find "$TMP/wal" -name '.*' -type f)" ]
}

@test "the same segment twice with identical content is success" {
  "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [[ $output == *"already archived with identical content"* ]]
}

@test "a different file under an archived name is refused and the archive is untouched" {
  "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  before=$(sha256sum <"$TMP/wal/000000010000000000000001")
  head -c 16384 /dev/urandom >"$TMP/other"
  run "$AGENT/archive-wal" "$TMP/other" 000000010000000000000001
  [ "$status" -eq 1 ]
  [[ $output == *"refusing to overwrite"* ]]
  [ "$(sha256sum <"$TMP/wal/000000010000000000000001")" = "$before" ]
}

@test "accepts history, backup history and partial names" {
  for name in 00000002.history 000000010000000000000001.00000028.backup 000000010000000000000002.partial; do
    cp "$TMP/pg_wal/000000010000000000000001" "$TMP/pg_wal/$name"
    run "$AGENT/archive-wal" "$TMP/pg_wal/$name" "$name"
    [ "$status" -eq 0 ]
    [ -f "$TMP/wal/$name" ]
  done
}

@test "refuses a name that is not a WAL file" {
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" ../../etc/passwd
  [ "$status" -eq 1 ]
  [[ $output == *"unexpected file name"* ]]
  [ -z "$(ls -A "$TMP/wal")" ]
}

@test "wrong argument count is a usage error (exit 2)" {
  run "$AGENT/archive-wal" only-one
  [ "$status" -eq 2 ]
  [[ $output == *"usage: archive-wal"* ]]
}

@test "a missing source file fails" {
  run "$AGENT/archive-wal" "$TMP/pg_wal/nope" 000000010000000000000009
  [ "$status" -eq 1 ]
  [[ $output == *"does not exist"* ]]
}

@test "a missing settings file fails naming it" {
  DRKIT_ENV=$TMP/missing.env run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the settings file $TMP/missing.env"* ]]
}

@test "a settings file without WAL_DIR fails naming the setting" {
  grep -v '^WAL_DIR=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 1 ]
  [[ $output == *"setting WAL_DIR is not set"* ]]
}

@test "with object stores, the segment is shipped after the local copy, and a failed shipment fails archiving" {
  load postgres-stubs
  agent_copy archive-wal
  setting_array OFFSITE_STORES site-a
  sibling_stub ship-offsite 'exit 0'
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  grep -qxF "ship-offsite wal $TMP/pg_wal/000000010000000000000001 000000010000000000000001" "$TMP/calls"
  [ -f "$TMP/wal/000000010000000000000001" ]
  sibling_stub ship-offsite 'exit 1'
  cp "$TMP/pg_wal/000000010000000000000001" "$TMP/pg_wal/000000010000000000000002"
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000002" 000000010000000000000002
  [ "$status" -ne 0 ]
}

@test "without object stores nothing is shipped" {
  load postgres-stubs
  agent_copy archive-wal
  sibling_stub ship-offsite 'exit 1'
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/calls" ]
}
