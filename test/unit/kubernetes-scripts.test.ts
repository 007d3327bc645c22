import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { configData } from "../../components/kubernetes/manifests";
import { resolveCluster } from "../../components/kubernetes/spec";

/**
 * The rendered scripts: shellcheck-clean for every flavour, and their guards exercised for real with bash
 * against temp directories (PostgreSQL's tools stubbed). Running them against servers is the job of a
 * rehearsal with real PostgreSQL, not of these tests.
 */

const base: PostgresClusterArgs = { name: "billing", namespace: "payments", databases: ["billing", "audit"], rpoSeconds: 300, storage: { size: "10Gi" }, backupStorage: { size: "20Gi" } };
const scriptsOf = (args: Partial<PostgresClusterArgs>) => Object.entries(configData(resolveCluster({ ...base, ...args }))).filter(([file]) => file.endsWith(".sh"));

const work = mkdtempSync(join(tmpdir(), "drkit-k8s-scripts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const dir = (name: string) => {
  const path = join(work, `${counter++}-${name}`);
  mkdirSync(path, { recursive: true });
  return path;
};

describe("shellcheck", () => {
  const flavours: Array<[string, Partial<PostgresClusterArgs>]> = [
    ["PostgreSQL 15, no standbys", {}],
    ["PostgreSQL 13 (gzip), 3 synchronous standbys", { postgresVersion: 13, standbys: 3, synchronous: true }],
    ["PostgreSQL 17 with a point-in-time restore", { postgresVersion: 17, standbys: 1, restore: { fromBackup: "latest", targetTime: "2024-01-15T14:30:00Z" } }],
    ["a restore from a named backup", { restore: { fromBackup: "20240115T020000Z" } }],
  ];
  it.each(flavours)("finds nothing in the scripts of %s", (_, args) => {
    const scripts = scriptsOf(args);
    expect(scripts.length).toBe(args.restore ? 7 : 6);
    const d = dir("shellcheck");
    for (const [file, text] of scripts) writeFileSync(join(d, file), text);
    const result = spawnSync("shellcheck", ["--severity=style", "--shell=bash", ...scripts.map(([file]) => join(d, file))], { encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});

function script(name: string, args: Partial<PostgresClusterArgs> = {}): string {
  const text = scriptsOf(args).find(([file]) => file === name)?.[1];
  if (!text) throw new Error(`no ${name}`);
  const path = join(dir("script"), name);
  writeFileSync(path, text);
  return path;
}

/** A bin directory whose pg_isready exits with `code` (0: the primary answers, 2: nothing does). */
function stubs(pgIsReadyCode: number): string {
  const bin = dir("bin");
  writeFileSync(join(bin, "pg_isready"), `#!/bin/sh\nexit ${pgIsReadyCode}\n`, { mode: 0o755 });
  return bin;
}

function run(path: string, env: Record<string, string>, args: string[] = []) {
  return spawnSync("bash", [path, ...args], { encoding: "utf8", env: { PATH: `${env.STUB_PATH ?? ""}:/usr/bin:/bin`, ...env } });
}

describe("archive-wal.sh (archive_command)", () => {
  const archive = script("archive-wal.sh");
  const segment = "000000010000000000000001";

  it("copies a WAL file into the archive, and treats an identical copy already there as success", () => {
    const root = dir("backups");
    const src = join(dir("pg_wal"), segment);
    writeFileSync(src, "wal bytes");
    expect(run(archive, { DRKIT_BACKUP_ROOT: root }, [src, segment]).status).toBe(0);
    expect(readFileSync(join(root, "wal", segment), "utf8")).toBe("wal bytes");
    expect(run(archive, { DRKIT_BACKUP_ROOT: root }, [src, segment]).status).toBe(0);
    expect(readdirSync(join(root, "wal"))).toEqual([segment]);
  });

  it("never overwrites a different file of the same name, and refuses unexpected names", () => {
    const root = dir("backups");
    mkdirSync(join(root, "wal"));
    writeFileSync(join(root, "wal", segment), "archived earlier");
    const src = join(dir("pg_wal"), segment);
    writeFileSync(src, "something else");
    const clash = run(archive, { DRKIT_BACKUP_ROOT: root }, [src, segment]);
    expect(clash.status).toBe(1);
    expect(clash.stderr).toContain("already exists with different content; refusing to overwrite it");
    expect(readFileSync(join(root, "wal", segment), "utf8")).toBe("archived earlier");
    const odd = run(archive, { DRKIT_BACKUP_ROOT: root }, [src, "../../etc/passwd"]);
    expect(odd.status).toBe(1);
    expect(odd.stderr).toContain("refusing to archive unexpected file name");
    expect(run(archive, {}, [src, segment]).stderr).toContain("environment variable DRKIT_BACKUP_ROOT is not set");
  });
});

describe("restore.sh guards", () => {
  const restore = script("restore.sh", { restore: { fromBackup: "latest" } });
  const volume = () => {
    const mount = dir("data");
    mkdirSync(join(mount, "pgdata"));
    writeFileSync(join(mount, "pgdata", "PG_VERSION"), "15\n");
    return mount;
  };
  const envFor = (mount: string, pgIsReady: number, backups = dir("backups")) => ({
    PGDATA: join(mount, "pgdata"),
    PGHOST: dir("socket"),
    PGPORT: "5432",
    DRKIT_BACKUP_ROOT: backups,
    DRKIT_PRIMARY_HOST: "billing-primary-0.billing-headless",
    DRKIT_RESTORE_REQUEST: "latest@end-of-archive",
    STUB_PATH: stubs(pgIsReady),
  });

  it("refuses when the job asks for another request than the script (from a stale ConfigMap) carries", () => {
    const mount = volume();
    const result = run(restore, { ...envFor(mount, 2), DRKIT_RESTORE_REQUEST: "20240115T020000Z@end-of-archive" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("this script restores latest@end-of-archive but the job asks for 20240115T020000Z@end-of-archive");
    expect(readdirSync(mount)).toEqual(["pgdata"]);
  });

  it("refuses while another process (a running primary) holds the volume's lock", async () => {
    const mount = volume();
    // What the primary's entrypoint does: hold the lock for as long as postgres runs.
    const holder = spawn("flock", [join(mount, ".drkit-server.lock"), "sleep", "30"]);
    await new Promise((r) => setTimeout(r, 200));
    try {
      const result = run(restore, envFor(mount, 2));
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`another server or a restore job is using ${mount}`);
    } finally {
      holder.kill();
    }
    expect(readdirSync(mount).sort()).toEqual([".drkit-server.lock", "pgdata"]);
  });

  it("refuses while the primary answers at its address", () => {
    const mount = volume();
    const result = run(restore, envFor(mount, 0));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("the primary answers at billing-primary-0.billing-headless; scale its StatefulSet to 0");
    expect(existsSync(join(mount, "pgdata", "PG_VERSION"))).toBe(true);
  });

  it("does nothing for a request it already carried out", () => {
    const mount = volume();
    writeFileSync(join(mount, "drkit-restored"), "request=latest@end-of-archive\nbackup=20240115T020000Z\n");
    const result = run(restore, envFor(mount, 2));
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("was already restored for latest@end-of-archive; nothing to do");
    expect(readdirSync(mount).sort()).toEqual([".drkit-server.lock", "drkit-restored", "pgdata"]);
  });

  it("fails without touching the volume when no backup matches, and records why", () => {
    const mount = volume();
    const env = envFor(mount, 2);
    const result = run(restore, env);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("no published backup matches fromBackup=latest");
    expect(readdirSync(join(mount, "pgdata"))).toEqual(["PG_VERSION"]);
    expect(JSON.parse(readFileSync(join(env.DRKIT_BACKUP_ROOT, "results", "last-restore"), "utf8"))).toMatchObject({
      drkit: "restore",
      result: "failed",
      error: `no published backup matches fromBackup=latest in ${env.DRKIT_BACKUP_ROOT}/base`,
    });
  });
});

describe("restore-test.sh", () => {
  it("records a failure as one JSON line on stdout and in results/, with the reason", () => {
    const backups = dir("backups");
    mkdirSync(join(backups, "base", ".partial-20240115T020000Z"), { recursive: true });
    const result = run(script("restore-test.sh"), { DRKIT_BACKUP_ROOT: backups, DRKIT_SCRATCH: dir("scratch"), PGHOST: dir("socket"), PGPORT: "5432" });
    expect(result.status).toBe(1);
    const line = JSON.parse(result.stdout);
    expect(line).toMatchObject({ drkit: "restore-test", cluster: "billing", backup: "", result: "failed", error: `no published base backup in ${backups}/base` });
    expect(JSON.parse(readFileSync(join(backups, "results", "last-restore-test"), "utf8"))).toEqual(line);
  });

  it("rolls the backup forward from the archive but never archives into it", () => {
    const text = readFileSync(script("restore-test.sh"), "utf8");
    expect(text).toContain("-c archive_mode=off");
    expect(text).not.toContain("config_file");
    expect(text).toContain("restore_command=test -f $DRKIT_BACKUP_ROOT/wal/%f && cp $DRKIT_BACKUP_ROOT/wal/%f %p");
    expect(text).toContain("pg_verifybackup --quiet --manifest-path=");
  });
});

describe("server scripts", () => {
  it("the primary creates the declared databases and one slot per standby, and drops stale drkit slots", () => {
    const text = readFileSync(script("primary-entrypoint.sh", { standbys: 2 }), "utf8");
    for (const db of ["billing", "audit"]) expect(text).toContain(`SELECT 'CREATE DATABASE ${db}' WHERE NOT EXISTS`);
    for (const slot of ["drkit_standby_0", "drkit_standby_1"]) expect(text).toContain(`pg_create_physical_replication_slot('${slot}')`);
    expect(text).toContain("slot_name <> ALL (ARRAY['drkit_standby_0', 'drkit_standby_1']::text[]) AND NOT active");
    expect(text).toContain("--data-checksums");
  });

  it("a standby clones through the slot of its ordinal and writes its recovery settings with -R", () => {
    const text = readFileSync(script("standby-clone.sh", { standbys: 2 }), "utf8");
    expect(text).toContain("slot=$SLOT_PREFIX$ordinal");
    expect(text).toContain("--slot=\"$slot\" --write-recovery-conf");
  });
});
