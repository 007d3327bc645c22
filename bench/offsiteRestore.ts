/**
 * Benchmark 5: point-in-time restore from the object store alone. drkit's `restore-pitr --from-offsite` (the base
 * backup fetched, then each WAL segment fetched by restore_command, sixteen per download) against the manual
 * procedure with a download first: `mc cp --recursive` of the base backup and of the service's whole WAL prefix,
 * then the manual PITR of bench/pitr.ts from the downloaded copies. Both restore the same backup to the same
 * target from the same MinIO on loopback.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { mcBinary, startMinio, type MinioServer } from "../test/helpers/minio";
import type { Sandbox } from "../test/helpers/sandbox";
import { benchTempDir, offsiteSandbox, pgbenchInit, waitArchiverIdle } from "./db";
import { interleave, median, mustExec, onCleanup, progress, round, sleep } from "./lib";
import { checkRestored, fromARestore, manualRestoreScript, prepare, q, timedRestorePitr, type PitrSetup } from "./pitr";
import type { ResultRow, Section } from "./results";

export interface OffsiteRestoreOptions {
  readonly scale: number;
  readonly reps: number;
}

const BUCKET = "drkit-bench-restore";
const STORE = "site-a";

/** The service's objects on the store (keys under its prefix). */
async function storeKeys(minio: MinioServer, sb: Sandbox, under: string): Promise<string[]> {
  const prefix = sb.plan.offsite!.targets[0].prefix;
  const r = await minio.mc(["ls", "--recursive", "--json", `${minio.name}/${BUCKET}/${prefix}${under}`]);
  if (r.status !== 0) throw new Error(`mc ls: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).key as string);
}

/** Waits until the shipper has put every WAL segment up to `last` on the store. */
async function waitShipped(minio: MinioServer, sb: Sandbox, last: string, timeoutMs = 300_000): Promise<void> {
  const t0 = Date.now();
  while (!(await storeKeys(minio, sb, "wal/")).includes(last)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`WAL ${last} was not shipped within ${timeoutMs / 1000}s`);
    await sleep(500);
  }
}

/** The manual procedure with a download first: mc copies the base backup and the WAL, then bench/pitr.ts's steps. */
function manualScript(sb: Sandbox, minio: MinioServer, setup: PitrSetup, download: string): string {
  const [name, value] = Object.entries(minio.mcHostEnv())[0];
  const prefix = `${minio.name}/${BUCKET}/${sb.plan.offsite!.targets[0].prefix}`;
  const config = q(path.join(download, ".mc"));
  const mc = `${name}=${q(value)} MC_CONFIG_DIR=${config} ${q(mcBinary())} cp --quiet --recursive`;
  const fetch = [
    `${mc} ${q(`${prefix}base/${setup.backupId}/`)} ${q(`${download}/base/`)} >/dev/null`,
    `${mc} ${q(`${prefix}wal/`)} ${q(`${download}/wal/`)} >/dev/null`,
    `chown -R ${sb.plan.postgres.osUser}: -- ${q(download)}`,
  ].join("\n");
  const baseTar = path.join(download, "base", path.basename(setup.baseTar));
  return manualRestoreScript(sb, setup, `${sb.plan.postgres.dataDirectory}.manual-aside`, {
    baseTar,
    walDir: path.join(download, "wal"),
    fetch,
  });
}

/**
 * After a restore: the archive, the store and the disk as before it, so every run replays the same WAL on
 * timeline 1 (the restored server archives and ships its new timeline; those objects go too).
 */
async function resetAfterRestore(sb: Sandbox, minio: MinioServer, download: string): Promise<void> {
  await waitArchiverIdle(sb, 120_000);
  // the shipper uploads what the restored server archived; give it a moment, then remove it from both places
  await sleep(2000);
  for (const f of fs.readdirSync(sb.plan.paths.walDir).filter(fromARestore))
    fs.rmSync(path.join(sb.plan.paths.walDir, f), { force: true });
  const prefix = `${minio.name}/${BUCKET}/${sb.plan.offsite!.targets[0].prefix}wal/`;
  for (const key of (await storeKeys(minio, sb, "wal/")).filter(fromARestore)) {
    const r = await minio.mc(["rm", "--quiet", `${prefix}${key}`]);
    if (r.status !== 0) throw new Error(`mc rm ${key}: ${r.stderr}`);
  }
  const parent = path.dirname(sb.plan.postgres.dataDirectory);
  const base = path.basename(sb.plan.postgres.dataDirectory);
  for (const d of fs
    .readdirSync(parent)
    .filter((d) => d.startsWith(`${base}.before-restore-`) || d === `${base}.manual-aside`))
    fs.rmSync(path.join(parent, d), { recursive: true, force: true });
  fs.rmSync(download, { recursive: true, force: true });
}

export async function benchOffsiteRestore(opts: OffsiteRestoreOptions): Promise<Section> {
  const t0 = Date.now();
  progress(
    `restore from the object store: drkit restore-pitr --from-offsite vs mc cp + the manual procedure, pgbench ` +
      `scale ${opts.scale}, ${opts.reps} rounds`,
  );
  const dir = benchTempDir("offsite-restore");
  const minio = await startMinio("benchrestore", { parent: dir });
  onCleanup("minio of the offsite restore benchmark", () => minio.kill());
  const sb = await offsiteSandbox(minio, "offsite-restore", BUCKET, STORE);
  await pgbenchInit(sb, opts.scale);
  const setup = await prepare(sb);
  await waitShipped(minio, sb, setup.lastSegment);
  const shippedWal = (await storeKeys(minio, sb, "wal/")).length;
  progress(
    `offsite restore: ${setup.dbMb} MB, backup ${setup.backupId}, ${setup.replayMb} MB of WAL to replay, ` +
      `${shippedWal} WAL objects on the store, target ${setup.target}`,
  );
  const download = path.join(dir, "download");
  const scriptFile = path.join(dir, "manual-offsite-restore");
  fs.writeFileSync(scriptFile, manualScript(sb, minio, setup, download), { mode: 0o700 });
  const samples = await interleave(
    opts.reps,
    [
      {
        name: "manual",
        run: async () => (await mustExec("bash", [scriptFile])).seconds,
        after: async () => {
          checkRestored(sb, "the manual procedure from the store");
          await resetAfterRestore(sb, minio, download);
        },
      },
      {
        name: "drkit",
        run: () => timedRestorePitr(sb, setup, ["--from-offsite"]),
        after: async () => {
          checkRestored(sb, "restore-pitr --from-offsite");
          await resetAfterRestore(sb, minio, download);
        },
      },
    ],
    "restore from the object store (s)",
  );
  const manual = samples.get("manual")!;
  const drkit = samples.get("drkit")!;
  const row: ResultRow = {
    benchmark: `PITR restore from the object store, pgbench scale ${opts.scale} (${setup.dbMb} MB)`,
    unit: "s",
    baseline: "mc cp --recursive of the base backup and the WAL, then the manual procedure",
    baselineMedian: round(median(manual)),
    drkitMedian: round(median(drkit)),
    ratio: round(median(drkit) / median(manual)),
    notes:
      `extra ${(median(drkit) - median(manual)).toFixed(2)} s; same backup and target from a MinIO on loopback, ` +
      `${setup.replayMb} MB of WAL replayed, ${shippedWal} WAL objects on the store (the manual procedure downloads ` +
      `them all, drkit's restore_command fetches what recovery asks for, sixteen segments per download, the ` +
      `first download during the base backup's extraction); ` +
      `n=${manual.length}`,
  };
  progress(`offsite restore: manual ${row.baselineMedian} s, drkit ${row.drkitMedian} s, ratio ${row.ratio}`);
  return {
    id: "offsite-restore",
    ranAt: new Date(t0).toISOString(),
    seconds: (Date.now() - t0) / 1000,
    options: { ...opts },
    rows: [row],
    details: {
      ...setup,
      shippedWal,
      manualSeconds: manual.map((x) => round(x)),
      drkitSeconds: drkit.map((x) => round(x)),
    },
  };
}
