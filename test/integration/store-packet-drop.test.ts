import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMinio, type MinioServer } from "../helpers/minio";
import { tempRoot } from "../helpers/sandbox";
import { shipperHost, type ShipperHost } from "../helpers/shipperHost";
import { makeTestCa } from "../helpers/testCa";

// An object store whose packets vanish: a real MinIO in a network namespace of its own, reached from the host
// through a veth pair, then cut off by an iptables DROP rule inside that namespace (nothing outside the
// namespace and its veth is touched). A packet that is dropped gets no answer at all, unlike a refused
// connection, so only the agent's own time bound ends the wait. The shipper must give up within that bound,
// keep the WAL queued, and ship it once the store answers again.

const run = `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`.slice(-8);
const namespace = `drkit-drop-${run}`;
const hostVeth = `dkd${run}h`;
const storeVeth = `dkd${run}s`;
const CALL_TIMEOUT = 3;
const ATTEMPTS = 2;
const RETRY_DELAY = 1;

/** Everything this test writes (the MinIO's directory, the host's files) is under it, so one removal cleans up. */
const scratch = tempRoot("packet-drop");
let minio: MinioServer | undefined;
let host: ShipperHost | undefined;
let storeAddress = "";
let dropRule: string[] | undefined;
/** The running shipper, in a process group of its own, so a cleanup can end it and what it started. */
let shipperPid: number | undefined;
let cleaned = false;

const ip = (...args: string[]) => execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const inNamespace = (...args: string[]) =>
  execFileSync("ip", ["netns", "exec", namespace, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** A /30 in 10.251.0.0/16 that no interface of this host uses yet: [host side, store side]. */
function freeSubnet(): [string, string] {
  const used = ip("-4", "-o", "addr", "show");
  for (let i = 0; i < 100; i++) {
    const third = Math.floor(Math.random() * 256);
    const base = Math.floor(Math.random() * 64) * 4;
    if (!used.includes(`10.251.${third}.`)) return [`10.251.${third}.${base + 1}`, `10.251.${third}.${base + 2}`];
  }
  throw new Error("no free /30 left in 10.251.0.0/16");
}

/** Idempotent and synchronous: for afterAll, a failed beforeAll, process exit and SIGINT/SIGTERM alike. */
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  const quiet = (command: string, args: string[]) => spawnSync(command, args, { stdio: "ignore" });
  const kill = (pid: number) => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  if (shipperPid !== undefined) kill(-shipperPid);
  minio?.kill();
  if (dropRule) quiet("ip", ["netns", "exec", namespace, "iptables", "-D", ...dropRule]);
  // Whatever still runs inside the namespace was started by this test (the MinIO, through `ip netns exec`).
  const pids = spawnSync("ip", ["netns", "pids", namespace], { encoding: "utf8" }).stdout ?? "";
  for (const pid of pids.split("\n").filter((p) => /^\d+$/.test(p))) kill(Number(pid));
  quiet("ip", ["netns", "del", namespace]);
  quiet("ip", ["link", "del", hostVeth]);
  fs.rmSync(scratch, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

const onSignal = (signal: NodeJS.Signals) => {
  cleanup();
  process.exit(signal === "SIGINT" ? 130 : 143);
};

/** One `shipper once` as the PostgreSQL OS user, timed (stdout and stderr together, in order), 90 s at most. */
function shipperOnce(): Promise<{ status: number; output: string; seconds: number }> {
  const [command, args] = host!.shipperCommand("once");
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...host!.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    shipperPid = child.pid;
    // a shipper without its time bounds would wait on the dropped packets for minutes: end it well before
    const guard = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 90_000);
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d));
    child.stderr.on("data", (d: Buffer) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(guard);
      shipperPid = undefined;
      resolve({ status: code ?? -1, output, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

const segment = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, "0")}`;
/** A small WAL file's content: text, so the object can be compared as mc cat prints it. */
const contentOf = (n: number) => `${segment(n)} ${randomBytes(8192).toString("hex")}\n`;
const contents = new Map<number, string>();

async function objectText(name: string): Promise<string> {
  const r = await minio!.mc(["cat", `${minio!.name}/${host!.location}wal/${name}`]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const stateOf = () => fs.readFileSync(path.join(host!.plan.offsite!.markerDir, host!.store, "shipper.state"), "utf8");

/** Packets the DROP rule has dropped so far. */
function droppedPackets(): number {
  const listing = inNamespace("iptables", "-L", "INPUT", "-v", "-x", "-n");
  const line = listing.split("\n").find((l) => /\bDROP\b/.test(l) && l.includes(`dpt:${minio!.port}`));
  if (!line) throw new Error(`no DROP rule for port ${minio!.port} in ${namespace}:\n${listing}`);
  return Number(line.trim().split(/\s+/)[0]);
}

beforeAll(async () => {
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", cleanup);
  try {
    const [hostAddress, address] = freeSubnet();
    storeAddress = address;
    ip("netns", "add", namespace);
    ip("link", "add", hostVeth, "type", "veth", "peer", "name", storeVeth);
    ip("link", "set", storeVeth, "netns", namespace);
    ip("addr", "add", `${hostAddress}/30`, "dev", hostVeth);
    ip("link", "set", hostVeth, "up");
    ip("-n", namespace, "addr", "add", `${storeAddress}/30`, "dev", storeVeth);
    ip("-n", namespace, "link", "set", storeVeth, "up");
    ip("-n", namespace, "link", "set", "lo", "up");
    // A store across a network is reached over HTTPS only: a test CA vouches for the store's address.
    const ca = makeTestCa(path.join(scratch, "ca"), "drkit packet-drop CA");
    const certificate = ca.issue("dropsite", { ips: [storeAddress] });
    minio = await startMinio("dropsite", {
      host: storeAddress,
      wrapper: ["ip", "netns", "exec", namespace],
      parent: scratch,
      tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, caFile: ca.certFile },
    });
    host = await shipperHost(minio, {
      label: "host",
      parent: scratch,
      caCertificate: fs.readFileSync(ca.certFile, "utf8"),
      offsite: {
        callTimeout: `${CALL_TIMEOUT}s`,
        retry: { attempts: ATTEMPTS, initialDelay: `${RETRY_DELAY}s` },
      },
    });
  } catch (error) {
    cleanup();
    throw error;
  }
}, 120_000);

afterAll(() => {
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.off("exit", cleanup);
  cleanup();
  // nothing is left: no namespace, no veth on the host, no MinIO
  expect(ip("netns", "list")).not.toContain(namespace);
  expect(spawnSync("ip", ["link", "show", hostVeth]).status).not.toBe(0);
  expect(fs.existsSync(scratch)).toBe(false);
});

describe("a store that drops every packet", () => {
  it("is reached through the veth, and the shipper uploads to it normally", async () => {
    // the store listens only inside its namespace, on the veth's address
    expect(minio!.endpoint).toBe(`https://${storeAddress}:${minio!.port}`);
    contents.set(1, contentOf(1));
    host!.archive(segment(1), contents.get(1)!);
    const r = await shipperOnce();
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain("every archived WAL file is confirmed off-site");
    expect(await objectText(segment(1))).toBe(contents.get(1));
    expect(host!.pending()).toEqual([]);
  });

  it(`gives up within its bound (${ATTEMPTS} calls of ${CALL_TIMEOUT}s), keeping the file queued`, async () => {
    dropRule = ["INPUT", "-p", "tcp", "--dport", String(minio!.port), "-j", "DROP"];
    inNamespace("iptables", "-A", ...dropRule);
    contents.set(2, contentOf(2));
    host!.archive(segment(2), contents.get(2)!);
    const r = await shipperOnce();
    expect(r.status, r.output).toBe(1);
    expect(r.output).toContain(`gave no answer within ${CALL_TIMEOUT}s (timed out)`);
    expect(r.output).toContain(`failed after ${ATTEMPTS} attempt(s)`);
    expect(r.output).toContain("some WAL is not confirmed off-site yet");
    // both attempts waited out their bound (a refused connection would fail at once), and no longer
    expect(r.seconds).toBeGreaterThanOrEqual(ATTEMPTS * CALL_TIMEOUT);
    expect(r.seconds).toBeLessThan(60);
    // the packets really were dropped, not refused
    expect(droppedPackets()).toBeGreaterThan(0);
    expect(host!.pending()).toEqual([segment(2)]);
    expect(fs.existsSync(path.join(host!.walDir, segment(2)))).toBe(true);
    expect(stateOf()).toMatch(/^backlog_files=1$/m);
    expect(stateOf()).toMatch(/^consecutive_failures=1$/m);
    expect(stateOf()).toMatch(/^last_error=.*timed/m);
  });

  it("ships the queued file on the next pass once the rule is gone", async () => {
    inNamespace("iptables", "-D", ...dropRule!);
    dropRule = undefined;
    const r = await shipperOnce();
    expect(r.status, r.output).toBe(0);
    expect(await objectText(segment(2))).toBe(contents.get(2));
    expect(await objectText(segment(1))).toBe(contents.get(1));
    expect(host!.pending()).toEqual([]);
    expect(stateOf()).toMatch(/^consecutive_failures=0$/m);
    expect(stateOf()).toMatch(new RegExp(`^last_confirmed_wal=${segment(2)}$`, "m"));
  });
});
