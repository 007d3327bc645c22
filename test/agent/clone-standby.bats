#!/usr/bin/env bats
# clone-standby: the standby name argument, its own settings file (standby-<name>.env beside the agent), the
# name check against STANDBY, the password file, then with pg_basebackup/pg_ctl/psql stubbed: the clone, its
# configuration, cleanup after a failed clone, and leaving an existing cluster alone.
load helpers
load replication-stubs

setup() {
  agent_setup
  pg_stubs
  setting PGPORT 5433
  setting PGDATA_DIR "$TMP/near"
  setting STANDBY near
  setting STANDBY_SLOT drkit_near
  setting STANDBY_PASS_FILE "$TMP/pgpass-near"
  setting STANDBY_RESTORE_COMMAND "cp $TMP/wal/%f %p"
  setting REPL_ROLE drkit_replicator
  setting REPL_PRIMARY_ADDRESS 10.0.0.1
  setting REPL_PRIMARY_PORT 5432
  echo '*:*:*:drkit_replicator:Abcdefgh12345678XYZ' >"$TMP/pgpass-near"
  answer 5433 receiver streaming
}
teardown() { agent_teardown; }

@test "no argument is a usage error (exit 2)" {
  run "$AGENT/clone-standby"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: clone-standby <standby name>"* ]]
}

@test "two arguments are a usage error (exit 2)" {
  run "$AGENT/clone-standby" near far
  [ "$status" -eq 2 ]
  [[ $output == *"usage: clone-standby <standby name>"* ]]
}

@test "a name that is not a standby name is a usage error, before any file is read" {
  run "$AGENT/clone-standby" ../../etc/near
  [ "$status" -eq 2 ]
  [[ $output == *"'../../etc/near' is not a standby name"* ]]
  run "$AGENT/clone-standby" Near
  [ "$status" -eq 2 ]
  [ ! -s "$TMP/calls" ]
}

@test "without DRKIT_ENV it reads standby-<name>.env beside the agent" {
  mkdir "$TMP/agent"
  cp "$AGENT/lib.sh" "$AGENT/clone-standby" "$TMP/agent/"
  mv "$DRKIT_ENV" "$TMP/agent/standby-near.env"
  run env -u DRKIT_ENV "$TMP/agent/clone-standby" near
  [ "$status" -eq 0 ]
  [[ $output == *"drkit-testsvc-clone-standby: standby near is streaming from 10.0.0.1:5432 on port 5433"* ]]
}

@test "without DRKIT_ENV a standby without a settings file fails naming standby-<name>.env" {
  mkdir "$TMP/agent"
  cp "$AGENT/lib.sh" "$AGENT/clone-standby" "$TMP/agent/"
  run env -u DRKIT_ENV "$TMP/agent/clone-standby" far
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the settings file $TMP/agent/standby-far.env"* ]]
}

@test "a name that does not match the settings file's STANDBY is refused" {
  run "$AGENT/clone-standby" far
  [ "$status" -eq 1 ]
  [[ $output == *"is for standby 'near', not 'far'"* ]]
  [ ! -e "$TMP/near" ]
  [ ! -s "$TMP/calls" ]
}

@test "a settings file without STANDBY_SLOT fails naming the setting" {
  grep -v '^STANDBY_SLOT=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"setting STANDBY_SLOT is not set"* ]]
}

@test "an unknown PG_MANAGER is refused" {
  setting PG_MANAGER supervisor
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"PG_MANAGER must be systemd or pg_ctl, not 'supervisor'"* ]]
}

@test "a missing password file fails before anything is created" {
  rm "$TMP/pgpass-near"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"no password file $TMP/pgpass-near"* ]]
  [ ! -e "$TMP/near" ]
  [ ! -s "$TMP/calls" ]
}

@test "clones through the slot with the passfile, configures the standby, starts it and waits for streaming" {
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  conninfo="host=10.0.0.1 port=5432 user=drkit_replicator passfile=$TMP/pgpass-near application_name=near"
  grep -qF "pg_basebackup PGPASSFILE= --dbname=$conninfo --pgdata=$TMP/near --wal-method=stream" "$TMP/calls"
  grep -qF -- "--pgdata=$TMP/near --wal-method=stream --slot=drkit_near --checkpoint=fast --no-password" "$TMP/calls"
  conf=$TMP/near/postgresql.auto.conf
  grep -qxF "# drkit standby near" "$conf"
  grep -qxF "port = 5433" "$conf"
  grep -qxF "primary_conninfo = '$conninfo'" "$conf"
  grep -qxF "primary_slot_name = 'drkit_near'" "$conf"
  grep -qxF "hot_standby = on" "$conf"
  grep -qxF "hot_standby_feedback = on" "$conf"
  grep -qxF "wal_log_hints = on" "$conf"
  grep -qxF "restore_command = 'cp $TMP/wal/%f %p'" "$conf"
  [ -f "$TMP/near/standby.signal" ]
  [ "$(stat -c %a "$TMP/near")" = 700 ]
  grep -qF "pg_ctl -D $TMP/near -l $TMP/postgresql.log -W start" "$TMP/calls"
  [[ $output == *"cloning 10.0.0.1:5432 into $TMP/near through slot drkit_near"* ]]
  [[ $output == *"standby near is streaming from 10.0.0.1:5432 on port 5433"* ]]
}

@test "with replication TLS the clone and the standby verify the primary's certificate against the CA" {
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/replication-ca.crt
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  tls="sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt"
  conninfo="host=10.0.0.1 port=5432 user=drkit_replicator passfile=$TMP/pgpass-near application_name=near $tls"
  grep -qF "pg_basebackup PGPASSFILE= --dbname=$conninfo --pgdata=" "$TMP/calls"
  grep -qxF "primary_conninfo = '$conninfo'" "$TMP/near/postgresql.auto.conf"
}

@test "on another host than the primary the standby listens on its address too, for guard-primary's question" {
  setting STANDBY_LISTEN_ADDRESS 10.0.0.2
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  grep -qxF "listen_addresses = 'localhost,10.0.0.2'" "$TMP/near/postgresql.auto.conf"
}

@test "on the primary's host the standby keeps its listen_addresses" {
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q listen_addresses "$TMP/near/postgresql.auto.conf" || false
}

@test "a listen address that is not an IP address is refused before anything is cloned" {
  setting STANDBY_LISTEN_ADDRESS "10.0.0.2' ssl = 'off"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"setting STANDBY_LISTEN_ADDRESS must be an IP address, not '10.0.0.2' ssl = 'off'"* ]]
  [ ! -e "$TMP/calls" ] || ! grep -q pg_basebackup "$TMP/calls" || false
}

@test "without a readable archive there is no restore_command" {
  setting STANDBY_RESTORE_COMMAND ""
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q restore_command "$TMP/near/postgresql.auto.conf" || false
}

@test "a failed pg_basebackup leaves nothing behind" {
  touch "$STUBS/basebackup-fails"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"pg_basebackup from 10.0.0.1:5432 failed; nothing was left behind"* ]]
  [ ! -e "$TMP/near" ]
  ! grep -qF "pg_ctl" "$TMP/calls" || false
}

@test "an existing cluster is not cloned over; a running one is not restarted" {
  mkdir -m 0700 "$TMP/near"
  echo 15 >"$TMP/near/PG_VERSION"
  running "$TMP/near"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  [[ $output == *"$TMP/near already holds a cluster; not cloning over it"* ]]
  ! grep -qF "pg_basebackup" "$TMP/calls" || false
  ! grep -qF -- "-W start" "$TMP/calls" || false
  [ ! -e "$TMP/near/standby.signal" ]
}

@test "an existing standby with an old primary_conninfo is brought up to date: ALTER SYSTEM while it runs" {
  mkdir -m 0700 "$TMP/near"
  echo 15 >"$TMP/near/PG_VERSION"
  touch "$TMP/near/standby.signal"
  echo "primary_conninfo = 'host=10.0.0.1 port=5432 user=drkit_replicator'" >"$TMP/near/postgresql.auto.conf"
  running "$TMP/near"
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/near-ca.crt
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  conninfo="host=10.0.0.1 port=5432 user=drkit_replicator passfile=$TMP/pgpass-near application_name=near"
  conninfo+=" sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/near-ca.crt"
  grep -qF "ALTER SYSTEM SET primary_conninfo = '$conninfo'" "$TMP/calls"
  [ "$(grep -n 'ALTER SYSTEM' "$TMP/calls" | cut -d: -f1)" -lt "$(grep -n 'pg_reload_conf' "$TMP/calls" | cut -d: -f1)" ]
  [[ $output == *"standby near now connects with: $conninfo"* ]]
  ! grep -qF "pg_basebackup" "$TMP/calls" || false
}

@test "a stopped standby gets the new primary_conninfo in postgresql.auto.conf; a current one is left alone" {
  mkdir -m 0700 "$TMP/near"
  echo 15 >"$TMP/near/PG_VERSION"
  touch "$TMP/near/standby.signal"
  echo "primary_conninfo = 'host=10.0.0.9 port=5432 user=drkit_replicator'" >"$TMP/near/postgresql.auto.conf"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  conninfo="host=10.0.0.1 port=5432 user=drkit_replicator passfile=$TMP/pgpass-near application_name=near"
  [ "$(tail -n 1 "$TMP/near/postgresql.auto.conf")" = "primary_conninfo = '$conninfo'" ]
  : >"$TMP/calls"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  [[ $output != *"now connects with"* ]]
  ! grep -q "ALTER SYSTEM" "$TMP/calls" || false
}

# debian_host: the standby runs as Debian's postgresql@15-near under systemd (stubbed, as is pg_createcluster;
# their calls go to $TMP/calls), its cluster folders under $TMP/etc-postgresql.
debian_host() {
  setting PG_MANAGER systemd
  setting PG_UNIT postgresql@15-near.service
  export PG_CLUSTER_CONF_ROOT=$TMP/etc-postgresql
  mkdir -p "$TMP/path"
  printf '#!/usr/bin/env bash\necho "systemctl $*" >>"%s/calls"\n[[ $1 != is-active ]]\n' "$TMP" >"$TMP/path/systemctl"
  cat >"$TMP/path/pg_createcluster" <<STUB
#!/usr/bin/env bash
echo "pg_createcluster \$* (config: \$(cd "$TMP/near" && ls -- *.conf | tr '\n' ' '))" >>"$TMP/calls"
[[ ! -e "$TMP/createcluster-fails" ]]
STUB
  chmod +x "$TMP/path"/*
  export PATH="$TMP/path:$PATH"
}

@test "on Debian the clone is registered as the unit's cluster, with the stock configuration, before it starts" {
  debian_host
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  conf="pg_hba.conf pg_ident.conf postgresql.auto.conf postgresql.conf"
  grep -qxF "pg_createcluster 15 near --datadir=$TMP/near --port=5433 (config: $conf )" "$TMP/calls"
  [ "$(grep -n '^pg_createcluster' "$TMP/calls" | cut -d: -f1)" -lt \
    "$(grep -n '^systemctl start postgresql@15-near.service' "$TMP/calls" | cut -d: -f1)" ]
  grep -qxF "local all all peer" "$TMP/near/pg_hba.conf"
  # Debian's lines for local replication too: a promoted standby's base backups connect so
  grep -qxF "local replication all peer" "$TMP/near/pg_hba.conf"
  [ "$(stat -c %a "$TMP/near/postgresql.conf")" = 600 ]
  [[ $output == *"registered $TMP/near as Debian's cluster 15/near (stock configuration, port 5433)"* ]]
}

@test "on Debian a cluster already registered is left alone" {
  debian_host
  mkdir -p "$TMP/etc-postgresql/15/near"
  echo "port = 5433" >"$TMP/etc-postgresql/15/near/postgresql.conf"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q pg_createcluster "$TMP/calls" || false
  [ ! -e "$TMP/near/pg_hba.conf" ]
}

@test "on Debian a failed registration fails the run before the unit is started" {
  debian_host
  touch "$TMP/createcluster-fails"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"pg_createcluster could not register $TMP/near as cluster 15/near"* ]]
  ! grep -q "systemctl start" "$TMP/calls" || false
}

# fenced_primary: $TMP/near holds a stopped former primary that fence-primary marked, its archived WAL in $TMP/wal.
fenced_primary() {
  mkdir -m 0700 "$TMP/near" "$TMP/wal"
  echo 15 >"$TMP/near/PG_VERSION"
  echo "fenced by drkit's fence-primary" >"$TMP/near/drkit.fenced"
  echo "# the old primary's own" >"$TMP/near/postgresql.auto.conf"
  setting REWIND_ROLE drkit_rewind
  setting STANDBY_REWIND_WAL_DIR "$TMP/wal"
  setting STANDBY_RESTORE_COMMAND ""
}

@test "a fenced former primary is rewound as the rewind role over verified TLS, then streams as the standby" {
  fenced_primary
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/near-ca.crt
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  source="host=10.0.0.1 port=5432 user=drkit_rewind passfile=$TMP/pgpass-near dbname=postgres connect_timeout=10"
  source+=" sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/near-ca.crt"
  grep -qF "pg_rewind --target-pgdata=$TMP/near --source-server=$source --progress --restore-target-wal" "$TMP/calls"
  ! grep -qF "pg_basebackup" "$TMP/calls" || false
  conf=$TMP/near/postgresql.auto.conf
  # the restore_command added for pg_rewind (unchanged by this stand-in) is taken out again
  ! grep -q "restore_command" "$conf" || false
  grep -qxF "primary_slot_name = 'drkit_near'" "$conf"
  grep -qxF "port = 5433" "$conf"
  [ -f "$TMP/near/standby.signal" ]
  [ ! -e "$TMP/near/drkit.fenced" ]
  [ "$(grep -n 'pg_rewind' "$TMP/calls" | cut -d: -f1)" -lt "$(grep -n -- '-W start' "$TMP/calls" | cut -d: -f1)" ]
  [[ $output == *"rewinding the fenced former primary in $TMP/near to the timeline of 10.0.0.1:5432 as drkit_rewind"* ]]
  [[ $output == *"standby near is streaming from 10.0.0.1:5432"* ]]
}

@test "a failed rewind leaves the former primary fenced and stopped" {
  fenced_primary
  touch "$STUBS/rewind-fails"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"pg_rewind from 10.0.0.1:5432 failed: $TMP/near is left fenced as it was"* ]]
  [ -e "$TMP/near/drkit.fenced" ]
  [ ! -e "$TMP/near/standby.signal" ]
  [ "$(cat "$TMP/near/postgresql.auto.conf")" = "# the old primary's own" ]
  ! grep -qF -- "-W start" "$TMP/calls" || false
}

@test "a fenced former primary whose server runs is not rewound" {
  fenced_primary
  running "$TMP/near"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"is marked fenced, yet its server runs"* ]]
  ! grep -q "pg_rewind" "$TMP/calls" || false
}

@test "on Debian the rewind reads the cluster's postgresql.conf, and the masked unit is unmasked before it starts" {
  fenced_primary
  debian_host
  mkdir -p "$TMP/etc-postgresql/15/near"
  touch "$TMP/etc-postgresql/15/near/postgresql.conf"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  grep -qF -- "--restore-target-wal --config-file=$TMP/etc-postgresql/15/near/postgresql.conf" "$TMP/calls"
  [ "$(grep -n '^systemctl unmask postgresql@15-near.service' "$TMP/calls" | cut -d: -f1)" -lt \
    "$(grep -n '^systemctl start postgresql@15-near.service' "$TMP/calls" | cut -d: -f1)" ]
}

@test "the standby's pg_hba admits the rewind role from the primary's address first, once, for the primary's guard" {
  setting REWIND_ROLE drkit_rewind
  mkdir -p "$TMP/etc"
  printf '%s\n' "# BEGIN drkit testsvc replication" "hostnossl all drkit_rewind all reject" \
    "# END drkit testsvc replication" "local all all peer" >"$TMP/etc/pg_hba.conf"
  answer 5433 hba_file "$TMP/etc/pg_hba.conf"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  [ "$(head -n 3 "$TMP/etc/pg_hba.conf")" = "$(printf '%s\n' "# BEGIN drkit testsvc standby" \
    "host postgres drkit_rewind 10.0.0.1/32 scram-sha-256" "# END drkit testsvc standby")" ]
  grep -qxF "hostnossl all drkit_rewind all reject" "$TMP/etc/pg_hba.conf"
  grep -qF "SELECT pg_reload_conf()" "$TMP/calls"
  [[ $output == *"pg_hba ($TMP/etc/pg_hba.conf) admits drkit_rewind from the primary (10.0.0.1/32)"* ]]
  # a second run (another primary address) leaves one block, with the new address
  setting REPL_PRIMARY_ADDRESS 10.0.0.9
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  [ "$(grep -c "BEGIN drkit testsvc standby" "$TMP/etc/pg_hba.conf")" -eq 1 ]
  grep -qxF "host postgres drkit_rewind 10.0.0.9/32 scram-sha-256" "$TMP/etc/pg_hba.conf"
  ! grep -qF "10.0.0.1/32" "$TMP/etc/pg_hba.conf" || false
}

@test "a pg_hba that cannot be found costs only the guard's question, with a warning" {
  setting REWIND_ROLE drkit_rewind
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  [[ $output == *"WARNING: cannot find this standby's pg_hba file: the primary's guard-primary cannot ask it at boot"* ]]
}

@test "no process shows a password while a standby is cloned, or a former primary rewound" {
  echo '*:*:*:drkit_rewind:Rewind0123456789AB' >>"$TMP/pgpass-near"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  grep -qF "clone-standby near" "$TMP/ps-listing"
  grep -qF "pg_basebackup" "$TMP/ps-listing"
  ! grep -qE "Abcdefgh12345678XYZ|Rewind0123456789AB" "$TMP/ps-listing" || false
  rm -rf "$TMP/near" "$TMP/ps-listing"
  fenced_primary
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  grep -qF "pg_rewind --target-pgdata" "$TMP/ps-listing"
  ! grep -qE "Abcdefgh12345678XYZ|Rewind0123456789AB" "$TMP/ps-listing" || false
}

# existing_standby: a cluster cloned before, as a standby (stopped).
existing_standby() {
  mkdir -m 0700 "$TMP/near"
  echo 15 >"$TMP/near/PG_VERSION"
  touch "$TMP/near/standby.signal"
}

# serves_tls: this standby has its copy of the replication certificate (it names this host): it serves TLS, and once
# promoted the former primary rewinds and streams from it.
serves_tls() {
  setting REWIND_ROLE drkit_rewind
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/near-ca.crt
  setting STANDBY_TLS_CERT /etc/drkit/testsvc/tls/near-server.crt
  setting STANDBY_TLS_KEY /etc/drkit/testsvc/tls/near-server.key
}

@test "a standby given its copy of the certificate serves TLS after the clone, and admits the primary to stream" {
  serves_tls
  mkdir -p "$TMP/etc"
  echo "local all all peer" >"$TMP/etc/pg_hba.conf"
  answer 5433 hba_file "$TMP/etc/pg_hba.conf"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  conf=$TMP/near/postgresql.auto.conf
  [ "$(tail -n 3 "$conf")" = "$(printf '%s\n' "ssl = on" "ssl_cert_file = '/etc/drkit/testsvc/tls/near-server.crt'" \
    "ssl_key_file = '/etc/drkit/testsvc/tls/near-server.key'")" ]
  [ "$(head -n 4 "$TMP/etc/pg_hba.conf")" = "$(printf '%s\n' "# BEGIN drkit testsvc standby" \
    "host postgres drkit_rewind 10.0.0.1/32 scram-sha-256" \
    "hostssl replication drkit_replicator 10.0.0.1/32 scram-sha-256" "# END drkit testsvc standby")" ]
  [[ $output == *"pg_hba admits drkit_replicator from 10.0.0.1/32 over TLS"* ]]
}

@test "without its own certificate a standby admits no replication from the primary" {
  setting REWIND_ROLE drkit_rewind
  mkdir -p "$TMP/etc"
  echo "local all all peer" >"$TMP/etc/pg_hba.conf"
  answer 5433 hba_file "$TMP/etc/pg_hba.conf"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q "replication" "$TMP/etc/pg_hba.conf" || false
  ! grep -q "^ssl" "$TMP/near/postgresql.auto.conf" || false
}

@test "a certificate without its key fails naming the setting, before anything is cloned" {
  serves_tls
  grep -v '^STANDBY_TLS_KEY=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"setting STANDBY_TLS_KEY is not set"* ]]
  [ ! -e "$TMP/near" ]
}

@test "a running standby made before its certificate was given serves TLS from then on: ALTER SYSTEM and a reload" {
  serves_tls
  existing_standby
  running "$TMP/near"
  answer 5433 settings "off server.crt server.key"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  grep -qF "ALTER SYSTEM SET ssl_cert_file = '/etc/drkit/testsvc/tls/near-server.crt'" "$TMP/calls"
  grep -qF "ALTER SYSTEM SET ssl_key_file = '/etc/drkit/testsvc/tls/near-server.key'" "$TMP/calls"
  grep -qF "ALTER SYSTEM SET ssl = on" "$TMP/calls"
  [ "$(grep -n 'ALTER SYSTEM SET ssl = on' "$TMP/calls" | cut -d: -f1)" -lt \
    "$(grep -n 'pg_reload_conf' "$TMP/calls" | tail -n 1 | cut -d: -f1)" ]
  [[ $output == *"standby near serves TLS with /etc/drkit/testsvc/tls/near-server.crt"* ]]
  # once it does, nothing more
  answer 5433 settings "on /etc/drkit/testsvc/tls/near-server.crt /etc/drkit/testsvc/tls/near-server.key"
  : >"$TMP/calls"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q "ALTER SYSTEM SET ssl" "$TMP/calls" || false
}

@test "a stopped standby made before its certificate was given gets the TLS settings in postgresql.auto.conf, once" {
  serves_tls
  existing_standby
  conninfo="host=10.0.0.1 port=5432 user=drkit_replicator passfile=$TMP/pgpass-near application_name=near"
  echo "primary_conninfo = '$conninfo sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/near-ca.crt'" \
    >"$TMP/near/postgresql.auto.conf"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  grep -qxF "ssl_cert_file = '/etc/drkit/testsvc/tls/near-server.crt'" "$TMP/near/postgresql.auto.conf"
  grep -qxF "ssl = on" "$TMP/near/postgresql.auto.conf"
  rm "$TMP/near/postmaster.pid"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  [ "$(grep -c '^ssl_cert_file' "$TMP/near/postgresql.auto.conf")" -eq 1 ]
}

@test "a unit that never finishes starting is stopped after PG_START_SECONDS, and the run fails naming it" {
  debian_host
  mkdir -p "$TMP/etc-postgresql/15/near"
  touch "$TMP/etc-postgresql/15/near/postgresql.conf"
  existing_standby
  # as Debian's unit does when the server fails while starting: it waits for a pid file that never comes
  cat >"$TMP/path/systemctl" <<STUB
#!/usr/bin/env bash
echo "systemctl \$*" >>"$TMP/calls"
[[ \$1 != start ]] || exec sleep 60
[[ \$1 != is-active ]]
STUB
  setting PG_START_SECONDS 1
  SECONDS=0
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  ((SECONDS < 30))
  [[ $output == *"postgresql@15-near.service did not start within 1 s, so it was stopped; see journalctl -u"* ]]
  grep -qxF "systemctl stop postgresql@15-near.service" "$TMP/calls"
}

@test "a running standby that serves its certificate already reloads, so that a renewed one is read again" {
  serves_tls
  existing_standby
  running "$TMP/near"
  answer 5433 settings "on /etc/drkit/testsvc/tls/near-server.crt /etc/drkit/testsvc/tls/near-server.key"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q "ALTER SYSTEM SET ssl" "$TMP/calls" || false
  grep -qF "SELECT pg_reload_conf()" "$TMP/calls"
}

@test "once the certificate no longer names its host, a running standby stops serving drkit's copy" {
  existing_standby
  running "$TMP/near"
  answer 5433 settings "on /etc/drkit/testsvc/tls/near-server.crt /etc/drkit/testsvc/tls/near-server.key"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  for setting in ssl ssl_cert_file ssl_key_file; do grep -qF "ALTER SYSTEM RESET $setting" "$TMP/calls"; done
  [[ $output == *"standby near no longer serves TLS"* ]]
  # a certificate of the host's own (not drkit's copy) is left alone
  : >"$TMP/calls"
  answer 5433 settings "on /etc/ssl/certs/ssl-cert-snakeoil.pem /etc/ssl/private/ssl-cert-snakeoil.key"
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q "ALTER SYSTEM RESET ssl" "$TMP/calls" || false
}

@test "once the certificate no longer names its host, a stopped standby's lines for drkit's copy are removed" {
  serves_tls
  existing_standby
  run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  grep -qxF "ssl_key_file = '/etc/drkit/testsvc/tls/near-server.key'" "$TMP/near/postgresql.auto.conf"
  rm "$TMP/near/postmaster.pid"
  grep -v '^STANDBY_TLS_' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/clone-standby" near
  [ "$status" -eq 0 ]
  ! grep -q "^ssl" "$TMP/near/postgresql.auto.conf" || false
  grep -q "^primary_conninfo" "$TMP/near/postgresql.auto.conf"
}

@test "a standby that streams only after a while (replaying the archive first) is waited for" {
  answer 5433 receiver waiting
  (sleep 2 && answer 5433 receiver streaming) &
  run "$AGENT/clone-standby" near
  wait
  [ "$status" -eq 0 ]
  [[ $output == *"standby near is streaming from 10.0.0.1:5432 on port 5433"* ]]
}

@test "a standby that does not stream within STANDBY_STREAM_SECONDS fails, naming the bound" {
  setting STANDBY_STREAM_SECONDS 1
  answer 5433 receiver waiting
  run "$AGENT/clone-standby" near
  [ "$status" -eq 1 ]
  [[ $output == *"standby near is not streaming from 10.0.0.1:5432 after 1 s"* ]]
}
