#!/usr/bin/env bats
# Redis/Valkey credentials: the sandbox server requires the password (or the ACL user) in REDIS_AUTH_FILE,
# every verb authenticates with it through REDISCLI_AUTH (never in redis-cli's arguments), and a refused or
# missing login is named as such, never taken for a stopped server.
load redis-helpers

PASSWORD='Sekret"0123\456789-abcd'

setup() {
  redis_setup
  printf '%s\n' "$PASSWORD" >"$TMP/etc/redis.auth"
  chmod 0600 "$TMP/etc/redis.auth"
  setting REDIS_AUTH_FILE "$TMP/etc/redis.auth"
  setting REDIS_AUTH_USER ""
  # redis-cli through a wrapper that records its arguments and whether REDISCLI_AUTH reached it
  mkdir -p "$TMP/wrap"
  cat >"$TMP/wrap/redis-cli" <<WRAP
#!/usr/bin/env bash
printf 'args=%s auth=%s\n' "\$*" "\${REDISCLI_AUTH:+set}" >>"$TMP/cli-calls"
# every process's command line, taken while the verb that called redis-cli runs
ps -eo args >>"$TMP/ps-listing"
exec "$(command -v redis-cli)" "\$@"
WRAP
  chmod +x "$TMP/wrap/redis-cli"
  setting REDIS_CLI "$TMP/wrap/redis-cli"
}
teardown() {
  # the server requires the password now: stop it with it
  [[ ! -f $TMP/run/redis.pid ]] || REDISCLI_AUTH=$PASSWORD cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  redis_teardown
}
authed() { REDISCLI_AUTH=$PASSWORD cli "$@" 2>/dev/null; }

@test "the sandbox server requires the password; the verbs authenticate without it in any argument" {
  start_server
  [[ $(cli PING) == *NOAUTH* ]]
  [ "$(authed PING)" = PONG ]
  [ "$(stat -c %a "$TMP/etc/redis.conf")" = 640 ]
  REDISCLI_AUTH=$PASSWORD fill 20
  run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  [[ $output == *"20 keys"* ]]
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 0 ]
  [[ $output == *"persistence settings applied: appendonly=yes"* ]]
  grep -q "auth=set" "$TMP/cli-calls"
  ! grep -q "auth=$" "$TMP/cli-calls" || false
  # No process on the machine showed the password while the verbs ran (the listings include the verbs).
  grep -q "backup-redis" "$TMP/ps-listing"
  grep -q "apply-redis-settings" "$TMP/ps-listing"
  ! grep -qF "$PASSWORD" "$TMP/ps-listing" || false
  ! grep -qF "0123" "$TMP/cli-calls" || false
  [[ $output != *"0123"* ]]
}

@test "restore-redis restarts the server with the password still required, and authenticates" {
  start_server
  REDISCLI_AUTH=$PASSWORD fill 7
  "$AGENT/backup-redis" 2>/dev/null
  authed FLUSHALL >/dev/null
  snapshot=$(find "$TMP/backups" -name 'dump_*.rdb' | head -n 1)
  run "$AGENT/restore-redis" "$snapshot" 3>&-
  [ "$status" -eq 0 ]
  [ "$(authed DBSIZE)" = 7 ]
  [[ $(cli PING) == *NOAUTH* ]]
}

@test "an ACL user: the default user is off and the verbs log in as that user" {
  setting REDIS_AUTH_USER drkit-jobs
  start_server
  [[ $(cli PING) == *NOAUTH* ]]
  [ "$(REDISCLI_AUTH=$PASSWORD cli --user drkit-jobs ACL WHOAMI 2>/dev/null)" = drkit-jobs ]
  [[ $(REDISCLI_AUTH=$PASSWORD cli --user default PING 2>&1) == *WRONGPASS* ]]
  run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  grep -qF "args=--user drkit-jobs -s $TMP/run/redis.sock PING auth=set" "$TMP/cli-calls"
}

@test "a wrong password names the credentials file: backup and settings fail, not 'not running'" {
  start_server
  printf 'Wrong0123456789abcdef\n' >"$TMP/etc/redis.auth"
  run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"the server refused the credentials in $TMP/etc/redis.auth"*WRONGPASS* ]]
  [ -z "$(find "$TMP/backups" -name 'dump_*')" ]
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"refused the credentials in $TMP/etc/redis.auth"* ]]
  [[ $output != *"not running"* ]]
}

@test "a server that requires a password, with no credentials configured, asks for redis.auth" {
  start_server
  setting REDIS_AUTH_FILE ""
  run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"the server requires authentication: set redis.auth"* ]]
}

@test "an unreadable or empty credentials file is named before the server is asked" {
  rm "$TMP/etc/redis.auth"
  run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the Redis credentials file $TMP/etc/redis.auth"* ]]
  : >"$TMP/etc/redis.auth"
  run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"the Redis credentials file $TMP/etc/redis.auth holds no password"* ]]
  [ ! -s "$TMP/cli-calls" ]
}
