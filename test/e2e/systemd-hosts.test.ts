import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, repoDir, type EngineProject } from "../helpers/engine";
import { runAsync, waitFor } from "../helpers/sandbox";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { mcBinary, mcHostValue } from "../helpers/minio";
import { startMinioService, type MinioService } from "../helpers/minioHost";
import { makeTestCa, type TestCa } from "../helpers/testCa";
import { bootTestHosts, type TestHost, type TestNetwork } from "../helpers/testHosts";
import { parse, stringify } from "yaml";

/**
 * Real hosts: Debian's PostgreSQL and Redis run under systemd on a booted container reached over SSH, MinIO
 * serves HTTPS (a test CA in each host's trust store) as a systemd service on another, and every drkit job is
 * started by systemd as its unit's user, under its hardening.
 */
describe("a booted systemd host over SSH: pulumi up, then every job run by systemd as its unit's user", () => {
  let network: TestNetwork;
  let db1: TestHost;
  let db2: TestHost;
  let project: EngineProject;
  let minio: MinioService;
  let ca: TestCa;
  let identityFile: string;
  let ageRecipient: string;
  const pulumi = (args: string[]) => project.pulumi(args);
  const on = async (host: TestHost, script: string) => {
    const r = await host.ssh(script);
    if (r.status !== 0) throw new Error(`on ${host.name}: ${script}\n${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
  };
  const onHost = (script: string) => on(db1, script);
  const psql = (host: TestHost, query: string, db = "billing") =>
    on(host, `runuser -u postgres -- psql -X -Atq -v ON_ERROR_STOP=1 -d ${db} -c ${JSON.stringify(query)}`);
  /** What a real host has before drkit: its database, Redis including drkit's drop-in, mc, a config file. */
  const preparedHost = async (host: TestHost) => {
    fs.copyFileSync(mcBinary(), path.join(host.root, "usr/local/bin/mc"));
    await on(
      host,
      [
        "runuser -u postgres -- psql -X -q -c 'CREATE DATABASE billing'",
        "echo 'include /etc/redis/drkit-billing.conf' >> /etc/redis/redis.conf",
        `install -d -m 0750 /etc/billing && echo 'API_TOKEN=token-on-${host.name}' > /etc/billing/billing.env`,
      ].join(" && "),
    );
  };
  /** db1 before drkit: the standby on db2 connects to its address, so its server listens there too. */
  const preparedPrimary = async (host: TestHost) => {
    await preparedHost(host);
    await on(
      host,
      `echo "listen_addresses = 'localhost,${host.address}'" > /etc/postgresql/15/main/conf.d/listen.conf && ` +
        "systemctl restart postgresql@15-main",
    );
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
  const mcEnv = () => ({
    MC: mcBinary(),
    MC_HOST_s3: mcHostValue(minio.endpoint, minio.accessKey, minio.secretKey),
    MC_CONFIG_DIR: path.join(project.dir, "..", "mc"),
    SSL_CERT_FILE: ca.bundleWithSystem(),
  });
  const bucketKeys = async () => {
    const r = await runAsync(mcBinary(), ["ls", "--recursive", "--json", "s3/drkit-billing"], mcEnv());
    if (r.status !== 0) throw new Error(`mc ls: ${r.stderr}`);
    return r.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { key: string }).key);
  };

  /**
   * A stack of the shipped example (as it is) with db1 at `host`'s address, MinIO on s3, its secrets set, and
   * two schedules shortened: sooner than the example's hourly snapshot, so a timer fires during the test. With
   * `standby`, db2 runs the example's standby and replication uses a certificate for db1 and db2 from the test
   * CA; without, the stack has neither (the stacks that put db2 at db1's place).
   */
  const hostsStack = async (stack: string, host: TestHost, hostKey = host.hostKey, standby = false) => {
    const example = fs.readFileSync(path.join(repoDir, "stacks", "Pulumi.hosts.yaml"), "utf8");
    for (const address of ["host: 10.231.0.10\n", "host: 10.231.0.12\n", "endpoint: https://10.231.0.11:9000\n"])
      expect(example).toContain(address);
    let text = example
      .replace("host: 10.231.0.10\n", `host: ${host.address}\n`)
      .replace("host: 10.231.0.12\n", `host: ${db2.address}\n`)
      .replace("https://10.231.0.11:", `https://${network.host("s3").address}:`);
    if (!standby) {
      const doc = parse(text);
      delete doc.config["drkit:hosts"].db2;
      delete doc.config["drkit:services"].billing.standbys;
      text = stringify(doc);
    }
    project.writeStack(stack, text);
    expect((await pulumi(["stack", "init", stack])).status).toBe(0);
    // One certificate for both hosts that may be the primary: db2 serves it once promoted, for db1's fail-back.
    const primaryTls = standby ? ca.issue("db1", { ips: [host.address, db2.address] }) : undefined;
    const read = (file: string) => fs.readFileSync(file, "utf8");
    const standbySettings = primaryTls
      ? ([
          ["drkit:hosts.db2.connection.privateKey", network.privateKey, true],
          ["drkit:hosts.db2.connection.hostKey", db2.hostKey, false],
          ["drkit:services.billing.replication.tls.ca", read(ca.certFile), false],
          ["drkit:services.billing.replication.tls.certificate", read(primaryTls.certFile), false],
          ["drkit:services.billing.replication.tls.key", read(primaryTls.keyFile), true],
        ] as const)
      : [];
    for (const [key, value, secret] of [
      ...standbySettings,
      ["drkit:hosts.db1.connection.privateKey", network.privateKey, true],
      ["drkit:hosts.db1.connection.hostKey", hostKey, false],
      ["drkit:objectStores.site-s3.caCertificate", fs.readFileSync(ca.certFile, "utf8"), false],
      ["drkit:objectStores.site-s3.accessKey", minio.accessKey, true],
      ["drkit:objectStores.site-s3.secretKey", minio.secretKey, true],
      ["drkit:services.billing.redis.snapshot.schedule", "*-*-* *:*:00", false],
      ["drkit:services.billing.schedule.randomizedDelay", "0s", false],
      ["drkit:services.billing.offsite.encryption.recipients[0]", ageRecipient, false],
    ] as const)
      await project.setConfig(stack, key, value, secret);
  };

  beforeAll(async () => {
    network = await bootTestHosts([
      { name: "db1", postgres: true, redis: true },
      { name: "s3", postgres: false },
      { name: "db2", postgres: true, redis: true },
    ]);
    db1 = network.host("db1");
    db2 = network.host("db2");
    const s3 = network.host("s3");
    project = engineProject("hosts");
    // The identity that opens the off-site copies: on this machine only; restores on the hosts get a copy.
    identityFile = path.join(project.dir, "..", "age-identity");
    execFileSync("age-keygen", ["-o", identityFile], { stdio: "ignore" });
    ageRecipient = execFileSync("age-keygen", ["-y", identityFile], { encoding: "utf8" }).trim();
    // No host trusts this CA system-wide: the stack gives it as the store's own (caCertificate).
    // Longer than the 30 days of notice the certificate job gives before a given certificate expires.
    ca = makeTestCa(path.join(project.dir, "..", "ca"), "drkit test CA", 90);
    minio = await startMinioService(s3, ca.issue("s3", { ips: [s3.address], dns: ["s3"] }), ca.certFile);
    await preparedPrimary(db1);
    // db2 stands by as the replacement of a lost db1: a cluster of its own (another system identifier)
    await on(db2, "pg_dropcluster --stop 15 main && pg_createcluster 15 main --start >/dev/null");
    await preparedHost(db2);
    await hostsStack("hosts", db1, db1.hostKey, true);
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

  it("db2's standby, a Debian cluster drkit registered, streams from db1 over verified TLS", async () => {
    expect(await on(db2, "systemctl is-active postgresql@15-replica.service")).toBe("active");
    const replica = (query: string) =>
      on(db2, `runuser -u postgres -- psql -X -Atq -p 5433 -d billing -c ${JSON.stringify(query)}`);
    expect(await replica("SHOW primary_conninfo")).toContain(
      "sslmode=verify-full sslrootcert=/etc/drkit/billing/tls/replica-ca.crt",
    );
    const walsender =
      "SELECT r.client_addr || ' ' || s.ssl || ' ' || s.version FROM pg_stat_replication r JOIN pg_stat_ssl s " +
      "USING (pid) WHERE r.application_name = 'replica'";
    expect(await psql(db1, walsender)).toBe(`${db2.address}/32 true TLSv1.3`);
    await psql(db1, "CREATE TABLE replicated (v text); INSERT INTO replicated VALUES ('over TLS')");
    await waitFor("the row on db2's standby", async () =>
      (
        await db2.ssh(`runuser -u postgres -- psql -X -Atq -p 5433 -d billing -c 'SELECT v FROM replicated'`)
      ).stdout.trim() === "over TLS"
        ? true
        : undefined,
    );
    // From db2, as the standby would: without TLS pg_hba refuses; trusting another CA the client refuses db1.
    const identify = (words: string) =>
      db2.ssh(
        "runuser -u postgres -- psql -X -Atq -c IDENTIFY_SYSTEM " +
          `"host=${db1.address} user=drkit_replicator dbname=replication replication=true ` +
          `passfile=/etc/drkit/billing/standby-replica.pgpass ${words}"`,
      );
    const plain = await identify("sslmode=disable");
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/pg_hba\.conf rejects replication connection .* no encryption/);
    const otherCa = await identify("sslmode=verify-full sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem");
    expect(otherCa.status).not.toBe(0);
    expect(otherCa.stderr).toContain("certificate verify failed");
    const good = await identify("sslmode=verify-full sslrootcert=/etc/drkit/billing/tls/replica-ca.crt");
    expect(good.status, good.stderr).toBe(0);
  });

  it("the SSH key and the store's keys are secrets: encrypted in the stack file, absent from state and output", () => {
    const stackFile = fs.readFileSync(path.join(project.dir, "stacks", "Pulumi.hosts.yaml"), "utf8");
    expect(stackFile).toMatch(/privateKey:\s*\{?\s*secure:\s*'?v1:/);
    // a line from the middle of the key, and the store's secret key
    const keyLine = network.privateKey.split("\n")[2];
    expect(keyLine.length).toBeGreaterThan(30);
    expect(stackFile).not.toContain(minio.secretKey);
    const state = project.stateText();
    expect(state).toContain("4dabf18193072939515e22adb298388d");
    for (const text of [state, ...project.outputs]) {
      expect(text).not.toContain(keyLine);
      expect(text).not.toContain("BEGIN OPENSSH PRIVATE KEY");
      expect(text).not.toContain(minio.secretKey);
    }
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

  it("the logical, restore test, config and certificate jobs succeed as their users", async () => {
    const postgres = await uidOf("postgres");
    for (const [job, uid] of [
      ["logical", postgres],
      ["verify", postgres],
      ["config", "0"],
      ["tls", "0"],
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

  it("off-site over HTTPS: shipper and catch-up upload as postgres; each job reads the other's files", async () => {
    const shipperPid = await unitProperty("drkit-billing-shipper.service", "MainPID");
    expect(await unitProperty("drkit-billing-shipper.service", "ActiveState")).toBe("active");
    expect(await onHost(`ps -o user= -p ${shipperPid}`)).toBe("postgres");
    const catchUp = await runJob("offsite");
    expect(catchUp, `${catchUp.journal}\n${catchUp.stderr}`).toMatchObject({ started: 0, result: "success" });
    expect([...catchUp.uids]).toEqual([await uidOf("postgres")]);
    let listed: string[] = [];
    const complete = (all: string[]) =>
      [
        /^billing\/wal\/[0-9A-F]{24}/,
        /^billing\/base\/[^/]+\/drkit-backup\.env$/,
        /^billing\/valkey\//,
        /^billing\/config\/config_\d{8}T\d{6}Z\.tar\.age$/,
      ].every((re) => all.some((k) => re.test(k)));
    await waitFor("WAL, the base backup and the Redis snapshot in the bucket", async () => {
      listed = await bucketKeys();
      return complete(listed) ? true : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}; the bucket holds: ${listed.join(" ")}`);
    });
    const keys = listed;
    expect(keys.some((k) => k.startsWith("billing/logical/"))).toBe(true);
    // Every copy left db1 encrypted (the archive's owner record is no backup: it stays readable to every host).
    for (const key of keys.filter((k) => k !== "billing/drkit-archive.env")) {
      const head = await runAsync("bash", ["-c", `"$MC" cat "s3/drkit-billing/${key}" | head -c 21`], mcEnv());
      expect(head.stdout, key).toBe("age-encryption.org/v1");
    }
    // the Redis job sees the confirmation of its snapshot (retention keeps unconfirmed ones forever)
    const marks = "/var/lib/billing/backups/.offsite/site-s3/valkey";
    const snapshot = await onHost(`ls ${marks} | head -n 1`);
    expect(snapshot).toMatch(/^\d{8}T\d{6}Z$/);
    expect(await onHost(`runuser -u redis -- test -e ${marks}/${snapshot} && echo seen`)).toBe("seen");
    // every job still runs after the catch-up
    for (const job of ["base", "logical", "redis"]) {
      const r = await runJob(job);
      expect(r, `${job} after the catch-up: ${r.journal}`).toMatchObject({ started: 0, result: "success" });
    }
    await waitFor("the prune after the second base backup", async () =>
      (await unitProperty("drkit-billing-prune.service", "ActiveState")) === "inactive" ? true : undefined,
    );
    expect(await unitProperty("drkit-billing-prune.service", "Result")).toBe("success");
  });

  it("mc on the host trusts the store's CA from the stack and no other: another CA is refused", async () => {
    // the host's system trust store does not hold the CA (a line from the middle of its PEM)
    const caLine = fs.readFileSync(ca.certFile, "utf8").split("\n")[2];
    expect(caLine).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    expect(await onHost(`grep -cF '${caLine}' /etc/ssl/certs/ca-certificates.crt || true`)).toBe("0");
    const other = makeTestCa(path.join(project.dir, "..", "other-ca"), "another CA");
    // under /etc: the host's /tmp is a tmpfs of its own
    fs.copyFileSync(other.certFile, path.join(db1.root, "etc", "drkit-other-ca.crt"));
    const settings = "/usr/local/lib/drkit/billing/drkit.env";
    const r = await db1.ssh(
      `{ cat ${settings}; echo "OFFSITE_CA_FILES=('/etc/drkit-other-ca.crt')"; } > /etc/drkit-other-ca.env && ` +
        "chmod 0644 /etc/drkit-other-ca.env /etc/drkit-other-ca.crt && " +
        "runuser -u postgres -- env DRKIT_ENV=/etc/drkit-other-ca.env /usr/local/lib/drkit/billing/fetch-offsite " +
        "list-bases",
    );
    expect(r.status, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/x509: certificate signed by unknown authority/);
    // The base backups' metadata is encrypted too: listing them takes the identity (a copy for this check).
    fs.copyFileSync(identityFile, path.join(db1.root, "etc", "drkit-test-identity"));
    const ok = await db1.ssh(
      "chown postgres /etc/drkit-test-identity && chmod 0600 /etc/drkit-test-identity && " +
        "runuser -u postgres -- /usr/local/lib/drkit/billing/fetch-offsite list-bases " +
        "--identity /etc/drkit-test-identity; " +
        "status=$?; rm -f /etc/drkit-test-identity; exit $status",
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/\d{8}T\d{6}Z/);
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

  it("drkit drill --break-host plays the scenarios on db1 and db2 over SSH, jobs started by systemd", async () => {
    const completedBases = async () =>
      (await onHost("journalctl -q -o cat -u drkit-billing-base.service | grep -c 'base backup .* complete' || true"))
        .split("\n")
        .map(Number)[0];
    const drillStart = await onHost("date +%s");
    // The key line of age-keygen's file: the drill's pulumi up (host loss) validates it as the stack does.
    const identityKey = fs
      .readFileSync(identityFile, "utf8")
      .split("\n")
      .find((line) => line.startsWith("AGE-SECRET-KEY-1"))!;
    await project.setConfig("hosts", "drkit:services.billing.offsite.encryption.identity", identityKey, true);
    const reportDir = path.join(project.dir, "..", "drill-report");
    // What an operator's cloud does for the drill, asked by its --replace-host and --power-host commands: destroy
    // db1 and bring up a new host at its address (prepared as db1 was before drkit, with SSH host keys of its own);
    // power db1 off at once, and on again.
    const oldKey = db1.hostKey;
    const socket = path.join(project.dir, "..", "host-commands.sock");
    const asked: string[] = [];
    const machines = http.createServer((req, res) => {
      const [action, name] = decodeURIComponent((req.url ?? "/").slice(1)).split("/");
      asked.push(`${action} ${name}`);
      const host = network.host(name);
      const act: Record<string, () => Promise<unknown>> = {
        // A new machine's own initdb: not the system identifier the test hosts share with this machine's cluster.
        replace: () =>
          host
            .replace()
            .then(() => on(host, "pg_dropcluster --stop 15 main && pg_createcluster 15 main --start >/dev/null"))
            .then(() => preparedPrimary(host)),
        off: () => host.kill(),
        on: () => host.powerOn(),
      };
      (act[action] ?? (() => Promise.reject(new Error(`unknown action ${action}`))))().then(
        () => res.end(action === "replace" ? `${host.hostKey}\n` : ""),
        (error: Error) => {
          res.statusCode = 500;
          res.end(`${error.message}\n`);
        },
      );
    });
    await new Promise<void>((resolve) => machines.listen(socket, resolve));
    const ask = (what: string) =>
      `curl -sS --fail-with-body --max-time 900 --unix-socket ${socket} "http://test/${what}/$DRKIT_DRILL_HOST"`;
    const r = await project
      .drkit(
        [
          ...["drill", "--stack", "hosts", "--no-provision", "--break-host", "db1", "db2"],
          ...["--replace-host", ask("replace"), "--power-host", ask("$DRKIT_DRILL_POWER")],
          ...["--report-dir", reportDir],
        ],
        1_800_000,
      )
      .finally(() => machines.close());
    expect(r.status, `${r.stdout.slice(-4000)}\n${r.stderr.split("\n").slice(-60).join("\n")}`).toBe(0);
    // db1 was replaced once, then powered off and on once; the stack pins the new host's key
    expect(asked).toEqual(["replace db1", "off db1", "on db1"]);
    // its up replaced every command of db1 without running their deletes there
    expect(r.stdout).toContain("the host was replaced, and what the command made went with the old one");
    expect(db1.hostKey).not.toBe(oldKey);
    const pinned = await pulumi(["config", "get", "--path", "drkit:hosts.db1.connection.hostKey", "--stack", "hosts"]);
    expect(pinned.stdout.trim()).toBe(db1.hostKey);
    expect(r.stdout).toContain("drill of hosts: PASS");
    // the verdicts with their RTO and RPO, for the run's log
    console.log(
      r.stdout
        .split("\n")
        .filter((line) => /^\s+(PASS|FAIL)\s/.test(line))
        .join("\n"),
    );
    const report = JSON.parse(fs.readFileSync(path.join(reportDir, "report.json"), "utf8"));
    // where the replaced host's recovery time goes, for the run's log
    const lossSteps = report.scenarios.find((s: { id: string }) => s.id === "host-loss").steps;
    console.log(
      lossSteps.map((s: { name: string; seconds: number }) => `  ${s.seconds.toFixed(1)}s  ${s.name}`).join("\n"),
    );
    expect(report.scenarios.map((s: { id: string; verdict: string }) => `${s.id} ${s.verdict}`)).toEqual([
      "accidental-deletion PASS",
      "corrupt-backup PASS",
      "redis-loss PASS",
      "host-loss PASS",
      "primary-crash PASS",
    ]);
    const notPlayed = Object.fromEntries(report.notPlayed.map((n: { id: string; reason: string }) => [n.id, n.reason]));
    expect(notPlayed["pitr-after-failover"]).toMatch(/standby replica runs on another host \(db2\)/);
    expect(notPlayed["store-outage"]).toMatch(/real hosts/);
    expect(report.environment.host).toMatch(/^db1: \S+ \(\d+ cores\), over SSH; the drill ran db1, db2$/);
    const steps = report.scenarios.flatMap((s: { steps: { name: string; ok: boolean }[] }) => s.steps);
    expect(steps.every((s: { ok: boolean }) => s.ok)).toBe(true);
    const names = steps.map((s: { name: string }) => s.name);
    expect(names).toContain("on db1: restore-pitr to just before the DELETE");
    expect(names).toContain("rebuild standby replica on db2 from the restored primary");
    // host loss: db1 destroyed, a new host at its address provisioned by pulumi up in the same stack and restored
    for (const step of [
      "on db1: destroyed; a new host brought up at its address (--replace-host)",
      "pin the new host's key in the stack (hosts.db1.connection.hostKey)",
      "pulumi up: drkit's agent, settings and credentials on the new db1",
      "on db1: restore-pitr --from-offsite --force (base backup and WAL from the object store)",
      "pulumi up again: archiving and the rest of the stack on the new db1",
    ])
      expect(names).toContain(step);
    const loss = report.scenarios.find((s: { id: string }) => s.id === "host-loss");
    const firstUp = loss.steps.find((s: { name: string }) => s.name.startsWith("pulumi up: "));
    expect(firstUp.detail).toMatch(/stopped at claim-archive/);
    // primary crash across hosts: db1 powered off, db2 promoted and written to, db1 powered on and kept down by its
    // guard, rewound from db2 over TLS, failed back
    for (const step of [
      "on db2: promote-standby replica",
      "on db1: powered on again (--power-host)",
      "on db1: the old primary stays down at boot: replica was promoted (guard-primary)",
      "on db2: first write accepted on the new primary",
      "on db1: rejoin-as-standby --primary replica (pg_rewind from db2 over verified TLS)",
    ])
      expect(names).toContain(step);
    const crash = report.scenarios.find((s: { id: string }) => s.id === "primary-crash");
    expect(crash.timeline.find((e: { kind: string }) => e.kind === "service-back").label).toBe(
      "replica on db2 accepts writes",
    );
    // db2 is synchronous: every commit acknowledged on db1 before the kill is on db2
    expect(crash.reasons).toContain("replica is synchronous: no acknowledged commit may be lost");
    expect(crash.workload.acknowledgedCommits).toBeGreaterThanOrEqual(150);
    expect(crash.rpo.lostCommits).toBe(0);
    const disasters = report.scenarios.map(
      (s: { timeline: { kind: string; label: string }[] }) => s.timeline.find((e) => e.kind === "disaster")?.label,
    );
    expect(
      disasters.every((label: string) => label.startsWith("on db1: ")),
      disasters.join("; "),
    ).toBe(true);
    expect(disasters).toContain("on db1: host destroyed with everything on it (--replace-host)");
    expect(disasters).toContain("on db1: host powered off at once (--power-host)");
    // Every base backup the drill took on the new db1 was a run of the unit, as postgres, in its journal (the old
    // host's journal went with it).
    const laterSteps = report.scenarios
      .slice(report.scenarios.findIndex((s: { id: string }) => s.id === "host-loss"))
      .flatMap((s: { steps: { name: string }[] }) => s.steps.map((step) => step.name));
    const basesOnNewHost = laterSteps
      .slice(laterSteps.findIndex((name: string) => name.includes("(--replace-host)")))
      .filter((name: string) => /take a base backup/.test(name)).length;
    expect(basesOnNewHost).toBeGreaterThanOrEqual(2);
    expect(await completedBases()).toBeGreaterThanOrEqual(basesOnNewHost);
    // The stack knows the new host: nothing to change.
    const again = await pulumi(["preview", "--stack", "hosts", "--expect-no-changes"]);
    expect(again.status, `${again.stdout}\n${again.stderr}`).toBe(0);
    const base = await runJob("base");
    expect([...base.uids]).toEqual([await uidOf("postgres")]);
    // The service is whole again: db2's standby streams, the shipper runs, nothing of root's in the backups.
    await waitFor("db2's standby streaming again", async () =>
      (await psql(db1, "SELECT state FROM pg_stat_replication WHERE application_name = 'replica'")) === "streaming"
        ? true
        : undefined,
    );
    expect(await unitProperty("drkit-billing-shipper.service", "ActiveState")).toBe("active");
    // what the postgres jobs write stays postgres's (the config job's folder and root's locks are root's by design)
    const postgresOwned = ["postgresql", "wal", ".offsite"].map((d) => `/var/lib/billing/backups/${d}`).join(" ");
    expect(await onHost(`find ${postgresOwned} -user root`)).toBe("");
    // Each restore started the primary through its guard, which got db2's answer at once: the standby listens on
    // its address.
    const guard = await onHost(`journalctl -q -o cat --since @${drillStart} -u postgresql@15-main.service`);
    expect(guard).not.toContain("no standby answers yet");
    expect(await on(db2, "runuser -u postgres -- psql -X -Atq -p 5433 -c 'SHOW listen_addresses'")).toBe(
      `localhost,${db2.address}`,
    );
    // Nothing of the drill is left: no copy of the identity on db1, no SSH connection of its own here.
    expect(await onHost("ls -a /root | grep -c '^\\.drkit-drill-' || true")).toBe("0");
    const masters = spawnSync("pgrep", ["-af", "ssh .*drkit-drill-"], { encoding: "utf8" });
    expect(masters.stdout).toBe("");
  });

  it("a host that shows another key than the pinned one is refused before anything is sent to it", async () => {
    // db2 at db1's place in a stack that pins db1's key: as a machine answering at a hijacked address would.
    await hostsStack("hosts-wrong-key", db2, db1.hostKey);
    const logins = "journalctl -u ssh --no-pager -q | grep -c 'Accepted publickey' || true";
    // this command's own login is counted too
    const before = Number(await on(db2, logins));
    const started = Date.now();
    const r = await pulumi(["up", "--stack", "hosts-wrong-key", "--yes", "--skip-preview"]);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out).not.toBe(0);
    expect(out).toMatch(/host key mismatch at \S+: the server presented ssh-ed25519 SHA256:\S+, connection\.hostKey/);
    expect(out).toContain("nothing was sent to it");
    expect(out).not.toMatch(/failed attempts/);
    expect(Date.now() - started).toBeLessThan(120_000);
    // one more login: the check's own; the refused up never authenticated
    // db2's standby agent is there (the main stack's); a primary's settings file would be this stack's
    expect(
      await on(db2, `test -e /usr/local/lib/drkit/billing/drkit.env && echo present || echo absent; ${logins}`),
    ).toBe(`absent\n${before + 1}`);
    expect((await pulumi(["stack", "rm", "--stack", "hosts-wrong-key", "--yes", "--force"])).status).toBe(0);
  });

  it("host loss: db1 gone, a stack for db2 places the agent, db2 restores from the object store alone", async () => {
    await psql(db1, "CREATE TABLE survived (v text); INSERT INTO survived VALUES ('committed before the loss')");
    const segment = await psql(db1, "SELECT pg_walfile_name(pg_current_wal_lsn())");
    await psql(db1, "SELECT pg_switch_wal()");
    await waitFor(`WAL segment ${segment} in the bucket`, async () =>
      (await bucketKeys()).includes(`billing/wal/${segment}`) ? true : undefined,
    );
    await db1.powerOff();

    // A second stack, the example with db2 in db1's place: its up places the agent and stops where the
    // archive is found to belong to another cluster (db1's), before archive_command points at it.
    await hostsStack("hosts-b", db2);
    const refused = await pulumi(["up", "--stack", "hosts-b", "--yes", "--skip-preview"]);
    expect(refused.status).not.toBe(0);
    expect(`${refused.stdout}\n${refused.stderr}`).toMatch(/belongs to another cluster|system identifier/);
    const dataSystemId = () =>
      on(db2, "/usr/lib/postgresql/15/bin/pg_controldata /var/lib/postgresql/15/main | grep -i 'system identifier'");
    const before = await dataSystemId();

    // The replacement host gets the identity for its restore only: the copies in the bucket are encrypted.
    fs.copyFileSync(identityFile, path.join(db2.root, "root", "age-identity"));
    fs.chmodSync(path.join(db2.root, "root", "age-identity"), 0o600);
    const restore = await db2.ssh(
      "/usr/local/lib/drkit/billing/restore-pitr --from-offsite --force --identity /root/age-identity",
      600_000,
    );
    const serverLog = async () =>
      (await db2.ssh("journalctl -u postgresql@15-main --no-pager -n 30; tail -n 40 /var/log/postgresql/*.log")).stdout;
    expect(restore.status, `${restore.stderr}\n${restore.status === 0 ? "" : await serverLog()}`).toBe(0);
    expect(restore.stderr).toMatch(/fetched base backup/);
    expect(await dataSystemId()).not.toBe(before);
    expect(await psql(db2, "SELECT v FROM survived")).toBe("committed before the loss");

    const up = await pulumi(["up", "--stack", "hosts-b", "--yes", "--skip-preview"]);
    expect(up.status, `${up.stdout}\n${up.stderr}`).toBe(0);
    const base = await db2.ssh("systemctl start drkit-billing-base.service", 600_000);
    const baseLog = async () =>
      (await db2.ssh("journalctl -u 'drkit-billing-*' --no-pager -n 60 -o cat; systemctl --failed --no-legend")).stdout;
    expect(base.status, `${base.stderr}\n${base.status === 0 ? "" : await baseLog()}`).toBe(0);
    expect(await on(db2, "systemctl show --value -p Result drkit-billing-base.service")).toBe("success");
  });

  it("destroy over SSH removes drkit's units and scripts and keeps the data, the backups and the archive", async () => {
    const r = await pulumi(["destroy", "--stack", "hosts-b", "--yes", "--skip-preview"]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    // what is left in the folder is the main stack's standby agent: this stack's files are gone
    expect(await on(db2, "ls /usr/local/lib/drkit/billing")).toBe("standby-replica");
    expect(await on(db2, "systemctl list-unit-files 'drkit-*' --no-legend | wc -l")).toBe("0");
    expect(await on(db2, "cat /var/lib/postgresql/15/main/PG_VERSION")).toBe("15");
    expect(await psql(db2, "SELECT v FROM survived")).toBe("committed before the loss");
    const base = "/var/lib/billing/backups/postgresql/base";
    expect(Number(await on(db2, `test -d ${base} && ls ${base} | wc -l`))).toBeGreaterThanOrEqual(1);
  });
});
