#!/usr/bin/env bats
# sandbox-redis: arguments, the manager it needs, the main config it writes, start (idempotent) and stop.
load redis-helpers

setup() { redis_setup; }
teardown() { redis_teardown; }

@test "start or stop is required (exit 2)" {
  run "$AGENT/sandbox-redis"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: sandbox-redis start|stop"* ]]
  run "$AGENT/sandbox-redis" restart
  [ "$status" -eq 2 ]
  run "$AGENT/sandbox-redis" start now
  [ "$status" -eq 2 ]
}

@test "a systemd-managed server is not a sandbox one" {
  setting REDIS_MANAGER systemd
  setting REDIS_UNIT redis-server.service
  run "$AGENT/sandbox-redis" start 3>&-
  [ "$status" -eq 1 ]
  [[ $output == *"a sandbox server needs REDIS_MANAGER process"* ]]
  [ ! -e "$TMP/etc/redis.conf" ]
}

@test "an unknown manager and missing settings are named" {
  setting REDIS_MANAGER supervisord
  run "$AGENT/sandbox-redis" start 3>&-
  [ "$status" -eq 1 ]
  [[ $output == *"setting REDIS_MANAGER must be systemd or process, not 'supervisord'"* ]]
  setting REDIS_MANAGER process
  for name in REDIS_CLI REDIS_PID_FILE REDIS_DROP_IN REDIS_LOG; do
    grep -v "^$name=" "$DRKIT_ENV" >"$TMP/env2"
    DRKIT_ENV=$TMP/env2 run "$AGENT/sandbox-redis" start 3>&-
    [ "$status" -eq 1 ]
    [[ $output == *"setting $name is not set"* ]]
  done
}

@test "without the drop-in it writes the main config but does not start" {
  rm "$TMP/etc/drkit-testsvc.conf"
  run "$AGENT/sandbox-redis" start 3>&-
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/etc/drkit-testsvc.conf is missing: place the drop-in before starting"* ]]
  [ "$(tail -n1 "$TMP/etc/redis.conf")" = "include $TMP/etc/drkit-testsvc.conf" ]
  [ ! -e "$TMP/run/redis.pid" ]
}

@test "start writes a main config that includes the drop-in last and runs the server; again is a no-op" {
  needs_redis
  run "$AGENT/sandbox-redis" start 3>&-
  [ "$status" -eq 0 ]
  [[ $output == *"sandbox Redis for $TMP/data is running (port 0, socket $TMP/run/redis.sock)"* ]]
  grep -qx "unixsocket $TMP/run/redis.sock" "$TMP/etc/redis.conf"
  grep -qx "pidfile $TMP/run/redis.pid" "$TMP/etc/redis.conf"
  [ "$(tail -n1 "$TMP/etc/redis.conf")" = "include $TMP/etc/drkit-testsvc.conf" ]
  [ "$(stat -c %a "$TMP/etc/redis.conf")" = 640 ]
  [ "$(cli PING)" = PONG ]
  [ "$(cli CONFIG GET save | sed -n 2p)" = "600 5 120 100" ]
  pid=$(cat "$TMP/run/redis.pid")
  run "$AGENT/sandbox-redis" start 3>&-
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/run/redis.pid")" = "$pid" ]
}

@test "stop shuts the server down and keeps its data directory" {
  start_server
  cli SET k v >/dev/null
  run "$AGENT/sandbox-redis" stop
  [ "$status" -eq 0 ]
  [[ $output == *"stopped; $TMP/data stays"* ]]
  [ ! -e "$TMP/run/redis.pid" ]
  [ -d "$TMP/data" ]
  run cli PING
  [ "$output" != PONG ]
}
