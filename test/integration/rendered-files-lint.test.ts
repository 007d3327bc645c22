import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { placeFile } from "../../components/host/applyLocal";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { loadStackPlan } from "../../components/plan/stackFile";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { renderMinioTargetScript } from "../../components/objectstore/minioScripts";
import { tempRoot } from "../helpers/sandbox";

const projectDir = path.resolve(__dirname, "../..");
const roots: string[] = [];
afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

/** PostgreSQL 14-18, both managers, every compression: each variant rendered under a temp root. */
function variants(): readonly ServicePlan[] {
  const root = tempRoot("lint");
  roots.push(root);
  const pg = (version: number, manager: object, extra: object = {}) => ({
    version,
    databases: ["app", "audit_log"],
    manager,
    ...extra,
  });
  const services = {
    v18: { host: "h", compression: "gzip", postgres: pg(18, { type: "systemd" }, { port: 5418 }) },
    v14: { host: "h", compression: "none", postgres: pg(14, { type: "pg_ctl" }, { port: 5414 }), rpo: "30s" },
    v15: {
      host: "h",
      postgres: pg(15, { type: "pg_ctl" }, { port: 5415, provision: true }),
      configFiles: ["/etc/app/app.env"],
      redis: { port: 6415, manager: { type: "process" }, provision: true },
      offsite: { targets: ["site-a"] },
      monitoring: {},
    },
    v16: {
      host: "h",
      compression: "zstd",
      postgres: pg(16, { type: "systemd", unit: "postgresql@16-main.service" }, { port: 5416 }),
      schedule: { base: "Mon..Fri *-*-* 01:30:00", randomizedDelay: "5m" },
      redis: {
        configFile: "/etc/valkey/valkey.conf",
        manager: { type: "systemd", unit: "valkey-server.service" },
        snapshot: { schedule: "*-*-* 00/6:00:00", retentionDays: 3 },
      },
    },
    v17: {
      host: "h",
      postgres: pg(17, { type: "systemd" }, { port: 5417 }),
      standbys: [
        { name: "s1", host: "h", port: 5517, synchronous: true },
        { name: "s2", host: "h", port: 5518 },
      ],
      retention: { dailyDays: 14, weeklyWeeks: 8, longTermMonths: 24, offsiteDays: 400 },
      offsite: { targets: ["site-a", "aws"] },
      monitoring: { textfileDirectory: "/var/lib/node-exporter/textfile", replicationLagBytes: "64MB" },
    },
  };
  return buildPlan(
    { hosts: { h: { connection: { type: "local", rootPrefix: root } } }, services, objectStores },
    { baseDir: root },
  ).services;
}

const objectStores = {
  "site-a": {
    type: "minio",
    endpoint: "http://127.0.0.1:9000",
    bucket: "drkit-a",
    accessKey: "k",
    secretKey: "s",
    replicateTo: "site-b",
    objectLock: { mode: "GOVERNANCE", days: 7 },
  },
  "site-b": { type: "minio", endpoint: "http://127.0.0.1:9100", bucket: "drkit-b", accessKey: "k", secretKey: "s" },
  aws: {
    type: "s3",
    region: "eu-west-1",
    bucket: "acme-pg",
    accessKey: "k",
    secretKey: "s",
    transitions: { infrequentAccessDays: 30, archiveDays: 90 },
  },
};
const plans = variants();
const shipped = ["local", "production"].flatMap((stack) => loadStackPlan(projectDir, stack).services);

describe("every rendered settings file and setup step is valid shell", () => {
  for (const plan of [...plans, ...shipped]) {
    it(`${plan.host.name}/${plan.name} (PostgreSQL ${plan.postgres.version}, ${plan.postgres.manager.type})`, () => {
      const artifacts = serviceArtifacts(plan).all;
      // The settings files (the service's and each standby's); certificates and age recipients share the role.
      const settingsFiles = artifacts.filter(
        (a) => a.kind === "file" && a.role === "settings" && (a.id === "settings" || a.id.endsWith(":settings")),
      );
      expect(settingsFiles.length).toBe(1 + (plan.replication?.standbys.length ?? 0));
      for (const f of settingsFiles) {
        if (f.kind !== "file") continue;
        // The agent sources it under set -u: it must parse and name the service.
        const r = spawnSync(
          "bash",
          ["-c", 'set -euo pipefail; eval "$(cat)"; [[ $SERVICE == "$1" ]]', "-", plan.name],
          { input: f.content, encoding: "utf8" },
        );
        expect(r.status, `${f.path}\n${r.stderr}`).toBe(0);
      }
      const steps = artifacts.flatMap((a) => (a.kind === "step" ? [a.run, ...(a.undo ? [a.undo] : [])] : []));
      expect(steps.length).toBeGreaterThanOrEqual(3);
      for (const script of steps) {
        const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], {
          input: `#!/usr/bin/env bash\n${script}\n`,
          encoding: "utf8",
        });
        expect(r.error).toBeUndefined();
        expect(r.status, `${script}\n${r.stdout}`).toBe(0);
      }
    });
  }

  it("the MinIO target scripts (bucket, versioning, lifecycle, object lock, replication)", () => {
    const root = tempRoot("lint-minio");
    roots.push(root);
    const stores = buildPlan({ hosts: {}, services: {}, objectStores }, { baseDir: root }).objectStores;
    const minio = stores.filter((s) => s.type === "minio");
    expect(minio).toHaveLength(2);
    for (const store of minio) {
      const content = renderMinioTargetScript(
        store,
        stores.find((s) => s.name === store.replicateTo),
      );
      const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], {
        input: content,
        encoding: "utf8",
      });
      expect(r.status, r.stdout).toBe(0);
    }
  });

  it("shellcheck is real: it fails a script with an unquoted expansion", () => {
    const r = spawnSync("shellcheck", ["--shell=bash", "-"], {
      input: "#!/usr/bin/env bash\nrm -rf $1/data\n",
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
  });
});

describe("every rendered unit passes systemd-analyze verify", () => {
  for (const plan of plans) {
    it(`${plan.name}: services and timers`, () => {
      const files = serviceArtifacts(plan).all.flatMap((a) =>
        a.kind === "file" && !a.secret && a.host.name === plan.host.name ? [a] : [],
      );
      files.filter((f) => f.role !== "unit").forEach(placeFile);
      const units = files.filter((f) => f.role === "unit");
      units.forEach(placeFile);
      expect(units.some((u) => u.path.endsWith(".timer"))).toBe(true);
      const r = spawnSync("systemd-analyze", ["verify", ...units.map((u) => u.path)], { encoding: "utf8" });
      const complaints = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.includes("drkit-"));
      expect(complaints).toEqual([]);
      expect(r.status, r.stderr).toBe(0);
    });
  }

  it("systemd-analyze verify is real: it fails a unit whose command does not exist", () => {
    const dir = tempRoot("badunit");
    roots.push(dir);
    const unit = path.join(dir, "drkit-bad.service");
    fs.writeFileSync(unit, "[Service]\nType=oneshot\nExecStart=/nonexistent/drkit-job\n");
    const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
  });
});

describe("every calendar expression parses", () => {
  const calendars = new Set(
    [...plans, ...shipped].flatMap((p) => p.jobs.flatMap((j) => (j.calendar ? [j.calendar] : []))),
  );
  for (const calendar of calendars) {
    it(`"${calendar}"`, () => {
      const r = spawnSync("systemd-analyze", ["calendar", calendar], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("Next elapse:");
    });
  }
});

describe("the rendered drop-in is loaded by a real PostgreSQL of each supported version installed here", () => {
  for (const plan of plans.filter((p) => fs.existsSync(`${p.postgres.binDirectory}/postgres`))) {
    it(`PostgreSQL ${plan.postgres.version} accepts the settings (postgres -C)`, () => {
      const dataDir = tempRoot(`conf${plan.postgres.version}`);
      roots.push(dataDir);
      fs.chownSync(dataDir, Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim()), 0);
      const asPg = (args: string[]) => spawnSync("runuser", ["-u", "postgres", "--", ...args], { encoding: "utf8" });
      expect(asPg([`${plan.postgres.binDirectory}/initdb`, "-D", `${dataDir}/d`, "--auth=trust"]).status).toBe(0);
      const dropIn = serviceArtifacts(plan).file("dropin:archiving");
      placeFile(dropIn);
      fs.appendFileSync(`${dataDir}/d/postgresql.conf`, `\ninclude '${dropIn.path}'\n`);
      for (const name of ["archive_mode", "archive_timeout", "archive_command", "wal_level"]) {
        const r = asPg([`${plan.postgres.binDirectory}/postgres`, "-D", `${dataDir}/d`, "-C", name]);
        expect(r.status, r.stderr).toBe(0);
        const expected = {
          archive_mode: "on",
          wal_level: "replica",
          archive_timeout: String(plan.archiveTimeoutSeconds),
          archive_command: `${plan.paths.scriptsDir}/archive-wal %p %f`,
        }[name];
        expect(r.stdout.trim()).toBe(expected);
      }
    });
  }
});
