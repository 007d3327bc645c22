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

// A host replaced by one built from an image that carries a copy of the cluster: the same system identifier,
// at the position the copy was taken, behind the archive the lost host went on writing. Provisioning refuses it
// (the archive is ahead of it) and claims nothing; the store is left as it was. The restore from the store that
// follows puts the cluster on a new timeline, and then provisioning completes.

process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

const BUCKET = "drkit-backups";
let minio: MinioServer;
let plan: ServicePlan;

const sql = serviceSql;
const keys = (prefix: string) => storeKeys(minio, BUCKET, prefix);
// cp -a: the data directory stays the PostgreSQL OS user's, with its modes
const copyKeepingOwners = (from: string, to: string) => execFileSync("cp", ["-a", "--", from, to]);
const sandboxPostgres = (verb: "start" | "stop") =>
  runAsync(path.join(plan.paths.scriptsDir, "sandbox-postgres"), [verb]);

beforeAll(async () => {
  minio = await startMinio("site_a");
  const mb = await minio.mc(["mb", `site_a/${BUCKET}`]);
  expect(mb.status, mb.stderr).toBe(0);
  const root = tempRoot("cluster-copy");
  const port = await freePort();
  plan = shippingSandboxPlan(root, port, minio, BUCKET);
}, 120_000);

afterAll(async () => {
  if (plan) {
    await stopDaemons(plan).catch(() => undefined);
    sandboxFor(plan).destroy();
  }
  await minio?.destroy();
});

describe("a copy of the cluster behind its archive (a host rebuilt from an image)", () => {
  let image = "";
  let sysid = "";
  let newest = "";

  it("the cluster is deployed, copied while stopped, and goes on archiving past the copy", async () => {
    await applyServiceLocally(plan);
    sysid = sql(plan, "SELECT system_identifier FROM pg_control_system()", "postgres");
    sql(plan, "CREATE TABLE orders (id int PRIMARY KEY)");
    sql(plan, "INSERT INTO orders SELECT generate_series(1, 100)");
    const base = await asPostgres(plan, "backup-base");
    expect(base.status, base.stderr).toBe(0);
    const stop = await sandboxPostgres("stop");
    expect(stop.status, stop.stderr).toBe(0);
    image = `${plan.postgres.dataDirectory}.image`;
    copyKeepingOwners(plan.postgres.dataDirectory, image);
    const start = await sandboxPostgres("start");
    expect(start.status, start.stderr).toBe(0);
    // three segments past the copy (a switch with nothing written since the last one moves nothing)
    for (let i = 0; i < 3; i++) {
      sql(plan, `INSERT INTO orders SELECT generate_series(${101 + 10 * i}, ${110 + 10 * i})`);
      newest = await switchAndArchive(plan);
    }
    await waitFor(`${newest} off-site`, async () => ((await keys("svc/wal/")).includes(newest) ? true : undefined));
  });

  it("the host is replaced (a new disk, the copy as its cluster): provisioning refuses, claims nothing", async () => {
    await stopDaemons(plan);
    const stop = await sandboxPostgres("stop");
    expect(stop.status, stop.stderr).toBe(0);
    fs.rmSync(plan.postgres.dataDirectory, { recursive: true, force: true });
    fs.rmSync(plan.paths.backupRoot, { recursive: true, force: true });
    copyKeepingOwners(image, plan.postgres.dataDirectory);
    const storeBefore = await keys("svc/");

    await expect(applyServiceLocally(plan)).rejects.toThrow(/claim-archive/);
    expect(sql(plan, "SELECT system_identifier FROM pg_control_system()", "postgres")).toBe(sysid);
    const position = sql(plan, "SELECT pg_walfile_name(pg_current_wal_lsn())", "postgres");
    expect(position < newest).toBe(true);

    const claim = await runAsync("bash", ["-c", serviceArtifacts(plan).step("step:claim-archive").run]);
    expect(claim.status).toBe(1);
    expect(claim.stderr).toContain(
      `object store site-a (${BUCKET}/svc/) holds WAL up to ${newest} on timeline 1, beyond this cluster's ` +
        `position ${position} on it, under the same system identifier ${sysid}`,
    );
    expect(claim.stderr).toContain("Restore it first (restore-pitr --from-offsite)");
    expect(fs.existsSync(plan.archive.current.record)).toBe(false);
    expect(await keys("svc/")).toEqual(storeBefore);
  });

  it("restored from the store, the cluster is on a new timeline and provisioning completes", async () => {
    const restore = await runAsync(path.join(plan.paths.scriptsDir, "restore-pitr"), [
      ...["--from-offsite", "--force", "--timeout", "120"],
    ]);
    expect(restore.status, restore.stderr).toBe(0);
    expect(sql(plan, "SELECT count(*) FROM orders")).toBe("130");
    const timeline = sql(plan, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", "postgres");
    expect(parseInt(timeline, 16)).toBeGreaterThan(1);
    await applyServiceLocally(plan);
    expect(sql(plan, "SHOW archive_mode", "postgres")).toBe("on");
    const record = fs.readFileSync(plan.archive.current.record, "utf8");
    expect(record).toContain(`SYSTEM_IDENTIFIER=${sysid}`);
  });
});
