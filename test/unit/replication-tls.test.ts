import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { renderStandbyEnv, serviceSettings, standbyEnvPath } from "../../components/agent/serviceEnv";
import { renderReplicationDropIn } from "../../components/artifacts/postgresConf";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { ConfigError } from "../../components/plan/errors";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { replicationTlsProblems } from "../../components/plan/replicationTls";
import { HOST_KEY } from "../helpers/hostKeys";
import { serverTlsPems, type ServerTlsPems } from "../helpers/testCa";

/** billing on db1 (10.0.0.1) with standby s1 on db2, and this replication block. */
const config = (replication: Record<string, unknown>, primaryHost = "10.0.0.1") => ({
  hosts: {
    db1: { connection: { type: "ssh", host: primaryHost, hostKey: HOST_KEY } },
    db2: { connection: { type: "ssh", host: "10.0.0.2", hostKey: HOST_KEY } },
  },
  services: {
    billing: {
      host: "db1",
      postgres: { databases: ["billing"] },
      standbys: [{ name: "s1", host: "db2", address: "10.0.0.2" }],
      replication,
    },
  },
});

/** A root CA, an intermediate it signed, and a certificate for `ips` the intermediate signed, as PEM. */
function intermediateChain(ips: string[], usage: "serverAuth" | "clientAuth") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-chain-"));
  const at = (f: string) => path.join(dir, f);
  const ssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  try {
    fs.writeFileSync(at("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
    fs.writeFileSync(
      at("leaf.ext"),
      `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(",")}\nextendedKeyUsage=${usage}\n`,
    );
    ssl(["req", "-x509", ...ec, "-keyout", at("root.key"), "-out", at("root.crt"), "-days", "2", "-subj", "/CN=root"]);
    ssl(["req", ...ec, "-keyout", at("mid.key"), "-out", at("mid.csr"), "-subj", "/CN=intermediate"]);
    ssl(
      ["x509", "-req", "-in", at("mid.csr"), "-CA", at("root.crt"), "-CAkey", at("root.key"), "-CAcreateserial"].concat(
        ["-days", "2", "-extfile", at("ca.ext"), "-out", at("mid.crt")],
      ),
    );
    ssl(["req", ...ec, "-keyout", at("leaf.key"), "-out", at("leaf.csr"), "-subj", "/CN=primary"]);
    ssl(
      ["x509", "-req", "-in", at("leaf.csr"), "-CA", at("mid.crt"), "-CAkey", at("mid.key"), "-CAcreateserial"].concat([
        "-days",
        "2",
        "-extfile",
        at("leaf.ext"),
        "-out",
        at("leaf.crt"),
      ]),
    );
    const read = (f: string) => fs.readFileSync(at(f), "utf8");
    return { root: read("root.crt"), intermediate: read("mid.crt"), leaf: read("leaf.crt"), key: read("leaf.key") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function problemsOf(replication: Record<string, unknown>, primaryHost?: string): string[] {
  try {
    buildPlan(config(replication, primaryHost), { baseDir: "/tmp" });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("config was accepted");
}

describe("replication TLS in the stack config", () => {
  let good: ServerTlsPems;
  let otherCa: ServerTlsPems;
  let byName: ServerTlsPems;
  beforeAll(() => {
    good = serverTlsPems({ ips: ["10.0.0.1"] });
    otherCa = serverTlsPems({ ips: ["10.0.0.1"] }, "another CA");
    byName = serverTlsPems({ dns: ["db1.internal"] });
  });

  it("is required when a standby connects over a network", () => {
    expect(problemsOf({})).toEqual([
      "services.billing.replication.tls: is required when a standby connects over a network (s1 (db2)): give ca, " +
        "certificate and key for the primary's address 10.0.0.1",
    ]);
  });

  it("generate: true is refused when the CA would have to leave the primary's host", () => {
    expect(problemsOf({ tls: { generate: true } })).toEqual([
      expect.stringMatching(/^services\.billing\.replication\.tls\.generate: true only works when every standby/),
    ]);
  });

  it("is either generated or given whole", () => {
    expect(problemsOf({ tls: { generate: true, ca: good.ca } })).toEqual([
      expect.stringMatching(
        /^services\.billing\.replication\.tls\.ca: "-----BEGIN CERTIFICATE-----.* must not be set with generate: true/,
      ),
    ]);
    expect(problemsOf({ tls: { ca: good.ca, certificate: good.certificate } })).toEqual([
      "services.billing.replication.tls.key: (missing) is required unless generate is true (give ca, certificate " +
        "and key, or generate: true)",
    ]);
  });

  it("refuses a certificate standbys would refuse, naming the rule; never shows the key", () => {
    const signedByAnother = problemsOf({ tls: { ...good, certificate: otherCa.certificate, key: otherCa.key } });
    expect(signedByAnother).toEqual([
      expect.stringMatching(
        /^services\.billing\.replication\.tls\.certificate: does not chain to a self-signed CA in ca/,
      ),
    ]);
    const otherName = problemsOf({ tls: byName });
    expect(otherName).toEqual([
      "services.billing.replication.tls.certificate: does not name the primary's address 10.0.0.1 " +
        "(subjectAltName: DNS:db1.internal); standbys verify it with sslmode=verify-full",
    ]);
    expect(problemsOf({ tls: { ...good, key: otherCa.key } })).toEqual([
      "services.billing.replication.tls.key: is not the private key of the certificate",
    ]);
    const notPem = problemsOf({ tls: { ...good, key: "hunter2-not-a-key" } });
    expect(notPem).toEqual([
      expect.stringMatching(
        /^services\.billing\.replication\.tls\.key: \(secret, not shown\) must be one PEM private key/,
      ),
    ]);
    expect(notPem.join("\n")).not.toContain("hunter2");
    expect(problemsOf({ tls: { ...good, certificate: good.key } })).toEqual([
      expect.stringMatching(
        /^services\.billing\.replication\.tls\.certificate: \(secret, not shown\) must be PEM text/,
      ),
    ]);
  });

  it("refuses what libpq would: an intermediate given as the CA, a certificate not for TLS servers", () => {
    const chain = intermediateChain(["10.0.0.1"], "serverAuth");
    // the whole chain: the intermediate after the certificate, the root as the CA
    const whole = { ca: chain.root, certificate: chain.leaf + chain.intermediate, key: chain.key };
    expect(buildPlan(config({ tls: whole }), { baseDir: "/tmp" }).services[0].replication!.tls!.certificate).toBe(
      whole.certificate,
    );
    expect(problemsOf({ tls: { ca: chain.intermediate, certificate: chain.leaf, key: chain.key } })).toEqual([
      expect.stringMatching(/^services\.billing\.replication\.tls\.certificate: does not chain to a self-signed CA/),
    ]);
    const client = intermediateChain(["10.0.0.1"], "clientAuth");
    expect(
      problemsOf({ tls: { ca: client.root, certificate: client.leaf + client.intermediate, key: client.key } }),
    ).toEqual([
      "services.billing.replication.tls.certificate: its extended key usage (1.3.6.1.5.5.7.3.2) does not allow a " +
        "TLS server",
    ]);
  });

  it("refuses an expired certificate", () => {
    /** The problems of the valid configuration on another day. */
    const problemsOn = (day: string) =>
      replicationTlsProblems(
        { generate: false, ...good },
        { at: "services.billing.replication.tls", primaryAddress: "10.0.0.1", remoteStandbys: [], now: new Date(day) },
      );
    expect(problemsOn("2200-01-01")).toEqual([
      expect.stringMatching(/^services\.billing\.replication\.tls\.ca: CN=drkit test CA is expired on /),
      expect.stringMatching(/^services\.billing\.replication\.tls\.certificate: expired on /),
    ]);
    expect(problemsOn("2001-01-01")).toContainEqual(
      expect.stringMatching(/^services\.billing\.replication\.tls\.certificate: not valid before /),
    );
  });

  it("accepts a certificate naming the primary by host name, and a secret key it cannot read", () => {
    const plan = buildPlan(config({ tls: { ...byName, key: { secure: "v1:abc" } } }, "db1.internal"), {
      baseDir: "/tmp",
    }).services[0];
    expect(plan.replication!.tls!.key).toEqual({ secure: "v1:abc" });
  });

  describe("a valid configuration", () => {
    let plan: ServicePlan;
    beforeAll(() => {
      plan = buildPlan(config({ tls: good }), { baseDir: "/tmp" }).services[0];
    });

    it("makes the primary serve its certificate and admit the replication and rewind roles only over TLS", () => {
      const dropIn = renderReplicationDropIn(plan);
      expect(dropIn).toContain("ssl = on\nssl_cert_file = '/etc/drkit/billing/tls/server.crt'\n");
      expect(dropIn).toContain("ssl_key_file = '/etc/drkit/billing/tls/server.key'\n");
      expect(serviceSettings(plan).REPL_HBA_LINES).toEqual([
        "hostssl replication drkit_replicator 10.0.0.2/32 scram-sha-256",
        "hostssl postgres drkit_rewind 10.0.0.2/32 scram-sha-256",
        "hostnossl replication drkit_replicator all reject",
        "hostnossl all drkit_rewind all reject",
      ]);
    });

    it("places the CA on the standby's host and the key as a secret of the PostgreSQL user", () => {
      const artifacts = serviceArtifacts(plan);
      const ca = artifacts.file("standby:s1:tls-ca");
      expect([ca.host.name, ca.path, ca.mode]).toEqual(["db2", "/etc/drkit/billing/tls/s1-ca.crt", "0644"]);
      expect(ca.content).toBe(good.ca.trim() + "\n");
      const key = artifacts.file("tls:key");
      expect([key.host.name, key.mode, key.owner, key.secret]).toEqual([
        "db1",
        "0600",
        "postgres",
        { of: "replication-tls-key" },
      ]);
      expect(key.content).not.toContain("PRIVATE KEY");
      expect(artifacts.has("step:replication-tls")).toBe(false);
      expect(renderStandbyEnv(plan, plan.replication!.standbys[0])).toContain(
        "REPL_TLS_CA=/etc/drkit/billing/tls/s1-ca.crt",
      );
    });

    it("gives the standby on another host its own agent folder and pgpass file, apart from the primary's", () => {
      const [s1] = plan.replication!.standbys;
      expect(plan.replication!.rewindRole).toBe("drkit_rewind");
      expect(plan.replication!.passFile).toBe("/etc/drkit/billing/replication.pgpass");
      expect(s1.passFile).toBe("/etc/drkit/billing/standby-s1.pgpass");
      expect(standbyEnvPath(plan, s1)).toBe("/usr/local/lib/drkit/billing/standby-s1/standby-s1.env");
      const env = renderStandbyEnv(plan, s1);
      expect(env).toContain("REWIND_ROLE=drkit_rewind");
      expect(env).toContain("STANDBY_REWIND_WAL_DIR=/var/lib/billing/backups/wal");
      // the primary's guard asks it at its address
      expect(env).toContain("STANDBY_LISTEN_ADDRESS=10.0.0.2");
      // removing it from the stack stops it only while it is still a standby (not after a promotion)
      const undo = serviceArtifacts(plan).step("step:clone:s1").undo!;
      expect(undo).toMatch(/^if test -e '?\/var\/lib\/postgresql\/15\/s1\/PG_VERSION'? && ! test -e .*standby\.signal/);
      expect(undo).toContain("was promoted (no standby.signal): it keeps running");
    });

    it("a certificate that names only the primary places nothing for the standby to serve", () => {
      const artifacts = serviceArtifacts(plan);
      expect(plan.replication!.standbys[0].serverTls).toBeUndefined();
      expect(artifacts.has("standby:s1:tls-certificate")).toBe(false);
      expect(artifacts.has("standby:s1:tls-key")).toBe(false);
      expect(renderStandbyEnv(plan, plan.replication!.standbys[0])).toMatch(/^STANDBY_TLS_CERT=''?$/m);
    });

    it("a certificate that names the standby's host too is served there: its copy and the key, a secret", () => {
      const both = serverTlsPems({ ips: ["10.0.0.1", "10.0.0.2"] });
      const failBack = buildPlan(config({ tls: both }), { baseDir: "/tmp" }).services[0];
      const [s1] = failBack.replication!.standbys;
      expect(s1.serverTls).toEqual({
        certFile: "/etc/drkit/billing/tls/s1-server.crt",
        keyFile: "/etc/drkit/billing/tls/s1-server.key",
      });
      const artifacts = serviceArtifacts(failBack);
      const cert = artifacts.file("standby:s1:tls-certificate");
      expect([cert.host.name, cert.path, cert.mode, cert.content]).toEqual([
        "db2",
        "/etc/drkit/billing/tls/s1-server.crt",
        "0644",
        both.certificate.trim() + "\n",
      ]);
      const key = artifacts.file("standby:s1:tls-key");
      expect([key.host.name, key.path, key.mode, key.owner, key.secret]).toEqual([
        "db2",
        "/etc/drkit/billing/tls/s1-server.key",
        "0600",
        "postgres",
        { of: "replication-tls-key" },
      ]);
      expect(key.content).not.toContain("PRIVATE KEY");
      const env = renderStandbyEnv(failBack, s1);
      expect(env).toContain("STANDBY_TLS_CERT=/etc/drkit/billing/tls/s1-server.crt");
      expect(env).toContain("STANDBY_TLS_KEY=/etc/drkit/billing/tls/s1-server.key");
    });

    it("without TLS nothing changes: plain host lines, no ssl settings", () => {
      const local = buildPlan(
        {
          hosts: { db1: { connection: { type: "local" } } },
          services: {
            billing: {
              host: "db1",
              postgres: { databases: ["b"] },
              standbys: [{ name: "s1", host: "db1", port: 5499 }],
            },
          },
        },
        { baseDir: "/tmp" },
      ).services[0];
      expect(renderReplicationDropIn(local)).not.toContain("ssl");
      expect(serviceSettings(local).REPL_HBA_LINES).toEqual([
        "host replication drkit_replicator 127.0.0.1/32 scram-sha-256",
        "host postgres drkit_rewind 127.0.0.1/32 scram-sha-256",
      ]);
      expect(serviceSettings(local).REPL_TLS_CA).toBe("");
      // on the primary's host the standby is asked nothing over the network: its listen_addresses stay
      expect(renderStandbyEnv(local, local.replication!.standbys[0])).toMatch(/^STANDBY_LISTEN_ADDRESS=''?$/m);
    });
  });
});
