import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The agent's bats tests, one vitest test per bats case so the runner counts them: each .bats file runs once
 * (TAP output) while the file is collected, and every case reports its own result here.
 */
const dir = path.resolve(__dirname, "../agent");
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".bats"))
  .sort();

interface Case {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

function runBats(file: string): { cases: Case[]; output: string; status: number | null } {
  const r = spawnSync("bats", ["--tap", path.join(dir, file)], { encoding: "utf8", timeout: 600_000 });
  const output = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`;
  const cases: Case[] = [];
  for (const line of (r.stdout ?? "").split("\n")) {
    const m = /^(ok|not ok) \d+ (.*)$/.exec(line);
    if (m)
      cases.push({ name: m[2]!.replace(/ # skip.*$/, ""), ok: m[1] === "ok" && !/ # skip/.test(m[2]!), detail: "" });
    else if (line.startsWith("#") && cases.length > 0) {
      const last = cases[cases.length - 1]!;
      cases[cases.length - 1] = { ...last, detail: `${last.detail}${line}\n` };
    }
  }
  return { cases, output, status: r.status };
}

describe("agent bats tests", () => {
  it("there are bats tests for the agent", () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    const run = runBats(file);
    describe(file, () => {
      it("runs and reports cases", () => {
        expect(run.cases.length, run.output).toBeGreaterThan(0);
        expect(run.output).not.toMatch(/bats: command not found|ENOENT/);
      });
      for (const c of run.cases) it(c.name, () => expect(c.ok, c.detail).toBe(true));
    });
  }
});
