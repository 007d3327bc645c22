#!/usr/bin/env bats
# make-replication-tls: arguments and settings, then with real openssl and a stubbed server: the CA and the
# primary's certificate for the address, kept while current, remade when they no longer fit, a reload only then.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  export PATH="$TMP/bin:$PATH"
  setting REPL_PRIMARY_ADDRESS 10.0.0.1
  setting REPL_TLS_GENERATE yes
  setting REPL_TLS_CA "$TMP/etc/tls/replication-ca.crt"
  setting REPL_TLS_CERT "$TMP/etc/tls/server.crt"
  setting REPL_TLS_KEY "$TMP/etc/tls/server.key"
  mkdir -p "$TMP/data"
}
teardown() { agent_teardown; }

san() { openssl x509 -in "$TMP/etc/tls/server.crt" -noout -ext subjectAltName | tail -n 1 | tr -d ' '; }

@test "an argument is a usage error (exit 2)" {
  run "$AGENT/make-replication-tls" now
  [ "$status" -eq 2 ]
  [[ $output == *"usage: make-replication-tls [--scheduled]"* ]]
  [ ! -e "$TMP/etc" ]
}

@test "a settings file without REPL_TLS_KEY fails naming the setting" {
  grep -v '^REPL_TLS_KEY=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/make-replication-tls"
  [ "$status" -eq 1 ]
  [[ $output == *"setting REPL_TLS_KEY is not set"* ]]
}

# given DAYS [KEY]: a CA and a certificate for 10.0.0.1 valid DAYS days, placed as pulumi up places given ones;
# with KEY "other", the placed key is another one.
given() {
  local d=$TMP/given
  mkdir -p "$d" "$TMP/etc/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" \
    -days 3650 -subj /CN=ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
    -subj /CN=primary 2>/dev/null
  printf 'subjectAltName=IP:10.0.0.1\n' >"$d/ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days "$1" \
    -extfile "$d/ext" -out "$TMP/etc/tls/server.crt" 2>/dev/null
  cp "$d/ca.crt" "$TMP/etc/tls/replication-ca.crt"
  if [[ ${2:-} == other ]]; then
    openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/etc/tls/server.key" 2>/dev/null
  else
    cp "$d/server.key" "$TMP/etc/tls/server.key"
  fi
  setting REPL_TLS_GENERATE no
}

@test "certificates given in the stack config are checked and never replaced" {
  given 400
  sums=$(sha256sum "$TMP/etc/tls/"*)
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [[ $output == *"given in the stack config, kept"* ]]
  [ "$(sha256sum "$TMP/etc/tls/"*)" = "$sums" ]
  [ ! -e "$TMP/etc/tls/replication-ca.key" ]
  ! grep -q pg_reload_conf "$TMP/calls" || false
}

@test "a given certificate that expires within 30 days fails the run, naming it and what to do" {
  given 20
  sums=$(sha256sum "$TMP/etc/tls/"*)
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 1 ]
  [[ $output == *"the primary's certificate $TMP/etc/tls/server.crt (replication.tls, given in the stack config):"* ]]
  [[ $output == *"it expires on "*", within 30 days. Put a renewed certificate and its key in replication.tls"* ]]
  [ "$(sha256sum "$TMP/etc/tls/"*)" = "$sums" ]
}

@test "a given key that is not the certificate's, or another address, fails the run" {
  given 400 other
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/etc/tls/server.key is not its key"* ]]
  given 400
  setting REPL_PRIMARY_ADDRESS 10.0.0.2
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 1 ]
  [[ $output == *"it does not name 10.0.0.2"* ]]
}

@test "--scheduled records each run as job tls in the metrics; without it nothing is recorded" {
  setting METRICS_DIR "$TMP/metrics"
  mkdir -p "$TMP/metrics"
  given 400
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [ -z "$(ls "$TMP/metrics")" ]
  run "$AGENT/make-replication-tls" --scheduled
  [ "$status" -eq 0 ]
  grep -q '^drkit_job_last_success_timestamp_seconds{service="testsvc",drkit_job="tls"} [1-9]' \
    "$TMP/metrics/drkit_testsvc_job_tls.prom"
  given 20
  run "$AGENT/make-replication-tls" --scheduled
  [ "$status" -eq 1 ]
  grep -q '^drkit_job_last_failure_timestamp_seconds{service="testsvc",drkit_job="tls"} [1-9]' \
    "$TMP/metrics/drkit_testsvc_job_tls.prom"
}

@test "two runs never remake the files at once: the second waits for nothing and fails" {
  given 400
  exec 8>>"$TMP/etc/tls/.make-replication-tls.lock"
  flock -n 8
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 1 ]
  [[ $output == *"another run holds $TMP/etc/tls/.make-replication-tls.lock"* ]]
  exec 8>&-
}

@test "makes a CA and a certificate for the address that chains to it; the keys are 0600" {
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  openssl verify -CAfile "$TMP/etc/tls/replication-ca.crt" "$TMP/etc/tls/server.crt"
  [ "$(san)" = "IPAddress:10.0.0.1" ]
  [ "$(stat -c %a "$TMP/etc/tls/replication-ca.key")" = 600 ]
  [ "$(stat -c %a "$TMP/etc/tls/server.key")" = 600 ]
  [ "$(stat -c %a "$TMP/etc/tls/server.crt")" = 644 ]
  [ "$(stat -c %a "$TMP/etc/tls")" = 755 ]
  [[ $output == *"made the replication CA"* && $output == *"made the primary's certificate"* ]]
  # no server runs: nothing to reload
  ! grep -q pg_reload_conf "$TMP/calls" || false
  # no work files are left
  [ "$(find "$TMP/etc/tls" -name '.tls.*' | wc -l)" -eq 0 ]
}

@test "a host name gets a DNS name" {
  setting REPL_PRIMARY_ADDRESS db1.internal
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [ "$(san)" = "DNS:db1.internal" ]
}

@test "a second run keeps what is current and reloads nothing" {
  "$AGENT/make-replication-tls"
  before=$(sha256sum "$TMP/etc/tls/"*)
  running "$TMP/data"
  : >"$TMP/calls"
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [[ $output == *"are current; kept"* ]]
  [ "$(sha256sum "$TMP/etc/tls/"*)" = "$before" ]
  ! grep -q pg_reload_conf "$TMP/calls" || false
}

@test "a new address gets a new certificate from the same CA, and a running server reloads it" {
  "$AGENT/make-replication-tls"
  ca=$(sha256sum <"$TMP/etc/tls/replication-ca.crt")
  setting REPL_PRIMARY_ADDRESS 10.0.0.9
  running "$TMP/data"
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [ "$(san)" = "IPAddress:10.0.0.9" ]
  [ "$(sha256sum <"$TMP/etc/tls/replication-ca.crt")" = "$ca" ]
  grep -qF "SELECT pg_reload_conf()" "$TMP/calls"
  [[ $output == *"PostgreSQL reloaded the certificate"* ]]
}

@test "a key that is not the certificate's is replaced with the certificate" {
  "$AGENT/make-replication-tls"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/etc/tls/server.key" 2>/dev/null
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [[ $output == *"made the primary's certificate"* ]]
  [ "$(openssl x509 -in "$TMP/etc/tls/server.crt" -noout -pubkey)" = \
    "$(openssl pkey -in "$TMP/etc/tls/server.key" -pubout)" ]
}

@test "a lost CA key makes a new CA and a new certificate" {
  "$AGENT/make-replication-tls"
  ca=$(sha256sum <"$TMP/etc/tls/replication-ca.crt")
  rm "$TMP/etc/tls/replication-ca.key"
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [ "$(sha256sum <"$TMP/etc/tls/replication-ca.crt")" != "$ca" ]
  openssl verify -CAfile "$TMP/etc/tls/replication-ca.crt" "$TMP/etc/tls/server.crt"
}

@test "an openssl failure fails the run and leaves the files as they were" {
  "$AGENT/make-replication-tls"
  before=$(sha256sum "$TMP/etc/tls/"*)
  setting REPL_PRIMARY_ADDRESS 10.0.0.9
  # shellcheck disable=SC2016 # expanded by the stub
  printf '#!/usr/bin/env bash\n[[ $1 == x509 && $2 == -req ]] && exit 1\nexec /usr/bin/openssl "$@"\n' \
    >"$TMP/bin/openssl"
  chmod +x "$TMP/bin/openssl"
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 1 ]
  [[ $output == *"openssl could not sign the primary's certificate"* ]]
  [ "$(sha256sum "$TMP/etc/tls/"*)" = "$before" ]
  [ "$(find "$TMP/etc/tls" -name '.tls.*' | wc -l)" -eq 0 ]
}

@test "a CA key that is not the CA certificate's (a run cut short) makes a new CA, not a failing one" {
  "$AGENT/make-replication-tls"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/etc/tls/replication-ca.key" 2>/dev/null
  setting REPL_PRIMARY_ADDRESS 10.0.0.9
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [[ $output == *"made the replication CA"* ]]
  openssl verify -CAfile "$TMP/etc/tls/replication-ca.crt" "$TMP/etc/tls/server.crt"
  [ ! -e "$TMP/etc/tls/server.crt.new" ]
}

@test "a folder left 0700 is opened to 0755 for the PostgreSQL user" {
  mkdir -p "$TMP/etc"
  mkdir -m 0700 "$TMP/etc/tls"
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  [ "$(stat -c %a "$TMP/etc/tls")" = 755 ]
}

@test "a server serving the remade files is checked over verified TLS; one still serving others is not yet" {
  "$AGENT/make-replication-tls"
  setting REPL_PRIMARY_ADDRESS 10.0.0.9
  setting REPL_PRIMARY_PORT 5432
  setting REPL_ROLE drkit_replicator
  setting REPL_PASS_FILE "$TMP/pgpass"
  running "$TMP/data"
  sql_answer "SHOW ssl" on
  sql_answer "SHOW ssl_cert_file" "$TMP/etc/old/server.crt"
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  ! grep -q IDENTIFY_SYSTEM "$TMP/calls" || false
  setting REPL_PRIMARY_ADDRESS 10.0.0.8
  : >"$STUBS/answers"
  sql_answer "SHOW ssl" on
  sql_answer "SHOW ssl_cert_file" "$TMP/etc/tls/server.crt"
  run "$AGENT/make-replication-tls"
  [ "$status" -eq 0 ]
  grep -q "IDENTIFY_SYSTEM" "$TMP/calls"
}
