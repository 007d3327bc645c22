import type { ServicePlan } from "../plan/plan";

/** One series of a Prometheus text-format file (or of a Prometheus query result). */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SERIES = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text format; comment lines and lines that are not series are skipped. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = SERIES.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? "").matchAll(LABEL)) labels[key] = value.replace(/\\(.)/g, "$1");
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

export type Verdict = "ok" | "ALERT" | "unknown";

/** One line of `drkit status`: what is measured, against what objective, and whether it breaks it. */
export interface StatusRow {
  readonly service: string;
  readonly what: string;
  readonly value: string;
  readonly objective: string;
  readonly verdict: Verdict;
}

const ago = (seconds: number) => {
  if (seconds < 120) return `${Math.round(seconds)}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)}h ago`;
  return `${(seconds / 86400).toFixed(1)}d ago`;
};
const span = (seconds: number) => ago(seconds).replace(" ago", "");

/**
 * The status of one service from its metrics at `now` (seconds): backup ages, archiving, off-site lag, the
 * last restore test and replica lag, each against the threshold its alert uses.
 */
export function serviceStatus(plan: ServicePlan, samples: readonly Sample[], now: number): StatusRow[] {
  const m = plan.monitoring;
  if (!m) throw new Error(`service ${plan.name} has no monitoring section: it publishes no metrics`);
  const t = m.thresholds;
  const mine = samples.filter((s) => s.labels.service === plan.name);
  const find = (name: string, labels: Record<string, string> = {}) =>
    mine.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  const rows: StatusRow[] = [];
  const row = (what: string, value: string, objective: string, verdict: Verdict) =>
    rows.push({ service: plan.name, what, value, objective, verdict });

  const collected = find("drkit_collector_last_run_timestamp_seconds");
  row(
    "metrics collector",
    collected ? `ran ${ago(now - collected.value)}` : "no metrics",
    `within ${span(t.metricsStaleSeconds)}`,
    collected ? (now - collected.value <= t.metricsStaleSeconds ? "ok" : "ALERT") : "unknown",
  );
  for (const [job, maxAge] of Object.entries(t.maxAgeSeconds)) {
    const success = find("drkit_job_last_success_timestamp_seconds", { drkit_job: job });
    const failure = find("drkit_job_last_failure_timestamp_seconds", { drkit_job: job });
    const what = job === "verify" ? "restore test" : job === "redis" ? "redis snapshot" : `${job} backup`;
    if (!success || success.value === 0) {
      row(what, failure?.value ? `failed ${ago(now - failure.value)}, never succeeded` : "never ran", "", "unknown");
      continue;
    }
    const failed = (failure?.value ?? 0) > success.value;
    const size = find("drkit_backup_size_bytes", { drkit_job: job });
    const value =
      `${failed ? `FAILED ${ago(now - failure!.value)}; ` : ""}last success ${ago(now - success.value)}` +
      (size ? ` (${(size.value / 1024 ** 2).toFixed(1)} MiB)` : "");
    row(what, value, `within ${span(maxAge)}`, !failed && now - success.value <= maxAge ? "ok" : "ALERT");
  }
  const ready = find("drkit_archive_ready_segments");
  const oldestReady = find("drkit_archive_oldest_ready_timestamp_seconds")?.value ?? 0;
  const archived = find("drkit_archive_last_archived_timestamp_seconds");
  const lastFailed = find("drkit_archive_last_failed_timestamp_seconds");
  if (ready && archived) {
    const failing = (lastFailed?.value ?? 0) > archived.value;
    const stale = ready.value > 0 && oldestReady > 0 && now - oldestReady > t.rpoSeconds;
    row(
      "WAL archiving",
      `${ready.value} waiting${ready.value && oldestReady ? ` (oldest ready ${ago(now - oldestReady)})` : ""}; ` +
        `last archived ${archived.value ? ago(now - archived.value) : "never"}` +
        (failing ? "; FAILING" : ""),
      `within ${span(t.rpoSeconds)} (RPO)`,
      failing || stale ? "ALERT" : "ok",
    );
  }
  for (const oldest of mine.filter((s) => s.name === "drkit_offsite_oldest_unshipped_timestamp_seconds")) {
    const store = oldest.labels.store;
    const backlog = find("drkit_offsite_backlog_files", { store })?.value ?? 0;
    const lag = oldest.value > 0 ? now - oldest.value : 0;
    const gaps = find("drkit_offsite_gaps_open", { store })?.value ?? 0;
    row(
      `off-site ${store}`,
      `lag ${span(lag)}, ${backlog} file(s) waiting${gaps ? `, ${gaps} OPEN gap(s)` : ""}`,
      `within ${span(t.rpoSeconds)} (RPO)`,
      lag > t.rpoSeconds || gaps > 0 ? "ALERT" : "ok",
    );
  }
  for (const streaming of mine.filter((s) => s.name === "drkit_replication_streaming")) {
    const standby = streaming.labels.standby;
    const lag = find("drkit_replication_lag_seconds", { standby })?.value;
    const bytes = find("drkit_replication_lag_bytes", { standby })?.value;
    const late = (lag ?? 0) > t.replicationLagSeconds || (bytes ?? 0) > t.replicationLagBytes;
    row(
      `replica ${standby}`,
      streaming.value ? `streaming, lag ${span(lag ?? 0)} / ${bytes ?? 0} bytes` : "NOT streaming",
      `within ${span(t.replicationLagSeconds)} (60 % of RPO)`,
      streaming.value && !late ? "ok" : "ALERT",
    );
  }
  return rows;
}
