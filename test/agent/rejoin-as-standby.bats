#!/usr/bin/env bats
# rejoin-as-standby: arguments, the new primary's name and role, refusing a running old primary, then with
# pg_ctl/psql/pg_rewind stubbed: the slot, pg_rewind, the standby configuration and the start.
load helpers
load replication-stubs

setup() {
  agent_setup
  pg_stubs
  setting PGPORT 5432
  setting PGDATA_DIR "$TMP/primary"
  setting REPL_ROLE drkit_replicator
  setting REPL_PASS_FILE "$TMP/pgpass"
  setting REPL_PRIMARY_ADDRESS 127.0.0.1
  setting FORMER_PRIMARY_SLOT drkit_testsvc_former_primary
  setting_array STANDBY_NAMES near far
  setting_array STANDBY_PORTS 5433 5434
  mkdir -p "$TMP/primary"
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
  [[ $output == *"--primary must name a standby on this host (near far)"* ]]
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
