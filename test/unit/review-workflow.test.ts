import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoDir } from "../helpers/engine";

// The workflow users copy calls drkit: every command it runs must exist with every option it passes.
const workflow = parse(fs.readFileSync(path.join(repoDir, ".github/workflows/dr-preview.yml"), "utf8")) as {
  on: Record<string, unknown>;
  jobs: Record<string, { if: string; steps: { run?: string }[] }>;
};
const drkitCalls = Object.values(workflow.jobs).flatMap((job) =>
  job.steps.flatMap((step) => [...(step.run ?? "").matchAll(/npx drkit (\w+)([^\n]*)/g)]),
);
const helpOf = (command: string) =>
  spawnSync(process.execPath, [path.join(repoDir, "bin/drkit.js"), command, "--help"], { encoding: "utf8" });

describe("the pull-request workflow (.github/workflows/dr-preview.yml)", () => {
  it("reviews pull requests against their target branch and checks main for drift", () => {
    expect(Object.keys(workflow.on)).toEqual(expect.arrayContaining(["pull_request", "push"]));
    const runs = drkitCalls.map((m) => m[0]);
    expect(runs).toContainEqual(
      expect.stringMatching(/^npx drkit review --base "origin\/\$\{\{ github.base_ref \}\}"/),
    );
    expect(runs).toContainEqual(expect.stringMatching(/^npx drkit review --base HEAD --expect-no-changes/));
  });

  // Slow beside other files: each --help starts the CLI from its TypeScript sources.
  it("every drkit command and option it uses exists", { timeout: 180_000 }, () => {
    expect(drkitCalls.length).toBeGreaterThan(0);
    const helps = new Map<string, ReturnType<typeof helpOf>>();
    for (const [, command, args] of drkitCalls) {
      const help = helps.get(command) ?? helps.set(command, helpOf(command)).get(command)!;
      expect(help.status, `drkit ${command} --help: ${help.stderr}`).toBe(0);
      for (const option of args.match(/--[a-z-]+/g) ?? []) expect(help.stdout, `drkit ${command}`).toContain(option);
    }
  });
});
