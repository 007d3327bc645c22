import * as path from "node:path";
import type { z } from "zod";
import { parseDuration } from "./duration";
import { ConfigError, describeValue, formatPath, valueAt } from "./errors";
import {
  stackConfigSchema,
  type ParsedHost,
  type ParsedObjectStore,
  type ParsedService,
  type ParsedStackConfig,
} from "./schema";
import { objectStorePlans, offsitePlan, offsiteProblems, type ObjectStorePlan, type OffsitePlan } from "./offsite";
import { deriveArchiveTimeout, deriveCompression, synchronousStandbyNames, type CompressionPlan } from "./derive";
import type { BackupPaths, SecretText } from "./types";
import { parseSize } from "./size";
import { archivePlan, type ArchivePlan } from "./archive";
import { monitoringPlan, type MonitoringPlan } from "./monitoring";
import { postgresFeatures } from "./postgresVersion";
import { calendarMaxIntervalHours } from "./calendar";
import { certificateNames, replicationTlsProblems } from "./replicationTls";

export type Connection =
  | { type: "local"; rootPrefix: string }
  | {
      type: "ssh";
      host: string;
      port: number;
      user: string;
      privateKey?: SecretText;
      /** "<type> <base64>"; absent only with acceptAnyHostKey. */
      hostKey?: string;
      acceptAnyHostKey: boolean;
      rootPrefix: string;
    };

export interface HostPlan {
  readonly name: string;
  readonly connection: Connection;
}

export type Manager = { type: "systemd"; unit: string } | { type: "pg_ctl"; logFile: string };

export interface PostgresPlan {
  readonly version: number;
  readonly dataDirectory: string;
  readonly configDirectory: string;
  readonly binDirectory: string;
  readonly port: number;
  readonly socketDirectory: string;
  readonly osUser: string;
  readonly role: string;
  readonly databases: readonly string[];
  readonly manager: Manager;
  readonly provision: boolean;
}

export type JobId =
  "base" | "logical" | "prune" | "verify" | "config" | "redis" | "offsite" | "shipper" | "metrics" | "tls";

export interface RedisTlsPlan {
  readonly ca: string;
  readonly caFile: string;
  readonly serverName?: string;
  readonly client?: {
    readonly certificate: string;
    readonly key: SecretText;
    readonly certFile: string;
    /** 0600, owned by the Redis user: read by the jobs, which run as that user or root. */
    readonly keyFile: string;
  };
}

export interface RedisPlan {
  readonly port: number;
  /** Unix socket of a sandbox server; real hosts are reached on 127.0.0.1:port. */
  readonly socket?: string;
  readonly dataDirectory: string;
  readonly configFile: string;
  readonly dropIn: string;
  readonly osUser: string;
  readonly cli: string;
  readonly server: string;
  readonly manager: { type: "systemd"; unit: string } | { type: "process"; pidFile: string; logFile: string };
  readonly provision: boolean;
  /** Credentials the jobs authenticate with; the password reaches them only through a 0600 file. */
  readonly auth?: { readonly user?: string; readonly password: SecretText; readonly file: string };
  /** TLS to the server: the CA the jobs trust and, for servers that ask for one, their client certificate. */
  readonly tls?: RedisTlsPlan;
  readonly persistence: {
    readonly savePoints: ReadonlyArray<readonly [number, number]>;
    readonly appendonly: boolean;
    readonly appendfsync: "always" | "everysec" | "no";
    readonly autoAofRewritePercentage: number;
    readonly autoAofRewriteMinSize: string;
  };
  readonly snapshotCalendar: string;
  readonly snapshotRetentionDays: number;
  readonly snapshotTimeoutSeconds: number;
  readonly snapshotMaxIntervalHours: number | null;
  readonly backupDir: string;
}

export interface JobPlan {
  readonly id: JobId;
  readonly unit: string;
  readonly description: string;
  readonly script: string;
  /** Arguments after the script in ExecStart. */
  readonly args?: readonly string[];
  /** OnCalendar expression; absent when another job triggers this one. */
  readonly calendar?: string;
  readonly runAs: string;
  readonly readWritePaths: readonly string[];
  readonly onSuccess?: string;
  /** A long-running service (restarted when it stops) rather than a oneshot job. */
  readonly daemon?: boolean;
}

export interface IncrementalPlan {
  readonly fullEverySeconds: number;
  /** wal_summary_keep_time: the WAL summaries an incremental backup reads outlive a whole chain. */
  readonly walSummaryKeepSeconds: number;
}

export interface RetentionPlan {
  readonly dailyDays: number;
  readonly weeklyWeeks: number;
  readonly longTermMonths: number;
  readonly offsiteDays: number;
}

export interface ServicePlan {
  readonly name: string;
  readonly host: HostPlan;
  /** Absolute root prefix of a sandbox host, "" for a real one. Every host path below includes it. */
  readonly rootPrefix: string;
  readonly postgres: PostgresPlan;
  readonly rpoSeconds: number;
  readonly rtoSeconds: number;
  readonly archiveTimeoutSeconds: number;
  readonly randomizedDelaySeconds: number;
  readonly jobTimeoutSeconds: number;
  readonly retention: RetentionPlan;
  readonly paths: BackupPaths;
  /** The archive epoch: where WAL and base backups go (paths.walDir and paths.baseDir are the current epoch's). */
  readonly archive: ArchivePlan;
  /** What keeps the primary running when the local archive cannot grow: a free-space reserve, an optional cap. */
  readonly archiveLimits: { readonly minFreeBytes: number; readonly maxBytes?: number };
  readonly compression: CompressionPlan;
  readonly configFiles: readonly string[];
  readonly verifyAfterBackup: boolean;
  /** Incremental base backups (PostgreSQL 17+): a full one at least this often, incremental ones in between. */
  readonly incremental?: IncrementalPlan;
  readonly jobs: readonly JobPlan[];
  /** Longest gap between base backups, in hours; null when the calendar is too unusual to tell. */
  readonly baseBackupMaxIntervalHours: number | null;
  readonly redis?: RedisPlan;
  readonly replication?: ReplicationPlan;
  readonly offsite?: OffsitePlan;
  readonly monitoring?: MonitoringPlan;
}

export interface StandbyPlan {
  readonly name: string;
  readonly host: HostPlan;
  readonly rootPrefix: string;
  readonly synchronous: boolean;
  readonly port: number;
  readonly dataDirectory: string;
  readonly socketDirectory: string;
  readonly manager: Manager;
  /** Address the primary sees this standby connect from, for pg_hba. */
  readonly address: string;
  readonly slot: string;
  readonly passFile: string;
  /** The CA file standbys verify the primary's certificate with, on this standby's host (replication TLS). */
  readonly tlsCaFile?: string;
  /**
   * On another host, when the replication certificate names this standby's address too: the copies of that
   * certificate and its key it serves TLS with, so that once promoted the former primary rewinds and streams from
   * it over verified TLS.
   */
  readonly serverTls?: { readonly certFile: string; readonly keyFile: string };
}

/** TLS of replication connections: the primary's files (on its host) and where their content comes from. */
export interface ReplicationTlsPlan {
  /** drkit makes the CA and the certificate on the primary's host (every standby is on it). */
  readonly generate: boolean;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Given in the stack config (absent when generated). */
  readonly ca?: string;
  readonly certificate?: string;
  readonly key?: SecretText;
}

export interface ReplicationPlan {
  readonly role: string;
  /** The role a former primary's pg_rewind connects as: login and the four file functions it needs, no more. */
  readonly rewindRole: string;
  readonly maxSlotWalKeepSizeMb: number;
  readonly maxWalSenders: number;
  readonly maxReplicationSlots: number;
  readonly synchronousStandbyNames: string;
  readonly primaryAddress: string;
  readonly primaryPort: number;
  readonly hbaFile: string;
  /** pgpass lines for the replication and rewind roles, on the primary's host (mode 0600). */
  readonly passFile: string;
  readonly failoverOrder: readonly string[];
  readonly standbys: readonly StandbyPlan[];
  readonly tls?: ReplicationTlsPlan;
}

export interface DrPlan {
  readonly hosts: ReadonlyMap<string, HostPlan>;
  readonly services: readonly ServicePlan[];
  readonly objectStores: readonly ObjectStorePlan[];
}

export interface BuildPlanOptions {
  /** Directory that relative sandbox root prefixes are resolved against (the project directory). */
  readonly baseDir: string;
}

/** Validates raw stack config and derives the plan. Throws ConfigError naming every bad field. */
export function buildPlan(raw: unknown, options: BuildPlanOptions): DrPlan {
  const parsed = stackConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => describeIssue(issue, raw)));
  }
  const problems = [...crossFieldProblems(parsed.data), ...offsiteProblems(parsed.data)];
  if (problems.length > 0) throw new ConfigError(problems);

  const hosts = new Map<string, HostPlan>();
  for (const [name, host] of Object.entries(parsed.data.hosts)) {
    hosts.set(name, hostPlan(name, host, options.baseDir));
  }
  const stores = parsed.data.objectStores as Record<string, ParsedObjectStore>;
  const services = Object.entries(parsed.data.services).map(([name, svc]) =>
    servicePlan(name, svc, hosts.get(svc.host)!, hosts, stores),
  );
  return { hosts, services, objectStores: objectStorePlans(parsed.data, options.baseDir) };
}

/** Fields whose values an error never shows. */
const SECRET_FIELDS = new Set(["accessKey", "secretKey", "privateKey", "password", "key"]);

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const where = issue.path.length ? formatPath(issue.path) : "(stack config)";
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => `"${k}"`).join(", ");
    return (
      `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${keys} (check the spelling against the ` +
      `README's stack config reference)`
    );
  }
  if (issue.code === "invalid_key") {
    const key = issue.path[issue.path.length - 1];
    return `${where}: ${describeValue(String(key))} ${issue.issues[0]?.message ?? "is not a valid name"}`;
  }
  const value = valueAt(raw, issue.path);
  if (value === undefined && issue.code === "invalid_type") return `${where}: is required`;
  const field = String(issue.path[issue.path.length - 1] ?? "");
  // A private key pasted into the wrong field is still a secret.
  const secret = SECRET_FIELDS.has(field) || (typeof value === "string" && value.includes("PRIVATE KEY"));
  const shown = secret && value !== undefined ? "(secret, not shown)" : describeValue(value);
  return `${where}: ${shown} ${issue.message}`;
}

function crossFieldProblems(config: ParsedStackConfig): string[] {
  const problems: string[] = [];
  const hostNames = Object.keys(config.hosts);
  const seenDataDirs = new Map<string, string>();
  /**
   * Every server's machine:port in the stack (primaries, standbys, Redis, sandbox object stores), and which server
   * it is. Two stack hosts at one address are one machine, and so are all local hosts, sandboxes included.
   */
  const seenEndpoints = new Map<string, { server: string; host: string }>();
  const machineOf = (host: string) => {
    const c = config.hosts[host]?.connection;
    return c?.type === "ssh" ? `ssh:${c.host.toLowerCase()}` : "local";
  };
  const claimOn = (machine: string, field: string, host: string, port: number, server: string) => {
    const key = `${machine}:${port}`;
    const holder = seenEndpoints.get(key);
    if (!holder) seenEndpoints.set(key, { server, host });
    else if (holder.host === host)
      problems.push(`${field}: ${port} on ${host} is already the port of ${holder.server}`);
    else problems.push(`${field}: ${port} on ${host} is already the port of ${holder.server} on ${holder.host}`);
  };
  const claimEndpoint = (field: string, host: string, port: number, server: string) =>
    claimOn(machineOf(host), field, `host "${host}"`, port, server);
  const seenRoots = new Map<string, string>();
  for (const [name, svc] of Object.entries(config.services)) {
    const at = `services.${name}`;
    const host = config.hosts[svc.host];
    if (!host) {
      problems.push(`${at}.host: "${svc.host}" is not a declared host (declared: ${hostNames.join(", ") || "none"})`);
      continue;
    }
    const pg = svc.postgres;
    if (svc.compression === "zstd" && !postgresFeatures(pg.version).serverZstd) {
      problems.push(
        `${at}.compression: "zstd" needs PostgreSQL 15 or later (postgres.version is ${pg.version}); use "gzip" ` +
          `or "auto"`,
      );
    }
    if (pg.provision && !host.connection.rootPrefix) {
      problems.push(
        `${at}.postgres.provision: true is only allowed on a sandbox host (host "${svc.host}" ` +
          `has no connection.rootPrefix)`,
      );
    }
    if (pg.provision && pg.manager.type !== "pg_ctl") {
      problems.push(`${at}.postgres.provision: true needs postgres.manager.type "pg_ctl" (got "${pg.manager.type}")`);
    }
    claimEndpoint(`${at}.postgres.port`, svc.host, pg.port, `the PostgreSQL primary of service "${name}"`);
    if (svc.redis) {
      const r = svc.redis;
      if (r.provision && !host.connection.rootPrefix)
        problems.push(
          `${at}.redis.provision: true is only allowed on a sandbox host (host "${svc.host}" ` +
            `has no connection.rootPrefix)`,
        );
      if (r.provision !== (r.manager.type === "process"))
        problems.push(
          `${at}.redis.manager.type: ` +
            `"${r.manager.type}" ` +
            (r.provision
              ? 'must be "process" when redis.provision is true'
              : '"process" needs redis.provision: true (drkit starts the sandbox server)'),
        );
      claimEndpoint(`${at}.redis.port`, svc.host, r.port, `the Redis of service "${name}"`);
    }
    const standbyNames = new Set<string>();
    svc.standbys.forEach((standby, i) => {
      const sat = `${at}.standbys[${i}]`;
      const sHost = config.hosts[standby.host];
      if (!sHost) {
        problems.push(`${sat}.host: "${standby.host}" is not a declared host (declared: ${hostNames.join(", ")})`);
        return;
      }
      if (standbyNames.has(standby.name))
        problems.push(`${sat}.name: "${standby.name}" is used by another standby of ${name}`);
      standbyNames.add(standby.name);
      claimEndpoint(`${sat}.port`, standby.host, standby.port, `standby "${standby.name}" of service "${name}"`);
      if (sHost.connection.type === "ssh" && !standby.address && !/^[0-9.]+$|:/.test(sHost.connection.host)) {
        problems.push(
          `${sat}.address: is required when host "${standby.host}" is reached by name (${sHost.connection.host}); ` +
            `pg_hba needs an IP address`,
        );
      }
    });
    if (svc.standbys.length > 0)
      problems.push(
        ...replicationTlsProblems(svc.replication.tls, {
          at: `${at}.replication.tls`,
          primaryAddress: svc.replication.primaryAddress ?? connectionAddress(host.connection),
          remoteStandbys: svc.standbys.filter((s) => s.host !== svc.host).map((s) => `${s.name} (${s.host})`),
          now: new Date(),
        }),
      );
    for (const [i, n] of (svc.replication.failoverOrder ?? []).entries()) {
      if (!standbyNames.has(n))
        problems.push(
          `${at}.replication.failoverOrder[${i}]: "${n}" is not a standby of ${name} ` +
            `(standbys: ${[...standbyNames].join(", ") || "none"})`,
        );
    }
    const exporters = svc.monitoring?.exporters;
    for (const which of ["node", "postgres"] as const) {
      if (exporters?.[which] && host.connection.rootPrefix)
        problems.push(
          `${at}.monitoring.exporters.${which}: true configures Debian's exporter under systemd, which a sandbox ` +
            `host (connection.rootPrefix) does not have; run the exporter yourself there`,
        );
    }
    const dupes = pg.databases.filter((db, i) => pg.databases.indexOf(db) !== i);
    if (dupes.length)
      problems.push(`${at}.postgres.databases: ${describeValue(pg.databases)} lists "${dupes[0]}" twice`);
    if (svc.retention.offsiteDays < svc.retention.dailyDays) {
      problems.push(
        `${at}.retention.offsiteDays: ${svc.retention.offsiteDays} must be at least retention.dailyDays ` +
          `(${svc.retention.dailyDays}): the off-site copy must outlive the local one`,
      );
    }
    if (svc.incremental) {
      if (!postgresFeatures(pg.version).incrementalBackups)
        problems.push(
          `${at}.incremental: needs PostgreSQL 17 or later (postgres.version is ${pg.version}): incremental ` +
            `backups read the WAL summaries that 17 added`,
        );
      const fullEveryDays = parseDuration(svc.incremental.fullEvery)! / 86400;
      if (svc.offsite && fullEveryDays >= svc.retention.offsiteDays)
        problems.push(
          `${at}.incremental.fullEvery: ${describeValue(svc.incremental.fullEvery)} must be shorter than ` +
            `retention.offsiteDays (${svc.retention.offsiteDays} days): off-site objects expire by age, so an ` +
            `incremental backup would outlive its full backup there`,
        );
    }
    const delay = parseDuration(svc.schedule.randomizedDelay)!;
    if (delay >= 86400) {
      problems.push(
        `${at}.schedule.randomizedDelay: ${describeValue(svc.schedule.randomizedDelay)} must be less than 1d, ` +
          `or daily runs could be skipped`,
      );
    }
    const rto = parseDuration(svc.rto)!;
    if (rto < 60)
      problems.push(`${at}.rto: ${describeValue(svc.rto)} must be at least 1m: no restore can start a server faster`);
    const dataDir = pg.dataDirectory ?? defaultDataDir(pg);
    const dataKey = `${svc.host}:${dataDir}`;
    if (seenDataDirs.has(dataKey)) {
      problems.push(
        `${at}.postgres.dataDirectory: "${dataDir}" on host "${svc.host}" is already used by service ` +
          `"${seenDataDirs.get(dataKey)}"`,
      );
    } else seenDataDirs.set(dataKey, name);
    const root = svc.paths.backupRoot ?? defaultBackupRoot(name);
    const rootKey = `${svc.host}:${root}`;
    if (seenRoots.has(rootKey)) {
      problems.push(
        `${at}.paths.backupRoot: "${root}" on host "${svc.host}" is already used by service ` +
          `"${seenRoots.get(rootKey)}"`,
      );
    } else seenRoots.set(rootKey, name);
  }
  // A sandbox object store listens on this machine's loopback, on its port and its console's (port + 1).
  for (const [name, store] of Object.entries(config.objectStores)) {
    if (store.type !== "minio" || !store.provision) continue;
    const port = Number(/^http:\/\/(?:127\.0\.0\.1|localhost):(\d+)/.exec(store.endpoint)?.[1]);
    if (!Number.isInteger(port)) continue;
    for (const p of [port, port + 1])
      claimOn(
        "local",
        `objectStores.${name}.endpoint`,
        "this machine",
        p,
        `the sandbox server of object store "${name}"`,
      );
  }
  return problems;
}

/** Debian's cluster name of a postgresql@<version>-<cluster>.service unit; "main" for any other manager. */
function debianCluster(pg: ParsedService["postgres"]): string {
  const unit = pg.manager.type === "systemd" ? pg.manager.unit : undefined;
  return unit?.match(/^postgresql@\d+-([A-Za-z0-9_.-]+)\.service$/)?.[1] ?? "main";
}
const defaultDataDir = (pg: ParsedService["postgres"]) => `/var/lib/postgresql/${pg.version}/${debianCluster(pg)}`;
const defaultBackupRoot = (service: string) => `/var/lib/${service}/backups`;

function hostPlan(name: string, host: ParsedHost, baseDir: string): HostPlan {
  const c = host.connection;
  if (c.type === "local") {
    const prefix = c.rootPrefix ? path.resolve(baseDir, c.rootPrefix).replace(/\/+$/, "") : "";
    return { name, connection: { type: "local", rootPrefix: prefix === "/" ? "" : prefix } };
  }
  return {
    name,
    connection: {
      type: "ssh",
      host: c.host,
      port: c.port,
      user: c.user,
      privateKey: c.privateKey,
      ...(c.hostKey !== undefined ? { hostKey: c.hostKey } : {}),
      acceptAnyHostKey: c.acceptAnyHostKey,
      rootPrefix: (c.rootPrefix ?? "").replace(/\/+$/, ""),
    },
  };
}

function servicePlan(
  name: string,
  svc: ParsedService,
  host: HostPlan,
  hosts: ReadonlyMap<string, HostPlan>,
  stores: Record<string, ParsedObjectStore>,
): ServicePlan {
  const prefix = host.connection.rootPrefix;
  const onHost = (p: string) => (prefix ? path.posix.join(prefix, p) : p);
  const pg = svc.postgres;
  const dataDirectory = onHost(pg.dataDirectory ?? defaultDataDir(pg));
  const manager =
    pg.manager.type === "systemd"
      ? { type: "systemd" as const, unit: pg.manager.unit ?? `postgresql@${pg.version}-main.service` }
      : { type: "pg_ctl" as const, logFile: onHost(pg.manager.logFile ?? `/var/log/postgresql/drkit-${name}.log`) };
  const backupRoot = onHost(svc.paths.backupRoot ?? defaultBackupRoot(name));
  const scriptsDir = onHost(svc.paths.scripts ?? `/usr/local/lib/drkit/${name}`);
  const archive = archivePlan(name, backupRoot, svc.archive.epoch);
  const paths: BackupPaths = {
    backupRoot,
    baseDir: archive.current.baseDir,
    logicalDir: `${backupRoot}/postgresql/logical`,
    walDir: archive.current.walDir,
    configDir: `${backupRoot}/config`,
    lockDir: `${backupRoot}/.locks`,
    verifyDir: `${backupRoot}/verify`,
    scriptsDir,
    unitsDir: onHost(svc.paths.units),
  };
  const postgres: PostgresPlan = {
    version: pg.version,
    dataDirectory,
    configDirectory: onHost(
      pg.configDirectory ??
        (prefix
          ? `${pg.dataDirectory ?? defaultDataDir(pg)}/conf.d`
          : `/etc/postgresql/${pg.version}/${debianCluster(pg)}/conf.d`),
    ),
    binDirectory: pg.binDirectory ?? `/usr/lib/postgresql/${pg.version}/bin`,
    port: pg.port,
    socketDirectory: onHost(pg.socketDirectory),
    osUser: pg.osUser,
    role: pg.role,
    databases: pg.databases,
    manager,
    provision: pg.provision,
  };
  const rpoSeconds = parseDuration(svc.rpo)!;
  const randomizedDelaySeconds = parseDuration(svc.schedule.randomizedDelay)!;
  const monitoring = monitoringPlan(name, svc, onHost, rpoSeconds, randomizedDelaySeconds);
  const replication = svc.standbys.length > 0 ? replicationPlan(name, svc, host, postgres, hosts) : undefined;
  const jobs = jobPlans(name, svc, paths, postgres, archive, monitoring, replication);
  return {
    name,
    host,
    rootPrefix: prefix,
    postgres,
    rpoSeconds,
    rtoSeconds: parseDuration(svc.rto)!,
    archiveTimeoutSeconds: deriveArchiveTimeout(rpoSeconds, svc.offsite ? parseDuration(svc.offsite.lagBudget)! : 0),
    randomizedDelaySeconds,
    jobTimeoutSeconds: parseDuration(svc.jobTimeout)!,
    retention: svc.retention,
    paths,
    archive,
    archiveLimits: {
      minFreeBytes: parseSize(svc.archive.minFreeSpace)!,
      ...(svc.archive.maxSize ? { maxBytes: parseSize(svc.archive.maxSize)! } : {}),
    },
    compression: deriveCompression(svc.compression, pg.version),
    configFiles: svc.configFiles.map(onHost),
    verifyAfterBackup: svc.verifyAfterBackup,
    incremental: svc.incremental ? incrementalPlan(parseDuration(svc.incremental.fullEvery)!) : undefined,
    jobs,
    baseBackupMaxIntervalHours: calendarMaxIntervalHours(svc.schedule.base) ?? null,
    redis: svc.redis ? redisPlan(name, svc.redis, onHost, paths) : undefined,
    replication,
    offsite: svc.offsite ? offsitePlan(name, svc.offsite, stores, onHost, archive) : undefined,
    monitoring,
  };
}

/** WAL summaries kept for a whole chain plus a day, and never less than PostgreSQL's default of 10 days. */
const incrementalPlan = (fullEverySeconds: number): IncrementalPlan => ({
  fullEverySeconds,
  walSummaryKeepSeconds: Math.max(10 * 86400, fullEverySeconds + 86400),
});

const connectionAddress = (c: HostPlan["connection"] | ParsedHost["connection"]) =>
  c.type === "local" ? "127.0.0.1" : c.host;
const hostAddress = (h: HostPlan) => connectionAddress(h.connection);

function replicationPlan(
  service: string,
  svc: ParsedService,
  host: HostPlan,
  pg: PostgresPlan,
  hosts: ReadonlyMap<string, HostPlan>,
): ReplicationPlan {
  const passFilePath = `/etc/drkit/${service}/replication.pgpass`;
  const tls = svc.replication.tls;
  // Made and given files live apart: switching between the two never removes the files in use.
  const tlsDir = `/etc/drkit/${service}/tls${tls?.generate ? "/generated" : ""}`;
  const standbys: StandbyPlan[] = svc.standbys.map((s) => {
    const sHost = hosts.get(s.host)!;
    const prefix = sHost.connection.rootPrefix;
    const onHost = (p: string) => (prefix ? path.posix.join(prefix, p) : p);
    const dataDirectory = onHost(s.dataDirectory ?? `/var/lib/postgresql/${pg.version}/${s.name}`);
    const manager: Manager =
      pg.manager.type === "systemd"
        ? { type: "systemd", unit: `postgresql@${pg.version}-${s.name}.service` }
        : { type: "pg_ctl", logFile: onHost(`/var/log/postgresql/drkit-${service}-${s.name}.log`) };
    return {
      name: s.name,
      host: sHost,
      rootPrefix: prefix,
      synchronous: s.synchronous,
      port: s.port,
      dataDirectory,
      socketDirectory: onHost(svc.postgres.socketDirectory),
      manager,
      address: s.address ?? hostAddress(sHost),
      slot: `drkit_${s.name}`,
      // On another host a path of its own, apart from the primary's (see standbyAgentDir).
      passFile: onHost(s.host === svc.host ? passFilePath : `/etc/drkit/${service}/standby-${s.name}.pgpass`),
      // On the primary's host its CA file; elsewhere one per standby, which goes only with its standby.
      tlsCaFile: tls && onHost(`${tlsDir}/${s.host === svc.host ? "replication" : s.name}-ca.crt`),
      serverTls:
        s.host !== svc.host && tls?.certificate && certificateNames(tls.certificate, s.address ?? hostAddress(sHost))
          ? { certFile: onHost(`${tlsDir}/${s.name}-server.crt`), keyFile: onHost(`${tlsDir}/${s.name}-server.key`) }
          : undefined,
    };
  });
  const sync = standbys.filter((s) => s.synchronous).map((s) => s.name);
  const prefix = host.connection.rootPrefix;
  const onPrimary = (p: string) => (prefix ? path.posix.join(prefix, p) : p);
  return {
    role: svc.replication.role,
    rewindRole: svc.replication.rewindRole,
    maxSlotWalKeepSizeMb: parseSizeMb(svc.replication.maxSlotWalKeepSize),
    maxWalSenders: standbys.length + 4,
    maxReplicationSlots: standbys.length + 2,
    synchronousStandbyNames: synchronousStandbyNames(sync),
    primaryAddress: svc.replication.primaryAddress ?? hostAddress(host),
    primaryPort: pg.port,
    hbaFile: `${path.posix.dirname(pg.configDirectory)}/pg_hba.conf`,
    passFile: onPrimary(passFilePath),
    failoverOrder: svc.replication.failoverOrder ?? standbys.map((s) => s.name),
    standbys,
    tls: tls && {
      generate: tls.generate,
      caFile: onPrimary(`${tlsDir}/replication-ca.crt`),
      certFile: onPrimary(`${tlsDir}/server.crt`),
      keyFile: onPrimary(`${tlsDir}/server.key`),
      ca: tls.ca,
      certificate: tls.certificate,
      key: tls.key,
    },
  };
}

function parseSizeMb(size: string): number {
  const n = Number(size.slice(0, -2));
  return size.endsWith("GB") ? n * 1024 : n;
}

function redisPlan(
  service: string,
  r: NonNullable<ParsedService["redis"]>,
  onHost: (p: string) => string,
  paths: BackupPaths,
): RedisPlan {
  const configFile = onHost(r.configFile);
  const sandbox = r.provision;
  return {
    port: r.port,
    socket: r.socket ? onHost(r.socket) : sandbox ? onHost(`/var/run/redis/drkit-${service}.sock`) : undefined,
    dataDirectory: onHost(r.dataDirectory),
    configFile,
    dropIn: path.posix.join(path.posix.dirname(configFile), `drkit-${service}.conf`),
    osUser: r.osUser,
    cli: r.cli,
    server: r.server,
    manager:
      r.manager.type === "systemd"
        ? { type: "systemd", unit: r.manager.unit }
        : {
            type: "process",
            pidFile: onHost(`/var/run/redis/drkit-${service}.pid`),
            logFile: onHost(`/var/log/redis/drkit-${service}.log`),
          },
    provision: r.provision,
    auth: r.auth && { user: r.auth.user, password: r.auth.password, file: onHost(`/etc/drkit/${service}/redis.auth`) },
    tls: r.tls && {
      ca: r.tls.ca,
      caFile: onHost(`/etc/drkit/${service}/redis-tls/ca.crt`),
      serverName: r.tls.serverName,
      client:
        r.tls.certificate !== undefined && r.tls.key !== undefined
          ? {
              certificate: r.tls.certificate,
              key: r.tls.key,
              certFile: onHost(`/etc/drkit/${service}/redis-tls/client.crt`),
              keyFile: onHost(`/etc/drkit/${service}/redis-tls/client.key`),
            }
          : undefined,
    },
    persistence: { ...r.persistence, savePoints: r.persistence.savePoints.map(([s, c]) => [s, c] as const) },
    snapshotCalendar: r.snapshot.schedule,
    snapshotRetentionDays: r.snapshot.retentionDays,
    snapshotTimeoutSeconds: parseDuration(r.snapshot.timeout)!,
    snapshotMaxIntervalHours: calendarMaxIntervalHours(r.snapshot.schedule) ?? null,
    backupDir: `${paths.backupRoot}/valkey`,
  };
}

/** When the replication certificate is checked (and remade when drkit makes it): daily. */
const TLS_CHECK_CALENDAR = "*-*-* 04:40:00";

function jobPlans(
  service: string,
  svc: ParsedService,
  paths: BackupPaths,
  pg: PostgresPlan,
  archive: ArchivePlan,
  monitoring: MonitoringPlan | undefined,
  replication: ReplicationPlan | undefined,
): JobPlan[] {
  const unit = (id: JobId) => `drkit-${service}-${id}`;
  const script = (id: JobId) => {
    const name =
      id === "base"
        ? "backup-base"
        : id === "logical"
          ? "backup-logical"
          : id === "config"
            ? "backup-config"
            : id === "prune"
              ? "prune"
              : "verify-backup";
    return `${paths.scriptsDir}/${name}`;
  };
  const metricsDirs = monitoring ? [monitoring.textfileDirectory] : [];
  const rw = (...dirs: string[]) => [...dirs, paths.lockDir, ...metricsDirs];
  const offsiteDirs = svc.offsite ? [archive.current.markerDir] : [];
  const jobs: JobPlan[] = [
    {
      id: "base",
      unit: unit("base"),
      description: `drkit base backup of ${service}`,
      script: script("base"),
      calendar: svc.schedule.base,
      runAs: pg.osUser,
      readWritePaths: rw(paths.baseDir, ...offsiteDirs),
      onSuccess: `${unit("prune")}.service`,
    },
    {
      id: "prune",
      unit: unit("prune"),
      description: `drkit retention for ${service} (keeps the WAL every retained backup needs)`,
      script: script("prune"),
      runAs: pg.osUser,
      readWritePaths: rw(paths.baseDir, paths.logicalDir, paths.walDir, paths.configDir),
    },
    {
      id: "logical",
      unit: unit("logical"),
      description: `drkit logical backup of ${service}`,
      script: script("logical"),
      calendar: svc.schedule.logical,
      runAs: pg.osUser,
      readWritePaths: rw(paths.logicalDir, ...offsiteDirs),
    },
    {
      id: "verify",
      unit: unit("verify"),
      description: `drkit restore test of ${service}'s newest backup`,
      script: script("verify"),
      calendar: svc.schedule.verify,
      runAs: pg.osUser,
      readWritePaths: rw(paths.verifyDir),
    },
  ];
  if (svc.redis) {
    jobs.push({
      id: "redis",
      unit: unit("redis"),
      description: `drkit Redis/Valkey snapshot of ${service}`,
      script: `${paths.scriptsDir}/backup-redis`,
      calendar: svc.redis.snapshot.schedule,
      runAs: svc.redis.osUser,
      readWritePaths: [`${paths.backupRoot}/valkey`, ...metricsDirs],
      onSuccess: svc.offsite ? `${unit("offsite")}.service` : undefined,
    });
  }
  if (svc.offsite) {
    // The PostgreSQL user's: it reads the Redis snapshots through their folder's group, never as root (root
    // reading folders that other users write would follow their symbolic links).
    jobs.push({
      id: "offsite",
      unit: unit("offsite"),
      description: `drkit off-site catch-up for ${service} (uploads whatever is not yet confirmed)`,
      script: `${paths.scriptsDir}/ship-offsite`,
      calendar: svc.offsite.schedule,
      runAs: pg.osUser,
      readWritePaths: rw(...offsiteDirs),
    });
  }
  if (svc.offsite) {
    jobs.push({
      id: "shipper",
      unit: unit("shipper"),
      description: `drkit WAL shipper of ${service} (uploads every archived WAL file to each object store)`,
      script: `${paths.scriptsDir}/shipper`,
      runAs: pg.osUser,
      // It removes the queue entries archive-wal leaves in the archive; it never removes WAL.
      readWritePaths: rw(paths.walDir, ...offsiteDirs),
      args: ["run"],
      daemon: true,
    });
  }
  if (monitoring) {
    jobs.push({
      id: "metrics",
      unit: unit("metrics"),
      description: `drkit metrics collector of ${service} (archiving, replication, recovery window)`,
      script: `${paths.scriptsDir}/collect-metrics`,
      runAs: pg.osUser,
      readWritePaths: rw(),
      args: ["run"],
      daemon: true,
    });
  }
  const tls = replication?.tls;
  if (tls) {
    // Root's: a made certificate is remade in root's folder and the server reloaded; a given one is only read.
    jobs.push({
      id: "tls",
      unit: unit("tls"),
      description:
        `drkit replication certificate of ${service}: ` +
        (tls.generate ? "remade within 30 days of expiry" : "fails 30 days before the given one expires"),
      script: `${paths.scriptsDir}/make-replication-tls`,
      args: ["--scheduled"],
      calendar: TLS_CHECK_CALENDAR,
      runAs: "root",
      readWritePaths: rw(path.posix.dirname(tls.certFile)),
    });
  }
  if (svc.configFiles.length > 0) {
    jobs.push({
      id: "config",
      unit: unit("config"),
      description: `drkit config and secret file backup of ${service}`,
      script: script("config"),
      calendar: svc.schedule.config,
      runAs: "root",
      readWritePaths: rw(paths.configDir),
    });
  }
  return jobs;
}
