import type { JobId, ServicePlan } from "../plan/plan";
import { applySettingsScriptPath, archiveDropInPath, archiveScriptPath, renderApplySettingsScript, renderArchiveDropIn, renderArchiveScript } from "./archiving";
import { renderBaseBackupScript } from "./baseBackup";
import { renderConfigBackupScript } from "./configBackup";
import { renderLogicalBackupScript } from "./logicalBackup";
import { redisScripts, renderRedisApplyScript, renderRedisBackupScript, renderRedisDropIn, renderRedisRestoreScript, renderRedisSandboxScript } from "./redis";
import { cloneStandbyScriptPath, failoverScriptPath, rejoinScriptPath, renderFailoverScript, renderRejoinScript, renderCloneStandbyScript, renderReplicationDropIn, renderSetupReplicationScript, replicationDropInPath, setupReplicationScriptPath } from "./replication";
import { credentialsFileContent, fetchScriptPath, renderFetchScript, renderShipScript } from "./offsite";
import { renderPruneScript } from "./retention";
import { renderRestoreLogicalScript } from "./restoreLogical";
import { renderRestorePitrScript } from "./restorePitr";
import { provisionScriptPath, renderSandboxScript } from "./sandbox";
import { managerFunctions, postgresEnv } from "./shell";
import { renderServiceUnit, renderTimerUnit, serviceUnitPath, timerUnitPath } from "../artifacts/units";
import type { RenderedFile } from "./types";
import { renderVerifyScript } from "./verify";

export type { RenderedFile } from "./types";

export interface BackupDirectory {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
}

/** The backup directories of a service with owner and mode (the seeds' postgresql, wal and config). */
export function backupDirectories(plan: ServicePlan): BackupDirectory[] {
  const owner = plan.postgres.osUser;
  const p = plan.paths;
  return [
    { path: p.backupRoot, mode: "0750", owner },
    { path: `${p.backupRoot}/postgresql`, mode: "0750", owner },
    { path: p.baseDir, mode: "0750", owner },
    { path: p.logicalDir, mode: "0750", owner },
    { path: p.walDir, mode: "0750", owner },
    { path: p.configDir, mode: "0700", owner: "root" },
    { path: p.lockDir, mode: "0770", owner },
    { path: p.verifyDir, mode: "0750", owner },
    ...(plan.redis ? [{ path: plan.redis.backupDir, mode: "0750", owner: plan.redis.osUser }] : []),
    ...(plan.offsite ? [{ path: plan.offsite.markerDir, mode: "0750", owner }] : []),
  ];
}

/**
 * The 0600 credentials files of the off-site targets, readable by the PostgreSQL OS user (archive_command and
 * restore_command run as it). `keys` turns a target's access and secret key into text: the caller decides
 * whether that text is a Pulumi secret.
 */
export function offsiteCredentialFiles(plan: ServicePlan, keys: (target: NonNullable<ServicePlan["offsite"]>["targets"][number]) => { accessKey: string; secretKey: string }): RenderedFile[] {
  return (plan.offsite?.targets ?? []).map((t) => {
    const { accessKey, secretKey } = keys(t);
    return { path: t.credentialsFile, content: credentialsFileContent(t, accessKey, secretKey), mode: "0600", owner: plan.postgres.osUser, group: plan.postgres.osUser, kind: "secret" as const, secret: true };
  });
}

export const restoreScripts = (plan: ServicePlan) => ({
  pitr: `${plan.paths.scriptsDir}/restore-pitr`,
  logical: `${plan.paths.scriptsDir}/restore-logical`,
});

/** Every file drkit places on the service's host, rendered from the plan. */
export function renderServiceFiles(plan: ServicePlan): RenderedFile[] {
  const env = postgresEnv(plan.postgres);
  const manager = managerFunctions(plan.postgres);
  const script = (path: string, content: string): RenderedFile => ({ path, content, mode: "0755", owner: "root", group: "root", kind: "script" });
  const jobScript: Record<JobId, () => string> = {
    base: () => renderBaseBackupScript(plan, { env }),
    logical: () => renderLogicalBackupScript(plan, { env }),
    prune: () => renderPruneScript(plan, { env }),
    verify: () => renderVerifyScript(plan, { env }),
    config: () => renderConfigBackupScript(plan),
    redis: () => renderRedisBackupScript(plan),
    offsite: () => renderShipScript(plan),
  };
  const files: RenderedFile[] = [
    script(archiveScriptPath(plan), renderArchiveScript(plan)),
    script(applySettingsScriptPath(plan), renderApplySettingsScript(plan, { env, manager })),
    script(restoreScripts(plan).pitr, renderRestorePitrScript(plan, { env, manager })),
    script(restoreScripts(plan).logical, renderRestoreLogicalScript(plan, { env })),
  ];
  if (plan.postgres.provision) files.push(script(provisionScriptPath(plan), renderSandboxScript(plan, { env, manager })));
  if (plan.offsite) files.push(script(fetchScriptPath(plan), renderFetchScript(plan)));
  if (plan.replication) {
    files.push(script(setupReplicationScriptPath(plan), renderSetupReplicationScript(plan)), script(failoverScriptPath(plan), renderFailoverScript(plan)), script(rejoinScriptPath(plan), renderRejoinScript(plan)));
  }
  if (plan.redis) {
    files.push(script(redisScripts(plan).apply, renderRedisApplyScript(plan)), script(redisScripts(plan).restore, renderRedisRestoreScript(plan)));
    if (plan.redis.provision) files.push(script(redisScripts(plan).sandbox, renderRedisSandboxScript(plan)));
  }
  for (const job of plan.jobs) {
    files.push(script(job.script, jobScript[job.id]()));
    files.push({ path: serviceUnitPath(plan, job), content: renderServiceUnit(plan, job), mode: "0644", owner: "root", group: "root", kind: "unit" });
    if (job.calendar) {
      files.push({ path: timerUnitPath(plan, job), content: renderTimerUnit(plan, job), mode: "0644", owner: "root", group: "root", kind: "unit" });
    }
  }
  return files;
}

/** Files for the standbys' hosts (each path carries its host's root prefix). */
export function renderStandbyFiles(plan: ServicePlan): Array<RenderedFile & { standby: string }> {
  return (plan.replication?.standbys ?? []).map((standby) => ({
    standby: standby.name,
    path: cloneStandbyScriptPath(plan, standby),
    content: renderCloneStandbyScript(plan, standby),
    mode: "0755",
    owner: "root",
    group: "root",
    kind: "script" as const,
  }));
}

/** The primary's replication drop-in. */
export function renderReplicationDropInFile(plan: ServicePlan): RenderedFile {
  return { path: replicationDropInPath(plan), content: renderReplicationDropIn(plan), mode: "0644", owner: plan.postgres.osUser, group: plan.postgres.osUser, kind: "postgres-conf" };
}

/** The Redis/Valkey persistence drop-in. */
export function renderRedisDropInFile(plan: ServicePlan): RenderedFile {
  if (!plan.redis) throw new Error(`service ${plan.name} has no redis section`);
  return { path: plan.redis.dropIn, content: renderRedisDropIn(plan), mode: "0640", owner: "root", group: plan.redis.osUser, kind: "redis-conf" };
}

/** The PostgreSQL drop-in; placed after the scripts it names exist. */
export function renderPostgresDropIn(plan: ServicePlan): RenderedFile {
  return {
    path: archiveDropInPath(plan),
    content: renderArchiveDropIn(plan),
    mode: "0644",
    owner: plan.postgres.osUser,
    group: plan.postgres.osUser,
    kind: "postgres-conf",
  };
}
