import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, tempRoot, type Sandbox } from "../helpers/sandbox";

describe("WAL archiving through the rendered drop-in and archive command", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ label: "archiving", service: { rpo: "2m" } });
  });
  afterAll(() => sb?.destroy());

  it("loads the drop-in: archiving on, archive_timeout derived from the RPO", async () => {
    expect(sb.sql("SHOW archive_mode")).toBe("on");
    expect(sb.sql("SHOW wal_level")).toBe("replica");
    expect(sb.sql("SELECT setting FROM pg_settings WHERE name = 'archive_timeout'")).toBe(
      String(sb.plan.archiveTimeoutSeconds),
    );
    expect(sb.plan.archiveTimeoutSeconds).toBe(96);
    expect(sb.sql("SELECT count(*) FROM pg_settings WHERE pending_restart")).toBe("0");
  });

  it("archives every switched segment into the WAL directory", async () => {
    sb.sql("CREATE TABLE t (id int)");
    sb.sql("INSERT INTO t SELECT generate_series(1, 1000)");
    const segment = sb.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
    sb.sql("SELECT pg_switch_wal()");
    const archived = path.join(sb.plan.paths.walDir, segment);
    for (let i = 0; i < 100 && !fs.existsSync(archived); i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(archived)).toBe(true);
    expect(fs.statSync(archived).size).toBe(16 * 1024 * 1024);
    expect(sb.sql("SELECT failed_count FROM pg_stat_archiver")).toBe("0");
    const leftovers = fs.readdirSync(sb.plan.paths.walDir).filter((f) => f.startsWith("."));
    expect(leftovers).toEqual([]);
  });

  it("treats an identical existing file as success and a different one as failure, never overwriting", async () => {
    const dir = tempRoot("archive-cmd");
    const walName = "0000000100000000000000AA";
    const src = path.join(dir, walName);
    fs.writeFileSync(src, "wal contents");
    const first = await sb.run("archive-wal", [src, walName]);
    expect(first.status).toBe(0);
    const dest = path.join(sb.plan.paths.walDir, walName);
    expect(fs.readFileSync(dest, "utf8")).toBe("wal contents");

    const again = await sb.run("archive-wal", [src, walName]);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain("already archived with identical content");

    fs.writeFileSync(src, "different contents");
    const clash = await sb.run("archive-wal", [src, walName]);
    expect(clash.status).not.toBe(0);
    expect(clash.stderr).toContain("refusing to overwrite");
    expect(fs.readFileSync(dest, "utf8")).toBe("wal contents");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses names that are not WAL files and sources that do not exist", async () => {
    expect((await sb.run("archive-wal", ["/etc/passwd", "../../evil"])).status).not.toBe(0);
    expect((await sb.run("archive-wal", ["/nonexistent", "000000010000000000000099"])).stderr).toContain(
      "does not exist",
    );
    expect((await sb.run("archive-wal", [])).status).not.toBe(0);
  });

  it("reloads for a reload-only change and restarts only when archive_mode changes", async () => {
    const startedAt = () => sb.sql("SELECT pg_postmaster_start_time()");
    const before = startedAt();
    const reload = await sb.run("apply-settings");
    expect(reload.status).toBe(0);
    expect(reload.stderr).toContain("no setting needs a restart");
    expect(startedAt()).toBe(before);

    const dropIn = fs.readdirSync(sb.plan.postgres.configDirectory).find((f) => f.endsWith("archiving.conf"))!;
    const file = path.join(sb.plan.postgres.configDirectory, dropIn);
    const original = fs.readFileSync(file, "utf8");
    expect(original).toContain("archive_mode = 'on'");
    fs.writeFileSync(file, original.replace("archive_mode = 'on'", "archive_mode = 'always'"));
    const restart = await sb.run("apply-settings");
    expect(restart.status, restart.stderr).toBe(0);
    expect(restart.stderr).toContain("changed setting(s) archive_mode take effect only on restart");
    expect(sb.sql("SHOW archive_mode")).toBe("always");
    expect(startedAt()).not.toBe(before);
    fs.writeFileSync(file, original);
    expect((await sb.run("apply-settings")).status).toBe(0);
    expect(sb.sql("SHOW archive_mode")).toBe("on");
  });
});
