import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stackStatus } from "../../cli/status";
import type { DrPlan } from "../../components/plan/plan";
import { Detector } from "../../drill/detection";
import { toolchainBin } from "../helpers/engine";
import { startMinio, type MinioServer } from "../helpers/minio";
import { runAsync, startSandbox, waitFor, type Sandbox } from "../helpers/sandbox";

// A sandbox with monitoring, scraped by a real node_exporter (textfile collector, as the prometheus user) and a
// real Prometheus evaluating the rules drkit rendered for it: healthy, nothing fires; the object store goes away,
// the off-site lag alert goes pending and then fires; a base backup fails, its alert fires.
process.env.PATH = `${toolchainBin()}:${process.env.PATH}`;

let store: MinioServer;
let sb: Sandbox;
let prometheusUrl = "";
let detector: Detector | undefined;

interface Alert {
  labels: Record<string, string>;
  state: "pending" | "firing";
  value: string;
}
async function alerts(): Promise<Alert[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/alerts`, { signal: AbortSignal.timeout(5000) });
  return ((await response.json()) as { data: { alerts: Alert[] } }).data.alerts;
}
const named = async (name: string, state?: Alert["state"]) =>
  (await alerts()).filter((a) => a.labels.alertname === name && (!state || a.state === state));
const query = async (q: string) => {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  return ((await response.json()) as { data: { result: Array<{ value: [number, string] }> } }).data.result;
};
const asPostgres = (script: string, args: string[] = []) =>
  runAsync("runuser", ["-u", "postgres", "--", sb.script(script), ...args], {}, 600_000);
const pg = (q: string) => sb.sql(q, "app");

beforeAll(async () => {
  store = await startMinio("site");
  expect((await store.mc(["mb", "site/drkit-alerts"])).status).toBe(0);
  sb = await startSandbox({
    label: "alerts",
    service: {
      rpo: "20s",
      offsite: { targets: ["site"], retry: { attempts: 1, initialDelay: "1s" }, callTimeout: "3s" },
      monitoring: {},
    },
    objectStores: {
      site: {
        type: "minio",
        endpoint: store.endpoint,
        bucket: "drkit-alerts",
        accessKey: store.accessKey,
        secretKey: store.secretKey,
      },
    },
  });
  pg("CREATE TABLE t (id serial PRIMARY KEY, v text)");
  const base = await asPostgres("backup-base");
  expect(base.status, base.stderr).toBe(0);

  detector = await Detector.start(sb.plan, () => undefined);
  prometheusUrl = detector.url;
}, 600_000);

afterAll(async () => {
  await detector?.stop();
  sb?.destroy();
  await store?.destroy();
});

describe("alerts derived from the objectives, in a real Prometheus", () => {
  it("a healthy stack fires nothing, and its metrics are all there", async () => {
    // Long enough for every alert's `for:` (5 s at this RPO) and a few scrapes.
    await new Promise((r) => setTimeout(r, 12_000));
    const active = await alerts();
    expect(active, JSON.stringify(active)).toEqual([]);
    expect((await query('drkit_postgres_up{service="svc"}'))[0]?.value[1]).toBe("1");
    expect((await query('drkit_job_last_success_timestamp_seconds{service="svc",drkit_job="base"}')).length).toBe(1);
    expect((await query('drkit_offsite_backlog_files{service="svc",store="site"}'))[0]?.value[1]).toBe("0");
    expect((await query('drkit_objective_rpo_seconds{service="svc"}'))[0]?.value[1]).toBe("20");
    expect((await query('drkit_schedule_interval_seconds{service="svc",drkit_job="base"}'))[0]?.value[1]).toBe("86400");
    const rows = await stackStatus({ services: [sb.plan] } as unknown as DrPlan, prometheusUrl);
    expect(
      rows.filter((r) => r.verdict === "ALERT"),
      JSON.stringify(rows),
    ).toEqual([]);
    expect(rows.map((r) => r.what)).toEqual(expect.arrayContaining(["base backup", "WAL archiving", "off-site site"]));
    // The same from the host's own files, without Prometheus.
    const local = await stackStatus({ services: [sb.plan] } as unknown as DrPlan);
    expect(local.map((r) => [r.what, r.verdict])).toEqual(rows.map((r) => [r.what, r.verdict]));
  }, 60_000);

  it("store gone: the off-site lag alert goes pending, then fires; it clears once the store is back", async () => {
    await store.stop();
    try {
      for (let i = 0; i < 3; i++) {
        pg(`INSERT INTO t (v) VALUES ('during the outage ${i}')`);
        pg("SELECT pg_switch_wal()");
      }
      const rpo = sb.plan.rpoSeconds;
      const pending = Date.now();
      await waitFor(
        "DrkitOffsiteLagHigh pending",
        async () => ((await named("DrkitOffsiteLagHigh", "pending")).length ? true : undefined),
        rpo + 30,
      );
      const firing = await waitFor(
        "DrkitOffsiteLagHigh firing",
        async () => {
          const a = await named("DrkitOffsiteLagHigh", "firing");
          return a.length ? a[0] : undefined;
        },
        30,
      );
      expect(firing.labels).toMatchObject({ service: "svc", store: "site", severity: "critical" });
      expect(Number(firing.value)).toBeGreaterThan(rpo);
      // Firing no earlier than RPO plus `for:` after the first unshipped segment.
      expect((Date.now() - pending) / 1000).toBeGreaterThanOrEqual(sb.plan.monitoring!.thresholds.pendingSeconds);
      const rows = await stackStatus({ services: [sb.plan] } as unknown as DrPlan, prometheusUrl);
      expect(rows.find((r) => r.what === "off-site site")?.verdict).toBe("ALERT");
    } finally {
      await store.start();
    }
    await waitFor(
      "the backlog shipped and the alert resolved",
      async () => ((await named("DrkitOffsiteLagHigh")).length === 0 ? true : undefined),
      120,
    );
  }, 300_000);

  it("a base backup that fails fires DrkitBackupFailed at once; the next success clears it", async () => {
    const baseDir = sb.plan.paths.baseDir;
    fs.chmodSync(baseDir, 0o500);
    try {
      const failed = await asPostgres("backup-base");
      expect(failed.status).toBe(1);
    } finally {
      fs.chmodSync(baseDir, 0o750);
    }
    const firing = await waitFor(
      "DrkitBackupFailed firing",
      async () => {
        const a = await named("DrkitBackupFailed", "firing");
        return a.length ? a[0] : undefined;
      },
      30,
    );
    expect(firing.labels).toMatchObject({ service: "svc", drkit_job: "base", severity: "critical" });
    const ok = await asPostgres("backup-base");
    expect(ok.status, ok.stderr).toBe(0);
    await waitFor(
      "DrkitBackupFailed resolved",
      async () => ((await named("DrkitBackupFailed")).length === 0 ? true : undefined),
      30,
    );
  }, 300_000);
});
