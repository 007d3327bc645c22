import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cpuSeconds } from "../../bench/lib";

/** sh's arguments for a loop that burns CPU: 200000 rounds take about a quarter second. */
const busyLoop = (rounds: number) => ["-c", `i=0; while [ $i -lt ${rounds} ]; do i=$((i+1)); done`];

describe("cpuSeconds (bench/lib.ts)", () => {
  it("counts the CPU of the commands this process ran and waited for", () => {
    const before = cpuSeconds("self", "reaped children");
    expect(spawnSync("sh", busyLoop(200_000)).status).toBe(0);
    expect(cpuSeconds("self", "reaped children") - before).toBeGreaterThan(0.05);
  });

  it("reads a running process's own CPU, which grows while it works", async () => {
    // far longer than the test: killed once read
    const child = spawn("sh", busyLoop(100_000_000));
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
