#!/usr/bin/env bats
# sandbox-postgres: start|stop; with initdb/pg_ctl/psql stubbed: a new cluster configured to read drkit's
# conf.d, started, the missing databases created; a second start reuses it; stop keeps the data directory.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  setting PG_CONF_DIR "$TMP/conf.d"
  setting_array PG_DATABASES app reports
  sql_answer "*datname = 'app'*" 1
}
teardown() { agent_teardown; }

@test "start creates a cluster that includes the conf.d, starts it and creates the missing databases" {
  run "$AGENT/sandbox-postgres" start
  [ "$status" -eq 0 ]
  grep -q "^initdb --pgdata=$TMP/data --username=postgres --auth-local=trust --auth-host=scram-sha-256" "$TMP/calls"
  grep -qxF "port = 5432" "$TMP/data/postgresql.conf"
  grep -qxF "unix_socket_directories = '$TMP/sock'" "$TMP/data/postgresql.conf"
  grep -qxF "include_dir = '$TMP/conf.d'" "$TMP/data/postgresql.conf"
  [ -d "$TMP/conf.d" ] && [ -d "$TMP/sock" ] && [ -d "$TMP/log" ]
  [ "$(stat -c %a "$TMP/data")" = 700 ]
  [ -f "$TMP/data/postmaster.pid" ]
  grep -q "CREATE DATABASE reports" "$TMP/calls"
  ! grep -q "CREATE DATABASE app" "$TMP/calls" || false
  [[ $output == *"created database reports"* ]]
  [[ $output == *"is running on port 5432 (socket $TMP/sock)"* ]]
}

@test "a role named like the OS user authenticates locally by peer" {
  setting PGUSER "$(id -un)"
  run "$AGENT/sandbox-postgres" start
  [ "$status" -eq 0 ]
  grep -q "^initdb .* --auth-local=peer" "$TMP/calls"
}

@test "a second start reuses the cluster and a running server" {
  "$AGENT/sandbox-postgres" start
  : >"$TMP/calls"
  run "$AGENT/sandbox-postgres" start
  [ "$status" -eq 0 ]
  ! grep -q "^initdb" "$TMP/calls" || false
  ! grep -q " start" "$TMP/calls" || false
  [ "$(grep -c 'include_dir' "$TMP/data/postgresql.conf")" -eq 1 ]
}

@test "stop stops the server and keeps the data directory" {
  "$AGENT/sandbox-postgres" start
  run "$AGENT/sandbox-postgres" stop
  [ "$status" -eq 0 ]
  [ ! -f "$TMP/data/postmaster.pid" ]
  [ -f "$TMP/data/PG_VERSION" ]
  [[ $output == *"stopped; the data directory $TMP/data stays"* ]]
  run "$AGENT/sandbox-postgres" stop
  [ "$status" -eq 0 ]
}

@test "anything but start or stop is a usage error (exit 2)" {
  for args in "" restart "start now"; do
    # shellcheck disable=SC2086 # the words are the arguments
    run "$AGENT/sandbox-postgres" $args
    [ "$status" -eq 2 ]
    [[ $output == *"usage: sandbox-postgres start|stop"* ]]
  done
  [ ! -s "$TMP/calls" ]
}

@test "a server not run by pg_ctl is no sandbox" {
  setting PG_MANAGER systemd
  setting PG_UNIT postgresql@15-main.service
  run "$AGENT/sandbox-postgres" start
  [ "$status" -eq 1 ]
  [[ $output == *"a sandbox server needs PG_MANAGER pg_ctl (postgres.provision: true), not 'systemd'"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a settings file without PG_CONF_DIR fails naming it" {
  grep -v '^PG_CONF_DIR=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/sandbox-postgres" start
  [ "$status" -eq 1 ]
  [[ $output == *"setting PG_CONF_DIR is not set"* ]]
}
