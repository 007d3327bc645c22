import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DrillReport } from "../../components/drill/report";
import { engineProject, repoDir, sandboxStackYaml, type EngineProject } from "../helpers/engine";
import { freePort, freePortPair, psqlAt, runAsync } from "../helpers/sandbox";

// The main job end to end: `drkit drill` provisions a sandbox stack like `local` through the real engine
// (PostgreSQL + a synchronous standby, Redis, two MinIO sites), breaks it five ways, recovers and reports.

const STACK = "drill";

describe("drkit drill on a sandbox stack", () => {
  let project: EngineProject;
  let root: string;
  let pgPort: number;
  const reportDir = () => path.join(project.dir, "drill-report");
  const drkit = (args: string[]) =>
    runAsync(
      process.execPath,
      [path.join(repoDir, "bin/drkit.js"), "-C", project.dir, ...args],
      project.env,
      1_200_000,
    );
  const report = (): DrillReport => JSON.parse(fs.readFileSync(path.join(reportDir(), "report.json"), "utf8"));

  beforeAll(async () => {
    project = engineProject("drill");
    root = project.sandboxRoot;
    pgPort = await freePort();
    const standbyPort = await freePort();
    const redisPort = await freePort();
    const a = await freePortPair([pgPort, standbyPort, redisPort]);
    const b = await freePortPair([pgPort, standbyPort, redisPort, a]);
    project.writeStack(
      STACK,
      `${sandboxStackYaml(
        root,
        `    billing:
      host: sandbox
      rpo: 5m
      rto: 10m
      postgres: { port: ${pgPort}, databases: [billing], manager: { type: pg_ctl }, provision: true }
      redis: { port: ${redisPort}, manager: { type: process }, provision: true }
      offsite: { targets: [site-a] }
      standbys:
        - { name: replica_a, host: sandbox, port: ${standbyPort}, synchronous: true }
`,
      )}  drkit:objectStores:
    site-a:
      type: minio
      endpoint: http://127.0.0.1:${a}
      bucket: drkit-billing
      replicateTo: site-b
      provision: { dataDirectory: ${root}/minio/site-a }
    site-b:
      type: minio
      endpoint: http://127.0.0.1:${b}
      bucket: drkit-billing-replica
      provision: { dataDirectory: ${root}/minio/site-b }
`,
    );
    const init = await project.pulumi(["stack", "init", STACK]);
    expect(init.status, init.stderr).toBe(0);
  });

  afterAll(async () => {
    if (!project) return;
    await drkit(["destroy", "--stack", STACK]);
    spawnSync("pkill", ["-f", root]);
    project.remove();
  });

  it("provisions through pulumi up, plays every scenario and passes, with progress and three reports", async () => {
    const r = await drkit(["drill", "--stack", STACK, "--report-dir", reportDir()]);
    expect(r.status, `${r.stdout}\n${r.stderr.slice(-6000)}`).toBe(0);
    expect(r.stderr).toContain(`drkit: up of ${STACK}: succeeded`);
    expect(r.stderr).toMatch(/drill: \[host-loss\] restore-pitr --from-offsite .*: done in/);
    expect(r.stdout).toContain(`drill of ${STACK}: PASS`);
    const rep = report();
    expect(rep.provisionedBy).toBe("pulumi");
    expect(rep.verdict).toBe("PASS");
    expect(rep.scenarios.map((s) => s.id)).toEqual([
      "accidental-deletion",
      "corrupt-backup",
      "redis-loss",
      "host-loss",
      "primary-crash",
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
    // Host loss loses what was not yet archived: measured, and inside the RPO.
    expect(byId["host-loss"].rpo.lostSpanSeconds).toBeLessThanOrEqual(300);
    expect(byId["corrupt-backup"].reasons.join(" ")).toMatch(/verification refused/);
    const md = fs.readFileSync(path.join(reportDir(), "report.md"), "utf8");
    expect(md).toContain("host-loss");
    // The sandbox is back in its declared shape: the standby streams from the primary again.
    expect(
      psqlAt(`${root}/var/run/postgresql`, pgPort, "SELECT application_name || ':' || state FROM pg_stat_replication"),
    ).toBe("replica_a:streaming");
  });

  it("the HTML report opens in headless Chromium with a timeline per scenario", async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${path.join(reportDir(), "report.html")}`);
      expect(await page.locator("svg").count()).toBeGreaterThanOrEqual(5);
      expect(await page.locator('[data-kind="disaster"]').count()).toBeGreaterThanOrEqual(5);
      const shot = await page.screenshot({ fullPage: true, path: path.join(reportDir(), "report.png") });
      expect(shot.length).toBeGreaterThan(50_000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("a broken stack fails the drill and says why: archive_timeout above the RPO on the live server", async () => {
    const socket = `${root}/var/run/postgresql`;
    psqlAt(socket, pgPort, "ALTER SYSTEM SET archive_timeout = '1h'");
    psqlAt(socket, pgPort, "SELECT pg_reload_conf()");
    try {
      const r = await drkit([
        "drill",
        "--stack",
        STACK,
        "--no-provision",
        "--scenario",
        "host-loss",
        "--report-dir",
        reportDir(),
      ]);
      expect(r.status).toBe(1);
      expect(r.stdout).toContain(`drill of ${STACK}: FAIL`);
      const s = report().scenarios[0];
      expect(s.verdict).toBe("FAIL");
      expect(s.reasons[0]).toMatch(/archive_timeout is 3600s on the live server .* above the RPO of 300s/);
    } finally {
      psqlAt(socket, pgPort, "ALTER SYSTEM RESET archive_timeout");
      psqlAt(socket, pgPort, "SELECT pg_reload_conf()");
    }
  });
});
