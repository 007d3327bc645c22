/**
 * What the tests of a service deployed on this machine (applyServiceLocally) share: stopping the long-running jobs
 * a deployment started, running an agent verb as the PostgreSQL OS user, and archiving a switched WAL segment.
 */
import * as path from "node:path";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import type { ServicePlan } from "../../components/plan/plan";
import type { MinioServer } from "./minio";
import { psqlAt, runAsync, waitFor, type RunResult } from "./sandbox";

/** Stops what a deployment left running besides PostgreSQL (a long-running job), as its undo would. */
export async function stopDaemons(plan: ServicePlan): Promise<void> {
  const artifacts = serviceArtifacts(plan);
  for (const job of plan.jobs.filter((j) => j.daemon)) {
    const undo = artifacts.step(`step:enable:${job.id}`).undo;
    if (undo) await runAsync("bash", ["-c", undo]);
  }
}

/** Runs an agent verb of the service as the PostgreSQL OS user. */
export const asPostgres = (plan: ServicePlan, verb: string, args: string[] = []): Promise<RunResult> =>
  runAsync("runuser", ["-u", "postgres", "--", path.join(plan.paths.scriptsDir, verb), ...args]);

/** A query on the service's server, through its socket. */
export const serviceSql = (plan: ServicePlan, query: string, db = "app"): string =>
  psqlAt(plan.postgres.socketDirectory, plan.postgres.port, query, db);

/** Switches WAL and waits until PostgreSQL reports that segment archived; returns its name. */
export async function switchAndArchive(plan: ServicePlan): Promise<string> {
  const segment = serviceSql(plan, "SELECT pg_walfile_name(pg_switch_wal())", "postgres");
  const last = () => serviceSql(plan, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", "postgres");
  return waitFor(`archiving of ${segment}`, () => (last() >= segment ? segment : undefined), 60);
}

/** The keys under `prefix` in `bucket` of a MinIO, sorted. */
export async function storeKeys(minio: MinioServer, bucket: string, prefix: string): Promise<string[]> {
  const r = await minio.mc(["ls", "--recursive", "--json", `${minio.name}/${bucket}/${prefix}`]);
  if (r.status !== 0) throw new Error(`mc ls ${bucket}/${prefix} failed: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).key as string)
    .sort();
}
