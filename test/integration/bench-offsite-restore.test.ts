import { afterAll, describe, expect, it } from "vitest";
import { cleanupAll } from "../../bench/lib";
import { benchOffsiteRestore } from "../../bench/offsiteRestore";
import { toolchainBin } from "../helpers/engine";

// mc and minio come from the toolchain; the sandbox copies mc under its root from PATH.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

afterAll(() => cleanupAll());

// The restore-from-the-store benchmark in miniature (pgbench scale 1, one measured round), so its code keeps
// working between benchmark runs. The benchmark itself checks that each restore ended promoted with exactly the
// rows committed before the target; the numbers of this run mean nothing.
describe("bench/offsiteRestore.ts at smoke size", () => {
  it("restore-pitr --from-offsite against mc cp and the manual procedure, both real restores", async () => {
    const section = await benchOffsiteRestore({ scale: 1, reps: 1 });
    expect(section.id).toBe("offsite-restore");
    const [row] = section.rows;
    expect(row.baseline).toBe("mc cp --recursive of the base backup and the WAL, then the manual procedure");
    expect(row.baselineMedian).toBeGreaterThan(0);
    expect(row.drkitMedian).toBeGreaterThan(0);
    expect(row.ratio).toBeCloseTo(row.drkitMedian! / row.baselineMedian!, 1);
    expect(section.details.shippedWal).toBeGreaterThan(0);
    expect(row.notes).toMatch(/\d+ WAL objects on the store/);
    expect(section.details.manualSeconds).toHaveLength(1);
    expect(section.details.drkitSeconds).toHaveLength(1);
  });
});
