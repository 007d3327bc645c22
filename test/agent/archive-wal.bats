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
# headed_segment FILE MIB: an 8 KiB file with a long page header (magic 0xD110, XLP_LONG_HEADER, system identifier
# 7) whose xlp_seg_size is MIB (one byte, printf escape) MiB.
headed_segment() {
  { printf '\x10\xd1\x02\x00\x01\x00\x00\x00'; head -c 16 /dev/zero; printf '\x07\x00\x00\x00\x00\x00\x00\x00'
    printf "\\x00\\x00$2\\x00\\x00\\x20\\x00\\x00"; head -c 8152 /dev/zero; } >"$1"
}

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

# racing_cp CONTENT_FROM: a cp first in PATH that, once it has copied, puts CONTENT_FROM under the segment's archived
# name, as a concurrent archiver would between archive-wal's check and its move.
racing_cp() {
  mkdir -p "$TMP/fakebin"
  printf '#!/usr/bin/env bash\n/usr/bin/cp "$@"\n/usr/bin/cp %q %q\n' "$1" "$TMP/wal/000000010000000000000001" \
    >"$TMP/fakebin/cp"
  chmod +x "$TMP/fakebin/cp"
}

@test "a name another archiver takes during the copy is never replaced, and the temp file goes" {
  head -c 16384 /dev/urandom >"$TMP/other"
  racing_cp "$TMP/other"
  PATH="$TMP/fakebin:$PATH" run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 1 ]
  [[ $output == *"refusing to overwrite"* ]]
  cmp "$TMP/other" "$TMP/wal/000000010000000000000001"
  [ -z "$(find "$TMP/wal" -name '.*' -type f)" ]
}

@test "the same content archived concurrently under the name is success" {
  racing_cp "$TMP/pg_wal/000000010000000000000001"
  PATH="$TMP/fakebin:$PATH" run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [[ $output == *"already archived with identical content"* ]]
  [ -z "$(find "$TMP/wal" -name '.*' -type f)" ]
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

@test "with shipping on, the archived file is queued for the shipper beside it, and nothing touches the network" {
  setting WAL_SHIP yes
  setting MC /nonexistent/mc
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [ -f "$TMP/wal/000000010000000000000001" ]
  [ -f "$TMP/wal/.to-ship.000000010000000000000001" ]
  [ ! -s "$TMP/wal/.to-ship.000000010000000000000001" ]
}

@test "re-archiving an identical file queues it again (a crash may have lost the entry)" {
  "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ ! -e "$TMP/wal/.to-ship.000000010000000000000001" ]
  setting WAL_SHIP yes
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [ -f "$TMP/wal/.to-ship.000000010000000000000001" ]
}

@test "without shipping nothing is queued" {
  setting WAL_SHIP no
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [ -z "$(find "$TMP/wal" -name '.to-ship.*')" ]
}

@test "below the free-space reserve the file is not archived but reported archived, and the gap is recorded" {
  setting WAL_SHIP yes
  setting WAL_ARCHIVE_MIN_FREE_BYTES 999999999999999999
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [[ $output == *"NOT ARCHIVED: 000000010000000000000001"*"below its reserve"*"primary keeps running"* ]]
  [ ! -e "$TMP/wal/000000010000000000000001" ]
  [ ! -e "$TMP/wal/.to-ship.000000010000000000000001" ]
  grep -E '^[0-9TZ:-]+ 000000010000000000000001 000000010000000000000001 1 local archive full: ' "$TMP/wal/drkit-gaps.log"
}

@test "over the archive's size cap the file is not archived, and the gap is recorded" {
  head -c $((2 * 1048576)) /dev/urandom >"$TMP/pg_wal/000000010000000000000001"
  cp "$TMP/pg_wal/000000010000000000000001" "$TMP/pg_wal/000000010000000000000002"
  setting WAL_ARCHIVE_MAX_BYTES $((3 * 1048576))
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  [ "$status" -eq 0 ]
  [ -f "$TMP/wal/000000010000000000000001" ]
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000002" 000000010000000000000002
  [ "$status" -eq 0 ]
  [[ $output == *"NOT ARCHIVED: 000000010000000000000002"*"over its cap of 3145728 bytes"* ]]
  [ ! -e "$TMP/wal/000000010000000000000002" ]
  grep -q ' 000000010000000000000002 000000010000000000000002 1 local archive full' "$TMP/wal/drkit-gaps.log"
}

@test "a segment's size for the cap comes from its page header (xlp_seg_size), without asking the filesystem" {
  for n in 1 2; do headed_segment "$TMP/pg_wal/00000001000000000000000$n" '\x20'; done
  setting WAL_ARCHIVE_MAX_BYTES $((3 * 1048576))
  "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000002" 000000010000000000000002
  [ "$status" -eq 0 ]
  [[ $output == *"NOT ARCHIVED: 000000010000000000000002"*"holds 1 segments of 2097152 bytes"* ]]
  [ ! -e "$TMP/wal/000000010000000000000002" ]
}

@test "a page header with a segment size PostgreSQL never writes is not believed: the file's own size counts" {
  # xlp_seg_size 3 MiB (no power of two): the cap is judged by the file's 8 KiB, so it is archived
  for n in 1 2; do headed_segment "$TMP/pg_wal/00000001000000000000000$n" '\x30'; done
  setting WAL_ARCHIVE_MAX_BYTES $((3 * 1048576))
  "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000001" 000000010000000000000001
  run "$AGENT/archive-wal" "$TMP/pg_wal/000000010000000000000002" 000000010000000000000002
  [ "$status" -eq 0 ]
  cmp "$TMP/pg_wal/000000010000000000000002" "$TMP/wal/000000010000000000000002"
}

@test "archive-wal reads only the first part of lib.sh, and every other verb reads all of it" {
  run bash -c '. "$1/lib.sh"; declare -F check_segment_owner record_gap; declare -F take_lock || echo "no take_lock"' archive-wal "$AGENT"
  [ "$status" -eq 0 ]
  [[ $output == *check_segment_owner*record_gap*"no take_lock"* ]]
  run bash -c '. "$1/lib.sh"; declare -F take_lock' backup-base "$AGENT"
  [ "$status" -eq 0 ]
  [[ $output == take_lock ]]
}

# filesystem_free BLOCKS: from here on `stat -f` reports BLOCKS free blocks of 4096 bytes and logs each such call in
# $TMP/statfs.log; other uses of stat go to the real one.
filesystem_free() {
  mkdir -p "$TMP/fakebin"
  cat >"$TMP/fakebin/stat" <<STUB
#!/usr/bin/env bash
if [[ \$1 == -f ]]; then echo called >>"$TMP/statfs.log"; echo "$1 4096"; exit 0; fi
exec /usr/bin/stat "\$@"
STUB
  chmod +x "$TMP/fakebin/stat"
  export PATH="$TMP/fakebin:$PATH"
}
statfs_calls() { if [[ -f $TMP/statfs.log ]]; then wc -l <"$TMP/statfs.log"; else echo 0; fi; }
archive_n() { "$AGENT/archive-wal" "$TMP/pg_wal/00000001000000000000000$1" "00000001000000000000000$1"; }
# reading SECONDS_AGO FREE: the free-space reading as a run SECONDS_AGO would have left it
reading() { printf '%s %s\n' "$(($(date +%s%6N) - $1 * 1000000))" "$2" >"$TMP/wal/drkit-free-space"; }

@test "free space is asked of the filesystem once a second at most, and what was archived since counts as used" {
  for n in 2 3; do head -c 16384 /dev/urandom >"$TMP/pg_wal/00000001000000000000000$n"; done
  filesystem_free 2621440 # 10 GiB
  for n in 1 2 3; do archive_n $n; done
  [ "$(statfs_calls)" -eq 1 ]
  read -r _ free <"$TMP/wal/drkit-free-space"
  [ "$free" -eq $((10 * 1073741824 - 3 * 16384)) ]
  for n in 1 2 3; do cmp "$TMP/pg_wal/00000001000000000000000$n" "$TMP/wal/00000001000000000000000$n"; done
}

@test "a reading older than a second, from the future or damaged is not taken: the filesystem is asked" {
  filesystem_free 2621440
  reading 2 999999999999
  archive_n 1
  [ "$(statfs_calls)" -eq 1 ]
  read -r _ free <"$TMP/wal/drkit-free-space"
  [ "$free" -eq $((10 * 1073741824 - 16384)) ]
  head -c 16384 /dev/urandom >"$TMP/pg_wal/000000010000000000000002"
  reading -5 999999999999
  archive_n 2
  [ "$(statfs_calls)" -eq 2 ]
  head -c 16384 /dev/urandom >"$TMP/pg_wal/000000010000000000000003"
  echo "12x4 99999999999" >"$TMP/wal/drkit-free-space"
  archive_n 3
  [ "$(statfs_calls)" -eq 3 ]
}

@test "within 64 files (at least 1 GiB) of the reserve every file asks the filesystem, and a reserve reached is kept" {
  head -c 16384 /dev/urandom >"$TMP/pg_wal/000000010000000000000002"
  setting WAL_ARCHIVE_MIN_FREE_BYTES 1048576
  # 1 GiB and two files above a reserve of 1 MiB: the reading is taken
  reading 0 $((1048576 + 1073741824 + 2 * 16384))
  filesystem_free 0
  archive_n 1
  [ "$(statfs_calls)" -eq 0 ]
  [ -f "$TMP/wal/000000010000000000000001" ]
  # exactly 1 GiB above it (64 files of 16 KiB would be far less): asked, and the filesystem, now full, says no
  reading 0 $((1048576 + 1073741824))
  run archive_n 2
  [ "$status" -eq 0 ]
  [ "$(statfs_calls)" -eq 1 ]
  [[ $output == *"NOT ARCHIVED: 000000010000000000000002"*"has 0 bytes free, below its reserve of 1048576"* ]]
  [ ! -e "$TMP/wal/000000010000000000000002" ]
}

@test "a reading with leading zeros is read as decimal, without an error" {
  filesystem_free 2621440
  printf '%s 0%s\n' "$(date +%s%6N)" 99999999999 >"$TMP/wal/drkit-free-space"
  run archive_n 1
  [ "$status" -eq 0 ]
  [[ $output != *"value too great"* ]]
  [ "$(statfs_calls)" -eq 0 ]
  read -r _ free <"$TMP/wal/drkit-free-space"
  [ "$free" -eq $((99999999999 - 16384)) ]
}
