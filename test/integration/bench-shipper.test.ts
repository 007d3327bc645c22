import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupAll } from "../../bench/lib";
import { benchShipper } from "../../bench/shipper";

// The shipper benchmark (bench/shipper.ts) in miniature, so its code keeps working between benchmark runs:
// four small segments, one measured round after the warm-up, against a real MinIO. The benchmark itself checks
// that every variant left every segment in the store and that the shipper's queue is empty.

const leftovers = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("drkit-bench-shipper-"));
const before = new Set(leftovers());

afterAll(() => cleanupAll());

describe("bench/shipper.ts, smoke size", () => {
  it("measures drkit's shipper and mc mirror on the same files and reports ratios and rates", async () => {
    const section = await benchShipper({ reps: 1, segments: 4, segmentBytes: 64 * 1024 });
    expect(section.id).toBe("shipper");
    const seconds = section.details.seconds as Record<string, number[]>;
    expect(Object.keys(seconds).sort()).toEqual(["drkit shipper once", "mc mirror", "mc mirror --checksum SHA256"]);
    for (const samples of Object.values(seconds)) {
      expect(samples).toHaveLength(1);
      expect(samples[0]).toBeGreaterThan(0);
    }
    expect(section.rows).toHaveLength(2);
    const [plain, checksummed] = section.rows;
    expect(plain.benchmark).toBe("WAL shipping, 4 × 64 kB segments to MinIO on loopback");
    expect(plain.baseline).toBe("mc mirror --max-workers 4");
    expect(checksummed.baseline).toBe("mc mirror --checksum SHA256 --max-workers 4");
    expect(plain.drkitMedian).toBeCloseTo(seconds["drkit shipper once"][0], 1);
    expect(plain.baselineMedian).toBeCloseTo(seconds["mc mirror"][0], 1);
    expect(plain.ratio).toBeCloseTo(seconds["drkit shipper once"][0] / seconds["mc mirror"][0], 1);
    expect(checksummed.ratio).toBeCloseTo(
      seconds["drkit shipper once"][0] / seconds["mc mirror --checksum SHA256"][0],
      1,
    );
    const rate = (4 / seconds["drkit shipper once"][0]).toFixed(1);
    expect(plain.notes).toContain(`drkit ${rate} segments/s`);
    // the CPU each round cost: every client starts mc at least once, which alone takes more than a clock tick
    const cpu = section.details.cpuMsPerSegment as Record<string, { store: number; client: number }>;
    expect(Object.keys(cpu).sort()).toEqual(Object.keys(seconds).sort());
    for (const c of Object.values(cpu)) {
      expect(c.client).toBeGreaterThan(0);
      expect(c.store).toBeGreaterThanOrEqual(0);
    }
    const c = cpu["drkit shipper once"];
    expect(plain.notes).toContain(`CPU per segment: MinIO ${c.store.toFixed(0)} ms, client ${c.client.toFixed(0)} ms`);
  });

  it("leaves nothing behind: no temp directory, no MinIO", () => {
    cleanupAll();
    expect(leftovers().filter((f) => !before.has(f))).toEqual([]);
    const servers = spawnSync("pgrep", ["-f", "drkit-bench-shipper-"], { encoding: "utf8" }).stdout.trim();
    expect(servers).toBe("");
  });
});
