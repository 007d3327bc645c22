import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, type EngineProject } from "../helpers/engine";
import { waitFor } from "../helpers/sandbox";
import { bootTestHosts, type TestHost, type TestNetwork } from "../helpers/testHosts";

/**
 * A real host: Debian's PostgreSQL and Redis run under systemd in a booted container reached over SSH, and
 * every drkit job is started by systemd as its unit's user, under its hardening.
 */
describe("a booted systemd host over SSH: pulumi up, then every job run by systemd as its unit's user", () => {
  let network: TestNetwork;
  let db1: TestHost;
  let project: EngineProject;
  const pulumi = (args: string[]) => project.pulumi(args);
  const onHost = async (script: string) => {
    const r = await db1.ssh(script);
    if (r.status !== 0) throw new Error(`on ${db1.name}: ${script}\n${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
  };
  const unitProperty = async (unit: string, property: string) =>
    onHost(`systemctl show --value -p ${property} ${unit}`);
  /** Starts a job's service and waits for it; the run's result, exit status and the journal's users. */
  const runJob = async (job: string) => {
    const unit = `drkit-billing-${job}.service`;
    const started = await db1.ssh(`systemctl start ${unit}`, 600_000);
    const journal = await onHost(`journalctl -q -o json --output-fields=_UID,MESSAGE,SYSLOG_IDENTIFIER -u ${unit}`);
    // the job's own lines (its unit sets SyslogIdentifier=), not systemd's about it
    const lines = journal.split("\n").map((line) => JSON.parse(line) as Record<string, string>);
    const uids = new Set(
      lines.filter((l) => l.SYSLOG_IDENTIFIER === unit.replace(/\.service$/, "")).map((l) => l._UID),
    );
    return {
      started: started.status,
      result: await unitProperty(unit, "Result"),
      status: await unitProperty(unit, "ExecMainStatus"),
      uids,
      journal,
      stderr: started.stderr,
    };
  };
  const uidOf = (user: string) => onHost(`id -u ${user}`);

  beforeAll(async () => {
    network = await bootTestHosts([{ name: "db1", postgres: true, redis: true }]);
    db1 = network.host("db1");
    // What a real host has before drkit: its database, and Redis's main config including drkit's drop-in.
    await onHost(
      [
        "runuser -u postgres -- psql -X -q -c 'CREATE DATABASE billing'",
        "echo 'include /etc/redis/drkit-billing.conf' >> /etc/redis/redis.conf",
        "install -d -m 0750 /etc/billing && echo 'API_TOKEN=token-on-db1' > /etc/billing/billing.env",
      ].join(" && "),
    );
    project = engineProject("hosts");
    project.writeStack(
      "hosts",
      `config:
  drkit:hosts:
    db1:
      connection: { type: ssh, host: ${db1.address}, user: root }
  drkit:services:
    billing:
      host: db1
      rpo: 5m
      postgres:
        databases: [billing]
        manager: { type: systemd, unit: postgresql@15-main.service }
      redis:
        manager: { type: systemd, unit: redis-server.service }
        snapshot: { schedule: "*-*-* *:*:00" }
      configFiles: [/etc/billing/billing.env]
      schedule: { randomizedDelay: 0s }
      monitoring: {}
`,
    );
    expect((await pulumi(["stack", "init", "hosts"])).status).toBe(0);
    const set = await pulumi([
      "config",
      "set",
      "--secret",
      "--path",
      "drkit:hosts.db1.connection.privateKey",
      "--",
      network.privateKey,
    ]);
    expect(set.status, set.stderr).toBe(0);
  });
  afterAll(() => {
    network?.teardown();
    project?.remove();
  });

  it("pulumi up provisions the host over SSH and the running server takes the settings", async () => {
    const r = await pulumi(["up", "--yes", "--skip-preview"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(await onHost("runuser -u postgres -- psql -X -Atq -c 'SHOW archive_mode'")).toBe("on");
    expect(await onHost("systemctl is-enabled drkit-billing-base.timer")).toBe("enabled");
    expect(await onHost("systemctl is-active drkit-billing-base.timer")).toBe("active");
  });

  it("a second up is a no-op", async () => {
    const r = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });

  it("the base backup runs as postgres, logs to the journal, and its OnSuccess= prune runs after it", async () => {
    const postgres = await uidOf("postgres");
    const base = await runJob("base");
    expect(base, base.journal).toMatchObject({ started: 0, result: "success", status: "0" });
    expect([...base.uids]).toEqual([postgres]);
    expect(base.journal).toMatch(/base backup/i);
    const prune = await waitFor("the prune that follows the base backup", async () => {
      const state = await unitProperty("drkit-billing-prune.service", "ExecMainExitTimestampMonotonic");
      return state !== "0" ? state : undefined;
    });
    expect(Number(prune)).toBeGreaterThan(0);
    expect(await unitProperty("drkit-billing-prune.service", "Result")).toBe("success");
  });

  it("the logical backup, the restore test and the config backup succeed as their users", async () => {
    const postgres = await uidOf("postgres");
    for (const [job, uid] of [
      ["logical", postgres],
      ["verify", postgres],
      ["config", "0"],
    ] as const) {
      const r = await runJob(job);
      expect(r, `${job}: ${r.journal}\n${r.stderr}`).toMatchObject({ started: 0, result: "success", status: "0" });
      expect([...r.uids], job).toEqual([uid]);
    }
  });

  it("the Redis snapshot runs as redis", async () => {
    const r = await runJob("redis");
    expect(r, `${r.journal}\n${r.stderr}`).toMatchObject({ started: 0, result: "success", status: "0" });
    expect([...r.uids]).toEqual([await uidOf("redis")]);
  });

  it("a timer starts its job by itself at its OnCalendar time", async () => {
    // a manual start leaves the timer's last trigger unset: only the timer itself sets it
    const fired = await waitFor(
      "drkit-billing-redis.timer to fire",
      async () => {
        const last = await unitProperty("drkit-billing-redis.timer", "LastTriggerUSec");
        return last !== "" && last !== "n/a" ? last : undefined;
      },
      150,
    );
    expect(fired).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
    await waitFor("the timer's run to finish", async () =>
      (await unitProperty("drkit-billing-redis.service", "ActiveState")) !== "activating" ? true : undefined,
    );
    expect(await unitProperty("drkit-billing-redis.service", "Result")).toBe("success");
  });
});
