import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DrillReport } from "../../components/drill/report";
import { engineProject, sandboxStackYaml, type EngineProject } from "../helpers/engine";
import { postgresBinDirectory } from "../helpers/postgresBinaries";
import { freePort } from "../helpers/sandbox";

// The drill on PostgreSQL 17 (the embedded server programs beside Debian's 15 client programs, as on a host whose
// client tools are another major's): the scenarios those tools allow are played, the others are named with why.
describe("drkit drill --pg-version plays another major in a sandbox of its own", () => {
  let project: EngineProject;
  let root: string;
  let bin: string;
  const reportDir = () => path.join(project.dir, "report");
  const drkit = (args: string[]) => project.drkit(args, 900_000);

  const drill17 = (args: string[]) =>
    drkit(["drill", "--stack", "sbx", "--pg-version", "17", "--pg-bin", bin, ...args]);

  beforeAll(async () => {
    project = engineProject("drill-pg");
    root = project.sandboxRoot;
    bin = postgresBinDirectory(17, path.dirname(project.dir));
    const [pg, standby, redis] = [await freePort(), await freePort(), await freePort()];
    project.writeStack(
      "sbx",
      sandboxStackYaml(
        root,
        `    ledger:
      host: sandbox
      rpo: 1m
      rto: 10m
      postgres: { port: ${pg}, databases: [ledger], manager: { type: pg_ctl }, provision: true }
      redis: { port: ${redis}, manager: { type: process }, provision: true }
      standbys:
        - { name: near, host: sandbox, port: ${standby}, synchronous: true }
`,
      ),
    );
  });
  afterAll(() => {
    // The servers of the version's sandbox, through its own scripts: Redis would not exit on SIGTERM once its data
    // directory is gone (its final save fails).
    const scripts = `${root}-pg17/usr/local/lib/drkit/ledger`;
    for (const server of ["sandbox-redis", "sandbox-postgres"])
      if (fs.existsSync(path.join(scripts, server))) spawnSync(path.join(scripts, server), ["stop"]);
    spawnSync("pkill", ["-f", "--", root]);
    project?.remove();
  });

  it("refuses a version outside 14-18, a --pg-bin without the server programs, and --pg-bin alone", async () => {
    const old = await drkit(["drill", "--stack", "sbx", "--pg-version", "13", "--pg-bin", bin]);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toContain("--pg-version must be one of 14, 15, 16, 17, 18, got '13'");
    const empty = path.join(path.dirname(project.dir), "empty-bin");
    fs.mkdirSync(empty);
    const nothing = await drkit(["drill", "--stack", "sbx", "--pg-version", "17", "--pg-bin", empty]);
    expect(nothing.status).not.toBe(0);
    expect(nothing.stderr).toContain(`--pg-bin ${empty} has no initdb, pg_ctl, postgres, psql`);
    const other = await drkit(["drill", "--stack", "sbx", "--pg-version", "16", "--pg-bin", bin]);
    expect(other.stderr).toContain(`--pg-bin ${bin}: its postgres is PostgreSQL 17, not 16`);
    const alone = await drkit(["drill", "--stack", "sbx", "--pg-bin", bin]);
    expect(alone.stderr).toContain("--pg-bin goes with --pg-version");
    const asked = await drill17(["--scenario", "accidental-deletion"]);
    expect(asked.status).not.toBe(0);
    expect(asked.stderr).toContain(
      `--scenario accidental-deletion: needs pg_basebackup, pg_waldump of PostgreSQL 17 in ${bin} ` +
        "(pg_basebackup is PostgreSQL 15's, pg_waldump is missing)",
    );
    expect(fs.existsSync(`${root}-pg17`), "nothing applied before the refusal").toBe(false);
  });

  it("plays what the tools allow on a 17 server, names the rest, and leaves the stack's sandbox alone", async () => {
    const r = await drill17(["--report-dir", reportDir()]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("drill of sbx: PASS");
    const report = JSON.parse(fs.readFileSync(path.join(reportDir(), "report.json"), "utf8")) as DrillReport;
    expect(report.environment.postgres).toMatch(/^17\./);
    expect(report.provisionedBy).toBe("direct-apply");
    expect(report.provisionNote).toContain(`PostgreSQL 17 from ${bin}, in a sandbox of its own`);
    expect(report.provisionNote).toContain("no standbys: pg_basebackup of PostgreSQL 15 cannot clone 17");
    expect(report.scenarios.map((s) => [s.id, s.verdict])).toEqual([["redis-loss", "PASS"]]);
    const reasons = Object.fromEntries((report.notPlayed ?? []).map((n) => [n.id, n.reason]));
    expect(Object.keys(reasons).sort()).toEqual(
      [
        "accidental-deletion",
        "corrupt-backup",
        "host-loss",
        "pitr-after-failover",
        "primary-crash",
        "store-outage",
      ].sort(),
    );
    expect(reasons["corrupt-backup"]).toBe(
      `needs pg_basebackup, pg_waldump, pg_verifybackup of PostgreSQL 17 in ${bin} ` +
        "(pg_basebackup is PostgreSQL 15's, pg_waldump is missing, pg_verifybackup is PostgreSQL 15's)",
    );
    expect(reasons["primary-crash"]).toContain("the service has no standbys");
    expect(fs.readFileSync(path.join(reportDir(), "report.md"), "utf8")).toContain(
      "- Not played: `accidental-deletion`, needs pg_basebackup, pg_waldump of PostgreSQL 17",
    );
    // The version's sandbox holds a 17 cluster; the stack's own root was never written.
    const pgVersionFile = spawnSync("find", [`${root}-pg17`, "-name", "PG_VERSION", "-path", "*/main/PG_VERSION"], {
      encoding: "utf8",
    }).stdout.trim();
    expect(fs.readFileSync(pgVersionFile, "utf8").trim()).toBe("17");
    expect(fs.existsSync(root)).toBe(false);
  });
});
