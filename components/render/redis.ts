import type { RedisPlan, ServicePlan } from "../plan/plan";
import { offsiteConfirmedFunction } from "./offsite";
import { retentionFunction } from "./retention";
import { header, settings } from "./shell";

const redisOf = (plan: ServicePlan): RedisPlan => {
  if (!plan.redis) throw new Error(`service ${plan.name} has no redis section`);
  return plan.redis;
};

export const redisScripts = (plan: ServicePlan) => ({
  apply: `${plan.paths.scriptsDir}/apply-redis-settings`,
  backup: `${plan.paths.scriptsDir}/backup-redis`,
  restore: `${plan.paths.scriptsDir}/restore-redis`,
  sandbox: `${plan.paths.scriptsDir}/sandbox-redis`,
});

/** The persistence settings, as `name value` pairs, in the order Redis reads them. */
export function redisSettings(r: RedisPlan): Array<[string, string]> {
  const p = r.persistence;
  return [
    ["dir", r.dataDirectory],
    ["dbfilename", "dump.rdb"],
    ["save", p.savePoints.map(([s, c]) => `${s} ${c}`).join(" ")],
    ["appendonly", p.appendonly ? "yes" : "no"],
    ["appendfsync", p.appendfsync],
    ["auto-aof-rewrite-percentage", String(p.autoAofRewritePercentage)],
    ["auto-aof-rewrite-min-size", p.autoAofRewriteMinSize],
  ];
}

/** A drop-in the server's main config includes last; `save ""` first so ours replace its save points. */
export function renderRedisDropIn(plan: ServicePlan): string {
  const r = redisOf(plan);
  const lines = redisSettings(r).map(([k, v]) => (k === "save" ? `save ""\n${r.persistence.savePoints.map(([s, c]) => `save ${s} ${c}`).join("\n")}` : `${k} ${v}`));
  return `# Redis/Valkey persistence for ${plan.name}, rendered by drkit. ${r.configFile} must include this file last.
${lines.join("\n")}
`;
}

/** redis-cli against this service's server. */
function redisCli(r: RedisPlan): string {
  const target = r.socket ? ["-s", r.socket] : ["-h", "127.0.0.1", "-p", String(r.port)];
  return `${settings({ REDIS_CLI: r.cli, REDIS_TARGET: target })}
rcli() { "$REDIS_CLI" "\${REDIS_TARGET[@]}" "$@"; }
# One field of INFO, without the trailing carriage return.
info_field() { rcli INFO "$1" | tr -d '\\r' | sed -n "s/^$2://p"; }
wait_for_ping() {
  local _
  for _ in $(seq 1 "$1"); do
    [[ $(rcli PING 2>/dev/null) == PONG ]] && return 0
    sleep 0.2
  done
  return 1
}
`;
}

/** Start and stop for the way the server runs; expects REDIS_OS_USER to be set by the script. */
function redisManager(r: RedisPlan): string {
  if (r.manager.type === "systemd") {
    return `${settings({ REDIS_UNIT: r.manager.unit })}
redis_start() { systemctl start "$REDIS_UNIT"; }
redis_stop() { systemctl stop "$REDIS_UNIT"; }
`;
  }
  return `${settings({ REDIS_SERVER: r.server, REDIS_CONFIG: r.configFile, REDIS_PID_FILE: r.manager.pidFile })}
redis_start() {
  if [[ $(id -u) -eq 0 && $REDIS_OS_USER != root ]]; then
    runuser -u "$REDIS_OS_USER" -- "$REDIS_SERVER" "$REDIS_CONFIG" 8>&- 9>&-
  else
    "$REDIS_SERVER" "$REDIS_CONFIG" 8>&- 9>&-
  fi
}
redis_stop() {
  rcli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  local _
  for _ in $(seq 1 100); do
    [[ -f $REDIS_PID_FILE ]] || return 0
    sleep 0.1
  done
  die "the server did not stop ($REDIS_PID_FILE is still there)"
}
`;
}

/** Makes a running server take the settings now (CONFIG SET needs no restart), and checks the include. */
export function renderRedisApplyScript(plan: ServicePlan): string {
  const r = redisOf(plan);
  const pairs = redisSettings(r).filter(([k]) => k !== "dir" && k !== "dbfilename");
  return `${header({ job: `drkit-${plan.name}-apply-redis-settings`, purpose: `Applies drkit's Redis/Valkey persistence settings for ${plan.name} to the running server and checks they survive a restart.` })}
${redisCli(r)}
${settings({ DROP_IN: r.dropIn, REDIS_CONFIG: r.configFile })}
grep -qxF "include $DROP_IN" "$REDIS_CONFIG" ||
  die "$REDIS_CONFIG does not include $DROP_IN: add 'include $DROP_IN' as its last line, or the settings are lost at the next restart"
if [[ $(rcli PING 2>/dev/null) != PONG ]]; then
  log "the server is not running; $DROP_IN takes effect when it starts"
  exit 0
fi
${pairs.map(([k, v]) => `reply=$(rcli CONFIG SET ${k} "${v}")\n[[ $reply == OK ]] || die "CONFIG SET ${k} failed: $reply"`).join("\n")}
log "persistence settings applied: appendonly=$(rcli CONFIG GET appendonly | sed -n 2p) save='$(rcli CONFIG GET save | sed -n 2p)'"
`;
}

/**
 * Snapshot: record LASTSAVE, BGSAVE, wait (bounded) until LASTSAVE moves past it, copy the RDB,
 * check it with redis-check-rdb, store it with its checksum and key count, apply retention.
 */
export function renderRedisBackupScript(plan: ServicePlan): string {
  const r = redisOf(plan);
  return `${header({ job: `drkit-${plan.name}-redis`, purpose: `Redis/Valkey snapshot of ${plan.name}: BGSAVE, bounded wait, checked copy with checksum, retention.`, usage: "backup-redis [--timeout SECONDS]" })}
${redisCli(r)}
${settings({ BACKUP_DIR: r.backupDir })}
${retentionFunction({ dailyDays: r.snapshotRetentionDays, weeklyWeeks: 0, longTermMonths: 0, offsiteDays: r.snapshotRetentionDays })}
${offsiteConfirmedFunction(plan)}timeout=${r.snapshotTimeoutSeconds}
while [[ $# -gt 0 ]]; do
  case $1 in
    --timeout) timeout=\${2:?--timeout needs a value}; shift 2 ;;
    *) die "unknown argument '$1' (usage: backup-redis [--timeout SECONDS])" ;;
  esac
done
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$timeout'"
exec 9>>"$BACKUP_DIR/.backup-redis.lock"
flock -n 9 || die "another snapshot of this server is running"

[[ $(rcli PING 2>/dev/null) == PONG ]] || die "the server does not answer PING"
before=$(rcli LASTSAVE)
[[ $before =~ ^[0-9]+$ ]] || die "LASTSAVE answered '$before'"
# LASTSAVE counts whole seconds: a save in this same second could not be told apart.
while (( $(date +%s) <= before )); do sleep 0.2; done
reply=$(rcli BGSAVE)
case $reply in
  "Background saving started" | *"already in progress"* | *"scheduled"*) ;;
  *) die "BGSAVE was refused: $reply" ;;
esac
deadline=$(($(date +%s) + timeout))
until (( $(rcli LASTSAVE) > before )); do
  if [[ $(info_field persistence rdb_bgsave_in_progress) == 0 && $(info_field persistence rdb_last_bgsave_status) == err ]]; then
    die "BGSAVE failed (rdb_last_bgsave_status:err); see the server's log"
  fi
  (( $(date +%s) < deadline )) || die "BGSAVE did not finish within \${timeout}s (LASTSAVE is still $before)"
  sleep 0.5
done
source_file=$(rcli CONFIG GET dir | sed -n 2p)/$(rcli CONFIG GET dbfilename | sed -n 2p)
id=$(date -u +%Y%m%dT%H%M%SZ)
tmp=$BACKUP_DIR/.partial-$id.rdb
trap 'rm -f -- "$tmp"' EXIT
cp -- "$source_file" "$tmp"
check=$(redis-check-rdb "$tmp") || die "redis-check-rdb rejects the copy of $source_file"
# The keys in the file itself: DBSIZE would count writes made after the save.
keys=$(sed -n 's/^\\[info\\] \\([0-9]*\\) keys read$/\\1/p' <<<"$check")
[[ $keys =~ ^[0-9]+$ ]] || die "redis-check-rdb did not report how many keys $tmp holds"
sync -- "$tmp"
mv -- "$tmp" "$BACKUP_DIR/dump_$id.rdb"
(cd "$BACKUP_DIR" && sha256sum -- "dump_$id.rdb" >"dump_$id.rdb.sha256")
printf 'keys=%s\\nlastsave=%s\\n' "$keys" "$(rcli LASTSAVE)" >"$BACKUP_DIR/dump_$id.meta"
sync -- "$BACKUP_DIR"
log "snapshot dump_$id.rdb: $keys keys, $(du -h -- "$BACKUP_DIR/dump_$id.rdb" | cut -f1)"

while read -r verdict old _; do
  if [[ $verdict == drop ]] && ! confirmed_offsite valkey "$old"; then
    log "keeping snapshot dump_$old.rdb: not yet confirmed off-site"
  elif [[ $verdict == drop ]]; then
    rm -f -- "$BACKUP_DIR/dump_$old.rdb" "$BACKUP_DIR/dump_$old.rdb.sha256" "$BACKUP_DIR/dump_$old.meta"
    log "removed snapshot dump_$old.rdb"
  fi
done < <(find "$BACKUP_DIR" -maxdepth 1 -name 'dump_*.rdb' -printf '%f\\n' | sed -n 's/^dump_\\([0-9]\\{8\\}T[0-9]\\{6\\}Z\\)\\.rdb$/\\1/p' | sort -r | retention_plan "$(date -u +%s)")
`;
}

/**
 * Restore: check the snapshot, stop the server, move its data aside, put the RDB in place, start.
 * With AOF on, Redis would ignore the RDB and start empty, so the server starts with AOF off, then
 * AOF is switched on at runtime, which rewrites it from the restored data.
 */
export function renderRedisRestoreScript(plan: ServicePlan): string {
  const r = redisOf(plan);
  return `${header({ job: `drkit-${plan.name}-restore-redis`, purpose: `Restores ${plan.name}'s Redis/Valkey from a drkit snapshot. Run as root or ${r.osUser}.`, usage: "restore-redis <dump_ID.rdb>" })}
${redisCli(r)}
${settings({ REDIS_OS_USER: r.osUser, DATA_DIR: r.dataDirectory, DROP_IN: r.dropIn, AOF: r.persistence.appendonly ? "yes" : "no" })}
${redisManager(r)}
snapshot=\${1:?usage: restore-redis <dump_ID.rdb>}
[[ -f $snapshot ]] || die "snapshot '$snapshot' does not exist"
dir=$(dirname -- "$snapshot")
name=$(basename -- "$snapshot")
[[ -f $dir/$name.sha256 ]] || die "no checksum file $dir/$name.sha256"
(cd "$dir" && sha256sum --quiet -c -- "$name.sha256") || die "$snapshot does not match its checksum"
redis-check-rdb "$snapshot" >/dev/null || die "redis-check-rdb rejects $snapshot"
expected=$(sed -n 's/^keys=//p' "$dir/\${name%.rdb}.meta" 2>/dev/null || true)

log "stopping the server"
redis_stop
aside=$DATA_DIR/before-restore-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p -- "$aside"
for f in dump.rdb appendonlydir appendonly.aof; do
  if [[ -e $DATA_DIR/$f ]]; then mv -- "$DATA_DIR/$f" "$aside/"; fi
done
log "moved the previous data to $aside"
install -m 0660 -o "$REDIS_OS_USER" -g "$(id -gn "$REDIS_OS_USER")" -- "$snapshot" "$DATA_DIR/dump.rdb"

original=
if [[ $AOF == yes ]]; then
  original=$(mktemp)
  cp -p -- "$DROP_IN" "$original"
  sed -i 's/^appendonly yes$/appendonly no/' "$DROP_IN"
  trap 'cp -p -- "$original" "$DROP_IN"; rm -f -- "$original"' EXIT
fi
redis_start
wait_for_ping 150 || die "the server did not come back after the restore"
if [[ $AOF == yes ]]; then
  [[ $(rcli CONFIG SET appendonly yes) == OK ]] || die "could not switch AOF back on"
  for _ in $(seq 1 600); do
    [[ $(info_field persistence aof_enabled) == 1 && $(info_field persistence aof_rewrite_in_progress) == 0 && $(info_field persistence aof_rewrite_scheduled) == 0 ]] && break
    sleep 0.2
  done
  [[ $(info_field persistence aof_last_bgrewrite_status) == ok ]] || die "rewriting the AOF from the restored data failed"
fi
keys=$(rcli DBSIZE)
if [[ -n $expected && $keys != "$expected" ]]; then
  die "restored $keys keys, the snapshot recorded $expected"
fi
log "restored $name: $keys keys; previous data in $aside"
`;
}

/** Sandbox only: a server under the root prefix, with a main config that includes the drop-in last. */
export function renderRedisSandboxScript(plan: ServicePlan): string {
  const r = redisOf(plan);
  if (r.manager.type !== "process") throw new Error(`service ${plan.name}: a sandbox Redis needs manager "process"`);
  return `${header({ job: `drkit-${plan.name}-sandbox-redis`, purpose: `Sandbox Redis/Valkey for ${plan.name} under ${plan.rootPrefix}.`, usage: "sandbox-redis start|stop" })}
${redisCli(r)}
${settings({ REDIS_OS_USER: r.osUser, DATA_DIR: r.dataDirectory, DROP_IN: r.dropIn, SOCKET: r.socket ?? "", PORT: r.port, LOG_FILE: r.manager.logFile })}
${redisManager(r)}
group=$(id -gn "$REDIS_OS_USER")
case \${1:-} in
  stop)
    redis_stop
    log "stopped; $DATA_DIR stays"
    exit 0
    ;;
  start) ;;
  *) die "usage: sandbox-redis start|stop" ;;
esac
install -d -m 0750 -o "$REDIS_OS_USER" -g "$group" -- "$DATA_DIR" "$(dirname -- "$REDIS_PID_FILE")" "$(dirname -- "$LOG_FILE")"
[[ -z $SOCKET ]] || install -d -m 0750 -o "$REDIS_OS_USER" -g "$group" -- "$(dirname -- "$SOCKET")"
install -d -m 0755 -- "$(dirname -- "$REDIS_CONFIG")"
{
  echo "# drkit sandbox server"
  echo "bind 127.0.0.1"
  echo "port $PORT"
  [[ -z $SOCKET ]] || echo "unixsocket $SOCKET"
  echo "unixsocketperm 770"
  echo "daemonize yes"
  echo "pidfile $REDIS_PID_FILE"
  echo "logfile $LOG_FILE"
  echo "include $DROP_IN"
} >"$REDIS_CONFIG.tmp"
chmod 0640 -- "$REDIS_CONFIG.tmp"
chgrp "$group" -- "$REDIS_CONFIG.tmp"
mv -- "$REDIS_CONFIG.tmp" "$REDIS_CONFIG"
[[ -f $DROP_IN ]] || die "$DROP_IN is missing: place the drop-in before starting the sandbox server"
if [[ $(rcli PING 2>/dev/null) != PONG ]]; then
  redis_start
  wait_for_ping 100 || die "the sandbox server did not start; see $LOG_FILE"
fi
log "sandbox Redis for $DATA_DIR is running (port $PORT\${SOCKET:+, socket $SOCKET})"
`;
}
