import type { RedisPlan, ServicePlan } from "../../plan/plan";
import type { Settings } from "../envFile";

/** The persistence settings, as `name value` pairs, in the order Redis reads them. */
export function redisPersistence(r: RedisPlan): Array<[string, string]> {
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

/** redis-cli's arguments that reach the server: its socket, or loopback TCP (over TLS with redis.tls). */
function redisTarget(r: RedisPlan): string[] {
  if (r.socket) return ["-s", r.socket];
  const tcp = ["-h", "127.0.0.1", "-p", String(r.port)];
  const t = r.tls;
  if (!t) return tcp;
  return [
    ...tcp,
    "--tls",
    "--cacert",
    t.caFile,
    ...(t.client ? ["--cert", t.client.certFile, "--key", t.client.keyFile] : []),
    ...(t.serverName ? ["--sni", t.serverName] : []),
  ];
}

/** The Redis/Valkey side of a service (nothing without a redis section). */
export function redisSettings(plan: ServicePlan): Settings {
  const r = plan.redis;
  if (!r) return {};
  const runtime = redisPersistence(r).filter(([k]) => k !== "dir" && k !== "dbfilename");
  return {
    REDIS_CLI: r.cli,
    REDIS_SERVER: r.server,
    REDIS_TARGET: redisTarget(r),
    REDIS_PORT: r.port,
    REDIS_SOCKET: r.socket ?? "",
    REDIS_OS_USER: r.osUser,
    REDIS_AUTH_FILE: r.auth?.file ?? "",
    REDIS_AUTH_USER: r.auth?.user ?? "",
    REDIS_DATA_DIR: r.dataDirectory,
    REDIS_CONFIG: r.configFile,
    REDIS_DROP_IN: r.dropIn,
    REDIS_MANAGER: r.manager.type,
    REDIS_UNIT: r.manager.type === "systemd" ? r.manager.unit : "",
    REDIS_PID_FILE: r.manager.type === "process" ? r.manager.pidFile : "",
    REDIS_LOG: r.manager.type === "process" ? r.manager.logFile : "",
    REDIS_AOF: r.persistence.appendonly ? "yes" : "no",
    REDIS_RUNTIME_SETTINGS: runtime.flat(),
    REDIS_BACKUP_DIR: r.backupDir,
    REDIS_SNAPSHOT_TIMEOUT: r.snapshotTimeoutSeconds,
    REDIS_RETENTION_DAYS: r.snapshotRetentionDays,
  };
}
