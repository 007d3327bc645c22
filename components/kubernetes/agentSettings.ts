import { renderEnvFile, type Settings } from "../agent/envFile";
import { LAYOUT, OFFSITE, TLS_FILES } from "./layout";
import { POSTGRES_PORT, REPLICATION_ROLE, SUPERUSER, standbyPodName } from "./names";
import type { ClusterSpec } from "./spec";

/**
 * The agent's settings files in the pods, rendered from the ClusterSpec. Settings are sourced (they would
 * override a pod's environment), so each pod role has its own file, named by DRKIT_ENV in its containers:
 * the servers (archive_command, entry points), the backup CronJob, the restore test and the restore Job.
 */
export type PodRole = "server" | "backup" | "restore-test" | "restore";

/** Where things are inside the pods; a test may move them all to temp directories (the same files, elsewhere). */
export interface PodPaths {
  /** The image's PostgreSQL OS user (uid 999); a test running as root outside a pod may use root. */
  readonly pgOsUser: string;
  readonly pgBin: string;
  readonly dataMount: string;
  readonly socketDir: string;
  readonly configDir: string;
  readonly secretsDir: string;
  readonly runDir: string;
  readonly backupRoot: string;
  readonly scratch: string;
  readonly offsiteCredentials: string;
  readonly mc: string;
}

const podPaths = (spec: ClusterSpec): PodPaths => ({
  pgOsUser: SUPERUSER,
  pgBin: `/usr/lib/postgresql/${spec.postgresVersion}/bin`,
  dataMount: LAYOUT.dataMount,
  socketDir: LAYOUT.socketDir,
  configDir: LAYOUT.configDir,
  secretsDir: LAYOUT.secretsDir,
  runDir: LAYOUT.runDir,
  backupRoot: LAYOUT.backupRoot,
  scratch: LAYOUT.scratch,
  offsiteCredentials: `${LAYOUT.offsiteDir}/${OFFSITE.credentialsKey}`,
  mc: `${LAYOUT.toolsDir}/mc`,
});

/** How long a restore may run: far beyond the RTO on purpose (stopping a slow restore only lengthens the outage). */
export const restoreTimeoutSeconds = (spec: ClusterSpec) => Math.max(3600, 4 * spec.rtoSeconds);

/** The backup volume's layout: the same as on hosts (base/, wal/, locks/, the lib's BACKUP_META). */
function common(spec: ClusterSpec, p: PodPaths): Settings {
  return {
    SERVICE: spec.name,
    PG_VERSION: spec.postgresVersion,
    PG_BIN: p.pgBin,
    PG_OS_USER: p.pgOsUser,
    PGHOST: p.socketDir,
    PGPORT: POSTGRES_PORT,
    PGUSER: SUPERUSER,
    PG_DATABASES: spec.databases,
    PGDATA_DIR: `${p.dataMount}/pgdata`,
    PG_MANAGER: "foreground",
    PG_START_TIMEOUT: spec.derived.serverStartSeconds,
    BACKUP_ROOT: p.backupRoot,
    BASE_DIR: `${p.backupRoot}/base`,
    WAL_DIR: `${p.backupRoot}/wal`,
    LOGICAL_DIR: `${p.backupRoot}/logical`,
    LOCK_DIR: `${p.backupRoot}/locks`,
    RESULTS_DIR: `${p.backupRoot}/results`,
    RTO_SECONDS: spec.rtoSeconds,
    POD_SECRETS_DIR: p.secretsDir,
    POD_RUN_DIR: p.runDir,
    POD_CONFIG_FILE: `${p.configDir}/postgresql.conf`,
    PGPASSFILE: `${p.runDir}/pgpass`,
    REPL_ROLE: REPLICATION_ROLE,
    POD_SLOT_PREFIX: spec.names.slotPrefix,
    // Every connection to the primary over the network verifies its certificate: a standby's clone (pg_basebackup
    // -R writes these into primary_conninfo) and the backup job's.
    ...(spec.replicationTls ? { PG_SSLMODE: "verify-full", PG_SSLROOTCERT: `${p.configDir}/${TLS_FILES.ca}` } : {}),
    // No object stores unless the role ships (only the backup CronJob has mc and the store's credentials).
    OFFSITE_STORES: [],
    ...(spec.monitoring
      ? { METRICS_DIR: `${p.backupRoot}/metrics`, METRICS_INTERVAL: spec.monitoring.collectIntervalSeconds }
      : {}),
  };
}

function offsite(spec: ClusterSpec, p: PodPaths): Settings {
  const o = spec.offsite;
  if (!o) return {};
  return {
    OFFSITE_STORES: [OFFSITE.alias],
    OFFSITE_ALIASES: [OFFSITE.alias],
    OFFSITE_BUCKETS: [o.bucket],
    OFFSITE_CREDENTIALS: [p.offsiteCredentials],
    OFFSITE_CA_FILES: [o.caCertificate ? `${LAYOUT.offsiteDir}/${OFFSITE.caKey}` : ""],
    OFFSITE_PREFIX: o.prefix,
    OFFSITE_MARKS: `${p.backupRoot}/offsite-marks`,
    MC: p.mc,
    // The shipper Deployment uploads the WAL queue continuously: the backup job ships its backup sets only.
    SHIPPER_SERVICE: "yes",
    RETRY_ATTEMPTS: 3,
    RETRY_FIRST_DELAY: 1,
  };
}

/** The settings of one pod role. */
function podSettings(spec: ClusterSpec, role: PodRole, paths: Partial<PodPaths> = {}): Settings {
  const p = { ...podPaths(spec), ...paths };
  const base = common(spec, p);
  switch (role) {
    case "server":
      return {
        ...base,
        REPL_SLOTS: spec.derived.slots,
        // The collector beside the primary reports each standby (its application_name is its pod's name).
        ...(spec.monitoring
          ? { REPL_STANDBY_NAMES: Array.from({ length: spec.standbys }, (_, i) => standbyPodName(spec.name, i)) }
          : {}),
        REPL_PRIMARY_ADDRESS: spec.names.primaryHost,
        // archive-wal always queues what it archives: the backup job ships the queue when the cluster has a
        // store and drains it otherwise, so turning shipping on or off leaves the servers' settings alone.
        WAL_SHIP: "yes",
      };
    case "backup":
      return {
        ...base,
        ...offsite(spec, p),
        // backup-base runs against the primary's service as the replication role (pg_hba: SCRAM over the network).
        PGHOST: spec.names.readWrite,
        PGUSER: REPLICATION_ROLE,
        COMPRESS_ARGS: spec.derived.baseBackupArgs,
        VERIFY_AFTER_BACKUP: "yes",
        // Retention "keep the newest N": no day, week or month windows.
        RETAIN_NEWEST: spec.backupsKept,
        RETAIN_DAILY_DAYS: 0,
        RETAIN_WEEKLY_WEEKS: 0,
        RETAIN_MONTHS: 0,
      };
    case "restore-test":
      return {
        ...base,
        PGDATA_DIR: `${p.scratch}/pgdata`,
        VERIFY_DIR: p.scratch,
        VERIFY_TIMEOUT: restoreTimeoutSeconds(spec),
      };
    case "restore":
      return {
        ...base,
        ...(spec.restore ? { RESTORE_REQUEST: spec.restore.requestId } : {}),
        REPL_PRIMARY_ADDRESS: spec.names.primaryHost,
      };
  }
}

/** The settings file of one pod role, as the ConfigMap holds it. */
export const renderPodSettings = (spec: ClusterSpec, role: PodRole, paths: Partial<PodPaths> = {}) =>
  renderEnvFile(`drkit agent settings of the ${role} pods of cluster ${spec.name}`, podSettings(spec, role, paths));
