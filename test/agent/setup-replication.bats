#!/usr/bin/env bats
# setup-replication: arguments, settings, the pgpass password check (before any SQL), then with psql stubbed:
# the role from stdin, one slot per standby, stale drkit slots dropped, the pg_hba block first and replaced.
load helpers
load replication-stubs

setup() {
  agent_setup
  pg_stubs
  setting PGPORT 5432
  setting REPL_ROLE drkit_replicator
  setting REPL_PASS_FILE "$TMP/pgpass"
  setting REPL_HBA_FILE "$TMP/pg_hba.conf"
  setting_array REPL_SLOTS drkit_near drkit_far
  setting_array REPL_HBA_LINES "host replication drkit_replicator 10.0.0.2/32 scram-sha-256" \
    "host replication drkit_replicator 10.0.0.3/32 scram-sha-256"
  echo '*:*:*:drkit_replicator:Abcdefgh12345678XYZ' >"$TMP/pgpass"
  printf '%s\n' "local all all peer" "host all all 127.0.0.1/32 scram-sha-256" >"$TMP/pg_hba.conf"
  chmod 0640 "$TMP/pg_hba.conf"
  answer 5432 hba_errors 0
}
teardown() { agent_teardown; }

@test "an argument is a usage error (exit 2)" {
  run "$AGENT/setup-replication" extra
  [ "$status" -eq 2 ]
  [[ $output == *"usage: setup-replication"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a missing settings file fails naming it" {
  DRKIT_ENV=$TMP/missing.env run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the settings file $TMP/missing.env"* ]]
}

@test "a settings file without REPL_HBA_FILE fails naming the setting" {
  grep -v '^REPL_HBA_FILE=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"setting REPL_HBA_FILE is not set"* ]]
}

@test "REPL_SLOTS must be a list" {
  grep -v '^REPL_SLOTS=' "$DRKIT_ENV" >"$TMP/env2"
  echo "REPL_SLOTS=drkit_near" >>"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"setting REPL_SLOTS is not set as a list"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a missing password file fails before any SQL" {
  rm "$TMP/pgpass"
  run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"no password file $TMP/pgpass"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a short password is refused before any SQL" {
  echo '*:*:*:drkit_replicator:short1234' >"$TMP/pgpass"
  run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"must hold a pgpass line for drkit_replicator with an alphanumeric password of 16 or more"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a password with a quote or symbol is refused before any SQL" {
  echo "*:*:*:drkit_replicator:Abcdefgh12345678'; DROP ROLE x" >"$TMP/pgpass"
  run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"alphanumeric password of 16 or more characters"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "an empty password file is refused" {
  : >"$TMP/pgpass"
  run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"alphanumeric password"* ]]
}

@test "sets the role from stdin, creates the slots, drops stale drkit slots, puts the pg_hba block first" {
  answer 5432 slots "$(printf '%s\n' drkit_near drkit_gone)"
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  # role and password: on stdin (logged by the stub from stdin, not from -c), with synchronous_commit=local;
  # the password itself never reaches psql, only its SCRAM verifier
  grep -qF "options=-c synchronous_commit=local via=stdin: SELECT format('CREATE ROLE %I', 'drkit_replicator')" \
    "$TMP/calls"
  grep -qF 'ALTER ROLE "drkit_replicator" WITH LOGIN REPLICATION NOSUPERUSER;' "$TMP/calls"
  # without REWIND_ROLE no rewind role
  ! grep -qF "GRANT EXECUTE" "$TMP/calls" || false
  grep -qE "via=stdin: .*ALTER ROLE \"drkit_replicator\" PASSWORD 'SCRAM-SHA-256\\\$4096:[A-Za-z0-9+/]{22}==\\\$" \
    "$TMP/calls"
  ! grep -qF Abcdefgh12345678XYZ "$TMP/calls" || false
  grep -qF "pg_create_physical_replication_slot('drkit_near')" "$TMP/calls"
  grep -qF "pg_create_physical_replication_slot('drkit_far')" "$TMP/calls"
  grep -qF "pg_drop_replication_slot('drkit_gone')" "$TMP/calls"
  ! grep -qF "pg_drop_replication_slot('drkit_near')" "$TMP/calls" || false
  grep -qF "LIKE 'drkit\_%' AND NOT active" "$TMP/calls"
  [[ $output == *"dropped slot drkit_gone: no standby of testsvc uses it any more"* ]]
  grep -qF "pg_reload_conf()" "$TMP/calls"
  [ "$(head -n 1 "$TMP/pg_hba.conf")" = "# BEGIN drkit testsvc replication" ]
  [ "$(sed -n 2p "$TMP/pg_hba.conf")" = "host replication drkit_replicator 10.0.0.2/32 scram-sha-256" ]
  [ "$(sed -n 3p "$TMP/pg_hba.conf")" = "host replication drkit_replicator 10.0.0.3/32 scram-sha-256" ]
  [ "$(sed -n 4p "$TMP/pg_hba.conf")" = "# END drkit testsvc replication" ]
  [ "$(sed -n 5p "$TMP/pg_hba.conf")" = "local all all peer" ]
  [ "$(sed -n 6p "$TMP/pg_hba.conf")" = "host all all 127.0.0.1/32 scram-sha-256" ]
  [ "$(wc -l <"$TMP/pg_hba.conf")" -eq 6 ]
  [ "$(stat -c %a "$TMP/pg_hba.conf")" = 640 ]
  [[ $output == *"role drkit_replicator, 2 slot(s) and 2 pg_hba line(s) are in place"* ]]
  [ -z "$(find "$TMP" -maxdepth 1 -name 'pg_hba.conf.*')" ]
}

@test "the block clone-standby wrote while this server was a standby goes: the primary's rewind role is TLS-only" {
  printf '%s\n' "# BEGIN drkit testsvc standby" "host postgres drkit_rewind 10.0.0.2/32 scram-sha-256" \
    "# END drkit testsvc standby" "# BEGIN drkit other standby" "# END drkit other standby" "local all all peer" \
    >"$TMP/pg_hba.conf"
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  ! grep -qF "drkit testsvc standby" "$TMP/pg_hba.conf" || false
  ! grep -qF "host postgres drkit_rewind 10.0.0.2/32" "$TMP/pg_hba.conf" || false
  # another service's block and everything else stay
  grep -qxF "# BEGIN drkit other standby" "$TMP/pg_hba.conf"
  [ "$(tail -n 1 "$TMP/pg_hba.conf")" = "local all all peer" ]
}

@test "the rewind role: its own password, login without replication, and only pg_rewind's four file functions" {
  setting REWIND_ROLE drkit_rewind
  echo '*:*:*:drkit_rewind:Rewind0123456789AB' >>"$TMP/pgpass"
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  grep -qF "SELECT format('CREATE ROLE %I', 'drkit_rewind')" "$TMP/calls"
  grep -qF 'ALTER ROLE "drkit_rewind" WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE;' "$TMP/calls"
  grants=$(grep -oE 'GRANT EXECUTE ON FUNCTION pg_catalog\.[a-z_]+\([a-z, ]+\) TO "drkit_rewind";' "$TMP/calls")
  [ "$(wc -l <<<"$grants")" -eq 4 ]
  grep -qF 'GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO "drkit_rewind";' "$TMP/calls"
  grep -qF 'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO "drkit_rewind";' "$TMP/calls"
  [ "$(grep -oF "PASSWORD 'SCRAM-SHA-256" "$TMP/calls" | wc -l)" -eq 2 ]
  ! grep -qF Rewind0123456789AB "$TMP/calls" || false
  # nor in any process's arguments while it ran
  grep -qF "setup-replication" "$TMP/ps-listing"
  ! grep -qE "Rewind0123456789AB|Abcdefgh12345678XYZ" "$TMP/ps-listing" || false
}

@test "a rewind role without its pgpass line is refused before any SQL" {
  setting REWIND_ROLE drkit_rewind
  run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"must hold a pgpass line for drkit_rewind with an alphanumeric password"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a stored verifier of the same password is kept; another password's verifier is replaced" {
  "$AGENT/setup-replication"
  verifier=$(grep -oE "SCRAM-SHA-256[^']+" "$TMP/calls")
  answer 5432 stored_password "$verifier"
  : >"$TMP/calls"
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  grep -qF "pg_authid WHERE rolname = 'drkit_replicator'" "$TMP/calls"
  ! grep -qF "PASSWORD" "$TMP/calls" || false
  echo '*:*:*:drkit_replicator:Zyxwvuts87654321ABC' >"$TMP/pgpass"
  : >"$TMP/calls"
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  grep -qF "PASSWORD 'SCRAM-SHA-256" "$TMP/calls"
  ! grep -qF "$verifier" "$TMP/calls" || false
}

@test "a second run replaces drkit's pg_hba block instead of adding another" {
  "$AGENT/setup-replication"
  setting_array REPL_HBA_LINES "host replication drkit_replicator 10.0.0.9/32 scram-sha-256"
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  [ "$(grep -c '^# BEGIN drkit testsvc replication$' "$TMP/pg_hba.conf")" -eq 1 ]
  [ "$(grep -c '^# END drkit testsvc replication$' "$TMP/pg_hba.conf")" -eq 1 ]
  grep -q "10.0.0.9/32" "$TMP/pg_hba.conf"
  ! grep -qF "10.0.0.2/32" "$TMP/pg_hba.conf" || false
  [ "$(wc -l <"$TMP/pg_hba.conf")" -eq 5 ]
}

@test "pg_hba lines PostgreSQL rejects fail the run" {
  answer 5432 hba_errors 1
  run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"PostgreSQL rejects 1 line(s) of $TMP/pg_hba.conf"* ]]
}

@test "a failing SQL step stops the run before pg_hba is touched" {
  down 5432
  before=$(cat "$TMP/pg_hba.conf")
  run "$AGENT/setup-replication"
  [ "$status" -ne 0 ]
  [ "$(cat "$TMP/pg_hba.conf")" = "$before" ]
}

# tls: replication TLS on, the primary at 10.0.0.1:5432.
tls() {
  setting REPL_TLS_CA /etc/drkit/testsvc/tls/replication-ca.crt
  setting REPL_PRIMARY_ADDRESS 10.0.0.1
  setting REPL_PRIMARY_PORT 5432
}

@test "with TLS a replication connection to the primary's address verifies its certificate" {
  tls
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  grep -qF "replication connection: -X -Atq -c IDENTIFY_SYSTEM host=10.0.0.1 port=5432 user=drkit_replicator" \
    "$TMP/calls"
  grep -qF "sslmode=verify-full sslrootcert=/etc/drkit/testsvc/tls/replication-ca.crt" "$TMP/calls"
  # after pg_hba is in place and reloaded
  reloaded=$(grep -n 'pg_reload_conf' "$TMP/calls" | cut -d: -f1)
  [ "$reloaded" -lt "$(grep -n '^replication connection' "$TMP/calls" | cut -d: -f1)" ]
}

@test "with TLS pg_hba turning this host away after the handshake counts as verified" {
  tls
  identify_fails 'psql: error: connection to server at "10.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry
 for replication connection from host "10.0.0.1", user "drkit_replicator", SSL encryption'
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
}

@test "with TLS a certificate the CA does not verify fails the run, naming the address and the CA" {
  tls
  identify_fails 'psql: error: connection to server at "10.0.0.1", port 5432 failed: SSL error: certificate verify
 failed'
  run "$AGENT/setup-replication"
  [ "$status" -eq 1 ]
  [[ $output == *"standbys cannot connect to the primary at 10.0.0.1:5432 over verified TLS"* ]]
  [[ $output == *"(CA /etc/drkit/testsvc/tls/replication-ca.crt): connection to server at"*"certificate verify"* ]]
}

@test "without TLS no connection is tried" {
  run "$AGENT/setup-replication"
  [ "$status" -eq 0 ]
  ! grep -q IDENTIFY_SYSTEM "$TMP/calls" || false
}
