import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox } from "../helpers/sandbox";

describe("backup verification against a scratch instance", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ label: "verify", databases: ["app", "reports"] });
  });
  afterAll(() => sb?.destroy());

  it("passes for a good backup, comparing per-table row counts in every database", async () => {
    sb.sql("CREATE TABLE a (id int)");
    sb.sql("INSERT INTO a SELECT generate_series(1, 300)");
    sb.sql("CREATE TABLE b (id int)", "reports");
    sb.sql("INSERT INTO b SELECT generate_series(1, 42)", "reports");
    expect((await sb.run("backup-base")).status).toBe(0);
    sb.sql("INSERT INTO a SELECT generate_series(301, 350)");
    const r = await sb.run("verify-backup");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/PASS \(2 table\(s\) in 2 database\(s\) match the source/);
    const status = fs.readFileSync(path.join(sb.plan.paths.verifyDir, "last-result"), "utf8");
    expect(status).toMatch(/^result=PASS$/m);
    expect(fs.readdirSync(sb.plan.paths.verifyDir).filter((f) => f.startsWith("scratch"))).toEqual([]);
  });

  it("catches a corrupted backup and records the failure", async () => {
    const id = fs
      .readdirSync(sb.plan.paths.baseDir)
      .filter((d) => /^\d{8}T\d{6}Z$/.test(d))
      .sort()
      .pop()!;
    const tar = path.join(sb.plan.paths.baseDir, id, "base.tar.zst");
    const bytes = fs.readFileSync(tar);
    const corrupt = Buffer.from(bytes);
    for (let i = Math.floor(bytes.length / 2); i < Math.floor(bytes.length / 2) + 64; i++) corrupt[i] ^= 0xff;
    fs.writeFileSync(tar, corrupt);
    const r = await sb.run("verify-backup");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/FAIL \((cannot extract|backup \d{8}T\d{6}Z does not match its manifest)/);
    expect(fs.readFileSync(path.join(sb.plan.paths.verifyDir, "last-result"), "utf8")).toMatch(/^result=FAIL$/m);
    fs.writeFileSync(tar, bytes);
  });

  it("catches a backup whose files were changed without breaking the archive", async () => {
    const id = fs
      .readdirSync(sb.plan.paths.baseDir)
      .filter((d) => /^\d{8}T\d{6}Z$/.test(d))
      .sort()
      .pop()!;
    const manifest = path.join(sb.plan.paths.baseDir, id, "backup_manifest");
    const original = fs.readFileSync(manifest, "utf8");
    fs.writeFileSync(
      manifest,
      original.replace(/"Size": (\d+)/, (_m, n) => `"Size": ${Number(n) + 1}`),
    );
    const r = await sb.run("verify-backup");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("does not match its manifest");
    fs.writeFileSync(manifest, original);
    expect((await sb.run("verify-backup")).status).toBe(0);
  });
});

describe("config and secret file backup", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({
      label: "config",
      service: { configFiles: ["/etc/svc/svc.env", "/etc/svc/tls/key.pem"] },
    });
  });
  afterAll(() => sb?.destroy());

  it("copies each file into a dated set with mode 0600 and directories 0700", async () => {
    const env = path.join(sb.plan.rootPrefix, "etc/svc/svc.env");
    fs.mkdirSync(path.join(sb.plan.rootPrefix, "etc/svc/tls"), { recursive: true });
    fs.writeFileSync(env, "DB_PASSWORD=s3cret\n", { mode: 0o644 });
    fs.writeFileSync(path.join(sb.plan.rootPrefix, "etc/svc/tls/key.pem"), "KEY\n", { mode: 0o640 });
    const r = await sb.run("backup-config");
    expect(r.status, r.stderr).toBe(0);
    const [set] = fs.readdirSync(sb.plan.paths.configDir).filter((d) => /^\d{8}T\d{6}Z$/.test(d));
    const copy = path.join(sb.plan.paths.configDir, set, env);
    expect(fs.readFileSync(copy, "utf8")).toBe("DB_PASSWORD=s3cret\n");
    expect(fs.statSync(copy).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(sb.plan.paths.configDir, set, path.dirname(env))).mode & 0o777).toBe(0o700);
    expect(
      fs.statSync(path.join(sb.plan.paths.configDir, set, sb.plan.rootPrefix, "etc/svc/tls/key.pem")).mode & 0o777,
    ).toBe(0o600);
  });

  it("fails loudly when a listed file is missing, publishing nothing", async () => {
    fs.rmSync(path.join(sb.plan.rootPrefix, "etc/svc/tls/key.pem"));
    const before = fs.readdirSync(sb.plan.paths.configDir);
    await new Promise((r) => setTimeout(r, 1100));
    const r = await sb.run("backup-config");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("key.pem does not exist");
    expect(fs.readdirSync(sb.plan.paths.configDir)).toEqual(before);
  });
});
