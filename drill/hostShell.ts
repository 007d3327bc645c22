import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { HostPlan } from "../components/plan/plan";

/** A program to spawn on this machine. */
export interface Spawnable {
  readonly command: string;
  readonly args: string[];
}

/**
 * Where the drill runs a host's programs: this machine for a sandbox, an SSH session for a real host. Every
 * command the scenarios run on a host (SQL, the agent's scripts, the server's manager, file removals) goes
 * through `spawnable`, so a scenario reads the same for both.
 */
export interface HostShell {
  /** The host's name in the stack, for the report. */
  readonly host: string;
  readonly remote: boolean;
  /** How to run `argv` (a program and its arguments, as on the host) from this machine. */
  spawnable(argv: readonly string[]): Spawnable;
  /** Opens the connection (an SSH master every command reuses); fails with ssh's reason, e.g. a wrong host key. */
  connect(): void;
  /** Writes `content` to a new 0600 file of root on the host, for the drill's run only; returns its path. */
  secretFile(name: string, content: string): string;
  /** Removes what secretFile wrote and ends the host's connection. */
  close(): void;
  /**
   * The host came back (powered on again), or was replaced by a new one at its address whose key is `hostKey`:
   * connects to it anew (pinning that key) and writes the secret files again (same paths). Real hosts only.
   */
  reconnect(hostKey?: string): void;
}

/** Quotes a word for a POSIX shell (what sshd hands the command to). */
export const shellQuote = (word: string) =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;

/** The sandbox's host: programs run here, as they are. */
export function localShell(host: string, scratchDir: string): HostShell {
  const files: string[] = [];
  return {
    host,
    remote: false,
    spawnable: (argv) => ({ command: argv[0], args: argv.slice(1) }),
    connect: () => undefined,
    secretFile(name, content) {
      const file = path.join(scratchDir, name);
      fs.writeFileSync(file, content, { mode: 0o600 });
      files.push(file);
      return file;
    },
    close: () => files.splice(0).forEach((f) => fs.rmSync(f, { force: true })),
    reconnect() {
      throw new Error(`host ${host} runs the drill: it cannot go away`);
    },
  };
}

/** The line of a known_hosts file that pins `hostKey` ("<type> <base64>") for the host's address and port. */
export function knownHostsLine(address: string, port: number, hostKey: string): string {
  const name = port === 22 ? address : `[${address}]:${port}`;
  return `${name} ${hostKey.trim()}\n`;
}

/**
 * A real host over SSH: its pinned host key (no other is accepted, and the drill refuses a host without one),
 * the stack's private key in a 0600 file of a private folder, one master connection reused by every command.
 */
export function sshShell(host: HostPlan, privateKey: string | undefined, scratchDir: string): HostShell {
  const c = host.connection;
  if (c.type !== "ssh") throw new Error(`host ${host.name} is not reached over SSH`);
  if (c.hostKey === undefined)
    throw new Error(
      `hosts.${host.name}.connection.hostKey: the drill breaks this host on purpose and sends it the off-site ` +
        "identity: pin its host key (acceptAnyHostKey is refused here)",
    );
  const dir = fs.mkdtempSync(path.join(scratchDir, `ssh-${host.name}-`));
  const knownHosts = path.join(dir, "known_hosts");
  fs.writeFileSync(knownHosts, knownHostsLine(c.host, c.port, c.hostKey), { mode: 0o600 });
  const options = [
    ["BatchMode", "yes"],
    ["StrictHostKeyChecking", "yes"],
    ["UserKnownHostsFile", knownHosts],
    ["GlobalKnownHostsFile", "/dev/null"],
    ["ConnectTimeout", "10"],
    ["ServerAliveInterval", "5"],
    ["ServerAliveCountMax", "6"],
    ["ControlPath", path.join(dir, "master")],
    ["LogLevel", "ERROR"],
  ];
  const base = options.flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  if (privateKey !== undefined) {
    const keyFile = path.join(dir, "key");
    fs.writeFileSync(keyFile, `${privateKey.trim()}\n`, { mode: 0o600 });
    base.push("-o", "IdentitiesOnly=yes", "-i", keyFile);
  }
  base.push("-p", String(c.port), "-l", c.user);
  const sudo = c.user === "root" ? [] : ["sudo", "-n", "--"];
  const files = new Map<string, string>();
  const spawnable = (argv: readonly string[]): Spawnable => ({
    command: "ssh",
    args: [...base, "-o", "ControlMaster=no", c.host, "--", [...sudo, ...argv].map(shellQuote).join(" ")],
  });
  const endMaster = () =>
    spawnSync("ssh", ["-o", `ControlPath=${path.join(dir, "master")}`, "-O", "exit", c.host], {
      stdio: "ignore",
      timeout: 10_000,
    });
  const writeFile = (file: string, content: string) => {
    const s = spawnable(["sh", "-c", `umask 077 && cat > ${shellQuote(file)}`]);
    const r = spawnSync(s.command, s.args, { input: content, encoding: "utf8", timeout: 30_000 });
    if (r.status !== 0) throw new Error(`writing ${file} on ${host.name} failed: ${(r.stderr ?? "").trim()}`);
  };
  const shell: HostShell = {
    host: host.name,
    remote: true,
    spawnable,
    connect() {
      // Its output goes to a file, not a pipe: the master it forks must not hold a pipe of ours open. It ends 10
      // minutes after its last use if the drill itself is killed.
      const log = path.join(dir, "connect.log");
      const fd = fs.openSync(log, "w", 0o600);
      try {
        const r = spawnSync(
          "ssh",
          [...base, "-o", "ControlMaster=yes", "-o", "ControlPersist=600", "-N", "-f", c.host],
          { stdio: ["ignore", "ignore", fd], timeout: 60_000 },
        );
        if (r.status !== 0)
          throw new Error(
            `ssh to ${host.name} (${c.user}@${c.host}:${c.port}) failed: ` +
              `${fs.readFileSync(log, "utf8").trim() || `exit ${r.status ?? r.signal}`}`,
          );
      } finally {
        fs.closeSync(fd);
      }
    },
    secretFile(name, content) {
      const file = `/root/.drkit-drill-${process.pid}-${name}`;
      writeFile(file, content);
      files.set(file, content);
      return file;
    },
    close() {
      if (files.size) {
        const s = spawnable(["rm", "-f", "--", ...files.keys()]);
        files.clear();
        spawnSync(s.command, s.args, { timeout: 30_000 });
      }
      endMaster();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    reconnect(hostKey) {
      endMaster();
      if (hostKey !== undefined) fs.writeFileSync(knownHosts, knownHostsLine(c.host, c.port, hostKey), { mode: 0o600 });
      shell.connect();
      for (const [file, content] of files) writeFile(file, content);
    },
  };
  return shell;
}

/** A private folder for the drill's keys and probes on this machine (0700). */
export const drillScratchDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "drkit-drill-"));
