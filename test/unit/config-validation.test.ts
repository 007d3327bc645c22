import { describe, expect, it } from "vitest";
import { ConfigError } from "../../components/plan/errors";
import { buildPlan } from "../../components/plan/plan";
import { loadStackPlan, readStackConfig } from "../../components/plan/stackFile";
import { parseSshHostKey } from "../../components/plan/sshHostKey";
import * as path from "node:path";
import { HOST_KEY } from "../helpers/hostKeys";

const base = () => ({
  hosts: { db1: { connection: { type: "ssh", host: "db1.internal", hostKey: HOST_KEY } } },
  services: { billing: { host: "db1", postgres: { databases: ["billing"] } } } as Record<string, any>,
});

function problemsOf(mutate: (c: ReturnType<typeof base>) => void): string[] {
  const config = base();
  mutate(config);
  try {
    buildPlan(config, { baseDir: "/tmp" });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("config was accepted");
}

describe("stack config validation names the field, the value and the rule", () => {
  const cases: Array<[string, (c: ReturnType<typeof base>) => void, RegExp]> = [
    ["RPO of zero", (c) => (c.services.billing.rpo = "0s"), /^services\.billing\.rpo: "0s" must be at least 1s$/],
    [
      "RPO that is not a duration",
      (c) => (c.services.billing.rpo = "five minutes"),
      /^services\.billing\.rpo: "five minutes" must be a duration/,
    ],
    [
      "RTO below a minute",
      (c) => (c.services.billing.rto = "30s"),
      /^services\.billing\.rto: "30s" must be at least 1m/,
    ],
    [
      "SSH host without a host key",
      (c) => delete (c.hosts.db1.connection as { hostKey?: string }).hostKey,
      /^hosts\.db1\.connection\.hostKey: .*is required for an SSH host: its public key .* turns the check off$/,
    ],
    [
      "SSH host key and acceptAnyHostKey together",
      (c) => Object.assign(c.hosts.db1.connection, { acceptAnyHostKey: true }),
      /^hosts\.db1\.connection\.acceptAnyHostKey: true cannot be true when hostKey pins the host's key/,
    ],
    [
      "SSH host key that is a private key's first line",
      (c) => (c.hosts.db1.connection.hostKey = "-----BEGIN OPENSSH PRIVATE KEY-----"),
      /^hosts\.db1\.connection\.hostKey: .* must be the host's public key: a line of its \/etc\/ssh\/ssh_host_ed25519/,
    ],
    [
      "SSH host key whose data is another type's",
      (c) => (c.hosts.db1.connection.hostKey = HOST_KEY.replace("ssh-ed25519", "ssh-rsa")),
      /^hosts\.db1\.connection\.hostKey: .* says ssh-rsa but its key data is a ssh-ed25519 key: the line is mixed up$/,
    ],
    [
      "SSH host key line of a certificate authority",
      (c) => (c.hosts.db1.connection.hostKey = `@cert-authority *.internal ${HOST_KEY}`),
      /^hosts\.db1\.connection\.hostKey: .* a known_hosts marker \(@cert-authority\) is not a key to pin$/,
    ],
    [
      "SSH host key cut short",
      (c) => (c.hosts.db1.connection.hostKey = HOST_KEY.slice(0, 30)),
      /^hosts\.db1\.connection\.hostKey: .* the key data after ssh-ed25519 is cut short$/,
    ],
    [
      "PostgreSQL version past its end of life",
      (c) => (c.services.billing.postgres.version = 13),
      /^services\.billing\.postgres\.version: 13 is past its end of life \(November 2025\); drkit supports .* 14-18$/,
    ],
    [
      "PostgreSQL version too new",
      (c) => (c.services.billing.postgres.version = 19),
      /^services\.billing\.postgres\.version: 19 must be a PostgreSQL major version drkit supports \(14-18\)$/,
    ],
    [
      "database name with SQL in it",
      (c) => (c.services.billing.postgres.databases = ["billing; DROP TABLE x"]),
      /^services\.billing\.postgres\.databases\[0\]: "billing; DROP TABLE x" must be a database name/,
    ],
    [
      "no databases",
      (c) => (c.services.billing.postgres.databases = []),
      /^services\.billing\.postgres\.databases: \[\] must list at least one database$/,
    ],
    [
      "service name that would break a unit name",
      (c) => {
        c.services["Billing Svc"] = c.services.billing;
        delete c.services.billing;
      },
      /^services\.Billing Svc: "Billing Svc" must be a service name/,
    ],
    [
      "relative backup path",
      (c) => (c.services.billing.paths = { backupRoot: "backups" }),
      /^services\.billing\.paths\.backupRoot: "backups" must be an absolute path/,
    ],
    [
      "path with a shell character",
      (c) => (c.services.billing.paths = { backupRoot: "/var/lib/$(reboot)" }),
      /^services\.billing\.paths\.backupRoot: "\/var\/lib\/\$\(reboot\)" must be an absolute path/,
    ],
    [
      "path with ..",
      (c) => (c.services.billing.postgres.dataDirectory = "/var/lib/../../etc"),
      /^services\.billing\.postgres\.dataDirectory: "\/var\/lib\/\.\.\/\.\.\/etc" must not contain/,
    ],
    [
      "unknown host",
      (c) => (c.services.billing.host = "db9"),
      /^services\.billing\.host: "db9" is not a declared host \(declared: db1\)$/,
    ],
    [
      "misspelled field",
      (c) => (c.services.billing.retenton = { dailyDays: 3 }),
      /^services\.billing: unknown field "retenton"/,
    ],
    [
      "negative retention",
      (c) => (c.services.billing.retention = { dailyDays: 0 }),
      /^services\.billing\.retention\.dailyDays: 0 must be at least 1$/,
    ],
    [
      "off-site shorter than local",
      (c) => (c.services.billing.retention = { dailyDays: 14, offsiteDays: 7 }),
      /^services\.billing\.retention\.offsiteDays: 7 must be at least retention\.dailyDays \(14\)/,
    ],
    [
      "zstd before PostgreSQL 15",
      (c) => {
        c.services.billing.postgres.version = 14;
        c.services.billing.compression = "zstd";
      },
      /^services\.billing\.compression: "zstd" needs PostgreSQL 15 or later/,
    ],
    [
      "calendar with shell characters",
      (c) => (c.services.billing.schedule = { base: "daily; rm -rf /" }),
      /^services\.billing\.schedule\.base: "daily; rm -rf \/" must be a systemd OnCalendar expression/,
    ],
    [
      "randomized delay of a day",
      (c) => (c.services.billing.schedule = { randomizedDelay: "1d" }),
      /^services\.billing\.schedule\.randomizedDelay: "1d" must be less than 1d/,
    ],
    [
      "unknown connection type",
      (c) => ((c.hosts.db1.connection as any).type = "telnet"),
      /^hosts\.db1\.connection\.type: "telnet" must say how to reach the host/,
    ],
    [
      "port out of range",
      (c) => (c.services.billing.postgres.port = 70000),
      /^services\.billing\.postgres\.port: 70000 must be at most 65535$/,
    ],
    [
      "provision on a real host",
      (c) => (c.services.billing.postgres.provision = true),
      // eslint-disable-next-line max-len
      /^services\.billing\.postgres\.provision: true is only allowed on a sandbox host \(host "db1" has no connection\.rootPrefix\)/,
    ],
    [
      "relative root prefix on an SSH host",
      (c) => ((c.hosts.db1.connection as any).rootPrefix = "sandbox"),
      /^hosts\.db1\.connection\.rootPrefix: "sandbox" must be an absolute path/,
    ],
    [
      "missing postgres section",
      (c) => delete c.services.billing.postgres,
      /^services\.billing\.postgres: is required$/,
    ],
    [
      "two services on one data directory",
      (c) => (c.services.ledger = { host: "db1", postgres: { databases: ["ledger"], port: 5433 } }),
      // eslint-disable-next-line max-len
      /^services\.ledger\.postgres\.dataDirectory: "\/var\/lib\/postgresql\/15\/main" on host "db1" is already used by service "billing"$/,
    ],
    [
      "Redis sandbox on a real host",
      (c) => (c.services.billing.redis = { manager: { type: "process" }, provision: true }),
      /^services\.billing\.redis\.provision: true is only allowed on a sandbox host/,
    ],
    [
      "Redis appendfsync typo",
      (c) => (c.services.billing.redis = { persistence: { appendfsync: "every-second" } }),
      /^services\.billing\.redis\.persistence\.appendfsync: "every-second" must be one of "always", "everysec", "no"$/,
    ],
    [
      "Redis password that is too short",
      (c) => (c.services.billing.redis = { auth: { password: "short" } }),
      /^services\.billing\.redis\.auth\.password: .*must be at least 16 characters/,
    ],
    [
      "Redis password with a space or a line break",
      (c) => (c.services.billing.redis = { auth: { password: "0123456789abcdef\nrequirepass x" } }),
      /^services\.billing\.redis\.auth\.password: .*must be one line of printable characters, without spaces/,
    ],
    [
      "Redis ACL user with a space",
      (c) => (c.services.billing.redis = { auth: { user: "drkit jobs", password: "0123456789abcdefgh" } }),
      /^services\.billing\.redis\.auth\.user: "drkit jobs" must be an ACL user name/,
    ],
    [
      "Redis save point that is not a pair",
      (c) => (c.services.billing.redis = { persistence: { savePoints: [[900]] } }),
      /^services\.billing\.redis\.persistence\.savePoints\[0\]/,
    ],
    [
      "standby on an undeclared host",
      (c) => (c.services.billing.standbys = [{ name: "s1", host: "db9" }]),
      /^services\.billing\.standbys\[0\]\.host: "db9" is not a declared host/,
    ],
    [
      "standby on the primary's port",
      (c) => (c.services.billing.standbys = [{ name: "s1", host: "db1", port: 5432 }]),
      // eslint-disable-next-line max-len
      /^services\.billing\.standbys\[0\]\.port: 5432 on host "db1" is already the port of the PostgreSQL primary of service "billing"$/,
    ],
    [
      "standby on another service's primary port",
      (c) => {
        c.services.billing.standbys = [{ name: "s1", host: "db1", port: 5433 }];
        c.services.ledger = {
          host: "db1",
          postgres: { databases: ["ledger"], port: 5433, dataDirectory: "/srv/ledger" },
          paths: { backupRoot: "/srv/ledger-backups" },
        };
      },
      /^services\.ledger\.postgres\.port: 5433 on host "db1" is already the port of standby "s1" of service "billing"$/,
    ],
    [
      "two standbys on one port",
      (c) =>
        (c.services.billing.standbys = [
          { name: "s1", host: "db1", port: 5433 },
          { name: "s2", host: "db1", port: 5433 },
        ]),
      /^services\.billing\.standbys\[1\]\.port: 5433 on host "db1" is already the port of standby "s1" of service/,
    ],
    [
      "two stack hosts at one address, with one port",
      (c) => {
        (c.hosts as Record<string, unknown>).db1b = {
          connection: { type: "ssh", host: "DB1.internal", hostKey: HOST_KEY },
        };
        c.services.billing.standbys = [{ name: "s1", host: "db1b", port: 5432, address: "10.0.0.1" }];
        c.services.billing.replication = { tls: { generate: true } };
      },
      // eslint-disable-next-line max-len
      /^services\.billing\.standbys\[0\]\.port: 5432 on host "db1b" is already the port of the PostgreSQL primary of service "billing" on host "db1"$/,
    ],
    [
      "a sandbox object store on a sandbox PostgreSQL's port",
      (c) => {
        (c.hosts as Record<string, unknown>).db1 = { connection: { type: "local", rootPrefix: "/srv/sandbox" } };
        c.services.billing.postgres = {
          databases: ["billing"],
          port: 59001,
          provision: true,
          manager: { type: "pg_ctl" },
        };
        (c as Record<string, unknown>).objectStores = {
          box: {
            type: "minio",
            endpoint: "http://127.0.0.1:59000",
            bucket: "drkit-box",
            provision: { dataDirectory: "/srv/m" },
          },
        };
        c.services.billing.offsite = { targets: ["box"] };
      },
      // eslint-disable-next-line max-len
      /^objectStores\.box\.endpoint: 59001 on this machine is already the port of the PostgreSQL primary of service "billing" on host "db1"$/,
    ],
    [
      "Redis on the PostgreSQL port",
      (c) => (c.services.billing.redis = { port: 5432 }),
      /^services\.billing\.redis\.port: 5432 on host "db1" is already the port of the PostgreSQL primary of service/,
    ],
    [
      "rewind role that is the replication role",
      (c) => {
        c.services.billing.standbys = [{ name: "s1", host: "db1", port: 5433 }];
        c.services.billing.replication = { rewindRole: "drkit_replicator" };
      },
      /^services\.billing\.replication\.rewindRole: "drkit_replicator" must differ from role: the rewind role gets/,
    ],
    [
      "standby address that is not an IP address",
      (c) => (c.services.billing.standbys = [{ name: "s1", host: "db1", port: 5433, address: "10.0.0.300" }]),
      /^services\.billing\.standbys\[0\]\.address: "10\.0\.0\.300" must be an IP address \(IPv4 or IPv6\), as pg_hba/,
    ],
    ["RPO above a week", (c) => (c.services.billing.rpo = "8d"), /^services\.billing\.rpo: "8d" must be at most 7d$/],
    ["RTO above a week", (c) => (c.services.billing.rto = "30d"), /^services\.billing\.rto: "30d" must be at most 7d$/],
    [
      "job timeout above two days",
      (c) => (c.services.billing.jobTimeout = "3d"),
      /^services\.billing\.jobTimeout: "3d" must be at most 2d$/,
    ],
    [
      "a calendar that never elapses",
      (c) => (c.services.billing.schedule = { base: "*-02-30 02:00:00" }),
      /^services\.billing\.schedule\.base: "\*-02-30 02:00:00" never elapses: Feb has no day 30$/,
    ],
    [
      "a calendar hour out of range",
      (c) => (c.services.billing.schedule = { verify: "*-*-* 25:00:00" }),
      /^services\.billing\.schedule\.verify: "\*-\*-\* 25:00:00" has hour 25, outside 0-23$/,
    ],
    [
      "standby reached by name without an address",
      (c) => (c.services.billing.standbys = [{ name: "s1", host: "db1", port: 5433 }]),
      /^services\.billing\.standbys\[0\]\.address: is required when host "db1" is reached by name/,
    ],
    [
      "failover order naming no standby",
      (c) => {
        c.services.billing.standbys = [{ name: "s1", host: "db1", port: 5433, address: "10.0.0.2" }];
        c.services.billing.replication = { failoverOrder: ["s9"] };
      },
      /^services\.billing\.replication\.failoverOrder\[0\]: "s9" is not a standby of billing \(standbys: s1\)$/,
    ],
    [
      "a size change ratio of zero",
      (c) => (c.services.billing.monitoring = { sizeChangeRatio: 0 }),
      /^services\.billing\.monitoring\.sizeChangeRatio: 0 must be more than 0$/,
    ],
    [
      "a relative textfile directory",
      (c) => (c.services.billing.monitoring = { textfileDirectory: "metrics" }),
      /^services\.billing\.monitoring\.textfileDirectory: "metrics" must be an absolute path/,
    ],
    [
      "a replication lag that is not a size",
      (c) => (c.services.billing.monitoring = { replicationLagBytes: "lots" }),
      /^services\.billing\.monitoring\.replicationLagBytes: "lots" must be a size/,
    ],
    [
      "a runbook URL with a fragment",
      (c) => (c.services.billing.monitoring = { runbookBaseUrl: "https://wiki/x#y" }),
      /^services\.billing\.monitoring\.runbookBaseUrl: "https:\/\/wiki\/x#y" must be a URL or a path/,
    ],
    [
      "an unknown monitoring field",
      (c) => (c.services.billing.monitoring = { alertmanager: true }),
      /^services\.billing\.monitoring: unknown field "alertmanager"/,
    ],
    [
      "role name with a quote",
      (c) => (c.services.billing.postgres.role = "o'brien"),
      /^services\.billing\.postgres\.role: "o'brien" must be a database role name/,
    ],
  ];
  for (const [what, mutate, expected] of cases) {
    it(`rejects ${what}`, () => {
      const problems = problemsOf(mutate);
      expect(
        problems.some((p) => expected.test(p)),
        problems.join("\n"),
      ).toBe(true);
    });
  }

  it("reports every problem at once, not just the first", () => {
    const problems = problemsOf((c) => {
      c.services.billing.rpo = "0s";
      c.services.billing.postgres.version = 9;
    });
    expect(problems).toHaveLength(2);
  });
});

describe("defaults and values derived in one place", () => {
  const plan = buildPlan(base(), { baseDir: "/tmp" }).services[0];

  it("uses the default objectives, schedule and retention", () => {
    expect(plan.rpoSeconds).toBe(300);
    expect(plan.rtoSeconds).toBe(1800);
    expect(plan.jobs.find((j) => j.id === "base")!.calendar).toBe("*-*-* 02:00:00");
    expect(plan.randomizedDelaySeconds).toBe(900);
    expect(plan.retention).toEqual({ dailyDays: 7, weeklyWeeks: 12, longTermMonths: 0, offsiteDays: 30 });
    expect(plan.paths.backupRoot).toBe("/var/lib/billing/backups");
    expect(plan.paths.walDir).toBe("/var/lib/billing/backups/wal");
  });

  it("takes the data and configuration folders from a Debian unit's cluster name", () => {
    const config = base();
    config.services.billing.postgres.manager = { type: "systemd", unit: "postgresql@15-replica.service" };
    const pg = buildPlan(config, { baseDir: "/tmp" }).services[0].postgres;
    expect(pg.dataDirectory).toBe("/var/lib/postgresql/15/replica");
    expect(pg.configDirectory).toBe("/etc/postgresql/15/replica/conf.d");
    expect(plan.postgres.dataDirectory).toBe("/var/lib/postgresql/15/main");
    expect(plan.postgres.configDirectory).toBe("/etc/postgresql/15/main/conf.d");
  });

  it("derives archive_timeout below the RPO, leaving room for the copy", () => {
    const at = (rpo: string) => {
      const c = base();
      c.services.billing.rpo = rpo;
      return buildPlan(c, { baseDir: "/tmp" }).services[0].archiveTimeoutSeconds;
    };
    expect(at("5m")).toBe(240);
    expect(at("1m")).toBe(48);
    expect(at("1h")).toBe(3540);
    expect(at("1s")).toBe(1);
    for (const [rpo, seconds] of [
      ["2s", 2],
      ["30s", 30],
      ["10m", 600],
      ["1d", 86400],
    ] as const) {
      expect(at(rpo)).toBeLessThan(seconds);
      expect(at(rpo)).toBeGreaterThanOrEqual(seconds - 60);
    }
  });

  it("picks zstd for PostgreSQL 15 and later, gzip before", () => {
    expect(plan.compression.method).toBe("zstd");
    const c = base();
    c.services.billing.postgres.version = 14;
    expect(buildPlan(c, { baseDir: "/tmp" }).services[0].compression.method).toBe("gzip");
  });

  it("puts every host path of a sandbox under its root prefix, and nothing else", () => {
    const local = loadStackPlan(path.resolve(__dirname, "../.."), "local").services[0];
    const prefix = local.rootPrefix;
    expect(prefix).toMatch(/\.sandbox\/local$/);
    for (const p of Object.values(local.paths)) expect(p.startsWith(`${prefix}/`)).toBe(true);
    expect(local.postgres.dataDirectory.startsWith(prefix)).toBe(true);
    expect(local.postgres.binDirectory).toBe("/usr/lib/postgresql/15/bin");
  });

  it("derives the monitoring thresholds: 26 h for a daily backup, lags from the RPO, paths under the sandbox", () => {
    const config = base();
    config.hosts.db1 = { connection: { type: "local", rootPrefix: "/sandbox" } } as never;
    config.services.billing.rpo = "5m";
    config.services.billing.monitoring = {};
    const plan = buildPlan(config, { baseDir: "/tmp" }).services[0];
    const m = plan.monitoring!;
    expect(m.textfileDirectory).toBe("/sandbox/var/lib/prometheus/node-exporter");
    expect(m.rulesFile).toBe("/sandbox/etc/prometheus/rules/drkit-billing.yml");
    expect(m.collectIntervalSeconds).toBe(30);
    expect(m.thresholds).toMatchObject({
      maxAgeSeconds: { base: 93600, verify: 93600, logical: 168 * 3600 + 14 * 3600 },
      intervalSeconds: { base: 86400, verify: 86400, logical: 168 * 3600 },
      pendingSeconds: 30,
      rpoSeconds: 300,
      replicationLagSeconds: 180,
      replicationLagBytes: 256 * 1024 ** 2,
      metricsStaleSeconds: 150,
      shipperStaleSeconds: 300,
      retentionSeconds: 7 * 86400,
      sizeChangeRatio: 0.5,
    });
    // Every job may write its metrics (ProtectSystem=strict), and the collector runs as a service.
    for (const job of plan.jobs) expect(job.readWritePaths).toContain(m.textfileDirectory);
    expect(plan.jobs.find((j) => j.id === "metrics")).toMatchObject({ daemon: true, runAs: "postgres" });
    const without = buildPlan(base(), { baseDir: "/tmp" }).services[0];
    expect(without.monitoring).toBeUndefined();
    expect(without.jobs.some((j) => j.id === "metrics")).toBe(false);
  });

  it("loads the shipped production example", () => {
    const prod = loadStackPlan(path.resolve(__dirname, "../.."), "production");
    expect(prod.services.map((s) => s.name)).toEqual(["billing", "ledger", "catalog"]);
    expect(prod.services.find((s) => s.name === "ledger")!.archiveTimeoutSeconds).toBe(48);
  });
});

describe("SSH host keys", () => {
  const connectionOf = (connection: object) =>
    buildPlan(
      { hosts: { db1: { connection } }, services: { billing: { host: "db1", postgres: { databases: ["billing"] } } } },
      { baseDir: "/tmp" },
    ).services[0].host.connection;

  it("takes the host's .pub line or a known_hosts line, and pins '<type> <base64>'", () => {
    const [type, data] = HOST_KEY.split(" ");
    for (const line of [`${HOST_KEY} root@db1`, `db1.internal,10.0.0.1 ${HOST_KEY}`, `  ${type}   ${data}  `])
      expect(connectionOf({ type: "ssh", host: "db1.internal", hostKey: line })).toMatchObject({
        hostKey: HOST_KEY,
        acceptAnyHostKey: false,
      });
  });

  it("acceptAnyHostKey: true stands instead of a key, and then no key is pinned", () => {
    const c = connectionOf({ type: "ssh", host: "db1.internal", acceptAnyHostKey: true });
    expect(c).toMatchObject({ acceptAnyHostKey: true });
    expect(c).not.toHaveProperty("hostKey");
  });

  it("the shipped stacks pin every SSH host's key", () => {
    const repo = path.resolve(__dirname, "../..");
    let pinned = 0;
    for (const stack of ["production", "hosts"]) {
      const hosts = readStackConfig(repo, stack).hosts as Record<string, any>;
      for (const [name, host] of Object.entries(hosts)) {
        if (host.connection.type !== "ssh") continue;
        expect(parseSshHostKey(host.connection.hostKey ?? ""), `${stack}: ${name}`).toHaveProperty("key");
        pinned++;
      }
    }
    expect(pinned).toBe(6);
  });
});
