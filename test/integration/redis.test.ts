import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentPath } from "../../components/artifacts/hostArtifacts";
import type { RedisPlan } from "../../components/plan/plan";
import { freePort, runAsync, startSandbox, waitFor, type Sandbox } from "../helpers/sandbox";
import { makeTestCa } from "../helpers/testCa";

describe("Redis/Valkey persistence, snapshot and restore against a real redis-server", () => {
  let sb: Sandbox;
  const cli = (...args: string[]) =>
    execFileSync("redis-cli", ["-s", sb.plan.redis!.socket!, ...args], { encoding: "utf8" }).trim();
  const snapshots = () =>
    fs
      .readdirSync(sb.plan.redis!.backupDir)
      .filter((f) => /^dump_\d{8}T\d{6}Z\.rdb$/.test(f))
      .sort();

  beforeAll(async () => {
    const port = await freePort();
    sb = await startSandbox({
      label: "redis",
      service: {
        redis: {
          port,
          manager: { type: "process" },
          provision: true,
          persistence: {
            savePoints: [
              [600, 5],
              [120, 100],
            ],
            appendonly: true,
            appendfsync: "everysec",
            autoAofRewritePercentage: 150,
            autoAofRewriteMinSize: "32mb",
          },
          snapshot: { timeout: "30s" },
        },
      },
    });
  });
  afterAll(() => {
    if (sb) execFileSync(agentPath(sb.plan, "sandbox-redis"), ["stop"]);
    sb?.destroy();
  });

  it("the server loads the rendered settings (CONFIG GET shows them)", () => {
    expect(cli("CONFIG", "GET", "save").split("\n")[1]).toBe("600 5 120 100");
    expect(cli("CONFIG", "GET", "appendonly").split("\n")[1]).toBe("yes");
    expect(cli("CONFIG", "GET", "appendfsync").split("\n")[1]).toBe("everysec");
    expect(cli("CONFIG", "GET", "auto-aof-rewrite-percentage").split("\n")[1]).toBe("150");
    expect(cli("CONFIG", "GET", "auto-aof-rewrite-min-size").split("\n")[1]).toBe(String(32 * 1024 * 1024));
    expect(cli("CONFIG", "GET", "dir").split("\n")[1]).toBe(sb.plan.redis!.dataDirectory);
  });

  it("keys written, snapshot taken, data flushed, restored: the keys are back and equal", async () => {
    for (let i = 0; i < 200; i++) cli("SET", `order:${i}`, `value-${i}`);
    cli("HSET", "session:1", "user", "ada", "role", "admin");
    const r = await sb.run(agentPath(sb.plan, "backup-redis"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/snapshot dump_\d{8}T\d{6}Z\.rdb: 201 keys/);
    const [snap] = snapshots();
    const dir = sb.plan.redis!.backupDir;
    expect(fs.readFileSync(path.join(dir, `${snap}.sha256`), "utf8")).toMatch(/^[0-9a-f]{64} {2}dump_/);

    cli("FLUSHALL");
    expect(cli("DBSIZE")).toBe("0");
    const restore = await sb.run(agentPath(sb.plan, "restore-redis"), [path.join(dir, snap)]);
    expect(restore.status, restore.stderr).toBe(0);
    expect(cli("DBSIZE")).toBe("201");
    expect(cli("GET", "order:137")).toBe("value-137");
    expect(cli("HGET", "session:1", "role")).toBe("admin");
    // AOF is on again and holds the restored data: a restart (which loads the AOF) keeps the keys.
    expect(cli("CONFIG", "GET", "appendonly").split("\n")[1]).toBe("yes");
    expect(fs.readFileSync(sb.plan.redis!.dropIn, "utf8")).toContain("appendonly yes");
    execFileSync(agentPath(sb.plan, "sandbox-redis"), ["stop"]);
    execFileSync(agentPath(sb.plan, "sandbox-redis"), ["start"]);
    expect(cli("DBSIZE")).toBe("201");
    expect(fs.readdirSync(sb.plan.redis!.dataDirectory).some((f) => f.startsWith("before-restore-"))).toBe(true);
  });

  it("refuses a snapshot that does not match its checksum", async () => {
    const [snap] = snapshots();
    const file = path.join(sb.plan.redis!.backupDir, snap);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 20), Buffer.from("corrupt"), bytes.subarray(27)]));
    const r = await sb.run(agentPath(sb.plan, "restore-redis"), [file]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("does not match its checksum");
    expect(cli("DBSIZE")).toBe("201");
    fs.writeFileSync(file, bytes);
  });

  it("a BGSAVE that never finishes makes the snapshot time out with an error instead of hanging", async () => {
    // rdb-key-save-delay slows the child by this many microseconds per key: 201 keys take minutes.
    cli("CONFIG", "SET", "rdb-key-save-delay", "1000000");
    const started = Date.now();
    const r = await runAsync(agentPath(sb.plan, "backup-redis"), ["--timeout", "3"]);
    const took = Date.now() - started;
    cli("CONFIG", "SET", "rdb-key-save-delay", "0");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("BGSAVE did not finish within 3s");
    expect(took).toBeLessThan(30_000);
  });
});

describe("Redis/Valkey with redis.auth: the placed credentials file is what the jobs log in with", () => {
  let sb: Sandbox;
  const password = "Valkey0123456789abcdefXYZ";

  beforeAll(async () => {
    sb = await startSandbox({
      label: "redis-auth",
      service: { redis: { port: await freePort(), manager: { type: "process" }, provision: true, auth: { password } } },
    });
  });
  afterAll(() => {
    if (sb) execFileSync(agentPath(sb.plan, "sandbox-redis"), ["stop"]);
    sb?.destroy();
  });

  it("the file is 0600 for the Redis user, the server requires it, and backup-redis (as redis) logs in", async () => {
    const r = sb.plan.redis!;
    const file = r.auth!.file;
    const st = fs.statSync(file);
    expect((st.mode & 0o777).toString(8)).toBe("600");
    expect(execFileSync("id", ["-u", r.osUser], { encoding: "utf8" }).trim()).toBe(String(st.uid));
    expect(fs.readFileSync(file, "utf8")).toBe(`${password}\n`);
    const unauthenticated = execFileSync("redis-cli", ["-s", r.socket!, "PING"], { encoding: "utf8" });
    expect(unauthenticated).toContain("NOAUTH");
    const backup = await runAsync("runuser", ["-u", r.osUser, "--", agentPath(sb.plan, "backup-redis")]);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/snapshot dump_\d{8}T\d{6}Z\.rdb: 0 keys/);
    expect(backup.stderr).not.toContain(password);
    // the settings file names the credentials file, never the password
    const settings = fs.readFileSync(path.join(sb.plan.paths.scriptsDir, "drkit.env"), "utf8");
    expect(settings).toContain(`REDIS_AUTH_FILE=${file}`);
    expect(settings).not.toContain(password);
  });
});

describe("Redis/Valkey with redis.tls: a server that takes only TLS and asks for client certificates", () => {
  let sb: Sandbox;
  let caDir: string;
  let otherCa: string;
  const read = (file: string) => fs.readFileSync(file, "utf8");
  const r = () => sb.plan.redis!;
  const asRedis = (script: string) => runAsync("runuser", ["-u", r().osUser, "--", agentPath(sb.plan, script)]);

  beforeAll(async () => {
    caDir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-redis-tls-"));
    const ca = makeTestCa(path.join(caDir, "ca"));
    // the server's name is not checked by redis-cli: only the chain is, against the CA in the stack
    const server = ca.issue("valkey", { dns: ["valkey.internal"] });
    const client = ca.issue("drkit-jobs", { dns: ["drkit-jobs"] }, "clientAuth");
    otherCa = makeTestCa(path.join(caDir, "other"), "another CA").certFile;
    const port = await freePort();
    sb = await startSandbox({
      label: "redis-tls",
      service: {
        redis: {
          port,
          tls: { ca: read(ca.certFile), certificate: read(client.certFile), key: read(client.keyFile) },
        },
      },
      // the server below starts once the drop-in it includes is placed; the settings are applied after that
      skip: ["step:apply-redis-settings"],
    });
    const plan = r();
    // The server's own files, readable by its user only: as a real host's /etc/redis would hold them.
    const serverDir = path.join(path.dirname(plan.configFile), "tls");
    fs.mkdirSync(serverDir, { recursive: true });
    fs.copyFileSync(server.certFile, path.join(serverDir, "server.crt"));
    fs.copyFileSync(server.keyFile, path.join(serverDir, "server.key"));
    fs.copyFileSync(ca.certFile, path.join(serverDir, "ca.crt"));
    for (const dir of [serverDir, plan.dataDirectory]) {
      fs.mkdirSync(dir, { recursive: true });
      execFileSync("chown", ["-R", `${plan.osUser}:`, dir]);
    }
    fs.writeFileSync(
      plan.configFile,
      [
        "bind 127.0.0.1",
        "port 0",
        `tls-port ${port}`,
        `tls-cert-file ${serverDir}/server.crt`,
        `tls-key-file ${serverDir}/server.key`,
        `tls-ca-cert-file ${serverDir}/ca.crt`,
        "tls-auth-clients yes",
        "daemonize yes",
        `pidfile ${serverDir}/redis.pid`,
        `logfile ${serverDir}/redis.log`,
        `include ${plan.dropIn}`,
        "",
      ].join("\n"),
    );
    execFileSync("runuser", ["-u", plan.osUser, "--", "redis-server", plan.configFile]);
    await waitFor("the TLS server to answer", () =>
      spawnSync("redis-cli", redisTlsArgs(plan), { encoding: "utf8" }).stdout.includes("PONG") ? true : undefined,
    );
    const applied = await runAsync(agentPath(sb.plan, "apply-redis-settings"));
    expect(applied.status, applied.stderr).toBe(0);
  });
  afterAll(() => {
    const pidFile = sb && path.join(path.dirname(r().configFile), "tls", "redis.pid");
    if (pidFile && fs.existsSync(pidFile)) spawnSync("kill", [read(pidFile).trim()]);
    sb?.destroy();
    if (caDir) fs.rmSync(caDir, { recursive: true, force: true });
  });

  const redisTlsArgs = (plan: RedisPlan, ...command: string[]) => [
    "-h",
    "127.0.0.1",
    "-p",
    String(plan.port),
    "--tls",
    "--cacert",
    plan.tls!.caFile,
    "--cert",
    plan.tls!.client!.certFile,
    "--key",
    plan.tls!.client!.keyFile,
    ...(command.length ? command : ["PING"]),
  ];
  const cli = (...command: string[]) =>
    execFileSync("redis-cli", redisTlsArgs(r(), ...command), { encoding: "utf8" }).trim();

  it("the server refuses plain clients and clients without a certificate; the jobs use the placed files", () => {
    const plain = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(r().port), "PING"], { encoding: "utf8" });
    expect(plain.stdout).not.toContain("PONG");
    const noCert = spawnSync(
      "redis-cli",
      ["-h", "127.0.0.1", "-p", String(r().port), "--tls", "--cacert", r().tls!.caFile, "PING"],
      { encoding: "utf8" },
    );
    expect(`${noCert.stdout}${noCert.stderr}`).not.toContain("PONG");
    const key = fs.statSync(r().tls!.client!.keyFile);
    expect((key.mode & 0o777).toString(8)).toBe("600");
    expect(execFileSync("id", ["-u", r().osUser], { encoding: "utf8" }).trim()).toBe(String(key.uid));
    expect(cli("CONFIG", "GET", "appendonly").split("\n")[1]).toBe("yes");
    const settings = fs.readFileSync(path.join(sb.plan.paths.scriptsDir, "drkit.env"), "utf8");
    expect(settings).toContain(r().tls!.caFile);
    expect(settings).not.toContain("PRIVATE KEY");
  });

  it("backup-redis (as redis) snapshots over TLS, with the key count the server has", async () => {
    for (let i = 0; i < 50; i++) cli("SET", `order:${i}`, `value-${i}`);
    const backup = await asRedis("backup-redis");
    expect(backup.status, backup.stderr).toBe(0);
    const snapshot = /snapshot (dump_\d{8}T\d{6}Z\.rdb): 50 keys/.exec(backup.stderr)?.[1];
    expect(snapshot, backup.stderr).toBeDefined();
    expect(fs.statSync(path.join(r().backupDir, snapshot!)).size).toBeGreaterThan(0);
    const check = spawnSync("redis-check-rdb", [path.join(r().backupDir, snapshot!)], { encoding: "utf8" });
    expect(check.status, check.stdout).toBe(0);
  });

  it("a CA that did not sign the server's certificate is refused with an error naming redis.tls", async () => {
    const caFile = r().tls!.caFile;
    const placed = read(caFile);
    fs.writeFileSync(caFile, read(otherCa));
    try {
      const backup = await asRedis("backup-redis");
      expect(backup.status).not.toBe(0);
      expect(backup.stderr).toMatch(/TLS to the server failed \(check redis\.tls.*certificate verify failed/);
    } finally {
      fs.writeFileSync(caFile, placed);
    }
  });
});
