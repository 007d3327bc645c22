/**
 * What every benchmark shares: tracked child processes, cleanup on exit or failure, interleaved
 * measurement and the statistics the results report.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

// ---------------------------------------------------------------------------------------------
// progress

const started = Date.now();

/** A progress line with the time since the run started. */
export function progress(message: string): void {
  const s = Math.round((Date.now() - started) / 1000);
  const stamp = `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  process.stdout.write(`[bench ${stamp}] ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// cleanup: servers, temp directories and child processes go away on success, failure or a signal

interface Cleanup {
  readonly label: string;
  readonly fn: () => void;
}

const cleanups: Cleanup[] = [];
const children = new Set<ChildProcess>();

/** Registers a synchronous cleanup; the returned function runs it now and unregisters it. */
export function onCleanup(label: string, fn: () => void): () => void {
  const entry: Cleanup = { label, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i < 0) return;
    cleanups.splice(i, 1);
    runOne(entry);
  };
}

function runOne(entry: Cleanup): void {
  try {
    entry.fn();
  } catch (error) {
    process.stderr.write(`cleanup of ${entry.label} failed: ${(error as Error).message}\n`);
  }
}

/** Kills the children still running, then runs the cleanups, newest first. Safe to call twice. */
export function cleanupAll(): void {
  for (const child of children) killGroup(child);
  children.clear();
  while (cleanups.length > 0) runOne(cleanups.pop()!);
}

/** Cleans up on SIGINT, SIGTERM and on any exit that skipped the normal path. */
export function installExitHandlers(): void {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up\n`);
      cleanupAll();
      process.exit(code);
    });
  }
  process.on("exit", cleanupAll);
}

// ---------------------------------------------------------------------------------------------
// processes

/** Each child leads its own process group, so a cleanup also ends what it started (runuser's child, bash's). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}

export interface ExecResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall-clock seconds from spawn to exit. */
  readonly seconds: number;
  /** Wall-clock (epoch) seconds at spawn and at exit, comparable with bash's $EPOCHREALTIME. */
  readonly startEpoch: number;
  readonly endEpoch: number;
}

export interface ExecOptions {
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** Runs a command without blocking the event loop; the child is killed if the run is cleaned up. */
export function exec(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const startEpoch = Date.now() / 1000;
    const t0 = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => killGroup(child), opts.timeoutMs ?? 30 * 60_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      clearTimeout(timer);
      children.delete(child);
      resolve({ status: code ?? -1, stdout, stderr, seconds, startEpoch, endEpoch: Date.now() / 1000 });
    });
  });
}

/** Like exec, but a non-zero exit is an error that quotes the end of stderr. */
export async function mustExec(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await exec(command, args, opts);
  if (r.status !== 0) {
    const tail = r.stderr.trim().split("\n").slice(-15).join("\n");
    throw new Error(`${command} ${args.join(" ")} exited ${r.status}:\n${tail}`);
  }
  return r;
}

/** argv prefix that runs a command as the PostgreSQL OS user, with extra environment. */
export function asUser(user: string, env: Record<string, string> = {}): string[] {
  return ["runuser", "-u", user, "--", "env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
}

const clockTicks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/**
 * CPU seconds (user + system) from /proc/<pid>/stat: the process's own, or those of its children it has reaped
 * (for this process: every command it ran and waited for, with their own children).
 */
export function cpuSeconds(pid: number | "self", whose: "own" | "reaped children"): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // the fields after the command name (which may hold spaces), from the third on: utime is the 14th
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const at = whose === "own" ? 14 - 3 : 16 - 3;
  return (Number(fields[at]) + Number(fields[at + 1])) / clockTicks;
}

/** Flushes dirty pages so one measured run does not pay for the previous run's writes. */
export function syncDisks(): void {
  spawnSync("sync");
}

// ---------------------------------------------------------------------------------------------
// measurement

export interface Variant<T> {
  readonly name: string;
  /** One measured run; returns its sample (seconds or richer). */
  readonly run: () => Promise<T>;
  /** Untimed work after each run (remove outputs, reset state). */
  readonly after?: () => Promise<void> | void;
}

/**
 * Runs the variants in turn (A, B, A, B, ...): one unrecorded warm-up round, then `reps` recorded
 * rounds, so slow drifts of a shared machine hit every variant alike.
 */
export async function interleave<T>(
  reps: number,
  variants: readonly Variant<T>[],
  label: string,
): Promise<Map<string, T[]>> {
  const samples = new Map<string, T[]>(variants.map((v) => [v.name, []]));
  for (let round = 0; round <= reps; round++) {
    for (const v of variants) {
      const sample = await v.run();
      await v.after?.();
      if (round > 0) samples.get(v.name)!.push(sample);
      progress(`${label}: ${round === 0 ? "warm-up" : `round ${round}/${reps}`} ${v.name} ${describeSample(sample)}`);
    }
  }
  return samples;
}

/** A sample as a progress line shows it: a number, or the `seconds` of a richer sample. */
function describeSample(sample: unknown): string {
  if (typeof sample === "number") return sample.toFixed(3);
  if (sample && typeof sample === "object" && "seconds" in sample)
    return (sample as { seconds: number }).seconds.toFixed(3);
  return "";
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * The least-squares slope of a series' troughs: its minimum in each window of `windowSeconds` from the first
 * sample (a last, partial window counts when it spans at least half a window), against the window's middle. A
 * backlog drained in batches is a sawtooth, whose slope over a stretch depends on where the stretch ends; its
 * troughs rise only when the draining falls behind. null when the samples fill fewer than `minWindows` windows:
 * too few troughs to tell.
 */
export function troughSlope(
  ts: readonly number[],
  ys: readonly number[],
  windowSeconds: number,
  minWindows = 3,
): number | null {
  if (ts.length === 0) return null;
  const first = ts[0];
  const last = ts[ts.length - 1];
  const mids: number[] = [];
  const troughs: number[] = [];
  for (let start = first; start <= last; start += windowSeconds) {
    const inWindow = ys.filter((_, i) => ts[i] >= start && ts[i] < start + windowSeconds);
    const spans = Math.min(last, start + windowSeconds) - start;
    if (inWindow.length === 0 || (start + windowSeconds > last && spans < windowSeconds / 2)) continue;
    mids.push(start + windowSeconds / 2);
    troughs.push(Math.min(...inWindow));
  }
  return troughs.length < minWindows ? null : slope(mids, troughs);
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** Every file under `dir`, in MB to one decimal. */
export function directoryMb(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else bytes += fs.statSync(p).size;
    }
  };
  walk(dir);
  return round(bytes / 2 ** 20, 1);
}
