import { calendarMaxIntervalHours } from "./derive";
import type { ParsedService } from "./schema";
import { parseSize } from "./size";

/** The jobs whose age is watched, with the calendar that sets how old their last success may be. */
export type WatchedJob = "base" | "logical" | "verify" | "config" | "redis";

/** Alert thresholds, derived from the objectives and the schedules (all in seconds). */
export interface AlertThresholds {
  /** How old each scheduled job's last success may be: its longest interval plus a margin (26 h for daily). */
  readonly maxAgeSeconds: Readonly<Partial<Record<WatchedJob, number>>>;
  /** How long a condition holds before most alerts fire (Prometheus `for:`). */
  readonly pendingSeconds: number;
  /** Archiving and off-site lag: the RPO. */
  readonly rpoSeconds: number;
  /** Replication lag by time: 60 % of the RPO. */
  readonly replicationLagSeconds: number;
  readonly replicationLagBytes: number;
  /** The shipper records each store's state at least every 10 s while idle and after every attempt; the RPO, or
   * 5 min (its longest back-off and a slow upload) without a new record means it no longer runs. */
  readonly shipperStaleSeconds: number;
  /** The collector's metrics are stale after five missed runs. */
  readonly metricsStaleSeconds: number;
  /** The recovery window the local retention promises (retention.dailyDays). */
  readonly retentionSeconds: number;
  readonly sizeChangeRatio: number;
}

export interface MonitoringPlan {
  /** On the host (with the sandbox prefix). */
  readonly textfileDirectory: string;
  readonly rulesFile: string;
  /** The group that may write the textfile directory: every job's user is a member. */
  readonly group: string;
  readonly collectIntervalSeconds: number;
  readonly runbookBaseUrl: string;
  readonly exporters: { readonly node: boolean; readonly postgres: boolean };
  readonly thresholds: AlertThresholds;
}

const METRICS_GROUP = "drkit-metrics";
/** Used for a calendar too unusual to tell its longest interval: a week. */
const UNKNOWN_INTERVAL_HOURS = 168;

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

/** A scheduled job may be late by a twelfth of its interval (2 h of a day), and at least its randomized delay. */
function maxAgeSeconds(intervalHours: number, randomizedDelaySeconds: number): number {
  const interval = intervalHours * 3600;
  return interval + Math.max(Math.round(interval / 12), randomizedDelaySeconds + 300);
}

/** The collector runs ten times per RPO, every 5 s to 60 s. */
const collectIntervalSeconds = (rpoSeconds: number) => clamp(Math.floor(rpoSeconds / 10), 5, 60);
/** Alerts wait a tenth of the RPO (5 s to 5 min) before firing: long enough to ride out one slow scrape. */
const pendingSeconds = (rpoSeconds: number) => clamp(Math.round(rpoSeconds / 10), 5, 300);

export function monitoringPlan(
  service: string,
  svc: ParsedService,
  onHost: (p: string) => string,
  rpoSeconds: number,
  randomizedDelaySeconds: number,
): MonitoringPlan | undefined {
  const m = svc.monitoring;
  if (!m) return undefined;
  const age = (calendar: string) =>
    maxAgeSeconds(calendarMaxIntervalHours(calendar) ?? UNKNOWN_INTERVAL_HOURS, randomizedDelaySeconds);
  const maxAge: Partial<Record<WatchedJob, number>> = {
    base: age(svc.schedule.base),
    logical: age(svc.schedule.logical),
    verify: age(svc.schedule.verify),
    ...(svc.configFiles.length ? { config: age(svc.schedule.config) } : {}),
    ...(svc.redis ? { redis: age(svc.redis.snapshot.schedule) } : {}),
  };
  const interval = collectIntervalSeconds(rpoSeconds);
  return {
    textfileDirectory: onHost(m.textfileDirectory),
    rulesFile: onHost(m.rulesFile ?? `/etc/prometheus/rules/drkit-${service}.yml`),
    group: METRICS_GROUP,
    collectIntervalSeconds: interval,
    runbookBaseUrl: m.runbookBaseUrl,
    exporters: m.exporters,
    thresholds: {
      maxAgeSeconds: maxAge,
      pendingSeconds: pendingSeconds(rpoSeconds),
      rpoSeconds,
      replicationLagSeconds: Math.max(1, Math.round(rpoSeconds * 0.6)),
      replicationLagBytes: parseSize(m.replicationLagBytes)!,
      metricsStaleSeconds: 5 * interval,
      shipperStaleSeconds: Math.max(rpoSeconds, 300),
      retentionSeconds: svc.retention.dailyDays * 86400,
      sizeChangeRatio: m.sizeChangeRatio,
    },
  };
}
