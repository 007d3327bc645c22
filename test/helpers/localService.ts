/**
 * What the tests of a service deployed on this machine (applyServiceLocally) share: stopping the long-running jobs
 * a deployment started, running an agent verb as the PostgreSQL OS user, and archiving a switched WAL segment.
 */
import * as path from "node:path";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import type { MinioServer } from "./minio";
import { psqlAt, runAsync, waitFor, type RunResult } from "./sandbox";

/**
 * A sandbox service `svc` (PostgreSQL 15 on `port`, database `app`, under `root`) shipping to one store, `site-a`,
 * a bucket of `minio`; `archiveEpoch` above 1 starts that archive epoch.
 */
export function shippingSandboxPlan(
  root: string,
  port: number,
  minio: MinioServer,
  bucket: string,
  archiveEpoch = 1,
): ServicePlan {
  return buildPlan(
    {
      hosts: { sandbox: { connection: { type: "local", rootPrefix: root } } },
      services: {
        svc: {
          host: "sandbox",
          postgres: { version: 15, port, databases: ["app"], manager: { type: "pg_ctl" }, provision: true },
          verifyAfterBackup: false,
          offsite: { targets: ["site-a"], retry: { attempts: 2, initialDelay: "1s" } },
          ...(archiveEpoch > 1 ? { archive: { epoch: archiveEpoch } } : {}),
        },
      },
      objectStores: {
        "site-a": {
          type: "minio",
          endpoint: minio.endpoint,
          bucket,
          accessKey: minio.accessKey,
          secretKey: minio.secretKey,
        },
      },
    },
    { baseDir: root },
  ).services[0];
}

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
