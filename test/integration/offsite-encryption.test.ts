import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchainBin } from "../helpers/engine";
import { startMinio, type MinioServer } from "../helpers/minio";
import { startSandbox, tempRoot, waitFor, type Sandbox } from "../helpers/sandbox";

// mc and minio come from the toolchain; the sandbox copies mc under its root from PATH.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

const AGE_HEADER = "age-encryption.org/v1";
const scratch = tempRoot("offsite-encryption");
const identity = path.join(scratch, "identity");
// A value no compression hides: WAL holds it as written, so a plaintext segment off-site would show it.
const canary = `drkit-canary-${Math.random().toString(36).slice(2)}`;
let store: MinioServer;
let sb: Sandbox;

const keys = async (prefix: string) => {
  const r = await store.mc(["ls", "--recursive", "--json", `${store.name}/drkit-sealed/${prefix}`]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).key as string);
};
const objectBytes = async (key: string) => {
  const file = path.join(scratch, "object");
  const r = await store.mc(["cp", "--quiet", `${store.name}/drkit-sealed/${key}`, file]);
  expect(r.status, r.stderr).toBe(0);
  return fs.readFileSync(file);
};
const archivedUpTo = () => sb.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", "postgres");

beforeAll(async () => {
  execFileSync("age-keygen", ["-o", identity], { stdio: "ignore" });
  const recipient = execFileSync("age-keygen", ["-y", identity], { encoding: "utf8" }).trim();
  store = await startMinio("sealed");
  const mb = await store.mc(["mb", `${store.name}/drkit-sealed`]);
  expect(mb.status, mb.stderr).toBe(0);
  sb = await startSandbox({
    label: "offsite-encryption",
    service: {
      offsite: {
        targets: ["site-a"],
        retry: { attempts: 2, initialDelay: "1s" },
        encryption: { recipients: [recipient] },
      },
    },
    objectStores: {
      "site-a": {
        type: "minio",
        endpoint: store.endpoint,
        bucket: "drkit-sealed",
        accessKey: store.accessKey,
        secretKey: store.secretKey,
      },
    },
  });
  sb.sql("CREATE TABLE notes (id int PRIMARY KEY, body text)");
}, 300_000);

afterAll(async () => {
  sb?.destroy();
  await store?.destroy();
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe("off-site copies encrypted with age, against MinIO and a real PostgreSQL", () => {
  it("the store holds only age files: base backup, its metadata and the WAL that carries the rows", async () => {
    sb.sql(`INSERT INTO notes SELECT g, '${canary}' FROM generate_series(1, 100) g`);
    const base = await sb.run("backup-base");
    expect(base.status, base.stderr).toBe(0);
    const id = /base backup (\d{8}T\d{6}Z) complete/.exec(base.stderr)![1];
    expect(base.stderr).toContain(`base ${id} confirmed on site-a`);
    sb.sql(`INSERT INTO notes SELECT g, '${canary}' FROM generate_series(101, 150) g`);
    const segment = sb.sql("SELECT pg_walfile_name(pg_switch_wal())", "postgres");
    await waitFor(`archiving of ${segment}`, () => (archivedUpTo() >= segment ? true : undefined));
    await waitFor(
      `upload of ${segment}`,
      async () => ((await keys("svc/wal/")).includes(segment) ? true : undefined),
      60,
    );
    // The local segment holds the rows as written: the check below would see plaintext.
    expect(fs.readFileSync(path.join(sb.plan.paths.walDir, segment)).includes(canary)).toBe(true);
    const objects = await keys("svc/");
    expect(objects).toEqual(expect.arrayContaining([`base/${id}/drkit-backup.env`, `wal/${segment}`]));
    // The archive's owner record is no backup: every host reads it without the identity.
    expect(objects).toContain("drkit-archive.env");
    for (const key of objects.filter((k) => k !== "drkit-archive.env")) {
      const bytes = await objectBytes(`svc/${key}`);
      expect(bytes.subarray(0, AGE_HEADER.length).toString(), key).toBe(AGE_HEADER);
      expect(bytes.includes(canary), key).toBe(false);
    }
    // The shipper keeps no sealed copy of what the store holds (once it has read the checksums back).
    const sealed = path.join(sb.plan.offsite!.markerDir, "site-a", "sealed");
    await waitFor("the sealed copies to go", () => (fs.readdirSync(sealed).length === 0 ? true : undefined), 30).catch(
      (error: Error) => {
        const log = path.join(sb.plan.offsite!.markerDir, "shipper.log");
        throw new Error(`${error.message}: ${fs.readdirSync(sealed).join(" ")}\n${fs.readFileSync(log, "utf8")}`);
      },
    );
  });

  it("a restore from the store without the identity fails before the data directory is touched", async () => {
    const r = await sb.run("restore-pitr", ["--from-offsite", "--force", "--timeout", "60"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("is encrypted with age: give the identity that opens it (--identity FILE)");
    expect(Number(sb.sql("SELECT count(*) FROM notes"))).toBe(150);
    const dataParent = path.dirname(sb.plan.postgres.dataDirectory);
    expect(fs.readdirSync(dataParent).filter((f) => f.includes("before-restore"))).toEqual([]);
  });

  it("with the identity, a lost host comes back from the store alone, every row there", async () => {
    const stop = await sb.run("sandbox-postgres", ["stop"]);
    expect(stop.status, stop.stderr).toBe(0);
    fs.rmSync(sb.plan.postgres.dataDirectory, { recursive: true, force: true });
    fs.rmSync(sb.plan.paths.baseDir, { recursive: true, force: true });
    fs.rmSync(sb.plan.paths.walDir, { recursive: true, force: true });
    const r = await sb.run("restore-pitr", ["--from-offsite", "--identity", identity, "--timeout", "120"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("fetched base backup");
    expect(Number(sb.sql("SELECT count(*) FROM notes"))).toBe(150);
    expect(sb.sql("SELECT DISTINCT body FROM notes")).toBe(canary);
    // The copy of the identity made for the restore went with its staging folder.
    expect(fs.existsSync(path.join(sb.plan.paths.backupRoot, ".restore-staging"))).toBe(false);
  });
  it("a logical dump comes back from the store alone, and restore-logical puts the table back", async () => {
    const dump = await sb.run("backup-logical");
    expect(dump.status, dump.stderr).toBe(0);
    const id = (await sb.run("fetch-offsite", ["list-logical"])).stdout.trim().split("\n")[0];
    expect(id).toMatch(/^\d{8}T\d{6}Z$/);
    expect(dump.stderr).toContain(`logical ${id} confirmed on site-a`);
    sb.sql("DELETE FROM notes WHERE id > 100");
    fs.rmSync(sb.plan.paths.logicalDir, { recursive: true, force: true });
    // where the PostgreSQL user, as which restore-logical runs, can read it
    const into = path.join(sb.plan.paths.backupRoot, "fetched-logical");
    const without = await sb.run("fetch-offsite", ["logical", id, into]);
    expect(without.status).not.toBe(0);
    expect(without.stderr).toContain("is encrypted with age: give the identity that opens it (--identity FILE)");
    const fetched = await sb.run("fetch-offsite", ["logical", id, into, "--identity", identity]);
    expect(fetched.status, fetched.stderr).toBe(0);
    const database = sb.plan.postgres.databases[0];
    const file = path.join(into, `${database}_${id}.custom.dump`);
    expect(fs.existsSync(file), fs.readdirSync(into).join(" ")).toBe(true);
    const restored = await sb.run("restore-logical", [file]);
    expect(restored.status, restored.stderr).toBe(0);
    expect(Number(sb.sql("SELECT count(*) FROM notes"))).toBe(150);
  });
});
