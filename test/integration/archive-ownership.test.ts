import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { applyServiceLocally } from "../../components/host/applyLocal";
import type { ServicePlan } from "../../components/plan/plan";
import { toolchainBin } from "../helpers/engine";
import {
  asPostgres,
  serviceSql,
  shippingSandboxPlan,
  stopDaemons,
  storeKeys,
  switchAndArchive,
} from "../helpers/localService";
import { startMinio, type MinioServer } from "../helpers/minio";
import { freePort, runAsync, sandboxFor, tempRoot, waitFor } from "../helpers/sandbox";

// A host rebuilt with a new PostgreSQL cluster (a new initdb: a new system identifier) on top of the archive
// directory and the bucket prefix of the old one. Provisioning refuses it, naming both clusters; a new archive
// epoch gives it a location of its own, and the old cluster's backups stay restorable from the old epoch.

// mc and minio come from the toolchain; the sandbox copies mc under its root from PATH.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

let minio: MinioServer;
let root: string;
let port: number;
const plans: ServicePlan[] = [];

function planFor(epoch: number): ServicePlan {
  const plan = shippingSandboxPlan(root, port, minio, "drkit-backups", epoch);
  plans.push(plan);
  return plan;
}

const sql = serviceSql;
const systemIdentifier = (plan: ServicePlan) =>
  sql(plan, "SELECT system_identifier FROM pg_control_system()", "postgres");
const recordOf = (text: string) => /^SYSTEM_IDENTIFIER=(\d+)$/m.exec(text)?.[1];
const keys = (prefix: string) => storeKeys(minio, "drkit-backups", prefix);
const object = async (key: string) => {
  const r = await minio.mc(["cat", `site_a/drkit-backups/${key}`]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};
const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

let first: ServicePlan; // epoch 1: the old cluster's deployment (and, rebuilt, the refused one)
let second: ServicePlan; // epoch 2
let oldSysid = "";
let newSysid = "";
let target = "";
let oldBackup = "";

beforeAll(async () => {
  minio = await startMinio("site_a");
  const mb = await minio.mc(["mb", "site_a/drkit-backups"]);
  expect(mb.status, mb.stderr).toBe(0);
  root = tempRoot("ownership");
  port = await freePort();
  first = planFor(1);
  second = planFor(2);
}, 120_000);

afterAll(async () => {
  for (const plan of plans) await stopDaemons(plan).catch(() => undefined);
  if (second) sandboxFor(second).destroy();
  await minio?.destroy();
});

describe("an archive location belongs to one cluster", () => {
  it("the first cluster claims the empty archive and bucket prefix at provisioning and archives there", async () => {
    await applyServiceLocally(first);
    oldSysid = systemIdentifier(first);
    expect(oldSysid).toMatch(/^\d{15,20}$/);
    const record = fs.readFileSync(first.archive.current.record, "utf8");
    expect(recordOf(record)).toBe(oldSysid);
    expect(record).toMatch(/^PG_MAJOR=15$/m);
    expect(recordOf(await object("svc/drkit-archive.env"))).toBe(oldSysid);

    sql(first, "CREATE TABLE orders (id int PRIMARY KEY)");
    sql(first, "INSERT INTO orders SELECT generate_series(1, 100)");
    const base = await asPostgres(first, "backup-base");
    expect(base.status, base.stderr).toBe(0);
    oldBackup = /base backup (\d{8}T\d{6}Z) complete/.exec(base.stderr)![1];
    expect(await keys("svc/base/")).toContain(`${oldBackup}/drkit-backup.env`);
    await new Promise((r) => setTimeout(r, 1100));
    target = sql(first, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
    await new Promise((r) => setTimeout(r, 1100));
    sql(first, "INSERT INTO orders SELECT generate_series(101, 130)");
    const segment = await switchAndArchive(first);
    expect(files(first.paths.walDir)).toContain(segment);
    // Off-site too (the shipper), before the host is rebuilt.
    await waitFor(`${segment} off-site`, async () => ((await keys("svc/wal/")).includes(segment) ? true : undefined));
  });

  it("a new cluster on the rebuilt host is refused at provisioning, naming the location and both", async () => {
    // The host is rebuilt: the old server and its data directory are gone, the backup root and bucket stay.
    await stopDaemons(first);
    const stop = await runAsync(path.join(first.paths.scriptsDir, "sandbox-postgres"), ["stop"]);
    expect(stop.status, stop.stderr).toBe(0);
    fs.rmSync(first.postgres.dataDirectory, { recursive: true, force: true });
    const walBefore = files(first.paths.walDir);
    const storeBefore = await keys("svc/");

    await expect(applyServiceLocally(first)).rejects.toThrow(/claim-archive/);
    newSysid = systemIdentifier(first); // the new cluster runs (initdb'd by the sandbox step), not archiving
    expect(newSysid).not.toBe(oldSysid);
    expect(sql(first, "SHOW archive_mode", "postgres")).toBe("off");

    // What the failed step said (run again, as provisioning ran it).
    const claim = await runAsync("bash", ["-c", serviceArtifacts(first).step("step:claim-archive").run]);
    expect(claim.status).toBe(1);
    expect(claim.stderr).toContain(
      `the local archive ${first.paths.backupRoot} (WAL in ${first.paths.walDir}) holds the archive of another ` +
        `PostgreSQL cluster (system identifier ${oldSysid}); this cluster is system identifier ${newSysid}`,
    );
    expect(claim.stderr).toContain(
      `object store site-a (drkit-backups/svc/) holds the archive of another PostgreSQL cluster (system ` +
        `identifier ${oldSysid}); this cluster is system identifier ${newSysid}`,
    );
    expect(claim.stderr).toContain("services.svc.archive.epoch: 2");

    // The archive command refuses the new cluster's WAL by its header, should it ever be pointed there.
    const wal = path.join(first.postgres.dataDirectory, "pg_wal", "000000010000000000000001");
    const refused = await asPostgres(first, "archive-wal", [wal, "000000010000000000000001"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`is from the cluster with system identifier ${newSysid}`);

    expect(files(first.paths.walDir)).toEqual(walBefore);
    expect(await keys("svc/")).toEqual(storeBefore);
    expect(recordOf(fs.readFileSync(first.archive.current.record, "utf8"))).toBe(oldSysid);
  });

  it("with archive.epoch: 2 the new cluster gets its own folder and prefix; the old archive is untouched", async () => {
    const walBefore = files(first.paths.walDir);
    const storeBefore = (await keys("svc/")).filter((k) => !k.startsWith("epoch-2/"));
    await applyServiceLocally(second);
    expect(second.paths.walDir).toBe(path.join(first.paths.backupRoot, "epoch-2", "wal"));
    expect(recordOf(fs.readFileSync(second.archive.current.record, "utf8"))).toBe(newSysid);
    expect(recordOf(await object("svc/epoch-2/drkit-archive.env"))).toBe(newSysid);
    expect(sql(second, "SHOW archive_mode", "postgres")).toBe("on");

    sql(second, "CREATE TABLE invoices (id int PRIMARY KEY)");
    sql(second, "INSERT INTO invoices SELECT generate_series(1, 7)");
    const base = await asPostgres(second, "backup-base");
    expect(base.status, base.stderr).toBe(0);
    const id = /base backup (\d{8}T\d{6}Z) complete/.exec(base.stderr)![1];
    expect(files(second.paths.baseDir)).toContain(id);
    expect(await keys("svc/epoch-2/base/")).toContain(`${id}/drkit-backup.env`);
    const segment = await switchAndArchive(second);
    expect(files(second.paths.walDir)).toContain(segment);
    await waitFor(`${segment} off-site under svc/epoch-2/`, async () =>
      (await keys("svc/epoch-2/wal/")).includes(segment) ? true : undefined,
    );

    expect(files(first.paths.walDir)).toEqual(walBefore);
    expect((await keys("svc/")).filter((k) => !k.startsWith("epoch-2/"))).toEqual(storeBefore);
    expect(recordOf(fs.readFileSync(first.archive.current.record, "utf8"))).toBe(oldSysid);
  });

  it("the old cluster's backup is still restorable from epoch 1: locally, then from the store alone", async () => {
    const local = await runAsync(path.join(second.paths.scriptsDir, "restore-pitr"), [
      ...["--epoch", "1", "--force", "--target-time", target, "--timeout", "120"],
    ]);
    expect(local.status, local.stderr).toBe(0);
    expect(local.stderr).toContain(`restoring base backup ${oldBackup}`);
    expect(systemIdentifier(second)).toBe(oldSysid);
    expect(sql(second, "SELECT count(*) FROM orders")).toBe("100");

    const offsite = await runAsync(path.join(second.paths.scriptsDir, "restore-pitr"), [
      ...["--epoch", "1", "--from-offsite", "--force", "--target-time", target, "--timeout", "120"],
    ]);
    expect(offsite.status, offsite.stderr).toBe(0);
    expect(offsite.stderr).toContain(`fetched base backup ${oldBackup}`);
    expect(systemIdentifier(second)).toBe(oldSysid);
    expect(sql(second, "SELECT count(*) FROM orders")).toBe("100");
    // Nothing was written into the new epoch's archive by the restored old cluster's own WAL.
    const foreign = files(second.paths.walDir).filter((f) => /^[0-9A-F]{24}$/.test(f));
    for (const f of foreign) {
      const header = execFileSync("od", ["-An", "-t", "u8", "-j", "24", "-N", "8", path.join(second.paths.walDir, f)]);
      expect(header.toString().trim()).toBe(newSysid);
    }
  });
});
