import * as fs from "node:fs";
import * as os from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { benchArchive } from "../../bench/archive";
import { benchBase } from "../../bench/base";
import { SandboxPool } from "../../bench/db";
import { cleanupAll } from "../../bench/lib";
import { benchPitr } from "../../bench/pitr";

// The base, PITR and archive benchmarks in miniature (pgbench scale 1, one measured round), so their code keeps
// working between benchmark runs: each benchmark itself checks what the jobs left (a published backup, the
// restored rows, every segment archived), and here every phase and ratio must be a real measurement.

// bench-shipper.test.ts runs beside this file and checks its own folders
const leftovers = () =>
  fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("drkit-bench-") && !f.startsWith("drkit-bench-shipper-"));
const before = new Set(leftovers());
const pool = new SandboxPool();

afterAll(() => cleanupAll());

describe("bench/base.ts, bench/pitr.ts and bench/archive.ts at smoke size", () => {
  it("base: drkit's backup-base against bare pg_basebackup, split into its phases, with the extra disk", async () => {
    const section = await benchBase(pool, { scale: 1, reps: 1 });
    const [row] = section.rows;
    expect(row.baseline).toBe("bare pg_basebackup");
    const drkit = row.drkitMedian!;
    const bare = row.baselineMedian!;
    expect(row.ratio).toBeCloseTo(drkit / bare, 1);
    const phases = section.details.drkitPhaseMedians as Record<string, number>;
    expect(Object.keys(phases).sort()).toEqual(
      [
        "checkAfter",
        "compareManifest",
        "extractWal",
        "parseWal",
        "pgBasebackup",
        "publish",
        "removeCopy",
        "startup",
      ].sort(),
    );
    for (const [name, seconds] of Object.entries(phases)) {
      expect(seconds, name).toBeGreaterThanOrEqual(0);
      expect(seconds, name).toBeLessThan(drkit);
    }
    // pg_basebackup's own phase inside drkit is of the same order as the bare run, not a stray --version call
    expect(phases.pgBasebackup).toBeGreaterThan(bare / 4);
    expect(section.details.bareFlags).toContain("--manifest-checksums=SHA256");
    expect(section.details.extractedMb).toBeGreaterThan(0);
    expect(row.notes).toMatch(/peak extra disk \d+(\.\d+)? MB \(\d+(\.\d+)? % of the backup\)/);
    // the anchors beside drkit: pgBackRest's full backup and gzipped pg_basebackup, each a real backup
    const anchors = section.rows.slice(1);
    expect(anchors.map((a) => a.baseline)).toEqual([
      expect.stringMatching(/^pgBackRest 2\.\d+ full backup \(compress-type=zst, compress-level=1, process-max=2/),
      "pg_basebackup -z (tar, client-side gzip)",
    ]);
    for (const a of anchors) {
      expect(a.baselineMedian, a.baseline!).toBeGreaterThan(0);
      expect(a.ratio).toBeCloseTo(drkit / a.baselineMedian!, 1);
      expect(a.notes).toMatch(/its backup [1-9]\d*(\.\d+)? MB/);
    }
  }, 300_000);

  it("pitr: restore-pitr against the manual procedure, both ending at the target", async () => {
    const section = await benchPitr(pool, { scales: [1], reps: 1 });
    expect(section.rows).toHaveLength(1);
    const [row] = section.rows;
    expect(row.baseline).toBe("manual procedure");
    expect(row.drkitMedian).toBeGreaterThan(0);
    expect(row.ratio).toBeCloseTo(row.drkitMedian! / row.baselineMedian!, 1);
  }, 300_000);

  it("archive: archive-wal per segment against cp, and archiving keeps up with pgbench", async () => {
    const section = await benchArchive(pool, { scale: 1, reps: 1, segments: 2, pgbenchSeconds: 5 });
    const perSegment = section.details.perSegmentMs as Record<string, number[]>;
    expect(Object.keys(perSegment).length).toBeGreaterThanOrEqual(3);
    for (const samples of Object.values(perSegment)) for (const ms of samples) expect(ms).toBeGreaterThan(0);
    expect(section.rows.length).toBeGreaterThanOrEqual(3);
    // 5 s of pgbench is too short for the troughs of three 10 s windows: such a run cannot pass
    expect(section.rows[2].notes).toMatch(/^FAIL: too short to judge \(sampled [\d.]+ s, 3 windows of 10 s needed\)/);
    // the keep-up run ships too: the shipper's backlog is sampled beside the archiver's
    expect(section.rows[2].benchmark).toMatch(/^archiving and shipping keep up with pgbench -c 8 -j 2/);
    expect(section.rows[2].notes).toMatch(/\d+ \.ready and \d+ queued for the shipper/);
    const keepUp = section.details.keepUp as { samples: number[][] };
    expect(keepUp.samples.length).toBeGreaterThan(0);
    for (const sample of keepUp.samples) expect(sample).toHaveLength(3);
  }, 300_000);

  it("leaves nothing behind", async () => {
    await pool.discard(1);
    cleanupAll();
    expect(leftovers().filter((f) => !before.has(f))).toEqual([]);
  });
});
