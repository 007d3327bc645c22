/**
 * Benchmark 3: the archive_command. (a) Cost per 16 MB WAL segment of drkit's rendered archive-wal
 * (checks, temp file, fsync, rename, directory fsync) against a plain `cp`, and against `cp` followed by
 * the same fsyncs; (b) whether archiving and shipping keep up with pgbench -c 8 -j 2 at full speed, on a
 * sandbox that ships to a MinIO on loopback: the archiver's backlog (pg_wal/archive_status/*.ready) and the
 * shipper's (what its slowest store still lacks), sampled every second. archive-wal itself is local only: part
 * (a) never waits on an object store.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { startMinio } from "../test/helpers/minio";
import type { Sandbox } from "../test/helpers/sandbox";
import {
  benchTempDir,
  DATABASE,
  offsiteSandbox,
  pgbenchInit,
  pgClient,
  pgOwnedDir,
  readyCount,
  type SandboxPool,
  shipQueueCount,
  waitArchiverIdle,
  waitShipperIdle,
} from "./db";
import {
  asUser,
  exec,
  interleave,
  median,
  mustExec,
  onCleanup,
  progress,
  round,
  sleep,
  syncDisks,
  troughSlope,
} from "./lib";
import type { ResultRow, Section } from "./results";

export interface ArchiveOptions {
  readonly scale: number;
  readonly reps: number;
  /** Generated 16 MB segments per measured round. */
  readonly segments: number;
  readonly pgbenchSeconds: number;
}

const SEGMENT_BYTES = 16 * 2 ** 20;
/** A timeline no server here uses, so the generated segments never meet real ones in the archive. */
const BENCH_TIMELINE = "0000BEEF";
/** The backlog "grows" when the fitted slope of its troughs exceeds this many segments a second. */
const BACKLOG_SLOPE_LIMIT = 0.05;
/** The troughs are the backlog's minimum in each window of this many seconds. */
const TROUGH_WINDOW_SECONDS = 10;
/** Once pgbench stops, both backlogs must be empty within this many seconds. */
const DRAIN_LIMIT_SECONDS = 10;
/** pgbench's clients and threads for the keep-up run: as many as this machine's full WAL rate needs. */
const KEEP_UP_CLIENTS = 8;
const KEEP_UP_THREADS = 2;
/** pgbench scale of the sandbox the cost per segment is measured on. */
const QUIET_SCALE = 1;

const segmentName = (i: number) => `${BENCH_TIMELINE}00000000${(i + 1).toString(16).toUpperCase().padStart(8, "0")}`;

/**
 * N segment-sized files of random bytes behind a long page header of the sandbox's cluster (so archive-wal reads
 * and checks it as on a real segment), each with its own page address, as the postgres user's.
 */
function generateSegments(dir: string, count: number, owner: number, systemIdentifier: bigint): void {
  const content = randomBytes(SEGMENT_BYTES);
  content.writeUInt16LE(0xd110, 0); // xlp_magic: 0xD1xx in every supported major
  content.writeUInt16LE(0x0002, 2); // xlp_info: XLP_LONG_HEADER
  content.writeUInt32LE(parseInt(BENCH_TIMELINE, 16), 4);
  content.writeUInt32LE(0, 16);
  content.writeBigUInt64LE(systemIdentifier, 24);
  content.writeUInt32LE(SEGMENT_BYTES, 32);
  content.writeUInt32LE(8192, 36);
  for (let i = 0; i < count; i++) {
    content.writeBigUInt64LE(BigInt(i) * BigInt(SEGMENT_BYTES), 8);
    const file = path.join(dir, segmentName(i));
    fs.writeFileSync(file, content, { mode: 0o600 });
    fs.chownSync(file, owner, owner);
  }
}

/**
 * One bash process, as the PostgreSQL OS user, runs `command` for every segment the way PostgreSQL's archiver
 * runs an archive_command: `/bin/sh -c` once per file. In `command` $1 is the segment's path (%p), $2 its name (%f)
 * and $3 is `arg`.
 */
async function loop(sb: Sandbox, src: string, command: string, arg: string): Promise<number> {
  const script = `set -euo pipefail; for f in "$1"/*; do /bin/sh -c "$3" sh "$f" "\${f##*/}" "$2"; done`;
  const [cmd, ...prefix] = asUser(sb.plan.postgres.osUser);
  return (await mustExec(cmd, [...prefix, "bash", "-c", script, "loop", src, arg, command])).seconds;
}

function emptyDir(dir: string, keep: (name: string) => boolean = () => false): void {
  for (const f of fs.readdirSync(dir)) if (!keep(f)) fs.rmSync(path.join(dir, f), { force: true });
  syncDisks();
}

interface PerSegment {
  readonly cp: number;
  readonly cpSync: number;
  readonly drkit: number;
  readonly samples: Record<string, number[]>;
}

async function perSegmentCost(sb: Sandbox, opts: ArchiveOptions): Promise<PerSegment> {
  const dir = benchTempDir("archive");
  const src = pgOwnedDir(path.join(dir, "segments"), sb.plan.postgres.osUser);
  const dest = pgOwnedDir(path.join(dir, "cp"), sb.plan.postgres.osUser);
  progress(`archive: generating ${opts.segments} segments of 16 MB`);
  const systemIdentifier = BigInt(sb.sql("SELECT system_identifier FROM pg_control_system()"));
  generateSegments(src, opts.segments, fs.statSync(src).uid, systemIdentifier);
  const walDir = sb.plan.paths.walDir;
  // ours: the segments, archive-wal's temp files (.<name>.XXXXXX) and queue entries (.to-ship.<name>)
  const notOurs = (name: string) => !name.replace(/^\.(to-ship\.)?/, "").startsWith(BENCH_TIMELINE);
  const perSegmentMs = (seconds: number) => (seconds * 1000) / opts.segments;
  const samples = await interleave(
    opts.reps,
    [
      {
        name: "cp",
        run: async () => perSegmentMs(await loop(sb, src, 'cp -- "$1" "$3/$2"', dest)),
        after: () => emptyDir(dest),
      },
      {
        name: "cp + sync",
        run: async () => perSegmentMs(await loop(sb, src, 'cp -- "$1" "$3/$2" && sync -- "$3/$2" "$3"', dest)),
        after: () => emptyDir(dest),
      },
      {
        name: "drkit archive-wal",
        run: async () => perSegmentMs(await loop(sb, src, '"$3" "$1" "$2"', sb.script("archive-wal"))),
        after: () => emptyDir(walDir, notOurs),
      },
    ],
    "archive per segment (ms)",
  );
  fs.rmSync(src, { recursive: true, force: true });
  const m = (name: string) => median(samples.get(name)!);
  return { cp: m("cp"), cpSync: m("cp + sync"), drkit: m("drkit archive-wal"), samples: Object.fromEntries(samples) };
}

interface BacklogSample {
  readonly t: number;
  /** Segments waiting for archive_command. */
  readonly ready: number;
  /** Archived files waiting for the shipper. */
  readonly queued: number;
}

interface KeepUp {
  readonly samples: readonly BacklogSample[];
  readonly max: number;
  readonly maxQueued: number;
  /** How long the backlogs were sampled (first to last sample). */
  readonly sampledSeconds: number;
  /** null: sampled for too few windows to tell (a run that short cannot pass). */
  readonly troughSlope: number | null;
  readonly queueTroughSlope: number | null;
  readonly walSegmentsPerSecond: number;
  readonly archivedDuringRun: number;
  readonly failedDuringRun: number;
  readonly drainSeconds: number;
  readonly tps: number | null;
  readonly pass: boolean;
}

const archiverCounts = (sb: Sandbox) =>
  sb.sql("SELECT archived_count || ' ' || failed_count FROM pg_stat_archiver").split(" ").map(Number);

/** Samples the backlog once a second while `running` is pending. */
async function sampleBacklog(sb: Sandbox, running: Promise<unknown>): Promise<BacklogSample[]> {
  let done = false;
  void running.finally(() => (done = true));
  const samples: BacklogSample[] = [];
  const t0 = Date.now();
  for (let tick = 1; !done; tick++) {
    await Promise.race([sleep(t0 + tick * 1000 - Date.now()), running.catch(() => undefined)]);
    if (!done) samples.push({ t: (Date.now() - t0) / 1000, ready: readyCount(sb), queued: shipQueueCount(sb) });
  }
  return samples;
}

const backlogTroughSlope = (samples: readonly BacklogSample[], of: (s: BacklogSample) => number) =>
  troughSlope(
    samples.map((s) => s.t),
    samples.map(of),
    TROUGH_WINDOW_SECONDS,
  );

async function keepsUp(sb: Sandbox, opts: ArchiveOptions): Promise<KeepUp> {
  await waitArchiverIdle(sb);
  await waitShipperIdle(sb);
  progress(
    `archive: pgbench -c ${KEEP_UP_CLIENTS} -j ${KEEP_UP_THREADS} for ${opts.pgbenchSeconds} s with drkit's ` +
      `archive_command and shipper, both backlogs sampled every second`,
  );
  const lsn0 = sb.sql("SELECT pg_current_wal_lsn()");
  const [archived0, failed0] = archiverCounts(sb);
  const [cmd, args] = pgClient(sb, "pgbench", [
    "-n",
    "-c",
    String(KEEP_UP_CLIENTS),
    "-j",
    String(KEEP_UP_THREADS),
    "-T",
    String(opts.pgbenchSeconds),
    DATABASE,
  ]);
  const run = exec(cmd, args);
  const samples = await sampleBacklog(sb, run);
  const result = await run;
  if (result.status !== 0) throw new Error(`pgbench failed:\n${result.stderr}`);
  const walBytes = Number(sb.sql(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn0}')`));
  const [archived1, failed1] = archiverCounts(sb);
  const drainSeconds = (await waitArchiverIdle(sb)) + (await waitShipperIdle(sb));
  const sampledSeconds = samples.length ? samples[samples.length - 1].t - samples[0].t : 0;
  const fitted = backlogTroughSlope(samples, (s) => s.ready);
  const fittedQueue = backlogTroughSlope(samples, (s) => s.queued);
  const grows = (fittedSlope: number | null) => fittedSlope === null || fittedSlope > BACKLOG_SLOPE_LIMIT;
  const tps = /tps = ([0-9.]+)/.exec(result.stdout);
  return {
    samples,
    max: Math.max(0, ...samples.map((s) => s.ready)),
    maxQueued: Math.max(0, ...samples.map((s) => s.queued)),
    sampledSeconds: round(sampledSeconds, 1),
    troughSlope: fitted === null ? null : round(fitted, 4),
    queueTroughSlope: fittedQueue === null ? null : round(fittedQueue, 4),
    walSegmentsPerSecond: round(walBytes / SEGMENT_BYTES / result.seconds, 3),
    archivedDuringRun: archived1 - archived0,
    failedDuringRun: failed1 - failed0,
    drainSeconds: round(drainSeconds, 1),
    tps: tps ? round(Number(tps[1]), 0) : null,
    pass: !grows(fitted) && !grows(fittedQueue) && drainSeconds <= DRAIN_LIMIT_SECONDS && failed1 === failed0,
  };
}

/** A sandbox of the scale that archives and ships to a MinIO on loopback, for the keep-up run. */
async function shippingSandbox(scale: number): Promise<Sandbox> {
  const dir = benchTempDir("archive-store");
  const minio = await startMinio("benchkeepup", { parent: dir });
  onCleanup("minio of the archive benchmark", () => minio.kill());
  const sb = await offsiteSandbox(minio, "archive-keep-up", "drkit-bench-keep-up", "site-a");
  await pgbenchInit(sb, scale);
  await waitShipperIdle(sb);
  return sb;
}

function rows(opts: ArchiveOptions, seg: PerSegment, k: KeepUp): ResultRow[] {
  const capacity = 1000 / seg.drkit;
  const n = `${opts.segments} segments × ${opts.reps} rounds`;
  return [
    {
      benchmark: "archive_command per 16 MB WAL segment",
      unit: "ms/segment",
      baseline: "cp",
      baselineMedian: round(seg.cp, 2),
      drkitMedian: round(seg.drkit, 2),
      ratio: round(seg.drkit / seg.cp),
      notes:
        `drkit writes a temp file, fsyncs it, renames it into place (never replacing) and fsyncs the directory; ` +
        `cp does not fsync; each run as PostgreSQL runs archive_command (/bin/sh -c, once per segment); ${n}`,
    },
    {
      benchmark: "archive_command per 16 MB WAL segment, durable baseline",
      unit: "ms/segment",
      baseline: "cp + sync of file and directory",
      baselineMedian: round(seg.cpSync, 2),
      drkitMedian: round(seg.drkit, 2),
      ratio: round(seg.drkit / seg.cpSync),
      notes:
        `the cost of drkit's checks (name, the archive's owner in the page header, free space, existing ` +
        `file) and of its temp file and rename over the same fsyncs; no network; ${n}`,
    },
    {
      benchmark:
        `archiving and shipping keep up with pgbench -c ${KEEP_UP_CLIENTS} -j ${KEEP_UP_THREADS} for ` +
        `${opts.pgbenchSeconds} s (scale ${opts.scale}, MinIO on loopback)`,
      unit: "segments",
      baseline: null,
      baselineMedian: null,
      drkitMedian: Math.max(k.max, k.maxQueued),
      ratio: null,
      notes:
        `${k.pass ? "PASS" : "FAIL"}: ` +
        (k.troughSlope === null || k.queueTroughSlope === null
          ? `too short to judge (sampled ${k.sampledSeconds} s, 3 windows of ${TROUGH_WINDOW_SECONDS} s needed), `
          : "") +
        `max backlog ${k.max} .ready and ${k.maxQueued} queued for the shipper, ` +
        `slopes of their troughs (minimum per ${TROUGH_WINDOW_SECONDS} s) ${k.troughSlope} and ` +
        `${k.queueTroughSlope} segments/s (limit ${BACKLOG_SLOPE_LIMIT}), both drained ${k.drainSeconds} s after ` +
        `pgbench stopped (limit ${DRAIN_LIMIT_SECONDS} s), ${k.failedDuringRun} archive failures; WAL ` +
        `${k.walSegmentsPerSecond} segments/s at ${k.tps ?? "?"} tps vs archive capacity ${capacity.toFixed(1)} ` +
        `segments/s (1 / drkit's cost per segment)`,
    },
  ];
}

export async function benchArchive(pool: SandboxPool, opts: ArchiveOptions): Promise<Section> {
  const t0 = Date.now();
  progress(
    `archive: drkit archive-wal vs cp per segment, then pgbench -c ${KEEP_UP_CLIENTS} with archiving and ` +
      `shipping (scale ${opts.scale})`,
  );
  // The cost per segment does not depend on the database, and a server just filled at scale 50 keeps writing in
  // the background for minutes (rounds of archive-wal took 22 or 35-40 ms there, by when they ran): the
  // smallest database keeps the server quiet. The keep-up run below is at the asked scale.
  const sb = await pool.acquire(QUIET_SCALE);
  const seg = await perSegmentCost(sb, opts);
  progress(
    `archive: cp ${seg.cp.toFixed(1)} ms, cp + sync ${seg.cpSync.toFixed(1)} ms, drkit ${seg.drkit.toFixed(1)} ` +
      `ms per segment`,
  );
  const k = await keepsUp(await shippingSandbox(opts.scale), opts);
  const result = rows(opts, seg, k);
  progress(`archive: ${result[2].notes}`);
  return {
    id: "archive",
    ranAt: new Date(t0).toISOString(),
    seconds: (Date.now() - t0) / 1000,
    options: { ...opts },
    rows: result,
    details: {
      perSegmentMs: Object.fromEntries(Object.entries(seg.samples).map(([k2, v]) => [k2, v.map((x) => round(x, 2))])),
      keepUp: { ...k, samples: k.samples.map((s) => [round(s.t, 1), s.ready, s.queued]) },
    },
  };
}
