import { spawn } from "node:child_process";
import type { HostPlan } from "../components/plan/plan";
import { parseSshHostKey } from "../components/plan/sshHostKey";

/** What a `pulumi up` run by the drill printed, and whether it completed. */
export interface EngineRun {
  readonly ok: boolean;
  readonly output: string;
  readonly error?: string;
}

/**
 * How the drill replaces a real host for its host loss: a command of the operator's that destroys the host and
 * brings up a new one at its address (what their cloud or their machine images do), then the new host's key pinned
 * in the stack and `pulumi up` run on it, as an operator rebuilding a host would.
 */
export interface HostReplacement {
  /** Run with `bash -c`; see `runReplaceCommand` for its contract. */
  readonly command: string;
  pinHostKey(host: string, hostKey: string): Promise<void>;
  up(): Promise<EngineRun>;
}

const HOST_COMMAND_TIMEOUT_MS = 20 * 60_000;

/**
 * Runs an operator's command for a host with `bash -c`, DRKIT_DRILL_HOST (its name in the stack),
 * DRKIT_DRILL_HOST_ADDRESS (its address) and `env` set; its stderr goes to `progress`. Returns its stdout; fails,
 * naming `option`, when it exits non-zero or runs for 20 minutes.
 */
async function runHostCommand(
  option: string,
  command: string,
  host: HostPlan,
  env: Record<string, string>,
  progress: (line: string) => void,
): Promise<string> {
  const c = host.connection;
  if (c.type !== "ssh") throw new Error(`host ${host.name} is not reached over SSH: ${option} cannot act on it`);
  const r = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn("bash", ["-c", command], {
      env: { ...process.env, DRKIT_DRILL_HOST: host.name, DRKIT_DRILL_HOST_ADDRESS: c.host, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) progress(`${option} ${host.name}: ${line}`);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), HOST_COMMAND_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (partial.trim()) progress(`${option} ${host.name}: ${partial}`);
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
  const tail = r.stderr.trim().split("\n").slice(-3).join(" | ");
  if (r.status !== 0)
    throw new Error(
      `${option} for ${host.name} exited ${r.status === -1 ? "after 20 min (killed)" : r.status}` +
        `${tail ? `: ${tail}` : ""}`,
    );
  return r.stdout;
}

/**
 * Runs the replace command for `host` (see runHostCommand): it must destroy the host, bring up a new one at the
 * same address that accepts the stack's SSH key and has what the stack expects of a host before drkit (its
 * PostgreSQL installed), and print the new host's public key ("ssh-ed25519 AAAA...") as the last line of its
 * output. Returns the new key; fails when the command fails, prints no key, or the key is the old host's (the
 * stack could not tell the hosts apart, and `pulumi up` would place nothing on the new one).
 */
export async function runReplaceCommand(
  command: string,
  host: HostPlan,
  progress: (line: string) => void,
): Promise<string> {
  const stdout = await runHostCommand("--replace-host", command, host, {}, progress);
  const last =
    stdout
      .trim()
      .split("\n")
      .filter((l) => l.trim())
      .pop() ?? "";
  const parsed = parseSshHostKey(last || "(nothing)");
  if ("problem" in parsed)
    throw new Error(`--replace-host for ${host.name}: the last line of its output ${parsed.problem}`);
  if (host.connection.type === "ssh" && host.connection.hostKey === parsed.key)
    throw new Error(
      `--replace-host for ${host.name}: the new host presents the old one's key (${parsed.key.slice(0, 40)}...): ` +
        "the stack tells a replaced host by its new key, so give the new host keys of its own",
    );
  return parsed.key;
}

/**
 * Runs the power command for `host` (see runHostCommand) with DRKIT_DRILL_POWER set: `off` must power the host
 * off at once, as a pulled plug would (no orderly shutdown); `on` must boot it again on the same disk and return
 * once it accepts SSH.
 */
export async function runPowerCommand(
  command: string,
  host: HostPlan,
  power: "off" | "on",
  progress: (line: string) => void,
): Promise<void> {
  await runHostCommand("--power-host", command, host, { DRKIT_DRILL_POWER: power }, progress);
}
