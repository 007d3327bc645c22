import { beforeAll, describe, expect, it } from "vitest";
import { serviceSettings } from "../../components/agent/serviceEnv";
import { serviceArtifacts } from "../../components/artifacts/hostArtifacts";
import { ConfigError } from "../../components/plan/errors";
import { buildPlan, type ServicePlan } from "../../components/plan/plan";
import { HOST_KEY } from "../helpers/hostKeys";
import { serverTlsPems, type ServerTlsPems } from "../helpers/testCa";

/** billing on db1 with Redis and this redis block. */
const config = (redis: Record<string, unknown>, connection: Record<string, unknown> = { type: "ssh" }) => ({
  hosts: {
    db1:
      connection.type === "ssh"
        ? { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } }
        : { connection: { type: "local", rootPrefix: "/tmp/drkit-unit-redis-tls" } },
  },
  services: { billing: { host: "db1", postgres: { databases: ["billing"] }, redis } },
});
const plan = (redis: Record<string, unknown>): ServicePlan =>
  buildPlan(config(redis), { baseDir: "/tmp" }).services[0]!;
const problems = (cfg: ReturnType<typeof config>): string[] => {
  try {
    buildPlan(cfg, { baseDir: "/tmp" });
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
};

describe("redis.tls: the jobs' redis-cli over TLS", () => {
  let pems: ServerTlsPems;
  beforeAll(() => {
    pems = serverTlsPems({ dns: ["valkey.internal"] });
  });

  it("redis-cli gets --tls, the placed CA and the client certificate, and the SNI name", () => {
    const p = plan({
      port: 6380,
      tls: { ca: pems.ca, certificate: pems.certificate, key: pems.key, serverName: "v1" },
    });
    expect(serviceSettings(p).REDIS_TARGET).toEqual(
      ["-h", "127.0.0.1", "-p", "6380", "--tls", "--cacert", "/etc/drkit/billing/redis-tls/ca.crt"].concat([
        "--cert",
        "/etc/drkit/billing/redis-tls/client.crt",
        "--key",
        "/etc/drkit/billing/redis-tls/client.key",
        "--sni",
        "v1",
      ]),
    );
    const caOnly = plan({ tls: { ca: pems.ca } });
    expect(serviceSettings(caOnly).REDIS_TARGET).toEqual([
      "-h",
      "127.0.0.1",
      "-p",
      "6379",
      "--tls",
      "--cacert",
      "/etc/drkit/billing/redis-tls/ca.crt",
    ]);
    expect(serviceSettings(plan({})).REDIS_TARGET).toEqual(["-h", "127.0.0.1", "-p", "6379"]);
  });

  it("places the CA and certificate for anyone to read and the key 0600 for the Redis user, as a secret", () => {
    const a = serviceArtifacts(plan({ tls: { ca: pems.ca, certificate: pems.certificate, key: pems.key } }));
    const ca = a.file("redis-tls:ca");
    expect(ca).toMatchObject({ path: "/etc/drkit/billing/redis-tls/ca.crt", owner: "root", mode: "0644" });
    expect(ca.content).toBe(`${pems.ca.trim()}\n`);
    expect(a.file("redis-tls:certificate").content).toBe(`${pems.certificate.trim()}\n`);
    const key = a.file("redis-tls:key");
    expect(key).toMatchObject({ owner: "redis", mode: "0600", secret: { of: "redis-tls-key" } });
    expect(key.content).toBe("# secret: filled in at deployment\n");
    expect(JSON.stringify(a.all)).not.toContain("PRIVATE KEY");
    const caOnly = serviceArtifacts(plan({ tls: { ca: pems.ca } }));
    expect(caOnly.has("redis-tls:ca")).toBe(true);
    expect(caOnly.has("redis-tls:key")).toBe(false);
  });

  it.each([
    [
      "a socket with TLS",
      { socket: "/run/redis/redis.sock", tls: "ca" },
      /^services\.billing\.redis\.socket: .* must not be set with tls \(TLS runs over TCP: port\)$/,
    ],
    [
      "a certificate without its key",
      { tls: "ca+certificate" },
      /^services\.billing\.redis\.tls\.key: \(missing\) must be given with certificate/,
    ],
    [
      "a key without its certificate",
      { tls: "ca+key" },
      /^services\.billing\.redis\.tls\.certificate: \(missing\) must be given with key/,
    ],
    ["a CA that is not PEM", { tls: "not-pem" }, /^services\.billing\.redis\.tls\.ca: .*must be PEM text/],
    ["a server name with a space", { tls: "ca", serverName: "a b" }, /^services\.billing\.redis\.tls\.serverName: /],
  ])("refuses %s, naming the field", (_, shape, error) => {
    const { tls, serverName, ...rest } = shape as { tls: string; serverName?: string };
    const t: Record<string, unknown> = { ca: tls === "not-pem" ? "ca.crt" : pems.ca, serverName };
    if (tls.includes("certificate")) t.certificate = pems.certificate;
    if (tls.includes("key")) t.key = pems.key;
    const found = problems(config({ ...rest, tls: t }));
    expect(
      found.some((p) => error.test(p)),
      found.join("\n"),
    ).toBe(true);
  });

  it("refuses TLS for the sandbox server, which listens on loopback without it", () => {
    const found = problems(
      config({ manager: { type: "process" }, provision: true, tls: { ca: pems.ca } }, { type: "local" }),
    );
    expect(
      found.some((p) => /^services\.billing\.redis\.tls: .*is for a server you run: the sandbox/.test(p)),
      found.join("\n"),
    ).toBe(true);
  });
});
