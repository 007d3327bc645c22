import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { alertRules, renderAlertRules } from "../../components/monitoring/rules";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { HOST_KEY } from "../helpers/hostKeys";
import { serverTlsPems } from "../helpers/testCa";

type Config = { hosts: Record<string, any>; services: Record<string, any>; objectStores: Record<string, any> };

/** Service billing on one SSH host, with monitoring and nothing optional. */
const minimal = (): Config => ({
  hosts: {
    db1: { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } },
    db2: { connection: { type: "ssh", host: "10.0.0.2", hostKey: HOST_KEY } },
  },
  services: { billing: { host: "db1", postgres: { databases: ["billing"] }, monitoring: {} } },
  objectStores: {},
});

/** Replication to db2 crosses a network: TLS with a certificate for db1's address. */
const PRIMARY_TLS = serverTlsPems({ ips: ["10.0.0.1"] });

/** Each optional part of a service, added to a config. */
const ADD: Record<"offsite" | "replication" | "redis", (c: Config) => void> = {
  offsite: (c) => {
    c.services.billing.offsite = { targets: ["site-a"] };
    c.objectStores["site-a"] = {
      type: "minio",
      endpoint: "https://minio.example.com:9000",
      bucket: "drkit-billing",
      accessKey: "k",
      secretKey: "s",
    };
  },
  replication: (c) => {
    c.services.billing.standbys = [{ name: "s1", host: "db2" }];
    c.services.billing.replication = { tls: PRIMARY_TLS };
  },
  redis: (c) => (c.services.billing.redis = {}),
};
const withEverything = (c: Config) => {
  c.services.billing.configFiles = ["/etc/billing/app.env"];
  for (const add of Object.values(ADD)) add(c);
};

function planOf(...mutations: Array<(c: Config) => void>): ServicePlan {
  const config = minimal();
  for (const mutate of mutations) mutate(config);
  return buildPlan(config, { baseDir: "/srv/project" }).services[0];
}

const names = (plan: ServicePlan) => new Set(alertRules(plan).map((r) => r.alert));
const rule = (plan: ServicePlan, alert: string, severity?: string) => {
  const found = alertRules(plan).filter((r) => r.alert === alert && (!severity || r.severity === severity));
  expect(found, `${alert} ${severity ?? ""}`).toHaveLength(1);
  return found[0];
};

const OPTIONAL = {
  offsite: ["DrkitOffsiteLagHigh", "DrkitOffsiteContinuityLost"],
  replication: [
    "DrkitReplicationLagHigh",
    "DrkitReplicationLagBytesHigh",
    "DrkitReplicaNotStreaming",
    "DrkitReplicationSlotInactive",
  ],
  redis: ["DrkitRedisSnapshotTooOld"],
};

describe("alert rules derived from the plan", () => {
  it("a daily base backup may be 26 h old (24 h and a twelfth), and a new stack gets that long", () => {
    const plan = planOf();
    expect(plan.monitoring!.thresholds.maxAgeSeconds.base).toBe(93600);
    const tooOld = rule(plan, "DrkitBackupTooOld", "critical");
    expect(tooOld.expr).toBe(
      '(time() - drkit_job_last_success_timestamp_seconds{service="billing",drkit_job="base"} > 93600 and ' +
        'drkit_job_last_success_timestamp_seconds{service="billing",drkit_job="base"} != 0)',
    );
    expect(rule(plan, "DrkitBackupNeverSucceeded").for).toBe(93600);
    // The weekly logical backup: 168 h and a twelfth.
    expect(rule(plan, "DrkitBackupTooOld", "warning").expr).toContain('drkit_job="logical"} > 655200');
    const rendered = parse(renderAlertRules(plan)).groups[0].rules;
    expect(rendered.find((r: any) => r.alert === "DrkitBackupNeverSucceeded").for).toBe("26h");
  });

  it("an hourly base schedule with a 0 s delay: 1 h and 5 min (the margin is at least 5 min)", () => {
    const plan = planOf((c) => (c.services.billing.schedule = { base: "hourly", randomizedDelay: "0s" }));
    expect(rule(plan, "DrkitBackupTooOld", "critical").expr).toMatch(/ > 3900 and /);
    expect(rule(plan, "DrkitRecoveryWindowShort").expr).toContain(" - 3900) and ");
  });

  it("the thresholds from the objectives and the monitoring settings are in the expressions", () => {
    const plan = planOf((c) => {
      c.services.billing.rpo = "2m";
      c.services.billing.retention = { dailyDays: 3 };
      c.services.billing.monitoring = { sizeChangeRatio: 0.25, replicationLagBytes: "512MB" };
      withEverything(c);
    });
    expect(rule(plan, "DrkitArchivingStale").expr).toContain(") > 120 and ");
    expect(rule(plan, "DrkitOffsiteLagHigh").expr).toContain(") > 120 and ");
    expect(rule(plan, "DrkitReplicationLagHigh").expr).toMatch(/ > 72$/);
    expect(rule(plan, "DrkitReplicationLagBytesHigh").expr).toMatch(/ > 536870912$/);
    expect(rule(plan, "DrkitBackupSizeChanged").expr).toContain(" > 0.25 and ");
    expect(rule(plan, "DrkitRecoveryWindowShort").expr).toContain(", 259200) - ");
    // Pending: a tenth of the RPO; the slot alert waits at least 5 min; metrics are stale after five runs.
    expect(rule(plan, "DrkitPostgresDown").for).toBe(12);
    expect(rule(plan, "DrkitReplicationSlotInactive").for).toBe(300);
    expect(rule(plan, "DrkitMetricsAbsent").for).toBe(60);
    expect(rule(plan, "DrkitMetricsStale").expr).toMatch(/ > 60$/);
    expect(rule(plan, "DrkitBackupFailed").for).toBe(0);
  });

  it("off-site, replication and Redis alerts only for a service that has them", () => {
    const bare = planOf();
    for (const name of Object.values(OPTIONAL).flat()) expect(names(bare).has(name), name).toBe(false);
    expect(rule(bare, "DrkitBackupFailed").expr).toContain('drkit_job=~"base|logical|prune"}');
    expect(
      alertRules(bare)
        .filter((r) => r.alert === "DrkitBackupTooOld")
        .map((r) => r.expr)
        .join(),
    ).not.toContain('"config"');

    for (const what of Object.keys(ADD) as Array<keyof typeof ADD>) {
      const plan = planOf(ADD[what]);
      for (const [part, alerts] of Object.entries(OPTIONAL)) {
        for (const name of alerts) expect(names(plan).has(name), `with ${what}: ${name}`).toBe(part === what);
      }
    }

    const full = planOf(withEverything);
    expect(rule(full, "DrkitBackupFailed").expr).toContain('drkit_job=~"base|logical|config|redis|prune|offsite"}');
    expect(rule(full, "DrkitBackupTooOld", "warning").expr).toContain('drkit_job="config"}');
  });

  it("every rule: a severity, a summary naming the service, a runbook link, service in every selector", () => {
    for (const plan of [planOf(), planOf(withEverything)]) {
      for (const r of alertRules(plan)) {
        expect(["critical", "warning"]).toContain(r.severity);
        expect(r.summary, r.alert).toMatch(/^\{\{ \$labels\.service \}\}: /);
        expect(r.description, r.alert).toContain("billing");
        expect(r.description, r.alert).not.toContain("{{");
        expect(r.runbook).toBe(`docs/alerts.md#${r.alert.toLowerCase()}`);
        const selectors = [...r.expr.matchAll(/\b(drkit_[a-z_]+)(\{[^}]*\})?/g)];
        expect(selectors.length, r.alert).toBeGreaterThan(0);
        for (const [whole, , matchers] of selectors)
          expect(matchers, `${r.alert}: ${whole}`).toMatch(/^\{service="billing"[,}]/);
      }
    }
    const custom = planOf((c) => (c.services.billing.monitoring = { runbookBaseUrl: "https://wiki.example.com/dr" }));
    expect(rule(custom, "DrkitPostgresDown").runbook).toBe("https://wiki.example.com/dr#drkitpostgresdown");
  });

  it("the rendered file is YAML Prometheus reads: one group drkit-<service>, labels and annotations", () => {
    const plan = planOf(withEverything);
    const rules = alertRules(plan);
    const file = parse(renderAlertRules(plan));
    expect(Object.keys(file)).toEqual(["groups"]);
    expect(file.groups).toHaveLength(1);
    expect(file.groups[0].name).toBe("drkit-billing");
    expect(file.groups[0].rules).toHaveLength(rules.length);
    file.groups[0].rules.forEach((r: any, i: number) => {
      const source = rules[i];
      expect(r).toEqual({
        alert: source.alert,
        expr: source.expr,
        for: expect.stringMatching(/^\d+[smh]$/),
        labels: { severity: source.severity, service: "billing" },
        annotations: { summary: source.summary, description: source.description, runbook_url: source.runbook },
      });
      const unit = { s: 1, m: 60, h: 3600 }[r.for.slice(-1) as "s" | "m" | "h"];
      expect(Number(r.for.slice(0, -1)) * unit, source.alert).toBe(source.for);
    });
  });

  it("the runbook has a section for every alert, whose anchor is the alert name in lowercase", () => {
    const doc = fs.readFileSync(path.resolve(__dirname, "../../docs/alerts.md"), "utf8");
    const headings = new Set([...doc.matchAll(/^#{2,3} (\S+)$/gm)].map((m) => m[1]));
    for (const name of names(planOf(withEverything))) expect(headings.has(name), name).toBe(true);
  });

  it("needs monitoring in the plan", () => {
    const plan = planOf((c) => delete c.services.billing.monitoring);
    expect(() => alertRules(plan)).toThrow(/billing has no monitoring/);
    expect(() => renderAlertRules(plan)).toThrow(/billing has no monitoring/);
  });
});
