/**
 * Benchmark 1: drkit's base backup job (rendered backup-base: pg_basebackup, every file of the tars checked
 * against the manifest as a stream, the WAL extracted and parsed by pg_waldump, metadata, fsync, publish by
 * rename) against bare pg_basebackup with the same flags and compression, on the same database; pgBackRest and
 * gzipped pg_basebackup beside them as anchors.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Sandbox } from "../test/helpers/sandbox";
import { gzipBasebackup, pgBackRest } from "./anchors";
import { databaseMb, pgClient, pgOwnedDir, type SandboxPool } from "./db";
import { asUser, directoryMb, interleave, median, mustExec, progress, round, type ExecResult } from "./lib";
import type { ResultRow, Section } from "./results";

export interface BaseOptions {
  readonly scale: number;
  readonly reps: number;
}

/** Where drkit's time goes, from the script's own xtrace timestamps. */
export interface BasePhases {
  readonly startup: number;
  /** pg_basebackup, with the base tar checked while it is written. */
  readonly pgBasebackup: number;
  /** What remains of the base tar's check once pg_basebackup has ended. */
  readonly checkAfter: number;
  readonly extractWal: number;
  /** Other tars, then every file's size and SHA-256 against the manifest. */
  readonly compareManifest: number;
  readonly parseWal: number;
  readonly publish: number;
  readonly removeCopy: number;
}

interface DrkitSample {
  readonly seconds: number;
  readonly phases: BasePhases;
  readonly loggedSeconds: number | null;
}

/** The flags drkit's backup-base passes to pg_basebackup, apart from its label and target. */
function bareBasebackupArgs(sb: Sandbox, target: string): string[] {
  return [
    `--pgdata=${target}`,
    "--format=tar",
    ...sb.plan.compression.baseBackupArgs,
    "--wal-method=stream",
    "--checkpoint=fast",
    "--manifest-checksums=SHA256",
    "--no-password",
  ];
}

async function bareRun(sb: Sandbox, target: string): Promise<number> {
  const [cmd, args] = pgClient(sb, "pg_basebackup", bareBasebackupArgs(sb, target));
  return (await mustExec(cmd, args)).seconds;
}

/**
 * Runs backup-base as the PostgreSQL OS user (as its systemd unit does) with xtrace timestamps on
 * stderr: bash reads SHELLOPTS and PS4 from the environment of a non-root user.
 */
async function drkitRun(sb: Sandbox): Promise<DrkitSample> {
  const trace = { SHELLOPTS: "xtrace", PS4: "+${EPOCHREALTIME} " };
  const [cmd, ...prefix] = asUser(sb.plan.postgres.osUser, trace);
  const r = await mustExec(cmd, [...prefix, sb.script("backup-base")]);
  const logged = /base backup \S+ complete: .* took (\d+)s/.exec(r.stderr);
  return { seconds: r.seconds, phases: phasesFromTrace(r), loggedSeconds: logged ? Number(logged[1]) : null };
}

interface TraceLine {
  readonly at: number;
  readonly command: string;
}

/** xtrace lines `+<epoch> command` (one + per nesting level); continuation lines are dropped. */
function traceLines(stderr: string): TraceLine[] {
  const lines: TraceLine[] = [];
  for (const line of stderr.split("\n")) {
    const m = /^\++(\d+\.\d+) (.*)$/.exec(line);
    if (m) lines.push({ at: Number(m[1]), command: m[2] });
  }
  return lines;
}

/** The phases of one backup-base run, between the commands that start them. */
function phasesFromTrace(r: Pick<ExecResult, "stderr" | "startEpoch" | "endEpoch">): BasePhases {
  const lines = traceLines(r.stderr);
  const index = (re: RegExp, from = 0, nth = 1) => {
    let found = 0;
    for (let i = from; i < lines.length - 1; i++) if (re.test(lines[i].command) && ++found === nth) return i;
    throw new Error(`backup-base trace has no command matching ${re}${nth > 1 ? ` (occurrence ${nth})` : ""}`);
  };
  // basebackup() starts with followed=no, then starts pg_basebackup and the follower in the background (their
  // trace lines may come in either order) and waits for each: the second wait begins once pg_basebackup ended.
  const basebackup = index(/^followed=no$/);
  const waitFollower = index(/^wait \d+$/, basebackup, 2);
  const followed = index(/^followed=yes$/, waitFollower);
  const extractWal = index(/^extract_wal_tar .*pg_wal\.tar/, followed);
  const compare = index(/^compare_manifest /, extractWal);
  const waldump = index(/\/pg_waldump --quiet /, compare);
  const label = index(/^label=/, waldump);
  const removeCopy = index(/^rm -rf -- .*\/\.verify-/, label);
  const at = (i: number) => lines[i].at;
  return {
    startup: at(basebackup) - r.startEpoch,
    pgBasebackup: at(waitFollower) - at(basebackup),
    checkAfter: at(followed) - at(waitFollower),
    extractWal: at(compare) - at(extractWal),
    compareManifest: at(waldump) - at(compare),
    parseWal: at(label) - at(waldump),
    publish: at(removeCopy) - at(label),
    removeCopy: r.endEpoch - at(removeCopy),
  };
}

function removePublishedBackups(sb: Sandbox): void {
  for (const id of fs.readdirSync(sb.plan.paths.baseDir))
    fs.rmSync(path.join(sb.plan.paths.baseDir, id), { recursive: true, force: true });
}

/**
 * The disk the check's WAL takes beside a published backup (the peak disk beyond the backup itself): its WAL tar
 * extracted as backup-base extracts it (lib.sh's extract_wal_tar, sparse), measured in allocated blocks.
 */
function extractedWalMb(sb: Sandbox, dir: string): number {
  const wal = fs.readdirSync(dir).find((f) => f.startsWith("pg_wal.tar"));
  if (!wal) return 0;
  const out = fs.mkdtempSync(path.join(sb.plan.rootPrefix, "bench-wal-"));
  try {
    const lib = path.join(sb.plan.paths.scriptsDir, "lib.sh");
    execFileSync("bash", ["-c", '. "$1"; extract_wal_tar "$2" "$3"', "lib", lib, path.join(dir, wal), out]);
    const bytes = Number(execFileSync("du", ["-s", "--block-size=1", out], { encoding: "utf8" }).split("\t")[0]);
    return round(bytes / 2 ** 20, 3);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const phaseKeys = (p: BasePhases) => Object.keys(p) as (keyof BasePhases)[];
const roundPhases = (p: BasePhases): BasePhases =>
  Object.fromEntries(phaseKeys(p).map((k) => [k, round(p[k])])) as unknown as BasePhases;
const medianPhases = (samples: readonly DrkitSample[]): BasePhases =>
  Object.fromEntries(
    phaseKeys(samples[0].phases).map((k) => [k, round(median(samples.map((s) => s.phases[k])))]),
  ) as unknown as BasePhases;

export async function benchBase(pool: SandboxPool, opts: BaseOptions): Promise<Section> {
  const t0 = Date.now();
  progress(`base backup: drkit backup-base vs bare pg_basebackup, pgbench scale ${opts.scale}, ${opts.reps} rounds`);
  const sb = await pool.acquire(opts.scale);
  const bareRoot = pgOwnedDir(path.join(sb.plan.rootPrefix, "bench-bare-basebackup"), sb.plan.postgres.osUser);
  const bareTarget = path.join(bareRoot, "backup");
  const gzipTarget = path.join(bareRoot, "gzip");
  const backRest = await pgBackRest(sb, bareRoot);
  let bareSize = 0;
  let drkitSize = 0;
  let gzipSize = 0;
  let backRestSize = 0;
  let extractedMb = 0;
  removePublishedBackups(sb);
  const samples = await interleave<number | DrkitSample>(
    opts.reps,
    [
      {
        name: "pg_basebackup",
        run: () => bareRun(sb, bareTarget),
        after: () => {
          bareSize = directoryMb(bareTarget);
          fs.rmSync(bareTarget, { recursive: true, force: true });
        },
      },
      {
        name: "drkit backup-base",
        run: () => drkitRun(sb),
        after: () => {
          const [id] = fs.readdirSync(sb.plan.paths.baseDir);
          drkitSize = directoryMb(path.join(sb.plan.paths.baseDir, id));
          extractedMb = extractedWalMb(sb, path.join(sb.plan.paths.baseDir, id));
          removePublishedBackups(sb);
        },
      },
      {
        name: "pgBackRest full",
        run: () => backRest.backup(),
        after: () => (backRestSize = backRest.newestBackupMb()),
      },
      {
        name: "pg_basebackup -z",
        run: () => gzipBasebackup(sb, gzipTarget),
        after: () => {
          gzipSize = directoryMb(gzipTarget);
          fs.rmSync(gzipTarget, { recursive: true, force: true });
        },
      },
    ],
    "base backup (s)",
  );
  const bare = samples.get("pg_basebackup") as number[];
  const drkit = samples.get("drkit backup-base") as DrkitSample[];
  const anchors: Anchor[] = [
    {
      name: backRest.description,
      seconds: samples.get("pgBackRest full") as number[],
      mb: backRestSize,
    },
    {
      name: "pg_basebackup -z (tar, client-side gzip)",
      seconds: samples.get("pg_basebackup -z") as number[],
      mb: gzipSize,
    },
  ];
  return baseSection(
    opts,
    {
      bare,
      drkit,
      dbMb: databaseMb(sb),
      bareSize,
      drkitSize,
      extractedMb,
      flags: bareBasebackupArgs(sb, "<dir>"),
      anchors,
    },
    t0,
  );
}

/** Another tool's full backup of the same database, reported beside drkit's. */
interface Anchor {
  readonly name: string;
  readonly seconds: readonly number[];
  readonly mb: number;
}

interface BaseMeasurements {
  readonly bare: readonly number[];
  readonly drkit: readonly DrkitSample[];
  readonly dbMb: number;
  readonly bareSize: number;
  readonly drkitSize: number;
  /** What the check extracts beside the backup (its WAL), the peak extra disk. */
  readonly extractedMb: number;
  readonly flags: readonly string[];
  readonly anchors: readonly Anchor[];
}

function baseSection(opts: BaseOptions, m: BaseMeasurements, t0: number): Section {
  const bareMedian = median(m.bare);
  const drkitMedian = median(m.drkit.map((s) => s.seconds));
  const phases = medianPhases(m.drkit);
  const verification =
    phases.checkAfter + phases.extractWal + phases.compareManifest + phases.parseWal + phases.removeCopy;
  const extraDiskPercent = round((100 * m.extractedMb) / m.drkitSize, 1);
  const extra = drkitMedian - bareMedian;
  const row: ResultRow = {
    benchmark: `base backup, pgbench scale ${opts.scale} (${m.dbMb} MB)`,
    unit: "s",
    baseline: "bare pg_basebackup",
    baselineMedian: round(bareMedian),
    drkitMedian: round(drkitMedian),
    ratio: round(drkitMedian / bareMedian),
    notes:
      `extra ${extra.toFixed(2)} s, of which verification ${verification.toFixed(2)} s ` +
      `(base tar's check after pg_basebackup ${phases.checkAfter.toFixed(2)} + extract WAL ` +
      `${phases.extractWal.toFixed(2)} + manifest comparison ${phases.compareManifest.toFixed(2)} + pg_waldump ` +
      `${phases.parseWal.toFixed(2)} + remove WAL copy ${phases.removeCopy.toFixed(2)}); ` +
      `peak extra disk ${m.extractedMb} MB (${extraDiskPercent} % of the backup); ` +
      `pg_basebackup inside drkit, the base tar checked as it is written, ${phases.pgBasebackup.toFixed(2)} s; ` +
      `publish (metadata, fsync, rename) ${phases.publish.toFixed(2)} s; ` +
      `backup ${m.drkitSize} MB (bare ${m.bareSize} MB); n=${m.bare.length}`,
  };
  progress(
    `base backup: bare ${bareMedian.toFixed(2)} s, drkit ${drkitMedian.toFixed(2)} s, ratio ${row.ratio}; ` +
      `verification ${verification.toFixed(2)} s`,
  );
  const anchorRows = m.anchors.map((a): ResultRow => ({
    benchmark: `base backup, pgbench scale ${opts.scale}: drkit beside ${a.name}`,
    unit: "s",
    baseline: a.name,
    baselineMedian: round(median(a.seconds)),
    drkitMedian: round(drkitMedian),
    ratio: round(drkitMedian / median(a.seconds)),
    notes: `an anchor: it does not check its backup as drkit does; its backup ${a.mb} MB; n=${a.seconds.length}`,
  }));
  return {
    id: "base",
    ranAt: new Date(t0).toISOString(),
    seconds: (Date.now() - t0) / 1000,
    options: { ...opts },
    rows: [row, ...anchorRows],
    details: {
      databaseMb: m.dbMb,
      bareFlags: m.flags,
      bareSeconds: m.bare.map((s) => round(s)),
      drkitSeconds: m.drkit.map((s) => round(s.seconds)),
      drkitLoggedSeconds: m.drkit.map((s) => s.loggedSeconds),
      drkitPhaseMedians: phases,
      drkitPhases: m.drkit.map((s) => roundPhases(s.phases)),
      verificationSeconds: round(verification),
      backupMb: { drkit: m.drkitSize, bare: m.bareSize },
      extractedMb: m.extractedMb,
      extraDiskPercent,
      anchors: m.anchors.map((a) => ({ ...a, seconds: a.seconds.map((x) => round(x)) })),
    },
  };
}
