import { Document } from "yaml";
import { formatDuration } from "../plan/duration";
import type { AlertThresholds, MonitoringPlan, WatchedJob } from "../plan/monitoring";
import type { JobId, JobPlan } from "../plan/plan";

/**
 * What the rules are derived from: a host service's plan, or a Kubernetes cluster's (which has no Redis, no
 * logical or config backups). The optional parts add their alerts when present.
 */
export interface RulesSubject {
  readonly name: string;
  readonly monitoring?: Pick<MonitoringPlan, "thresholds" | "runbookBaseUrl">;
  readonly jobs: readonly Pick<JobPlan, "id" | "calendar">[];
  readonly redis?: unknown;
  readonly offsite?: unknown;
  readonly replication?: unknown;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** Seconds the condition must hold before the alert fires (Prometheus `for:`); 0 fires at once. */
  readonly for: number;
  readonly severity: "critical" | "warning";
  readonly summary: string;
  readonly description: string;
  /** The runbook section: `<runbookBaseUrl>#<alert name in lowercase>`. */
  readonly runbook: string;
}

const JOB_NOUN: Record<WatchedJob, string> = {
  base: "base backup",
  logical: "logical backup",
  config: "config file backup",
  verify: "restore test",
  redis: "Redis/Valkey snapshot",
};

/** Prometheus `for:`: the largest whole unit, e.g. 93600 -> "26h", 6 -> "6s". */
function promDuration(seconds: number): string {
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && value % 1024 === 0 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value} ${units[unit]}`;
}

/** The alert rules for a service, with every threshold from `plan.monitoring.thresholds` written into its expr. */
export function alertRules(plan: RulesSubject): AlertRule[] {
  const monitoring = plan.monitoring;
  if (!monitoring)
    throw new Error(`service ${plan.name} has no monitoring: alert rules need services.<svc>.monitoring`);
  const t: AlertThresholds = monitoring.thresholds;
  const service = plan.name;
  const pending = t.pendingSeconds;
  /** A selector with service="<name>", and drkit_job="<job>" (=~ for alternatives "a|b"). */
  const sel = (metric: string, job?: string) => {
    const jobMatcher = job === undefined ? "" : `,drkit_job${job.includes("|") ? "=~" : "="}${JSON.stringify(job)}`;
    return `${metric}{service=${JSON.stringify(service)}${jobMatcher}}`;
  };
  const rules: AlertRule[] = [];
  const add = (rule: Omit<AlertRule, "runbook">) =>
    rules.push({ ...rule, runbook: `${monitoring.runbookBaseUrl}#${rule.alert.toLowerCase()}` });
  const calendarOf = (job: JobId) => plan.jobs.find((j) => j.id === job)?.calendar ?? "?";
  const successAge = (job: string) => `time() - ${sel("drkit_job_last_success_timestamp_seconds", job)}`;
  const failedSinceSuccess = (job: string) =>
    `${sel("drkit_job_last_failure_timestamp_seconds", job)} > ` +
    `${sel("drkit_job_last_success_timestamp_seconds", job)}`;
  const maxAgeDescription = (what: string, jobs: readonly WatchedJob[]) =>
    `The last successful ${what} of ${service} is older than its maximum age: ` +
    jobs.map((j) => `${JOB_NOUN[j]} ${formatDuration(t.maxAgeSeconds[j]!)} (schedule "${calendarOf(j)}")`).join(", ") +
    "; that is the longest interval of the schedule plus a margin for a late or slow run.";

  // One rule per severity: promtool's lint reports rules with one name and the same labels as duplicates.
  const tooOld = (jobs: readonly WatchedJob[], severity: AlertRule["severity"]) => {
    const watched = jobs.filter((job) => t.maxAgeSeconds[job] !== undefined);
    if (watched.length === 0) return;
    add({
      alert: "DrkitBackupTooOld",
      // A job that never succeeded (0) is DrkitBackupNeverSucceeded's, not an age of 56 years.
      expr: watched
        .map(
          (job) =>
            `(${successAge(job)} > ${t.maxAgeSeconds[job]} and ` +
            `${sel("drkit_job_last_success_timestamp_seconds", job)} != 0)`,
        )
        .join(" or "),
      for: pending,
      severity,
      summary:
        "{{ $labels.service }}: last {{ $labels.drkit_job }} backup succeeded {{ $value | humanizeDuration }} ago",
      description: maxAgeDescription("backup", watched),
    });
  };
  tooOld(["base"], "critical");
  tooOld(["logical", "config"], "warning");

  const baseMaxAge = t.maxAgeSeconds.base!;
  add({
    alert: "DrkitBackupNeverSucceeded",
    expr:
      `absent(${sel("drkit_job_last_success_timestamp_seconds", "base")}) or ` +
      `${sel("drkit_job_last_success_timestamp_seconds", "base")} == 0`,
    for: baseMaxAge,
    severity: "critical",
    summary: "{{ $labels.service }}: no base backup has ever succeeded",
    description:
      `Prometheus has seen no successful base backup of ${service} for ${formatDuration(baseMaxAge)} (the base ` +
      `backup's maximum age, the grace of a new stack): without one nothing can be restored.`,
  });

  const failingJobs = [
    "base",
    "logical",
    ...(t.maxAgeSeconds.config !== undefined ? ["config"] : []),
    ...(plan.redis ? ["redis"] : []),
    "prune",
    ...(plan.offsite ? ["offsite"] : []),
  ].join("|");
  add({
    alert: "DrkitBackupFailed",
    expr: failedSinceSuccess(failingJobs),
    for: 0,
    severity: "critical",
    summary: "{{ $labels.service }}: the last {{ $labels.drkit_job }} run failed at {{ $value | humanizeTimestamp }}",
    description:
      `A drkit job of ${service} (${failingJobs.replaceAll("|", ", ")}) failed after its last success. ` +
      `It stays firing until the job succeeds again.`,
  });

  add({
    alert: "DrkitBackupSizeChanged",
    expr:
      `abs(${sel("drkit_backup_size_bytes")} - ${sel("drkit_backup_previous_size_bytes")}) / ` +
      `${sel("drkit_backup_previous_size_bytes")} > ${t.sizeChangeRatio} and ` +
      `${sel("drkit_backup_previous_size_bytes")} > 0`,
    for: 0,
    severity: "warning",
    summary:
      "{{ $labels.service }}: the newest {{ $labels.drkit_job }} backup differs in size from the one before by " +
      "{{ $value | humanizePercentage }}",
    description:
      `A backup of ${service} is more than ${Math.round(t.sizeChangeRatio * 100)} % larger or smaller than the ` +
      `one before (monitoring.sizeChangeRatio): data may have been lost or bulk-loaded, or the backup is incomplete.`,
  });

  add({
    alert: "DrkitMetricsAbsent",
    expr: `absent(${sel("drkit_collector_last_run_timestamp_seconds")})`,
    for: t.metricsStaleSeconds,
    severity: "critical",
    summary: "{{ $labels.service }}: Prometheus has no drkit collector metrics",
    description:
      `No drkit_collector_last_run_timestamp_seconds for ${service} for ${formatDuration(t.metricsStaleSeconds)}: ` +
      `the collector does not run, or node_exporter does not read its textfile directory, or is not scraped. ` +
      `Every other drkit alert is blind until it is back.`,
  });
  add({
    alert: "DrkitMetricsStale",
    expr: `time() - ${sel("drkit_collector_last_run_timestamp_seconds")} > ${t.metricsStaleSeconds}`,
    for: pending,
    severity: "critical",
    summary: "{{ $labels.service }}: the drkit metrics collector last ran {{ $value | humanizeDuration }} ago",
    description:
      `The collector of ${service} has not published for more than ${formatDuration(t.metricsStaleSeconds)} ` +
      `(five collection intervals): archiving, replication and recovery-window alerts see old values.`,
  });

  add({
    alert: "DrkitPostgresDown",
    expr: `${sel("drkit_postgres_up")} == 0`,
    for: pending,
    severity: "critical",
    summary: "{{ $labels.service }}: PostgreSQL does not answer the drkit collector",
    description: `The collector of ${service} cannot query PostgreSQL: the server is down or refuses connections.`,
  });

  add({
    alert: "DrkitArchivingFailing",
    expr:
      `${sel("drkit_archive_last_failed_timestamp_seconds")} > ` +
      `${sel("drkit_archive_last_archived_timestamp_seconds")}`,
    for: pending,
    severity: "critical",
    summary:
      "{{ $labels.service }}: archive_command failed at {{ $value | humanizeTimestamp }} and has not succeeded since",
    description:
      `archive_command of ${service} fails (pg_stat_archiver): WAL piles up in pg_wal and committed changes are ` +
      `not protected beyond the last archived segment.`,
  });
  add({
    alert: "DrkitArchivingStale",
    expr:
      `(time() - ${sel("drkit_archive_oldest_ready_timestamp_seconds")}) > ${t.rpoSeconds} and ` +
      `${sel("drkit_archive_ready_segments")} > 0`,
    for: pending,
    severity: "critical",
    summary: "{{ $labels.service }}: a WAL segment has waited {{ $value | humanizeDuration }} to be archived",
    description:
      `A WAL segment of ${service} has waited for archive_command for longer than the RPO ` +
      `(${formatDuration(t.rpoSeconds)}): the RPO is being missed.`,
  });

  add({
    alert: "DrkitArchiveGapOpen",
    expr: `${sel("drkit_archive_gaps_open")} > 0`,
    for: 0,
    severity: "critical",
    summary:
      "{{ $labels.service }}: {{ $value }} WAL segment(s) were not archived and no base backup has closed the gap",
    description:
      `archive-wal of ${service} gave up segments (the local archive's filesystem was below archive.minFreeSpace or ` +
      `the archive over archive.maxSize): point-in-time recovery stops at the gap until a base backup taken after ` +
      `it completes.`,
  });

  if (plan.offsite) {
    const oldest = sel("drkit_offsite_oldest_unshipped_timestamp_seconds");
    add({
      alert: "DrkitOffsiteLagHigh",
      expr: `(time() - ${oldest}) > ${t.rpoSeconds} and ${oldest} > 0`,
      for: pending,
      severity: "critical",
      summary:
        "{{ $labels.service }}: WAL has waited {{ $value | humanizeDuration }} to reach store {{ $labels.store }}",
      description:
        `The oldest WAL file of ${service} not yet confirmed on the store was archived longer ago than the RPO ` +
        `(${formatDuration(t.rpoSeconds)}): losing the host now loses more than the RPO.`,
    });
    add({
      alert: "DrkitShipperStalled",
      expr: `time() - ${sel("drkit_offsite_state_timestamp_seconds")} > ${t.shipperStaleSeconds}`,
      for: pending,
      severity: "critical",
      summary:
        "{{ $labels.service }}: the shipper last recorded store {{ $labels.store }} " +
        "{{ $value | humanizeDuration }} ago",
      description:
        `The WAL shipper of ${service} has not recorded a pass for ${formatDuration(t.shipperStaleSeconds)}: it ` +
        `stopped or hangs, so nothing archived since is shipped, and the off-site lag alert cannot see it.`,
    });
    add({
      alert: "DrkitOffsiteContinuityLost",
      expr: `${sel("drkit_offsite_gaps_open")} > 0`,
      for: 0,
      severity: "critical",
      summary: "{{ $labels.service }}: {{ $value }} open gap(s) in the WAL on store {{ $labels.store }}",
      description:
        `WAL of ${service} was given up on the store (its backlog went over offsite.maxBacklog, or it was removed ` +
        `locally before it was shipped) and no base backup confirmed there since closes the gap: point-in-time ` +
        `recovery from the store stops at the gap.`,
    });
  }

  if (plan.replication) {
    add({
      alert: "DrkitReplicationLagHigh",
      expr: `${sel("drkit_replication_lag_seconds")} > ${t.replicationLagSeconds}`,
      for: pending,
      severity: "warning",
      summary: "{{ $labels.service }}: standby {{ $labels.standby }} replays {{ $value | humanizeDuration }} behind",
      description:
        `A standby of ${service} lags by more than ${formatDuration(t.replicationLagSeconds)} (60 % of the RPO): ` +
        `a failover to it now would lose or wait for that much.`,
    });
    add({
      alert: "DrkitReplicationLagBytesHigh",
      expr: `${sel("drkit_replication_lag_bytes")} > ${t.replicationLagBytes}`,
      for: pending,
      severity: "warning",
      summary: "{{ $labels.service }}: standby {{ $labels.standby }} has {{ $value | humanize1024 }}B of WAL to replay",
      description:
        `A standby of ${service} has more than ${formatBytes(t.replicationLagBytes)} of WAL not yet replayed ` +
        `(monitoring.replicationLagBytes).`,
    });
    add({
      alert: "DrkitReplicaNotStreaming",
      expr: `${sel("drkit_replication_streaming")} == 0`,
      for: pending,
      severity: "critical",
      summary: "{{ $labels.service }}: standby {{ $labels.standby }} is not streaming from the primary",
      description:
        `A configured standby of ${service} is not in pg_stat_replication as streaming: it falls behind, and a ` +
        `synchronous one blocks commits.`,
    });
    add({
      alert: "DrkitReplicationSlotInactive",
      expr: `${sel("drkit_replication_slot_active")} == 0`,
      for: Math.max(pending, 300),
      severity: "warning",
      summary: "{{ $labels.service }}: replication slot {{ $labels.slot }} has no consumer",
      description:
        `A replication slot of ${service} has had no standby connected for a while: it holds back WAL on the ` +
        `primary, up to replication.maxSlotWalKeepSize.`,
    });
  }

  add({
    alert: "DrkitRestoreTestFailed",
    expr: failedSinceSuccess("verify"),
    for: 0,
    severity: "critical",
    summary: "{{ $labels.service }}: the last restore test failed at {{ $value | humanizeTimestamp }}",
    description: `The newest base backup of ${service} could not be restored and checked: it may not be usable.`,
  });
  if (plan.jobs.some((j) => j.id === "tls"))
    add({
      alert: "DrkitReplicationCertificateFailing",
      expr: failedSinceSuccess("tls"),
      for: 0,
      severity: "warning",
      summary: "{{ $labels.service }}: the replication certificate check failed at {{ $value | humanizeTimestamp }}",
      description:
        `The daily check of ${service}'s replication certificate failed: a certificate given in the stack config ` +
        "expires within 30 days or no longer fits (CA, address, key), or one drkit makes could not be remade. " +
        "Standbys refuse the primary once it expires.",
    });
  add({
    alert: "DrkitRestoreTestStale",
    expr: `${successAge("verify")} > ${t.maxAgeSeconds.verify!}`,
    for: pending,
    severity: "warning",
    summary: "{{ $labels.service }}: the last successful restore test was {{ $value | humanizeDuration }} ago",
    description: maxAgeDescription("restore test", ["verify"]),
  });

  if (plan.redis) {
    add({
      alert: "DrkitRedisSnapshotTooOld",
      expr: `${successAge("redis")} > ${t.maxAgeSeconds.redis!}`,
      for: pending,
      severity: "critical",
      summary: "{{ $labels.service }}: the last Redis/Valkey snapshot succeeded {{ $value | humanizeDuration }} ago",
      description: maxAgeDescription("Redis/Valkey snapshot", ["redis"]),
    });
  }

  // The oldest retained base backup may start up to one base interval after the promised window's start (retention
  // keeps backups younger than dailyDays; a new archive's first backup runs at the next scheduled time), so the
  // base backup's maximum age is the margin.
  const windowStart = sel("drkit_recovery_window_start_timestamp_seconds");
  add({
    alert: "DrkitRecoveryWindowShort",
    expr:
      `(time() - ${windowStart}) < (clamp_max(time() - ${sel("drkit_archive_created_timestamp_seconds")}, ` +
      `${t.retentionSeconds}) - ${baseMaxAge}) and ${windowStart} > 0`,
    for: pending,
    severity: "warning",
    summary: "{{ $labels.service }}: the local recovery window is only {{ $value | humanizeDuration }}",
    description:
      `The oldest complete base backup of ${service} in the local archive is younger than the retention promises ` +
      `(${formatDuration(t.retentionSeconds)}, retention.dailyDays, or the archive's age when it is younger) less ` +
      `${formatDuration(baseMaxAge)} (one base backup interval and its margin).`,
  });
  return rules;
}

/** The rule group of a service, as Prometheus (and the Prometheus Operator's PrometheusRule) reads it. */
export function alertRuleGroup(plan: RulesSubject) {
  const rules = alertRules(plan).map((r) => ({
    alert: r.alert,
    expr: r.expr,
    for: promDuration(r.for),
    labels: { severity: r.severity, service: plan.name },
    annotations: { summary: r.summary, description: r.description, runbook_url: r.runbook },
  }));
  return { name: `drkit-${plan.name}`, rules };
}

/** The Prometheus rules file of a service: one group, drkit-<service>. */
export function renderAlertRules(plan: RulesSubject): string {
  const doc = new Document({ groups: [alertRuleGroup(plan)] });
  doc.commentBefore = ` Prometheus alert rules of drkit service ${plan.name}, rendered from its plan.`;
  return doc.toString({ lineWidth: 0 });
}
