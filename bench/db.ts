/**
 * Sandboxed PostgreSQL servers for the benchmarks: the integration tests' sandbox (drkit's rendered
 * files applied to a real PostgreSQL 15), filled by pgbench, destroyed on exit.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { toolchainBin } from "../test/helpers/engine";
import type { MinioServer } from "../test/helpers/minio";
import { startSandbox, tempRoot, type Sandbox } from "../test/helpers/sandbox";
import { asUser, mustExec, onCleanup, progress, sleep } from "./lib";

export const DATABASE = "app";

/** A sandbox with drkit's files applied; destroyed when the run ends, however it ends. */
async function benchSandbox(label: string): Promise<Sandbox & { dispose: () => void }> {
  progress(`starting a PostgreSQL sandbox (${label})`);
  const sb = await startSandbox({ label: `bench-${label}`, databases: [DATABASE] });
  const dispose = onCleanup(`sandbox ${label}`, () => sb.destroy());
  return { ...sb, dispose };
}

/**
 * A sandbox whose base backups and WAL go to a MinIO on loopback, the shipper running (no encryption: the manual
 * baselines have none); destroyed when the run ends.
 */
export async function offsiteSandbox(
  minio: MinioServer,
  label: string,
  bucket: string,
  store: string,
): Promise<Sandbox> {
  const mb = await minio.mc(["mb", `${minio.name}/${bucket}`]);
  if (mb.status !== 0) throw new Error(`mc mb: ${mb.stderr}`);
  // the sandbox places the mc it finds on PATH: the toolchain's
  const bin = toolchainBin();
  if (!(process.env.PATH ?? "").split(":").includes(bin)) process.env.PATH = `${bin}:${process.env.PATH ?? ""}`;
  progress(`starting a PostgreSQL sandbox shipping to MinIO (${label})`);
  const sb = await startSandbox({
    label: `bench-${label}`,
    databases: [DATABASE],
    service: { offsite: { targets: [store], retry: { attempts: 2, initialDelay: "1s" } } },
    objectStores: {
      [store]: {
        type: "minio",
        endpoint: minio.endpoint,
        bucket,
        accessKey: minio.accessKey,
        secretKey: minio.secretKey,
      },
    },
  });
  onCleanup(`sandbox ${label}`, () => sb.destroy());
  return sb;
}

/** A temp directory (mode 0755, owned by the PostgreSQL OS user), removed when the run ends. */
export function benchTempDir(label: string, owner = "postgres"): string {
  const dir = tempRoot(`bench-${label}`);
  fs.chownSync(dir, uid(owner), gid(owner));
  onCleanup(`temp dir ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const idOf = (flag: "-u" | "-g", user: string) => Number(execFileSync("id", [flag, user], { encoding: "utf8" }).trim());
const uid = (user: string) => idOf("-u", user);
const gid = (user: string) => idOf("-g", user);

/** Creates a directory owned by the PostgreSQL OS user (pg_basebackup and cp loops write there as it). */
export function pgOwnedDir(dir: string, owner: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chownSync(dir, uid(owner), gid(owner));
  return dir;
}

/** argv for a PostgreSQL client program as the service's OS user against the sandbox server. */
export function pgClient(sb: Sandbox, program: string, args: readonly string[]): [string, string[]] {
  const pg = sb.plan.postgres;
  const env = { PGHOST: pg.socketDirectory, PGPORT: String(pg.port), PGUSER: pg.role };
  const [cmd, ...prefix] = asUser(pg.osUser, env);
  return [cmd, [...prefix, path.join(pg.binDirectory, program), ...args]];
}

/** pgbench -i with server-side data generation (the fastest initialisation), then a checkpoint. */
export async function pgbenchInit(sb: Sandbox, scale: number): Promise<void> {
  progress(`pgbench -i -s ${scale} (about ${Math.round(scale * 15)} MB)`);
  const [cmd, args] = pgClient(sb, "pgbench", ["-i", "-I", "dtGvp", "-s", String(scale), DATABASE]);
  await mustExec(cmd, args);
  sb.sql("CHECKPOINT");
  await waitArchiverIdle(sb);
  progress(`database ${DATABASE} is ${databaseMb(sb)} MB`);
}

export const databaseMb = (sb: Sandbox) =>
  Math.round(Number(sb.sql(`SELECT pg_database_size('${DATABASE}')`)) / 2 ** 20);

/** WAL segments the server has finished but not yet archived (pg_wal/archive_status/*.ready). */
export function readyCount(sb: Sandbox): number {
  const dir = path.join(sb.plan.postgres.dataDirectory, "pg_wal", "archive_status");
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith(".ready")).length;
  } catch {
    return 0;
  }
}

/**
 * Archived WAL files the shipper has not yet put on its slowest store: the entries archive-wal leaves in the archive
 * (.to-ship.<name>) that the shipper has not taken in yet, and the longest of its per-store queues
 * (<markerDir>/<store>/wal-queue), where an entry stays until that store holds the file.
 */
export function shipQueueCount(sb: Sandbox): number {
  const entries = (dir: string, keep: (name: string) => boolean = () => true) => {
    try {
      return fs.readdirSync(dir).filter(keep).length;
    } catch {
      return 0;
    }
  };
  const offsite = sb.plan.offsite;
  const intake = entries(sb.plan.paths.walDir, (f) => f.startsWith(".to-ship."));
  const queues = (offsite?.targets ?? []).map((t) => entries(path.join(offsite!.markerDir, t.store, "wal-queue")));
  return intake + Math.max(0, ...queues);
}

/** Waits until `count()` is 0 (what waits, for the error); returns the seconds waited. */
async function waitUntilNone(count: () => number, what: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (count() > 0) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${count()} ${what} after ${timeoutMs / 1000}s`);
    await sleep(200);
  }
  return (Date.now() - t0) / 1000;
}

/** Waits until the archiver has no backlog, so a measurement does not compete with it. */
export const waitArchiverIdle = (sb: Sandbox, timeoutMs = 600_000): Promise<number> =>
  waitUntilNone(() => readyCount(sb), "segments still wait for the archiver", timeoutMs);

/** Waits until the shipper has put everything archived on its stores (shipQueueCount). */
export const waitShipperIdle = (sb: Sandbox, timeoutMs = 600_000): Promise<number> =>
  waitUntilNone(() => shipQueueCount(sb), "archived files still wait for the shipper", timeoutMs);

/** Switches to a new WAL segment and waits until the one holding everything so far is archived; returns its name. */
export async function switchAndWaitArchived(sb: Sandbox, timeoutMs = 60_000): Promise<string> {
  const segment = sb.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
  sb.sql("SELECT pg_switch_wal()");
  const file = path.join(sb.plan.paths.walDir, segment);
  const t0 = Date.now();
  while (!fs.existsSync(file)) {
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`WAL segment ${segment} was not archived within ${timeoutMs / 1000}s`);
    await sleep(100);
  }
  return segment;
}

/**
 * One initialised sandbox per pgbench scale, shared by the benchmarks that run in sequence on the
 * same data (base backup, then archiving, then the PITR size of the same scale).
 */
export class SandboxPool {
  private readonly sandboxes = new Map<number, Promise<Sandbox & { dispose: () => void }>>();

  acquire(scale: number): Promise<Sandbox & { dispose: () => void }> {
    let sb = this.sandboxes.get(scale);
    if (!sb) {
      sb = benchSandbox(`s${scale}`).then(async (s) => {
        await pgbenchInit(s, scale);
        return s;
      });
      this.sandboxes.set(scale, sb);
    }
    return sb;
  }

  /** Stops and removes a scale's sandbox now (idle servers add noise to later measurements). */
  async discard(scale: number): Promise<void> {
    const sb = this.sandboxes.get(scale);
    this.sandboxes.delete(scale);
    if (sb) (await sb).dispose();
  }
}
