#!/usr/bin/env bats
# apply-redis-settings: the include check, a stopped server, CONFIG SET of every REDIS_RUNTIME_SETTINGS pair.
load redis-helpers

setup() {
  redis_setup
  printf 'port 0\ninclude %s\n' "$TMP/etc/drkit-testsvc.conf" >"$TMP/etc/redis.conf"
}
teardown() { redis_teardown; }

@test "takes no arguments (exit 2)" {
  run "$AGENT/apply-redis-settings" now
  [ "$status" -eq 2 ]
  [[ $output == *"usage: apply-redis-settings (no arguments)"* ]]
}

@test "a main config that does not include the drop-in fails, saying what to add" {
  echo "port 0" >"$TMP/etc/redis.conf"
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/etc/redis.conf does not include $TMP/etc/drkit-testsvc.conf: add 'include $TMP/etc/drkit-testsvc.conf' as its last line, or the settings are lost at the next restart"* ]]
}

@test "settings that are not name/value pairs, or missing, are refused" {
  setting_array REDIS_RUNTIME_SETTINGS save "600 5" appendonly
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"must hold name/value pairs, it has 3 entries"* ]]
  setting_array REDIS_RUNTIME_SETTINGS
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"setting REDIS_RUNTIME_SETTINGS is not set"* ]]
}

@test "a server that is not running is fine: the drop-in takes effect when it starts" {
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 0 ]
  [[ $output == *"the server is not running; $TMP/etc/drkit-testsvc.conf takes effect when it starts"* ]]
}

@test "the running server takes every pair without a restart" {
  start_server
  cli CONFIG SET save "900 1" >/dev/null
  cli CONFIG SET appendfsync always >/dev/null
  cli CONFIG SET auto-aof-rewrite-percentage 100 >/dev/null
  pid=$(cat "$TMP/run/redis.pid")
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 0 ]
  [[ $output == *"persistence settings applied: appendonly=yes save='600 5 120 100'"* ]]
  [ "$(cli CONFIG GET appendfsync | sed -n 2p)" = everysec ]
  [ "$(cli CONFIG GET auto-aof-rewrite-percentage | sed -n 2p)" = 150 ]
  [ "$(cli CONFIG GET auto-aof-rewrite-min-size | sed -n 2p)" = $((32 * 1024 * 1024)) ]
  [ "$(cat "$TMP/run/redis.pid")" = "$pid" ]
}

@test "a value the server refuses fails naming the setting" {
  start_server
  setting_array REDIS_RUNTIME_SETTINGS appendonly yes appendfsync sometimes
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"CONFIG SET appendfsync failed: "* ]]
}

@test "a drop-in a killed restore left at 'appendonly no' is put back as configured, and AOF is on again" {
  start_server
  cli CONFIG SET appendonly no >/dev/null
  sed -i 's/^appendonly yes$/appendonly no/' "$TMP/etc/drkit-testsvc.conf"
  before=$(stat -c '%a %U' "$TMP/etc/drkit-testsvc.conf")
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 0 ]
  [[ $output == *"set 'appendonly yes' in $TMP/etc/drkit-testsvc.conf again, as configured"* ]]
  grep -qx "appendonly yes" "$TMP/etc/drkit-testsvc.conf"
  [ "$(grep -c appendonly "$TMP/etc/drkit-testsvc.conf")" -eq 1 ]
  [ "$(stat -c '%a %U' "$TMP/etc/drkit-testsvc.conf")" = "$before" ]
  [ "$(cli CONFIG GET appendonly | sed -n 2p)" = yes ]
}

@test "with REDIS_AOF=no the drop-in is left at 'appendonly no'" {
  setting REDIS_AOF no
  sed -i 's/^appendonly yes$/appendonly no/' "$TMP/etc/drkit-testsvc.conf"
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 0 ]
  grep -qx "appendonly no" "$TMP/etc/drkit-testsvc.conf"
  [[ $output != *"as configured"* ]]
}

@test "while a restore runs (it holds its lock) the drop-in is not touched" {
  mkdir -p "$TMP/data"
  sed -i 's/^appendonly yes$/appendonly no/' "$TMP/etc/drkit-testsvc.conf"
  exec 8>>"$TMP/data/.drkit-restore.lock"
  flock -n 8
  run "$AGENT/apply-redis-settings"
  exec 8>&-
  [ "$status" -eq 1 ]
  [[ $output == *"another run holds $TMP/data/.drkit-restore.lock"* ]]
  grep -qx "appendonly no" "$TMP/etc/drkit-testsvc.conf"
}
