/**
 * drkit benchmarks: each of drkit's jobs as a ratio of the bare tool on the same data in the same run.
 *
 *   tsx bench/run.ts [--only base|pitr|archive|shipper|offsite-restore] [--scale N] [--reps N]
 *                    [--pitr-scales A,B,C] [--restore-scale N] [--segments N] [--pgbench-seconds N]
 *                    [--ship-segments N] [--results-dir DIR]
 *
 * Writes bench/results.md and bench/results.json. Runs as root (PostgreSQL runs as `postgres`).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { benchArchive, type ArchiveOptions } from "./archive";
import { benchBase, type BaseOptions } from "./base";
import { SandboxPool } from "./db";
import { cleanupAll, installExitHandlers, progress, round } from "./lib";
import { benchOffsiteRestore, type OffsiteRestoreOptions } from "./offsiteRestore";
import { benchPitr, type PitrOptions } from "./pitr";
import { BENCH_IDS, markdownTable, writeResults, type BenchId, type Section } from "./results";
import { benchShipper, SEGMENT_BYTES, type ShipperOptions } from "./shipper";

export interface RunOptions {
  readonly only: readonly BenchId[];
  /** Where results.md and results.json go (default: bench/ itself). */
  readonly resultsDir?: string;
  readonly base: BaseOptions;
  readonly pitr: PitrOptions;
  readonly archive: ArchiveOptions;
  readonly shipper: ShipperOptions;
  readonly offsiteRestore: OffsiteRestoreOptions;
}

const USAGE =
  "usage: tsx bench/run.ts [--only base|pitr|archive|shipper|offsite-restore] [--scale N] [--reps N] " +
  "[--pitr-scales A,B,C] [--restore-scale N] [--segments N] [--pgbench-seconds N] [--ship-segments N] " +
  "[--results-dir DIR]";

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--${name} must be a whole number of at least 1, got '${value}'\n${USAGE}`);
  return n;
}

/** PITR sizes: a tenth of the scale, two fifths of it and the scale itself (5, 20, 50 for 50). */
const defaultPitrScales = (scale: number) => [
  ...new Set([Math.max(1, Math.round(scale / 10)), Math.max(1, Math.round(scale * 0.4)), scale]),
];

function parseOptions(argv: readonly string[]): RunOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: "string", multiple: true },
      scale: { type: "string" },
      reps: { type: "string" },
      "pitr-scales": { type: "string" },
      "restore-scale": { type: "string" },
      segments: { type: "string" },
      "pgbench-seconds": { type: "string" },
      "ship-segments": { type: "string" },
      "results-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = (values.only ?? [...BENCH_IDS]).flatMap((o) => o.split(","));
  for (const o of only)
    if (!BENCH_IDS.includes(o as BenchId))
      throw new Error(`--only must be one of ${BENCH_IDS.join(", ")}, got '${o}'\n${USAGE}`);
  const scale = positiveInt("scale", values.scale, 50);
  const reps = positiveInt("reps", values.reps, 5);
  const pitrScales =
    values["pitr-scales"]?.split(",").map((s) => positiveInt("pitr-scales", s, 1)) ?? defaultPitrScales(scale);
  return {
    only: BENCH_IDS.filter((id) => only.includes(id)),
    resultsDir: values["results-dir"] ? path.resolve(values["results-dir"]) : undefined,
    base: { scale, reps },
    pitr: { scales: pitrScales, reps },
    archive: {
      scale,
      reps,
      segments: positiveInt("segments", values.segments, 24),
      pgbenchSeconds: positiveInt("pgbench-seconds", values["pgbench-seconds"], 60),
    },
    shipper: {
      reps,
      segments: positiveInt("ship-segments", values["ship-segments"], 64),
      segmentBytes: SEGMENT_BYTES,
    },
    offsiteRestore: {
      scale: positiveInt("restore-scale", values["restore-scale"], Math.max(1, Math.round(scale * 0.4))),
      reps,
    },
  };
}

async function runBenchmark(id: BenchId, pool: SandboxPool, opts: RunOptions): Promise<Section> {
  switch (id) {
    case "base":
      return benchBase(pool, opts.base);
    case "archive":
      return benchArchive(pool, opts.archive);
    case "pitr":
      return benchPitr(pool, opts.pitr);
    case "shipper":
      return benchShipper(opts.shipper);
    case "offsite-restore":
      return benchOffsiteRestore(opts.offsiteRestore);
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0)
    throw new Error("run the benchmarks as root: they start PostgreSQL as the postgres user");
  installExitHandlers();
  progress(`benchmarks: ${opts.only.join(", ")}`);
  const pool = new SandboxPool();
  const sections: Section[] = [];
  try {
    for (const id of opts.only) {
      // the load says how much else ran on the machine meanwhile (on 2 cores, anything above 2 waits for a core)
      const before = os.loadavg()[0];
      const section = await runBenchmark(id, pool, opts);
      sections.push({ ...section, load: [round(before, 1), round(os.loadavg()[0], 1)] });
    }
  } finally {
    cleanupAll();
  }
  if (opts.resultsDir) fs.mkdirSync(opts.resultsDir, { recursive: true });
  const results = writeResults(sections, opts.resultsDir);
  process.stdout.write(
    `\n${markdownTable(results.sections.filter((s) => opts.only.includes(s.id)).flatMap((s) => s.rows))}\n\nwrote ` +
      `${path.relative(process.cwd(), opts.resultsDir ?? __dirname) || "."}/results.md and results.json\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  cleanupAll();
  process.exit(1);
});
