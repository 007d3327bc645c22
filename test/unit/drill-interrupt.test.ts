import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const FIXTURE = path.resolve(__dirname, "../fixtures/interruptedDrill.ts");
const TSX = path.resolve(__dirname, "../../node_modules/.bin/tsx");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

/** Starts the stand-in drill, sends `signal` once it is ready, and reports how it ended and what it left. */
async function interrupt(signal: "SIGINT" | "SIGTERM") {
  const child = spawn(TSX, [FIXTURE], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const ready = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.trim());
    });
    child.once("exit", (code) => reject(new Error(`exited ${code} before it was ready: ${err}`)));
  });
  const [, dir, pid] = ready.split(" ");
  expect(fs.existsSync(path.join(dir!, "identity"))).toBe(true);
  expect(alive(Number(pid))).toBe(true);
  const ended = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill(signal);
  const code = await ended;
  // the server is killed and then reaped by init: give it a moment
  for (let i = 0; i < 50 && alive(Number(pid)); i++) await new Promise((r) => setTimeout(r, 100));
  return { code, dir: dir!, pid: Number(pid), err };
}

describe("an interrupted drill stops its own servers and removes its secret files", () => {
  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s: exit %i, the server gone, the identity folder removed", async (signal, exitCode) => {
    const r = await interrupt(signal);
    expect(r.code, r.err).toBe(exitCode);
    expect(r.err).toContain(`drill: ${signal}: stopping the drill's own servers`);
    expect(alive(r.pid)).toBe(false);
    expect(fs.existsSync(r.dir)).toBe(false);
  });

  it("an exit before the drill finished (its event loop emptied): exit 70, server gone, folder removed", async () => {
    const child = spawn(TSX, [FIXTURE, "stall"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    const [, dir, pid] = out.trim().split(" ");
    expect(code, err).toBe(70);
    expect(err).toContain("drill: exiting before the drill finished: stopping its own servers, removing its files");
    expect(err).toContain("drkit: stopped before the command finished");
    for (let i = 0; i < 50 && alive(Number(pid)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(Number(pid))).toBe(false);
    expect(fs.existsSync(dir!)).toBe(false);
  });
});
