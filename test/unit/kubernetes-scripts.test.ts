import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresClusterArgs } from "../../components/kubernetes/args";
import { configData } from "../../components/kubernetes/manifests";
import { mcHostValue } from "../../components/kubernetes/offsite";
import { resolveCluster } from "../../components/kubernetes/spec";
import { toolchainBin } from "../helpers/engine";
import { startMinio, type MinioServer } from "../helpers/minio";

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
    ["off-site shipping", { offsite: { endpoint: "https://s3.example.com", bucket: "dr-copies", accessKey: "a", secretKey: "b" } }],
    ["off-site shipping and a restore", { restore: { fromBackup: "latest" }, offsite: { endpoint: "http://minio:9000", bucket: "dr-copies", prefix: "prod/billing/", accessKey: "a", secretKey: "b" } }],
  ];
  it.each(flavours)("finds nothing in the scripts of %s", (_, args) => {
    const scripts = scriptsOf(args);
    expect(scripts.length).toBe((args.restore ? 7 : 6) + (args.offsite ? 1 : 0));
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

/**
 * offsite-upload.sh runs in the mc image, which has bash, coreutils and mc only: it runs here with a PATH of
 * exactly the coreutils it uses plus an mc, first a stand-in that keeps a fake store in a directory, then
 * (when the toolchain has them) the real mc against a real MinIO.
 */
const BASH = spawnSync("bash", ["-c", "command -v bash"], { encoding: "utf8" }).stdout.trim();
const SHIPPING = { endpoint: "https://s3.example.com", bucket: "dr-copies", accessKey: "a", secretKey: "b" };
const BACKUP_ID = "20240115T020000Z";

function imageBin(mc: string): string {
  const bin = dir("image-bin");
  for (const tool of ["date", "mkdir", "stat", "tr"]) symlinkSync(spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim(), join(bin, tool));
  symlinkSync(mc, join(bin, "mc"));
  return bin;
}

/** A backup volume holding one published backup and some archived WAL (and a segment still being archived). */
function backupVolume() {
  const root = dir("backups");
  const backup = join(root, "base", BACKUP_ID);
  mkdirSync(backup, { recursive: true });
  writeFileSync(join(backup, "base.tar.zst"), "base archive bytes");
  writeFileSync(join(backup, "pg_wal.tar.zst"), "wal archive");
  writeFileSync(join(backup, "backup_manifest"), "{}");
  writeFileSync(join(backup, "drkit-backup-info"), "start_wal=000000010000000000000002\nend_epoch=1705284000\n");
  mkdirSync(join(root, "wal"));
  for (const segment of ["000000010000000000000001", "000000010000000000000002", "00000002.history"]) writeFileSync(join(root, "wal", segment), `wal ${segment}`);
  writeFileSync(join(root, "wal", ".000000010000000000000003.Xa1b2c"), "being archived");
  const handoff = dir("handoff");
  writeFileSync(join(handoff, "backup-id"), `${BACKUP_ID}\n`);
  return { root, handoff };
}

const listing = (root: string): string[] =>
  readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();

function upload(script: string, bin: string, volume: { root: string; handoff: string }, env: Record<string, string>) {
  const home = dir("home");
  return spawnSync(BASH, [script], {
    encoding: "utf8",
    env: { PATH: bin, DRKIT_BACKUP_ROOT: volume.root, DRKIT_HANDOFF_DIR: volume.handoff, HOME: home, MC_CONFIG_DIR: join(home, ".mc"), MC_NO_COLOR: "1", MC_DISABLE_PAGER: "1", ...env },
  });
}

describe("offsite-upload.sh with a stand-in mc", () => {
  const uploadScript = script("offsite-upload.sh", { offsite: SHIPPING });
  /** Logs its arguments; `MC_FAIL=<subcommand>` makes that subcommand fail, `MC_SHORT=1` stores uploads one byte short. */
  const fakeMc = join(dir("fake-mc"), "mc");
  writeFileSync(
    fakeMc,
    `#!${BASH}
PATH=/usr/bin:/bin
printf '%s\\n' "$*" >>"$MC_LOG"
if [[ $1 == "\${MC_FAIL:-}" ]]; then echo "mc: <ERROR> simulated failure of $1" >&2; exit 1; fi
case $1 in
  ls) d=$FAKE_STORE/\${3#offsite/}; for f in "$d"*; do [[ -f $f ]] && printf '{"status":"success","type":"file","size":%s,"key":"%s"}\\n' "$(stat -c %s "$f")" "\${f##*/}"; done; exit 0 ;;
  cp) dest=$FAKE_STORE/\${4#offsite/}; mkdir -p "$(dirname "$dest")"; if [[ -n \${MC_SHORT:-} ]]; then head -c -1 "$3" >"$dest"; else cp "$3" "$dest"; fi ;;
  mirror) dest=$FAKE_STORE/\${6#offsite/}; mkdir -p "$dest"; for f in "$5"*; do [[ -e $dest\${f##*/} ]] || cp "$f" "$dest"; done ;;
  *) exit 2 ;;
esac
`,
    { mode: 0o755 },
  );
  const bin = imageBin(fakeMc);
  const setup = () => {
    const volume = backupVolume();
    const store = dir("store");
    const log = join(dir("mc-log"), "log");
    writeFileSync(log, "");
    const mcCalls = () => readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
    return { volume, store, mcCalls, env: { FAKE_STORE: store, MC_LOG: log, MC_HOST_offsite: "https://a:b@s3.example.com" } };
  };

  it("uploads the handed-over backup, drkit-backup-info last, then adds the WAL without overwriting or removing anything", () => {
    const { volume, store, mcCalls, env } = setup();
    const before = listing(volume.root);
    const result = upload(uploadScript, bin, volume, env);
    expect(result.stderr).not.toContain("ERROR");
    expect(result.status).toBe(0);
    const dest = `offsite/dr-copies/billing/base/${BACKUP_ID}`;
    expect(mcCalls()).toEqual([
      `ls --json ${dest}/`,
      `cp --quiet ${volume.root}/base/${BACKUP_ID}/backup_manifest ${dest}/backup_manifest`,
      `cp --quiet ${volume.root}/base/${BACKUP_ID}/base.tar.zst ${dest}/base.tar.zst`,
      `cp --quiet ${volume.root}/base/${BACKUP_ID}/pg_wal.tar.zst ${dest}/pg_wal.tar.zst`,
      `cp --quiet ${volume.root}/base/${BACKUP_ID}/drkit-backup-info ${dest}/drkit-backup-info`,
      `ls --json ${dest}/`,
      `mirror --quiet --exclude .* ${volume.root}/wal/ offsite/dr-copies/billing/wal/`,
    ]);
    expect(listing(store)).toEqual([
      `dr-copies/billing/base/${BACKUP_ID}/backup_manifest`,
      `dr-copies/billing/base/${BACKUP_ID}/base.tar.zst`,
      `dr-copies/billing/base/${BACKUP_ID}/drkit-backup-info`,
      `dr-copies/billing/base/${BACKUP_ID}/pg_wal.tar.zst`,
      "dr-copies/billing/wal/000000010000000000000001",
      "dr-copies/billing/wal/000000010000000000000002",
      "dr-copies/billing/wal/00000002.history",
    ]);
    expect(listing(volume.root)).toEqual(before);
    const bytes = readdirSync(join(volume.root, "base", BACKUP_ID)).reduce((sum, f) => sum + readFileSync(join(volume.root, "base", BACKUP_ID, f)).length, 0);
    expect(JSON.parse(result.stdout)).toMatchObject({ drkit: "offsite-upload", cluster: "billing", backup: BACKUP_ID, result: "ok", target: `${dest}/`, bytes });
  });

  it("refuses to upload over a backup folder that is not empty off-site", () => {
    const { volume, store, mcCalls, env } = setup();
    mkdirSync(join(store, "dr-copies/billing/base", BACKUP_ID), { recursive: true });
    writeFileSync(join(store, "dr-copies/billing/base", BACKUP_ID, "base.tar.zst"), "an older upload");
    const result = upload(uploadScript, bin, volume, env);
    expect(result.status).toBe(1);
    expect(mcCalls()).toHaveLength(1);
    expect(readFileSync(join(store, "dr-copies/billing/base", BACKUP_ID, "base.tar.zst"), "utf8")).toBe("an older upload");
    expect(JSON.parse(result.stdout)).toMatchObject({ result: "failed", backup: BACKUP_ID, error: `offsite/dr-copies/billing/base/${BACKUP_ID}/ already holds 1 object(s); refusing to overwrite them` });
  });

  it.each([
    ["ls", "cannot list offsite/dr-copies/billing/base/20240115T020000Z/ (does the bucket exist, are the keys right?)"],
    ["cp", `mc cp of `],
    ["mirror", "mc mirror of "],
  ])("fails the container when mc %s fails", (subcommand, error) => {
    const { volume, env } = setup();
    const result = upload(uploadScript, bin, volume, { ...env, MC_FAIL: subcommand });
    expect(result.status).toBe(1);
    const line = JSON.parse(result.stdout);
    expect(line).toMatchObject({ drkit: "offsite-upload", result: "failed", backup: BACKUP_ID });
    expect(line.error).toContain(error);
  });

  it("fails when an upload does not read back with its local size", () => {
    const { volume, mcCalls, env } = setup();
    const result = upload(uploadScript, bin, volume, { ...env, MC_SHORT: "1" });
    expect(result.status).toBe(1);
    expect(JSON.parse(result.stdout).error).toBe(`offsite/dr-copies/billing/base/${BACKUP_ID}/backup_manifest is 1 bytes off-site, expected 2`);
    expect(mcCalls().some((c) => c.startsWith("mirror"))).toBe(false);
  });

  it("fails without uploading when the backup step handed over nothing, or a backup that is not there", () => {
    const { volume, mcCalls, env } = setup();
    rmSync(join(volume.handoff, "backup-id"));
    const none = upload(uploadScript, bin, volume, env);
    expect(none.status).toBe(1);
    expect(JSON.parse(none.stdout).error).toBe(`the backup step left no backup id in ${volume.handoff}/backup-id`);
    writeFileSync(join(volume.handoff, "backup-id"), "20240116T020000Z\n");
    const missing = upload(uploadScript, bin, volume, env);
    expect(JSON.parse(missing.stdout).error).toBe(`backup 20240116T020000Z is not published in ${volume.root}/base`);
    expect(upload(uploadScript, bin, volume, { ...env, MC_HOST_offsite: "" }).stderr).toContain("environment variable MC_HOST_offsite is not set");
    expect(mcCalls()).toEqual([]);
  });
});

/** The real mc (the toolchain's; the image pins RELEASE.2025-08-13T08-35-41Z, whose MC_HOST_ parsing is the same). */
// Never skipped: toolchain/setup builds mc and minio, and toolchainBin() says so when they are missing.
const toolchain = toolchainBin();

describe("offsite-upload.sh against MinIO", () => {
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

  it("ships a backup and the WAL with the keys as mcHostValue writes them, and never overwrites", async () => {
    const uploadScript = script("offsite-upload.sh", { offsite: { ...SHIPPING, endpoint: minio.endpoint } });
    const bin = imageBin(join(toolchain, "mc"));
    const volume = backupVolume();
    const env = { MC_HOST_offsite: mcHostValue(minio.endpoint, user.access, user.secret) };
    const result = upload(uploadScript, bin, volume, env);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ result: "ok", backup: BACKUP_ID });
    const listed = await minio.mc(["ls", "--recursive", "--json", "k8soffsite/dr-copies/"]);
    const keys = listed.stdout.trim().split("\n").map((l) => JSON.parse(l).key).sort();
    expect(keys).toEqual([
      `billing/base/${BACKUP_ID}/backup_manifest`,
      `billing/base/${BACKUP_ID}/base.tar.zst`,
      `billing/base/${BACKUP_ID}/drkit-backup-info`,
      `billing/base/${BACKUP_ID}/pg_wal.tar.zst`,
      "billing/wal/000000010000000000000001",
      "billing/wal/000000010000000000000002",
      "billing/wal/00000002.history",
    ]);
    // The same backup again: refused, nothing overwritten.
    const again = upload(uploadScript, bin, volume, env);
    expect(again.status).toBe(1);
    expect(JSON.parse(again.stdout).error).toContain("already holds 4 object(s); refusing to overwrite them");
    // A bucket that does not exist fails the upload (drkit never creates one).
    const elsewhere = script("offsite-upload.sh", { offsite: { ...SHIPPING, endpoint: minio.endpoint, bucket: "no-such-bucket" } });
    expect(upload(elsewhere, bin, backupVolume(), env).status).toBe(1);
  });

  it("mc takes MC_HOST_ keys literally: URL-encoded ones are other keys", async () => {
    const encoded = `${minio.endpoint.replace("://", `://${encodeURIComponent(user.access)}:${encodeURIComponent(user.secret)}@`)}`;
    const literal = mcHostValue(minio.endpoint, user.access, user.secret);
    expect((await minio.mc(["ls", "offsite/dr-copies/"], { MC_HOST_offsite: literal })).status).toBe(0);
    const refused = await minio.mc(["ls", "offsite/dr-copies/"], { MC_HOST_offsite: encoded });
    expect(refused.status).toBe(1);
    expect(refused.stdout + refused.stderr).toContain("signature");
  });
});
