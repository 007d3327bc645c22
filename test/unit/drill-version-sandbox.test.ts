import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parsePgVersion, versionSandbox } from "../../drill/versionSandbox";

// The local stack's shape: a sandbox service with a standby, off-site copies to two stores, monitoring.
describe("versionSandbox: the stack's drill service on another major", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-version-sandbox-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: drkit\nruntime: nodejs\n");
  fs.copyFileSync(path.resolve(__dirname, "../../stacks/Pulumi.local.yaml"), path.join(dir, "Pulumi.local.yaml"));
  const bin = path.join(dir, "bin17");
  fs.mkdirSync(bin);
  for (const p of ["initdb", "pg_ctl", "postgres", "psql", "pg_basebackup"]) fs.writeFileSync(path.join(bin, p), "");
  const majors: Record<string, number> = { postgres: 17, pg_basebackup: 15 };
  const probe = (program: string) => majors[path.basename(program)];

  it("moves the root, takes its programs, leaves out the off-site copies and the standby it cannot clone", () => {
    const { plan, note } = versionSandbox(dir, "local", 17, bin, probe);
    const [service] = plan.services;
    expect(service.postgres.version).toBe(17);
    expect(service.postgres.binDirectory).toBe(bin);
    expect(service.rootPrefix).toBe(path.join(dir, ".sandbox/local-pg17"));
    expect(service.offsite).toBeUndefined();
    expect(plan.objectStores).toEqual([]);
    expect(service.replication?.standbys ?? []).toEqual([]);
    expect(service.monitoring).toBeDefined();
    expect(note).toContain("no standbys: pg_basebackup of PostgreSQL 15 cannot clone 17");
    expect(note).toContain("no off-site copies");
    // the stack's own file is as it was
    expect(fs.readFileSync(path.join(dir, "Pulumi.local.yaml"), "utf8")).toContain("rootPrefix: .sandbox/local\n");
  });

  it("keeps the standby when pg_basebackup there is of the version", () => {
    majors.pg_basebackup = 17;
    const { plan, note } = versionSandbox(dir, "local", 17, bin, probe);
    expect(plan.services[0].replication?.standbys.map((s) => s.name)).toEqual(["replica_a"]);
    expect(note).not.toContain("no standbys");
  });

  it("refuses a version drkit does not support and a bin directory of another major", () => {
    expect(() => parsePgVersion("13")).toThrow("--pg-version must be one of 14, 15, 16, 17, 18, got '13'");
    expect(() => parsePgVersion("x")).toThrow("got 'x'");
    expect(() => versionSandbox(dir, "local", 16, bin, probe)).toThrow(
      `--pg-bin ${bin}: its postgres is PostgreSQL 17, not 16`,
    );
  });
});
