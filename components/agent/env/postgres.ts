import type { ServicePlan } from "../../plan/plan";
import type { Settings } from "../envFile";

/** Timeout of the restore test: the RTO, but never shorter than two archive_timeouts plus a minute. */
const verifyTimeoutSeconds = (plan: ServicePlan) => Math.max(plan.rtoSeconds, 2 * plan.archiveTimeoutSeconds + 60);

/** The PostgreSQL side of a service: connection, server control, backup paths, objectives and retention. */
export function postgresSettings(plan: ServicePlan): Settings {
  const pg = plan.postgres;
  const p = plan.paths;
  return {
    SERVICE: plan.name,
    PG_VERSION: pg.version,
    PG_BIN: pg.binDirectory,
    PG_OS_USER: pg.osUser,
    PGHOST: pg.socketDirectory,
    PGPORT: pg.port,
    PGUSER: pg.role,
    PG_DATABASES: pg.databases,
    PGDATA_DIR: pg.dataDirectory,
    PG_CONF_DIR: pg.configDirectory,
    PG_MANAGER: pg.manager.type,
    PG_UNIT: pg.manager.type === "systemd" ? pg.manager.unit : "",
    PG_LOG: pg.manager.type === "pg_ctl" ? pg.manager.logFile : "",
    ARCHIVE_DROP_IN: `${pg.configDirectory}/90-drkit-${plan.name}-archiving.conf`,
    ARCHIVE_TIMEOUT: plan.archiveTimeoutSeconds,
    RPO_SECONDS: plan.rpoSeconds,
    RTO_SECONDS: plan.rtoSeconds,
    BACKUP_ROOT: p.backupRoot,
    BASE_DIR: p.baseDir,
    LOGICAL_DIR: p.logicalDir,
    WAL_DIR: p.walDir,
    WAL_ARCHIVE_MIN_FREE_BYTES: plan.archiveLimits.minFreeBytes,
    WAL_ARCHIVE_MAX_BYTES: plan.archiveLimits.maxBytes ?? 0,
    CONFIG_BACKUP_DIR: p.configDir,
    LOCK_DIR: p.lockDir,
    VERIFY_DIR: p.verifyDir,
    COMPRESS_ARGS: plan.compression.baseBackupArgs,
    DUMP_ARGS: plan.compression.dumpArgs,
    VERIFY_AFTER_BACKUP: plan.verifyAfterBackup ? "yes" : "no",
    INCREMENTAL_FULL_EVERY: plan.incremental?.fullEverySeconds ?? 0,
    VERIFY_TIMEOUT: verifyTimeoutSeconds(plan),
    RETAIN_DAILY_DAYS: plan.retention.dailyDays,
    RETAIN_WEEKLY_WEEKS: plan.retention.weeklyWeeks,
    RETAIN_MONTHS: plan.retention.longTermMonths,
    RETAIN_NEWEST: 1,
    CONFIG_FILES: plan.configFiles,
  };
}
