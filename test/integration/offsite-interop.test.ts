import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { toolchainBin } from "../helpers/engine";
import { startMinio, type MinioServer } from "../helpers/minio";
import { chownPostgres, podWorld, type PodWorld } from "../helpers/podWorld";
import { startSandbox, waitFor, type Sandbox } from "../helpers/sandbox";

/**
 * One off-site layout for hosts and pods: a pod's backups restore on a host, a host's backups restore in a pod.
 * The pod flavour runs locally (test/helpers/podWorld.ts); the host flavour is a sandbox service. Both ship to
 * one real MinIO bucket under the prefix "svc/": the sandbox service is named svc, and so is the cluster (its
 * default prefix is its name).
 */

// The sandbox copies mc under its root from PATH.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

const ALIAS = "interop";
const CLUSTER = "svc";

let minio: MinioServer;
const sandboxes: Sandbox[] = [];
const pods: PodWorld[] = [];

/** What a table holds: its row count and a checksum of every row, in order. */
const FINGERPRINT =
  "SELECT count(*) || ':' || coalesce(md5(string_agg(id || ',' || note, ';' ORDER BY id)), '') FROM orders";

/** A pod world of the cluster "svc" that ships to `bucket`, and `extra` arguments. */
async function pod_(label: string, bucket: string, extra: Partial<PostgresClusterArgs> = {}): Promise<PodWorld> {
  const world = await podWorld(
    label,
    {
      name: CLUSTER,
      namespace: "dr",
      databases: ["app"],
      rpoSeconds: 300,
      storage: { size: "10Gi" },
      backupStorage: { size: "20Gi" },
      offsite: { endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey },
      ...extra,
    },
    { store: minio },
  );
  pods.push(world);
  return world;
}

async function hostSandbox(label: string, bucket: string): Promise<Sandbox> {
  const sb = await startSandbox({
    label,
    service: { offsite: { targets: ["site"], retry: { attempts: 2, initialDelay: "1s" } } },
    objectStores: {
      site: { type: "minio", endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey },
    },
  });
  sandboxes.push(sb);
  return sb;
}

/** Switches WAL and waits until the archiver reports that segment archived. */
async function switchAndArchive(sql: (q: string, db?: string) => string): Promise<string> {
  const segment = sql("SELECT pg_walfile_name(pg_switch_wal())", "postgres");
  await waitFor(
    `archiving of ${segment}`,
    () =>
      sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", "postgres") >= segment ? true : undefined,
    120,
  );
  return segment;
}

const keys = async (prefix: string) => {
  const r = await minio.mc(["ls", "--recursive", "--json", `${ALIAS}/${prefix}`]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).key as string);
};

/** Waits until a shipper has uploaded the segment (archive-wal only queues it); on a timeout, its log if given. */
async function shipped(bucket: string, segment: string, shipperLog?: string): Promise<void> {
  await waitFor(
    `the shipper's upload of ${segment}`,
    async () => ((await keys(`${bucket}/`)).includes(`svc/wal/${segment}`) ? true : undefined),
    60,
  ).catch((e: Error) => {
    throw new Error(shipperLog ? `${e.message}; ${shipperLog}:\n${fs.readFileSync(shipperLog, "utf8")}` : e.message);
  });
}
const backupId = (stderr: string) => /base backup (\d{8}T\d{6}Z) complete/.exec(stderr)?.[1];
const pgLog = (sb: Sandbox) => {
  const m = sb.plan.postgres.manager;
  const file = m.type === "pg_ctl" ? m.logFile : "";
  return file && fs.existsSync(file) ? fs.readFileSync(file, "utf8").slice(-3000) : "";
};

beforeAll(async () => {
  minio = await startMinio(ALIAS);
  for (const bucket of ["drkit-pod-to-host", "drkit-host-to-pod"]) {
    const r = await minio.mc(["mb", `${ALIAS}/${bucket}`]);
    expect(r.status, r.stderr).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  for (const world of pods) await world.destroy();
  for (const sb of sandboxes) sb.destroy();
  await minio?.destroy();
}, 120_000);

describe("pod -> host: a pod's backup and WAL, shipped by its backup job and shipper, restore on a host", () => {
  const bucket = "drkit-pod-to-host";
  let host: Sandbox;
  let pod: PodWorld;
  let expected = "";

  it("the host service and the cluster ship under the same prefix of the same bucket", async () => {
    host = await hostSandbox("interop-host-a", bucket);
    // The host must not ship a cluster of its own under the prefix the pod will use: its server stops, and
    // whatever it may have archived is removed.
    const stop = await host.run("sandbox-postgres", ["stop"]);
    expect(stop.status, stop.stderr).toBe(0);
    const shipper = await host.run("shipper", ["stop"]);
    expect(shipper.status, shipper.stderr).toBe(0);
    await minio.mc(["rm", "--recursive", "--force", `${ALIAS}/${bucket}/`]);
    pod = await pod_("interop-pod-a", bucket);
    expect(pod.spec.offsite?.prefix).toBe("svc/");
    expect(host.plan.offsite?.targets.map((t) => [t.bucket, t.prefix])).toEqual([[bucket, pod.spec.offsite?.prefix]]);
  });

  it("the pod primary archives with archive-wal; pod-backup ships the base backup, the shipper the WAL", async () => {
    await pod.startPrimary();
    // The shipper Deployment's command (shipper run), in the background as the pod runs it.
    const shipper = await pod.run("shipper", "backup", ["start"]);
    expect(shipper.status, shipper.stderr).toBe(0);
    pod.sql("CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL)");
    pod.sql("INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 100) g");
    const backup = await pod.run("pod-backup", "backup");
    expect(backup.status, backup.stderr).toBe(0);
    const id = backupId(backup.stderr)!;
    expect(id).toBeDefined();
    expect(backup.stderr).toContain(`base ${id} confirmed on offsite`);

    pod.sql("INSERT INTO orders SELECT g, 'after the backup ' || g FROM generate_series(101, 150) g");
    pod.sql("UPDATE orders SET note = 'changed' WHERE id <= 10");
    const segment = await switchAndArchive(pod.sql);
    expect(fs.existsSync(path.join(pod.paths.backupRoot, "wal", segment))).toBe(true);
    // The backup job left the WAL to the shipper, which uploads the queued segment within seconds.
    expect(backup.stderr).not.toContain("drkit-svc-shipper");
    await shipped(bucket, segment);
    const stopped = await pod.run("shipper", "backup", ["stop"]);
    expect(stopped.status, stopped.stderr).toBe(0);
    expected = pod.sql(FINGERPRINT);
    expect(expected.startsWith("150:")).toBe(true);

    const objects = await keys(`${bucket}/`);
    expect(objects).toEqual(
      expect.arrayContaining([
        `svc/base/${id}/drkit-backup.env`,
        `svc/base/${id}/backup_manifest`,
        `svc/wal/${segment}`,
      ]),
    );
    await pod.stopPrimary();
  });

  it("the host's restore-pitr --from-offsite restores it, on the host's own port and socket", async () => {
    expect(expected).not.toBe("");
    const r = await host.run("restore-pitr", ["--from-offsite", "--timeout", "180"]);
    expect(r.status, `${r.stderr}\n${pgLog(host)}`).toBe(0);
    expect(r.stderr).toContain("fetched base backup");
    expect(host.sql(FINGERPRINT)).toBe(expected);
    expect(host.sql("SELECT count(*) FROM orders WHERE note = 'changed'")).toBe("10");
    expect(Number(host.sql("SHOW port", "postgres"))).toBe(host.plan.postgres.port);
  });
});

describe("host -> pod: a host's backup and WAL, shipped by the host, restore in a pod", () => {
  const bucket = "drkit-host-to-pod";
  const REQUEST = "latest@end-of-archive";
  let host: Sandbox;
  let pod: PodWorld;
  let expected = "";

  it("the host's backup-base and archive-wal ship the base backup and the WAL", async () => {
    host = await hostSandbox("interop-host-b", bucket);
    host.sql("CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL)");
    host.sql("INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 100) g");
    const backup = await host.run("backup-base");
    expect(backup.status, backup.stderr).toBe(0);
    const id = backupId(backup.stderr)!;
    expect(backup.stderr).toContain(`base ${id} confirmed on site`);
    host.sql("INSERT INTO orders SELECT g, 'after the backup ' || g FROM generate_series(101, 170) g");
    host.sql("DELETE FROM orders WHERE id BETWEEN 41 AND 45");
    const segment = await switchAndArchive((q, db) => host.sql(q, db));
    expected = host.sql(FINGERPRINT);
    expect(expected.startsWith("165:")).toBe(true);
    // archive-wal only queues the segment; the host's shipper service uploads it within seconds.
    const shipperLog = path.join(host.plan.offsite!.markerDir, "shipper.log");
    await shipped(bucket, segment, shipperLog);
    expect(await keys(`${bucket}/`)).toEqual(
      expect.arrayContaining([`svc/base/${id}/drkit-backup.env`, `svc/wal/${segment}`]),
    );
    const stop = await host.run("sandbox-postgres", ["stop"]);
    expect(stop.status, stop.stderr).toBe(0);
  });

  it("the pod fetches it into its backup volume, the restore Job (pod-restore) recovers it", async () => {
    expect(expected).not.toBe("");
    pod = await pod_("interop-pod-b", bucket, { restore: { fromBackup: "latest" } });
    // Only the backup role has mc and the store's credentials: it fetches into the backup volume's layout.
    const chosen = await pod.run("fetch-offsite", "backup", ["choose-base"]);
    expect(chosen.status, chosen.stderr).toBe(0);
    const id = chosen.stdout.trim();
    const base = await pod.run("fetch-offsite", "backup", ["base", id, path.join(pod.paths.backupRoot, "base", id)]);
    expect(base.status, base.stderr).toBe(0);
    const wal = (await keys(`${bucket}/svc/wal/`)).sort();
    expect(wal.length).toBeGreaterThan(0);
    fs.mkdirSync(path.join(pod.paths.backupRoot, "wal"), { recursive: true });
    chownPostgres(pod.paths.backupRoot);
    for (const name of wal) {
      const r = await pod.run("fetch-offsite", "backup", ["wal", name, path.join(pod.paths.backupRoot, "wal", name)]);
      expect(r.status, r.stderr).toBe(0);
    }

    const restore = await pod.run("pod-restore", "restore", [], { DRKIT_RESTORE_REQUEST: REQUEST });
    expect(restore.status, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout.trim().split("\n").pop()!)).toMatchObject({
      drkit: "restore",
      cluster: CLUSTER,
      request: REQUEST,
      result: "ok",
    });

    // Then the primary starts on the restored volume, as the StatefulSet's pod would.
    await pod.startPrimary();
    expect(pod.sql(FINGERPRINT)).toBe(expected);
    expect(pod.sql("SELECT count(*) FROM orders WHERE id BETWEEN 41 AND 45")).toBe("0");
    await pod.stopPrimary();
  });
});
