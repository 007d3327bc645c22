import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, repoDir, type EngineProject } from "../helpers/engine";
import { runAsync, waitFor } from "../helpers/sandbox";
import * as fs from "node:fs";
import * as path from "node:path";
import { mcBinary, mcHostValue } from "../helpers/minio";
import { startMinioService, type MinioService } from "../helpers/minioHost";
import { makeTestCa } from "../helpers/testCa";
import { bootTestHosts, type TestHost, type TestNetwork } from "../helpers/testHosts";

/**
 * Real hosts: Debian's PostgreSQL and Redis run under systemd on a booted container reached over SSH, MinIO
 * serves HTTPS (a test CA in each host's trust store) as a systemd service on another, and every drkit job is
 * started by systemd as its unit's user, under its hardening.
 */
describe("a booted systemd host over SSH: pulumi up, then every job run by systemd as its unit's user", () => {
  let network: TestNetwork;
  let db1: TestHost;
  let project: EngineProject;
  let minio: MinioService;
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
  /** The keys in the bucket, listed from this machine over HTTPS. */
  const bucketKeys = async () => {
    const r = await runAsync(mcBinary(), ["ls", "--recursive", "--json", "s3/drkit-billing"], {
      MC_HOST_s3: mcHostValue(minio.endpoint, minio.accessKey, minio.secretKey),
      MC_CONFIG_DIR: path.join(project.dir, "..", "mc"),
      SSL_CERT_FILE: project.env.SSL_CERT_FILE,
    });
    if (r.status !== 0) throw new Error(`mc ls: ${r.stderr}`);
    return r.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { key: string }).key);
  };

  beforeAll(async () => {
    network = await bootTestHosts([
      { name: "db1", postgres: true, redis: true },
      { name: "s3", postgres: false },
    ]);
    db1 = network.host("db1");
    const s3 = network.host("s3");
    project = engineProject("hosts");
    const ca = makeTestCa(path.join(project.dir, "..", "ca"));
    for (const host of network.hosts) ca.trustIn(host.root);
    // the machine running pulumi trusts the CA too: it configures the bucket
    project.env.SSL_CERT_FILE = ca.bundleWithSystem();
    minio = await startMinioService(s3, ca.issue("s3", { ips: [s3.address], dns: ["s3"] }));
    fs.copyFileSync(mcBinary(), path.join(db1.root, "usr/local/bin/mc"));
    // What a real host has before drkit: its database, and Redis's main config including drkit's drop-in.
    await onHost(
      [
        "runuser -u postgres -- psql -X -q -c 'CREATE DATABASE billing'",
        "echo 'include /etc/redis/drkit-billing.conf' >> /etc/redis/redis.conf",
        "install -d -m 0750 /etc/billing && echo 'API_TOKEN=token-on-db1' > /etc/billing/billing.env",
      ].join(" && "),
    );
    // the shipped example as it is, on the test hosts' addresses
    const example = fs.readFileSync(path.join(repoDir, "stacks", "Pulumi.hosts.yaml"), "utf8");
    expect(example).toContain("host: 10.231.0.10\n");
    expect(example).toContain("endpoint: https://10.231.0.11:9000\n");
    project.writeStack(
      "hosts",
      example
        .replace("host: 10.231.0.10\n", `host: ${db1.address}\n`)
        .replace("https://10.231.0.11:", `https://${s3.address}:`),
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
    // sooner than the example's hourly snapshot, so a timer fires during the test; no random delay
    for (const [key, value] of [
      ["drkit:services.billing.redis.snapshot.schedule", "*-*-* *:*:00"],
      ["drkit:services.billing.schedule.randomizedDelay", "0s"],
    ]) {
      const r = await pulumi(["config", "set", "--path", key, "--", value]);
      expect(r.status, r.stderr).toBe(0);
    }
    for (const [key, value] of [
      ["accessKey", minio.accessKey],
      ["secretKey", minio.secretKey],
    ]) {
      const r = await pulumi(["config", "set", "--secret", "--path", `drkit:objectStores.site-s3.${key}`, "--", value]);
      expect(r.status, r.stderr).toBe(0);
    }
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

  it("off-site over HTTPS: shipper (postgres) and catch-up (root) upload; postgres jobs still run after", async () => {
    const shipperPid = await unitProperty("drkit-billing-shipper.service", "MainPID");
    expect(await unitProperty("drkit-billing-shipper.service", "ActiveState")).toBe("active");
    expect(await onHost(`ps -o user= -p ${shipperPid}`)).toBe("postgres");
    const catchUp = await runJob("offsite");
    expect(catchUp, `${catchUp.journal}\n${catchUp.stderr}`).toMatchObject({ started: 0, result: "success" });
    expect([...catchUp.uids]).toEqual(["0"]);
    let listed: string[] = [];
    const complete = (all: string[]) =>
      [/^billing\/wal\/[0-9A-F]{24}/, /^billing\/base\/[^/]+\/drkit-backup\.env$/, /^billing\/valkey\//].every((re) =>
        all.some((k) => re.test(k)),
      );
    await waitFor("WAL, the base backup and the Redis snapshot in the bucket", async () => {
      listed = await bucketKeys();
      return complete(listed) ? true : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}; the bucket holds: ${listed.join(" ")}`);
    });
    const keys = listed;
    expect(keys.some((k) => k.startsWith("billing/logical/"))).toBe(true);
    // what root made for its markers must not lock the postgres jobs out
    for (const job of ["base", "logical"]) {
      const r = await runJob(job);
      expect(r, `${job} after the catch-up: ${r.journal}`).toMatchObject({ started: 0, result: "success" });
    }
    await waitFor("the prune after the second base backup", async () =>
      (await unitProperty("drkit-billing-prune.service", "ActiveState")) === "inactive" ? true : undefined,
    );
    expect(await unitProperty("drkit-billing-prune.service", "Result")).toBe("success");
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
