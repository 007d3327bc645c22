import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StandbyPlan } from "../../components/plan/plan";
import { freePort, psqlAt, startSandbox, tempRoot, type Sandbox } from "../helpers/sandbox";
import { makeTestCa } from "../helpers/testCa";

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** A replication connection to the sandbox primary as its replication role, with extra conninfo words. */
function identify(sb: Sandbox, words: string) {
  const r = sb.plan.replication!;
  return spawnSync(
    "runuser",
    ["-u", "postgres", "--", `${PG_BIN}/psql`, "-X", "-Atq", "-c", "IDENTIFY_SYSTEM"].concat(
      `host=127.0.0.1 port=${sb.plan.postgres.port} user=${r.role} dbname=replication replication=true ` +
        `passfile=${r.passFile} ${words}`,
    ),
    { encoding: "utf8" },
  );
}

/** The standby's walsender on the primary: whether it uses TLS, and which version. */
const walsenderTls = (sb: Sandbox, standby: StandbyPlan) =>
  sb.sql(
    "SELECT s.ssl || '|' || coalesce(s.version, '') FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid) " +
      `WHERE r.application_name = '${standby.name}'`,
  );

const stopStandby = (s: StandbyPlan) =>
  spawnSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", s.dataDirectory, "-m", "fast", "stop"]);

describe("replication TLS made by drkit on the primary's host (generate: true)", () => {
  let sb: Sandbox;
  let standby: StandbyPlan;
  let otherCa: string;

  beforeAll(async () => {
    sb = await startSandbox({
      label: "repl-tls-made",
      service: {
        standbys: [{ name: "near", host: "sandbox", port: await freePort(), synchronous: true }],
        replication: { tls: { generate: true } },
      },
    });
    standby = sb.plan.replication!.standbys[0];
    // Another CA, readable by the postgres user: a client trusting it must refuse the primary.
    const dir = tempRoot("repl-tls-other-ca");
    otherCa = path.join(dir, "other-ca.crt");
    fs.copyFileSync(makeTestCa(path.join(dir, "ca")).certFile, otherCa);
    fs.chmodSync(otherCa, 0o644);
  });
  afterAll(() => {
    if (standby) stopStandby(standby);
    sb?.destroy();
    if (otherCa) fs.rmSync(path.dirname(otherCa), { recursive: true, force: true });
  });

  it("the standby streams over TLS and verifies the primary's certificate", () => {
    expect(walsenderTls(sb, standby)).toMatch(/^true\|TLSv1\.[23]$/);
    const conninfo = psqlAt(standby.socketDirectory, standby.port, "SHOW primary_conninfo");
    expect(conninfo).toContain(`sslmode=verify-full sslrootcert=${standby.tlsCaFile}`);
    const hba = sb.sql(
      "SELECT string_agg(type || ' ' || coalesce(address, 'all') || ' ' || auth_method, ';' ORDER BY line_number) " +
        "FROM pg_hba_file_rules WHERE 'drkit_replicator' = ANY(user_name)",
    );
    expect(hba).toBe("hostssl 127.0.0.1 scram-sha-256;hostnossl all reject");
  });

  it("a client trusting another CA is refused, and so is one without TLS", () => {
    const good = identify(sb, `sslmode=verify-full sslrootcert=${standby.tlsCaFile}`);
    expect(good.status, good.stderr).toBe(0);
    const wrongCa = identify(sb, `sslmode=verify-full sslrootcert=${otherCa}`);
    expect(wrongCa.status).not.toBe(0);
    expect(wrongCa.stderr).toContain("certificate verify failed");
    const plain = identify(sb, "sslmode=disable");
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/pg_hba\.conf rejects replication connection .* no encryption/);
  });

  it("keeps the CA key with root and the server key with postgres, and keeps a current certificate", async () => {
    const tls = sb.plan.replication!.tls!;
    const owner = (file: string) => execFileSync("stat", ["-c", "%U %a", file], { encoding: "utf8" }).trim();
    expect(owner(tls.keyFile)).toBe("postgres 600");
    expect(owner(tls.caFile.replace(/\.crt$/, ".key"))).toBe("root 600");
    expect(owner(tls.certFile)).toBe("root 644");
    const before = fs.readFileSync(tls.certFile, "utf8");
    const again = await sb.run("make-replication-tls");
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain("are current; kept");
    expect(fs.readFileSync(tls.certFile, "utf8")).toBe(before);
  });

  it("a certificate for another address is replaced, and the server reloads it", async () => {
    const tls = sb.plan.replication!.tls!;
    const before = fs.readFileSync(tls.certFile, "utf8");
    // A certificate signed by the same CA for another address: standbys with verify-full would refuse it.
    const ca = tls.caFile;
    const work = tempRoot("repl-tls-wrong-name");
    try {
      execFileSync("openssl", [
        "req",
        ...["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=10.9.9.9"],
        ...["-keyout", path.join(work, "k"), "-out", path.join(work, "csr")],
      ]);
      fs.writeFileSync(path.join(work, "ext"), "subjectAltName=IP:10.9.9.9\n");
      execFileSync("openssl", [
        ...["x509", "-req", "-in", path.join(work, "csr"), "-CA", ca, "-CAkey", ca.replace(/\.crt$/, ".key")],
        ...["-CAcreateserial", "-CAserial", path.join(work, "serial"), "-days", "5"],
        ...["-extfile", path.join(work, "ext"), "-out", tls.certFile],
      ]);
      fs.copyFileSync(path.join(work, "k"), tls.keyFile);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    const fix = await sb.run("make-replication-tls");
    expect(fix.status, fix.stderr).toBe(0);
    expect(fix.stderr).toContain("made the primary's certificate");
    expect(fix.stderr).toContain("PostgreSQL reloaded the certificate");
    expect(fs.readFileSync(tls.certFile, "utf8")).not.toBe(before);
    const ok = identify(sb, `sslmode=verify-full sslrootcert=${standby.tlsCaFile}`);
    expect(ok.status, ok.stderr).toBe(0);
  });
});

describe("replication TLS from certificates the stack config gives", () => {
  let sb: Sandbox;
  let standby: StandbyPlan;
  let caDir: string;

  beforeAll(async () => {
    caDir = tempRoot("repl-tls-given");
    const ca = makeTestCa(path.join(caDir, "ca"));
    const issued = ca.issue("primary", { ips: ["127.0.0.1"] });
    sb = await startSandbox({
      label: "repl-tls-given",
      service: {
        standbys: [{ name: "far", host: "sandbox", port: await freePort() }],
        replication: {
          tls: {
            ca: fs.readFileSync(ca.certFile, "utf8"),
            certificate: fs.readFileSync(issued.certFile, "utf8"),
            key: fs.readFileSync(issued.keyFile, "utf8"),
          },
        },
      },
    });
    standby = sb.plan.replication!.standbys[0];
  });
  afterAll(() => {
    if (standby) stopStandby(standby);
    sb?.destroy();
    if (caDir) fs.rmSync(caDir, { recursive: true, force: true });
  });

  it("places the given files and the standby streams over TLS with them", () => {
    const tls = sb.plan.replication!.tls!;
    expect(tls.generate).toBe(false);
    expect(fs.readFileSync(tls.certFile, "utf8")).toContain("BEGIN CERTIFICATE");
    expect(execFileSync("stat", ["-c", "%U %a", tls.keyFile], { encoding: "utf8" }).trim()).toBe("postgres 600");
    expect(fs.existsSync(tls.caFile.replace(/\.crt$/, ".key"))).toBe(false);
    expect(walsenderTls(sb, standby)).toMatch(/^true\|TLSv1\.[23]$/);
    expect(sb.sql("SHOW ssl_cert_file")).toBe(tls.certFile);
  });
});
