#!/usr/bin/env bats
# claim-archive: an archive location (the local archive and each object store's prefix) belongs to one cluster.
# The first run claims every location; the same cluster is accepted again; another cluster's archive (recorded, or
# unrecorded WAL whose headers name another system identifier) is refused naming the location and both system
# identifiers; --check never claims. archive-wal refuses a segment of another cluster against the local record.
# pg_controldata is a stand-in that reports the system identifier in the data directory's file "sysid"; mc is
# test/agent/fake-mc.
load offsite-helpers
load postgres-stubs

OURS=7714312480661839493
THEIRS=7301234567890123456

setup() {
  offsite_setup
  postgres_stubs
  mkdir -p "$TMP/data/pg_wal" "$TMP/backups/wal"
  echo 15 >"$TMP/data/PG_VERSION"
  echo "$OURS" >"$TMP/data/sysid"
  cat >"$TMP/bin/pg_controldata" <<STUB
#!/usr/bin/env bash
echo "pg_controldata \$*" >>"$TMP/calls"
[[ \$1 == -D && -f \$2/sysid ]] || { echo "pg_controldata: could not open \$2/global/pg_control" >&2; exit 1; }
echo "pg_control version number:            1300"
echo "Database system identifier:           \$(cat "\$2/sysid")"
echo "Database cluster state:               \$(cat "\$2/state" 2>/dev/null || echo in production)"
echo "Latest checkpoint location:           \$(cat "\$2/checkpoint" 2>/dev/null || echo 0/1000028)"
echo "Latest checkpoint's TimeLineID:       1"
echo "Bytes per WAL segment:                16777216"
STUB
  chmod +x "$TMP/bin/pg_controldata"
  # the server answers while $STUBS/server.up exists
  printf '#!/usr/bin/env bash\n[[ -e %q ]] || exit 2\n' "$STUBS/server.up" >"$TMP/bin/pg_isready"
  chmod +x "$TMP/bin/pg_isready"
  setting WAL_DIR "$TMP/backups/wal"
  setting ARCHIVE_RECORD "$TMP/backups/drkit-archive.env"
  setting ARCHIVE_EPOCH 1
}
teardown() { agent_teardown; }

# le64 N: N as 8 bytes, little-endian.
le64() {
  local i bytes=''
  for i in 0 1 2 3 4 5 6 7; do bytes+=$(printf '\\x%02x' $((($1 >> (8 * i)) & 255))); done
  printf '%b' "$bytes"
}
# segment FILE SYSID: a WAL segment's first page: magic, a long header, then at byte 24 the system identifier.
segment() {
  { printf '\x10\xd1\x02\x00\x01\x00\x00\x00'; head -c 16 /dev/zero; le64 "$2"; head -c 4056 /dev/zero; } >"$1"
}
# control DIR SYSID: a data directory DIR whose global/pg_control starts with the system identifier.
control() {
  mkdir -p "$1/global" "$1/pg_wal"
  { le64 "$2"; head -c 8184 /dev/zero; } >"$1/global/pg_control"
}
record_of() { sed -n 's/^SYSTEM_IDENTIFIER=//p' "$1"; }
# a foreign record in the local archive or at a store
# owner_record FILE SYSID: an archive's owner record naming SYSID
owner_record() { printf 'SYSTEM_IDENTIFIER=%s\nPG_MAJOR=15\n' "$2" >"$1"; }
foreign_record() { owner_record "$1" "$THEIRS"; }
ours_record() { owner_record "$1" "$OURS"; }
store_record() {
  mkdir -p "$(dirname -- "$(object "$1" drkit-archive.env)")"
  foreign_record "$(object "$1" drkit-archive.env)"
}

@test "unknown arguments and --pgdata without a value are usage errors (exit 2), nothing claimed" {
  run "$AGENT/claim-archive" --force
  [ "$status" -eq 2 ]
  [[ $output == *"usage: claim-archive [--check] [--pgdata DIR]"* ]]
  run "$AGENT/claim-archive" --pgdata
  [ "$status" -eq 2 ]
  [ ! -e "$TMP/backups/drkit-archive.env" ]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

@test "a settings file without ARCHIVE_RECORD fails naming the setting" {
  grep -v '^ARCHIVE_RECORD=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"setting ARCHIVE_RECORD is not set"* ]]
}

@test "claims empty locations: the local record and one object per store, each naming this cluster" {
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  [ "$(record_of "$TMP/backups/drkit-archive.env")" = "$OURS" ]
  grep -qx 'PG_MAJOR=15' "$TMP/backups/drkit-archive.env"
  grep -qx 'TIMELINE=1' "$TMP/backups/drkit-archive.env"
  grep -qx 'SERVICE=testsvc' "$TMP/backups/drkit-archive.env"
  [ "$(stat -c %a "$TMP/backups/drkit-archive.env")" = 644 ]
  [ -z "$(find "$TMP/backups" -name '.drkit-archive.env.*')" ]
  for site in a b; do
    [ "$(record_of "$(object "$site" drkit-archive.env)")" = "$OURS" ]
    # uploaded like every object: with its sha256
    grep -qx "drkit-sha256=$(sha_of "$(object "$site" drkit-archive.env)")" \
      "$FAKE_MC_ROOT/.meta/site_$site/bucket-$site/svc/drkit-archive.env"
  done
  [[ $output == *"claimed the local archive $TMP/backups"* ]]
  [[ $output == *"claimed object store site-b (bucket-b/svc/)"* ]]
}

@test "records the timeline history files the cluster has" {
  touch "$TMP/data/pg_wal/00000002.history" "$TMP/data/pg_wal/00000003.history"
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  grep -qx 'HISTORY_FILES=00000002.history 00000003.history' "$TMP/backups/drkit-archive.env"
}

@test "the same cluster is accepted again and nothing is rewritten" {
  "$AGENT/claim-archive" 2>/dev/null
  before=$(sha256sum "$TMP/backups/drkit-archive.env" "$(object a drkit-archive.env)")
  : >"$FAKE_MC_ROOT/.calls"
  sleep 1
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  [[ $output == *"belongs to this cluster (system identifier $OURS"* ]]
  [ "$(sha256sum "$TMP/backups/drkit-archive.env" "$(object a drkit-archive.env)")" = "$before" ]
  ! mc_calls | grep -q '^cp ' || false
}

@test "a local archive claimed by another cluster is refused, naming the location and both system identifiers" {
  foreign_record "$TMP/backups/drkit-archive.env"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"the local archive $TMP/backups (WAL in $TMP/backups/wal) holds the archive of another PostgreSQL"* ]]
  [[ $output == *"(system identifier $THEIRS); this cluster is system identifier $OURS"* ]]
  [[ $output == *"services.testsvc.archive.epoch: 2"* ]]
  [ "$(record_of "$TMP/backups/drkit-archive.env")" = "$THEIRS" ]
}

@test "an unclaimed local archive holding another cluster's WAL is refused and not claimed" {
  segment "$TMP/backups/wal/000000010000000000000003" "$THEIRS"
  segment "$TMP/backups/wal/000000010000000000000004" "$THEIRS"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"system identifier $THEIRS (segment 000000010000000000000003; no record)"* ]]
  [[ $output == *"this cluster is system identifier $OURS"* ]]
  [ ! -e "$TMP/backups/drkit-archive.env" ]
}

@test "an unclaimed local archive holding this cluster's WAL is claimed" {
  segment "$TMP/backups/wal/000000010000000000000003" "$OURS"
  segment "$TMP/backups/wal/000000010000000000000004" "$OURS"
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  [ "$(record_of "$TMP/backups/drkit-archive.env")" = "$OURS" ]
}

@test "a store claimed by another cluster is refused naming the store, its prefix and both system identifiers" {
  store_record b
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"object store site-b (bucket-b/svc/) holds the archive of another PostgreSQL cluster (system"* ]]
  [[ $output == *"identifier $THEIRS); this cluster is system identifier $OURS"* ]]
  [ "$(record_of "$(object b drkit-archive.env)")" = "$THEIRS" ]
}

@test "a store of another cluster leaves every location unclaimed, the empty local archive too (a rebuilt host)" {
  store_record a
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"nothing was claimed"* ]]
  [ ! -e "$TMP/backups/drkit-archive.env" ]
  [ ! -e "$(object b drkit-archive.env)" ]
}

@test "an unclaimed store holding another cluster's WAL is refused; its header is read, not the whole segment" {
  mkdir -p "$(dirname -- "$(object a wal/x)")"
  segment "$(object a wal/000000010000000000000007)" "$THEIRS"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"object store site-a (bucket-a/svc/) holds the archive of another PostgreSQL cluster (system"* ]]
  [[ $output == *"$THEIRS (segment 000000010000000000000007; no record)"* ]]
  [ ! -e "$(object a drkit-archive.env)" ]
}

@test "a store that cannot be asked fails the claim (exit 1) and claims nothing there" {
  credentials a "http://drkit:$SECRET_A@down:9000"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot tell whether object store site-a (bucket-a/svc/) belongs to this cluster"* ]]
  [ ! -e "$(object a drkit-archive.env)" ]
}

@test "--check never claims, passes unclaimed locations and refuses another cluster's" {
  run "$AGENT/claim-archive" --check
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/backups/drkit-archive.env" ]
  [ ! -e "$(object a drkit-archive.env)" ]
  [[ $output == *"is not claimed yet"* ]]
  store_record a
  run "$AGENT/claim-archive" --check
  [ "$status" -eq 1 ]
  [[ $output == *"system identifier $THEIRS); this cluster is system identifier $OURS"* ]]
}

@test "--check --pgdata compares another data directory, and one not created yet is fine (a standby to clone)" {
  "$AGENT/claim-archive" 2>/dev/null
  mkdir -p "$TMP/standby"
  echo 15 >"$TMP/standby/PG_VERSION"
  echo "$THEIRS" >"$TMP/standby/sysid"
  run "$AGENT/claim-archive" --check --pgdata "$TMP/standby"
  [ "$status" -eq 1 ]
  [[ $output == *"(system identifier $OURS); this cluster is system identifier $THEIRS"* ]]
  run "$AGENT/claim-archive" --check --pgdata "$TMP/nothing-yet"
  [ "$status" -eq 0 ]
  [[ $output == *"no cluster in $TMP/nothing-yet yet"* ]]
}

@test "claiming without a cluster in the data directory fails" {
  rm -rf "$TMP/data"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"no PostgreSQL cluster in $TMP/data"* ]]
  [ ! -e "$TMP/backups/drkit-archive.env" ]
}

@test "archive-wal refuses WAL of another cluster (segment header, history file's pg_control), accepts its own" {
  "$AGENT/claim-archive" 2>/dev/null
  : >"$FAKE_MC_ROOT/.calls"
  : >"$TMP/calls"
  setting_array OFFSITE_STORES
  segment "$TMP/ours" "$OURS"
  segment "$TMP/theirs" "$THEIRS"
  run "$AGENT/archive-wal" "$TMP/theirs" 000000010000000000000005
  [ "$status" -eq 1 ]
  [[ $output == *"WAL 000000010000000000000005 is from the cluster with system identifier $THEIRS"* ]]
  [[ $output == *"holds the archive of another PostgreSQL cluster (system identifier $OURS)"* ]]
  [ ! -e "$TMP/backups/wal/000000010000000000000005" ]
  run "$AGENT/archive-wal" "$TMP/theirs" 000000010000000000000005.partial
  [ "$status" -eq 1 ]
  run "$AGENT/archive-wal" "$TMP/ours" 000000010000000000000005
  [ "$status" -eq 0 ]
  cmp "$TMP/ours" "$TMP/backups/wal/000000010000000000000005"
  # Only a WAL page header is judged: a file without one (no segment PostgreSQL wrote) is not another cluster's.
  echo "no page header" >"$TMP/headerless"
  run "$AGENT/archive-wal" "$TMP/headerless" 000000010000000000000006
  [ "$status" -eq 0 ]
  # A history file has no header: the pg_control of the data directory it comes from (%p is in its pg_wal) tells.
  control "$TMP/theirs-data" "$THEIRS"
  control "$TMP/ours-data" "$OURS"
  for dir in theirs-data ours-data; do
    echo "1	0/3000000	no recovery target specified" >"$TMP/$dir/pg_wal/00000002.history"
  done
  run "$AGENT/archive-wal" "$TMP/theirs-data/pg_wal/00000002.history" 00000002.history
  [ "$status" -eq 1 ]
  [[ $output == *"WAL 00000002.history is from the cluster with system identifier $THEIRS"* ]]
  [ ! -e "$TMP/backups/wal/00000002.history" ]
  run "$AGENT/archive-wal" "$TMP/ours-data/pg_wal/00000002.history" 00000002.history
  [ "$status" -eq 0 ]
  [ -f "$TMP/backups/wal/00000002.history" ]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
  ! grep -q pg_controldata "$TMP/calls" || false
}

@test "check_store_owner (the shippers' check): 0 ours or unclaimed, 1 another's, 2 unreachable; asks once" {
  agent_copy claim-archive
  cat >"$TMP/agent/probe" <<'PROBE'
#!/usr/bin/env bash
. "$(dirname -- "$0")/lib.sh"
load_settings
trap mc_cleanup EXIT
mc_init
for sysid in "$@"; do
  status=0
  check_store_owner 0 "$sysid" || status=$?
  echo "status $status"
done
PROBE
  chmod +x "$TMP/agent/probe"
  # Unclaimed: fine, and not asked again by the same process; no system identifier: nothing to ask.
  run "$TMP/agent/probe" "$OURS" "$OURS" ""
  [ "$output" = $'status 0\nstatus 0\nstatus 0' ]
  [ "$(mc_calls | grep -c '^ls .*/drkit-archive.env$')" -eq 1 ]
  "$AGENT/claim-archive" 2>/dev/null
  : >"$FAKE_MC_ROOT/.calls"
  run "$TMP/agent/probe" "$OURS" "$OURS" "$OURS"
  [ "$output" = $'status 0\nstatus 0\nstatus 0' ]
  [ "$(mc_calls | grep -c '^cat ')" -eq 1 ]
  run "$TMP/agent/probe" "$THEIRS"
  [ "$status" -eq 0 ]
  [[ $output == *"(system identifier $OURS); this cluster is system identifier $THEIRS"* ]]
  [[ $output == *"status 1" ]]
  credentials a "http://drkit:$SECRET_A@down:9000"
  run "$TMP/agent/probe" "$OURS"
  [[ $output == *"cannot ask object store site-a (bucket-a/svc/) which cluster"* ]]
  [[ $output == *"status 2" ]]
}

# shut_down_at LOCATION: the cluster was shut down cleanly, its last checkpoint at LOCATION
shut_down_at() {
  echo "shut down" >"$TMP/data/state"
  echo "$1" >"$TMP/data/checkpoint"
}

@test "a local archive ahead of this cluster (another copy under the same identifier) is refused, nothing claimed" {
  shut_down_at 0/2000028
  for n in 3 4 5; do segment "$TMP/backups/wal/00000001000000000000000$n" "$OURS"; done
  ours_record "$TMP/backups/drkit-archive.env"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"this cluster writes WAL file 000000010000000000000002"* ]]
  [[ $output == *"holds WAL up to 000000010000000000000005 on timeline 1, beyond this cluster's position"* ]]
  [[ $output == *"000000010000000000000002 on it, under the same system identifier $OURS"* ]]
  [[ $output == *"nothing was claimed"* ]]
  [ ! -e "$(object a drkit-archive.env)" ]
  # unrecorded WAL of this identifier, ahead: refused too, and not claimed
  rm "$TMP/backups/drkit-archive.env"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"holds WAL up to 000000010000000000000005"* ]]
  [ ! -e "$TMP/backups/drkit-archive.env" ]
  # the cluster at the archive's newest segment or beyond it: claimed
  shut_down_at 0/5000028
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  [ "$(record_of "$TMP/backups/drkit-archive.env")" = "$OURS" ]
}

@test "a running primary's position is asked again before a store ahead of it is refused; later timelines count not" {
  touch "$STUBS/server.up"
  # the position the server reports: 09 on timeline 1 the first time, then what $STUBS/position says
  echo 000000010000000000000009 >"$STUBS/position"
  cat >"$TMP/bin/psql" <<STUB
#!/usr/bin/env bash
echo "psql position" >>"$TMP/calls"
cat "$STUBS/position"
echo 00000001000000000000000B >"$STUBS/position"
STUB
  mkdir -p "$(dirname -- "$(object a wal/x)")"
  segment "$(object a wal/000000010000000000000008)" "$OURS"
  segment "$(object a wal/00000001000000000000000A)" "$OURS"
  segment "$(object a wal/000000020000000000000004)" "$OURS"
  ours_record "$(object a drkit-archive.env)"
  # 0A is beyond 09, but the server, asked again after the listing, has archived on to 0B: accepted. Timeline 2
  # (a restore below it could be this cluster's own) is not compared.
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  [ "$(grep -c "psql position" "$TMP/calls")" -eq 2 ]
  [ "$(record_of "$TMP/backups/drkit-archive.env")" = "$OURS" ]
  # a server that stays at 09: refused
  rm "$TMP/backups/drkit-archive.env"
  printf '#!/usr/bin/env bash\necho 000000010000000000000009\n' >"$TMP/bin/psql"
  run "$AGENT/claim-archive"
  [ "$status" -eq 1 ]
  [[ $output == *"object store site-a (bucket-a/svc/) holds WAL up to 00000001000000000000000A on timeline 1"* ]]
  [[ $output == *"position 000000010000000000000009 on it"* ]]
  [ ! -e "$TMP/backups/drkit-archive.env" ]
}

@test "no position is compared for a server in recovery, a crashed cluster or a --check (a standby is behind)" {
  for n in 3 4 5; do segment "$TMP/backups/wal/00000001000000000000000$n" "$OURS"; done
  ours_record "$TMP/backups/drkit-archive.env"
  # crashed: its last checkpoint may be behind what it archived
  echo "in production" >"$TMP/data/state"
  echo 0/1000028 >"$TMP/data/checkpoint"
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  [[ $output == *"WAL position is not known"* ]]
  # in recovery: the server answers no position
  touch "$STUBS/server.up"
  sql_answer '*pg_is_in_recovery()*' ''
  run "$AGENT/claim-archive"
  [ "$status" -eq 0 ]
  [[ $output == *"WAL position is not known"* ]]
  rm "$STUBS/server.up"
  shut_down_at 0/2000028
  run "$AGENT/claim-archive" --check
  [ "$status" -eq 0 ]
  [[ $output != *"holds WAL up to"* ]]
}
