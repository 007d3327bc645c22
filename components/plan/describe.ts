import { formatDuration } from "./duration";
import type { ServicePlan } from "./plan";

export interface PlanRow {
  readonly objective: string;
  readonly setting: string;
}

/** The derived plan of one service as objective -> setting rows, for people reviewing a change. */
export function describeServicePlan(plan: ServicePlan): PlanRow[] {
  const r = plan.retention;
  const rows: PlanRow[] = [
    {
      objective: `RPO ${formatDuration(plan.rpoSeconds)}`,
      setting:
        `archive_timeout = ${plan.archiveTimeoutSeconds}s ` +
        `(${formatDuration(plan.rpoSeconds - plan.archiveTimeoutSeconds)} left for the copy to the archive)`,
    },
    {
      objective: "WAL archiving",
      setting: `wal_level = replica, archive_mode = on (restart), archive_command -> ${plan.paths.walDir}`,
    },
    {
      objective: `RTO ${formatDuration(plan.rtoSeconds)}`,
      setting: `restore-pitr waits at most ${plan.rtoSeconds}s for recovery to end`,
    },
  ];
  for (const job of plan.jobs) {
    rows.push({
      objective: job.description,
      setting: job.calendar
        ? `${job.unit}.timer: OnCalendar=${job.calendar}, RandomizedDelaySec=${plan.randomizedDelaySeconds}, ` +
          `Persistent=true, as ${job.runAs}`
        : `${job.unit}.service: runs after each successful base backup, as ${job.runAs}`,
    });
  }
  rows.push(
    {
      objective: `daily retention ${r.dailyDays}d`,
      setting: `every base and logical backup younger than ${r.dailyDays} days`,
    },
    {
      objective: `weekly retention ${r.weeklyWeeks}w`,
      setting: r.weeklyWeeks ? `the newest backup of each ISO week for ${r.weeklyWeeks} weeks` : "none",
    },
    {
      objective: `long-term retention ${r.longTermMonths} months`,
      setting: r.longTermMonths
        ? `the newest backup of each month for ${r.longTermMonths} months`
        : "none kept locally",
    },
    {
      objective: "point-in-time recovery window",
      setting: "WAL is pruned only below the start of the oldest retained base backup (pg_archivecleanup)",
    },
    { objective: `off-site retention ${r.offsiteDays}d`, setting: "applies to object-store targets" },
    {
      objective: "compression",
      setting:
        `${plan.compression.method}: ` +
        `pg_basebackup ${plan.compression.baseBackupArgs.join(" ") || "(none)"}, ` +
        `pg_dump ${plan.compression.dumpArgs.join(" ")}`,
    },
    { objective: "backup location", setting: `${plan.paths.backupRoot} on ${plan.host.name}` },
  );
  const repl = plan.replication;
  if (repl) {
    const sync = repl.standbys.filter((s) => s.synchronous).map((s) => s.name);
    rows.push(
      {
        objective: `${repl.standbys.length} standby(s)`,
        setting:
          `max_wal_senders = ${repl.maxWalSenders}, max_replication_slots = ${repl.maxReplicationSlots}, ` +
          `one slot each (${repl.standbys.map((s) => s.slot).join(", ")})`,
      },
      {
        objective: sync.length ? `synchronous: ${sync.join(", ")}` : "asynchronous standbys only",
        setting: `synchronous_standby_names = '${repl.synchronousStandbyNames}'`,
      },
      {
        objective: "a dead standby cannot fill the disk",
        setting: `max_slot_wal_keep_size = ${repl.maxSlotWalKeepSizeMb}MB`,
      },
      { objective: "failover order", setting: repl.failoverOrder.join(" -> ") },
    );
  }
  if (plan.redis) {
    const p = plan.redis.persistence;
    rows.push(
      {
        objective: "Redis/Valkey persistence",
        setting:
          `save ${p.savePoints.map(([a, b]) => `${a} ${b}`).join(", ")}; ` +
          `appendonly ${p.appendonly ? "yes" : "no"}, appendfsync ${p.appendfsync}`,
      },
      {
        objective: "Redis/Valkey snapshots",
        setting:
          `OnCalendar=${plan.redis.snapshotCalendar}, kept ${plan.redis.snapshotRetentionDays} days, ` +
          `BGSAVE timeout ${plan.redis.snapshotTimeoutSeconds}s`,
      },
    );
  }
  return rows;
}

export function formatTable(rows: readonly PlanRow[]): string {
  const width = Math.max("objective".length, ...rows.map((row) => row.objective.length));
  const line = (a: string, b: string) => `${a.padEnd(width)}  ${b}`;
  return [
    line("objective", "setting"),
    line("-".repeat(width), "-".repeat(7)),
    ...rows.map((row) => line(row.objective, row.setting)),
  ].join("\n");
}
