#!/usr/bin/env bats
# failover: arguments, the standby names, then with pg_ctl/psql stubbed: the choice of standby, fencing, the
# data-loss window report, promotion, synchronous_standby_names ("FIRST 1 (...)") and repointing the others.
load helpers
load replication-stubs

setup() {
  primary_setup
  setting REPL_ROLE drkit_replicator
  setting REPL_PASS_FILE "$TMP/pgpass"
  setting REPL_PRIMARY_ADDRESS 127.0.0.1
  setting_array STANDBY_NAMES near far
  setting_array STANDBY_PORTS 5433 5434
  setting_array STANDBY_DATA_DIRS "$TMP/near" "$TMP/far"
  setting_array STANDBY_SLOTS drkit_near drkit_far
  setting_array STANDBY_SYNC yes no
  setting_array FAILOVER_ORDER near far
  mkdir -p "$TMP/near" "$TMP/far"
  running "$TMP/primary"
  for port in 5433 5434; do
    answer "$port" recovery t
    answer "$port" received 0/3000060
    answer "$port" replayed 0/3000028
    answer "$port" last_commit "2024-05-01 10:00:00.123+00"
    answer "$port" archive_mode on
  done
}

# with_archive_stub [FAILING_NAME]: failover beside lib.sh in $TMP/agent, with an archive-wal that logs its
# arguments and the user it runs as, and copies into $TMP/archive (failing for FAILING_NAME).
with_archive_stub() {
  mkdir -p "$TMP/agent" "$TMP/archive"
  cp -- "$AGENT/lib.sh" "$AGENT/failover" "$TMP/agent/"
  cat >"$TMP/agent/archive-wal" <<STUB
#!/usr/bin/env bash
echo "archive-wal \$* as \$(id -un)" >>"$TMP/calls"
[[ \$2 != "${1:-none}" ]] || { echo "archive-wal: cannot archive \$2" >&2; exit 1; }
cp -- "\$1" "$TMP/archive/\$2"
STUB
  chmod +x "$TMP/agent/archive-wal"
  AGENT=$TMP/agent
}
# ready NAME...: WAL files in the old primary's pg_wal that its archiver had not archived yet.
ready() {
  mkdir -p "$TMP/primary/pg_wal/archive_status"
  local name
  for name in "$@"; do
    echo "wal $name" >"$TMP/primary/pg_wal/$name"
    touch "$TMP/primary/pg_wal/archive_status/$name.ready"
  done
}
teardown() { agent_teardown; }

@test "an unknown argument is a usage error (exit 2)" {
  run "$AGENT/failover" near
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument 'near'; usage: failover [--to STANDBY]"* ]]
  [ -f "$TMP/primary/postmaster.pid" ]
}

@test "--to without a name is a usage error (exit 2)" {
  run "$AGENT/failover" --to
  [ "$status" -eq 2 ]
  [[ $output == *"--to needs a standby name"* ]]
  [ -f "$TMP/primary/postmaster.pid" ]
}

@test "--to a name that is not a standby on this host fails before anything is touched" {
  run "$AGENT/failover" --to elsewhere
  [ "$status" -eq 1 ]
  [[ $output == *"'elsewhere' is not a standby of this service on this host (near far)"* ]]
  [ -f "$TMP/primary/postmaster.pid" ]
  [ ! -s "$TMP/calls" ]
}

@test "a settings file without the standby lists fails naming the setting" {
  grep -v '^STANDBY_SYNC=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/failover" --to near
  [ "$status" -eq 1 ]
  [[ $output == *"setting STANDBY_SYNC is not set as a list"* ]]
}

@test "a missing settings file fails naming it" {
  DRKIT_ENV=$TMP/missing.env run "$AGENT/failover" --to near
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the settings file $TMP/missing.env"* ]]
}

@test "a standby that is not in recovery is not promoted and the primary is not fenced" {
  answer 5433 recovery f
  run "$AGENT/failover" --to near
  [ "$status" -eq 1 ]
  [[ $output == *"standby near is not in recovery; is it already a primary?"* ]]
  [ -f "$TMP/primary/postmaster.pid" ]
  ! grep -qF "pg_ctl" "$TMP/calls" || false
}

@test "without --to and no standby answering it fails naming the failover order" {
  down 5433
  down 5434
  run "$AGENT/failover"
  [ "$status" -eq 1 ]
  [[ $output == *"no standby in the failover order (near far) answers"* ]]
  [ -f "$TMP/primary/postmaster.pid" ]
}

@test "without --to the first standby of the failover order that answers is chosen" {
  setting_array FAILOVER_ORDER far near
  down 5434
  run "$AGENT/failover"
  [ "$status" -eq 0 ]
  grep -qF "pg_ctl -D $TMP/near -w -t 120 promote" "$TMP/calls"
  [[ $output == *"standby far is down; point it at near (port 5433) when it is back"* ]]
  [[ $output == *"failover to near done in"* ]]
}

@test "failover to a synchronous standby: fence, report, promote, repoint the other standby" {
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  grep -qF "pg_ctl -D $TMP/primary -m immediate -w stop" "$TMP/calls"
  [ ! -f "$TMP/primary/postmaster.pid" ]
  [[ $output == *"fencing the old primary ($TMP/primary)"* ]]
  [[ $output == *"data-loss window: none for acknowledged commits: near was synchronous (received up to 0/3000060)"* ]]
  [[ $output == *"promoting near (replayed up to 0/3000028)"* ]]
  grep -qF "pg_ctl -D $TMP/near -w -t 120 promote" "$TMP/calls"
  [[ $output == *"no synchronous standby remains"* ]]
  local_commit="options=-c synchronous_commit=local via=-c"
  grep -qF "psql port=5433 $local_commit: ALTER SYSTEM SET synchronous_standby_names = ''" "$TMP/calls"
  grep -qF "psql port=5433 $local_commit: SELECT pg_create_physical_replication_slot('drkit_far')" "$TMP/calls"
  conninfo="host=127.0.0.1 port=5433 user=drkit_replicator passfile=$TMP/pgpass application_name=far"
  grep -qF "psql port=5434 options= via=-c: ALTER SYSTEM SET primary_conninfo = '$conninfo'" "$TMP/calls"
  [[ $output == *"standby far now follows near"* ]]
  [[ $output == *"failover to near done in"*"ms; the old primary stays stopped until it rejoins as a standby"* ]]
  # the primary was fenced before the promotion
  [ "$(grep -n 'immediate -w stop' "$TMP/calls" | cut -d: -f1)" -lt "$(grep -n ' promote' "$TMP/calls" | cut -d: -f1)" ]
}

@test "with replication TLS the repointed standby verifies the new primary's certificate" {
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/replication-ca.crt
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  conninfo="host=127.0.0.1 port=5433 user=drkit_replicator passfile=$TMP/pgpass application_name=far"
  tls="sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt"
  grep -qF "psql port=5434 options= via=-c: ALTER SYSTEM SET primary_conninfo = '$conninfo $tls'" "$TMP/calls"
}

@test "the other synchronous standbys stay synchronous as FIRST 1 (...)" {
  setting_array STANDBY_NAMES a b c
  setting_array STANDBY_PORTS 5433 5434 5435
  setting_array STANDBY_DATA_DIRS "$TMP/near" "$TMP/far" "$TMP/c"
  setting_array STANDBY_SLOTS drkit_a drkit_b drkit_c
  setting_array STANDBY_SYNC yes yes yes
  setting_array FAILOVER_ORDER a b c
  answer 5435 recovery t
  run "$AGENT/failover" --to a
  [ "$status" -eq 0 ]
  grep -qF "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (\"b\", \"c\")'" "$TMP/calls"
  ! grep -qF "no synchronous standby remains" <<<"$output" || false
}

@test "failover to an asynchronous standby reports what may be lost" {
  setting_array STANDBY_SYNC yes no
  run "$AGENT/failover" --to far
  [ "$status" -eq 0 ]
  window="data-loss window: far is asynchronous; it received WAL up to 0/3000060, its last replayed commit is"
  window+=" from 2024-05-01 10:00:00.123+00; commits the old primary acknowledged after that are lost"
  [[ $output == *"$window"* ]]
  grep -qF "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (\"near\")'" "$TMP/calls"
  grep -qF "psql port=5433 options= via=-c: ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=5434 " "$TMP/calls"
}

@test "an old primary that is already down is not stopped again" {
  rm "$TMP/primary/postmaster.pid"
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  ! grep -qF "immediate -w stop" "$TMP/calls" || false
}

@test "a failed promotion fails the run" {
  touch "$STUBS/promote-fails"
  run "$AGENT/failover" --to near
  [ "$status" -eq 1 ]
  [[ $output == *"promotion of near failed"* ]]
  ! grep -qF "synchronous_standby_names" "$TMP/calls" || false
}

@test "the old primary's unarchived WAL (.ready) is archived by archive-wal before the promotion, marked .done" {
  with_archive_stub
  ready 000000010000000000000003 000000010000000000000004
  touch "$TMP/primary/pg_wal/archive_status/000000010000000000000002.done"
  echo "wal 000000010000000000000005" >"$TMP/primary/pg_wal/000000010000000000000005" # being written: no status
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  [[ $output == *"archived 2 WAL file(s) the old primary had not archived: 000000010000000000000003"\
" 000000010000000000000004"* ]]
  grep -qxF "archive-wal $TMP/primary/pg_wal/000000010000000000000003 000000010000000000000003 as $(id -un)" \
    "$TMP/calls"
  [ "$(cat "$TMP/archive/000000010000000000000004")" = "wal 000000010000000000000004" ]
  [ ! -e "$TMP/archive/000000010000000000000002" ]
  [ ! -e "$TMP/archive/000000010000000000000005" ]
  [ -f "$TMP/primary/pg_wal/archive_status/000000010000000000000003.done" ]
  [ -z "$(find "$TMP/primary/pg_wal/archive_status" -name '*.ready')" ]
  # fenced first, archived next, promoted last
  fence=$(grep -n 'immediate -w stop' "$TMP/calls" | cut -d: -f1)
  archived=$(grep -n '^archive-wal' "$TMP/calls" | tail -n1 | cut -d: -f1)
  promoted=$(grep -n ' promote' "$TMP/calls" | cut -d: -f1)
  [ "$fence" -lt "$archived" ]
  [ "$archived" -lt "$promoted" ]
}

@test "a WAL file archive-wal refuses is reported, stays .ready, and the failover goes on" {
  with_archive_stub 000000010000000000000003
  ready 000000010000000000000003 000000010000000000000004
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  [[ $output == *"archive-wal: cannot archive 000000010000000000000003"* ]]
  [[ $output == *"WARNING: could not archive 000000010000000000000003 from the old primary"* ]]
  [[ $output == *"archived 1 WAL file(s) the old primary had not archived: 000000010000000000000004"* ]]
  [ -f "$TMP/primary/pg_wal/archive_status/000000010000000000000003.ready" ]
  grep -qF "pg_ctl -D $TMP/near -w -t 120 promote" "$TMP/calls"
}

@test "an old primary whose pg_wal cannot be reached: a warning, and the failover goes on" {
  with_archive_stub
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  [[ $output == *"WARNING: the old primary's $TMP/primary/pg_wal/archive_status is not reachable"* ]]
  ! grep -q "^archive-wal" "$TMP/calls" || false
  [[ $output == *"failover to near done in"* ]]
}

@test "a standby that will not archive once promoted is named before the promotion" {
  answer 5433 archive_mode off
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  [[ $output == *"WARNING: near has archive_mode=off: once promoted it archives nothing"* ]]
  answer 5434 archive_mode always
  run "$AGENT/failover" --to far
  [[ $output != *"archive_mode="* ]]
}

@test "an old primary that vanishes between status and stop (a crashed postmaster reaped) counts as fenced" {
  touch "$STUBS/stop-finds-no-process"
  run "$AGENT/failover" --to near
  [ "$status" -eq 0 ]
  grep -qF "pg_ctl -D $TMP/near -w -t 120 promote" "$TMP/calls"
  [[ $output == *"failover to near done in"* ]]
}

@test "an old primary that cannot be stopped is not fenced: nothing is promoted" {
  touch "$STUBS/stop-fails"
  run "$AGENT/failover" --to near
  [ "$status" -eq 1 ]
  [[ $output == *"cannot stop the old primary ($TMP/primary), so it is not fenced and nothing was promoted"* ]]
  [[ $output == *"server does not shut down"* ]]
  ! grep -qF "promote" "$TMP/calls" || false
  [ -f "$TMP/primary/postmaster.pid" ]
}
