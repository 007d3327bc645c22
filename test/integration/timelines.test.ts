import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StandbyPlan } from "../../components/plan/plan";
import { freePort, psqlAt, runAsync, startSandbox, waitFor, type RunResult, type Sandbox } from "../helpers/sandbox";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PG_BIN = "/usr/lib/postgresql/15/bin";

/**
 * One story on real servers, every script run as the PostgreSQL OS user: restore-pitr leaves a running primary
 * alone without --force; a failover archives what the old primary had not, and the promoted standby archives
 * its history file and partial segment, so a restore from a base backup of the old timeline reaches a time on
 * the new one, with no standby to wait for afterwards; a primary killed with WAL not yet archived is restored
 * without a target and loses none of its acknowledged commits.
 */
describe("timelines and restore-pitr's safety on real servers", () => {
  let sb: Sandbox;
  let near: StandbyPlan;
  let dataDir: string;
  let walDir: string;
  const onNear = (query: string) => psqlAt(near.socketDirectory, near.port, query, "app");
  const asPg = (script: string, ...args: string[]): Promise<RunResult> =>
    runAsync("runuser", ["-u", "postgres", "--", sb.script(script), ...args]);
  const pgCtl = (dir: string, ...args: string[]) =>
    spawnSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", dir, ...args], { encoding: "utf8" });
  /** A write that must not wait for a standby: bounded, so a hang fails the test instead of stalling it. */
  const boundedWrite = (query: string) =>
    spawnSync(
      "runuser",
      ["-u", "postgres", "--", `${PG_BIN}/psql`, "-X", "-Atq", "-h", sb.plan.postgres.socketDirectory, "-p"].concat([
        String(sb.plan.postgres.port),
        "-d",
        "app",
        "-c",
        query,
      ]),
      { encoding: "utf8", timeout: 15_000 },
    );
  const inserts = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => `INSERT INTO ledger (id) VALUES (${from + i});`).join("\n");
  /** One transaction per row, as a client committing one at a time: a psql session reading statements. */
  const commitEach = (port: number, from: number, to: number) =>
    execFileSync(
      "runuser",
      [
        "-u",
        "postgres",
        "--",
        `${PG_BIN}/psql`,
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        sb.plan.postgres.socketDirectory,
      ].concat(["-p", String(port), "-d", "app"]),
      { input: inserts(from, to), encoding: "utf8" },
    );
  const archived = (name: string) => fs.existsSync(path.join(walDir, name));
  const asides = () => fs.readdirSync(path.dirname(dataDir)).filter((d) => d.startsWith("main.before-restore-"));

  beforeAll(async () => {
    sb = await startSandbox({
      label: "timelines",
      service: { standbys: [{ name: "near", host: "sandbox", port: await freePort(), synchronous: true }] },
    });
    near = sb.plan.replication!.standbys[0];
    dataDir = sb.plan.postgres.dataDirectory;
    walDir = sb.plan.paths.walDir;
    // Debian's layout: the PostgreSQL OS user owns the folder of its data directories.
    execFileSync("chown", ["postgres:postgres", path.dirname(dataDir)]);
    sb.sql("CREATE TABLE ledger (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
  });
  afterAll(() => {
    for (const dir of [near?.dataDirectory, dataDir]) if (dir) pgCtl(dir, "-m", "immediate", "-w", "stop");
    sb?.destroy();
  });

  it("refuses to stop a running primary without --force, naming the data directory and the flag", async () => {
    commitEach(sb.plan.postgres.port, 1, 3);
    const r = await asPg("restore-pitr");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`PostgreSQL runs as a primary on ${dataDir}`);
    expect(r.stderr).toContain("run restore-pitr again with --force");
    expect(sb.sql("SELECT count(*) FROM ledger")).toBe("3");
    expect(asides()).toEqual([]);
  });

  it(
    "restores to a time on the new timeline after a failover, from a base backup of the old one; writes do not " +
      "wait for the standby that is gone",
    async () => {
      const backup = await asPg("backup-base");
      expect(backup.status, backup.stderr).toBe(0);
      const id = /base backup (\d{8}T\d{6}Z) complete/.exec(backup.stderr)![1];
      const meta = fs.readFileSync(path.join(sb.plan.paths.baseDir, id, "drkit-backup.env"), "utf8");
      expect(meta).toMatch(/^timeline=1$/m);
      expect(meta).toMatch(/^start_lsn=[0-9A-F]+\/[0-9A-F]+$/m);
      expect(meta).toMatch(/^end_lsn=[0-9A-F]+\/[0-9A-F]+$/m);

      // The old primary stops archiving (its archiver falls behind): a full segment stays .ready.
      commitEach(sb.plan.postgres.port, 4, 50);
      sb.sql("ALTER SYSTEM SET archive_command = '/bin/false'");
      sb.sql("SELECT pg_reload_conf()");
      commitEach(sb.plan.postgres.port, 51, 100);
      const unarchived = sb.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
      sb.sql("SELECT pg_switch_wal()");
      commitEach(sb.plan.postgres.port, 101, 120);
      expect(archived(unarchived)).toBe(false);

      const failover = await asPg("failover", "--to", "near");
      expect(failover.status, failover.stderr).toBe(0);
      expect(failover.stderr).toMatch(/archived \d+ WAL file\(s\) the old primary had not archived: .*/);
      expect(archived(unarchived), `${unarchived} archived by the failover`).toBe(true);

      // On the new timeline: rows up to the target, then rows after it. A backup's end is recorded in whole
      // seconds, so the target lies in a later second than the backup's end.
      commitEach(near.port, 121, 170);
      const endEpoch = Number(/^end_epoch=(\d+)$/m.exec(meta)![1]);
      while (Date.now() / 1000 < endEpoch + 1) await sleep(50);
      await sleep(200);
      const target = onNear("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
      await sleep(200);
      commitEach(near.port, 171, 200);
      const segment = onNear("SELECT pg_walfile_name(pg_current_wal_lsn())");
      onNear("SELECT pg_switch_wal()");
      await waitFor(`${segment} archived by the promoted standby`, () => (archived(segment) ? true : undefined), 30);
      // What the promoted standby archived on its own: its history file and the old timeline's last segment.
      expect(archived("00000002.history")).toBe(true);
      const partials = fs.readdirSync(walDir).filter((f) => f.endsWith(".partial"));
      expect(partials).toHaveLength(1);
      expect(partials[0]).toMatch(/^00000001[0-9A-F]{16}\.partial$/);
      pgCtl(near.dataDirectory, "-m", "fast", "-w", "stop");

      const r = await asPg("restore-pitr", "--target-time", target);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain(`restoring base backup ${id} (timeline 1)`);
      expect(r.stderr).toContain("along timeline 2 (the newest)");
      expect(sb.sql("SELECT count(*), max(id) FROM ledger")).toBe("170|170");
      expect(sb.sql("SELECT pg_is_in_recovery()")).toBe("f");
      expect(sb.sql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")).toBe("00000003");
      // The synchronous standby is gone (it followed timeline 2): the restored server does not wait for it.
      expect(r.stderr).toContain("WARNING: synchronous_standby_names was 'FIRST 1 (\"near\")'");
      expect(sb.sql("SHOW synchronous_standby_names")).toBe("");
      const write = boundedWrite("INSERT INTO ledger (id) VALUES (1000)");
      expect(write.status, write.stderr || "the write did not return within 15s").toBe(0);
      // The documented way back, once a standby streams again, is ALTER SYSTEM RESET.
      sb.sql("ALTER SYSTEM RESET synchronous_standby_names");
      sb.sql("SELECT pg_reload_conf()");
      await waitFor("the configured synchronous_standby_names", () =>
        sb.sql("SHOW synchronous_standby_names") === 'FIRST 1 ("near")' ? true : undefined,
      );
      sb.sql("ALTER SYSTEM SET synchronous_standby_names = ''");
      sb.sql("SELECT pg_reload_conf()");
    },
  );

  it("a primary killed before its last segments are archived, restored without a target, loses no commit", async () => {
    // No new base backup: the one of timeline 1 lies on timeline 3's path (3 branched from 2, 2 from 1).
    await waitFor("00000003.history archived", () => (archived("00000003.history") ? true : undefined), 30);
    sb.sql("TRUNCATE ledger");
    commitEach(sb.plan.postgres.port, 1, 100);
    const segment = sb.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
    sb.sql("SELECT pg_switch_wal()");
    await waitFor(`${segment} archived`, () => (archived(segment) ? true : undefined), 30);
    // The archive stops here: one more full segment and the one being written never reach it.
    sb.sql("ALTER SYSTEM SET archive_command = '/bin/false'");
    sb.sql("SELECT pg_reload_conf()");
    commitEach(sb.plan.postgres.port, 101, 200);
    const full = sb.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
    sb.sql("SELECT pg_switch_wal()");
    commitEach(sb.plan.postgres.port, 201, 300);
    const current = sb.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
    // kill -9: the postmaster and every process it started, by pid.
    const postmaster = Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    const children = execFileSync("ps", ["-o", "pid=", "--ppid", String(postmaster)], { encoding: "utf8" })
      .split("\n")
      .map((l) => Number(l.trim()))
      .filter((pid) => pid > 0);
    for (const pid of [postmaster, ...children]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    await waitFor("the killed server's processes to end", () =>
      [postmaster, ...children].every((pid) => !fs.existsSync(`/proc/${pid}`)) ? true : undefined,
    );
    expect(archived(full) || archived(current)).toBe(false);

    const before = asides().length;
    const r = await asPg("restore-pitr");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/restoring base backup \d{8}T\d{6}Z \(timeline 1\).* along timeline 3 \(the newest\)/);
    expect(r.stderr).toMatch(/replaying the old data directory's unarchived tail: \d+ WAL file\(s\)/);
    expect(asides()).toHaveLength(before + 1);
    expect(sb.sql("SELECT count(*), min(id), max(id) FROM ledger")).toBe("300|1|300");
    expect(sb.sql("SELECT pg_is_in_recovery()")).toBe("f");
  });
});
