import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The agent's bats tests, one vitest test per bats case so the runner counts them: each .bats file runs once
 * (TAP output) while this file is collected, several files at a time (each case has its own temp directory
 * and stubs), and every case reports its own result here.
 */
const dir = path.resolve(__dirname, "../agent");
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".bats"))
  .sort();

/** How many bats files run at once: bats is mostly process start-up, so one per core and one more. */
const JOBS = Math.max(2, os.availableParallelism() + 1);
/** A file that takes longer is stopped and fails: a whole CI run on two loaded cores took ten minutes for one. */
const FILE_TIMEOUT_MS = 1_500_000;

interface Case {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

interface Run {
  readonly cases: Case[];
  /** The plan line's count ("1..N"), or undefined when bats printed none. */
  readonly planned?: number;
  /** Set when bats was stopped or could not run: the reason. */
  readonly error: string;
  readonly output: string;
  readonly status: number | null;
}

function parseTap(stdout: string): Case[] {
  const cases: Case[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^(ok|not ok) \d+ (.*)$/.exec(line);
    if (m)
      cases.push({ name: m[2]!.replace(/ # skip.*$/, ""), ok: m[1] === "ok" && !/ # skip/.test(m[2]!), detail: "" });
    else if (line.startsWith("#") && cases.length > 0) {
      const last = cases[cases.length - 1]!;
      cases[cases.length - 1] = { ...last, detail: `${last.detail}${line}\n` };
    }
  }
  return cases;
}

function runBats(file: string): Promise<Run> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let error = "";
    // A temp folder per file, removed at the end: bats's own and its cases' (mktemp) are inside it, so a file
    // stopped by the timeout leaves nothing behind either.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-bats-"));
    // detached: the timeout ends bats and every process it started (its process group), not bats alone
    const child = spawn("bats", ["--tap", path.join(dir, file)], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TMPDIR: tmp },
    });
    const timer = setTimeout(() => {
      error = `\nbats ${file} did not finish within ${FILE_TIMEOUT_MS / 1000}s`;
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, FILE_TIMEOUT_MS);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e) => (error += `\n${String(e)}`));
    child.on("close", (status) => {
      clearTimeout(timer);
      fs.rmSync(tmp, { recursive: true, force: true });
      const plan = /^1\.\.(\d+)$/m.exec(stdout);
      resolve({
        cases: parseTap(stdout),
        planned: plan ? Number(plan[1]) : undefined,
        error,
        output: `${stdout}${stderr}${error}`,
        status,
      });
    });
  });
}

/** Runs every file, JOBS at a time, the biggest first (the longest ones should not start last). */
async function runAll(): Promise<Map<string, Run>> {
  const queue = [...files].sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size);
  const runs = new Map<string, Run>();
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) runs.set(file, await runBats(file));
  };
  await Promise.all(Array.from({ length: Math.min(JOBS, files.length) }, worker));
  return runs;
}

// The suite's factory may be async: vitest waits for it, so the cases are known before any test runs.
describe("agent bats tests", async () => {
  const runs = await runAll();
  it("there are bats tests for the agent", () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    const run = runs.get(file)!;
    describe(file, () => {
      it("runs to its end and reports every case it planned", () => {
        expect(run.cases.length, run.output).toBeGreaterThan(0);
        expect(run.output).not.toMatch(/bats: command not found|ENOENT/);
        expect(run.error, run.output).toBe("");
        expect(run.cases.length, run.output).toBe(run.planned);
      });
      for (const c of run.cases) it(c.name, () => expect(c.ok, c.detail).toBe(true));
    });
  }
});
