#!/usr/bin/env bats
# lib.sh's extract_wal_tar: a backup's pg_wal tar extracted for pg_waldump, sparse (the zero padding after the
# last record takes no disk), from every compression backup-base writes; a member that is no WAL file fails.
load helpers

setup() {
  agent_setup
  mkdir -p "$TMP/src" "$TMP/out"
  # a 16 MiB segment as pg_basebackup writes it: a few pages of WAL, then zeros to the segment's size
  { head -c 24576 /dev/urandom; head -c $((16 * 1048576 - 24576)) /dev/zero; } >"$TMP/src/000000010000000000000002"
  printf '1\t0/3000000\tno recovery target specified\n' >"$TMP/src/00000002.history"
  tar -cf "$TMP/pg_wal.tar" -C "$TMP/src" 000000010000000000000002 00000002.history
}
teardown() { agent_teardown; }

lib() { (cd "$TMP" && bash -c '. "$1"; "${@:2}"' lib "$AGENT/lib.sh" "$@"); }
allocated_kib() { du -k -- "$1" | cut -f1; }

@test "each WAL file comes out byte for byte, the segment's zero pages as holes" {
  run lib extract_wal_tar "$TMP/pg_wal.tar" "$TMP/out"
  [ "$status" -eq 0 ]
  cmp "$TMP/src/000000010000000000000002" "$TMP/out/000000010000000000000002"
  cmp "$TMP/src/00000002.history" "$TMP/out/00000002.history"
  [ "$(stat -c %s "$TMP/out/000000010000000000000002")" -eq $((16 * 1048576)) ]
  # 24 KiB of WAL, a block or two of rounding: far below the segment's 16384 KiB
  [ "$(allocated_kib "$TMP/out/000000010000000000000002")" -le 64 ]
}

@test "zstd, gzip and lz4 tars give the same files" {
  zstd -q -c "$TMP/pg_wal.tar" >"$TMP/pg_wal.tar.zst"
  gzip -c "$TMP/pg_wal.tar" >"$TMP/pg_wal.tar.gz"
  lz4 -q -c "$TMP/pg_wal.tar" >"$TMP/pg_wal.tar.lz4"
  for ext in zst gz lz4; do
    mkdir "$TMP/out-$ext"
    lib extract_wal_tar "$TMP/pg_wal.tar.$ext" "$TMP/out-$ext"
    cmp "$TMP/src/000000010000000000000002" "$TMP/out-$ext/000000010000000000000002"
    [ "$(allocated_kib "$TMP/out-$ext/000000010000000000000002")" -le 64 ]
  done
}

@test "archive_status markers (archive_mode on) are left out" {
  mkdir -p "$TMP/src/archive_status"
  : >"$TMP/src/archive_status/000000010000000000000002.done"
  : >"$TMP/src/archive_status/00000002.history.done"
  tar -cf "$TMP/marked.tar" -C "$TMP/src" 000000010000000000000002 archive_status/000000010000000000000002.done \
    00000002.history archive_status/00000002.history.done
  run lib extract_wal_tar "$TMP/marked.tar" "$TMP/out"
  [ "$status" -eq 0 ]
  cmp "$TMP/src/000000010000000000000002" "$TMP/out/000000010000000000000002"
  [ ! -e "$TMP/out/archive_status" ]
}

@test "a member that is no WAL file name fails and is not written anywhere" {
  mkdir -p "$TMP/evil/sub"
  printf 'x' >"$TMP/evil/sub/000000010000000000000003"
  tar -cf "$TMP/evil.tar" -C "$TMP/evil" sub/000000010000000000000003
  run lib extract_wal_tar "$TMP/evil.tar" "$TMP/out"
  [ "$status" -ne 0 ]
  [[ $output == *"no WAL file: sub/000000010000000000000003"* ]]
  [ -z "$(find "$TMP/out" -type f)" ]
}

@test "an unknown archive type and a truncated tar fail" {
  : >"$TMP/pg_wal.zip"
  run lib extract_wal_tar "$TMP/pg_wal.zip" "$TMP/out"
  [ "$status" -eq 1 ]
  [[ $output == *"unknown archive type: $TMP/pg_wal.zip"* ]]
  head -c 100000 "$TMP/pg_wal.tar" >"$TMP/cut.tar"
  run lib extract_wal_tar "$TMP/cut.tar" "$TMP/out"
  [ "$status" -ne 0 ]
}
