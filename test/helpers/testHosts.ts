import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { processAlive, runAsync, tempRoot, waitFor, type RunResult } from "./sandbox";

/**
 * Booted Debian hosts for tests: each one is systemd-nspawn running systemd as PID 1 on an overlay of this
 * machine's root filesystem, in a network namespace of its own, joined to the others by a bridge on a
 * test-made /24. Traffic reaches only those hosts: they have no default route, and nothing forwards.
 *
 * Every host is recorded under REGISTRY with the pid of the process that booted it: an exiting process removes its
 * own, a detached watchdog removes them once that process has gone however it went (killed, interrupted), and a
 * later run removes whatever is left (reapStaleTestHosts).
 */
const REGISTRY = "/run/drkit-test-hosts";

/** Units a drkit host does not need; masked so they cost nothing and `is-system-running` says `running`. */
const MASKED_UNITS = [
  "prometheus.service",
  "prometheus-node-exporter.service",
  "prometheus-postgres-exporter.service",
  "prometheus-alertmanager.service",
  "prometheus-node-exporter-apt.timer",
  "prometheus-node-exporter-smartmon.timer",
  "smartmontools.service",
  "smartd.service",
  "sysstat.service",
  "sysstat-collect.timer",
  "sysstat-summary.timer",
  "e2scrub_reap.service",
  "e2scrub_all.timer",
  "pg_receivewal@15-main.service",
  "pg_receivewal@15-replica.service",
  "console-getty.service",
  "ipmievd.service",
  "openipmi.service",
  "nvmf-autoconnect.service",
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "man-db.timer",
  "fstrim.timer",
  "systemd-timesyncd.service",
  // the address is set from outside, before boot
  "systemd-networkd.service",
  "systemd-networkd.socket",
  "systemd-networkd-wait-online.service",
  "systemd-network-generator.service",
];

/** The units a host cannot do without: its services and what SSH and the journal need. */
function essentialUnits(spec: TestHostSpec): string[] {
  return [
    "ssh.service",
    "dbus.service",
    "systemd-journald.service",
    "systemd-logind.service",
    ...(spec.postgres === false ? [] : ["postgresql@15-main.service"]),
    ...(spec.redis ? ["redis-server.service"] : []),
  ];
}

export interface TestHostSpec {
  readonly name: string;
  /** Debian's postgresql@15-main starts at boot (default true). */
  readonly postgres?: boolean;
  /** Debian's redis-server starts at boot (default false). */
  readonly redis?: boolean;
}

export interface TestHost {
  readonly name: string;
  readonly address: string;
  /** The host's SSH public key as a known_hosts key ("ssh-ed25519 AAAA..."), made at boot. */
  readonly hostKey: string;
  /** The host's root filesystem as this machine sees it (the overlay's merged directory). */
  readonly root: string;
  /** Runs a bash script on the host as root, in all of its namespaces (not through SSH). */
  exec(script: string, timeoutMs?: number): Promise<RunResult>;
  /** Runs a bash script on the host over SSH with its host key pinned. */
  ssh(script: string, timeoutMs?: number): Promise<RunResult>;
  /** Powers the host off (orderly) and waits; its disk stays until the network is torn down. */
  powerOff(): Promise<void>;
  /** Boots a powered-off host again on the same disk and address, and waits until it has booted. */
  powerOn(): Promise<void>;
  /** Powers the host off at once, as a pulled plug: its systemd killed with every process of it; its disk stays. */
  kill(): Promise<void>;
  /**
   * Destroys the host (its systemd killed at once, with every process of it; its disk gone) and boots a new one at
   * the same address and name, with SSH host keys of its own: `hostKey` is the new one's afterwards.
   */
  replace(): Promise<void>;
}

export interface TestNetwork {
  readonly hosts: TestHost[];
  /** The private key (OpenSSH format) every host authorises for root. */
  readonly privateKey: string;
  /** A known_hosts file with every host's key, for `ssh -o UserKnownHostsFile=`. */
  readonly knownHostsFile: string;
  host(name: string): TestHost;
  teardown(): void;
}

interface HostsRecord {
  owner: number;
  bridge: string;
  dir: string;
  hosts: { namespace: string; merged: string; nspawnPid?: number }[];
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
const quiet = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: "ignore" });

/** Everything a record names, removed; each step runs even when an earlier one failed. */
function removeRecorded(record: HostsRecord): void {
  for (const host of record.hosts) {
    if (processAlive(host.nspawnPid)) {
      process.kill(host.nspawnPid!, "SIGTERM");
      const deadline = Date.now() + 15_000;
      while (processAlive(host.nspawnPid) && Date.now() < deadline) quiet("sleep", ["0.2"]);
      if (processAlive(host.nspawnPid)) {
        quiet("pkill", ["-KILL", "-P", String(host.nspawnPid)]);
        process.kill(host.nspawnPid!, "SIGKILL");
      }
    }
    if (quiet("mountpoint", ["-q", host.merged]).status === 0 && quiet("umount", [host.merged]).status !== 0) {
      quiet("umount", ["-l", host.merged]);
    }
    quiet("ip", ["netns", "delete", host.namespace]);
  }
  quiet("ip", ["link", "delete", record.bridge]);
  fs.rmSync(record.dir, { recursive: true, force: true });
}

function recordFile(id: string) {
  return path.join(REGISTRY, `${id}.json`);
}

/**
 * A detached watchdog that removes this process's hosts once it has gone, also when it was killed or interrupted
 * (no exit handler runs then); one per process.
 */
let watching = false;
function watchOwner(): void {
  if (watching) return;
  watching = true;
  const watchdog = spawn(
    process.execPath,
    ["--import", "tsx", path.join(__dirname, "testHostsWatchdog.ts"), String(process.pid)],
    { detached: true, stdio: "ignore", cwd: path.resolve(__dirname, "../..") },
  );
  watchdog.unref();
}

/**
 * Removes the hosts of every run whose booting process has gone (an interrupted or killed test run), or only those
 * of `owner`. A record another reaper removes meanwhile is skipped.
 */
export function reapStaleTestHosts(owner?: number): number {
  if (!fs.existsSync(REGISTRY)) return 0;
  let reaped = 0;
  for (const file of fs.readdirSync(REGISTRY)) {
    if (!file.endsWith(".json")) continue;
    const full = path.join(REGISTRY, file);
    let record: HostsRecord;
    try {
      record = JSON.parse(fs.readFileSync(full, "utf8")) as HostsRecord;
    } catch {
      continue;
    }
    if (processAlive(record.owner) || (owner !== undefined && record.owner !== owner)) continue;
    removeRecorded(record);
    fs.rmSync(full, { force: true });
    reaped++;
  }
  return reaped;
}

/** A /24 in 10.231.0.0/16 that no interface of this machine uses yet. */
function freeSubnet(): string {
  const used = run("ip", ["-4", "-o", "addr", "show"]).toString();
  for (let i = 0; i < 200; i++) {
    const third = crypto.randomInt(1, 255);
    const prefix = `10.231.${third}`;
    if (!used.includes(` ${prefix}.`)) return prefix;
  }
  throw new Error("no free /24 left in 10.231.0.0/16");
}

async function portOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port, timeout: 1000 }, () => {
      socket.end();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
    socket.on("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Writes what the host needs before its first boot into the overlay: identity, keys, masked units. */
function prepareRoot(merged: string, spec: TestHostSpec, clientPublicKey: string, hostsFile: string): string {
  const etc = path.join(merged, "etc");
  fs.writeFileSync(path.join(etc, "hostname"), `${spec.name}\n`);
  fs.writeFileSync(path.join(etc, "hosts"), hostsFile);
  fs.rmSync(path.join(etc, "machine-id"), { force: true });
  const units = path.join(etc, "systemd", "system");
  const masked = [...MASKED_UNITS];
  if (spec.postgres === false) masked.push("postgresql.service", "postgresql@15-main.service");
  if (!spec.redis) masked.push("redis-server.service", "redis.service");
  for (const unit of masked) {
    fs.rmSync(path.join(units, unit), { force: true });
    fs.symlinkSync("/dev/null", path.join(units, unit));
  }
  for (const key of fs.readdirSync(path.join(etc, "ssh")).filter((f) => f.startsWith("ssh_host_"))) {
    fs.rmSync(path.join(etc, "ssh", key));
  }
  const hostKey = path.join(etc, "ssh", "ssh_host_ed25519_key");
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${spec.name}`, "-f", hostKey]);
  // root's user manager stays up between SSH sessions instead of starting (about a second) for each one
  fs.mkdirSync(path.join(merged, "var", "lib", "systemd", "linger"), { recursive: true });
  fs.writeFileSync(path.join(merged, "var", "lib", "systemd", "linger", "root"), "");
  // a fresh host's root shell files, not this machine's: bash sources .bashrc for every SSH command
  for (const file of [".bashrc", ".profile"])
    fs.copyFileSync(path.join("/etc/skel", file), path.join(merged, "root", file));
  const sshDir = path.join(merged, "root", ".ssh");
  fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(sshDir, "authorized_keys"), clientPublicKey, { mode: 0o600 });
  return fs.readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
}

/** The container's systemd, a child of systemd-nspawn: the process whose namespaces are the host's. */
function leaderOf(nspawnPid: number): number | undefined {
  const children = spawnSync("pgrep", ["-P", String(nspawnPid)], { encoding: "utf8" }).stdout.trim();
  const pid = Number(children.split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Waits until the host's systemd has finished booting and its sshd answers. A host that booted degraded is
 * accepted when `judgeUnits` is false, or when no unit it needs (its spec's services) failed.
 */
async function waitBooted(host: TestHost, spec: TestHostSpec, judgeUnits = true): Promise<void> {
  const state = await waitFor(
    `host ${host.name} to finish booting`,
    async () => {
      let r: RunResult | undefined;
      try {
        r = await host.exec("systemctl is-system-running --wait", 120_000);
      } catch {
        return undefined; // no container systemd yet
      }
      const state = r.stdout.trim();
      // "offline" and nothing: the host's systemd is not answering on its bus yet
      return state && state !== "offline" ? state : undefined;
    },
    120,
  );
  if (state !== "running" && judgeUnits) {
    const failed = (await host.exec("systemctl --failed --no-legend --plain")).stdout
      .split("\n")
      .map((line) => line.trim().split(/\s+/)[0])
      .filter(Boolean);
    const needed = failed.filter((unit) => essentialUnits(spec).includes(unit));
    // A machine may carry packages whose units fail in a container; only the host's own services count.
    if (state !== "degraded" || needed.length > 0 || failed.length === 0)
      throw new Error(`host ${host.name} booted ${state}; failed units: ${failed.join(" ") || "none"}`);
    process.stderr.write(`test host ${host.name}: units not needed here failed at boot: ${failed.join(" ")}\n`);
    await host.exec("systemctl reset-failed");
  }
  await waitFor(`sshd on ${host.name}`, async () => ((await portOpen(host.address, 22)) ? true : undefined), 30);
}

/**
 * Boots one host per spec on a fresh network and waits until each one's systemd says `running` and its sshd
 * answers. On any failure everything already made is removed before the error is thrown.
 */
export async function bootTestHosts(specs: TestHostSpec[]): Promise<TestNetwork> {
  if (specs.length === 0 || specs.length > 20) throw new Error("bootTestHosts: between 1 and 20 hosts");
  reapStaleTestHosts();
  fs.mkdirSync(REGISTRY, { recursive: true, mode: 0o700 });
  const id = crypto.randomBytes(3).toString("hex");
  const dir = tempRoot(`hosts-${id}`);
  const record: HostsRecord = { owner: process.pid, bridge: `drkbr${id}`, dir, hosts: [] };
  // Whole or not at all: a reaper may read it at any time.
  const save = () => {
    fs.writeFileSync(`${recordFile(id)}.tmp`, JSON.stringify(record));
    fs.renameSync(`${recordFile(id)}.tmp`, recordFile(id));
  };
  const teardown = () => {
    removeRecorded(record);
    fs.rmSync(recordFile(id), { force: true });
    process.removeListener("exit", teardown);
  };
  save();
  process.on("exit", teardown);
  watchOwner();
  try {
    const subnet = freeSubnet();
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "drkit-test", "-f", path.join(dir, "client")]);
    const clientPublicKey = fs.readFileSync(path.join(dir, "client.pub"), "utf8");
    run("ip", ["link", "add", record.bridge, "type", "bridge"]);
    run("ip", ["addr", "add", `${subnet}.1/24`, "dev", record.bridge]);
    run("ip", ["link", "set", record.bridge, "up"]);
    const addressOf = (i: number) => `${subnet}.${10 + i}`;
    const hostsFile =
      "127.0.0.1 localhost\n::1 localhost\n" + specs.map((s, i) => `${addressOf(i)} ${s.name}\n`).join("");

    const hosts: TestHost[] = [];
    const knownHosts: string[] = [];
    for (const [i, spec] of specs.entries()) {
      if (!/^[a-z][a-z0-9-]{0,30}$/.test(spec.name)) throw new Error(`bootTestHosts: bad host name "${spec.name}"`);
      const namespace = `drkit-${id}-${i}`;
      const hostDir = path.join(dir, spec.name);
      const merged = path.join(hostDir, "root");
      fs.mkdirSync(merged, { recursive: true });
      const entry: HostsRecord["hosts"][number] = { namespace, merged };
      record.hosts.push(entry);
      save();
      /** A disk of its own on the machine's root: an overlay whose upper layer is new (a new host's). */
      let disk = 0;
      const newDisk = () => {
        disk++;
        const [upper, work] = ["upper", "work"].map((d) => path.join(hostDir, `${d}-${disk}`));
        for (const d of [upper, work]) fs.mkdirSync(d, { recursive: true });
        run("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=/,upperdir=${upper},workdir=${work}`, merged]);
        return prepareRoot(merged, spec, clientPublicKey, hostsFile);
      };
      let hostKey = newDisk();

      const address = addressOf(i);
      const veth = `drkv${id}${i}`;
      run("ip", ["netns", "add", namespace]);
      run("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace]);
      run("ip", ["link", "set", veth, "master", record.bridge, "up"]);
      run("ip", ["-n", namespace, "addr", "add", `${address}/24`, "dev", "eth0"]);
      run("ip", ["-n", namespace, "link", "set", "eth0", "up"]);
      run("ip", ["-n", namespace, "link", "set", "lo", "up"]);

      let nspawnPid: number | undefined;
      /** Starts the container's systemd on the host's disk and network (again, after a power-off). */
      const powerUp = () => {
        const console = fs.openSync(path.join(hostDir, "console.log"), "a");
        const child = spawn(
          "systemd-nspawn",
          [
            "--quiet",
            "--keep-unit",
            "--register=no",
            `--machine=${spec.name}`,
            `--network-namespace-path=/run/netns/${namespace}`,
            "-D",
            merged,
            "--boot",
          ],
          { stdio: ["ignore", console, console], detached: true },
        );
        child.unref();
        fs.closeSync(console);
        nspawnPid = child.pid;
        entry.nspawnPid = child.pid;
        save();
      };
      powerUp();

      const leader = () => {
        const pid = nspawnPid === undefined ? undefined : leaderOf(nspawnPid);
        if (!pid) throw new Error(`host ${spec.name} has no running systemd (see ${hostDir}/console.log)`);
        return pid;
      };
      const exec = (script: string, timeoutMs = 300_000) =>
        runAsync("nsenter", ["-t", String(leader()), "-a", "--", "bash", "-c", script], {}, timeoutMs);
      const ssh = (script: string, timeoutMs = 300_000) =>
        runAsync(
          "ssh",
          [
            "-i",
            path.join(dir, "client"),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            `UserKnownHostsFile=${path.join(dir, "known_hosts")}`,
            `root@${address}`,
            script,
          ],
          {},
          timeoutMs,
        );
      const self: TestHost = {
        name: spec.name,
        address,
        get hostKey() {
          return hostKey;
        },
        root: merged,
        exec,
        ssh,
        powerOff: async () => {
          if (!processAlive(nspawnPid)) return;
          process.kill(nspawnPid!, "SIGTERM");
          await waitFor(`host ${spec.name} to power off`, () => (processAlive(nspawnPid) ? undefined : true), 30);
        },
        powerOn: async () => {
          if (processAlive(nspawnPid)) throw new Error(`host ${spec.name} is already running`);
          powerUp();
          // Its own services may refuse to start now (that is what a test of a power-off looks at).
          await waitBooted(self, spec, false);
        },
        kill: async () => {
          const leaderPid = nspawnPid === undefined ? undefined : leaderOf(nspawnPid);
          // The container's init killed: the kernel kills every other process of its PID namespace with it.
          if (leaderPid) process.kill(leaderPid, "SIGKILL");
          if (processAlive(nspawnPid)) {
            const gone = () => (processAlive(nspawnPid) ? undefined : true);
            await waitFor(`host ${spec.name} to be gone`, gone, 30).catch(() => process.kill(nspawnPid!, "SIGKILL"));
          }
        },
        replace: async () => {
          await self.kill();
          if (quiet("umount", [merged]).status !== 0) run("umount", ["-l", merged]);
          fs.rmSync(path.join(hostDir, `upper-${disk}`), { recursive: true, force: true });
          fs.rmSync(path.join(hostDir, `work-${disk}`), { recursive: true, force: true });
          hostKey = newDisk();
          const knownHostsFile = path.join(dir, "known_hosts");
          const others = fs
            .readFileSync(knownHostsFile, "utf8")
            .split("\n")
            .filter((line) => line && !line.startsWith(`${address} `) && !line.startsWith(`${spec.name} `));
          fs.writeFileSync(
            knownHostsFile,
            [...others, `${address} ${hostKey}`, `${spec.name} ${hostKey}`, ""].join("\n"),
          );
          powerUp();
          await waitBooted(self, spec);
        },
      };
      hosts.push(self);
      knownHosts.push(`${address} ${hostKey}`, `${spec.name} ${hostKey}`);
    }
    fs.writeFileSync(path.join(dir, "known_hosts"), knownHosts.join("\n") + "\n");

    for (const [i, host] of hosts.entries()) await waitBooted(host, specs[i]);
    return {
      hosts,
      privateKey: fs.readFileSync(path.join(dir, "client"), "utf8"),
      knownHostsFile: path.join(dir, "known_hosts"),
      host(name) {
        const host = hosts.find((h) => h.name === name);
        if (!host) throw new Error(`no test host named ${name}`);
        return host;
      },
      teardown,
    };
  } catch (error) {
    teardown();
    throw error;
  }
}
