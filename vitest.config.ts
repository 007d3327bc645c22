import * as fs from "node:fs";
import { BaseSequencer, type TestSpecification } from "vitest/node";
import { defineConfig } from "vitest/config";

/**
 * Longest first, so no long file starts last: the e2e files (the real engine), then the agent's bats tests
 * (they run while their file is collected), then integration, then unit; the larger files first within each.
 * Fixed, not from the previous run's durations: a clean clone has none, and a file's duration leaves out
 * its collection.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) =>
      f.moduleId.endsWith("/agent-bats.test.ts") ? 1 : (RANKS[f.project.name] ?? RANKS.unit);
    const size = (f: TestSpecification) => fs.statSync(f.moduleId).size;
    return [...files].sort((a, b) => rank(a) - rank(b) || size(b) - size(a));
  }
}
const RANKS: Record<string, number> = { e2e: 0, integration: 2, unit: 3 };

/**
 * The test servers keep their data under os.tmpdir(), and most integration tests wait on little but their
 * fsyncs (initdb, each commit, base backups, restores). On a tmpfs those cost nothing, so unless TMPDIR is set
 * the tests (and every process they start) use /dev/shm when it is a tmpfs that lets the agent's files run
 * (no noexec) and has room for them.
 */
function tmpfsTmpdir(): string | undefined {
  if (process.env.TMPDIR) return undefined;
  const shm = fs
    .readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" "))
    .find(([, mountPoint, type]) => mountPoint === "/dev/shm" && type === "tmpfs");
  if (!shm || shm[3]?.split(",").includes("noexec")) return undefined;
  const free = fs.statfsSync("/dev/shm");
  return free.bavail * free.bsize >= 4 * 2 ** 30 ? "/dev/shm" : undefined;
}
const tmpdir = tmpfsTmpdir();
// Set here, in the main process, so every worker and the servers it starts inherit it.
if (tmpdir) process.env.TMPDIR = tmpdir;

export default defineConfig({
  test: {
    pool: "forks",
    // The integration and e2e files mostly wait on servers, the disk and the engine: more files than cores.
    maxWorkers: 3,
    minWorkers: 1,
    sequence: { sequencer: LongestFirst },
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], testTimeout: 30_000, hookTimeout: 60_000 } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/reapTestHosts.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      // The main job's report and sandbox, checked in detail: only where .ci/run has just run the main job.
      {
        test: {
          name: "main-job",
          include: process.env.DRKIT_MAIN_JOB_REPORT ? ["test/main-job/**/*.test.ts"] : [],
          testTimeout: 120_000,
        },
      },
    ],
  },
});
