import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cpuSeconds } from "../../bench/lib";

// A shell loop that burns about a quarter second of CPU.
const busyLoop = ["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"];

describe("cpuSeconds (bench/lib.ts)", () => {
  it("counts the CPU of the commands this process ran and waited for", () => {
    const before = cpuSeconds("self", "reaped children");
    expect(spawnSync("sh", busyLoop).status).toBe(0);
    expect(cpuSeconds("self", "reaped children") - before).toBeGreaterThan(0.05);
  });

  it("reads a running process's own CPU, which grows while it works", async () => {
    // far longer than the test: killed once read
    const child = spawn("sh", ["-c", "i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done"]);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      const first = cpuSeconds(child.pid!, "own");
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(cpuSeconds(child.pid!, "own")).toBeGreaterThan(first);
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
  });

  it("fails for a process that does not exist", () => {
    expect(() => cpuSeconds(4194305, "own")).toThrow(/ENOENT/);
  });
});
