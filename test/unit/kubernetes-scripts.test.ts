import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentDirectory } from "../../components/agent/agentFiles";
import { renderPodSettings, type PodPaths, type PodRole } from "../../components/kubernetes/agentSettings";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { configData } from "../../components/kubernetes/manifests";
import { resolveCluster } from "../../components/kubernetes/spec";
import { credentialsFileContent } from "../../components/objectstore/mcHost";
import { toolchainBin } from "../helpers/engine";
import { startMinio, type MinioServer } from "../helpers/minio";

/**
 * The pods run the agent itself (agent/, verbatim) with settings rendered from the ClusterSpec. Here the
 * pods' agent commands run with bash against temp directories (the pod settings rendered with the paths moved
 * there; PostgreSQL's tools stubbed where a server would be needed), and shipping against a real MinIO.
 */

const base: PostgresClusterArgs = {
  name: "billing",
  namespace: "payments",
  databases: ["billing", "audit"],
  rpoSeconds: 300,
  storage: { size: "10Gi" },
  backupStorage: { size: "20Gi" },
};
const AGENT = agentDirectory();

const work = mkdtempSync(join(tmpdir(), "drkit-k8s-scripts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const dir = (name: string) => {
  const path = join(work, `${counter++}-${name}`);
  mkdirSync(path, { recursive: true });
  return path;
};

/** A pod's world in temp directories, and its role's settings file rendered for it. */
function pod(role: PodRole, args: Partial<PostgresClusterArgs> = {}, paths: Partial<PodPaths> = {}) {
  const root = dir(`pod-${role}`);
  const dirs = {
    dataMount: join(root, "data"),
    socketDir: join(root, "socket"),
    configDir: join(root, "config"),
    secretsDir: join(root, "secrets"),
    runDir: join(root, "run"),
    backupRoot: join(root, "backups"),
    scratch: join(root, "scratch"),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  // Outside a pod, as root: the agent would switch to the postgres user, who cannot read these temp folders.
  const p: Partial<PodPaths> = { ...dirs, ...(process.getuid?.() === 0 ? { pgOsUser: "root" } : {}), ...paths };
  const envFile = join(root, `${role}.env`);
  writeFileSync(envFile, renderPodSettings(resolveCluster({ ...base, ...args }), role, p));
  return { root, paths: p as Required<typeof p>, envFile };
}

function run(verb: string, envFile: string, args: string[] = [], env: Record<string, string> = {}) {
  return spawnSync(join(AGENT, verb), args, {
    encoding: "utf8",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DRKIT_ENV: envFile, TMPDIR: work, ...env },
  });
}

describe("the ConfigMap carries the agent verbatim and one settings file per pod role", () => {
  it("holds every agent file as it is in agent/, and no rendered script", () => {
    const data = configData(resolveCluster(base));
    for (const name of readdirSync(AGENT).filter((n) => !n.startsWith(".")))
      expect(data[name]).toBe(readFileSync(join(AGENT, name), "utf8"));
    expect(Object.keys(data).filter((k) => k.endsWith(".sh") && k !== "lib.sh")).toEqual([]);
    for (const role of ["server", "backup", "restore-test", "restore"])
      expect(data[`${role}.env`]).toContain("SERVICE=billing");
  });
});

describe("metrics in the pods: the collector beside the primary, with the server settings", () => {
  it("makes the metrics folder on the backup volume and publishes there, drkit_postgres_up 0 without a server", () => {
    const { paths, envFile } = pod("server", { monitoring: {} });
    mkdirSync(join(paths.backupRoot, "wal"));
    const r = run("collect-metrics", envFile, ["once"]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain("PostgreSQL did not answer");
    const text = readFileSync(join(paths.backupRoot, "metrics", "drkit_billing_collector.prom"), "utf8");
    expect(text.split("\n")).toEqual(
      expect.arrayContaining([
        'drkit_postgres_up{service="billing"} 0',
        'drkit_archive_ready_segments{service="billing"} 0',
      ]),
    );
    // No claim record in a pod: the WAL folder's age stands for the archive's.
    expect(text).toMatch(/^drkit_archive_created_timestamp_seconds\{service="billing"\} [1-9]\d+$/m);
  });
});

describe("archive_command: the agent's archive-wal with the server settings", () => {
  const segment = "000000010000000000000001";

  it(
    "copies a WAL file into WAL_DIR on the backup volume, and treats an identical copy already there as " + "success",
    () => {
      const { paths, envFile } = pod("server");
      mkdirSync(join(paths.backupRoot, "wal"));
      const src = join(dir("pg_wal"), segment);
      writeFileSync(src, "wal bytes");
      expect(run("archive-wal", envFile, [src, segment]).status).toBe(0);
      expect(readFileSync(join(paths.backupRoot, "wal", segment), "utf8")).toBe("wal bytes");
      expect(run("archive-wal", envFile, [src, segment]).status).toBe(0);
      // The copy, its entry in the queue the backup job's shipper pass empties, and the free-space reading.
      expect(readdirSync(join(paths.backupRoot, "wal")).sort()).toEqual([
        `.to-ship.${segment}`,
        segment,
        "drkit-free-space",
      ]);
    },
  );

  it("never overwrites a different file of the same name, and refuses unexpected names", () => {
    const { paths, envFile } = pod("server");
    mkdirSync(join(paths.backupRoot, "wal"));
    writeFileSync(join(paths.backupRoot, "wal", segment), "archived earlier");
    const src = join(dir("pg_wal"), segment);
    writeFileSync(src, "something else");
    const clash = run("archive-wal", envFile, [src, segment]);
    expect(clash.status).toBe(1);
    expect(clash.stderr).toContain("already exists with different content; refusing to overwrite it");
    expect(readFileSync(join(paths.backupRoot, "wal", segment), "utf8")).toBe("archived earlier");
    const odd = run("archive-wal", envFile, [src, "../../etc/passwd"]);
    expect(odd.status).toBe(1);
    expect(odd.stderr).toContain("refusing to archive unexpected file name");
  });
});

describe("the restore Job (pod-restore, then restore-pitr) guards", () => {
  const REQUEST = "latest@end-of-archive";
  /** A bin directory whose pg_isready exits with `code` (0: the primary answers, 2: nothing does). */
  const setup = (pgIsReady: number) => {
    const bin = dir("bin");
    writeFileSync(join(bin, "pg_isready"), `#!/bin/sh\nexit ${pgIsReady}\n`, { mode: 0o755 });
    const p = pod("restore", { restore: { fromBackup: "latest" } }, { pgBin: bin });
    mkdirSync(join(p.paths.dataMount, "pgdata"));
    writeFileSync(join(p.paths.dataMount, "pgdata", "PG_VERSION"), "15\n");
    return p;
  };
  const restore = (envFile: string, request = REQUEST) =>
    run("pod-restore", envFile, [], { DRKIT_RESTORE_REQUEST: request });

  it("refuses when the job asks for another request than the settings (from a stale ConfigMap) carry", () => {
    const { paths, envFile } = setup(2);
    const result = restore(envFile, "20240115T020000Z@end-of-archive");
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `this script restores ${REQUEST} but the job asks for 20240115T020000Z@end-of-archive`,
    );
    expect(readdirSync(paths.dataMount)).toEqual(["pgdata"]);
  });

  it("refuses while another process (a running primary) holds the volume's lock", async () => {
    const { paths, envFile } = setup(2);
    // What pod-primary does: hold the lock for as long as postgres runs.
    const holder = spawn("flock", [join(paths.dataMount, ".drkit-server.lock"), "sleep", "30"]);
    await new Promise((r) => setTimeout(r, 200));
    try {
      const result = restore(envFile);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`another server or a restore job is using ${paths.dataMount}`);
    } finally {
      holder.kill();
    }
    expect(readdirSync(paths.dataMount).sort()).toEqual([".drkit-server.lock", "pgdata"]);
  });

  it("refuses while the primary answers at its address", () => {
    const { paths, envFile } = setup(0);
    const result = restore(envFile);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      "the primary answers at billing-primary-0.billing-headless; scale its StatefulSet to 0",
    );
    expect(existsSync(join(paths.dataMount, "pgdata", "PG_VERSION"))).toBe(true);
  });

  it("does nothing for a request it already carried out", () => {
    const { paths, envFile } = setup(2);
    writeFileSync(join(paths.dataMount, "drkit-restored"), `request=${REQUEST}\n`);
    const result = restore(envFile);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(`was already restored for ${REQUEST}; nothing to do`);
    expect(readdirSync(paths.dataMount).sort()).toEqual([".drkit-server.lock", "drkit-restored", "pgdata"]);
  });

  it("fails without touching the volume when no backup matches, and records why", () => {
    const { paths, envFile } = setup(2);
    mkdirSync(join(paths.backupRoot, "base"));
    const result = restore(envFile);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("no complete base backup in");
    expect(readdirSync(join(paths.dataMount, "pgdata"))).toEqual(["PG_VERSION"]);
    const recorded = JSON.parse(readFileSync(join(paths.backupRoot, "results", "last-restore"), "utf8"));
    expect(recorded).toMatchObject({ drkit: "restore", cluster: "billing", request: REQUEST, result: "failed" });
    expect(recorded.error).toBe(`no complete base backup in ${paths.backupRoot}/base finished before now`);
    expect(JSON.parse(result.stdout)).toEqual(recorded);
  });
});

describe("the restore test (verify-backup --end-of-archive)", () => {
  it("records a failure as one JSON line on stdout and in results/", () => {
    const { paths, envFile } = pod("restore-test");
    mkdirSync(join(paths.backupRoot, "base", ".partial-20240115T020000Z"), { recursive: true });
    const result = run("verify-backup", envFile, ["--end-of-archive"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`no complete base backup in ${paths.backupRoot}/base to verify`);
    const line = JSON.parse(result.stdout);
    expect(line).toMatchObject({ drkit: "restore-test", cluster: "billing", backup: "", result: "failed" });
    expect(JSON.parse(readFileSync(join(paths.backupRoot, "results", "last-restore-test"), "utf8"))).toEqual(line);
  });
});

/** The real mc and MinIO (the toolchain's), with keys as mcHostUrl writes them. */
const toolchain = toolchainBin();
const BACKUP_ID = "20240115T020000Z";

describe("the backup pod's shipping (ship-offsite) against MinIO", () => {
  let minio: MinioServer;
  // A key with '/', '+', '=' and '@', as AWS and MinIO secret keys may have.
  const user = { access: "drkit-uploader", secret: "up/load+er=Secret@0123456789" };
  beforeAll(async () => {
    minio = await startMinio("k8soffsite");
    for (const args of [
      ["mb", "k8soffsite/dr-copies"],
      ["admin", "user", "add", "k8soffsite", user.access, user.secret],
      ["admin", "policy", "attach", "k8soffsite", "readwrite", "--user", user.access],
    ]) {
      const r = await minio.mc(args);
      expect(r.status, r.stdout + r.stderr).toBe(0);
    }
  }, 60_000);
  afterAll(async () => minio?.destroy());

  it(
    "ships the backup set and every archived WAL file with sha256 checks, in the hosts' layout, " +
      "and never overwrites",
    async () => {
      const creds = join(dir("offsite"), "credentials");
      writeFileSync(creds, credentialsFileContent("offsite", "offsite", minio.endpoint, user.access, user.secret), {
        mode: 0o600,
      });
      const shipping = { offsite: { endpoint: minio.endpoint, bucket: "dr-copies", accessKey: "a", secretKey: "b" } };
      const { paths, envFile } = pod("backup", shipping, { offsiteCredentials: creds, mc: join(toolchain, "mc") });
      const backup = join(paths.backupRoot, "base", BACKUP_ID);
      mkdirSync(backup, { recursive: true });
      for (const [f, text] of [
        ["base.tar.zst", "base archive bytes"],
        ["pg_wal.tar.zst", "wal archive"],
        ["backup_manifest", "{}"],
        ["drkit-backup.env", "id=x\nend_epoch=1705284000\n"],
      ])
        writeFileSync(join(backup, f), text);
      mkdirSync(join(paths.backupRoot, "wal"));
      // As the server's archive-wal leaves them: each archived file with its queue entry beside it.
      for (const segment of ["000000010000000000000001", "000000010000000000000002", "00000002.history"]) {
        writeFileSync(join(paths.backupRoot, "wal", segment), `wal ${segment}`);
        writeFileSync(join(paths.backupRoot, "wal", `.to-ship.${segment}`), "");
      }
      writeFileSync(join(paths.backupRoot, "wal", ".000000010000000000000003.Xa1b2c"), "being archived");
      for (const [verb, args] of [
        ["ship-offsite", ["base", BACKUP_ID]],
        ["shipper", ["once"]],
      ] as const) {
        const r = run(verb, envFile, [...args]);
        expect(r.status, r.stderr).toBe(0);
      }
      const listed = await minio.mc(["ls", "--recursive", "--json", "k8soffsite/dr-copies/"]);
      const keys = listed.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).key)
        .sort();
      expect(keys).toEqual([
        `billing/base/${BACKUP_ID}/backup_manifest`,
        `billing/base/${BACKUP_ID}/base.tar.zst`,
        `billing/base/${BACKUP_ID}/drkit-backup.env`,
        `billing/base/${BACKUP_ID}/pg_wal.tar.zst`,
        "billing/wal/000000010000000000000001",
        "billing/wal/000000010000000000000002",
        "billing/wal/00000002.history",
      ]);
      // Confirmed: the queue is empty, so the next pass uploads nothing.
      expect(readdirSync(join(paths.backupRoot, "offsite-marks", "offsite", "wal-queue"))).toEqual([]);
      expect(readdirSync(join(paths.backupRoot, "wal")).filter((f) => f.startsWith(".to-ship."))).toEqual([]);
      // Another file of the same name with other content is never overwritten, and stays queued.
      writeFileSync(join(paths.backupRoot, "wal", "000000010000000000000002"), "other content");
      writeFileSync(join(paths.backupRoot, "wal", ".to-ship.000000010000000000000002"), "");
      const clash = run("shipper", envFile, ["once"]);
      expect(clash.status).toBe(1);
      expect(clash.stderr).toContain("refusing to overwrite it");
      expect(readdirSync(join(paths.backupRoot, "offsite-marks", "offsite", "wal-queue"))).toEqual([
        "000000010000000000000002",
      ]);
      expect((await minio.mc(["cat", "k8soffsite/dr-copies/billing/wal/000000010000000000000002"])).stdout).toBe(
        "wal 000000010000000000000002",
      );
    },
    120_000,
  );

  it("mc takes MC_HOST_ keys literally: URL-encoded ones are other keys", async () => {
    const auth = `${encodeURIComponent(user.access)}:${encodeURIComponent(user.secret)}@`;
    const encoded = `${minio.endpoint.replace("://", `://${auth}`)}`;
    const literal = credentialsFileContent("offsite", "offsite", minio.endpoint, user.access, user.secret)
      .split("\n")[1]!
      .replace("MC_HOST_offsite=", "");
    expect((await minio.mc(["ls", "offsite/dr-copies/"], { MC_HOST_offsite: literal })).status).toBe(0);
    const refused = await minio.mc(["ls", "offsite/dr-copies/"], { MC_HOST_offsite: encoded });
    expect(refused.status).toBe(1);
    expect(refused.stdout + refused.stderr).toContain("signature");
  });
});
