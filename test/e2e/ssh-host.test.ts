import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, type EngineProject } from "../helpers/engine";
import { freePort, psqlAt } from "../helpers/sandbox";
import { startSshd, type Sshd } from "../helpers/sshd";

describe("an SSH host: the same components provision a sandbox through remote commands", () => {
  let sshd: Sshd;
  let project: EngineProject;
  let root: string;
  let port: number;
  const pulumi = (args: string[]) => project.pulumi(args);
  const sql = (query: string) => psqlAt(`${root}/var/run/postgresql`, port, query, "postgres");
  // A line from the middle of the key: it must appear nowhere in state or output.
  const keyLine = () => sshd.privateKey.split("\n")[2];

  beforeAll(async () => {
    sshd = await startSshd();
    project = engineProject("ssh");
    root = project.sandboxRoot;
    port = await freePort();
    project.writeStack(
      "remote",
      `config:
  drkit:hosts:
    db-remote:
      connection: { type: ssh, host: 127.0.0.1, port: ${sshd.port}, user: root, rootPrefix: ${root} }
  drkit:services:
    billing:
      host: db-remote
      postgres: { port: ${port}, databases: [billing], manager: { type: pg_ctl }, provision: true }
`,
    );
    expect((await pulumi(["stack", "init", "remote"])).status).toBe(0);
    const set = await pulumi([
      "config",
      "set",
      "--secret",
      "--path",
      "drkit:hosts.db-remote.connection.privateKey",
      "--",
      sshd.privateKey,
    ]);
    expect(set.status, set.stderr).toBe(0);
  });
  afterAll(async () => {
    await project?.pulumi(["destroy", "--yes"]);
    spawnSync("pkill", ["-f", "--", `-D ${root}`]);
    sshd?.stop();
    project?.remove();
  });

  it("pulumi up provisions the host over SSH and PostgreSQL takes the settings", async () => {
    const r = await pulumi(["up", "--yes", "--skip-preview"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/command:remote:Command/);
    expect(r.stdout).not.toMatch(/command:local:Command/);
    expect(sql("SHOW archive_mode")).toBe("on");
    expect(fs.statSync(`${root}/usr/local/lib/drkit/billing/backup-base`).mode & 0o777).toBe(0o755);
    expect(fs.readdirSync(`${root}/etc/systemd/system/timers.target.wants`)).toContain("drkit-billing-base.timer");
  });

  it("a second up is a no-op", async () => {
    const r = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });

  it("the private key is a secret: encrypted in the stack file, absent from state and from the CLI's output", () => {
    const stackFile = fs.readFileSync(path.join(project.dir, "stacks", "Pulumi.remote.yaml"), "utf8");
    expect(stackFile).toMatch(/privateKey:\s*\{?\s*secure:\s*'?v1:/);
    expect(keyLine().length).toBeGreaterThan(30);
    const state = project.stateText();
    expect(state).toContain("4dabf18193072939515e22adb298388d");
    expect(state).not.toContain(keyLine());
    expect(state).not.toContain("BEGIN OPENSSH PRIVATE KEY");
    for (const out of project.outputs) {
      expect(out).not.toContain(keyLine());
      expect(out).not.toContain("BEGIN OPENSSH PRIVATE KEY");
    }
  });

  it("destroy over SSH removes the files and keeps the data directory", async () => {
    const r = await pulumi(["destroy", "--yes"]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(`${root}/usr/local/lib/drkit/billing/archive-wal`)).toBe(false);
    expect(fs.existsSync(`${root}/var/lib/postgresql/15/main/PG_VERSION`)).toBe(true);
  });
});
