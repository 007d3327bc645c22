import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStorePlan } from "../../components/plan/offsite";
import { buildPlan } from "../../components/plan/plan";
import { readStackConfig } from "../../components/plan/stackFile";
import { minioIlmJson } from "../../components/objectstore/minioScripts";
import { engineProject, sandboxStackYaml, type EngineProject } from "../helpers/engine";
import { mcBinary, mcHostValue } from "../helpers/minio";
import { freePort, freePortPair, processAlive, psqlAt, runAsync, waitFor, type RunResult } from "../helpers/sandbox";

// Off-site copies through the real engine: two sandbox MinIO servers that pulumi up starts, site-a replicating
// to site-b, a sandbox PostgreSQL shipping every backup and WAL segment to site-a.

const STACK = "offsite";
const SECRET_KEY = `drkitE2e${randomBytes(16).toString("hex")}`;
const ACCESS_KEY = "ops-site-a";

const alive = processAlive;
const pidIn = (file: string) =>
  fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8").split("\n")[0]) : undefined;

describe("pulumi up ships off-site: two provisioned MinIO sites, replication A -> B, keys kept secret", () => {
  let project: EngineProject;
  let root: string;
  let pgPort: number;
  const site = {
    a: { port: 0, dir: "", keys: { accessKey: ACCESS_KEY, secretKey: SECRET_KEY } },
    b: { port: 0, dir: "", keys: { accessKey: "drkit-site-b", secretKey: "" } },
  };
  const minioPids: number[] = [];
  const mcHome = () => path.join(path.dirname(project.dir), "mc-home");
  const scripts = () => `${root}/usr/local/lib/drkit/billing`;
  let backupId = "";

  /** mc with site-a as alias `a` and site-b as alias `b` (keys in the environment, never argv). */
  const mc = (args: string[]): Promise<RunResult> =>
    runAsync(
      mcBinary(),
      args,
      {
        MC_CONFIG_DIR: mcHome(),
        MC_DISABLE_PAGER: "1",
        MC_NO_COLOR: "1",
        MC_HOST_a: mcHostValue(`http://127.0.0.1:${site.a.port}`, site.a.keys.accessKey, site.a.keys.secretKey),
        MC_HOST_b: mcHostValue(`http://127.0.0.1:${site.b.port}`, site.b.keys.accessKey, site.b.keys.secretKey),
      },
      120_000,
    );
  const mcOk = async (args: string[]) => {
    const r = await mc(args);
    expect(r.status, `mc ${args.join(" ")}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const keysIn = async (bucketPath: string) =>
    (await mcOk(["ls", "--recursive", "--json", bucketPath]))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).key as string);

  /** The stores as the program plans them, from the stack file as it is now (keys as {secure} values). */
  const stores = (): Record<string, ObjectStorePlan> => {
    const plan = buildPlan(readStackConfig(project.dir, STACK), { baseDir: project.dir });
    return Object.fromEntries(plan.objectStores.map((s) => [s.name, s]));
  };

  beforeAll(async () => {
    project = engineProject("offsite");
    root = project.sandboxRoot;
    pgPort = await freePort();
    site.a.port = await freePortPair([pgPort]);
    site.b.port = await freePortPair([pgPort, site.a.port]);
    site.a.dir = path.join(root, "minio", "site-a");
    site.b.dir = path.join(root, "minio", "site-b");
    fs.mkdirSync(mcHome(), { recursive: true });
    project.writeStack(
      STACK,
      `${sandboxStackYaml(
        root,
        `    billing:
      host: sandbox
      postgres: { port: ${pgPort}, databases: [billing], manager: { type: pg_ctl }, provision: true }
      offsite:
        targets: [site-a]
        retry: { attempts: 3, initialDelay: 1s }
`,
      )}  drkit:objectStores:
    site-a:
      type: minio
      endpoint: http://127.0.0.1:${site.a.port}
      bucket: drkit-billing
      replicateTo: site-b
      provision: { dataDirectory: ${site.a.dir} }
    site-b:
      type: minio
      endpoint: http://127.0.0.1:${site.b.port}
      bucket: drkit-billing-replica
      provision: { dataDirectory: ${site.b.dir} }
`,
    );
    const init = await project.pulumi(["stack", "init", STACK]);
    expect(init.status, init.stderr).toBe(0);
    const access = await project.pulumi(["config", "set", "--path", "drkit:objectStores.site-a.accessKey", ACCESS_KEY]);
    expect(access.status, access.stderr).toBe(0);
    const secret = await project.pulumi([
      "config",
      "set",
      "--path",
      "--secret",
      "drkit:objectStores.site-a.secretKey",
      SECRET_KEY,
    ]);
    expect(secret.status, secret.stderr).toBe(0);
  });

  afterAll(async () => {
    if (!project) return;
    await project.pulumi(["destroy", "--yes"]);
    // Whatever a failed run left behind, by the pids it recorded.
    for (const pid of [
      ...minioPids,
      pidIn(`${site.a.dir}/minio.pid`),
      pidIn(`${site.b.dir}/minio.pid`),
      pidIn(`${root}/var/lib/postgresql/15/main/postmaster.pid`),
    ]) {
      if (pid && alive(pid)) process.kill(pid, "SIGTERM");
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (const pid of minioPids) if (alive(pid)) process.kill(pid, "SIGKILL");
    project.remove();
  });

  it("keeps the configured secret key encrypted in the stack file", () => {
    const text = fs.readFileSync(path.join(project.dir, "stacks", `Pulumi.${STACK}.yaml`), "utf8");
    expect(text).not.toContain(SECRET_KEY);
    expect(text).toContain(`accessKey: ${ACCESS_KEY}`);
    expect(text).toMatch(/secretKey:\s*\n?\s*secure: v1:/);
  });

  it(
    "pulumi up starts both servers and configures both buckets: versioning, drkit's lifecycle, " + "replication A -> B",
    async () => {
      const up = await project.pulumi(["up", "--yes", "--skip-preview"]);
      expect(up.status, `${up.stdout}\n${up.stderr}`).toBe(0);
      for (const s of [site.a, site.b]) {
        const pid = pidIn(`${s.dir}/minio.pid`);
        expect(pid && alive(pid), `${s.dir}/minio.pid`).toBe(true);
        minioPids.push(pid!);
      }
      // The servers' own directories are private; the sandbox root they share with PostgreSQL stays traversable.
      for (const s of [site.a, site.b]) expect(fs.statSync(s.dir).mode & 0o777).toBe(0o700);
      for (const dir of [root, path.dirname(site.a.dir)]) expect(fs.statSync(dir).mode & 0o777, dir).toBe(0o755);
      // site-b's generated key is only in the encrypted state: read it the way an operator would.
      const exported = path.join(path.dirname(project.dir), "export.json");
      const exp = await runAsync(
        "bash",
        ["-c", `cd "$1" && pulumi stack export --show-secrets --file "$2"`, "export", project.dir, exported],
        project.env,
      );
      expect(exp.status, exp.stderr).toBe(0);
      const resources = JSON.parse(fs.readFileSync(exported, "utf8")).deployment.resources as Array<{
        type: string;
        urn: string;
        outputs?: Record<string, any>;
      }>;
      fs.rmSync(exported);
      const generated = resources.find(
        (r) =>
          r.type === "random:index/randomPassword:RandomPassword" && r.urn.endsWith("::store-site-b-server-secret-key"),
      )!;
      const result = generated.outputs!.result;
      // --show-secrets writes a secret as {<secret signature>, plaintext: <JSON text>}.
      site.b.keys.secretKey = typeof result === "string" ? result : JSON.parse(result.plaintext);
      expect(site.b.keys.secretKey).toMatch(/^[A-Za-z0-9]{40}$/);

      const plans = stores();
      for (const [alias, bucket, store] of [
        ["a", "drkit-billing", plans["site-a"]],
        ["b", "drkit-billing-replica", plans["site-b"]],
      ] as const) {
        expect(
          JSON.parse(await mcOk(["version", "info", `${alias}/${bucket}`, "--json"])).versioning?.status ?? "",
        ).toBe("Enabled");
        const ilm = JSON.parse(await mcOk(["ilm", "export", `${alias}/${bucket}`]));
        expect(ilm).toEqual(JSON.parse(minioIlmJson(store)));
      }
      const rules = JSON.parse(minioIlmJson(plans["site-a"])).Rules as Array<{
        ID: string;
        Expiration?: { Days?: number };
      }>;
      expect(rules.find((r) => r.ID === "billing/wal/")?.Expiration?.Days).toBe(31);
      const replication = (await mcOk(["replicate", "ls", "a/drkit-billing", "--json"]))
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      const enabled = replication.filter((r) => r.rule?.Status === "Enabled");
      expect(enabled, JSON.stringify(replication)).toHaveLength(1);
      expect(JSON.stringify(enabled[0])).toContain("drkit-billing-replica");
      // The host side: 0600 credentials for the postgres user, mc in the sandbox.
      const creds = `${root}/etc/drkit/billing/offsite-site-a.env`;
      expect(fs.statSync(creds).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(creds, "utf8")).toContain(`MC_HOST_drkit_site_a=http://${ACCESS_KEY}:`);
      expect(fs.existsSync(`${root}/usr/local/bin/mc`)).toBe(true);
      expect(fs.readdirSync(`${root}/etc/systemd/system/timers.target.wants`)).toContain("drkit-billing-offsite.timer");
    },
  );

  it("a second pulumi up reports no changes", async () => {
    const r = await project.pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
  });

  it("a base backup lands in site-a, confirmed by checksum, and bucket replication copies it to site-b", async () => {
    psqlAt(
      `${root}/var/run/postgresql`,
      pgPort,
      "CREATE TABLE orders AS SELECT generate_series(1, 100) AS id",
      "billing",
    );
    const base = await runAsync(`${scripts()}/backup-base`);
    expect(base.status, base.stderr).toBe(0);
    backupId = /base backup (\d{8}T\d{6}Z) complete/.exec(base.stderr)![1];
    expect(base.stderr).toContain(`base ${backupId} confirmed on site-a`);
    expect(fs.existsSync(`${root}/var/lib/billing/backups/.offsite/site-a/base/${backupId}`)).toBe(true);
    const inA = await keysIn("a/drkit-billing/billing/base/");
    expect(inA).toEqual(expect.arrayContaining([`${backupId}/backup_manifest`, `${backupId}/drkit-backup.env`]));
    expect((await keysIn("a/drkit-billing/billing/wal/")).length).toBeGreaterThan(0);
    const inB = await waitFor(
      "replication of the base backup to site-b",
      async () => {
        const keys = await keysIn("b/drkit-billing-replica/billing/base/");
        return inA.every((k) => keys.includes(k)) ? keys : undefined;
      },
      120,
    );
    expect(inB).toEqual(expect.arrayContaining([`${backupId}/drkit-backup.env`]));
    const status = await runAsync(`${scripts()}/ship-offsite`, ["status"]);
    expect(status.stdout).toContain(`site-a base ${backupId} confirmed`);
  });

  it("the secret key is in no state file and no CLI output; neither is site-b's generated key", () => {
    expect(backupId).not.toBe("");
    const state = project.stateText();
    expect(state.length).toBeGreaterThan(1000);
    expect(state).toContain("drkit:objectstore:MinioTarget");
    for (const secret of [SECRET_KEY, site.b.keys.secretKey]) {
      expect(secret.length).toBeGreaterThan(20);
      expect(state.includes(secret)).toBe(false);
      for (const out of project.outputs) expect(out.includes(secret)).toBe(false);
    }
    expect(project.outputs.join("\n")).toContain("store-site-a");
  });

  it("pulumi destroy stops the sandbox servers and keeps the MinIO data and the backups", async () => {
    const r = await project.pulumi(["destroy", "--yes"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    await new Promise((res) => setTimeout(res, 500));
    for (const pid of minioPids) expect(alive(pid), `minio pid ${pid}`).toBe(false);
    for (const s of [site.a, site.b]) expect(fs.existsSync(`${s.dir}/minio.pid`)).toBe(false);
    expect(fs.existsSync(`${root}/var/lib/postgresql/15/main/postmaster.pid`)).toBe(false);
    expect(fs.existsSync(`${root}/var/lib/postgresql/15/main/PG_VERSION`)).toBe(true);
    // Local backups, and the objects in both sites' data directories (MinIO keeps one directory per object).
    expect(fs.readdirSync(`${root}/var/lib/billing/backups/postgresql/base`)).toContain(backupId);
    expect(fs.existsSync(`${site.a.dir}/data/drkit-billing/billing/base/${backupId}/drkit-backup.env`)).toBe(true);
    expect(fs.existsSync(`${site.b.dir}/data/drkit-billing-replica/billing/base/${backupId}/drkit-backup.env`)).toBe(
      true,
    );
    // The credentials file is gone with the rest of what up placed.
    expect(fs.existsSync(`${root}/etc/drkit/billing/offsite-site-a.env`)).toBe(false);
  });
});
