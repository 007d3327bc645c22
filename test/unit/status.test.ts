import { describe, expect, it } from "vitest";
import { formatStatus } from "../../cli/status";
import { buildPlan } from "../../components/plan/plan";
import { parseMetrics, serviceStatus } from "../../components/monitoring/status";

// drkit status: the metrics files parsed, each measurement against the threshold its alert uses.
const plan = buildPlan(
  {
    hosts: { h: { connection: { type: "local", rootPrefix: "/tmp/status" } } },
    services: {
      billing: {
        host: "h",
        rpo: "5m",
        postgres: { databases: ["app"] },
        standbys: [{ name: "replica_a", host: "h", port: 5433 }],
        offsite: { targets: ["site"] },
        monitoring: {},
      },
    },
    objectStores: {
      site: { type: "minio", endpoint: "http://127.0.0.1:9000", bucket: "drkit-b", accessKey: "k", secretKey: "s" },
    },
  },
  { baseDir: "/tmp" },
).services[0];
const now = 1_800_000_000;
const l = 'service="billing"';

function metrics(overrides: Record<string, number> = {}): string {
  const v = (key: string, value: number) => overrides[key] ?? value;
  return [
    "# HELP drkit_collector_last_run_timestamp_seconds When the collector last ran.",
    "# TYPE drkit_collector_last_run_timestamp_seconds gauge",
    `drkit_collector_last_run_timestamp_seconds{${l}} ${v("collector", now - 10)}`,
    `drkit_job_last_success_timestamp_seconds{${l},drkit_job="base"} ${v("baseOk", now - 3600)}`,
    `drkit_job_last_failure_timestamp_seconds{${l},drkit_job="base"} ${v("baseFailed", 0)}`,
    `drkit_backup_size_bytes{${l},drkit_job="base"} 20971520`,
    `drkit_job_last_success_timestamp_seconds{${l},drkit_job="verify"} ${now - 7200}`,
    `drkit_job_last_failure_timestamp_seconds{${l},drkit_job="verify"} 0`,
    `drkit_archive_ready_segments{${l}} ${v("ready", 0)}`,
    `drkit_archive_oldest_ready_timestamp_seconds{${l}} ${v("oldestReady", 0)}`,
    `drkit_archive_last_archived_timestamp_seconds{${l}} ${v("archived", now - 60)}`,
    `drkit_archive_last_failed_timestamp_seconds{${l}} 0`,
    `drkit_offsite_oldest_unshipped_timestamp_seconds{${l},store="site"} ${v("unshipped", 0)}`,
    `drkit_offsite_backlog_files{${l},store="site"} ${v("backlog", 0)}`,
    `drkit_offsite_gaps_open{${l},store="site"} 0`,
    `drkit_replication_streaming{${l},standby="replica_a"} ${v("streaming", 1)}`,
    `drkit_replication_lag_seconds{${l},standby="replica_a"} ${v("lag", 1)}`,
    `drkit_replication_lag_bytes{${l},standby="replica_a"} 4096`,
    'drkit_job_last_success_timestamp_seconds{service="other",drkit_job="base"} 0',
    "",
  ].join("\n");
}
const verdicts = (text: string) =>
  Object.fromEntries(serviceStatus(plan, parseMetrics(text), now).map((r) => [r.what, r.verdict]));

describe("drkit status", () => {
  it("parses the text format: labels with escapes, comments skipped, other services ignored", () => {
    const samples = parseMetrics('# HELP x y\nm{a="q\\"uote",b="2"} 3.5\nplain 7 1700000000\n');
    expect(samples).toEqual([
      { name: "m", labels: { a: 'q"uote', b: "2" }, value: 3.5 },
      { name: "plain", labels: {}, value: 7 },
    ]);
  });

  it("a healthy service: every line ok, against the thresholds its alerts use", () => {
    const rows = serviceStatus(plan, parseMetrics(metrics()), now);
    expect(rows.map((r) => [r.what, r.verdict])).toEqual([
      ["metrics collector", "ok"],
      ["base backup", "ok"],
      ["logical backup", "unknown"],
      ["restore test", "ok"],
      ["WAL archiving", "ok"],
      ["off-site site", "ok"],
      ["replica replica_a", "ok"],
    ]);
    expect(rows[1]).toMatchObject({ value: "last success 60m ago (20.0 MiB)", objective: "within 26.0h" });
    expect(rows[6].objective).toBe("within 3m (60 % of RPO)");
    expect(formatStatus(rows).split("\n")[0]).toMatch(/^service +what +measured +objective +verdict$/);
  });

  it("each broken objective is an ALERT", () => {
    expect(verdicts(metrics({ baseFailed: now - 60 }))).toMatchObject({ "base backup": "ALERT" });
    expect(verdicts(metrics({ baseOk: now - 27 * 3600 }))).toMatchObject({ "base backup": "ALERT" });
    expect(verdicts(metrics({ collector: now - 600 }))).toMatchObject({ "metrics collector": "ALERT" });
    expect(verdicts(metrics({ ready: 3, oldestReady: now - 400 }))).toMatchObject({ "WAL archiving": "ALERT" });
    expect(verdicts(metrics({ unshipped: now - 301, backlog: 4 }))).toMatchObject({ "off-site site": "ALERT" });
    expect(verdicts(metrics({ streaming: 0 }))).toMatchObject({ "replica replica_a": "ALERT" });
    expect(verdicts(metrics({ lag: 200 }))).toMatchObject({ "replica replica_a": "ALERT" });
  });

  it("an idle server's first segment in a while is not stale: only how long it has waited counts", () => {
    const idle = metrics({ ready: 1, oldestReady: now - 2, archived: now - 3600 });
    expect(verdicts(idle)).toMatchObject({ "WAL archiving": "ok" });
  });

  it("a service without monitoring is named", () => {
    const bare = { ...plan, monitoring: undefined };
    expect(() => serviceStatus(bare, [], now)).toThrow(/service billing has no monitoring section/);
  });
});
