import * as fs from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlan } from "../../components/plan/plan";
import {
  MINIO_REPLICA_ALIAS,
  MINIO_SOURCE_ALIAS,
  minioIlmJson,
  renderMinioTargetScript,
} from "../../components/objectstore/minioScripts";
import { placeBackupDirectories } from "../../components/host/applyLocal";
import { toolchainBin } from "../helpers/engine";
import { mcHostValue, startMinio, type MinioServer } from "../helpers/minio";
import { freePort, runAsync, startSandbox, tempRoot, waitFor, type Sandbox } from "../helpers/sandbox";

// mc and minio come from the toolchain; the sandbox copies mc under its root from PATH.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

let siteA: MinioServer;
let siteB: MinioServer;
let sb: Sandbox;
const scratch = tempRoot("offsite-scripts");

const stores = () => ({
  "site-a": {
    type: "minio",
    endpoint: siteA.endpoint,
    bucket: "drkit-backups",
    accessKey: siteA.accessKey,
    secretKey: siteA.secretKey,
    replicateTo: "site-b",
  },
  "site-b": {
    type: "minio",
    endpoint: siteB.endpoint,
    bucket: "drkit-replica",
    accessKey: siteB.accessKey,
    secretKey: siteB.secretKey,
  },
});

/** Runs the rendered MinIO target script the way the MinioTarget component does: keys only in the environment. */
async function applyTarget(storeName: "site-a" | "site-b", args: string[] = []) {
  const plan = buildPlan(
    {
      hosts: { h: { connection: { type: "local", rootPrefix: scratch } } },
      services: { svc: { host: "h", postgres: { databases: ["app"] }, offsite: { targets: ["site-a"] } } },
      objectStores: stores(),
    },
    { baseDir: scratch },
  );
  const store = plan.objectStores.find((s) => s.name === storeName)!;
  const replica = store.replicateTo ? plan.objectStores.find((s) => s.name === store.replicateTo) : undefined;
  const file = path.join(scratch, `minio-target-${storeName}`);
  fs.writeFileSync(file, renderMinioTargetScript(store, replica), { mode: 0o755 });
  const server = storeName === "site-a" ? siteA : siteB;
  const env: Record<string, string> = {
    [`MC_HOST_${MINIO_SOURCE_ALIAS}`]: mcHostValue(server.endpoint, server.accessKey, server.secretKey),
  };
  if (replica) env[`MC_HOST_${MINIO_REPLICA_ALIAS}`] = mcHostValue(siteB.endpoint, siteB.accessKey, siteB.secretKey);
  return { result: await runAsync(file, args, env), store };
}

const objectKeys = async (server: MinioServer, bucketPath: string) => {
  const r = await server.mc(["ls", "--recursive", "--json", `${server.name}/${bucketPath}`]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).key as string);
};

const rowCount = () => Number(sb.sql("SELECT count(*) FROM orders"));
const archivedUpTo = () => sb.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", "postgres");

/** Switches WAL and waits until that segment is archived locally. */
async function switchAndArchive(): Promise<string> {
  const segment = sb.sql("SELECT pg_walfile_name(pg_switch_wal())", "postgres");
  return waitFor(`archiving of ${segment}`, () => (archivedUpTo() >= segment ? segment : undefined));
}

beforeAll(async () => {
  [siteA, siteB] = await Promise.all([startMinio("site_a"), startMinio("site_b")]);
  for (const s of ["site-b", "site-a"] as const) {
    const { result } = await applyTarget(s);
    expect(result.status, result.stderr).toBe(0);
  }
  sb = await startSandbox({
    label: "offsite",
    service: {
      offsite: { targets: ["site-a"], retry: { attempts: 2, initialDelay: "1s" } },
      retention: { dailyDays: 1, weeklyWeeks: 0, offsiteDays: 30 },
      redis: { port: await freePort(), manager: { type: "process" }, provision: true, snapshot: { retentionDays: 1 } },
    },
    objectStores: stores(),
  });
  sb.sql("CREATE TABLE orders (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
}, 300_000);

afterAll(async () => {
  sb?.destroy();
  await Promise.all([siteA?.destroy(), siteB?.destroy()]);
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe("MinIO targets as rendered", () => {
  it("turns versioning on at both sites, applies drkit's lifecycle and replicates A -> B", async () => {
    for (const [server, bucket] of [
      [siteA, "drkit-backups"],
      [siteB, "drkit-replica"],
    ] as const) {
      const v = await server.mc(["version", "info", `${server.name}/${bucket}`, "--json"]);
      expect(v.stdout).toContain('"status":"Enabled"');
    }
    const { store } = await applyTarget("site-a");
    const ilm = await siteA.mc(["ilm", "export", "site_a/drkit-backups"]);
    expect(JSON.parse(ilm.stdout)).toEqual(JSON.parse(minioIlmJson(store)));
    const rules = JSON.parse(ilm.stdout).Rules as Array<{ ID: string; Expiration?: { Days?: number } }>;
    expect(rules.find((r) => r.ID === "svc/base/")?.Expiration?.Days).toBe(30);
    expect(rules.find((r) => r.ID === "svc/wal/")?.Expiration?.Days).toBe(31);
    const repl = await siteA.mc(["replicate", "ls", "site_a/drkit-backups", "--json"]);
    expect(repl.stdout).toContain('"Status":"Enabled"');
    expect(repl.stdout).toContain("drkit-replica");
  });

  it("is idempotent: a second run changes nothing and still succeeds", async () => {
    const { result } = await applyTarget("site-a");
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain("already configured");
    const repl = await siteA.mc(["replicate", "ls", "site_a/drkit-backups", "--json"]);
    expect(repl.stdout.split("\n").filter((l) => l.includes('"Status":"Enabled"'))).toHaveLength(1);
  });
});

describe("shipping from a real PostgreSQL", () => {
  let target = "";

  it(
    "lands a base backup and the live WAL stream in the bucket, each object with its checksum, " + "and B gets a copy",
    async () => {
      sb.sql("INSERT INTO orders (id) SELECT g FROM generate_series(1, 100) g");
      const base = await sb.run("backup-base");
      expect(base.status, base.stderr).toBe(0);
      const id = /base backup (\d{8}T\d{6}Z) complete/.exec(base.stderr)![1];
      expect(base.stderr).toContain(`base ${id} confirmed on site-a`);
      expect(fs.existsSync(path.join(sb.plan.paths.backupRoot, ".offsite/site-a/base", id))).toBe(true);
      const keys = await objectKeys(siteA, "drkit-backups/svc/base/");
      expect(keys).toEqual(expect.arrayContaining([`${id}/backup_manifest`, `${id}/drkit-backup.env`]));
      const stat = await siteA.mc(["stat", "--json", `site_a/drkit-backups/svc/base/${id}/backup_manifest`]);
      const local = fs.readFileSync(path.join(sb.plan.paths.baseDir, id, "backup_manifest"));
      const sha = (await import("node:crypto")).createHash("sha256").update(local).digest("hex");
      expect(JSON.parse(stat.stdout).metadata["X-Amz-Meta-Drkit-Sha256"]).toBe(sha);

      sb.sql("INSERT INTO orders (id) SELECT g FROM generate_series(101, 150) g");
      await new Promise((r) => setTimeout(r, 1100));
      target = sb.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
      await new Promise((r) => setTimeout(r, 1100));
      sb.sql("INSERT INTO orders (id) SELECT g FROM generate_series(151, 180) g");
      const segment = await switchAndArchive();
      // archive-wal only queues it; the shipper (started by the provisioning) uploads it within seconds.
      await waitFor(
        `upload of ${segment} by the shipper`,
        async () => ((await objectKeys(siteA, "drkit-backups/svc/wal/")).includes(segment) ? true : undefined),
        60,
      );
      // Bucket replication copies it to the second site.
      await waitFor(
        "replication of the segment to site B",
        async () => ((await objectKeys(siteB, "drkit-replica/svc/wal/")).includes(segment) ? true : undefined),
        120,
      );
    },
  );

  it(
    "restores a fresh data directory to a point in time from the object store alone (local backups " + "gone)",
    async () => {
      expect(target).not.toBe("");
      const stop = await sb.run("sandbox-postgres", ["stop"]);
      expect(stop.status, stop.stderr).toBe(0);
      fs.rmSync(sb.plan.postgres.dataDirectory, { recursive: true, force: true });
      fs.rmSync(path.join(sb.plan.paths.backupRoot, "postgresql"), { recursive: true, force: true });
      fs.rmSync(sb.plan.paths.walDir, { recursive: true, force: true });
      const r = await sb.run("restore-pitr", ["--from-offsite", "--target-time", target, "--timeout", "120"]);
      const log = sb.plan.postgres.manager.type === "pg_ctl" ? sb.plan.postgres.manager.logFile : "";
      expect(r.status, `${r.stderr}\n${fs.existsSync(log) ? fs.readFileSync(log, "utf8").slice(-3000) : ""}`).toBe(0);
      // The host is rebuilt (pulumi up would do this): its backup directories exist again, empty.
      await placeBackupDirectories(sb.plan);
      expect(r.stderr).toContain("fetched base backup");
      expect(r.stderr).toContain("fetch-offsite wal");
      expect(rowCount()).toBe(150);
      expect(fs.existsSync(path.join(sb.plan.paths.backupRoot, ".restore-staging"))).toBe(false);
    },
  );

  it(
    "with MinIO down a backup fails loudly and is not pruned; once it is back a retry ships it and nothing " +
      "was lost",
    async () => {
      await siteA.stop();
      const base = await sb.run("backup-base");
      expect(base.status).not.toBe(0);
      expect(base.stderr).toMatch(/failed after 2 attempt\(s\)/);
      const id = /base backup (\d{8}T\d{6}Z) complete/.exec(base.stderr)![1];
      expect(fs.existsSync(path.join(sb.plan.paths.baseDir, id, "drkit-backup.env"))).toBe(true);
      expect(fs.existsSync(path.join(sb.plan.paths.backupRoot, ".offsite/site-a/base", id))).toBe(false);

      // WAL written meanwhile is archived locally all the same (archiving never waits on the store) and queued.
      const failedBefore = Number(sb.sql("SELECT failed_count FROM pg_stat_archiver", "postgres"));
      sb.sql("INSERT INTO orders (id) SELECT g FROM generate_series(1001, 1020) g");
      const pending = await switchAndArchive();
      expect(Number(sb.sql("SELECT failed_count FROM pg_stat_archiver", "postgres"))).toBe(failedBefore);
      expect(fs.existsSync(path.join(sb.plan.paths.walDir, pending))).toBe(true);
      const queued = path.join(sb.plan.offsite!.markerDir, "site-a/wal-queue", pending);
      await waitFor(`${pending} queued for site-a`, () => (fs.existsSync(queued) ? true : undefined), 30);

      // Ten days later retention would drop the backup and the WAL, but neither is confirmed off-site: kept.
      const future = String(Math.floor(Date.now() / 1000) + 10 * 86400);
      const prune = await runAsync("runuser", ["-u", "postgres", "--", sb.script("prune"), "--now", future]);
      expect(prune.status, prune.stderr).toBe(0);
      expect(fs.existsSync(path.join(sb.plan.paths.baseDir, id))).toBe(true);
      expect(fs.existsSync(path.join(sb.plan.paths.walDir, pending))).toBe(true);

      await siteA.start();
      const ship = await sb.run("ship-offsite", ["pending"]);
      expect(ship.status, ship.stderr).toBe(0);
      expect(fs.existsSync(path.join(sb.plan.paths.backupRoot, ".offsite/site-a/base", id))).toBe(true);
      // The shipper retries on its own (its back-off is at most a minute).
      await waitFor(
        `upload of ${pending} once the store is back`,
        async () => ((await objectKeys(siteA, "drkit-backups/svc/wal/")).includes(pending) ? true : undefined),
        120,
      );
      expect(fs.existsSync(queued)).toBe(false);
      expect(await objectKeys(siteA, "drkit-backups/svc/base/")).toContain(`${id}/drkit-backup.env`);
    },
  );

  it(
    "never overwrites an object that differs: a WAL name already there with other content stays queued, and " +
      "the shipper's state says why",
    async () => {
      const name = "000000010000000000000099";
      const fake = path.join(scratch, name);
      fs.writeFileSync(fake, "one");
      const put = spawn(
        path.join(toolchainBin(), "mc"),
        ["cp", "--attr", "drkit-sha256=0000", fake, `site_a/drkit-backups/svc/wal/${name}`],
        { env: { ...process.env, ...siteA.mcHostEnv(), MC_CONFIG_DIR: scratch } },
      );
      await new Promise((r) => put.on("close", r));
      fs.chownSync(scratch, 0, 0);
      // The same name archived here with other content, as archive-wal leaves it.
      const archived = path.join(sb.plan.paths.walDir, name);
      fs.writeFileSync(archived, "two");
      fs.writeFileSync(path.join(sb.plan.paths.walDir, `.to-ship.${name}`), "");
      const state = path.join(sb.plan.offsite!.markerDir, "site-a/shipper.state");
      try {
        await waitFor(
          "the shipper's refusal",
          () => (fs.readFileSync(state, "utf8").includes("refusing\\ to\\ overwrite") ? true : undefined),
          60,
        );
        expect(fs.existsSync(path.join(sb.plan.offsite!.markerDir, "site-a/wal-queue", name))).toBe(true);
        const stored = await siteA.mc(["cat", `site_a/drkit-backups/svc/wal/${name}`]);
        expect(stored.stdout).toBe("one");
      } finally {
        fs.rmSync(path.join(sb.plan.offsite!.markerDir, "site-a/wal-queue", name), { force: true });
        fs.rmSync(archived, { force: true });
      }
    },
  );

  it(
    "ships Redis snapshots too, and retention keeps a snapshot past its age until it is confirmed " + "off-site",
    async () => {
      const first = await sb.run("backup-redis");
      expect(first.status, first.stderr).toBe(0);
      const id = /snapshot dump_(\d{8}T\d{6}Z)\.rdb/.exec(first.stderr)![1];
      const dir = sb.plan.redis!.backupDir;
      const old = "20200101T000000Z"; // far beyond the 1-day snapshot retention
      for (const ext of [".rdb", ".rdb.sha256", ".meta"])
        fs.copyFileSync(path.join(dir, `dump_${id}${ext}`), path.join(dir, `dump_${old}${ext}`));
      await new Promise((r) => setTimeout(r, 1100));
      const second = await sb.run("backup-redis");
      expect(second.status, second.stderr).toBe(0);
      expect(second.stderr).toContain(`keeping snapshot dump_${old}.rdb: not yet confirmed off-site`);
      expect(fs.existsSync(path.join(dir, `dump_${old}.rdb`))).toBe(true);

      const ship = await sb.run("ship-offsite"); // what the offsite unit runs after each snapshot (OnSuccess=)
      expect(ship.status, ship.stderr).toBe(0);
      expect(ship.stderr).toContain(`valkey ${id} confirmed on site-a (3 file(s))`);
      expect(ship.stderr).toContain(`valkey ${old} confirmed on site-a (3 file(s))`);
      expect(await objectKeys(siteA, "drkit-backups/svc/valkey/")).toEqual(
        expect.arrayContaining([`dump_${id}.rdb`, `dump_${id}.rdb.sha256`, `dump_${id}.meta`, `dump_${old}.rdb`]),
      );
      expect((await sb.run("ship-offsite", ["status"])).stdout).toContain(`site-a valkey ${id} confirmed`);

      await new Promise((r) => setTimeout(r, 1100));
      const third = await sb.run("backup-redis");
      expect(third.status, third.stderr).toBe(0);
      expect(third.stderr).toContain(`removed snapshot dump_${old}.rdb`);
      expect(fs.existsSync(path.join(dir, `dump_${old}.rdb`))).toBe(false);
    },
  );
});
