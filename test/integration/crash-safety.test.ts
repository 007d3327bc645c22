import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyServiceLocally } from "../../components/host/applyLocal";
import { toolchainBin } from "../helpers/engine";
import { startMinio, type MinioServer } from "../helpers/minio";
import { freePort, processAlive, sandboxFor, sandboxPlan, tempRoot, type Sandbox } from "../helpers/sandbox";

// Crash and disk safety of the agent's jobs against real servers: the backup root is a small tmpfs that is
// filled on purpose, and backup-base, ship-offsite base, prune and restore-redis are each killed 20 times at
// random points (SIGKILL to the whole process group, as systemd does to a unit's processes when stopping it
// times out). After every kill the next normal run must succeed and nothing half-published may be visible; at
// the end a restore is exact. DRKIT_CRASH_SEED repeats a run's kill points.

// mc comes from the toolchain; the sandbox copies it under its root from PATH.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

/**
 * Kill points are stratified: round i kills at a random moment within the i-th of KILLS equal slices of the
 * job's measured run, so every phase of the job is hit once per pass, where uniform draws clump.
 */
const KILLS = 10;
const BUCKET = "drkit-crash";
const ID = /^\d{8}T\d{6}Z$/;
const seed = Number(process.env.DRKIT_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** mulberry32: a small seeded generator, so a failing run's kill points can be repeated; one stream per job. */
function generator(stream: string): () => number {
  let a = seed >>> 0;
  for (const c of stream) a = Math.imul(a ^ c.charCodeAt(0), 0x9e3779b1) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let minio: MinioServer;
let sb: Sandbox;
let mounted = "";
const logs = tempRoot("crash-logs");
const timings: string[] = [];
let runs = 0;

interface JobRun {
  readonly status: number | null;
  /** The job was still running when SIGKILL reached it. */
  readonly killed: boolean;
  readonly ms: number;
  readonly log: string;
}

/**
 * Runs a job in a process group of its own; with `killAfterMs`, SIGKILL goes to the whole group then (the job,
 * runuser and whatever it started: pg_basebackup, mc, redis-cli). Output goes to a file, so a server a job
 * started in the background can never hold the test up.
 */
function job(argv: string[], killAfterMs?: number): Promise<JobRun> {
  const logFile = path.join(logs, `run-${++runs}.log`);
  const fd = fs.openSync(logFile, "w");
  const started = Date.now();
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  let timer: NodeJS.Timeout | undefined;
  if (killAfterMs !== undefined)
    timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, killAfterMs);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (status, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      // The leader's exit is not the group's: a killed job's children (a sync, a find) may still hold its lock
      // for a moment, as systemd would wait for the unit's whole cgroup before the next run.
      const done = () => resolve({ status, killed: signal === "SIGKILL", ms, log: fs.readFileSync(logFile, "utf8") });
      if (groupAlive(child.pid!)) void groupGone(child.pid!).then(done);
      else done();
    });
  });
}

/** Whether any process of the process group is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (at most 5 s) until no process of the process group is left; at once when none is. */
async function groupGone(pgid: number): Promise<void> {
  for (let i = 0; i < 500 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 10));
}

const asPg = (name: string, ...args: string[]) => ["runuser", "-u", "postgres", "--", sb.script(name), ...args];
/** restore-redis as root (with AOF on, the drop-in it switches is root's); backup-redis as the Redis test runs it. */
const asRoot = (name: string, ...args: string[]) => [sb.script(name), ...args];

async function ok(argv: string[]): Promise<JobRun> {
  const r = await job(argv);
  expect(r.status, `${argv.join(" ")}:\n${r.log}`).toBe(0);
  return r;
}

/**
 * KILLS rounds of: a run killed at a random moment of its slice of the job's measured run, the state checked,
 * then a normal run that must succeed, the state checked again.
 */
async function killRounds(
  what: string,
  argv: () => string[],
  opts: {
    before?: (round: number) => Promise<void> | void;
    afterKill?: (run: JobRun) => Promise<void> | void;
    afterRun?: () => Promise<void> | void;
  },
): Promise<void> {
  const started = Date.now();
  const random = generator(what);
  await opts.before?.(-1);
  const measured = (await ok(argv())).ms;
  await opts.afterRun?.();
  let killed = 0;
  const delays: number[] = [];
  for (let round = 0; round < KILLS; round++) {
    await opts.before?.(round);
    const delay = Math.floor(((round + random()) / KILLS) * measured);
    delays.push(delay);
    const k = await job(argv(), delay);
    if (k.killed) killed++;
    else expect(k.status, `${what} finished before its kill but failed:\n${k.log}`).toBe(0);
    await opts.afterKill?.(k);
    await ok(argv());
    await opts.afterRun?.();
  }
  timings.push(
    `${what}: one run ${measured} ms; ${killed} of ${KILLS} runs killed mid-way (delays ${Math.min(...delays)}-` +
      `${Math.max(...delays)} ms); ${KILLS} kills + ${KILLS + 1} normal runs + checks in ${Date.now() - started} ms`,
  );
}

const baseDir = () => sb.plan.paths.baseDir;
const entries = (dir: string) => fs.readdirSync(dir).sort();
const redisCli = (...args: string[]) =>
  execFileSync("redis-cli", ["-s", sb.plan.redis!.socket!, ...args], { encoding: "utf8" }).trim();

/**
 * Every entry of a base backup folder that carries an id is a complete backup (its metadata, both tars, the
 * manifest); with `leftovers` false there is nothing else either (no .partial-*, .verify-*, .pruned-*).
 */
function expectOnlyCompleteBackups(dir = baseDir(), leftovers = false): string[] {
  const all = entries(dir);
  const ids = all.filter((f) => !f.startsWith("."));
  if (!leftovers) expect(all, `${dir} holds leftovers`).toEqual(ids);
  for (const id of ids) {
    expect(id, `${dir} holds ${all.join(" ")}`).toMatch(ID);
    const files = entries(path.join(dir, id));
    expect(files, id).toContain("drkit-backup.env");
    expect(files, id).toContain("backup_manifest");
    expect(
      files.filter((f) => /^(base|pg_wal)\.tar/.test(f)),
      id,
    ).toHaveLength(2);
  }
  return ids;
}

/** A copy of a complete base backup under another id, owned by the PostgreSQL user like the original. */
function copyBackup(from: string, to: string): void {
  execFileSync("cp", ["-a", from, to]);
  const meta = path.join(to, "drkit-backup.env");
  fs.writeFileSync(meta, fs.readFileSync(meta, "utf8").replace(/^id=.*$/m, `id=${path.basename(to)}`));
}

/** Folders owned by the PostgreSQL user, as the jobs that run as it need them. */
const pgDirs = (...dirs: string[]) =>
  execFileSync("install", ["-d", "-m", "0750", "-o", "postgres", "-g", "postgres", ...dirs]);

/**
 * A settings file: the service's own, with some settings changed (later lines win), readable by the jobs' users.
 * The rounds below use it to run beside each other on folders of their own.
 */
function settingsWith(name: string, changes: Record<string, string>): string {
  const file = path.join(logs, `${name}.env`);
  const lines = Object.entries(changes).map(([k, v]) => (v.startsWith("(") ? `${k}=${v}` : `${k}='${v}'`));
  fs.writeFileSync(
    file,
    [fs.readFileSync(path.join(sb.plan.paths.scriptsDir, "drkit.env"), "utf8"), ...lines, ""].join("\n"),
  );
  fs.chmodSync(file, 0o644);
  return file;
}
const pgWith = (env: string, name: string, ...args: string[]) => [
  "runuser",
  "-u",
  "postgres",
  "--",
  "env",
  `DRKIT_ENV=${env}`,
  sb.script(name),
  ...args,
];

/** The objects of one base backup in the bucket: file name -> the sha256 recorded with it ("" when none). */
async function remoteBase(id: string): Promise<Map<string, string>> {
  const prefix = sb.plan.offsite!.targets[0].prefix;
  const r = await minio.mc(["stat", "--recursive", "--json", `${minio.name}/${BUCKET}/${prefix}base/${id}/`]);
  const objects = new Map<string, string>();
  if (r.status !== 0) {
    // Nothing uploaded yet.
    expect(r.stdout + r.stderr).toContain("does not exist");
    return objects;
  }
  // Names are relative to the folder listed.
  for (const line of r.stdout.split("\n").filter(Boolean)) {
    const o = JSON.parse(line) as { status: string; name?: string; metadata?: Record<string, string> };
    if (o.status === "success" && o.name) objects.set(o.name, o.metadata?.["X-Amz-Meta-Drkit-Sha256"] ?? "");
  }
  return objects;
}

const sha256 = (file: string) => execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];

/** The file in a run's sandbox root naming the process that mounted its tmpfs. */
const OWNER_FILE = ".crash-safety-owner";
/**
 * tmpfs backup roots left mounted by runs of this file that were killed outright (no handler ran): their owner
 * process is gone. Unmounted and removed before this run mounts its own.
 */
function reapStaleMounts(): void {
  const prefix = path.join(os.tmpdir(), "drkit-crash-");
  for (const line of fs.readFileSync("/proc/mounts", "utf8").split("\n")) {
    const [, target, type] = line.split(" ");
    if (type !== "tmpfs" || !target?.startsWith(prefix)) continue;
    const root = target.slice(0, target.indexOf("/", prefix.length));
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(root, OWNER_FILE), "utf8").trim());
    } catch {
      // no owner recorded: a run from before the owner file, or one killed before it wrote it
    }
    if (owner > 0 && processAlive(owner)) continue;
    spawnSync("umount", ["--lazy", target]);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

let cleaned = false;
/** Idempotent and synchronous: for afterAll, process exit and SIGINT/SIGTERM alike. */
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  // The servers first (nothing may hold files on the tmpfs), then the tmpfs, then the rest.
  if (sb) {
    if (fs.existsSync(sb.script("shipper"))) spawnSync(sb.script("shipper"), ["stop"]);
    spawnSync(sb.script("sandbox-redis"), ["stop"]);
    spawnSync(sb.script("sandbox-postgres"), ["stop"]);
  }
  if (mounted) spawnSync("umount", ["--lazy", mounted]);
  sb?.destroy();
  minio?.kill();
  fs.rmSync(logs, { recursive: true, force: true });
}
const onSignal = (signal: NodeJS.Signals) => {
  cleanup();
  process.exit(signal === "SIGINT" ? 130 : 143);
};

beforeAll(async () => {
  const started = Date.now();
  reapStaleMounts();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", cleanup);
  minio = await startMinio("crash");
  const mb = await minio.mc(["mb", `${minio.name}/${BUCKET}`]);
  expect(mb.status, mb.stderr).toBe(0);
  const plan = await sandboxPlan({
    label: "crash",
    service: {
      offsite: { targets: ["site"], retry: { attempts: 2, initialDelay: "1s" } },
      retention: { dailyDays: 1, weeklyWeeks: 0 },
      // The archive's reserve is for real disks; this tmpfs is small on purpose.
      archive: { minFreeSpace: "1MB" },
      redis: { port: await freePort(), manager: { type: "process" }, provision: true },
    },
    objectStores: {
      site: {
        type: "minio",
        endpoint: minio.endpoint,
        bucket: BUCKET,
        accessKey: minio.accessKey,
        secretKey: minio.secretKey,
      },
    },
  });
  sb = sandboxFor(plan);
  fs.mkdirSync(plan.paths.backupRoot, { recursive: true });
  fs.writeFileSync(path.join(plan.rootPrefix!, OWNER_FILE), `${process.pid}\n`);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=256m,mode=0750", "tmpfs", plan.paths.backupRoot]);
  mounted = plan.paths.backupRoot;
  await applyServiceLocally(plan);
  sb.sql("CREATE TABLE items (id int PRIMARY KEY, note text)");
  sb.sql("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 1000) g");
  timings.push(`setup (MinIO, sandbox PostgreSQL and Redis on a tmpfs backup root): ${Date.now() - started} ms`);
}, 300_000);

afterAll(() => {
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.off("exit", cleanup);
  cleanup();
  console.log(`crash-safety (seed ${seed}):\n  ${timings.join("\n  ")}`);
});

describe("a backup root that fills (a 256 MiB tmpfs)", () => {
  const filler = () => path.join(mounted, "filler");
  /** Fills the tmpfs until `leave` bytes are free. */
  const fill = (leave: number) => {
    const free = Number(execFileSync("df", ["-B1", "--output=avail", mounted], { encoding: "utf8" }).split("\n")[1]);
    const size = Math.max(0, free - leave);
    execFileSync("fallocate", ["-l", String(size), filler()]);
  };

  it("each job refuses before writing anything, naming the directory and the bytes", async () => {
    const started = Date.now();
    redisCli("SET", "before:full", "1");
    fill(8 * 1024 * 1024);
    try {
      const base = await job(asPg("backup-base"));
      expect(base.status).toBe(1);
      expect(base.log).toMatch(
        new RegExp(
          `not enough space in ${baseDir()} for base backup \\d{8}T\\d{6}Z: needs about \\d+ bytes \\([^)]+\\) ` +
            `plus the WAL archive's reserve of 1048576 bytes \\(1\\.0M\\), \\d+ bytes \\([^)]+\\) are available; ` +
            "nothing was written",
        ),
      );
      expect(entries(baseDir())).toEqual([]);

      const logical = await job(asPg("backup-logical"));
      expect(logical.status).toBe(1);
      expect(logical.log).toContain(`not enough space in ${sb.plan.paths.logicalDir} for logical backup`);
      expect(entries(sb.plan.paths.logicalDir)).toEqual([]);

      fs.rmSync(filler());
      fill(0);
      const snapshot = await job(asRoot("backup-redis"));
      expect(snapshot.status).toBe(1);
      expect(snapshot.log).toMatch(
        /not enough space in \S+ for snapshot dump_\d{8}T\d{6}Z\.rdb: needs about \d+ bytes/,
      );
      expect(entries(sb.plan.redis!.backupDir).filter((f) => !f.endsWith(".lock"))).toEqual([]);
    } finally {
      fs.rmSync(filler(), { force: true });
    }
    timings.push(`full backup root: three refusals in ${Date.now() - started} ms`);
  });

  it("a disk filling up during a base backup: nothing published; once freed, a backup and a restore", async () => {
    const started = Date.now();
    // Another writer fills the disk as soon as the backup has made its partial directory (before pg_basebackup
    // starts): every free byte at once (fallocate takes no time on a tmpfs), then what rounding left (dd).
    const file = JSON.stringify(filler());
    const filling = job([
      "bash",
      "-c",
      `for _ in $(seq 1 3000); do compgen -G ${JSON.stringify(baseDir())}'/.partial-*' >/dev/null && break; ` +
        `sleep 0.01; done; fallocate -l "$(df -B1 --output=avail ${JSON.stringify(mounted)} | tail -n 1)" ${file}; ` +
        `dd if=/dev/zero of=${file}.rest bs=4k status=none || true`,
    ]);
    const base = await job(asPg("backup-base"));
    await filling;
    try {
      // The exit status is that of whichever step met the full disk first (pg_basebackup, tar).
      expect(base.status, base.log).not.toBe(0);
      expect(base.log).toContain("No space left on device");
      expect(base.log).toMatch(/base backup \d{8}T\d{6}Z FAILED \(exit \d+\); nothing was published/);
      expect(entries(baseDir())).toEqual([]);
    } finally {
      fs.rmSync(filler(), { force: true });
      fs.rmSync(`${filler()}.rest`, { force: true });
    }
    await ok(asPg("backup-base"));
    expect(expectOnlyCompleteBackups()).toHaveLength(1);
    await ok(asPg("backup-logical"));
    await ok(asRoot("backup-redis"));
    const verify = await ok(asPg("verify-backup"));
    expect(verify.log).toMatch(/verification of \d{8}T\d{6}Z: PASS \(1 table\(s\) in 1 database\(s\) match/);
    timings.push(`disk filling during a base backup, then backup, verify: ${Date.now() - started} ms`);
  });
});

describe("jobs killed with SIGKILL at random points, four jobs side by side", () => {
  const rounds: Record<string, Promise<unknown>> = {};
  /** A job's rounds run from the start; its test waits for them and reports their failure. */
  const start = (name: string, rounds_: () => Promise<void>) => {
    rounds[name] = rounds_().then(
      () => undefined,
      (error: unknown) => error,
    );
  };
  const finished = async (name: string) => {
    const failure = await rounds[name];
    if (failure) throw failure;
  };
  let source = "";

  beforeAll(() => {
    // Room for the backups the rounds make.
    execFileSync("mount", ["-o", "remount,size=3g", mounted]);
    [source] = expectOnlyCompleteBackups();
    start("backup-base", baseRounds);
    start("ship-offsite", shipRounds);
    start("prune", pruneRounds);
    start("restore-redis", restoreRedisRounds);
  });

  /** backup-base's own publishing (its shipping is ship-offsite's, killed on its own below). */
  async function baseRounds(): Promise<void> {
    const env = settingsWith("base", { OFFSITE_STORES: "()" });
    let count = expectOnlyCompleteBackups().length;
    let inserted = 0;
    await killRounds("backup-base", () => pgWith(env, "backup-base"), {
      before: () => {
        sb.sql(`INSERT INTO items VALUES (${2000 + ++inserted}, 'round')`);
      },
      // A killed run may leave .partial-* and .verify-* (hidden; the next run removes them).
      afterKill: () => {
        count = expectOnlyCompleteBackups(baseDir(), true).length;
      },
      afterRun: () => {
        expect(expectOnlyCompleteBackups()).toHaveLength(++count);
      },
    });
  }

  /** ship-offsite base on copies of a real backup, each under a new id, in a base folder of its own. */
  async function shipRounds(): Promise<void> {
    const dir = path.join(mounted, "ship-rounds");
    pgDirs(dir);
    const env = settingsWith("ship", { BASE_DIR: dir });
    const marker = (id: string) => path.join(sb.plan.offsite!.markerDir, "site", "base", id);
    let id = "";
    let day = 1;
    /** If the store holds the metadata object (uploaded last) or a marker says confirmed, every file is there. */
    const expectNothingHalfConfirmed = async (mustBeConfirmed: boolean) => {
      const remote = await remoteBase(id);
      const local = entries(path.join(dir, id));
      const confirmed = fs.existsSync(marker(id));
      if (mustBeConfirmed) expect(confirmed, `no marker for ${id}`).toBe(true);
      if (confirmed || remote.has("drkit-backup.env")) expect([...remote.keys()].sort()).toEqual(local);
      for (const [file, sha] of remote) expect(sha, `${id}/${file}`).toBe(sha256(path.join(dir, id, file)));
    };
    await killRounds("ship-offsite base", () => pgWith(env, "ship-offsite", "base", id), {
      before: () => {
        // The previous round's copy is confirmed: it goes, to keep the tmpfs small.
        if (id) fs.rmSync(path.join(dir, id), { recursive: true });
        id = `202001${String(day++).padStart(2, "0")}T000000Z`;
        copyBackup(path.join(baseDir(), source), path.join(dir, id));
      },
      afterKill: () => expectNothingHalfConfirmed(false),
      afterRun: () => expectNothingHalfConfirmed(true),
    });
    // The last set, read back from the store, is the local one byte for byte.
    const fetched = path.join(mounted, "fetched");
    pgDirs(fetched);
    await ok(pgWith(env, "fetch-offsite", "base", id, path.join(fetched, id)));
    for (const f of entries(path.join(dir, id)))
      expect(sha256(path.join(fetched, id, f)), f).toBe(sha256(path.join(dir, id, f)));
  }

  /**
   * prune in folders of its own: each round three old base backups and an old logical set, confirmed off-site,
   * which retention drops, and the WAL below the retained backup's start, which it removes; today's backup and
   * logical set stay.
   */
  async function pruneRounds(): Promise<void> {
    const root = path.join(mounted, "prune-rounds");
    const [base, logical, wal, locks, marks] = ["base", "logical", "wal", "locks", "marks"].map((d) =>
      path.join(root, d),
    );
    pgDirs(root, base, logical, wal, locks, marks);
    const env = settingsWith("prune", {
      BASE_DIR: base,
      LOGICAL_DIR: logical,
      WAL_DIR: wal,
      LOCK_DIR: locks,
      OFFSITE_MARKS: marks,
    });
    copyBackup(path.join(baseDir(), source), path.join(base, source));
    const startWal = /^start_wal=(\w{24})$/m.exec(
      fs.readFileSync(path.join(base, source, "drkit-backup.env"), "utf8"),
    )![1];
    const segment = (delta: number) =>
      startWal.slice(0, 16) + (parseInt(startWal.slice(16), 16) + delta).toString(16).toUpperCase().padStart(8, "0");
    const asPostgres = (file: string, content: string) => {
      fs.writeFileSync(file, content);
      execFileSync("chown", ["postgres:postgres", file]);
    };
    asPostgres(path.join(logical, `app_${source}.custom.dump`), "dump");
    asPostgres(path.join(logical, `globals_${source}.sql`), "roles");
    const mark = (kind: string, id: string) => {
      fs.mkdirSync(path.join(marks, "site", kind), { recursive: true });
      fs.writeFileSync(path.join(marks, "site", kind, id), "2019-01-01T00:00:00Z\n");
    };
    const pad2 = (v: number) => String(v).padStart(2, "0");
    let n = 0;
    await killRounds("prune", () => pgWith(env, "prune"), {
      before: () => {
        for (let i = 0; i < 3; i++, n++) {
          const id = `2019${pad2(1 + Math.floor(n / 28))}${pad2(1 + (n % 28))}T000000Z`;
          copyBackup(path.join(base, source), path.join(base, id));
          mark("base", id);
          if (i === 0) {
            asPostgres(path.join(logical, `app_${id}.custom.dump`), "dump");
            asPostgres(path.join(logical, `globals_${id}.sql`), "roles");
            mark("logical", id);
          }
        }
        for (let d = -3; d <= 3; d++)
          if (parseInt(startWal.slice(16), 16) + d > 0) asPostgres(path.join(wal, segment(d)), "w");
      },
      // A base backup with an id is complete; a logical set with its globals file has its dump.
      afterKill: () => {
        expectOnlyCompleteBackups(base, true);
        for (const g of entries(logical).filter((f) => f.startsWith("globals_")))
          expect(fs.existsSync(path.join(logical, `app_${g.slice(8, 24)}.custom.dump`)), g).toBe(true);
      },
      afterRun: () => {
        expect(expectOnlyCompleteBackups(base)).toEqual([source]);
        expect(entries(logical).filter((f) => f.startsWith("globals_"))).toEqual([`globals_${source}.sql`]);
        const segments = entries(wal).filter((f) => /^[0-9A-F]{24}$/.test(f));
        expect(segments[0]).toBe(startWal);
        expect(segments).toContain(segment(3));
      },
    });
  }

  /** restore-redis of one snapshot, killed; the settings step puts AOF back every other time it was left off. */
  async function restoreRedisRounds(): Promise<void> {
    const r = sb.plan.redis!;
    redisCli("FLUSHALL");
    execFileSync("redis-cli", ["-s", r.socket!], {
      input: Array.from({ length: 300 }, (_, i) => `SET order:${i} value-${i}\n`).join(""),
    });
    redisCli("HSET", "session:1", "user", "ada");
    const snap = await ok(asRoot("backup-redis"));
    const name = /snapshot (dump_\d{8}T\d{6}Z\.rdb): 301 keys/.exec(snap.log)![1];
    const snapshot = path.join(r.backupDir, name);
    let leftOff = 0;
    let putBackBySettings = 0;
    const dropIn = () => fs.readFileSync(r.dropIn, "utf8");
    await killRounds("restore-redis", () => asRoot("restore-redis", snapshot), {
      before: (round) => {
        redisCli("SET", `written:after:${round}`, "1");
      },
      afterKill: async () => {
        // The RDB in the data directory is never a half-written one.
        const rdb = path.join(r.dataDirectory, "dump.rdb");
        if (fs.existsSync(rdb)) execFileSync("redis-check-rdb", [rdb], { stdio: "ignore" });
        if (/^appendonly no$/m.test(dropIn()) && leftOff++ % 2 === 0) {
          const s = await ok(asRoot("apply-redis-settings"));
          expect(s.log).toContain(`set 'appendonly yes' in ${r.dropIn} again, as configured`);
          expect(dropIn()).toMatch(/^appendonly yes$/m);
          putBackBySettings++;
        }
      },
      afterRun: () => {
        expect(redisCli("DBSIZE")).toBe("301");
        expect(redisCli("GET", "order:299")).toBe("value-299");
        expect(redisCli("HGET", "session:1", "user")).toBe("ada");
        expect(redisCli("CONFIG", "GET", "appendonly").split("\n")[1]).toBe("yes");
        expect(dropIn()).toMatch(/^appendonly yes$/m);
        const data = entries(r.dataDirectory);
        expect(data).not.toContain(".drkit-restore.rdb");
        const temp = `.${path.basename(r.dropIn)}.`;
        expect(entries(path.dirname(r.dropIn)).filter((f) => f.startsWith(temp))).toEqual([]);
        for (const d of data.filter((f) => f.startsWith("before-restore-")))
          expect(entries(path.join(r.dataDirectory, d)).length, d).toBeGreaterThan(0);
      },
    });
    timings.push(
      `restore-redis: ${leftOff} kills left 'appendonly no' behind; apply-redis-settings put ${putBackBySettings} ` +
        "back, the next restore the rest",
    );
  }

  it(`backup-base, ${KILLS} times: never a backup with an id that is not complete; the next run succeeds`, () =>
    finished("backup-base"));
  it(`ship-offsite base, ${KILLS} times: no partial set counts as confirmed; the next run confirms it`, () =>
    finished("ship-offsite"));
  it(`prune, ${KILLS} times: never a half-removed set that looks complete; the next run removes the rest`, () =>
    finished("prune"));
  it(`restore-redis, ${KILLS} times: AOF put back as configured (next run or apply-redis-settings); keys exact`, () =>
    finished("restore-redis"));

  it("afterwards a restore of the newest backup is exact (row counts at a restore point)", async () => {
    const started = Date.now();
    const v = await ok(asPg("verify-backup"));
    expect(v.log).toMatch(/verification of \d{8}T\d{6}Z: PASS \(1 table\(s\) in 1 database\(s\) match/);
    timings.push(`final verify-backup: ${Date.now() - started} ms`);
  });
});
