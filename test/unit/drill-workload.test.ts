import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Workload } from "../../drill/workload";

/** A client that answers `answers` statements, then exits as a session to a destroyed host does. */
const dyingClient = (answers: number) =>
  new Workload({
    command: "bash",
    args: ["-c", `for i in $(seq ${answers}); do read -r _; echo "$i|2026-12-05T00:00:00Z"; done`],
    intervalMs: 5,
    statement: (seq) => `INSERT ${seq}`,
    parse: (line, seq) => {
      const [key, at] = line.split("|");
      return key === String(seq) ? { key, at } : undefined;
    },
  });

describe("the drill's workload", () => {
  it("keeps the acknowledgements and stops when its client exits under it", async () => {
    for (let run = 0; run < 20; run++) {
      const workload = dyingClient(2);
      workload.start();
      await workload.waitForAcks(2);
      await new Promise((r) => setTimeout(r, 50));
      await workload.stop();
      expect(workload.acks.map((a) => a.key)).toEqual(["1", "2"]);
    }
  });
});

describe("a command that can no longer finish", () => {
  it("exits non-zero, saying so, instead of 0", () => {
    const module = JSON.stringify(path.join(__dirname, "../../cli/unfinished.ts"));
    const script = [
      `const { exitNonZeroIfUnfinished } = require(${module});`,
      "exitNonZeroIfUnfinished(() => new Promise(() => undefined));",
    ].join("\n");
    const run = (command: string) =>
      spawnSync("node", ["--import", "tsx", "-e", script.replace("new Promise(() => undefined)", command)], {
        encoding: "utf8",
        timeout: 30_000,
      });
    const hung = run("new Promise(() => undefined)");
    expect(hung.status).toBe(70);
    expect(hung.stderr).toContain("drkit: stopped before the command finished");
    const done = run("Promise.resolve()");
    expect(done.status, done.stderr).toBe(0);
    expect(done.stderr).toBe("");
    // an explicit exit (--help's) is the command's own: its status stands
    const exits = run("new Promise(() => process.exit(0))");
    expect(exits.status, exits.stderr).toBe(0);
    expect(exits.stderr).toBe("");
  });
});
