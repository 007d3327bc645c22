import * as fs from "node:fs";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { DrillReport } from "../../components/drill/report";
import { loadStackPlan } from "../../components/plan/stackFile";
import { repoDir } from "../helpers/engine";
import { psqlAt, runAsync, tempRoot } from "../helpers/sandbox";

// The main job as .ci/run just ran it: `drkit drill --stack local` on the shipped local stack, provisioned by
// pulumi up, broken every way it supports and recovered. .ci/run passes where its reports and its output are,
// and when it started, and keeps its sandbox up until the tests are done; vitest.config.ts includes this file
// only then. A drill that fails, or that passes while breaking a promise checked here, fails these tests.

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: .ci/run sets it after running the main job`);
  return value;
};
const reportDir = env("DRKIT_MAIN_JOB_REPORT");
const output = () => fs.readFileSync(env("DRKIT_MAIN_JOB_LOG"), "utf8");
const report = (): DrillReport => JSON.parse(fs.readFileSync(path.join(reportDir, "report.json"), "utf8"));

describe("the main job's drill of the local stack", () => {
  it("is this run's: provisioned by pulumi up after .ci/run started it, with progress and three reports", () => {
    const rep = report();
    expect(rep.stack).toBe("local");
    expect(Date.parse(rep.startedAt)).toBeGreaterThanOrEqual(Number(env("DRKIT_MAIN_JOB_STARTED")) * 1000);
    expect(rep.provisionedBy).toBe("pulumi");
    const out = output();
    expect(out).toContain("drkit: up of local: succeeded");
    expect(out).toMatch(/drill: \[host-loss\] restore-pitr --from-offsite .*: done in/);
    expect(out).toContain("drill of local: PASS");
    for (const file of ["report.md", "report.json", "report.html"])
      expect(fs.statSync(path.join(reportDir, file)).size, file).toBeGreaterThan(0);
  });

  it("plays every scenario and each passes, with real writes, exact integrity and a measured recovery", () => {
    const rep = report();
    expect(rep.verdict).toBe("PASS");
    expect(rep.scenarios.map((s) => s.id)).toEqual([
      "accidental-deletion",
      "corrupt-backup",
      "redis-loss",
      "host-loss",
      "primary-crash",
      "pitr-after-failover",
      "store-outage",
    ]);
    for (const s of rep.scenarios) {
      expect(s.verdict, `${s.id}: ${s.reasons.join("; ")}`).toBe("PASS");
      expect(s.workload.acknowledgedCommits, s.id).toBeGreaterThanOrEqual(150);
      expect(s.integrity.ok, s.id).toBe(true);
      expect(s.rto.seconds, s.id).toBeGreaterThan(0);
      expect(s.rto.seconds, s.id).toBeLessThanOrEqual(600);
      expect(
        s.timeline.map((e) => e.kind),
        s.id,
      ).toEqual(expect.arrayContaining(["disaster", "service-back"]));
    }
    const byId = Object.fromEntries(rep.scenarios.map((s) => [s.id, s]));
    // PITR to just before the DELETE and failover to a synchronous standby lose no acknowledged commit.
    expect(byId["accidental-deletion"].rpo.lostCommits).toBe(0);
    expect(byId["primary-crash"].rpo.lostCommits).toBe(0);
    // PITR across a failover, from the object store alone: exactly the rows committed before the target, from a
    // base backup of the old timeline.
    expect(byId["pitr-after-failover"].rpo.lostCommits).toBe(0);
    const path_ = /\(timeline (\d+); taken before the failover: yes\), then WAL along timeline (\d+)/.exec(
      byId["pitr-after-failover"].reasons.join(" "),
    );
    expect(path_, byId["pitr-after-failover"].reasons.join("; ")).not.toBeNull();
    expect(Number(path_![2])).toBe(Number(path_![1]) + 1);
    // Host loss loses what was not yet archived: measured, and inside the RPO.
    expect(byId["host-loss"].rpo.lostSpanSeconds).toBeLessThanOrEqual(300);
    expect(byId["corrupt-backup"].reasons.join(" ")).toMatch(/verification refused/);
    // A hung object store never stops the primary: commits and local archiving go on, the shipper reports it,
    // the backlog ships once the store answers, and the store alone restores every acknowledged commit.
    const outage = byId["store-outage"].reasons.join("; ");
    expect(outage).toMatch(/the shipper reported the outage: [1-9]\d* failed attempt/);
    expect(outage).toMatch(/[1-9]\d* commits acknowledged and 3 WAL segments archived during the outage/);
    expect(outage).toMatch(/the backlog was off-site [\d.]+s after the store answered again/);
    expect(byId["store-outage"].rpo.lostCommits).toBe(0);
    expect(fs.readFileSync(path.join(reportDir, "report.md"), "utf8")).toContain("host-loss");
  });

  it("with monitoring, a Prometheus beside the sandbox detected each watched disaster before recovery", () => {
    const byId = Object.fromEntries(report().scenarios.map((s) => [s.id, s]));
    const t = loadStackPlan(repoDir, "local").services[0].monitoring!.thresholds;
    for (const id of ["host-loss", "corrupt-backup", "primary-crash"]) {
      const d = byId[id].detection;
      expect(d, id).toMatchObject({ watchedBy: ["DrkitPostgresDown"], alert: "DrkitPostgresDown" });
      // Not before the alert's `for:` has passed, and within the bound the drill allows.
      expect(d!.seconds!, id).toBeGreaterThanOrEqual(t.pendingSeconds);
      expect(d!.seconds!, id).toBeLessThanOrEqual(t.metricsStaleSeconds + t.pendingSeconds + 60);
      // The RTO includes the wait: recovery started only once the alert fired.
      expect(byId[id].rto.seconds, id).toBeGreaterThan(d!.seconds!);
      const kinds = byId[id].timeline.map((e) => e.kind);
      expect(kinds.indexOf("detected"), id).toBeGreaterThan(kinds.indexOf("disaster"));
    }
    for (const id of ["accidental-deletion", "redis-loss", "pitr-after-failover", "store-outage"])
      expect(byId[id].detection, id).toMatchObject({ watchedBy: [], note: expect.stringMatching(/^no alert watches/) });
    expect(fs.readFileSync(path.join(reportDir, "report.md"), "utf8")).toContain("| Detected by |");
  });

  it("leaves the sandbox in its declared shape: the standby streams from the primary again", () => {
    const pg = loadStackPlan(repoDir, "local").services[0].postgres;
    expect(
      psqlAt(pg.socketDirectory, pg.port, "SELECT application_name || ':' || state FROM pg_stat_replication"),
    ).toBe("replica_a:streaming");
  });

  it("the HTML report opens in headless Chromium with a timeline per scenario", async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${path.join(reportDir, "report.html")}`);
      expect(await page.locator("svg").count()).toBeGreaterThanOrEqual(5);
      expect(await page.locator('[data-kind="disaster"]').count()).toBeGreaterThanOrEqual(5);
      const shot = await page.screenshot({ fullPage: true, path: path.join(reportDir, "report.png") });
      expect(shot.length).toBeGreaterThan(50_000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  // Last: it changes the live server (and puts it back).
  it("a stack broken on the live server fails the drill and says why: archive_timeout above the RPO", async () => {
    const pg = loadStackPlan(repoDir, "local").services[0].postgres;
    const sql = (query: string) => psqlAt(pg.socketDirectory, pg.port, query);
    const brokenReport = tempRoot("main-job-broken");
    sql("ALTER SYSTEM SET archive_timeout = '1h'");
    sql("SELECT pg_reload_conf()");
    try {
      const r = await runAsync(
        process.execPath,
        [path.join(repoDir, "bin/drkit.js"), "-C", repoDir, "drill", "--stack", "local", "--no-provision"].concat([
          "--scenario",
          "host-loss",
          "--report-dir",
          brokenReport,
        ]),
        {},
        600_000,
      );
      expect(r.status, r.stderr.slice(-4000)).toBe(1);
      expect(r.stdout).toContain("drill of local: FAIL");
      const rep: DrillReport = JSON.parse(fs.readFileSync(path.join(brokenReport, "report.json"), "utf8"));
      expect(rep.scenarios.map((s) => s.id)).toEqual(["host-loss"]);
      expect(rep.scenarios[0].verdict).toBe("FAIL");
      expect(rep.scenarios[0].reasons[0]).toMatch(
        /archive_timeout is 3600s on the live server .* above the RPO of 300s/,
      );
    } finally {
      sql("ALTER SYSTEM RESET archive_timeout");
      sql("SELECT pg_reload_conf()");
      fs.rmSync(brokenReport, { recursive: true, force: true });
    }
  }, 600_000);
});
