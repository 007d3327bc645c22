import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { alertRules, renderAlertRules, type AlertRule } from "../../components/monitoring/rules";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { HOST_KEY } from "../helpers/hostKeys";
import { serverTlsPems } from "../helpers/testCa";

// The rendered rules under Prometheus's own tools: `promtool check rules`, then `promtool test rules` with, for every
// alert, input series that make it fire (labels and annotations checked) and healthy ones that keep it quiet.
// promtool's clock starts at 0, so a timestamp series of -100 is "100 s before the test began".

const SERVICE = "billing";
/** The input series' interval and the rules' evaluation interval (seconds). */
const STEP = 60;

function planWithEverything(): ServicePlan {
  return buildPlan(
    {
      hosts: {
        db1: { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } },
        db2: { connection: { type: "ssh", host: "10.0.0.2", hostKey: HOST_KEY } },
      },
      services: {
        [SERVICE]: {
          host: "db1",
          postgres: { databases: ["billing"] },
          rpo: "1m",
          schedule: { base: "hourly", logical: "hourly", verify: "hourly", config: "hourly", randomizedDelay: "0s" },
          retention: { dailyDays: 1 },
          configFiles: ["/etc/billing/app.env"],
          redis: {},
          standbys: [{ name: "s1", host: "db2" }],
          replication: { tls: serverTlsPems({ ips: ["10.0.0.1"] }) },
          offsite: { targets: ["site-a"] },
          monitoring: {},
        },
      },
      objectStores: {
        "site-a": {
          type: "minio",
          endpoint: "https://minio.example.com:9000",
          bucket: "drkit-billing",
          accessKey: "k",
          secretKey: "s",
        },
      },
    },
    { baseDir: "/srv/project" },
  ).services[0];
}

// ---- Prometheus's template functions, for the annotations promtool compares ----------------------------------

/** Go's %.4g for the magnitudes these tests use (no exponent form). */
function g4(v: number): string {
  if (v !== 0 && (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-4)) throw new Error(`%.4g of ${v} needs the exponent form`);
  return String(Number(v.toPrecision(4)));
}

const TEMPLATE_FUNCTIONS: Record<string, (v: number) => string> = {
  humanizeDuration: (v) => {
    if (v === 0) return "0s";
    if (!Number.isInteger(v) || v < 0) throw new Error(`humanizeDuration of ${v} is not covered here`);
    const [d, h, m, s] = [Math.floor(v / 86400), Math.floor(v / 3600) % 24, Math.floor(v / 60) % 60, v % 60];
    if (d) return `${d}d ${h}h ${m}m ${s}s`;
    if (h) return `${h}h ${m}m ${s}s`;
    if (m) return `${m}m ${s}s`;
    return `${g4(s)}s`;
  },
  humanizeTimestamp: (v) => {
    if (!Number.isInteger(v)) throw new Error(`humanizeTimestamp of ${v} is not covered here`);
    return new Date(v * 1000)
      .toISOString()
      .replace("T", " ")
      .replace(/\.000Z$/, " +0000 UTC");
  },
  humanizePercentage: (v) => `${g4(v * 100)}%`,
  humanize1024: (v) => {
    if (Math.abs(v) <= 1) return g4(v);
    let prefix = "";
    for (const p of ["ki", "Mi", "Gi", "Ti", "Pi"]) {
      if (Math.abs(v) < 1024) break;
      prefix = p;
      v /= 1024;
    }
    return `${g4(v)}${prefix}`;
  },
};

/** Expands the template forms the rules use: {{ $labels.x }}, {{ $value }} and {{ $value | function }}. */
function expand(template: string, labels: Record<string, string>, value: number): string {
  return template.replace(/\{\{\s*(.*?)\s*\}\}/g, (_, inner: string) => {
    const [head, ...pipes] = inner.split("|").map((s) => s.trim());
    if (head.startsWith("$labels.")) {
      const label = labels[head.slice("$labels.".length)];
      if (label === undefined || pipes.length) throw new Error(`cannot expand {{ ${inner} }} for ${stringify(labels)}`);
      return label;
    }
    if (head !== "$value" || pipes.length > 1) throw new Error(`cannot expand {{ ${inner} }}`);
    if (pipes.length === 0) {
      if (!Number.isInteger(value)) throw new Error(`{{ $value }} of ${value} is not covered here`);
      return String(value);
    }
    const fn = TEMPLATE_FUNCTIONS[pipes[0]];
    if (!fn) throw new Error(`template function ${pipes[0]} is not covered here`);
    return fn(value);
  });
}

// ---- Scenarios ----------------------------------------------------------------------------------------------------

/** A metric, its labels besides service="billing", and its value: a constant, or FRESH. */
type Series = { metric: string; labels?: Record<string, string>; values: number | typeof FRESH };
/** A timestamp that keeps up with the clock: a job or the collector that just ran. */
const FRESH = "fresh";
/** An alert a case expects: its series labels (besides service), its value at the evaluation, its severity. */
type Expected = { labels?: Record<string, string>; value: number; severity?: AlertRule["severity"] };
interface Case {
  readonly what: string;
  /** When this case is evaluated, if not when its scenario is. */
  readonly at?: number;
  readonly series: readonly Series[];
  readonly expect: readonly Expected[];
}
interface Scenario {
  /** When the cases are evaluated (seconds), if later than two steps after the alert's `for:`. */
  readonly at?: number;
  readonly fire: readonly Case[];
  readonly quiet: readonly Case[];
}

const job = (name: string, metric: string, values: Series["values"]): Series => ({
  metric: `drkit_job_${metric}`,
  labels: { drkit_job: name },
  values,
});
const backup = (name: string, metric: string, values: number): Series => ({
  metric: `drkit_backup_${metric}`,
  labels: { drkit_job: name },
  values,
});
const collector = (metric: string, values: Series["values"], labels?: Record<string, string>): Series => ({
  metric: `drkit_${metric}`,
  labels,
  values,
});

/**
 * Every alert's cases, evaluated at `now` (seconds since promtool's start) unless the scenario or case says `at`.
 * A series written as a number is constant.
 */
function scenarios(plan: ServicePlan, now: (alert: string) => number): Record<string, Scenario> {
  const t = plan.monitoring!.thresholds;
  const maxAge = (j: "base" | "logical" | "config" | "verify" | "redis") => t.maxAgeSeconds[j]!;
  const failingJobs = ["base", "logical", "config", "redis", "prune", "offsite"];
  const base = maxAge("base");
  const windowAt = Math.ceil((t.retentionSeconds + 2 * base) / STEP) * STEP;
  return {
    DrkitBackupTooOld: {
      fire: [
        {
          what: "every backup's last success is older than its maximum age",
          series: (["base", "logical", "config"] as const).map((j) =>
            job(j, "last_success_timestamp_seconds", -(maxAge(j) + 100)),
          ),
          expect: (["base", "logical", "config"] as const).map((j) => ({
            labels: { drkit_job: j },
            value: now("DrkitBackupTooOld") + maxAge(j) + 100,
            severity: j === "base" ? "critical" : "warning",
          })),
        },
      ],
      quiet: [
        {
          what: "every backup succeeded a minute in",
          series: ["base", "logical", "config"].map((j) => job(j, "last_success_timestamp_seconds", 60)),
          expect: [],
        },
        {
          what: "backups that never succeeded (0), long after every maximum age: DrkitBackupNeverSucceeded's",
          at: Math.ceil((Math.max(base, maxAge("logical"), maxAge("config")) + 600) / STEP) * STEP,
          series: ["base", "logical", "config"].map((j) => job(j, "last_success_timestamp_seconds", 0)),
          expect: [],
        },
      ],
    },
    DrkitBackupNeverSucceeded: {
      fire: [
        {
          what: "no base backup metrics at all",
          series: [collector("postgres_up", 1)],
          expect: [{ labels: { drkit_job: "base" }, value: 1 }],
        },
        {
          what: "base backups ran but none succeeded (0)",
          series: [job("base", "last_success_timestamp_seconds", 0)],
          expect: [{ labels: { drkit_job: "base" }, value: 0 }],
        },
      ],
      quiet: [
        { what: "a base backup succeeded", series: [job("base", "last_success_timestamp_seconds", 100)], expect: [] },
      ],
    },
    DrkitBackupFailed: {
      fire: [
        {
          what: "every job failed after its last success",
          series: failingJobs.flatMap((j) => [
            job(j, "last_failure_timestamp_seconds", 200),
            job(j, "last_success_timestamp_seconds", 100),
          ]),
          expect: failingJobs.map((j) => ({ labels: { drkit_job: j }, value: 200 })),
        },
      ],
      quiet: [
        {
          what: "every job succeeded after its last failure or never failed; the restore test is another alert's",
          series: [
            ...failingJobs.flatMap((j) => [
              job(j, "last_failure_timestamp_seconds", j === "base" ? 0 : 100),
              job(j, "last_success_timestamp_seconds", 200),
            ]),
            job("verify", "last_failure_timestamp_seconds", 200),
            job("verify", "last_success_timestamp_seconds", 100),
          ],
          expect: [],
        },
      ],
    },
    DrkitBackupSizeChanged: {
      fire: [
        {
          what: "a base backup three times and a logical one 60 % the size of the one before",
          series: [
            backup("base", "size_bytes", 300),
            backup("base", "previous_size_bytes", 100),
            backup("logical", "size_bytes", 40),
            backup("logical", "previous_size_bytes", 100),
          ],
          expect: [
            { labels: { drkit_job: "base" }, value: 2 },
            { labels: { drkit_job: "logical" }, value: 0.6 },
          ],
        },
      ],
      quiet: [
        {
          what: "a 20 % change, and a first backup (previous size 0)",
          series: [
            backup("base", "size_bytes", 120),
            backup("base", "previous_size_bytes", 100),
            backup("logical", "size_bytes", 100),
            backup("logical", "previous_size_bytes", 0),
          ],
          expect: [],
        },
      ],
    },
    DrkitMetricsAbsent: {
      fire: [
        {
          what: "no collector metrics, only a job's",
          series: [job("base", "last_success_timestamp_seconds", 100)],
          expect: [{ value: 1 }],
        },
      ],
      quiet: [
        {
          what: "the collector publishes",
          series: [collector("collector_last_run_timestamp_seconds", FRESH)],
          expect: [],
        },
      ],
    },
    DrkitMetricsStale: {
      fire: [
        {
          what: "the collector stopped before the test began",
          series: [collector("collector_last_run_timestamp_seconds", -100)],
          expect: [{ value: now("DrkitMetricsStale") + 100 }],
        },
      ],
      quiet: [
        {
          what: "the collector publishes",
          series: [collector("collector_last_run_timestamp_seconds", FRESH)],
          expect: [],
        },
      ],
    },
    DrkitPostgresDown: {
      fire: [{ what: "PostgreSQL does not answer", series: [collector("postgres_up", 0)], expect: [{ value: 0 }] }],
      quiet: [{ what: "PostgreSQL answers", series: [collector("postgres_up", 1)], expect: [] }],
    },
    DrkitArchiveGapOpen: {
      fire: [{ what: "one open gap", series: [collector("archive_gaps_open", 1)], expect: [{ value: 1 }] }],
      quiet: [{ what: "no open gap", series: [collector("archive_gaps_open", 0)], expect: [] }],
    },
    DrkitArchivingFailing: {
      fire: [
        {
          what: "archive_command failed after the last archived segment",
          series: [
            collector("archive_last_failed_timestamp_seconds", 200),
            collector("archive_last_archived_timestamp_seconds", 100),
          ],
          expect: [{ value: 200 }],
        },
      ],
      quiet: [
        {
          what: "archived after the last failure",
          series: [
            collector("archive_last_failed_timestamp_seconds", 100),
            collector("archive_last_archived_timestamp_seconds", 200),
          ],
          expect: [],
        },
        {
          what: "a new cluster: never archived, never failed",
          series: [
            collector("archive_last_failed_timestamp_seconds", 0),
            collector("archive_last_archived_timestamp_seconds", 0),
          ],
          expect: [],
        },
      ],
    },
    DrkitArchivingStale: {
      fire: [
        {
          what: "a segment has waited for archive_command for longer than the RPO",
          series: [collector("archive_oldest_ready_timestamp_seconds", -100), collector("archive_ready_segments", 3)],
          expect: [{ value: now("DrkitArchivingStale") + 100 }],
        },
      ],
      quiet: [
        {
          what: "an idle server: nothing archived for long, nothing waiting",
          series: [collector("archive_oldest_ready_timestamp_seconds", 0), collector("archive_ready_segments", 0)],
          expect: [],
        },
        {
          what: "an idle server's first segment in a while: archived long ago, but it has only just become ready",
          series: [
            collector("archive_last_archived_timestamp_seconds", -100),
            collector("archive_oldest_ready_timestamp_seconds", FRESH),
            collector("archive_ready_segments", 1),
          ],
          expect: [],
        },
      ],
    },
    DrkitOffsiteLagHigh: {
      fire: [
        {
          what: "the oldest unshipped file is older than the RPO",
          series: [collector("offsite_oldest_unshipped_timestamp_seconds", 10, { store: "site-a" })],
          expect: [{ labels: { store: "site-a" }, value: now("DrkitOffsiteLagHigh") - 10 }],
        },
      ],
      quiet: [
        {
          what: "nothing waits",
          series: [collector("offsite_oldest_unshipped_timestamp_seconds", 0, { store: "site-a" })],
          expect: [],
        },
        {
          what: "the oldest unshipped file was just archived",
          series: [collector("offsite_oldest_unshipped_timestamp_seconds", FRESH, { store: "site-a" })],
          expect: [],
        },
      ],
    },
    DrkitShipperStalled: {
      // Past the 5 min the shipper may go without a record.
      at: 600,
      fire: [
        {
          what: "the shipper recorded nothing since before the test began",
          series: [collector("offsite_state_timestamp_seconds", -100, { store: "site-a" })],
          expect: [{ labels: { store: "site-a" }, value: 600 + 100 }],
        },
      ],
      quiet: [
        {
          what: "the shipper records its passes",
          series: [collector("offsite_state_timestamp_seconds", FRESH, { store: "site-a" })],
          expect: [],
        },
      ],
    },
    DrkitOffsiteContinuityLost: {
      fire: [
        {
          what: "two open gaps",
          series: [collector("offsite_gaps_open", 2, { store: "site-a" })],
          expect: [{ labels: { store: "site-a" }, value: 2 }],
        },
      ],
      quiet: [{ what: "no open gap", series: [collector("offsite_gaps_open", 0, { store: "site-a" })], expect: [] }],
    },
    DrkitReplicationLagHigh: {
      fire: [
        {
          what: "the standby replays 100 s behind",
          series: [collector("replication_lag_seconds", t.replicationLagSeconds + 64, { standby: "s1" })],
          expect: [{ labels: { standby: "s1" }, value: t.replicationLagSeconds + 64 }],
        },
      ],
      quiet: [
        {
          what: "the standby keeps up",
          series: [collector("replication_lag_seconds", 1, { standby: "s1" })],
          expect: [],
        },
      ],
    },
    DrkitReplicationLagBytesHigh: {
      fire: [
        {
          what: "the standby has 300 MiB to replay",
          series: [collector("replication_lag_bytes", 300 * 2 ** 20, { standby: "s1" })],
          expect: [{ labels: { standby: "s1" }, value: 300 * 2 ** 20 }],
        },
      ],
      quiet: [
        {
          what: "the standby has 1 MiB to replay",
          series: [collector("replication_lag_bytes", 2 ** 20, { standby: "s1" })],
          expect: [],
        },
      ],
    },
    DrkitReplicaNotStreaming: {
      fire: [
        {
          what: "the standby does not stream",
          series: [collector("replication_streaming", 0, { standby: "s1" })],
          expect: [{ labels: { standby: "s1" }, value: 0 }],
        },
      ],
      quiet: [
        {
          what: "the standby streams",
          series: [collector("replication_streaming", 1, { standby: "s1" })],
          expect: [],
        },
      ],
    },
    DrkitReplicationSlotInactive: {
      fire: [
        {
          what: "the slot has no consumer",
          series: [collector("replication_slot_active", 0, { slot: "drkit_s1" })],
          expect: [{ labels: { slot: "drkit_s1" }, value: 0 }],
        },
      ],
      quiet: [
        {
          what: "the slot has a consumer",
          series: [collector("replication_slot_active", 1, { slot: "drkit_s1" })],
          expect: [],
        },
      ],
    },
    DrkitRestoreTestFailed: {
      fire: [
        {
          what: "the restore test failed after its last success",
          series: [
            job("verify", "last_failure_timestamp_seconds", 200),
            job("verify", "last_success_timestamp_seconds", 100),
          ],
          expect: [{ labels: { drkit_job: "verify" }, value: 200 }],
        },
      ],
      quiet: [
        {
          what: "the restore test succeeded after its last failure; a failed base backup is another alert's",
          series: [
            job("verify", "last_failure_timestamp_seconds", 100),
            job("verify", "last_success_timestamp_seconds", 200),
            job("base", "last_failure_timestamp_seconds", 200),
            job("base", "last_success_timestamp_seconds", 100),
          ],
          expect: [],
        },
      ],
    },
    DrkitReplicationCertificateFailing: {
      fire: [
        {
          what: "the certificate check failed after its last success",
          series: [
            job("tls", "last_failure_timestamp_seconds", 200),
            job("tls", "last_success_timestamp_seconds", 100),
          ],
          expect: [{ labels: { drkit_job: "tls" }, value: 200 }],
        },
      ],
      quiet: [
        {
          what: "the check succeeded after its last failure",
          series: [
            job("tls", "last_failure_timestamp_seconds", 100),
            job("tls", "last_success_timestamp_seconds", 200),
          ],
          expect: [],
        },
      ],
    },
    DrkitRestoreTestStale: {
      fire: [
        {
          what: "the last successful restore test is older than its maximum age",
          series: [job("verify", "last_success_timestamp_seconds", -(maxAge("verify") + 100))],
          expect: [{ labels: { drkit_job: "verify" }, value: now("DrkitRestoreTestStale") + maxAge("verify") + 100 }],
        },
      ],
      quiet: [
        {
          what: "a restore test succeeded a minute in",
          series: [job("verify", "last_success_timestamp_seconds", 60)],
          expect: [],
        },
      ],
    },
    DrkitRedisSnapshotTooOld: {
      fire: [
        {
          what: "the last snapshot is older than its maximum age",
          series: [job("redis", "last_success_timestamp_seconds", -(maxAge("redis") + 100))],
          expect: [{ labels: { drkit_job: "redis" }, value: now("DrkitRedisSnapshotTooOld") + maxAge("redis") + 100 }],
        },
      ],
      quiet: [
        {
          what: "a snapshot succeeded a minute in",
          series: [job("redis", "last_success_timestamp_seconds", 60)],
          expect: [],
        },
      ],
    },
    DrkitRecoveryWindowShort: {
      // Past the retention (a day here), so that it, not the archive's age, bounds the promised window.
      at: windowAt,
      fire: [
        {
          what: "an archive older than the retention whose oldest base backup started 5000 s ago",
          series: [
            collector("archive_created_timestamp_seconds", 1),
            collector("recovery_window_start_timestamp_seconds", windowAt - 5000),
          ],
          expect: [{ value: 5000 }],
        },
      ],
      quiet: [
        {
          what: "an archive older than the retention whose window covers it",
          series: [
            collector("archive_created_timestamp_seconds", 1),
            collector("recovery_window_start_timestamp_seconds", 2),
          ],
          expect: [],
        },
        {
          what: "a new archive whose first base backup ran a little less than a base interval after it was claimed",
          series: [
            collector("archive_created_timestamp_seconds", windowAt - 5000),
            collector("recovery_window_start_timestamp_seconds", windowAt - 5000 + base - 200),
          ],
          expect: [],
        },
        {
          // Early, with an old archive: time() - 0 would be shorter than the promise.
          what: "an old archive without a base backup",
          at: 5 * STEP,
          series: [
            collector("archive_created_timestamp_seconds", -(t.retentionSeconds + 100_000)),
            collector("recovery_window_start_timestamp_seconds", 0),
          ],
          expect: [],
        },
      ],
    },
  };
}

// ---- The promtool test file ---------------------------------------------------------------------------------------

/** Evaluated two steps after the longest `for:` of the alert's rules, so that a firing alert has fired. */
function evalSeconds(rules: readonly AlertRule[], alert: string): number {
  const longest = Math.max(...rules.filter((r) => r.alert === alert).map((r) => r.for));
  return (Math.ceil(longest / STEP) + 2) * STEP;
}

function selector(s: Series): string {
  const labels = Object.entries({ service: SERVICE, ...s.labels }).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${s.metric}{${labels.join(",")}}`;
}

function promtoolTests(plan: ServicePlan, rulesFile: string) {
  const rules = alertRules(plan);
  const all = scenarios(plan, (alert) => evalSeconds(rules, alert));
  const tests = Object.entries(all).flatMap(([alert, scenario]) => {
    const testOf = (c: Case, kind: string) => {
      const at = c.at ?? scenario.at ?? evalSeconds(rules, alert);
      if (at < evalSeconds(rules, alert)) throw new Error(`${alert} is evaluated before its for: has passed`);
      const steps = at / STEP + 5;
      return {
        name: `${alert} ${kind}: ${c.what}`,
        interval: `${STEP}s`,
        input_series: c.series.map((s) => ({
          series: selector(s),
          values: s.values === FRESH ? `0+${STEP}x${steps}` : `${s.values}+0x${steps}`,
        })),
        alert_rule_test: [
          {
            eval_time: `${at}s`,
            alertname: alert,
            exp_alerts: c.expect.map((e) => {
              const candidates = rules.filter((r) => r.alert === alert && (!e.severity || r.severity === e.severity));
              if (candidates.length !== 1)
                throw new Error(`${alert}: ${candidates.length} rules match ${stringify(e)}`);
              const rule = candidates[0];
              const seriesLabels = { service: SERVICE, ...e.labels };
              return {
                exp_labels: { ...seriesLabels, severity: rule.severity },
                exp_annotations: {
                  summary: expand(rule.summary, seriesLabels, e.value),
                  description: expand(rule.description, seriesLabels, e.value),
                  runbook_url: rule.runbook,
                },
              };
            }),
          },
        ],
      };
    };
    return [...scenario.fire.map((c) => testOf(c, "fires")), ...scenario.quiet.map((c) => testOf(c, "stays quiet"))];
  });
  return { rule_files: [rulesFile], evaluation_interval: `${STEP}s`, tests };
}

// ---- The tests ----------------------------------------------------------------------------------------------------

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-alert-rules-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const promtool = (...args: string[]) => spawnSync("promtool", args, { cwd: dir, encoding: "utf8" });

describe("the alert rules under promtool", () => {
  const plan = planWithEverything();

  it("the plan's thresholds are the ones the scenarios are written for", () => {
    const t = plan.monitoring!.thresholds;
    expect(t.maxAgeSeconds).toEqual({ base: 3900, logical: 3900, verify: 3900, config: 3900, redis: 3900 });
    expect(t).toMatchObject({
      pendingSeconds: 6,
      rpoSeconds: 60,
      replicationLagSeconds: 36,
      replicationLagBytes: 256 * 2 ** 20,
      metricsStaleSeconds: 30,
      retentionSeconds: 86400,
      sizeChangeRatio: 0.5,
    });
  });

  it("promtool check rules accepts the rendered file, lint included", () => {
    fs.writeFileSync(path.join(dir, "rules.yml"), renderAlertRules(plan));
    const r = promtool("check", "rules", "--lint=all", "--lint-fatal", "rules.yml");
    expect(r.error).toBeUndefined();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${alertRules(plan).length} rules found`);
  });

  it("every alert has a case that fires it and one that keeps it quiet", () => {
    const names = new Set(alertRules(plan).map((r) => r.alert));
    const all = scenarios(plan, () => 0);
    expect(Object.keys(all).sort()).toEqual([...names].sort());
    const file = parse(stringify(promtoolTests(plan, "rules.yml"))) as ReturnType<typeof promtoolTests>;
    for (const name of names) {
      const tests = file.tests.filter((t) => t.alert_rule_test[0].alertname === name);
      expect(
        tests.some((t) => t.alert_rule_test[0].exp_alerts.length > 0),
        `${name} fires`,
      ).toBe(true);
      expect(
        tests.some((t) => t.alert_rule_test[0].exp_alerts.length === 0),
        `${name} stays quiet`,
      ).toBe(true);
    }
  });

  it("promtool test rules: each alert fires on its cases with the predicted labels and annotations", () => {
    fs.writeFileSync(path.join(dir, "rules.yml"), renderAlertRules(plan));
    fs.writeFileSync(path.join(dir, "tests.yml"), stringify(promtoolTests(plan, "rules.yml"), { lineWidth: 0 }));
    const r = promtool("test", "rules", "tests.yml");
    expect(r.error).toBeUndefined();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain("SUCCESS");
  });

  it("promtool test rules is real: a rule with a wrong threshold fails", () => {
    const rules = renderAlertRules(plan).replace(/(drkit_postgres_up\{[^}]*\}) == 0/, "$1 == 2");
    expect(rules).not.toBe(renderAlertRules(plan));
    fs.writeFileSync(path.join(dir, "broken.yml"), rules);
    const file = promtoolTests(plan, "broken.yml");
    const tests = file.tests.filter((t) => t.alert_rule_test[0].alertname === "DrkitPostgresDown");
    fs.writeFileSync(path.join(dir, "broken-tests.yml"), stringify({ ...file, tests }));
    const r = promtool("test", "rules", "broken-tests.yml");
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("DrkitPostgresDown");
  });
});
