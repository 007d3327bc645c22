import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchainBin } from "../helpers/engine";
import { startMinio, type MinioServer } from "../helpers/minio";
import { runAsync, startSandbox, waitFor, type Sandbox } from "../helpers/sandbox";

// The WAL pipeline against a real PostgreSQL and a real MinIO: archive_command writes locally only, the shipper
// (started by the provisioning, running as postgres) uploads. The store fails; the primary must not notice.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

let store: MinioServer;
let sb: Sandbox;
const acked: number[] = [];
let nextId = 1;
let targetTime = "";
let ackedAtTarget = 0;

const asPostgres = (script: string, args: string[] = []) =>
  runAsync("runuser", ["-u", "postgres", "--", sb.script(script), ...args], {}, 600_000);
const pg = (query: string) => sb.sql(query, "app");
const settingsFile = () => path.join(sb.plan.paths.scriptsDir, "drkit.env");
const shipperState = () => fs.readFileSync(path.join(sb.plan.offsite!.markerDir, "site/shipper.state"), "utf8");
const shipperLog = () => {
  const file = path.join(sb.plan.offsite!.markerDir, "shipper.log");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "(no shipper.log)";
};
const stateValue = (name: string) => Number(new RegExp(`^${name}=(\\d+)$`, "m").exec(shipperState())?.[1] ?? NaN);

/** Changes settings of the rendered file (what a changed stack config renders) and restarts the shipper. */
async function reconfigureShipper(settings: Record<string, string>) {
  let text = fs.readFileSync(settingsFile(), "utf8");
  for (const [k, v] of Object.entries(settings)) text = text.replace(new RegExp(`^${k}=.*$`, "m"), `${k}=${v}`);
  fs.writeFileSync(settingsFile(), text);
  expect((await sb.run("shipper", ["stop"])).status).toBe(0);
  const start = await sb.run("shipper", ["start"]);
  expect(start.status, start.stderr).toBe(0);
}

function ack() {
  pg(`INSERT INTO acks (id) VALUES (${nextId})`);
  acked.push(nextId++);
}

/** The WAL keys in the store. */
async function remoteWal(): Promise<string[]> {
  const listing = await store.mc(["ls", "--json", "site/drkit-wal/svc/wal/"]);
  return listing.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).key as string);
}
const lastArchived = () => pg("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
async function switchAndArchive(): Promise<string> {
  const segment = pg("SELECT pg_walfile_name(pg_switch_wal())");
  return waitFor(`local archiving of ${segment}`, () => (lastArchived() >= segment ? segment : undefined), 60);
}
const readyFiles = () =>
  fs.readdirSync(path.join(sb.plan.postgres.dataDirectory, "pg_wal/archive_status")).filter((f) => f.endsWith(".ready"))
    .length;
/** How long the store stays away under pgbench. */
const OUTAGE_SECONDS = 150;
/** Segment number of a WAL file name (log id * 256 + segment, 16 MiB segments). */
const segmentNumber = (name: string) => parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16);

beforeAll(async () => {
  store = await startMinio("site");
  expect((await store.mc(["mb", "site/drkit-wal"])).status).toBe(0);
  sb = await startSandbox({
    label: "wal-pipeline",
    service: {
      rpo: "1m",
      offsite: { targets: ["site"], retry: { attempts: 1, initialDelay: "1s" }, callTimeout: "5s" },
    },
    objectStores: {
      site: {
        type: "minio",
        endpoint: store.endpoint,
        bucket: "drkit-wal",
        accessKey: store.accessKey,
        secretKey: store.secretKey,
      },
    },
  });
  pg("CREATE TABLE acks (id int PRIMARY KEY)");
  const init = await runAsync("runuser", [
    "-u",
    "postgres",
    "--",
    "/usr/lib/postgresql/15/bin/pgbench",
    "-i",
    "-q",
    "-s",
    "2",
    "-h",
    sb.plan.postgres.socketDirectory,
    "-p",
    String(sb.plan.postgres.port),
    "app",
  ]);
  expect(init.status, init.stderr).toBe(0);
  const base = await asPostgres("backup-base");
  expect(base.status, base.stderr).toBe(0);
  // Short back-off, so the test does not wait a minute for the shipper to notice the store is back.
  await reconfigureShipper({ SHIPPER_BACKOFF_MAX: "3" });
}, 600_000);

afterAll(async () => {
  sb?.destroy();
  await store?.destroy();
});

describe("the WAL pipeline when the object store fails", () => {
  it("with the store down for minutes under pgbench, archiving keeps up locally, pg_wal stays bounded", async () => {
    await store.stop();
    const bench = runAsync("runuser", [
      "-u",
      "postgres",
      "--",
      "/usr/lib/postgresql/15/bin/pgbench",
      "-n",
      "-c",
      "2",
      "-j",
      "1",
      "-T",
      String(OUTAGE_SECONDS),
      // A steady rate: the point is minutes of WAL with the store away, not the machine's peak.
      "-R",
      "50",
      "-h",
      sb.plan.postgres.socketDirectory,
      "-p",
      String(sb.plan.postgres.port),
      "app",
    ]);
    const startedAt = lastArchived();
    let maxReady = 0;
    const until = Date.now() + OUTAGE_SECONDS * 1000;
    let switched = Date.now();
    while (Date.now() < until) {
      ack();
      // A segment switch every 5 s too, so the outage spans many segments whatever pgbench manages.
      if (Date.now() - switched >= 5000) {
        pg("SELECT pg_switch_wal()");
        switched = Date.now();
      }
      maxReady = Math.max(maxReady, readyFiles());
      await new Promise((r) => setTimeout(r, 200));
    }
    const run = await bench;
    expect(run.status, run.stderr).toBe(0);
    const last = await switchAndArchive();
    expect(last > startedAt).toBe(true);
    // The archiver never failed, and never had more than a few segments waiting: pg_wal did not grow.
    expect(Number(pg("SELECT failed_count FROM pg_stat_archiver"))).toBe(0);
    expect(maxReady).toBeLessThanOrEqual(4);
    // The local archive holds every segment, without a hole, from the base backup's start to the last one.
    const segments = fs
      .readdirSync(sb.plan.paths.walDir)
      .filter((f) => /^[0-9A-F]{24}$/.test(f))
      .map(segmentNumber)
      .sort((a, b) => a - b);
    expect(segments.length).toBeGreaterThanOrEqual(OUTAGE_SECONDS / 10);
    expect(segments[segments.length - 1] - segments[0] + 1).toBe(segments.length);
    expect(segments[segments.length - 1]).toBe(segmentNumber(last));
    // The backlog is recorded, with the failures.
    await waitFor("the shipper's failure on record", () => (stateValue("consecutive_failures") > 0 ? 1 : undefined));
    expect(stateValue("backlog_files")).toBeGreaterThan(0);
    // Everything archived during the outage waits in the store's queue (or beside the archive, not yet taken in).
    const queued = [
      ...fs.readdirSync(path.join(sb.plan.offsite!.markerDir, "site/wal-queue")),
      ...fs.readdirSync(sb.plan.paths.walDir).filter((f) => f.startsWith(".to-ship.")),
    ];
    expect(queued.length).toBeGreaterThan(3);
    const status = await sb.run("shipper", ["status"]);
    expect(status.stdout).toMatch(/^site: backlog \d+ file\(s\) \(\d+ bytes\), lag \d+s, .*failures [1-9]/m);
  }, 400_000);

  it("once the store is back, the backlog ships within seconds, in order, confirmed", async () => {
    await store.start();
    await waitFor("the backlog shipped", () => (stateValue("backlog_files") === 0 ? true : undefined), 120);
    expect(stateValue("consecutive_failures")).toBe(0);
    const remote = await remoteWal();
    const local = fs.readdirSync(sb.plan.paths.walDir).filter((f) => /^[0-9A-F]{24}$/.test(f));
    expect(remote).toEqual(expect.arrayContaining(local));
    // A point in time after the outage, with a commit after it so recovery can stop there.
    ack();
    await new Promise((r) => setTimeout(r, 1100));
    targetTime = pg("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
    ackedAtTarget = acked.length;
    await new Promise((r) => setTimeout(r, 1100));
    ack();
    const segment = await switchAndArchive();
    // The store itself, not the state file: the state may still show the empty queue from before this segment.
    await waitFor(`upload of ${segment}`, async () => ((await remoteWal()).includes(segment) ? true : undefined), 60);
  }, 180_000);

  it("over the backlog cap the primary runs on; the gap is recorded, shown, closed by a base backup", async () => {
    await reconfigureShipper({ OFFSITE_MAX_BACKLOG_BYTES: String(48 * 1024 * 1024) });
    await store.stop();
    for (let i = 0; i < 6; i++) {
      ack();
      await switchAndArchive();
    }
    const gaps = path.join(sb.plan.offsite!.markerDir, "site/gaps.log");
    await waitFor("the gap record", () => (fs.existsSync(gaps) ? true : undefined), 60).catch((e: Error) => {
      throw new Error(`${e.message}; the shipper's log ends:\n${shipperLog().slice(-3000)}`);
    });
    expect(fs.readFileSync(gaps, "utf8")).toMatch(/^\S+ [0-9A-F]{24} [0-9A-F]{24} \d+ backlog over 50331648 bytes$/m);
    expect(pg("SELECT 1")).toBe("1");
    expect(Number(pg("SELECT failed_count FROM pg_stat_archiver"))).toBe(0);
    let status = await sb.run("shipper", ["status"]);
    expect(status.stdout).toContain("OPEN until a base backup taken after it is confirmed on site");
    await store.start();
    const base = await asPostgres("backup-base");
    expect(base.status, base.stderr).toBe(0);
    status = await sb.run("shipper", ["status"]);
    expect(status.stdout).toMatch(/backlog over 50331648 bytes\): closed by base backup \d{8}T\d{6}Z/);
    await reconfigureShipper({ OFFSITE_MAX_BACKLOG_BYTES: String(8 * 1024 ** 3) });
  }, 180_000);

  it("a point-in-time restore from the object store alone returns exactly the acknowledged commits", async () => {
    expect(targetTime).not.toBe("");
    await waitFor("the backlog shipped", () => (stateValue("backlog_files") === 0 ? true : undefined), 60);
    // The host is lost: its shipper, its data directory and every local backup.
    expect((await sb.run("shipper", ["stop"])).status).toBe(0);
    expect((await sb.run("sandbox-postgres", ["stop"])).status).toBe(0);
    fs.rmSync(sb.plan.postgres.dataDirectory, { recursive: true, force: true });
    fs.rmSync(path.join(sb.plan.paths.backupRoot, "postgresql"), { recursive: true, force: true });
    fs.rmSync(sb.plan.paths.walDir, { recursive: true, force: true });
    fs.rmSync(sb.plan.offsite!.markerDir, { recursive: true, force: true });
    const r = await sb.run("restore-pitr", ["--from-offsite", "--target-time", targetTime, "--timeout", "300"]);
    expect(r.status, r.stderr).toBe(0);
    expect(Number(pg("SELECT count(*) FROM acks"))).toBe(ackedAtTarget);
    expect(pg("SELECT max(id) FROM acks")).toBe(String(acked[ackedAtTarget - 1]));
  }, 400_000);
});
