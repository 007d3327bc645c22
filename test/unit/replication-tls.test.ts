import { beforeAll, describe, expect, it } from "vitest";
import { renderStandbyEnv, serviceSettings } from "../../components/agent/serviceEnv";
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
      expect.stringMatching(/^services\.billing\.replication\.tls\.certificate: is not signed by tls\.ca/),
    ]);
    const otherName = problemsOf({ tls: byName });
    expect(otherName).toEqual([
      "services.billing.replication.tls.certificate: does not name the primary's address 10.0.0.1 " +
        "(subjectAltName: DNS:db1.internal); standbys verify it with sslmode=verify-full",
    ]);
    expect(problemsOf({ tls: { ...good, key: otherCa.key } })).toEqual([
      "services.billing.replication.tls.key: is not the private key of tls.certificate",
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

  it("refuses an expired certificate", () => {
    const problems = replicationTlsProblems(
      { generate: false, ...good },
      {
        at: "services.billing.replication",
        primaryAddress: "10.0.0.1",
        remoteStandbys: [],
        now: new Date("2200-01-01"),
      },
    );
    expect(problems).toEqual([expect.stringMatching(/^services\.billing\.replication\.tls\.certificate: expired on /)]);
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

    it("makes the primary serve its certificate and admit the replication role only over TLS", () => {
      const dropIn = renderReplicationDropIn(plan);
      expect(dropIn).toContain("ssl = on\nssl_cert_file = '/etc/drkit/billing/tls/server.crt'\n");
      expect(dropIn).toContain("ssl_key_file = '/etc/drkit/billing/tls/server.key'\n");
      expect(serviceSettings(plan).REPL_HBA_LINES).toEqual([
        "hostssl replication drkit_replicator 10.0.0.2/32 scram-sha-256",
        "hostnossl replication drkit_replicator all reject",
      ]);
    });

    it("places the CA on the standby's host and the key as a secret of the PostgreSQL user", () => {
      const artifacts = serviceArtifacts(plan);
      const ca = artifacts.file("standby:s1:tls-ca");
      expect([ca.host.name, ca.path, ca.mode]).toEqual(["db2", "/etc/drkit/billing/tls/replication-ca.crt", "0644"]);
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
        "REPL_TLS_CA=/etc/drkit/billing/tls/replication-ca.crt",
      );
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
      ]);
      expect(serviceSettings(local).REPL_TLS_CA).toBe("");
    });
  });
});
