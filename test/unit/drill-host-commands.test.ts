import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { buildPlan } from "../../components/plan/plan";
import { runPowerCommand, runReplaceCommand } from "../../drill/hostCommands";
import { HOST_KEY } from "../helpers/hostKeys";

const NEW_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACyZgboxRs0fQ3TNIuZP93Q5c23aqUjcyJ9DbWMR5rQ";

const plan = buildPlan(
  {
    hosts: {
      db1: { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } },
      sandbox: { connection: { type: "local" } },
    },
    services: { billing: { host: "db1", postgres: { databases: ["billing"] } } },
  },
  { baseDir: "/tmp" },
);
const db1 = plan.hosts.get("db1")!;

async function replace(command: string, host = db1) {
  const progress: string[] = [];
  try {
    return { key: await runReplaceCommand(command, host, (line) => progress.push(line)), progress };
  } catch (error) {
    return { error: (error as Error).message, progress };
  }
}

describe("--replace-host: the command that replaces a host for the drill's host loss", () => {
  it("gets the host's name and address, its stderr is progress, its last line is the new key", async () => {
    const r = await replace(
      `echo "destroying $DRKIT_DRILL_HOST at $DRKIT_DRILL_HOST_ADDRESS" >&2; echo booting; echo "10.0.0.1 ${NEW_KEY}"`,
    );
    expect(r.error).toBeUndefined();
    expect(r.key).toBe(NEW_KEY);
    expect(r.progress).toEqual(["--replace-host db1: destroying db1 at 10.0.0.1"]);
  });

  it("a command that fails names its exit status and its last words", async () => {
    const r = await replace("echo 'no capacity in zone b' >&2; exit 3");
    expect(r.error).toBe("--replace-host for db1 exited 3: no capacity in zone b");
  });

  it("a command that prints no key, or a broken one, is refused with what a key looks like", async () => {
    expect((await replace("true")).error).toMatch(
      /--replace-host for db1: the last line of its output must be the host's public key/,
    );
    expect((await replace(`echo "${NEW_KEY.slice(0, 40)}"`)).error).toMatch(/the key data after ssh-ed25519 is cut/);
  });

  it("a new host with the old host's key is refused: the stack could not tell them apart", async () => {
    const r = await replace(`echo "${HOST_KEY} root@db1"`);
    expect(r.error).toMatch(/the new host presents the old one's key .* give the new host keys of its own/);
  });

  it("a local host cannot be replaced", async () => {
    expect((await replace("true", plan.hosts.get("sandbox")!)).error).toBe(
      "host sandbox is not reached over SSH: --replace-host cannot act on it",
    );
  });
});

describe("--power-host: the command that powers a host off and on for the drill's primary crash", () => {
  it("gets the host and off or on; a failure names its exit status and last words", async () => {
    const progress: string[] = [];
    const say = (line: string) => progress.push(line);
    const command = 'echo "$DRKIT_DRILL_POWER $DRKIT_DRILL_HOST $DRKIT_DRILL_HOST_ADDRESS" >&2';
    await runPowerCommand(command, db1, "off", say);
    await runPowerCommand(command, db1, "on", say);
    expect(progress).toEqual(["--power-host db1: off db1 10.0.0.1", "--power-host db1: on db1 10.0.0.1"]);
    await expect(runPowerCommand("echo 'no such machine' >&2; exit 4", db1, "on", say)).rejects.toThrow(
      "--power-host for db1 exited 4: no such machine",
    );
    await expect(runPowerCommand("true", plan.hosts.get("sandbox")!, "off", say)).rejects.toThrow(
      "host sandbox is not reached over SSH: --power-host cannot act on it",
    );
  });
});

describe("the CLI's host commands", () => {
  it("are taken only with --break-host, and not empty", () => {
    const cli = path.join(__dirname, "../../bin/drkit.js");
    for (const option of ["--replace-host", "--power-host"]) {
      const alone = spawnSync("node", [cli, "drill", option, "make-host"], { encoding: "utf8" });
      expect(alone.status).not.toBe(0);
      expect(alone.stderr).toContain(`${option} acts on a real host: name the service's hosts with --break-host`);
      const empty = spawnSync("node", [cli, "drill", "--break-host", "db1", option, " "], { encoding: "utf8" });
      expect(empty.status).not.toBe(0);
      expect(empty.stderr).toContain(`${option}: the command is empty`);
    }
  });
});
