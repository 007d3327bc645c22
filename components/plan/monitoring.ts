import { calendarMaxIntervalHours } from "./calendar";
import type { ParsedService } from "./schema";
import { parseSize } from "./size";

/** The jobs whose age is watched, with the calendar that sets how old their last success may be. */
export type WatchedJob = "base" | "logical" | "verify" | "config" | "redis";

/** Alert thresholds, derived from the objectives and the schedules (all in seconds). */
export interface AlertThresholds {
  /** The longest interval of each scheduled job whose calendar tells it. */
  readonly intervalSeconds: Readonly<Partial<Record<WatchedJob, number>>>;
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
export const collectIntervalSeconds = (rpoSeconds: number) => clamp(Math.floor(rpoSeconds / 10), 5, 60);
/** Alerts wait a tenth of the RPO (5 s to 5 min) before firing: long enough to ride out one slow scrape. */
const pendingSeconds = (rpoSeconds: number) => clamp(Math.round(rpoSeconds / 10), 5, 300);

export interface ThresholdInputs {
  readonly rpoSeconds: number;
  /** The longest interval of each scheduled job, in hours (undefined: too unusual to tell, counted as a week). */
  readonly intervalHours: Readonly<Partial<Record<WatchedJob, number | undefined>>>;
  readonly randomizedDelaySeconds: number;
  readonly retentionSeconds: number;
  readonly sizeChangeRatio: number;
  readonly replicationLagBytes: number;
}

/** Every alert threshold from the objectives and the schedules: the one place they are derived. */
export function deriveThresholds(i: ThresholdInputs): AlertThresholds {
  const interval = collectIntervalSeconds(i.rpoSeconds);
  const maxAge: Partial<Record<WatchedJob, number>> = {};
  const intervals: Partial<Record<WatchedJob, number>> = {};
  for (const [job, hours] of Object.entries(i.intervalHours) as Array<[WatchedJob, number | undefined]>) {
    maxAge[job] = maxAgeSeconds(hours ?? UNKNOWN_INTERVAL_HOURS, i.randomizedDelaySeconds);
    if (hours !== undefined) intervals[job] = hours * 3600;
  }
  return {
    intervalSeconds: intervals,
    maxAgeSeconds: maxAge,
    pendingSeconds: pendingSeconds(i.rpoSeconds),
    rpoSeconds: i.rpoSeconds,
    replicationLagSeconds: Math.max(1, Math.round(i.rpoSeconds * 0.6)),
    replicationLagBytes: i.replicationLagBytes,
    metricsStaleSeconds: 5 * interval,
    shipperStaleSeconds: Math.max(i.rpoSeconds, 300),
    retentionSeconds: i.retentionSeconds,
    sizeChangeRatio: i.sizeChangeRatio,
  };
}

export function monitoringPlan(
  service: string,
  svc: ParsedService,
  onHost: (p: string) => string,
  rpoSeconds: number,
  randomizedDelaySeconds: number,
): MonitoringPlan | undefined {
  const m = svc.monitoring;
  if (!m) return undefined;
  const hours = calendarMaxIntervalHours;
  const intervalHours: Partial<Record<WatchedJob, number | undefined>> = {
    base: hours(svc.schedule.base),
    logical: hours(svc.schedule.logical),
    verify: hours(svc.schedule.verify),
    ...(svc.configFiles.length ? { config: hours(svc.schedule.config) } : {}),
    ...(svc.redis ? { redis: hours(svc.redis.snapshot.schedule) } : {}),
  };
  return {
    textfileDirectory: onHost(m.textfileDirectory),
    rulesFile: onHost(m.rulesFile ?? `/etc/prometheus/rules/drkit-${service}.yml`),
    group: METRICS_GROUP,
    collectIntervalSeconds: collectIntervalSeconds(rpoSeconds),
    runbookBaseUrl: m.runbookBaseUrl,
    exporters: m.exporters,
    thresholds: deriveThresholds({
      rpoSeconds,
      intervalHours,
      randomizedDelaySeconds,
      retentionSeconds: svc.retention.dailyDays * 86400,
      sizeChangeRatio: m.sizeChangeRatio,
      replicationLagBytes: parseSize(m.replicationLagBytes)!,
    }),
  };
}
