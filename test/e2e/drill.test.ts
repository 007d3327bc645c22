import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DrillReport } from "../../components/drill/report";
import { engineProject, repoDir, sandboxStackYaml, type EngineProject } from "../helpers/engine";
import { freePort, freePortPair, psqlAt, runAsync } from "../helpers/sandbox";

// `drkit drill` end to end on a sandbox stack like `local` but its own (free ports, RTO 10m, a project copy):
// provisioned through the real engine (PostgreSQL + a synchronous standby, Redis, two MinIO sites), broken,
// recovered and reported; and a stack broken on the live server fails the drill, saying why.

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

  // Every scenario, judged in detail, is the main job's (test/main-job/report.test.ts checks the report of
  // .ci/run's `drkit drill --stack local`); here one scenario on a stack with other ports, another RTO and its
  // own project directory, so the drill's expensive part runs once per CI run.
  it("provisions through pulumi up and fails over to the synchronous standby: PASS, nothing lost", async () => {
    const r = await drkit(["drill", "--stack", STACK, "--scenario", "primary-crash", "--report-dir", reportDir()]);
    expect(r.status, `${r.stdout}\n${r.stderr.slice(-6000)}`).toBe(0);
    expect(r.stderr).toContain(`drkit: up of ${STACK}: succeeded`);
    expect(r.stderr).toMatch(/drill: \[primary-crash\] failover --to replica_a: done in/);
    expect(r.stdout).toContain(`drill of ${STACK}: PASS`);
    const rep = report();
    expect(rep.provisionedBy).toBe("pulumi");
    expect(rep.verdict).toBe("PASS");
    expect(rep.objectives).toEqual({ rpoSeconds: 300, rtoSeconds: 600 });
    expect(rep.scenarios.map((s) => s.id)).toEqual(["primary-crash"]);
    const s = rep.scenarios[0];
    expect(s.verdict, s.reasons.join("; ")).toBe("PASS");
    expect(s.workload.acknowledgedCommits).toBeGreaterThanOrEqual(150);
    expect(s.integrity.ok).toBe(true);
    expect(s.rto.seconds).toBeGreaterThan(0);
    expect(s.rto.seconds).toBeLessThanOrEqual(600);
    expect(s.timeline.map((e) => e.kind)).toEqual(expect.arrayContaining(["disaster", "service-back"]));
    // A synchronous standby loses no acknowledged commit.
    expect(s.rpo.lostCommits).toBe(0);
    expect(fs.readFileSync(path.join(reportDir(), "report.md"), "utf8")).toContain("primary-crash");
    // The sandbox is back in its declared shape: the standby streams from the primary again.
    expect(
      psqlAt(`${root}/var/run/postgresql`, pgPort, "SELECT application_name || ':' || state FROM pg_stat_replication"),
    ).toBe("replica_a:streaming");
  });

  it("the HTML report opens in headless Chromium with the scenario's timeline", async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${path.join(reportDir(), "report.html")}`);
      expect(await page.locator("svg").count()).toBeGreaterThanOrEqual(1);
      expect(await page.locator('[data-kind="disaster"]').count()).toBeGreaterThanOrEqual(1);
      const shot = await page.screenshot({ fullPage: true, path: path.join(reportDir(), "report.png") });
      expect(shot.length).toBeGreaterThan(20_000);
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
