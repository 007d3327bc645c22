import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { ServicePlan } from "../../components/plan/plan";
import { recordResources, type Registered } from "../helpers/mocks";
import { HOST_KEY } from "../helpers/hostKeys";
import { serverTlsPems } from "../helpers/testCa";

const { registered } = recordResources();

const promiseOf = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

let buildPlan: typeof import("../../components/plan/plan").buildPlan;
let PostgresBackup: typeof import("../../components/postgres/postgresBackup").PostgresBackup;
let sshConnection: typeof import("../../components/host/hostCommand").sshConnection;

beforeAll(async () => {
  // `.then((m) => m.name)` rather than destructuring: ts-unused-exports sees only this form of dynamic import.
  buildPlan = await import("../../components/plan/plan").then((m) => m.buildPlan);
  PostgresBackup = await import("../../components/postgres/postgresBackup").then((m) => m.PostgresBackup);
  sshConnection = await import("../../components/host/hostCommand").then((m) => m.sshConnection);
});

function planFor(connection: object, service: object = {}): ServicePlan {
  return buildPlan(
    {
      hosts: { db1: { connection } },
      services: {
        billing: {
          host: "db1",
          postgres: { databases: ["billing"] },
          configFiles: ["/etc/billing/billing.env"],
          ...service,
        },
      },
    },
    { baseDir: "/tmp" },
  ).services[0];
}

describe("PostgresBackup under Pulumi's mocks", () => {
  let component: InstanceType<typeof PostgresBackup>;
  const before = registered.length;
  let mine: Registered[];

  beforeAll(async () => {
    component = new PostgresBackup("billing", {
      plan: planFor({ type: "ssh", host: "db1.internal", hostKey: HOST_KEY }),
      privateKey: "-----BEGIN KEY-----",
    });
    await promiseOf(component.timers);
    await promiseOf(component.urn);
    await new Promise((r) => setTimeout(r, 50));
    mine = registered.slice(before);
  });

  it("registers the component tree with typed tokens and derived names", () => {
    const types = mine.map((r) => r.type);
    expect(types.filter((t) => t === "drkit:postgres:PostgresBackup")).toHaveLength(1);
    expect(types.filter((t) => t === "drkit:host:BackupDirectories")).toHaveLength(1);
    expect(types.filter((t) => t === "drkit:postgres:WalArchiving")).toHaveLength(1);
    expect(types.filter((t) => t === "drkit:systemd:TimerJob")).toHaveLength(5);
    expect(types.filter((t) => t === "drkit:postgres:SandboxPostgres")).toHaveLength(0);
    expect(types.every((t) => t.startsWith("drkit:") || t === "command:remote:Command")).toBe(true);
    for (const r of mine) expect(r.name.startsWith("billing")).toBe(true);
    const names = mine.map((r) => `${r.type}/${r.name}`);
    expect(new Set(names).size).toBe(names.length);
    expect(mine.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        "billing-dirs",
        "billing-archiving",
        "billing-base",
        "billing-prune",
        "billing-verify",
        "billing-archiving-dropin",
        "billing-base-enable",
      ]),
    );
  });

  it("exposes the plan's objectives to policies as component inputs, and nothing secret", () => {
    const top = mine.find((r) => r.type === "drkit:postgres:PostgresBackup")!;
    expect(top.inputs).toMatchObject({
      service: "billing",
      rpoSeconds: 300,
      rtoSeconds: 1800,
      baseBackupMaxIntervalHours: 24,
      retention: { dailyDays: 7, weeklyWeeks: 12, offsiteDays: 30 },
    });
    expect(JSON.stringify(top.inputs)).not.toContain("BEGIN KEY");
    const archiving = mine.find((r) => r.type === "drkit:postgres:WalArchiving")!;
    expect(archiving.inputs).toMatchObject({
      archiveMode: "on",
      walLevel: "replica",
      archiveTimeoutSeconds: 240,
      rpoSeconds: 300,
    });
  });

  it("parents every child under the component (URNs carry the parent chain)", async () => {
    const urn = await promiseOf(component.urn);
    expect(urn).toBe("urn:pulumi:unit::drkit::drkit:postgres:PostgresBackup::billing");
    const children = (component as any).__childResources as Set<pulumi.Resource> | undefined;
    expect(children && children.size).toBeGreaterThanOrEqual(5);
  });

  it("reaches the host over SSH with the key kept secret", async () => {
    const commands = mine.filter((r) => r.type === "command:remote:Command");
    expect(commands.length).toBeGreaterThan(15);
    for (const c of commands) {
      // The engine receives the whole connection as a secret because it holds the key.
      expect(c.inputs.connection[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
      expect(c.inputs.connection.value.host).toBe("db1.internal");
      expect(c.inputs.connection.value.privateKey).toBe("-----BEGIN KEY-----");
      expect(c.inputs.connection.value.hostKey).toBe(HOST_KEY);
    }
    const connection = sshConnection(
      planFor({ type: "ssh", host: "db1.internal", hostKey: HOST_KEY }).host,
      "-----BEGIN KEY-----",
    );
    expect(await (pulumi.output(connection.privateKey) as any).isSecret).toBe(true);
  });

  it("with acceptAnyHostKey pins no key and warns, once per host, that any machine at the address is trusted", () => {
    const warnings: string[] = [];
    const warn = vi.spyOn(pulumi.log, "warn").mockImplementation(async (message: string) => {
      warnings.push(message);
    });
    try {
      const host = planFor({ type: "ssh", host: "db9.internal", acceptAnyHostKey: true }).host;
      for (let i = 0; i < 3; i++) expect(sshConnection(host, "-----BEGIN KEY-----")).not.toHaveProperty("hostKey");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^host db1: acceptAnyHostKey is true, so its SSH host key is not checked/);
    } finally {
      warn.mockRestore();
    }
  });

  it("warns when the RPO leaves archive_timeout under 10s, naming the service's rpo and the value", async () => {
    const warnings: string[] = [];
    const warn = vi.spyOn(pulumi.log, "warn").mockImplementation(async (message: string) => {
      warnings.push(message);
    });
    try {
      const ssh = { type: "ssh", host: "db1.internal", hostKey: HOST_KEY };
      const made = [
        new PostgresBackup("tight", { plan: planFor(ssh, { rpo: "10s" }), privateKey: "-----BEGIN KEY-----" }),
        new PostgresBackup("usual", { plan: planFor(ssh, { rpo: "5m" }), privateKey: "-----BEGIN KEY-----" }),
      ];
      // Settled here, so that their resources are not taken for those of the tests after this one.
      for (const c of made) await promiseOf(c.timers);
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings).toEqual([expect.stringMatching(/^services\.billing\.rpo: archive_timeout works out to 8s /)]);
    } finally {
      warn.mockRestore();
    }
  });

  it("places each file atomically with its mode and owner, and removes it on delete", () => {
    const archive = mine.find((r) => r.name === "billing-agent-archive-wal")!;
    expect(archive.inputs.create).toContain("/usr/local/lib/drkit/billing/archive-wal");
    expect(archive.inputs.create).toContain("mktemp");
    expect(archive.inputs.create).toContain("chmod 0755");
    expect(archive.inputs.delete).toContain("rm -f -- /usr/local/lib/drkit/billing/archive-wal");
    expect(archive.inputs.stdin).toContain("refusing to overwrite");
  });

  it("derives the drop-in from the RPO and applies it with reload-or-restart", () => {
    const dropIn = mine.find((r) => r.name === "billing-archiving-dropin")!;
    expect(dropIn.inputs.stdin).toContain("archive_timeout = 240");
    expect(dropIn.inputs.stdin).toContain("archive_mode = 'on'");
    expect(dropIn.inputs.create).toContain("/usr/local/lib/drkit/billing/apply-settings");
    expect(dropIn.inputs.delete).toContain("--removed");
  });

  it("installs a timer per scheduled job and enables it", async () => {
    expect(await promiseOf(component.timers)).toEqual([
      "drkit-billing-base.timer",
      "drkit-billing-logical.timer",
      "drkit-billing-verify.timer",
      "drkit-billing-config.timer",
    ]);
    const enable = mine.find((r) => r.name === "billing-base-enable")!;
    expect(enable.inputs.create).toContain("systemctl enable drkit-billing-base.timer");
    expect(enable.inputs.delete).toContain("systemctl disable --now drkit-billing-base.timer");
    const timer = mine.find((r) => r.name === "billing-base-unit-base-timer")!;
    expect(timer.inputs.stdin).toContain("OnCalendar=*-*-* 02:00:00");
    expect(timer.inputs.stdin).toContain("RandomizedDelaySec=900");
    expect(timer.inputs.stdin).toContain("Persistent=true");
  });

  it("never creates a command that deletes backup directories with content", () => {
    const dirs = mine.find((r) => r.name === "billing-dirs-mkdir")!;
    expect(dirs.inputs.create).toContain("install -d -m 0750 -o postgres");
    expect(dirs.inputs.delete).not.toMatch(/rm -rf/);
    expect(dirs.inputs.delete).toContain("rmdir --ignore-fail-on-non-empty");
  });
});

describe("sandbox hosts and argument errors", () => {
  it("runs local commands for a sandbox and provisions its server", async () => {
    const before = registered.length;
    const c = new PostgresBackup("sbx", {
      plan: planFor(
        { type: "local", rootPrefix: "/tmp/drkit-unit-sbx" },
        { postgres: { databases: ["billing"], manager: { type: "pg_ctl" }, provision: true } },
      ),
    });
    await promiseOf(c.timers);
    await new Promise((r) => setTimeout(r, 50));
    const mine = registered.slice(before);
    expect(mine.some((r) => r.type === "command:remote:Command")).toBe(false);
    expect(mine.filter((r) => r.type === "command:local:Command").length).toBeGreaterThan(15);
    const server = mine.find((r) => r.name === "sbx-sandbox-server")!;
    expect(server.inputs.create).toContain("/tmp/drkit-unit-sbx/usr/local/lib/drkit/billing/sandbox-postgres");
    expect(server.inputs.delete).toContain("sandbox-postgres stop");
    const enable = mine.find((r) => r.name === "sbx-base-enable")!;
    expect(enable.inputs.create).toContain("systemctl --root=/tmp/drkit-unit-sbx enable drkit-billing-base.timer");
  });

  it("RedisBackup places the drop-in, applies it with CONFIG SET on change, and schedules snapshots", async () => {
    const { RedisBackup } = await import("../../components/redis/redisBackup");
    const before = registered.length;
    const plan = planFor(
      { type: "ssh", host: "cache1", hostKey: HOST_KEY },
      { redis: { snapshot: { schedule: "*-*-* *:00:00", retentionDays: 7 } } },
    );
    const c = new RedisBackup("billing-redis", { plan });
    await promiseOf(c.restoreScript);
    await new Promise((r) => setTimeout(r, 50));
    const mine = registered.slice(before);
    const top = mine.find((r) => r.type === "drkit:redis:RedisBackup")!;
    expect(top.inputs).toMatchObject({
      appendonly: true,
      appendfsync: "everysec",
      snapshotMaxIntervalHours: 1,
      snapshotRetentionDays: 7,
    });
    const dropIn = mine.find((r) => r.name === "billing-redis-dropin-redis")!;
    expect(dropIn.inputs.stdin).toContain("appendonly yes");
    expect(dropIn.inputs.stdin).toContain("save 900 1");
    const apply = mine.find((r) => r.name === "billing-redis-apply")!;
    expect(apply.inputs.triggers[0]).toContain("appendfsync everysec");
    expect(mine.some((r) => r.name === "billing-redis-snapshot" && r.type === "drkit:systemd:TimerJob")).toBe(true);
    expect(() => new RedisBackup("none", { plan: planFor({ type: "local" }) })).toThrow(/has no redis section/);
  });

  it("RedisBackup places redis.auth's password as a secret 0600 file, before the settings are applied", async () => {
    const { RedisBackup } = await import("../../components/redis/redisBackup");
    const before = registered.length;
    const password = "Cache0123456789abcdef";
    const plan = planFor(
      { type: "ssh", host: "cache1", hostKey: HOST_KEY },
      { redis: { auth: { user: "drkit-jobs", password } } },
    );
    const c = new RedisBackup("authed", { plan });
    await promiseOf(c.restoreScript);
    await new Promise((r) => setTimeout(r, 50));
    const mine = registered.slice(before);
    const file = mine.find((r) => r.name === "authed-credentials-redis")!;
    expect(file.inputs.stdin[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
    expect(file.inputs.create).toContain("chmod 0600");
    expect(file.inputs.create).toContain("/etc/drkit/billing/redis.auth");
    expect(file.inputs.create).not.toContain(password);
    expect(JSON.stringify(mine.find((r) => r.type === "drkit:redis:RedisBackup")!.inputs)).not.toContain(password);
    expect(JSON.stringify(mine.find((r) => r.name === "authed-apply")!.inputs)).not.toContain(password);
    const secretPlan = planFor(
      { type: "ssh", host: "cache1", hostKey: HOST_KEY },
      { redis: { auth: { password: { secure: "v1:abc" } } } },
    );
    expect(() => new RedisBackup("undecrypted", { plan: secretPlan })).toThrow(
      /redis\.auth\.password must be set in the stack config/,
    );
  });

  it("RedisBackup places redis.tls's CA and client certificate, and the key only as a secret 0600 file", async () => {
    const { RedisBackup } = await import("../../components/redis/redisBackup");
    const before = registered.length;
    const pems = serverTlsPems({ dns: ["valkey.internal"] });
    const plan = planFor(
      { type: "ssh", host: "cache1", hostKey: HOST_KEY },
      { redis: { tls: { ca: pems.ca, certificate: pems.certificate, key: pems.key } } },
    );
    const c = new RedisBackup("tls", { plan });
    await promiseOf(c.restoreScript);
    await new Promise((r) => setTimeout(r, 50));
    const mine = registered.slice(before);
    const key = mine.find((r) => r.name === "tls-redis-tls-key")!;
    expect(key.inputs.stdin[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
    expect(key.inputs.create).toContain("chmod 0600");
    expect(key.inputs.create).toContain("/etc/drkit/billing/redis-tls/client.key");
    expect(mine.find((r) => r.name === "tls-redis-tls-ca")!.inputs.create).toContain("redis-tls/ca.crt");
    expect(mine.find((r) => r.name === "tls-redis-tls-certificate")).toBeDefined();
    const others = mine.filter((r) => r.name !== "tls-redis-tls-key");
    expect(JSON.stringify(others.map((r) => r.inputs))).not.toContain("PRIVATE KEY");
  });

  it(
    "provisions replicas: a random password kept secret into 0600 pgpass files, the primary setup, " +
      "one Standby each",
    async () => {
      const before = registered.length;
      const plan = planFor(
        { type: "local", rootPrefix: "/tmp/drkit-unit-repl" },
        {
          postgres: { databases: ["billing"], manager: { type: "pg_ctl" }, provision: true },
          standbys: [
            { name: "s1", host: "db1", port: 5433, synchronous: true },
            { name: "s2", host: "db1", port: 5434 },
          ],
        },
      );
      const c = new PostgresBackup("repl", { plan });
      await promiseOf(c.timers);
      await new Promise((r) => setTimeout(r, 100));
      const mine = registered.slice(before);
      const top = mine.find((r) => r.type === "drkit:postgres:PostgresBackup")!;
      expect(top.inputs.synchronousStandbys).toBe(1);
      expect(mine.find((r) => r.type === "drkit:postgres:ReplicationPrimary")!.inputs).toMatchObject({
        standbys: 2,
        synchronousStandbys: 1,
        maxSlotWalKeepSizeMb: 2048,
      });
      expect(mine.find((r) => r.type === "random:index/randomPassword:RandomPassword")!.inputs).toMatchObject({
        length: 32,
        special: false,
      });
      expect(mine.filter((r) => r.type === "drkit:postgres:Standby").map((r) => r.name)).toEqual([
        "repl-s1",
        "repl-s2",
      ]);
      const file = mine.find((r) => r.name === "repl-replication-pgpass")!;
      expect(file.inputs.stdin[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
      expect(file.inputs.create).toContain("chmod 0600");
      // Standbys on the primary's host read the primary's pgpass file (same path): it is placed once.
      expect(mine.filter((r) => r.name.endsWith("-pgpass")).map((r) => r.name)).toEqual(["repl-replication-pgpass"]);
      // Each standby gets its settings file; the agent itself is shared with the primary on one host.
      const settings = mine.find((r) => r.name === "repl-s1-agent-settings")!;
      expect(settings.inputs.stdin).toContain("STANDBY=s1");
      expect(settings.inputs.create).toContain("/tmp/drkit-unit-repl/usr/local/lib/drkit/billing/standby-s1.env");
      expect(mine.find((r) => r.name === "repl-s1-clone")!.inputs.create).toContain("clone-standby s1");
      expect(mine.find((r) => r.name === "repl-s1-clone")!.inputs.delete).toContain("pg_ctl");
      // a change of the standby's settings runs the clone step again in place (no stop, no re-clone)
      expect(mine.find((r) => r.name === "repl-s1-clone")!.inputs.update).toContain("clone-standby s1");
      expect(mine.find((r) => r.name === "repl-s1-clone")!.inputs.stdin).toContain("STANDBY=s1");
    },
  );

  it("places replication TLS: given files (the key a secret) or made on the host", async () => {
    const tls = serverTlsPems({ ips: ["127.0.0.1"] });
    const before = registered.length;
    const standbys = [{ name: "s1", host: "db1", port: 5433 }];
    const sandbox = { type: "local", rootPrefix: "/tmp/drkit-unit-tls" };
    const pg = { databases: ["billing"], manager: { type: "pg_ctl" }, provision: true };
    new PostgresBackup("given", { plan: planFor(sandbox, { postgres: pg, standbys, replication: { tls } }) });
    new PostgresBackup("made", {
      plan: planFor(sandbox, { postgres: pg, standbys, replication: { tls: { generate: true } } }),
    });
    await new Promise((r) => setTimeout(r, 200));
    const mine = registered.slice(before);
    const named = (n: string) => mine.find((r) => r.name === n)!;
    const key = named("given-replication-tls-key");
    expect(key.inputs.stdin[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
    expect(key.inputs.create).toContain("/tmp/drkit-unit-tls/etc/drkit/billing/tls/server.key");
    expect(key.inputs.create).toContain("chmod 0600");
    expect(named("given-replication-tls-certificate").inputs.stdin).toBe(tls.certificate.trim() + "\n");
    expect(named("given-replication-tls-ca").inputs.stdin).toBe(tls.ca.trim() + "\n");
    expect(mine.some((r) => r.name === "given-replication-tls")).toBe(false);
    expect(named("made-replication-tls").inputs.create).toContain("make-replication-tls");
    expect(mine.some((r) => r.name === "made-replication-tls-key")).toBe(false);
  });

  it("a standby elsewhere the certificate names gets its copy and the key; a renewal re-runs its clone", async () => {
    const tls = serverTlsPems({ ips: ["10.0.0.1", "10.0.0.2"] });
    const before = registered.length;
    const plan = buildPlan(
      {
        hosts: {
          db1: { connection: { type: "ssh", host: "10.0.0.1", hostKey: HOST_KEY } },
          db2: { connection: { type: "ssh", host: "10.0.0.2", hostKey: HOST_KEY } },
        },
        services: {
          billing: {
            host: "db1",
            postgres: { databases: ["billing"] },
            standbys: [{ name: "far", host: "db2", port: 5433 }],
            replication: { tls },
          },
        },
      },
      { baseDir: "/tmp" },
    ).services[0];
    new PostgresBackup("served", { plan, privateKey: "-----BEGIN KEY-----" });
    await new Promise((r) => setTimeout(r, 200));
    const mine = registered.slice(before);
    const named = (n: string) => mine.find((r) => r.name === n)!;
    const key = named("served-far-tls-key");
    expect(key.inputs.stdin[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
    expect(key.inputs.create).toContain("/etc/drkit/billing/tls/far-server.key");
    expect(key.inputs.create).toContain("chmod 0600");
    expect(JSON.stringify(key.inputs.connection)).toContain(`"host":"10.0.0.2"`);
    expect(named("served-far-tls-certificate").inputs.stdin).toBe(tls.certificate.trim() + "\n");
    const clone = named("served-far-clone").inputs.stdin as string;
    expect(clone).toContain("STANDBY_TLS_CERT=/etc/drkit/billing/tls/far-server.crt");
    expect(clone).toContain(tls.certificate.trim());
  });

  it("rejects a private key for a local host, naming the field", () => {
    expect(() => new PostgresBackup("bad", { plan: planFor({ type: "local" }), privateKey: "k" })).toThrow(
      /privateKey is only for SSH hosts/,
    );
  });
});
