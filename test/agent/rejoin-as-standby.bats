#!/usr/bin/env bats
# rejoin-as-standby: arguments, the new primary's name and role, refusing a running old primary, then with
# pg_ctl/psql/pg_rewind stubbed: the slot, pg_rewind, the standby configuration and the start.
load helpers
load replication-stubs

setup() {
  primary_setup
  setting REPL_ROLE drkit_replicator
  setting REPL_PASS_FILE "$TMP/pgpass"
  setting REPL_PRIMARY_ADDRESS 127.0.0.1
  setting FORMER_PRIMARY_SLOT drkit_testsvc_former_primary
  setting_array STANDBY_NAMES near far
  setting_array STANDBY_PORTS 5433 5434
  echo "port = 5433" >"$TMP/primary/postgresql.auto.conf"
  answer 5433 recovery f
  answer 5434 recovery t
  answer 5432 receiver streaming
}
teardown() { agent_teardown; }

@test "without --primary it is a usage error (exit 2)" {
  run "$AGENT/rejoin-as-standby"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: rejoin-as-standby --primary STANDBY"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "--primary without a name is a usage error (exit 2)" {
  run "$AGENT/rejoin-as-standby" --primary
  [ "$status" -eq 2 ]
  [[ $output == *"--primary needs a standby name"* ]]
}

@test "an unknown argument is a usage error (exit 2)" {
  run "$AGENT/rejoin-as-standby" near
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument 'near'; usage: rejoin-as-standby --primary STANDBY"* ]]
}

@test "--primary a name that is not a standby on this host fails" {
  run "$AGENT/rejoin-as-standby" --primary elsewhere
  [ "$status" -eq 1 ]
  [[ $output == *"--primary must name a standby of this service (near far)"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a settings file without FORMER_PRIMARY_SLOT fails naming the setting" {
  grep -v '^FORMER_PRIMARY_SLOT=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 1 ]
  [[ $output == *"setting FORMER_PRIMARY_SLOT is not set"* ]]
}

@test "a missing settings file fails naming it" {
  DRKIT_ENV=$TMP/missing.env run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the settings file $TMP/missing.env"* ]]
}

@test "a --primary still in recovery is refused" {
  run "$AGENT/rejoin-as-standby" --primary far
  [ "$status" -eq 1 ]
  [[ $output == *"far is not a primary (still in recovery)"* ]]
  ! grep -qF "pg_rewind" "$TMP/calls" || false
}

@test "an old primary running as a primary is refused: fence it first" {
  running "$TMP/primary"
  answer 5432 recovery f
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 1 ]
  [[ $output == *"the old primary is running as a primary: fence it first (failover does)"* ]]
  ! grep -qF "pg_rewind" "$TMP/calls" || false
}

@test "an old primary already running as a standby is reported" {
  running "$TMP/primary"
  answer 5432 recovery t
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 1 ]
  [[ $output == *"the old primary already runs as a standby"* ]]
}

@test "a failed pg_rewind stops before the node is configured as a standby" {
  touch "$STUBS/rewind-fails"
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 1 ]
  [[ $output == *"pg_rewind failed; the data directory may need a fresh clone"* ]]
  [ ! -e "$TMP/primary/standby.signal" ]
  ! grep -qF -- "-W start" "$TMP/calls" || false
}

@test "rewinds from the new primary, follows it through its own slot, on its own port" {
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 0 ]
  slot=drkit_testsvc_former_primary
  on_new="psql port=5433 options=-c synchronous_commit=local via=-c"
  grep -qF "$on_new: SELECT pg_create_physical_replication_slot('$slot')" "$TMP/calls"
  grep -qF "$on_new: CHECKPOINT" "$TMP/calls"
  source_server="host=$TMP/sock port=5433 user=postgres dbname=postgres"
  grep -qF "pg_rewind --target-pgdata=$TMP/primary --source-server=$source_server --progress" "$TMP/calls"
  [ "$(grep -n 'CHECKPOINT' "$TMP/calls" | cut -d: -f1)" -lt "$(grep -n '^pg_rewind' "$TMP/calls" | cut -d: -f1)" ]
  conf=$TMP/primary/postgresql.auto.conf
  [ "$(tail -n 1 <(grep '^port = ' "$conf"))" = "port = 5432" ]
  grep -qxF "# drkit: rejoined as a standby of near" "$conf"
  conninfo="host=127.0.0.1 port=5433 user=drkit_replicator passfile=$TMP/pgpass application_name=former_primary"
  grep -qxF "primary_conninfo = '$conninfo'" "$conf"
  grep -qxF "primary_slot_name = '$slot'" "$conf"
  grep -qxF "hot_standby = on" "$conf"
  [ -f "$TMP/primary/standby.signal" ]
  grep -qF "pg_ctl -D $TMP/primary -l $TMP/postgresql.log -W start" "$TMP/calls"
  [[ $output == *"rewinding $TMP/primary to the timeline of near (port 5433)"* ]]
  [[ $output == *"pg_rewind: Done!"* ]]
  [[ $output == *"the old primary now streams from near through slot $slot"* ]]
}

@test "with replication TLS the rejoined node verifies the new primary's certificate" {
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/replication-ca.crt
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 0 ]
  conninfo="host=127.0.0.1 port=5433 user=drkit_replicator passfile=$TMP/pgpass application_name=former_primary"
  tls="sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt"
  grep -qxF "primary_conninfo = '$conninfo $tls'" "$TMP/primary/postgresql.auto.conf"
}

@test "WAL the old primary recycled after the divergence is read from the archive: pg_rewind --restore-target-wal" {
  mkdir -p "$TMP/wal"
  setting WAL_DIR "$TMP/wal"
  # what the old primary's configuration says while pg_rewind runs
  sed -i "s|^echo \"pg_rewind: rewinding\"|cp \"$TMP/primary/postgresql.auto.conf\" \"$TMP/conf-at-rewind\"\\n&|" \
    "$TMP/bin/pg_rewind"
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 0 ]
  grep -qE "^pg_rewind --target-pgdata=$TMP/primary .* --progress --restore-target-wal$" "$TMP/calls"
  grep -qxF "restore_command = 'cp $TMP/wal/%f %p'" "$TMP/conf-at-rewind"
  # Debian's layout: the main configuration file beside the conf.d, none in the data directory.
  mkdir -p "$TMP/etc/conf.d"
  echo "# main" >"$TMP/etc/postgresql.conf"
  setting PG_CONF_DIR "$TMP/etc/conf.d"
  rm -f "$TMP/primary/postmaster.pid" "$TMP/primary/standby.signal"
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 0 ]
  grep -qE "^pg_rewind .* --restore-target-wal --config-file=$TMP/etc/postgresql.conf$" "$TMP/calls"
}

@test "without a readable archive pg_rewind runs on the old primary's pg_wal alone" {
  setting WAL_DIR "$TMP/no-such-archive"
  run "$AGENT/rejoin-as-standby" --primary near
  [ "$status" -eq 0 ]
  grep -qE "^pg_rewind .* --progress$" "$TMP/calls"
  ! grep -q "restore_command" "$TMP/primary/postgresql.auto.conf" || false
}

# promoted_elsewhere: standby "far2" on another host (10.0.0.2, port 5433) was promoted; this primary, with
# replication TLS and its own copy of the certificate, was fenced by fence-primary.
promoted_elsewhere() {
  setting REWIND_ROLE drkit_rewind
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/replication-ca.crt
  setting REPL_TLS_CERT /etc/drkit/testsvc/tls/server.crt
  setting REPL_TLS_KEY /etc/drkit/testsvc/tls/server.key
  setting REPL_PRIMARY_ADDRESS 10.0.0.1
  setting REPL_PRIMARY_PORT 5432
  mkdir -p "$TMP/wal"
  setting WAL_DIR "$TMP/wal"
  setting_array GUARD_STANDBYS far2
  setting_array GUARD_ADDRESSES 10.0.0.2
  setting_array GUARD_PORTS 5433
  echo 15 >"$TMP/primary/PG_VERSION"
  echo "fenced by drkit's fence-primary" >"$TMP/primary/drkit.fenced"
  echo '*:*:*:drkit_rewind:Abcdefgh12345678XYZ' >"$TMP/pgpass"
  # the stand-in psql answers by the PGPORT of the settings: this server's own port
  answer 5432 recovery f
  answer 5432 settings "$(printf '%s\n' max_connections=100 max_locks_per_transaction=64 \
    max_prepared_transactions=0 max_wal_senders=10 max_worker_processes=8)"
  export TMPDIR=$TMP/tmpdir
  mkdir -p "$TMPDIR"
}

# refused_before_rewind MESSAGE: the run failed with MESSAGE before any slot was made or any rewind ran.
refused_before_rewind() {
  [ "$status" -eq 1 ]
  [[ $output == *"$1"* ]]
  ! grep -q "pg_rewind\|replication connection" "$TMP/calls" || false
}

@test "a standby on another host: this old primary must be fenced first; nothing is asked or made there" {
  promoted_elsewhere
  rm "$TMP/primary/drkit.fenced"
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/primary is not fenced: stop the old primary with fence-primary first"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a standby on another host: a fenced old primary whose server runs is refused" {
  promoted_elsewhere
  running "$TMP/primary"
  run "$AGENT/rejoin-as-standby" --primary far2
  refused_before_rewind "the old primary's server runs although it is fenced"
}

@test "a standby on another host that is still in recovery is refused before any slot is made there" {
  promoted_elsewhere
  answer 5432 recovery t
  run "$AGENT/rejoin-as-standby" --primary far2
  refused_before_rewind "far2 is not a primary (still in recovery)"
}

@test "a slot that cannot be made on the other host stops the rejoin, naming why; one that exists is used" {
  promoted_elsewhere
  slot_fails 'psql: error: ERROR:  permission denied to create replication slot'
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 1 ]
  [[ $output == *"cannot make slot drkit_testsvc_former_primary on far2: ERROR:  permission denied"* ]]
  ! grep -q "pg_rewind" "$TMP/calls" || false
  [ -e "$TMP/primary/drkit.fenced" ]
  slot_fails 'psql: error: ERROR:  replication slot "drkit_testsvc_former_primary" already exists'
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 0 ]
  grep -q "^pg_rewind" "$TMP/calls"
}

@test "a standby on another host: rewound from it over verified TLS through a slot made there, then its TLS standby" {
  promoted_elsewhere
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 0 ]
  tls="sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt connect_timeout=10"
  slot="CREATE_REPLICATION_SLOT drkit_testsvc_former_primary PHYSICAL RESERVE_WAL"
  there="host=10.0.0.2 port=5433 user=drkit_replicator passfile=$TMP/pgpass replication=true $tls"
  grep -qF "replication connection: -X -Atq -c $slot $there" "$TMP/calls"
  source="host=10.0.0.2 port=5433 user=drkit_rewind passfile=$TMP/pgpass dbname=postgres connect_timeout=10"
  source+=" sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt"
  grep -qF "pg_rewind --target-pgdata=$TMP/primary --source-server=$source --progress --restore-target-wal" "$TMP/calls"
  [ "$(grep -n 'CREATE_REPLICATION_SLOT' "$TMP/calls" | head -n 1 | cut -d: -f1)" -lt \
    "$(grep -n '^pg_rewind' "$TMP/calls" | cut -d: -f1)" ]
  conf=$TMP/primary/postgresql.auto.conf
  conninfo="host=10.0.0.2 port=5433 user=drkit_replicator passfile=$TMP/pgpass application_name=former_primary"
  conninfo+=" sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt"
  grep -qxF "primary_conninfo = '$conninfo'" "$conf"
  grep -qxF "primary_slot_name = 'drkit_testsvc_former_primary'" "$conf"
  grep -qxF "port = 5432" "$conf"
  # it listens on its own address and serves its own certificate: the standby on the other host comes back to it
  grep -qxF "listen_addresses = 'localhost,10.0.0.1'" "$conf"
  grep -qxF "ssl_cert_file = '/etc/drkit/testsvc/tls/server.crt'" "$conf"
  # what a hot standby needs at least as high as its primary: the promoted server's values
  grep -qxF "max_wal_senders = '10'" "$conf"
  grep -qxF "max_connections = '100'" "$conf"
  [ -f "$TMP/primary/standby.signal" ]
  [ ! -e "$TMP/primary/drkit.fenced" ]
  [[ $output == *"the old primary now streams from far2 (10.0.0.2:5433) through slot drkit_testsvc_former_primary"* ]]
  # the settings it rejoined with were temporary
  [ -z "$(ls -A "$TMPDIR")" ]
}

@test "a failed rewind from the other host leaves the old primary fenced, and no temporary settings" {
  promoted_elsewhere
  touch "$STUBS/rewind-fails"
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 1 ]
  [[ $output == *"the old primary did not rejoin far2 (above); it was not rewound and stays fenced"* ]]
  [ -e "$TMP/primary/drkit.fenced" ]
  [ ! -e "$TMP/primary/standby.signal" ]
  [ -z "$(ls -A "$TMPDIR")" ]
  # the slot it made there would hold WAL for nobody: dropped, on the same host
  grep -q "^replication connection: -X -Atq -c DROP_REPLICATION_SLOT drkit_testsvc_former_primary host=10.0.0.2 port=5433 " \
    "$TMP/calls"
}

@test "a slot that existed before the rejoin is not dropped when the rewind fails" {
  promoted_elsewhere
  touch "$STUBS/rewind-fails"
  slot_fails 'psql: error: ERROR:  replication slot "drkit_testsvc_former_primary" already exists'
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 1 ]
  ! grep -q "DROP_REPLICATION_SLOT" "$TMP/calls" || false
}

@test "rewound but not streaming: the standby keeps the slot it will stream through, and the message says so" {
  promoted_elsewhere
  setting STANDBY_STREAM_SECONDS 1
  answer 5432 receiver stopped
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 1 ]
  [[ $output == *"was rewound and made a standby of far2 but does not stream yet"* ]]
  [ -f "$TMP/primary/standby.signal" ]
  ! grep -q "DROP_REPLICATION_SLOT" "$TMP/calls" || false
}

@test "the other host is asked as the rewind role over verified TLS, at its address and port" {
  promoted_elsewhere
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 0 ]
  there="host=10.0.0.2 port=5433 user=drkit_rewind passfile=$TMP/pgpass dbname=postgres"
  there+=" sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt connect_timeout=10"
  grep -qxF "connection: -X -Atq -c SELECT pg_is_in_recovery() $there" "$TMP/calls"
  # the settings question too (its query spans lines; the connection string ends the last)
  grep -qF "ORDER BY name $there" "$TMP/calls"
}

@test "each hot standby setting is the higher of the other host's and this server's own configuration" {
  promoted_elsewhere
  echo 300 >"$STUBS/conf.max_connections"
  echo 5 >"$STUBS/conf.max_wal_senders"
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 0 ]
  conf=$TMP/primary/postgresql.auto.conf
  grep -qxF "max_connections = '300'" "$conf"
  grep -qxF "max_wal_senders = '10'" "$conf"
  grep -qxF "max_worker_processes = '8'" "$conf"
}

@test "a primary address that is a host name is refused before anything is asked or made on the other host" {
  promoted_elsewhere
  setting REPL_PRIMARY_ADDRESS db1.internal
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 1 ]
  [[ $output == *"this server's address db1.internal is a host name"*"replication.primaryAddress"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a warning psql prints (as postgres in root's folder) does not hide the other host's answer" {
  promoted_elsewhere
  sed -i "1a echo 'could not change directory to \"/root\": Permission denied' >&2" "$TMP/bin/psql"
  run "$AGENT/rejoin-as-standby" --primary far2
  [ "$status" -eq 0 ]
  grep -q "^pg_rewind" "$TMP/calls"
}

@test "a promoted standby elsewhere that does not give its hot standby settings is not followed" {
  promoted_elsewhere
  answer 5432 settings "max_wal_senders=10"
  run "$AGENT/rejoin-as-standby" --primary far2
  refused_before_rewind "far2 answered 1 of its 5 hot standby settings: max_wal_senders=10"
}
