import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, sandboxStackYaml, type EngineProject } from "../helpers/engine";
import { renderPlanTo } from "../../cli/render";
import { loadStackPlan } from "../../components/plan/stackFile";
import { freePort, psqlAt, runAsync } from "../helpers/sandbox";

interface PreviewStep {
  op: string;
  urn: string;
  diffReasons?: string[];
}

const nameOf = (urn: string) => urn.split("::").pop()!;

describe("the real Pulumi engine: preview, up, no-op up, an RPO change and destroy of a sandbox stack", () => {
  let project: EngineProject;
  let root: string;
  let port: number;
  const sql = (query: string) => psqlAt(`${root}/var/run/postgresql`, port, query, "postgres");

  beforeAll(async () => {
    project = engineProject("local");
    root = project.sandboxRoot;
    port = await freePort();
    project.writeStack(
      "e2e",
      sandboxStackYaml(
        root,
        `    billing:
      host: sandbox
      rpo: 5m
      postgres:
        port: ${port}
        databases: [billing]
        manager: { type: pg_ctl }
        provision: true
`,
      ),
    );
    const init = await project.pulumi(["stack", "init", "e2e"]);
    expect(init.status, init.stderr).toBe(0);
  });
  afterAll(async () => {
    await project?.pulumi(["destroy", "--yes"]);
    spawnSync("pkill", ["-f", "--", `-D ${root}`]);
    project?.remove();
  });

  it("previews the whole sandbox without touching it", async () => {
    const r = await project.pulumi(["preview", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const steps = (JSON.parse(r.stdout).steps as PreviewStep[]).filter((s) => s.op === "create");
    const types = new Set(steps.map((s) => s.urn.split("::")[2].split("$").pop()));
    expect([...types].sort()).toEqual([
      "command:local:Command",
      "drkit:host:Agent",
      "drkit:host:BackupDirectories",
      "drkit:postgres:PostgresBackup",
      "drkit:postgres:SandboxPostgres",
      "drkit:postgres:WalArchiving",
      "drkit:systemd:TimerJob",
      "pulumi:pulumi:Stack",
    ]);
    expect(fs.existsSync(root)).toBe(false);
  });

  it("pulumi up provisions the sandbox and the settings take effect on the real server", async () => {
    const r = await project.pulumi(["up", "--yes", "--skip-preview"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(sql("SHOW archive_mode")).toBe("on");
    expect(sql("SELECT setting FROM pg_settings WHERE name = 'archive_timeout'")).toBe("240");
    const scripts = `${root}/usr/local/lib/drkit/billing`;
    for (const f of ["archive-wal", "backup-base", "prune", "restore-pitr", "verify-backup"]) {
      expect(fs.statSync(path.join(scripts, f)).mode & 0o777).toBe(0o755);
    }
    expect(fs.statSync(`${root}/var/lib/billing/backups/wal`).mode & 0o777).toBe(0o750);
    const wants = fs.readdirSync(`${root}/etc/systemd/system/timers.target.wants`).sort();
    expect(wants).toEqual(["drkit-billing-base.timer", "drkit-billing-logical.timer", "drkit-billing-verify.timer"]);
    sql("SELECT pg_switch_wal()");
    const base = await (await import("../helpers/sandbox")).runAsync(`${scripts}/backup-base`);
    expect(base.status, base.stderr).toBe(0);
  });

  it("drkit render writes exactly the files pulumi up placed (one artifact list)", async () => {
    const exported = path.join(project.dir, "state-export.json");
    const exp = await runAsync(
      "bash",
      ["-c", `cd "$1" && pulumi stack export --file "$2"`, "export", project.dir, exported],
      project.env,
    );
    expect(exp.status, exp.stderr).toBe(0);
    const resources = JSON.parse(fs.readFileSync(exported, "utf8")).deployment.resources as Array<{
      type: string;
      inputs?: { create?: string };
    }>;
    // Every file a host command placed: placeFileScript names its destination on a "dest=" line.
    const placed = new Set(
      resources
        .filter((r) => r.type === "command:local:Command" && typeof r.inputs?.create === "string")
        .flatMap((r) => [...r.inputs!.create!.matchAll(/^dest=(.+)$/gm)].map((m) => m[1]!.replace(/^'(.*)'$/, "$1")))
        .map((p) => p.slice(root.length)),
    );
    expect(placed.size).toBeGreaterThan(20);
    const out = path.join(project.dir, "rendered");
    const written = renderPlanTo(loadStackPlan(project.dir, "e2e"), out);
    const rendered = new Set(written.map((w) => w.hostPath));
    expect([...rendered].sort()).toEqual([...placed].sort());
    expect(rendered).toContain("/usr/local/lib/drkit/billing/drkit.env");
    expect(rendered).toContain("/usr/local/lib/drkit/billing/lib.sh");
  });

  it("a second pulumi up reports no changes", async () => {
    const r = await project.pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/\d+ unchanged/);
    expect(r.stdout).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
  });

  it("changing the RPO changes exactly the resources that depend on it, as the preview says", async () => {
    const set = await project.pulumi(["config", "set", "--path", "drkit:services.billing.rpo", "2m"]);
    expect(set.status, set.stderr).toBe(0);
    const preview = await project.pulumi(["preview", "--json"]);
    expect(preview.status, preview.stderr).toBe(0);
    const changed = (JSON.parse(preview.stdout).steps as PreviewStep[]).filter((s) => s.op !== "same");
    // Two files on the host (the drop-in and the agent's settings file; the agent itself is unchanged), and the
    // two components whose policy-visible inputs carry the RPO.
    expect(changed.map((s) => `${s.op} ${nameOf(s.urn)}`).sort()).toEqual([
      "update billing",
      "update billing-agent-settings",
      "update billing-archiving",
      "update billing-archiving-dropin",
    ]);
    expect(changed.filter((s) => s.urn.includes("command:")).every((s) => s.diffReasons?.join() === "stdin")).toBe(
      true,
    );
    const startedAt = sql("SELECT pg_postmaster_start_time()");
    const up = await project.pulumi(["up", "--yes", "--skip-preview"]);
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/4 updated/);
    expect(sql("SELECT setting FROM pg_settings WHERE name = 'archive_timeout'")).toBe("96");
    expect(sql("SELECT pg_postmaster_start_time()")).toBe(startedAt);
  });

  it("pulumi destroy removes what up created, keeps the data directory and the backups", async () => {
    const r = await project.pulumi(["destroy", "--yes"]);
    expect(r.status, r.stderr).toBe(0);
    // the agent's folder goes with its files (and drkit's folder, now empty)
    expect(fs.existsSync(`${root}/usr/local/lib/drkit`)).toBe(false);
    expect(fs.readdirSync(`${root}/etc/systemd/system`).filter((f) => f.startsWith("drkit-"))).toEqual([]);
    expect(fs.existsSync(`${root}/var/lib/postgresql/15/main/PG_VERSION`)).toBe(true);
    expect(fs.readdirSync(`${root}/var/lib/billing/backups/postgresql/base`).length).toBe(1);
    expect(fs.existsSync(`${root}/var/lib/postgresql/15/main/postmaster.pid`)).toBe(false);
  });
});
