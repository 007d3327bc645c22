import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, sandboxStackYaml, type EngineProject } from "../helpers/engine";
import { freePort, psqlAt } from "../helpers/sandbox";
import { serverTlsPems, type ServerTlsPems } from "../helpers/testCa";

describe("pulumi up provisions a primary and a synchronous standby; the replication password stays secret", () => {
  let project: EngineProject;
  let root: string;
  let port: number;
  let standbyPort: number;
  let tls: ServerTlsPems;
  const pulumi = (args: string[]) => project.pulumi(args);

  beforeAll(async () => {
    project = engineProject("replicas");
    root = project.sandboxRoot;
    [port, standbyPort] = [await freePort(), await freePort()];
    project.writeStack(
      "replicas",
      sandboxStackYaml(
        root,
        `    billing:
      host: sandbox
      postgres: { port: ${port}, databases: [billing], manager: { type: pg_ctl }, provision: true }
      standbys:
        - { name: replica_a, host: sandbox, port: ${standbyPort}, synchronous: true }
`,
      ),
    );
    expect((await pulumi(["stack", "init", "replicas"])).status).toBe(0);
    // Replication TLS from certificates the stack config gives, the key a Pulumi secret.
    tls = serverTlsPems({ ips: ["127.0.0.1"] });
    for (const [field, secret] of [
      ["ca", false],
      ["certificate", false],
      ["key", true],
    ] as const) {
      const at = `drkit:services.billing.replication.tls.${field}`;
      const set = await pulumi(["config", "set", ...(secret ? ["--secret"] : []), "--path", at, "--", tls[field]]);
      expect(set.status, set.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await project?.pulumi(["destroy", "--yes"]);
    spawnSync("pkill", ["-f", "--", `-D ${root}`]);
    project?.remove();
  });

  it("up creates the replica, which streams synchronously", async () => {
    const r = await pulumi(["up", "--yes", "--skip-preview"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("random:index:RandomPassword");
    const sock = `${root}/var/run/postgresql`;
    expect(psqlAt(sock, port, "SELECT application_name || '=' || sync_state FROM pg_stat_replication")).toBe(
      "replica_a=sync",
    );
    psqlAt(sock, port, "CREATE TABLE t AS SELECT generate_series(1, 100) AS id", "billing");
    expect(psqlAt(sock, standbyPort, "SELECT count(*) FROM t", "billing")).toBe("100");
    expect(psqlAt(sock, port, "SELECT ssl FROM pg_stat_ssl JOIN pg_stat_replication USING (pid)")).toBe("t");
    expect(psqlAt(sock, standbyPort, "SHOW primary_conninfo")).toContain("sslmode=verify-full");
  });

  it("a second up is a no-op", async () => {
    const r = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });

  it("the generated passwords and the TLS key are only in 0600 files: never in state or output", () => {
    const passFile = `${root}/etc/drkit/billing/replication.pgpass`;
    expect(fs.statSync(passFile).mode & 0o777).toBe(0o600);
    // the replication role's password, then the rewind role's
    const lines = fs.readFileSync(passFile, "utf8").trim().split("\n");
    expect(lines.map((line) => line.split(":")[3])).toEqual(["drkit_replicator", "drkit_rewind"]);
    const passwords = lines.map((line) => line.split(":")[4]);
    const state = project.stateText();
    for (const password of passwords) {
      expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(state).not.toContain(password);
      for (const out of project.outputs) expect(out).not.toContain(password);
    }
    expect(passwords[0]).not.toBe(passwords[1]);
    const keyBody = tls.key.split("\n")[1];
    expect(state).not.toContain(keyBody);
    expect(fs.readFileSync(`${root}/etc/drkit/billing/tls/server.key`, "utf8")).toContain(keyBody);
  });

  it("destroy stops the standby and keeps its data", async () => {
    const r = await pulumi(["destroy", "--yes"]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(`${root}/var/lib/postgresql/15/replica_a/PG_VERSION`)).toBe(true);
    expect(fs.existsSync(`${root}/var/lib/postgresql/15/replica_a/postmaster.pid`)).toBe(false);
  });
});
