import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox } from "../helpers/sandbox";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForArchived(sb: Sandbox): Promise<void> {
  const segment = sb.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
  sb.sql("SELECT pg_switch_wal()");
  const file = path.join(sb.plan.paths.walDir, segment);
  for (let i = 0; i < 200 && !fs.existsSync(file); i++) await sleep(100);
  expect(fs.existsSync(file), `segment ${segment} archived`).toBe(true);
}

describe("base and logical backups, point-in-time and logical restore on a real server", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ label: "backup" });
    sb.sql("CREATE TABLE orders (id int PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp())");
    sb.sql("INSERT INTO orders (id, note) SELECT g, 'before backup' FROM generate_series(1, 500) g");
  });
  afterAll(() => sb?.destroy());

  it("takes a verified, compressed base backup with its manifest and metadata", async () => {
    const r = await sb.run("backup-base");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/base backup \d{8}T\d{6}Z complete/);
    // base.tar.zst was checked while pg_basebackup wrote it, not read again afterwards
    expect(r.stderr).not.toMatch(/again: following it/);
    const ids = fs.readdirSync(sb.plan.paths.baseDir).filter((d) => /^\d{8}T\d{6}Z$/.test(d));
    expect(ids).toHaveLength(1);
    const dir = path.join(sb.plan.paths.baseDir, ids[0]);
    const files = fs.readdirSync(dir).sort();
    expect(files).toContain("backup_manifest");
    expect(files).toContain("base.tar.zst");
    expect(files.some((f) => f.startsWith("pg_wal.tar"))).toBe(true);
    const meta = fs.readFileSync(path.join(dir, "drkit-backup.env"), "utf8");
    expect(meta).toMatch(/^start_wal=[0-9A-F]{24}$/m);
    expect(meta).toMatch(/^end_epoch=\d+$/m);
    expect(fs.readdirSync(sb.plan.paths.baseDir).filter((d) => d.startsWith("."))).toEqual([]);
    expect(fs.statSync(dir).uid).not.toBe(0);
  });

  it("refuses to run a second backup while one holds the lock", async () => {
    const { spawn } = await import("node:child_process");
    const holder = spawn("flock", [path.join(sb.plan.paths.lockDir, "base.lock"), "sleep", "5"]);
    await sleep(300);
    const r = await sb.run("backup-base");
    holder.kill();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("not starting a second one");
  });

  it("takes a logical backup in custom format whose file name says so", async () => {
    const r = await sb.run("backup-logical");
    expect(r.status, r.stderr).toBe(0);
    const files = fs.readdirSync(sb.plan.paths.logicalDir);
    const dump = files.find((f) => /^app_\d{8}T\d{6}Z\.custom\.dump$/.test(f));
    expect(dump).toBeDefined();
    expect(fs.readFileSync(path.join(sb.plan.paths.logicalDir, dump!)).subarray(0, 5).toString()).toBe("PGDMP");
    expect(files.some((f) => /^globals_\d{8}T\d{6}Z\.sql$/.test(f))).toBe(true);
    expect(fs.statSync(path.join(sb.plan.paths.logicalDir, dump!)).mode & 0o077).toBe(0);
  });

  it(
    "restores a dump, keeping a safety dump of what was there, and leaves the live database alone on " + "failure",
    async () => {
      const dump = fs.readdirSync(sb.plan.paths.logicalDir).find((f) => f.endsWith(".custom.dump"))!;
      sb.sql("DELETE FROM orders WHERE id > 100");
      expect(sb.sql("SELECT count(*) FROM orders")).toBe("100");
      const r = await sb.run("restore-logical", [path.join(sb.plan.paths.logicalDir, dump)]);
      expect(r.status, r.stderr).toBe(0);
      expect(sb.sql("SELECT count(*) FROM orders")).toBe("500");
      const safety = fs.readdirSync(path.join(sb.plan.paths.logicalDir, "safety"));
      expect(safety.some((f) => /^app_before-restore_\d{8}T\d{6}Z\.custom\.dump$/.test(f))).toBe(true);

      const bogus = path.join(sb.plan.rootPrefix, "bogus.custom.dump");
      fs.writeFileSync(bogus, "not a dump");
      const bad = await sb.run("restore-logical", [bogus, "--database", "app"]);
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toContain("not a readable custom-format dump");
      expect(sb.sql("SELECT count(*) FROM orders")).toBe("500");
      expect((await sb.run("restore-logical", [bogus, "--database", "other"])).stderr).toContain(
        "not one of this service's databases",
      );
    },
  );

  it("recovers to a time between two commits: exactly the rows committed before it", async () => {
    sb.sql("INSERT INTO orders (id, note) VALUES (1001, 'committed before the target')");
    await sleep(1100);
    const target = sb.sql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
    await sleep(1100);
    sb.sql("INSERT INTO orders (id, note) VALUES (1002, 'committed after the target')");
    sb.sql("DELETE FROM orders WHERE id <= 250");
    await waitForArchived(sb);

    const r = await sb.run("restore-pitr", ["--force", "--target-time", target]);
    expect(r.status, r.stderr).toBe(0);
    expect(sb.sql("SELECT count(*) FROM orders")).toBe("501");
    expect(sb.sql("SELECT string_agg(id::text, ',') FROM orders WHERE id > 1000")).toBe("1001");
    expect(sb.sql("SELECT pg_is_in_recovery()")).toBe("f");
    const parent = path.dirname(sb.plan.postgres.dataDirectory);
    const aside = fs.readdirSync(parent).filter((d) => d.startsWith("main.before-restore-"));
    expect(aside).toHaveLength(1);
    expect(fs.existsSync(path.join(parent, aside[0], "PG_VERSION"))).toBe(true);
    // the recovered server archives again, on its new timeline
    sb.sql("INSERT INTO orders (id, note) VALUES (2001, 'after recovery')");
    await waitForArchived(sb);
    expect(fs.readdirSync(sb.plan.paths.walDir).some((f) => f.endsWith(".history"))).toBe(true);
    const settings = sb.sql(
      "SELECT count(*) FROM pg_file_settings WHERE name LIKE 'recovery_target%' OR name = 'restore_command'",
    );
    expect(settings).toBe("0");
  });

  it("fails clearly, within its timeout, when the target cannot be reached", async () => {
    const r = await sb.run("restore-pitr", ["--force", "--target-time", "2099-01-01 00:00:00+00", "--timeout", "60"]);
    expect(r.status, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/stopped during recovery|did not end within/);
    expect(r.stderr).toContain("old data directory is at");
  });

  it("rejects a malformed target time before touching anything", async () => {
    const r = await sb.run("restore-pitr", ["--target-time", "yesterday; rm -rf /"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("--target-time must look like");
  });
});
