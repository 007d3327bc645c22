import { serviceArtifacts } from "../components/artifacts/hostArtifacts";
import { isIP } from "node:net";
import * as path from "node:path";
import type { ScenarioResult } from "../components/drill/report";
import { makeDirectoriesScript } from "../components/host/commands";
import {
  alertBoundSeconds,
  type DrillContext,
  judge,
  measureRecovery,
  recloneStandbys,
  runCommand,
  stopStandby,
  ScenarioRecorder,
  sleep,
  type ScenarioOutcome,
} from "./context";
import { postgresWorkload, redisWorkload, type Ack, type Workload } from "./workload";
import { runPowerCommand, runReplaceCommand, type HostReplacement } from "./hostCommands";
import type { ClientTool } from "./clientTools";
import type { HostPlan, StandbyPlan } from "../components/plan/plan";
import { standbyAgentDir } from "../components/agent/serviceEnv";

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** The client programs its jobs run, which must be of the server's major version. */
  readonly tools: readonly ClientTool[];
  /** Why the scenario cannot run on this stack, if it cannot (its tools aside). */
  unavailable(ctx: DrillContext): string | undefined;
  run(ctx: DrillContext): Promise<ScenarioResult>;
}

const WRITES_BEFORE_DISASTER = 150;
/** backup-base refuses a pg_basebackup or pg_waldump of another major than the server's. */
const BASE_BACKUP_TOOLS: readonly ClientTool[] = ["pg_basebackup", "pg_waldump"];

async function freshTable(ctx: DrillContext, table: string): Promise<void> {
  await ctx.sql(
    `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (seq bigint PRIMARY KEY, at timestamptz NOT NULL ` +
      `DEFAULT clock_timestamp())`,
  );
}

async function recoveredKeys(
  ctx: DrillContext,
  table: string,
  port = ctx.plan.postgres.port,
  on?: HostPlan,
): Promise<string[]> {
  const out = await ctx.sql(`SELECT seq FROM ${table} ORDER BY seq`, { port, on });
  return out ? out.split("\n") : [];
}

async function startWrites(
  ctx: DrillContext,
  rec: ScenarioRecorder,
  table: string,
  count = WRITES_BEFORE_DISASTER,
): Promise<Workload> {
  const workload = postgresWorkload(ctx.psqlArgs(), table);
  workload.start();
  rec.event("writes-start", "workload starts (one INSERT per commit)");
  await workload.waitForAcks(count);
  return workload;
}

type Outcome = { -readonly [K in keyof ScenarioOutcome]?: ScenarioOutcome[K] };

/**
 * The frame every scenario shares once its disaster has happened: run the recovery, keep whatever it
 * measured even if a later step fails, and judge the outcome against the stack's objectives.
 */
async function recoverAndJudge(
  scenario: Scenario,
  ctx: DrillContext,
  rec: ScenarioRecorder,
  frame: {
    readonly disasterAt: Date;
    readonly workload: Pick<Workload, "acks">;
    readonly clock: string;
    readonly reasons?: string[];
  },
  recover: (outcome: Outcome) => Promise<void>,
): Promise<ScenarioResult> {
  const outcome: Outcome = {};
  try {
    await recover(outcome);
  } catch (error) {
    outcome.error = error as Error;
  }
  return judge(
    scenario.id,
    scenario.title,
    ctx.plan,
    { recorder: rec, disasterAt: frame.disasterAt, acks: frame.workload.acks, clock: frame.clock, ...outcome },
    frame.reasons,
  );
}

/** The alerts that watch the disasters the drill can detect: a server that does not answer. */
export const WATCHED_ALERTS = ["DrkitPostgresDown"];

/**
 * With monitoring, recovery starts as it would on a watched host: once the alert that watches the disaster fires.
 * The wait is bounded by the time the collector's metrics take to go stale plus the alerts' `for:` and a minute;
 * an alert that does not fire within it fails the scenario (recovery still runs, to leave the sandbox whole).
 */
async function detect(
  ctx: DrillContext,
  rec: ScenarioRecorder,
  alerts: readonly string[],
  disasterAt: Date,
): Promise<void> {
  const watch = ctx.alerts;
  if (!watch || !ctx.plan.monitoring) return;
  const bound = alertBoundSeconds(ctx.plan);
  const found = await rec.step(
    `wait for ${alerts.join(" or ")} to fire (at most ${bound}s)`,
    () => watch.firing(alerts, bound, disasterAt),
    (d) => (d ? `${d.alert} fired` : "nothing fired"),
  );
  if (!found) {
    rec.detection = { watchedBy: [...alerts], note: `none of ${alerts.join(", ")} fired within ${bound}s` };
    return;
  }
  const seconds = (found.firedAt.getTime() - disasterAt.getTime()) / 1000;
  rec.event("detected", `${found.alert} fired`, found.firedAt);
  rec.detection = {
    watchedBy: [...alerts],
    alert: found.alert,
    seconds,
    note: `detected by ${found.alert} ${seconds.toFixed(1)}s after the disaster; the RTO includes that wait`,
  };
}

/** With monitoring: the disaster is one no alert can see (a DELETE is a valid write); the report says so. */
function unwatched(ctx: DrillContext, rec: ScenarioRecorder, why: string): void {
  if (ctx.alerts) rec.detection = { watchedBy: [], note: `no alert watches this disaster: ${why}` };
}

/** Service is back: the RTO clock stops, and what came back is measured against the workload's log. */
function recordRecovery(
  rec: ScenarioRecorder,
  outcome: Outcome,
  r: {
    readonly back: Date;
    readonly backLabel: string;
    readonly table: string;
    readonly acks: readonly Ack[];
    readonly keys: readonly string[];
    readonly point?: { at: string; label: string };
  },
): void {
  rec.event("service-back", r.backLabel, r.back);
  const measure = measureRecovery(r.table, r.acks, r.keys);
  const point = r.point ?? { at: r.acks[measure.check.expectedRows - 1]?.at, label: "last recovered write" };
  if (point.at) rec.event("recovery-point", point.label, point.at);
  Object.assign(outcome, { serviceBackAt: r.back, measure, recoveryPoint: point.at });
}

/**
 * After a restore of the primary: the first write (restore-pitr cleared synchronous_standby_names, so it does
 * not wait for a standby), then the standbys rebuilt and made synchronous again (the runbook's way back).
 */
async function postgresBack(
  ctx: DrillContext,
  rec: ScenarioRecorder,
  table: string,
  workload: Pick<Workload, "acks">,
  outcome: Outcome,
  point?: { at: string; label: string },
): Promise<void> {
  await primaryBack(ctx, rec, table, workload, outcome, point);
  await standbysBack(ctx, rec);
}

/** The restored primary's first write stops the RTO clock; what came back is measured. */
async function primaryBack(
  ctx: DrillContext,
  rec: ScenarioRecorder,
  table: string,
  workload: Pick<Workload, "acks">,
  outcome: Outcome,
  point?: { at: string; label: string },
): Promise<void> {
  const back = await rec.step("first write accepted", () => ctx.waitForWrites(ctx.plan.rtoSeconds));
  recordRecovery(rec, outcome, {
    back,
    backLabel: "restored server accepts writes",
    table,
    acks: workload.acks,
    keys: await recoveredKeys(ctx, table),
    point,
  });
}

/** The standbys rebuilt from a restored primary and made synchronous again (the runbook's way back). */
async function standbysBack(ctx: DrillContext, rec: ScenarioRecorder): Promise<void> {
  if (!ctx.plan.replication) return;
  const standbys = ctx.plan.replication.standbys.map((s) => `${s.name}${ctx.onRealHosts ? ` on ${s.host.name}` : ""}`);
  await rec.step(`rebuild standby ${standbys.join(", ")} from the restored primary`, () => recloneStandbys(ctx));
  await rec.step("synchronous standbys again: ALTER SYSTEM RESET synchronous_standby_names", () =>
    synchronousAgain(ctx),
  );
}

/**
 * The way back once standbys stream again (after a restore, which clears synchronous_standby_names, or a fail
 * back, which inherits the promoted standby's setting): the configured value applies again, and a synchronous
 * standby is waited for.
 */
async function synchronousAgain(ctx: DrillContext): Promise<void> {
  for (const q of ["ALTER SYSTEM RESET synchronous_standby_names", "SELECT pg_reload_conf()"])
    await ctx.sql(q, { db: "postgres" });
  if (!ctx.plan.replication?.standbys.some((s) => s.synchronous)) return;
  for (let i = 0; i < 300; i++) {
    const n = await ctx.sql("SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')", {
      db: "postgres",
    });
    if (n !== "0") return;
    await sleep(100);
  }
  throw new Error("no synchronous standby streams 30s after ALTER SYSTEM RESET synchronous_standby_names");
}

/** Archives the WAL written so far (what a quiet server does within archive_timeout). */
async function archiveNow(ctx: DrillContext, port = ctx.plan.postgres.port): Promise<string> {
  const segment = await ctx.sql("SELECT pg_walfile_name(pg_switch_wal())", { db: "postgres", port });
  for (let i = 0; i < 600; i++) {
    const last = await ctx.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", {
      db: "postgres",
      port,
    });
    if (last >= segment) return segment;
    await sleep(100);
  }
  throw new Error(`WAL segment ${segment} was not archived within 60s (see pg_stat_archiver)`);
}

async function baseBackup(ctx: DrillContext, rec: ScenarioRecorder, label = "take a base backup"): Promise<string> {
  // Backup ids are whole seconds: never take two in the same second.
  await sleep(1100);
  return rec.step(
    `${ctx.where()}${label}${ctx.onRealHosts ? " (systemd starts the base job)" : ""}`,
    async () => {
      const done = /base backup (\d{8}T\d{6}Z) complete/;
      const id = done.exec((await ctx.runJob("base", [], done)).stderr)?.[1];
      if (!id) throw new Error("backup-base did not report a backup id");
      return id;
    },
    (id) => id,
  );
}

/** Overwrites 4 KiB in the middle of a backup's base tar on the service's host; returns the tar's name. */
async function corruptBaseTar(ctx: DrillContext, backupId: string): Promise<string> {
  const script = [
    "set -eu",
    `tar=$(cd "$1" && ls | grep '^base\\.tar' | head -n 1)`,
    `[ -n "$tar" ] || { echo "no base.tar* in $1" >&2; exit 1; }`,
    `size=$(stat -c %s "$1/$tar")`,
    `head -c 4096 /dev/zero | tr '\\0' Z | dd of="$1/$tar" bs=4096 count=1 seek=$((size / 2)) oflag=seek_bytes ` +
      "conv=notrunc status=none",
    `echo "$tar"`,
  ].join("\n");
  const r = await ctx.execOk(["bash", "-c", script, "corrupt", path.posix.join(ctx.plan.paths.baseDir, backupId)]);
  return r.stdout.trim();
}

async function crashAndLoseDataDirectory(ctx: DrillContext): Promise<void> {
  await ctx.crashPrimary();
  await ctx.remove([ctx.plan.postgres.dataDirectory]);
}

/** The worst case the live server allows: a quiet server archives only every archive_timeout. */
async function archiveBoundReason(ctx: DrillContext): Promise<string[]> {
  const live = Number(
    await ctx.sql("SELECT setting FROM pg_settings WHERE name = 'archive_timeout'", { db: "postgres" }),
  );
  if (!(live > 0))
    return [
      `FAIL: archive_timeout is ${live} on the live server: a quiet server never archives, ` +
        `so the RPO of ${ctx.plan.rpoSeconds}s is unbounded`,
    ];
  if (live > ctx.plan.rpoSeconds)
    return [
      `FAIL: archive_timeout is ${live}s on the live server (expected ${ctx.plan.archiveTimeoutSeconds}s from ` +
        `drkit's drop-in; overridden?), above the RPO of ${ctx.plan.rpoSeconds}s: a quiet server can lose up ` +
        `to ${live}s of commits`,
    ];
  return [
    `worst case on a quiet server: ${live}s of commits (archive_timeout), within the RPO of ${ctx.plan.rpoSeconds}s`,
  ];
}

const accidentalDeletion: Scenario = {
  id: "accidental-deletion",
  title: "Accidental deletion: every row deleted, recovered by PITR to just before the DELETE",
  tools: BASE_BACKUP_TOOLS,
  unavailable: () => undefined,
  async run(ctx) {
    const rec = new ScenarioRecorder(ctx.progress, this.id);
    const table = "drkit_drill_deletion";
    await freshTable(ctx, table);
    await baseBackup(ctx, rec);
    const workload = await startWrites(ctx, rec, table);
    await workload.stop();
    rec.event("writes-end", `${workload.acks.length} commits acknowledged`);
    const target = await ctx.sql(
      `SELECT ${"to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"} || '+00'`,
    );
    const targetIso = new Date(target.replace(" ", "T").replace("+00", "Z")).toISOString();
    const disasterAt = new Date();
    await ctx.sql(`DELETE FROM ${table}`);
    rec.event("disaster", `${ctx.where()}DELETE FROM ${table} (all rows)`, disasterAt);
    unwatched(ctx, rec, "a DELETE is a valid write, no metric tells it from an intended one");
    return recoverAndJudge(
      this,
      ctx,
      rec,
      {
        disasterAt,
        workload,
        clock:
          "from the DELETE until the restored server accepted a write (WAL switch and archive, restore-pitr, " +
          "start); noticing the mistake is not included",
      },
      async (outcome) => {
        rec.event("recovery-start", "archive the WAL up to the DELETE, then restore-pitr");
        await rec.step(
          "archive the WAL that holds the DELETE",
          () => archiveNow(ctx),
          (s) => s,
        );
        await rec.step(`${ctx.where()}restore-pitr to just before the DELETE`, () =>
          ctx.runScript("restore-pitr", ["--force", "--target-time", target]),
        );
        await postgresBack(ctx, rec, table, workload, outcome, {
          at: targetIso,
          label: "recovery target (just before the DELETE)",
        });
        await baseBackup(ctx, rec, "take a base backup on the new timeline");
      },
    );
  },
};

/** The host is gone with everything on it, its WAL shipper too: what it had not uploaded yet is lost. */
async function loseHost(ctx: DrillContext): Promise<void> {
  await ctx.shipper("stop");
  await crashAndLoseDataDirectory(ctx);
  await ctx.remove([
    path.posix.join(ctx.plan.paths.backupRoot, "postgresql"),
    ctx.plan.paths.walDir,
    ctx.plan.offsite!.markerDir,
  ]);
}

/** A new host: its directories and WAL shipper as pulumi up makes them, then the newest backup from the store. */
async function restoreFromStore(ctx: DrillContext, rec: ScenarioRecorder): Promise<void> {
  await rec.step(
    `${ctx.where()}rebuild the backup directories and start the WAL shipper (what pulumi up does on a new host)`,
    async () => {
      await ctx.execOk(["bash", "-c", makeDirectoriesScript(serviceArtifacts(ctx.plan).directories())]);
      await ctx.shipper("start");
    },
  );
  const r = await rec.step(
    `${ctx.where()}restore-pitr --from-offsite (base backup and WAL from the object store)`,
    () => ctx.runScript("restore-pitr", ["--from-offsite", ...ctx.identityArgs()]),
  );
  if (!/fetched base backup/.test(r.stderr))
    throw new Error("restore-pitr did not fetch the base backup from the object store");
}

/**
 * On real hosts with --replace-host: the host destroyed and a new one brought up at its address by the operator's
 * command; the new host's key.
 */
function replaceHost(ctx: DrillContext, rec: ScenarioRecorder, replacement: HostReplacement): Promise<string> {
  return rec.step(
    `${ctx.where()}destroyed; a new host brought up at its address (--replace-host)`,
    () => runReplaceCommand(replacement.command, ctx.plan.host, ctx.progress),
    (key) => `new host key ${key.slice(0, 24)}...`,
  );
}

/**
 * The replaced host provisioned: its key pinned in the stack; `pulumi up` places drkit's agent, settings and
 * credentials and stops at claim-archive (the archive belongs to the lost cluster); restore-pitr --from-offsite.
 */
async function provisionNewHost(
  ctx: DrillContext,
  rec: ScenarioRecorder,
  replacement: HostReplacement,
  hostKey: string,
): Promise<void> {
  const host = ctx.plan.host.name;
  rec.event("recovery-start", `pin ${host}'s new key, pulumi up, restore from the object store`);
  await rec.step(`pin the new host's key in the stack (hosts.${host}.connection.hostKey)`, async () => {
    await replacement.pinHostKey(host, hostKey);
    ctx.shell().reconnect(hostKey);
  });
  await rec.step(
    `pulumi up: drkit's agent, settings and credentials on the new ${host}`,
    async () => {
      const r = await replacement.up();
      if (r.ok) return "completed";
      // The new host's own fresh cluster must not claim the lost cluster's archive: the up stops there.
      if (/belongs to another cluster/.test(`${r.output}\n${r.error ?? ""}`))
        return "stopped at claim-archive: the archive belongs to the lost cluster, restore it first";
      throw new Error(`pulumi up failed: ${lastLinesOf(r.output || (r.error ?? ""))}`);
    },
    (what) => what,
  );
  const r = await rec.step(
    `${ctx.where()}restore-pitr --from-offsite --force (base backup and WAL from the object store)`,
    () => ctx.runScript("restore-pitr", ["--from-offsite", "--force", ...ctx.identityArgs()]),
  );
  if (!/fetched base backup/.test(r.stderr))
    throw new Error("restore-pitr did not fetch the base backup from the object store");
}

/** The rest of the stack on the replaced host: the restored cluster claims its archive again, archiving resumes. */
async function upAfterRestore(ctx: DrillContext, rec: ScenarioRecorder, replacement: HostReplacement) {
  await rec.step(`pulumi up again: archiving and the rest of the stack on the new ${ctx.plan.host.name}`, async () => {
    const r = await replacement.up();
    if (!r.ok) throw new Error(`pulumi up failed: ${lastLinesOf(r.output || (r.error ?? ""))}`);
  });
}

/** What a failed pulumi up said: its error lines (the diagnostics), else its last lines. */
const lastLinesOf = (text: string) => {
  const lines = text.trim().split("\n");
  const errors = lines.filter((l) => /\berror\b|ERROR/.test(l)).map((l) => l.trim());
  return (errors.length ? errors.slice(0, 4) : lines.slice(-6)).join(" | ");
};

const hostLoss: Scenario = {
  id: "host-loss",
  title: "Host loss: data directory and every local backup gone, restored from the off-site copy alone",
  tools: BASE_BACKUP_TOOLS,
  unavailable: (ctx) => (ctx.plan.offsite ? undefined : "the service has no offsite targets (services.<name>.offsite)"),
  async run(ctx) {
    const rec = new ScenarioRecorder(ctx.progress, this.id);
    const table = "drkit_drill_host_loss";
    const bound = await archiveBoundReason(ctx);
    const replacement = ctx.hostReplacement;
    await freshTable(ctx, table);
    await baseBackup(ctx, rec, "take a base backup (shipped off-site)");
    const workload = await startWrites(ctx, rec, table);
    const disasterAt = new Date();
    if (replacement) {
      rec.event("disaster", `${ctx.where()}host destroyed with everything on it (--replace-host)`, disasterAt);
    } else {
      await loseHost(ctx);
      rec.event(
        "disaster",
        `${ctx.where()}host lost: server killed, data directory and local backups deleted`,
        disasterAt,
      );
    }
    // With a replacement, the writes end once the replace step has destroyed the host (below).
    const stopWrites = async () => {
      await workload.stop();
      rec.event(
        "writes-end",
        `${workload.acks.length} commits acknowledged before the loss`,
        new Date(workload.acks[workload.acks.length - 1]?.ackedAt ?? Date.now()),
      );
    };
    if (!replacement) await stopWrites();
    await detect(ctx, rec, WATCHED_ALERTS, disasterAt);
    return recoverAndJudge(
      this,
      ctx,
      rec,
      {
        disasterAt,
        workload,
        clock: replacement
          ? "from the destruction until the server restored on the new host accepted a write (the new host " +
            "brought up, its key pinned, pulumi up, base backup and WAL downloaded, replayed)"
          : "from the kill until the server restored from the object store accepted a write (directories " +
            "rebuilt, base backup and WAL downloaded, replayed)",
        reasons: bound,
      },
      async (outcome) => {
        if (replacement) {
          const hostKey = await replaceHost(ctx, rec, replacement).finally(stopWrites);
          await provisionNewHost(ctx, rec, replacement, hostKey);
          await primaryBack(ctx, rec, table, workload, outcome);
          await upAfterRestore(ctx, rec, replacement);
          await standbysBack(ctx, rec);
        } else {
          rec.event("recovery-start", "rebuild the host's directories, restore from the object store");
          await restoreFromStore(ctx, rec);
          await postgresBack(ctx, rec, table, workload, outcome);
        }
        await baseBackup(ctx, rec, "take a base backup on the new timeline");
      },
    );
  },
};

const corruptNewestBackup: Scenario = {
  id: "corrupt-backup",
  title: "Corrupted newest backup: verification catches it, recovery uses the one before",
  tools: [...BASE_BACKUP_TOOLS, "pg_verifybackup"],
  unavailable: () => undefined,
  async run(ctx) {
    const rec = new ScenarioRecorder(ctx.progress, this.id);
    const table = "drkit_drill_corrupt";
    await freshTable(ctx, table);
    const older = await baseBackup(ctx, rec, "take base backup 1");
    const workload = await startWrites(ctx, rec, table, WRITES_BEFORE_DISASTER / 2);
    const newest = await baseBackup(ctx, rec, "take base backup 2 (the newest)");
    await workload.waitForAcks(WRITES_BEFORE_DISASTER);
    await workload.stop();
    rec.event("writes-end", `${workload.acks.length} commits acknowledged`);
    await rec.step("archive the WAL written so far", () => archiveNow(ctx));
    const tar = await corruptBaseTar(ctx, newest);
    rec.event("note", `${ctx.where()}bytes in the middle of ${newest}/${tar} overwritten`);
    const disasterAt = new Date();
    await crashAndLoseDataDirectory(ctx);
    rec.event("disaster", `${ctx.where()}data directory lost; the newest backup is corrupt`, disasterAt);
    await detect(ctx, rec, WATCHED_ALERTS, disasterAt);
    const reasons: string[] = [];
    return recoverAndJudge(
      this,
      ctx,
      rec,
      {
        disasterAt,
        workload,
        clock:
          "from the loss until the server restored from the previous backup accepted a write (verification of the " +
          "newest backup included)",
        reasons: reasons,
      },
      async (outcome) => {
        rec.event("recovery-start", "verify the newest backup before restoring it");
        const verdict = await rec.step(
          `${ctx.where()}verify-backup --backup ${newest} (must fail)`,
          async () => {
            const r = await ctx.job("verify", ["--backup", newest]);
            if (r.status === 0) throw new Error(`verify-backup accepted the corrupted backup ${newest}`);
            return r.stderr.trim().split("\n").pop() ?? "";
          },
          (line) => line.slice(0, 160),
        );
        reasons.push(`verification refused ${newest}: ${verdict.replace(/^\S+ \S+: /, "").slice(0, 200)}`);
        await rec.step(`${ctx.where()}restore-pitr --backup ${older} (the one before), then WAL to the end`, () =>
          ctx.runScript("restore-pitr", ["--backup", older]),
        );
        await postgresBack(ctx, rec, table, workload, outcome);
        await rec.step(`${ctx.where()}set the corrupt backup ${newest} aside`, () =>
          ctx.execOk([
            "mv",
            "-T",
            "--",
            path.posix.join(ctx.plan.paths.baseDir, newest),
            path.posix.join(ctx.plan.paths.baseDir, `.corrupt-${newest}`),
          ]),
        );
        await baseBackup(ctx, rec, "take a base backup on the new timeline");
      },
    );
  },
};

const redisLoss: Scenario = {
  id: "redis-loss",
  title: "Valkey/Redis loss: data and AOF gone, restored from the newest snapshot",
  tools: [],
  unavailable: (ctx) => (ctx.plan.redis ? undefined : "the service has no redis section"),
  async run(ctx) {
    const rec = new ScenarioRecorder(ctx.progress, this.id);
    const r = ctx.plan.redis!;
    const cliArgs = r.socket ? ["-s", r.socket] : ["-p", String(r.port)];
    const cliArgv = ["runuser", "-u", r.osUser, "--", r.cli, ...cliArgs];
    const cli = ctx.shell().spawnable(cliArgv);
    const prefix = `drill:${Date.now()}`;
    const workload = redisWorkload(cli, prefix);
    workload.start();
    rec.event("writes-start", "workload starts (one SET per write)");
    await workload.waitForAcks(200);
    await sleep(1100);
    const snapshot = await rec.step(
      `${ctx.where()}take a snapshot (backup-redis)`,
      async () => {
        const done = /snapshot (dump_\d{8}T\d{6}Z\.rdb)/;
        const name = done.exec((await ctx.runJob("redis", [], done)).stderr)?.[1];
        if (!name) throw new Error("backup-redis did not name its snapshot");
        return name;
      },
      (n) => n,
    );
    const atSnapshot = workload.acks.length;
    await workload.waitForAcks(atSnapshot + 100);
    const disasterAt = new Date();
    await ctx.redisServer("stop");
    await ctx.remove(["dump.rdb", "appendonlydir", "appendonly.aof"].map((f) => path.posix.join(r.dataDirectory, f)));
    rec.event("disaster", `${ctx.where()}server stopped, RDB and AOF deleted`, disasterAt);
    unwatched(
      ctx,
      rec,
      "no metric tells whether Redis runs; its snapshot age alerts only after the schedule's interval",
    );
    await workload.stop();
    rec.event(
      "writes-end",
      `${workload.acks.length} writes acknowledged`,
      new Date(workload.acks[workload.acks.length - 1].ackedAt),
    );
    const note =
      r.snapshotMaxIntervalHours !== null && r.snapshotMaxIntervalHours * 3600 > ctx.plan.rpoSeconds
        ? [
            `snapshots run every ${r.snapshotMaxIntervalHours}h: losing the host loses up to that much (the AOF ` +
              `covers process crashes, not the loss of the disk)`,
          ]
        : [];
    return recoverAndJudge(
      this,
      ctx,
      rec,
      {
        disasterAt,
        workload,
        clock:
          "from the loss until the restored server accepted a SET (empty server started, snapshot checked and " +
          "loaded, AOF switched back on)",
        reasons: note,
      },
      async (outcome) => {
        rec.event("recovery-start", "restore-redis from the newest snapshot");
        await rec.step(`${ctx.where()}start an empty server`, () => ctx.redisServer("start"));
        await rec.step(`${ctx.where()}restore-redis ${snapshot}`, () =>
          ctx.runScript("restore-redis", [path.posix.join(r.backupDir, snapshot)]),
        );
        const back = await rec.step("first write accepted", async () => {
          const set = await ctx.exec([...cliArgv, "SET", `${prefix}:probe`, "1"], { timeoutMs: 30_000 });
          if (set.stdout.trim() !== "OK")
            throw new Error(`SET after the restore answered ${set.stdout.trim() || set.stderr.trim()}`);
          return new Date();
        });
        const keys = await ctx.exec([...cliArgv, "--scan", "--pattern", `${prefix}:*`], { timeoutMs: 60_000 });
        const present = keys.stdout.split("\n").filter((k) => k && !k.endsWith(":probe"));
        recordRecovery(rec, outcome, {
          back,
          backLabel: "restored server accepts writes",
          table: `redis ${prefix}:*`,
          acks: workload.acks,
          keys: present,
        });
      },
    );
  },
};

/**
 * Failover across hosts is fence-primary, promote-standby and then `pulumi up` with the roles swapped in the stack
 * (the rejoin is the new standby's clone step); the drill does not rewrite a stack, so it cannot fail back.
 */
function standbyElsewhere(ctx: DrillContext): string | undefined {
  const remote = ctx.plan.replication?.standbys.find((s) => s.host.name !== ctx.plan.host.name);
  return remote
    ? `standby ${remote.name} runs on another host (${remote.host.name}): failing back across hosts needs the ` +
        "stack's roles swapped and pulumi up, which the drill does not do to a stack"
    : undefined;
}

/** The standby a failover goes to: the first synchronous one, else the first. */
const failoverTarget = (ctx: DrillContext): StandbyPlan =>
  ctx.plan.replication!.standbys.find((s) => s.synchronous) ?? ctx.plan.replication!.standbys[0];

/**
 * Failing back from a standby on another host needs it to serve the former primary over verified TLS once
 * promoted: the replication certificate must name its address too (then drkit places it there).
 */
function cannotServeFailBack(ctx: DrillContext): string | undefined {
  const standby = failoverTarget(ctx);
  if (standby.host.name === ctx.plan.host.name) return undefined;
  const address = ctx.plan.replication!.primaryAddress;
  if (!isIP(address))
    return (
      `standby ${standby.name} runs on another host (${standby.host.name}) and the primary's address ${address} is ` +
      `a host name: the old primary could not follow it as a standby, which must listen at an IP address ` +
      `(services.${ctx.plan.name}.replication.primaryAddress)`
    );
  if (standby.serverTls) return undefined;
  return (
    `standby ${standby.name} runs on another host (${standby.host.name}) and the replication certificate does not ` +
    `name its address ${standby.address}: once promoted it could not serve the former primary over verified TLS, ` +
    `so the drill could not fail back (give services.${ctx.plan.name}.replication.tls a certificate that names ` +
    "every host that may become the primary)"
  );
}

const failover: Scenario = {
  id: "primary-crash",
  title: "Primary crash: fenced and failed over to a standby",
  tools: ["pg_basebackup", "pg_rewind"],
  unavailable: (ctx) =>
    ctx.plan.replication?.standbys.length
      ? cannotServeFailBack(ctx)
      : "the service has no standbys (services.<name>.standbys)",
  async run(ctx) {
    const rec = new ScenarioRecorder(ctx.progress, this.id);
    const table = "drkit_drill_failover";
    const standby = failoverTarget(ctx);
    const elsewhere = standby.host.name !== ctx.plan.host.name;
    const named = `${standby.name}${elsewhere ? ` on ${standby.host.name}` : ""}`;
    // With --power-host the whole host goes, not only its postmaster (a standby on the same host would go too).
    const power = elsewhere ? ctx.hostPower : undefined;
    await freshTable(ctx, table);
    const workload = await startWrites(ctx, rec, table);
    const disasterAt = new Date();
    if (power) {
      await runPowerCommand(power, ctx.plan.host, "off", ctx.progress);
      rec.event("disaster", `${ctx.where()}host powered off at once (--power-host)`, disasterAt);
    } else {
      await ctx.crashPrimary();
      rec.event("disaster", `${ctx.where()}primary killed (immediate stop)`, disasterAt);
    }
    await workload.stop();
    rec.event(
      "writes-end",
      `${workload.acks.length} commits acknowledged`,
      new Date(workload.acks[workload.acks.length - 1].ackedAt),
    );
    await detect(ctx, rec, WATCHED_ALERTS, disasterAt);
    const reasons = [
      standby.synchronous
        ? `${standby.name} is synchronous: no acknowledged commit may be lost`
        : `${standby.name} is asynchronous: commits not yet streamed are lost`,
    ];
    return recoverAndJudge(
      this,
      ctx,
      rec,
      {
        disasterAt,
        workload,
        clock:
          `from the ${power ? "power-off" : "kill"} until ${named} accepted a write ` +
          `(${power ? "" : "fence, "}promote${elsewhere ? "" : ", repoint"})` +
          (ctx.alerts ? ", the wait for the alert included" : "; detection by monitoring is not included"),
        reasons,
      },
      async (outcome) => {
        rec.event("recovery-start", `failover to ${standby.name}`);
        if (elsewhere) await failoverAcrossHosts(ctx, rec, standby, power !== undefined);
        else await rec.step(`failover --to ${standby.name}`, () => ctx.runScript("failover", ["--to", standby.name]));
        const on = elsewhere ? standby.host : undefined;
        const back = await rec.step(`${ctx.where(on)}first write accepted on the new primary`, () =>
          ctx.waitForWrites(ctx.plan.rtoSeconds, standby.port, on),
        );
        recordRecovery(rec, outcome, {
          back,
          backLabel: `${named} accepts writes`,
          table,
          acks: workload.acks,
          keys: await recoveredKeys(ctx, table, standby.port, on),
        });
        const lost = outcome.measure?.lostCommits ?? 0;
        if (standby.synchronous && lost > 0)
          reasons.push(`FAIL: ${standby.name} is synchronous, yet ${lost} acknowledged commit(s) were lost`);
        if (power) await poweredOnFenced(ctx, rec, power, standby);
        if (elsewhere) await failBackAcrossHosts(ctx, rec, standby);
        else
          await rec.step(
            "fail back: old primary rejoins (pg_rewind), is promoted again, the standby is re-cloned",
            () => failBack(ctx, standby),
          );
      },
    );
  },
};

/** Failover to a standby on another host: the crashed primary fenced on its host, the standby promoted on its own. */
async function failoverAcrossHosts(
  ctx: DrillContext,
  rec: ScenarioRecorder,
  standby: StandbyPlan,
  poweredOff: boolean,
): Promise<void> {
  if (poweredOff)
    rec.event("note", `${ctx.where()}powered off, so not fenced: its guard-primary keeps the server down at boot`);
  else
    await rec.step(`${ctx.where()}fence-primary (server stopped, its unit masked)`, () =>
      ctx.runScript("fence-primary"),
    );
  await rec.step(`${ctx.where(standby.host)}promote-standby ${standby.name}`, () =>
    ctx.execOk([`${standbyAgentDir(ctx.plan, standby)}/promote-standby`, standby.name, "--wait", "30"], {
      on: standby.host,
      timeoutMs: 300_000,
    }),
  );
}

/**
 * The powered-off primary's host boots again: its guard-primary asks the promoted standby and keeps the server
 * down, marked fenced, so it never serves as a second primary; the fail-back rewinds it.
 */
async function poweredOnFenced(
  ctx: DrillContext,
  rec: ScenarioRecorder,
  command: string,
  standby: StandbyPlan,
): Promise<void> {
  await rec.step(`${ctx.where()}powered on again (--power-host)`, async () => {
    await runPowerCommand(command, ctx.plan.host, "on", ctx.progress);
    ctx.shell().reconnect();
  });
  const m = ctx.plan.postgres.manager;
  await rec.step(
    `${ctx.where()}the old primary stays down at boot: ${standby.name} was promoted (guard-primary)`,
    async () => {
      let state = "";
      // The server's start is part of the boot: once the boot is over, it has started or been refused.
      if (m.type === "systemd") await ctx.exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: 300_000 });
      for (let i = 0; i < 1200 && m.type === "systemd"; i++) {
        state = (await ctx.exec(["systemctl", "is-active", m.unit])).stdout.trim();
        if (state !== "activating" && state !== "reloading") break;
        await sleep(100);
      }
      if (m.type === "systemd" ? state === "active" : (await ctx.pgCtl(["status"])).status === 0)
        throw new Error(`the old primary runs again after the power-on: two primaries (${standby.name} was promoted)`);
      const marker = path.posix.join(ctx.plan.postgres.dataDirectory, "drkit.fenced");
      if ((await ctx.exec(["test", "-f", marker])).status !== 0)
        throw new Error(`the old primary is down but not marked fenced (${marker}): guard-primary did not run`);
    },
  );
}

/**
 * Back to the declared topology after a failover across hosts: the old primary rewinds from the promoted standby
 * over verified TLS and streams from it; once it has replayed everything, the promoted one stops, the old primary
 * is promoted again and the standby is cloned anew from it. The promoted standby archived nothing (its host has
 * not the primary's archive settings): a base backup on the new timeline makes the archive whole again.
 */
async function failBackAcrossHosts(ctx: DrillContext, rec: ScenarioRecorder, standby: StandbyPlan): Promise<void> {
  await rec.step(
    `${ctx.where()}rejoin-as-standby --primary ${standby.name} (pg_rewind from ${standby.host.name} over verified TLS)`,
    () => ctx.runScript("rejoin-as-standby", ["--primary", standby.name]),
  );
  await rec.step(
    `fail back: ${standby.name} on ${standby.host.name} stops once ${ctx.plan.host.name} has replayed its WAL, ` +
      `${ctx.plan.host.name} is promoted again (promote-former-primary)`,
    () => switchBack(ctx, standby, () => stopStandby(ctx, standby)),
  );
  await standbysBack(ctx, rec);
  await baseBackup(ctx, rec, `take a base backup on the new timeline (${standby.name} archived nothing as primary)`);
}

/**
 * Once the service's own server, rejoined as the promoted standby's standby, has replayed all it wrote (30 s at
 * most): that standby stopped with `stop`, the old primary promoted again and rid of its standby settings
 * (promote-former-primary).
 */
async function switchBack(ctx: DrillContext, standby: StandbyPlan, stop: () => Promise<unknown>): Promise<void> {
  const lsn = await ctx.sql("SELECT pg_current_wal_lsn()", { port: standby.port, on: standby.host, db: "postgres" });
  for (let i = 0; ; i++) {
    const replayed = await ctx.sql(`SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`, { db: "postgres" });
    if (replayed === "t") break;
    if (i === 300) throw new Error(`${ctx.where()}the rejoined server has not replayed up to ${lsn} after 30s`);
    await sleep(100);
  }
  await stop();
  await ctx.runScript("promote-former-primary");
}

/** Returns the service to its declared topology after a failover drill. */
async function failBack(ctx: DrillContext, standby: StandbyPlan): Promise<void> {
  await ctx.runScript("rejoin-as-standby", ["--primary", standby.name]);
  await switchBack(ctx, standby, () => ctx.pgCtl(["stop", "-m", "fast"], standby.dataDirectory));
  await recloneStandbys(ctx);
  // The rewound old primary carries the promoted standby's synchronous_standby_names (set by failover).
  await synchronousAgain(ctx);
}

/**
 * Waits until the object store holds these WAL files (archive-wal queues what it archives; the shipper uploads
 * it within seconds), asking through fetch-offsite, the restore's own path.
 */
async function shippedOffsite(ctx: DrillContext, names: readonly string[]): Promise<void> {
  const probe = `/tmp/drkit-drill-offsite-probe-${process.pid}`;
  try {
    for (let attempt = 0; attempt < 120; attempt++) {
      let missing = "";
      for (const name of names) {
        const r = await ctx.exec([ctx.script("fetch-offsite"), "wal", name, probe, ...ctx.identityArgs()], {
          timeoutMs: 60_000,
        });
        if (r.status !== 0) {
          missing = name;
          break;
        }
      }
      if (!missing) return;
      if (attempt === 119) throw new Error(`${missing} is not in the object store after 60s (see shipper status)`);
      await sleep(500);
    }
  } finally {
    await ctx.remove([probe]);
  }
}

const pitrAfterFailover: Scenario = {
  id: "pitr-after-failover",
  title:
    "Point in time after a failover: rows deleted on the promoted standby, restored from the object store alone " +
    "to just before, from a base backup of the old timeline",
  tools: [...BASE_BACKUP_TOOLS, "pg_rewind"],
  unavailable: (ctx) =>
    !ctx.plan.replication?.standbys.length
      ? "the service has no standbys (services.<name>.standbys)"
      : !ctx.plan.offsite
        ? "the service has no offsite targets (services.<name>.offsite)"
        : standbyElsewhere(ctx),
  async run(ctx) {
    const rec = new ScenarioRecorder(ctx.progress, this.id);
    const table = "drkit_drill_timelines";
    const standby = ctx.plan.replication!.standbys.find((s) => s.synchronous) ?? ctx.plan.replication!.standbys[0];
    await freshTable(ctx, table);
    const backupId = await baseBackup(ctx, rec, "take a base backup on the current timeline (shipped off-site)");
    const before = await startWrites(ctx, rec, table, WRITES_BEFORE_DISASTER / 2);
    await before.stop();
    await rec.step(`failover --to ${standby.name}`, () => ctx.runScript("failover", ["--to", standby.name]));
    const after = postgresWorkload(ctx.psqlArgs(standby.port), table, 20, before.acks.length);
    after.start();
    rec.event("writes-start", `writes go on on ${standby.name}, on its new timeline`);
    await after.waitForAcks(WRITES_BEFORE_DISASTER / 2);
    await after.stop();
    const acks = [...before.acks, ...after.acks];
    rec.event("writes-end", `${acks.length} commits acknowledged, ${after.acks.length} of them after the failover`);
    const target = await ctx.sql(
      `SELECT ${"to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"} || '+00'`,
      { port: standby.port },
    );
    const targetIso = new Date(target.replace(" ", "T").replace("+00", "Z")).toISOString();
    // Committed after the target: never to come back.
    const late = [1_000_001, 1_000_002, 1_000_003];
    for (const seq of late) await ctx.sql(`INSERT INTO ${table} (seq) VALUES (${seq})`, { port: standby.port });
    const disasterAt = new Date();
    await ctx.sql(`DELETE FROM ${table}`, { port: standby.port });
    rec.event("disaster", `DELETE FROM ${table} (all rows) on ${standby.name}, the primary since the failover`);
    unwatched(ctx, rec, "a DELETE is a valid write, no metric tells it from an intended one");
    const reasons: string[] = [];
    return recoverAndJudge(
      this,
      ctx,
      rec,
      {
        disasterAt,
        workload: { acks },
        clock:
          "from the DELETE until the server restored from the object store accepted a write (WAL switch, " +
          "archive and upload, restore-pitr --from-offsite, start); noticing the mistake is not included",
        reasons,
      },
      async (outcome) => {
        rec.event("recovery-start", `archive and ship ${standby.name}'s WAL, then restore-pitr --from-offsite`);
        const segment = await rec.step(
          `archive the WAL that holds the DELETE (on ${standby.name})`,
          () => archiveNow(ctx, standby.port),
          (s) => s,
        );
        const history = `${segment.slice(0, 8)}.history`;
        await rec.step(`wait until the object store holds ${history} and ${segment}`, () =>
          shippedOffsite(ctx, [history, segment]),
        );
        await rec.step(`stop ${standby.name} (it holds the DELETE)`, () =>
          ctx.pgCtl(["stop", "-m", "fast", "-w"], standby.dataDirectory),
        );
        const r = await rec.step(
          "restore-pitr --from-offsite --target-time <just before the DELETE> --target-timeline latest",
          () =>
            ctx.runScript("restore-pitr", [
              "--from-offsite",
              ...ctx.identityArgs(),
              ...["--target-time", target, "--target-timeline", "latest"],
            ]),
        );
        const followed = /restoring base backup (\S+) \(timeline (\d+)\).* along (timeline \d+)/.exec(r.stderr);
        if (!/fetched base backup/.test(r.stderr) || !followed)
          throw new Error("restore-pitr did not fetch a base backup from the object store");
        reasons.push(
          `restored base backup ${followed[1]} (timeline ${followed[2]}; taken before the failover: ` +
            `${followed[1] === backupId ? "yes" : "no"}), then WAL along ${followed[3]}, from the object store`,
        );
        await postgresBack(ctx, rec, table, { acks }, outcome, {
          at: targetIso,
          label: "recovery target (just before the DELETE, on the new timeline)",
        });
        const keys = await recoveredKeys(ctx, table);
        const back = late.filter((seq) => keys.includes(String(seq)));
        if (back.length) reasons.push(`FAIL: rows committed after the target came back: ${back.join(", ")}`);
        if (outcome.measure?.lostCommits)
          reasons.push(
            `FAIL: ${outcome.measure.lostCommits} commits acknowledged before the target were not recovered`,
          );
        await baseBackup(ctx, rec, "take a base backup on the new timeline");
      },
    );
  },
};

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The process listening on a loopback port (the sandbox's MinIO), from `ss`. */
async function listener(port: string): Promise<number> {
  const r = await runCommand("ss", ["-Hltnp", `sport = :${port}`], 10_000);
  const pid = /pid=(\d+)/.exec(r.stdout)?.[1];
  if (!pid) throw new Error(`no process listens on port ${port} (ss: ${r.stdout.trim() || r.stderr.trim()})`);
  return Number(pid);
}

async function archiverFailures(ctx: DrillContext): Promise<number> {
  return Number(await ctx.sql("SELECT failed_count FROM pg_stat_archiver", { db: "postgres" }));
}

/** Waits until the shipper's state for a store records a failed attempt (bounded by the call timeout). */
async function shipperReportsFailure(ctx: DrillContext, store: string): Promise<string> {
  const state = path.posix.join(ctx.plan.offsite!.markerDir, store, "shipper.state");
  const seconds = ctx.plan.offsite!.callTimeoutSeconds + 30;
  for (let i = 0; i < seconds * 4; i++) {
    const text = (await ctx.exec(["cat", "--", state], { timeoutMs: 10_000 })).stdout;
    const failures = Number(/^consecutive_failures=(\d+)$/m.exec(text)?.[1] ?? 0);
    if (failures > 0)
      return `${failures} failed attempt(s), backlog ${/^backlog_files=(\d+)$/m.exec(text)?.[1]} file(s)`;
    await sleep(250);
  }
  throw new Error(`the shipper recorded no failure of ${store} within ${seconds}s (see ${state})`);
}

const OUTAGE_SEGMENTS = 3;

const storeOutage: Scenario = {
  id: "store-outage",
  title:
    "Object store outage: the primary keeps committing and archiving, the shipper reports the store and ships " +
    "the backlog when it is back, and a restore from the store alone loses nothing",
  tools: BASE_BACKUP_TOOLS,
  unavailable: (ctx) => {
    const target = ctx.plan.offsite?.targets[0];
    if (!target) return "the service has no offsite targets (services.<name>.offsite)";
    if (ctx.onRealHosts)
      return "the drill makes an object store hang on this machine only; the service runs on real hosts";
    return LOOPBACK.has(new URL(target.endpoint).hostname)
      ? undefined
      : `object store ${target.store} is not on this machine (${target.endpoint}): the drill cannot make it hang`;
  },
  async run(ctx) {
    const rec = new ScenarioRecorder(ctx.progress, this.id);
    const table = "drkit_drill_store_outage";
    const target = ctx.plan.offsite!.targets[0];
    const reasons = await archiveBoundReason(ctx);
    await freshTable(ctx, table);
    await baseBackup(ctx, rec, "take a base backup (shipped off-site)");
    const workload = await startWrites(ctx, rec, table);
    const pid = await listener(new URL(target.endpoint).port);
    const failedBefore = await archiverFailures(ctx);
    const disasterAt = new Date();
    // Stopped, not killed: connections are accepted and never answered, the hardest outage for a client.
    process.kill(pid, "SIGSTOP");
    rec.event("disaster", `object store ${target.store} hangs (its MinIO process stopped: no answers)`, disasterAt);
    unwatched(
      ctx,
      rec,
      `DrkitOffsiteLagHigh fires only once the unshipped WAL is older than the RPO (${ctx.plan.rpoSeconds}s), ` +
        "longer than this outage: nothing is at risk before that",
    );
    const segments: string[] = [];
    let resumedAt = disasterAt;
    try {
      for (let i = 1; i <= OUTAGE_SEGMENTS; i++)
        segments.push(
          await rec.step(
            `archive WAL segment ${i} of ${OUTAGE_SEGMENTS} during the outage (local archive only)`,
            () => archiveNow(ctx),
            (s) => s,
          ),
        );
      reasons.push(
        `the shipper reported the outage: ${await rec.step(`shipper state records ${target.store} failing`, () =>
          shipperReportsFailure(ctx, target.store),
        )}`,
      );
    } finally {
      process.kill(pid, "SIGCONT");
      resumedAt = new Date();
    }
    const during = workload.acks.filter((a) => a.ackedAt > disasterAt.getTime() && a.ackedAt < resumedAt.getTime());
    rec.event("recovery-start", `object store ${target.store} answers again`, resumedAt);
    return recoverAndJudge(
      this,
      ctx,
      rec,
      {
        disasterAt,
        workload,
        clock:
          "from the store's outage until the primary acknowledged the next commit (it never waits on the store); " +
          "then the backlog shipped and the host lost and restored from the store alone",
        reasons,
      },
      async (outcome) => {
        const failed = (await archiverFailures(ctx)) - failedBefore;
        if (failed > 0) reasons.push(`FAIL: archive_command failed ${failed} time(s) during the outage`);
        if (!during.length) reasons.push("FAIL: no commit was acknowledged while the store was out");
        else
          reasons.push(
            `${during.length} commits acknowledged and ${segments.length} WAL segments archived during the outage`,
          );
        await rec.step(`the backlog (${segments.join(", ")}) is in the object store again`, async () => {
          await shippedOffsite(ctx, segments);
          const lag = (Date.now() - resumedAt.getTime()) / 1000;
          reasons.push(`the backlog was off-site ${lag.toFixed(1)}s after the store answered again`);
        });
        await workload.stop();
        rec.event("writes-end", `${workload.acks.length} commits acknowledged`);
        const last = await rec.step(
          "archive and ship the last writes",
          async () => {
            const segment = await archiveNow(ctx);
            await shippedOffsite(ctx, [segment]);
            return segment;
          },
          (x) => x,
        );
        await loseHost(ctx);
        rec.event("note", `host lost after ${last} was shipped: every commit is in the object store`);
        await restoreFromStore(ctx, rec);
        await rec.step("the restored server accepts writes", () => ctx.waitForWrites(ctx.plan.rtoSeconds));
        const back = during[0] ? new Date(during[0].ackedAt) : new Date();
        recordRecovery(rec, outcome, {
          back,
          backLabel: "first commit acknowledged during the outage",
          table,
          acks: workload.acks,
          keys: await recoveredKeys(ctx, table),
        });
        if (outcome.measure?.lostCommits)
          reasons.push(
            `FAIL: ${outcome.measure.lostCommits} acknowledged commits are not in the restore from the store`,
          );
        await standbysBack(ctx, rec);
        await baseBackup(ctx, rec, "take a base backup on the new timeline");
      },
    );
  },
};

export const ALL_SCENARIOS: readonly Scenario[] = [
  accidentalDeletion,
  corruptNewestBackup,
  redisLoss,
  hostLoss,
  failover,
  pitrAfterFailover,
  storeOutage,
];
