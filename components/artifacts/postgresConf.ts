import type { ReplicationTlsPlan, ServicePlan } from "../plan/plan";
import { postgresFeatures } from "../plan/postgresVersion";

/** How a setting takes effect: `postmaster` ones need a restart, `sighup` ones a reload. */
export type SettingContext = "postmaster" | "sighup";

export interface PgSetting {
  readonly name: string;
  readonly value: string;
  readonly context: SettingContext;
}

/** The settings drkit renders that PostgreSQL reads only at server start (pg_settings.context 'postmaster'). */
const RESTART_SETTINGS = new Set([
  "archive_mode",
  "hot_standby",
  "max_replication_slots",
  "max_wal_senders",
  "wal_level",
  "wal_log_hints",
]);

/** How a change of the named setting takes effect; every other drkit setting is read on a reload. */
export const settingContext = (name: string): SettingContext => (RESTART_SETTINGS.has(name) ? "postmaster" : "sighup");

export const archiveCommandOf = (plan: ServicePlan) => `${plan.paths.scriptsDir}/archive-wal %p %f`;
export const archiveDropInPath = (plan: ServicePlan) =>
  `${plan.postgres.configDirectory}/90-drkit-${plan.name}-archiving.conf`;
export const replicationDropInPath = (plan: ServicePlan) =>
  `${plan.postgres.configDirectory}/91-drkit-${plan.name}-replication.conf`;

/** The WAL archiving settings, with the context each one needs to change. */
export function archiveSettings(plan: ServicePlan): PgSetting[] {
  const list: PgSetting[] = [
    { name: "wal_level", value: "replica" },
    { name: "archive_mode", value: "on" },
    { name: "archive_command", value: archiveCommandOf(plan) },
    { name: "archive_timeout", value: String(plan.archiveTimeoutSeconds) },
  ].map((s) => ({ ...s, context: settingContext(s.name) }));
  // From 15 on an archive_library wins over archive_command (and from 16 setting both is an error).
  if (postgresFeatures(plan.postgres.version).archiveLibrary)
    list.push({ name: "archive_library", value: "", context: settingContext("archive_library") });
  // Incremental base backups read WAL summaries (17+); wal_summary_keep_time is in minutes.
  if (plan.incremental)
    list.push(
      { name: "summarize_wal", value: "on", context: settingContext("summarize_wal") },
      {
        name: "wal_summary_keep_time",
        value: String(Math.ceil(plan.incremental.walSummaryKeepSeconds / 60)),
        context: settingContext("wal_summary_keep_time"),
      },
    );
  return list;
}

const confValue = (value: string) => (/^[0-9]+$/.test(value) ? value : `'${value.replace(/'/g, "''")}'`);

export function renderArchiveDropIn(plan: ServicePlan): string {
  const lines = archiveSettings(plan).map((s) => `${s.name} = ${confValue(s.value)}`);
  return `# WAL archiving for ${plan.name}, rendered by drkit.
# RPO ${plan.rpoSeconds}s -> archive_timeout ${plan.archiveTimeoutSeconds}s (headroom left for the copy to the archive).
# wal_level and archive_mode need a server restart; the others a reload.
${lines.join("\n")}
`;
}

/** Primary-side replication settings sized from the plan; the postmaster-level ones restart the server once. */
export function renderReplicationDropIn(plan: ServicePlan): string {
  const r = plan.replication;
  if (!r) throw new Error(`service ${plan.name} has no standbys`);
  return `# Streaming replication for ${plan.name}, rendered by drkit: ${r.standbys.length} standby(s).
max_wal_senders = ${r.maxWalSenders}
max_replication_slots = ${r.maxReplicationSlots}
# A dead standby's slot may hold at most this much WAL; past it the slot is invalidated, not the disk filled.
max_slot_wal_keep_size = '${r.maxSlotWalKeepSizeMb}MB'
wal_log_hints = on
hot_standby = on
hot_standby_feedback = on
synchronous_standby_names = '${r.synchronousStandbyNames}'
${r.tls ? tlsSettings(r.tls) : ""}`;
}

/** The server side of replication TLS: standbys verify this certificate; pg_hba admits them only over TLS. */
function tlsSettings(tls: ReplicationTlsPlan): string {
  return `# Standbys connect with sslmode=verify-full; pg_hba admits them only over TLS (hostssl).
ssl = on
ssl_cert_file = '${tls.certFile}'
ssl_key_file = '${tls.keyFile}'
ssl_min_protocol_version = 'TLSv1.2'
`;
}
