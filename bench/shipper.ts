/**
 * Benchmark 4: the WAL shipper. N archived 16 MB segments, queued as archive-wal leaves them, uploaded by one
 * `shipper run`-style pass (`shipper once`, as the PostgreSQL OS user) to a MinIO on loopback, against `mc mirror`
 * of the same files into another prefix of the same bucket, with and without `--checksum SHA256`, at the same
 * parallelism. No PostgreSQL: the shipper reads only the archive, its queue and drkit's rendered settings.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startMinio, type MinioServer } from "../test/helpers/minio";
import { shipperHost, type ShipperHost } from "../test/helpers/shipperHost";
import { benchTempDir } from "./db";
import { asUser, cpuSeconds, interleave, median, mustExec, onCleanup, progress, round, syncDisks } from "./lib";
import type { ResultRow, Section } from "./results";

export interface ShipperOptions {
  readonly reps: number;
  /** Segments queued per measured round. */
  readonly segments: number;
  /** Size of each generated segment (16 MB, as PostgreSQL's; smaller only for the test suite's smoke run). */
  readonly segmentBytes: number;
}

export const SEGMENT_BYTES = 16 * 2 ** 20;

const segmentName = (i: number) => `0000000100000000${(i + 1).toString(16).toUpperCase().padStart(8, "0")}`;

/** The objects under a key prefix of the store (as root, through the server's own mc configuration). */
async function objectCount(minio: MinioServer, location: string): Promise<number> {
  const r = await minio.mc(["ls", "--recursive", "--json", `${minio.name}/${location}`]);
  if (r.status !== 0) throw new Error(`mc ls ${location} failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l.includes('"key"')).length;
}

async function removeObjects(minio: MinioServer, location: string): Promise<void> {
  const r = await minio.mc(["rm", "--recursive", "--force", `${minio.name}/${location}`]);
  if (r.status !== 0) throw new Error(`mc rm ${location} failed: ${r.stderr}`);
  syncDisks();
}

/** After a round: the store holds every segment under `location`; then it is emptied for the next round. */
async function checkAndEmpty(minio: MinioServer, location: string, expected: number, who: string): Promise<void> {
  const count = await objectCount(minio, location);
  if (count !== expected) throw new Error(`${who} left ${count} objects under ${location}, expected ${expected}`);
  await removeObjects(minio, location);
}

/** The segments, random bytes with distinct first bytes, in the host's archive, owned by the PostgreSQL user. */
function generateSegments(host: ShipperHost, opts: ShipperOptions): string[] {
  const { uid, gid } = fs.statSync(host.walDir);
  const content = randomBytes(opts.segmentBytes);
  const names: string[] = [];
  for (let i = 0; i < opts.segments; i++) {
    content.writeUInt32BE(i, 0);
    const file = path.join(host.walDir, segmentName(i));
    fs.writeFileSync(file, content, { mode: 0o600 });
    fs.chownSync(file, uid, gid);
    names.push(segmentName(i));
  }
  return names;
}

/** Median CPU time of a round, per segment (ms): the store's, and the client's (every process the round ran). */
interface CpuPerSegment {
  readonly store: number;
  readonly client: number;
}

interface Medians {
  readonly shipper: number;
  readonly mirror: number;
  readonly mirrorChecksum: number;
  readonly samples: Record<string, number[]>;
  readonly parallel: number;
  readonly cpu: Record<string, CpuPerSegment>;
}

const SHIPPER = "drkit shipper once";
const MIRROR = "mc mirror";
const MIRROR_CHECKSUM = "mc mirror --checksum SHA256";

/**
 * Wraps a round so that the CPU time it cost is recorded: the store's (its server process) and the client's (the
 * commands this process ran and waited for). The warm-up round is recorded too and left out by the caller.
 */
function metered(minio: MinioServer, into: CpuPerSegment[], segments: number, run: () => Promise<number>) {
  return async () => {
    const pid = minio.pid();
    if (pid === undefined) throw new Error("the MinIO of the shipper benchmark is not running");
    const store = cpuSeconds(pid, "own");
    const client = cpuSeconds("self", "reaped children");
    const seconds = await run();
    const perSegment = (s: number) => (s * 1000) / segments;
    into.push({
      store: perSegment(cpuSeconds(pid, "own") - store),
      client: perSegment(cpuSeconds("self", "reaped children") - client),
    });
    return seconds;
  };
}

function medianCpu(rounds: readonly CpuPerSegment[]): CpuPerSegment {
  const recorded = rounds.slice(1);
  return { store: median(recorded.map((c) => c.store)), client: median(recorded.map((c) => c.client)) };
}

async function measure(dir: string, minio: MinioServer, host: ShipperHost, opts: ShipperOptions): Promise<Medians> {
  progress(`shipper: generating ${opts.segments} segments of ${opts.segmentBytes} bytes`);
  const names = generateSegments(host, opts);
  // mc mirror reads a folder of its own holding the same files (hard links: the same inodes, the same cache)
  const source = path.join(dir, "mirror-source");
  fs.mkdirSync(source, { mode: 0o755 });
  for (const name of names) fs.linkSync(path.join(host.walDir, name), path.join(source, name));
  // the generated files reach the disk before any round, not during the first ones
  syncDisks();
  const user = host.plan.postgres.osUser;
  const offsite = host.plan.offsite!;
  const target = offsite.targets[0];
  const mcConfig = path.join(dir, "mc-config");
  fs.mkdirSync(mcConfig, { mode: 0o700 });
  const { uid, gid } = fs.statSync(host.walDir);
  fs.chownSync(mcConfig, uid, gid);
  // credentials in the environment, never on a command line (runuser passes the environment on)
  const mcEnv = {
    [`MC_HOST_${target.alias}`]: minio.mcHostEnv()[`MC_HOST_${minio.name}`],
    MC_CONFIG_DIR: mcConfig,
    MC_DISABLE_PAGER: "1",
    MC_NO_COLOR: "1",
  };
  const [runuser, ...asPg] = asUser(user);
  const walLocation = `${host.location}wal/`;
  const mirrorLocation = `${host.bucket}/mirror/`;
  const mirror = (extra: string[]) => async () =>
    (
      await mustExec(
        runuser,
        [
          ...asPg,
          offsite.mc,
          "mirror",
          "--quiet",
          "--max-workers",
          String(offsite.parallel),
          ...extra,
          source,
          `${target.alias}/${mirrorLocation}`,
        ],
        { env: mcEnv },
      )
    ).seconds;
  const [shipperCmd, shipperArgs] = host.shipperCommand("once");
  const cpu = new Map<string, CpuPerSegment[]>([SHIPPER, MIRROR, MIRROR_CHECKSUM].map((n) => [n, []]));
  const meter = (name: string, run: () => Promise<number>) => metered(minio, cpu.get(name)!, names.length, run);
  const samples = await interleave(
    opts.reps,
    [
      {
        name: SHIPPER,
        run: meter(SHIPPER, async () => {
          for (const name of names) host.queue(name);
          return (await mustExec(shipperCmd, shipperArgs, { env: host.env })).seconds;
        }),
        after: async () => {
          const left = host.pending();
          if (left.length > 0) throw new Error(`the shipper left ${left.length} entries queued: ${left.join(" ")}`);
          await checkAndEmpty(minio, walLocation, names.length, "the shipper");
        },
      },
      {
        name: MIRROR,
        run: meter(MIRROR, mirror([])),
        after: () => checkAndEmpty(minio, mirrorLocation, names.length, MIRROR),
      },
      {
        name: MIRROR_CHECKSUM,
        run: meter(MIRROR_CHECKSUM, mirror(["--checksum", "SHA256"])),
        after: () => checkAndEmpty(minio, mirrorLocation, names.length, MIRROR_CHECKSUM),
      },
    ],
    `shipper, ${opts.segments} segments (s)`,
  );
  const m = (name: string) => median(samples.get(name)!);
  return {
    shipper: m(SHIPPER),
    mirror: m(MIRROR),
    mirrorChecksum: m(MIRROR_CHECKSUM),
    samples: Object.fromEntries([...samples].map(([k, v]) => [k, v.map((x) => round(x, 3))])),
    parallel: offsite.parallel,
    cpu: Object.fromEntries([...cpu].map(([k, v]) => [k, medianCpu(v)])),
  };
}

const sizeLabel = (bytes: number) =>
  bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MB` : bytes % 1024 === 0 ? `${bytes / 1024} kB` : `${bytes} bytes`;

function rows(opts: ShipperOptions, m: Medians): ResultRow[] {
  // Rates and ratios come from the seconds as the samples report them (rounded to ms), so they can be checked against
  // them: with a smoke run's few milliseconds the rounding alone moves a ratio by more than 0.05.
  const ms = (seconds: number) => round(seconds, 3);
  const rate = (seconds: number) => (opts.segments / ms(seconds)).toFixed(1);
  const what = `WAL shipping, ${opts.segments} × ${sizeLabel(opts.segmentBytes)} segments to MinIO on loopback`;
  const n = `${opts.segments} segments × ${opts.reps} rounds`;
  const cpus = os.cpus().length;
  const cpuOf = (name: string) => {
    const c = m.cpu[name];
    const ceiling = (cpus * 1000) / (c.store + c.client);
    return (
      `CPU per segment: MinIO ${c.store.toFixed(0)} ms, client ${c.client.toFixed(0)} ms, so ${cpus} CPUs allow at ` +
      `most ${ceiling.toFixed(1)} segments/s`
    );
  };
  const drkit =
    `drkit ${rate(m.shipper)} segments/s: one pass takes the queue, lists the store once, uploads the files in one ` +
    `mc cp --checksum SHA256 --max-workers ${m.parallel} while OpenSSL hashes them beside it, and reads every ` +
    `checksum back (one mc stat)`;
  return [
    {
      benchmark: what,
      unit: "s",
      baseline: `mc mirror --max-workers ${m.parallel}`,
      baselineMedian: round(m.mirror, 2),
      drkitMedian: round(m.shipper, 2),
      ratio: round(ms(m.shipper) / ms(m.mirror)),
      notes:
        `${drkit} (${cpuOf(SHIPPER)}); mc mirror ${rate(m.mirror)} segments/s, no checksum (${cpuOf(MIRROR)}); ` + n,
    },
    {
      benchmark: `${what}, checksummed baseline`,
      unit: "s",
      baseline: `mc mirror --checksum SHA256 --max-workers ${m.parallel}`,
      baselineMedian: round(m.mirrorChecksum, 2),
      drkitMedian: round(m.shipper, 2),
      ratio: round(ms(m.shipper) / ms(m.mirrorChecksum)),
      notes:
        `the same SHA256 checked by the store; what remains is drkit's listing, local hashing and read-back: ` +
        `mc mirror --checksum ${rate(m.mirrorChecksum)} segments/s (${cpuOf(MIRROR_CHECKSUM)}) vs drkit ` +
        `${rate(m.shipper)}; ${n}`,
    },
  ];
}

export async function benchShipper(opts: ShipperOptions): Promise<Section> {
  const t0 = Date.now();
  progress(`shipper: drkit's shipper vs mc mirror, ${opts.segments} segments, MinIO on loopback`);
  const dir = benchTempDir("shipper", "root");
  const minio = await startMinio("bench", { parent: dir });
  onCleanup("minio of the shipper benchmark", () => minio.kill());
  const host = await shipperHost(minio, { label: "host", parent: dir });
  const m = await measure(dir, minio, host, opts);
  const result = rows(opts, m);
  progress(
    `shipper: drkit ${m.shipper.toFixed(2)} s, mc mirror ${m.mirror.toFixed(2)} s, mc mirror --checksum ` +
      `${m.mirrorChecksum.toFixed(2)} s for ${opts.segments} segments`,
  );
  return {
    id: "shipper",
    ranAt: new Date(t0).toISOString(),
    seconds: (Date.now() - t0) / 1000,
    options: { ...opts },
    rows: result,
    details: { seconds: m.samples, parallel: m.parallel, cpuMsPerSegment: m.cpu },
  };
}
