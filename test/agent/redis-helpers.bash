# shellcheck shell=bash
# Shared setup of the Redis/Valkey verbs' bats tests: the settings of a sandbox server under $TMP (process
# manager, unix socket only: port 0 opens no TCP port), its drop-in, and a real redis-server when one is
# installed (toolchain/setup installs it; tests that need it fail without it). The server is stopped by its pid at teardown.
load helpers

redis_setup() {
  agent_setup
  mkdir -p "$TMP/etc" "$TMP/backups"
  setting REDIS_CLI "$(command -v redis-cli || echo /usr/bin/redis-cli)"
  setting REDIS_SERVER "$(command -v redis-server || echo /usr/bin/redis-server)"
  setting_array REDIS_TARGET -s "$TMP/run/redis.sock"
  setting REDIS_SOCKET "$TMP/run/redis.sock"
  setting REDIS_PORT 0
  setting REDIS_OS_USER "$(id -un)"
  setting REDIS_DATA_DIR "$TMP/data"
  setting REDIS_CONFIG "$TMP/etc/redis.conf"
  setting REDIS_DROP_IN "$TMP/etc/drkit-testsvc.conf"
  setting REDIS_MANAGER process
  setting REDIS_UNIT ""
  setting REDIS_PID_FILE "$TMP/run/redis.pid"
  setting REDIS_LOG "$TMP/log/redis.log"
  setting REDIS_AOF yes
  setting_array REDIS_RUNTIME_SETTINGS save "600 5 120 100" appendonly yes appendfsync everysec \
    auto-aof-rewrite-percentage 150 auto-aof-rewrite-min-size 32mb
  setting REDIS_BACKUP_DIR "$TMP/backups"
  setting REDIS_SNAPSHOT_TIMEOUT 30
  setting REDIS_RETENTION_DAYS 1
  # The drop-in as drkit renders it.
  cat >"$TMP/etc/drkit-testsvc.conf" <<CONF
dir $TMP/data
dbfilename dump.rdb
save ""
save 600 5
save 120 100
appendonly yes
appendfsync everysec
auto-aof-rewrite-percentage 150
auto-aof-rewrite-min-size 32mb
CONF
}
# The server is stopped without saving (a save could be slowed down by a test), by its pid if need be.
redis_teardown() {
  local pid _
  if [[ -f $TMP/run/redis.pid ]]; then
    pid=$(cat "$TMP/run/redis.pid")
    cli SHUTDOWN NOSAVE >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  agent_teardown
}
needs_redis() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "redis-server is not installed: run toolchain/setup" >&2
    return 1
  fi
}
cli() { redis-cli -s "$TMP/run/redis.sock" "$@"; }
# start_server: the sandbox server, as sandbox-redis starts it. A server must not hold bats' output
# descriptor (3) open, or bats waits for it: every command that may start one runs with 3>&-.
start_server() {
  needs_redis
  "$AGENT/sandbox-redis" start 2>/dev/null 3>&-
}
# fill N: N string keys.
fill() {
  local i
  for ((i = 0; i < $1; i++)); do printf 'SET key:%s value-%s\n' "$i" "$i"; done | cli >/dev/null
}
