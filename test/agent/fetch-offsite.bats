#!/usr/bin/env bats
# fetch-offsite: arguments, choosing a base backup by recovery target, fetching a base backup and single WAL
# files checked against their recorded sha256, and restore_command's exit codes (1 = not archived, 126 = store
# unreachable). Objects are put in place with ship-offsite and the shipper, so the verbs share one layout; mc is
# test/agent/fake-mc, and a real mc is used against a closed port when the toolchain has built one.
load offsite-helpers
bats_require_minimum_version 1.5.0

setup() { offsite_setup; }
teardown() { agent_teardown; }

# ship_wal NAME: a WAL file archived (a copy kept at $TMP/NAME), queued and shipped by the shipper.
ship_wal() {
  make_wal "$1"
  mkdir -p "$TMP/wal"
  setting WAL_DIR "$TMP/wal"
  setting PG_OS_USER "$(id -un)"
  cp "$TMP/$1" "$TMP/wal/$1"
  : >"$TMP/wal/.to-ship.$1"
  "$AGENT/shipper" once 2>/dev/null
}

@test "no sub-command or an unknown one is a usage error (exit 2)" {
  run "$AGENT/fetch-offsite"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: fetch-offsite choose-base [TARGET_EPOCH] | list-bases | base <id> <dir> | wal <name> <path>"* ]]
  run "$AGENT/fetch-offsite" restore
  [ "$status" -eq 2 ]
}

@test "wrong argument counts are usage errors (exit 2)" {
  run "$AGENT/fetch-offsite" wal 000000010000000000000001
  [ "$status" -eq 2 ]
  [[ $output == *"usage: fetch-offsite wal <name> <path>"* ]]
  run "$AGENT/fetch-offsite" base "$BASE_ID"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: fetch-offsite base <id> <dir>"* ]]
  run "$AGENT/fetch-offsite" choose-base 1 2
  [ "$status" -eq 2 ]
}

@test "base refuses an id that is not a backup id, and choose-base a target that is not seconds (exit 2)" {
  run "$AGENT/fetch-offsite" base ../../etc "$TMP/out"
  [ "$status" -eq 2 ]
  [ ! -e "$TMP/out" ]
  run "$AGENT/fetch-offsite" choose-base '1+1'
  [ "$status" -eq 2 ]
  [[ $output == *"TARGET_EPOCH (seconds)"* ]]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

@test "--store needs a value and must name a configured store (exit 2)" {
  run "$AGENT/fetch-offsite" wal 000000010000000000000001 "$TMP/x" --store
  [ "$status" -eq 2 ]
  [[ $output == *"--store needs the name of an object store"* ]]
  run "$AGENT/fetch-offsite" --store site-c wal 000000010000000000000001 "$TMP/x"
  [ "$status" -eq 2 ]
  [[ $output == *"--store must be one of: site-a site-b"* ]]
}

@test "wal refuses a name that is not a WAL file (126: recovery stops, it never ends early), without asking a store" {
  run "$AGENT/fetch-offsite" wal ../../etc/shadow "$TMP/x"
  [ "$status" -eq 126 ]
  [[ $output == *"unexpected WAL file name '../../etc/shadow'"* ]]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
  [ ! -e "$TMP/x" ]
}

@test "a service without object stores has nothing to fetch from (exit 1)" {
  setting_array OFFSITE_STORES
  run "$AGENT/fetch-offsite" choose-base
  [ "$status" -eq 1 ]
  [[ $output == *"has no object stores"* ]]
}

@test "mc not installed, a missing credentials file and a missing MC setting fail naming the cause" {
  setting MC "$TMP/no/mc"
  run "$AGENT/fetch-offsite" choose-base
  [ "$status" -eq 1 ]
  [[ $output == *"mc is not installed at $TMP/no/mc"* ]]
  setting MC "$FAKE_MC"
  rm "$TMP/creds-a"
  run "$AGENT/fetch-offsite" choose-base
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the credentials of object store site-a ($TMP/creds-a)"* ]]
  grep -v '^MC=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/fetch-offsite" choose-base
  [ "$status" -eq 1 ]
  [[ $output == *"setting MC is not set"* ]]
}

@test "wal: fetches the archived file, identical, and leaves no partial file" {
  ship_wal 000000010000000000000003
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/pg_wal_RECOVERYXLOG"
  [ "$status" -eq 0 ]
  cmp "$TMP/000000010000000000000003" "$TMP/pg_wal_RECOVERYXLOG"
  [ ! -e "$TMP/pg_wal_RECOVERYXLOG.fetching" ]
}

@test "wal: as restore_command of a server started without PATH (Debian's pg_ctlcluster), it still fetches" {
  ship_wal 000000010000000000000003
  run env -i DRKIT_ENV="$DRKIT_ENV" FAKE_MC_ROOT="$FAKE_MC_ROOT" \
    "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/pg_wal_RECOVERYXLOG"
  [ "$status" -eq 0 ]
  cmp "$TMP/000000010000000000000003" "$TMP/pg_wal_RECOVERYXLOG"
}

@test "wal: a file that is not archived is exit 1 (the normal end of recovery)" {
  run "$AGENT/fetch-offsite" wal 000000010000000000000004 "$TMP/out"
  [ "$status" -eq 1 ]
  [ ! -e "$TMP/out" ]
  [[ $output != *"aborting recovery"* ]]
}

@test "wal: an unreachable store is exit 126, so PostgreSQL aborts recovery instead of promoting early" {
  ship_wal 000000010000000000000003
  credentials a "http://drkit:x@down:9000"
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/out"
  [ "$status" -eq 126 ]
  [[ $output == *"failed after 2 attempt(s)"* ]]
  [[ $output == *"object store site-a unreachable while fetching WAL 000000010000000000000003; aborting recovery"* ]]
  [ ! -e "$TMP/out" ]
}

@test "wal: a copy that does not match the recorded sha256 is refused (exit 126), nothing left behind" {
  ship_wal 000000010000000000000003
  echo tampered >>"$(object a wal/000000010000000000000003)"
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/out"
  [ "$status" -eq 126 ]
  [[ $output == *"svc/wal/000000010000000000000003 has sha256 "*", recorded $(sha_of "$TMP/000000010000000000000003")"* ]]
  [ ! -e "$TMP/out" ]
  [ ! -e "$TMP/out.fetching" ]
}

@test "wal: --store picks the other store" {
  ship_wal 000000010000000000000003
  rm "$(object a wal/000000010000000000000003)"
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/out"
  [ "$status" -eq 1 ]
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/out" --store site-b
  [ "$status" -eq 0 ]
  cmp "$TMP/000000010000000000000003" "$TMP/out"
}

@test "choose-base: the newest complete base backup, or the newest that finished before the target" {
  make_base 20240101T000000Z 1000
  make_base 20240102T000000Z 2000
  make_base 20240103T000000Z 3000 no-meta # incomplete: never chosen
  "$AGENT/ship-offsite" base 20240101T000000Z 2>/dev/null
  "$AGENT/ship-offsite" base 20240102T000000Z 2>/dev/null
  mkdir -p "$(dirname "$(object a base/20240103T000000Z/base.tar)")"
  cp "$TMP/base/20240103T000000Z/base.tar" "$(object a base/20240103T000000Z/base.tar)"
  # the id on standard output; what the run logged is shown if a check fails
  run --separate-stderr "$AGENT/fetch-offsite" choose-base
  echo "choose-base: status $status, stdout '$output', stderr '${stderr:-}'"
  [ "$status" -eq 0 ]
  [ "$output" = 20240102T000000Z ]
  run --separate-stderr "$AGENT/fetch-offsite" choose-base 1500
  echo "choose-base 1500: status $status, stdout '$output', stderr '${stderr:-}'"
  [ "$status" -eq 0 ]
  [ "$output" = 20240101T000000Z ]
  run --separate-stderr "$AGENT/fetch-offsite" choose-base ""
  echo "choose-base '': status $status, stdout '$output', stderr '${stderr:-}'"
  [ "$status" -eq 0 ]
  [ "$output" = 20240102T000000Z ]
  run "$AGENT/fetch-offsite" choose-base 1000
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup on site-a finished before 1000"* ]]
}

@test "list-bases: every complete base backup, newest first, with its timeline and where it starts and ends" {
  make_base 20240101T000000Z 1000
  make_base 20240102T000000Z 2000
  printf 'timeline=2\nstart_lsn=0/9000028\nend_lsn=0/9000100\n' >>"$TMP/base/20240102T000000Z/drkit-backup.env"
  make_base 20240103T000000Z 3000 no-meta # incomplete: not listed
  for id in 20240101T000000Z 20240102T000000Z 20240103T000000Z; do
    mkdir -p "$(dirname "$(object a "base/$id/x")")"
    cp "$TMP/base/$id"/* "$(dirname "$(object a "base/$id/x")")/"
  done
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/fetch-offsite" list-bases
  [ "$status" -eq 0 ]
  [ "$output" = "20240102T000000Z 2000 2 0/9000028 0/9000100
20240101T000000Z 1000 - - -" ]
  # one listing, then the checksums and the copy of each metadata file: no second listing per backup
  [ "$(mc_calls | awk '{print $1}' | tr '\n' ' ')" = "ls stat cp stat cp " ]
  run "$AGENT/fetch-offsite" list-bases extra
  [ "$status" -eq 2 ]
  [[ $output == *"usage: fetch-offsite list-bases (no other arguments)"* ]]
}

@test "base: fetches every file of the set into the directory, checked" {
  make_base "$BASE_ID" 100
  # a tar starts with a name padded with NUL bytes: telling it from an encrypted file warns about nothing
  { printf 'base/PG_VERSION'; head -c 497 /dev/zero; head -c 3584 /dev/urandom; } >"$TMP/base/$BASE_ID/base.tar"
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  run "$AGENT/fetch-offsite" base "$BASE_ID" "$TMP/staging/$BASE_ID"
  [ "$status" -eq 0 ]
  [[ $output == *"fetched base backup $BASE_ID (4 files) from site-a into $TMP/staging/$BASE_ID"* ]]
  [[ $output != *"null byte"* ]]
  diff -r "$TMP/base/$BASE_ID" "$TMP/staging/$BASE_ID"
}

@test "base: a set without its metadata file off-site is incomplete and not fetched" {
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  rm "$(object b "base/$BASE_ID/drkit-backup.env")"
  run "$AGENT/fetch-offsite" base "$BASE_ID" "$TMP/staging" --store site-b
  [ "$status" -eq 1 ]
  [[ $output == *"base backup $BASE_ID on site-b is incomplete (no drkit-backup.env)"* ]]
  [ -z "$(ls -A "$TMP/staging")" ]
}

@test "base: a tampered file fails the fetch naming it" {
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  echo x >>"$(object a "base/$BASE_ID/backup_manifest")"
  run "$AGENT/fetch-offsite" base "$BASE_ID" "$TMP/staging"
  [ "$status" -eq 1 ]
  [[ $output == *"could not fetch base/$BASE_ID/backup_manifest from site-a"* ]]
}

@test "with a real mc: a server that does not answer makes wal exit 126" {
  mc=
  for candidate in "${DRKIT_TOOLCHAIN_DIR:-$HOME/.cache/drkit-toolchain}/bin/mc" /root/.cache/drkit-toolchain/bin/mc; do
    [[ -x $candidate ]] && mc=$candidate && break
  done
  [[ -n $mc ]] || { echo "mc is not built: run toolchain/setup" >&2; return 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  credentials a "http://drkit:secret@127.0.0.1:$port"
  setting MC "$mc"
  setting RETRY_ATTEMPTS 1
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/out"
  [ "$status" -eq 126 ]
  [[ $output == *"unreachable while fetching WAL 000000010000000000000003"* ]]
}

@test "wal: mc missing or credentials unreadable abort recovery (126), never end it (1)" {
  setting MC "$TMP/no-such-mc"
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/out"
  [ "$status" -eq 126 ]
  [[ $output == *"mc is not installed at $TMP/no-such-mc; aborting recovery"* ]]
}

# ship_segments N...: WAL segments 00000001000000000000000N archived and shipped in one pass of the shipper.
ship_segments() {
  mkdir -p "$TMP/wal"
  setting WAL_DIR "$TMP/wal"
  setting PG_OS_USER "$(id -un)"
  for n in "$@"; do
    make_wal "00000001000000000000000$n"
    cp "$TMP/00000001000000000000000$n" "$TMP/wal/"
    : >"$TMP/wal/.to-ship.00000001000000000000000$n"
  done
  "$AGENT/shipper" once 2>/dev/null
}
downloads() { mc_calls | grep -c '^cp ' || true; }
# recover_segments N...: each segment asked for in turn with --prefetch, as recovery does; each must match.
recover_segments() {
  for n in "$@"; do
    "$AGENT/fetch-offsite" wal "00000001000000000000000$n" "$TMP/RECOVERYXLOG" --prefetch "$TMP/ahead" 2>/dev/null
    cmp "$TMP/00000001000000000000000$n" "$TMP/RECOVERYXLOG"
  done
}

@test "wal --prefetch: one download brings the segment and the next ones; the following calls take theirs from the folder" {
  ship_segments 1 2 3 4 5
  : >"$FAKE_MC_ROOT/.calls"
  recover_segments 1 2 3 4 5
  [ "$(downloads)" -eq 1 ]
  # once recovery has taken everything the folder holds only the two newest segments it was given (it may ask for
  # one of them again), and the end of the archive is exit 1 as without it
  [ "$(folder_names "$TMP/ahead")" = ".newest 000000010000000000000004 000000010000000000000005" ]
  run "$AGENT/fetch-offsite" wal 000000010000000000000006 "$TMP/RECOVERYXLOG6" --prefetch "$TMP/ahead"
  [ "$status" -eq 1 ]
  [ ! -e "$TMP/RECOVERYXLOG6" ]
  [ "$(downloads)" -eq 1 ]
}

@test "wal --prefetch: a segment fetched ahead is served without setting mc up; one that is not needs the store" {
  ship_segments 1 2 3
  : >"$FAKE_MC_ROOT/.calls"
  recover_segments 1
  # mc's setup would now fail (unreadable credentials): the segments already in the folder do not need it
  rm "$TMP/creds-a"
  recover_segments 2 3
  [ "$(downloads)" -eq 1 ]
  run "$AGENT/fetch-offsite" wal 000000010000000000000004 "$TMP/RECOVERYXLOG4" --prefetch "$TMP/ahead"
  [ "$status" -eq 126 ]
  [[ $output == *"cannot read the credentials of object store site-a"*"aborting recovery"* ]]
}

@test "wal --prefetch: the segment asked for again where recovery stopped is served from the folder; an older one alone" {
  ship_segments 1 2 3 4 5
  : >"$FAKE_MC_ROOT/.calls"
  recover_segments 1 2 3
  [ "$(downloads)" -eq 1 ]
  # recovery read ahead into 3, then asks for 2 again (where its target was): still in the folder
  recover_segments 2
  [ "$(downloads)" -eq 1 ]
  # one the folder no longer holds: one object downloaded, not a new batch from it; those fetched ahead stay
  recover_segments 1
  [ "$(downloads)" -eq 2 ]
  [ "$(mc_calls | grep '^cp ' | tail -n 1 | grep -o '/wal/[0-9A-F]*' | xargs)" = /wal/000000010000000000000001 ]
  recover_segments 4 5
  [ "$(downloads)" -eq 2 ]
}

@test "wal --prefetch: the checkpoint record's segment asked for before the redo segment: nothing is fetched twice" {
  ship_segments 1 2 3 4 5
  : >"$FAKE_MC_ROOT/.calls"
  # the redo segment first (as restore-pitr fetches it ahead), then the checkpoint's, the redo's again, the rest
  recover_segments 1 3 1 2 3 4 5
  [ "$(downloads)" -eq 1 ]
}

@test "wal: timeline 1's history file, which PostgreSQL never writes, is not archived (1) without asking the store" {
  ship_segments 1
  rm "$TMP/creds-a"
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/fetch-offsite" wal 00000001.history "$TMP/RECOVERYHISTORY" --prefetch "$TMP/ahead"
  [ "$status" -eq 1 ]
  [ ! -e "$TMP/RECOVERYHISTORY" ]
  run "$AGENT/fetch-offsite" wal 00000001.history "$TMP/RECOVERYHISTORY"
  [ "$status" -eq 1 ]
  [ -z "$(mc_calls)" ]
  # a later timeline's is asked for
  run "$AGENT/fetch-offsite" wal 00000002.history "$TMP/RECOVERYHISTORY"
  [ "$status" -eq 126 ]
}

@test "wal --prefetch: OFFSITE_PREFETCH bounds a download; segments left from an earlier timeline go" {
  ship_segments 1 2 3 4 5
  setting OFFSITE_PREFETCH 2
  mkdir -p "$TMP/ahead"
  echo old >"$TMP/ahead/000000010000000000000000"
  : >"$FAKE_MC_ROOT/.calls"
  recover_segments 1 2 3 4 5
  [ "$(downloads)" -eq 3 ]
  [ ! -e "$TMP/ahead/000000010000000000000000" ]
}

@test "wal --prefetch: a segment that does not match its recorded sha256 is refused (126); those before it are served" {
  ship_segments 1 2 3
  echo tampered >>"$(object a wal/000000010000000000000003)"
  run "$AGENT/fetch-offsite" wal 000000010000000000000001 "$TMP/r1" --prefetch "$TMP/ahead"
  [ "$status" -eq 0 ]
  [[ $output == *"svc/wal/000000010000000000000003 has sha256 "*", recorded $(sha_of "$TMP/000000010000000000000003")"* ]]
  run "$AGENT/fetch-offsite" wal 000000010000000000000002 "$TMP/r2" --prefetch "$TMP/ahead"
  [ "$status" -eq 0 ]
  cmp "$TMP/000000010000000000000002" "$TMP/r2"
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/r3" --prefetch "$TMP/ahead"
  [ "$status" -eq 126 ]
  [[ $output == *"aborting recovery"* ]]
  [ ! -e "$TMP/r3" ]
}

@test "wal --prefetch: an unreachable store is exit 126; --prefetch goes only with wal (exit 2)" {
  ship_segments 1
  credentials a "http://drkit:x@down:9000"
  run "$AGENT/fetch-offsite" wal 000000010000000000000001 "$TMP/out" --prefetch "$TMP/ahead"
  [ "$status" -eq 126 ]
  [ ! -e "$TMP/out" ]
  run "$AGENT/fetch-offsite" list-bases --prefetch "$TMP/ahead"
  [ "$status" -eq 2 ]
  [[ $output == *"--prefetch goes with wal"* ]]
}
