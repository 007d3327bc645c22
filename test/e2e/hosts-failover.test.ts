import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { engineProject, repoDir, type EngineProject } from "../helpers/engine";
import { waitFor } from "../helpers/sandbox";
import { makeTestCa, type TestCa } from "../helpers/testCa";
import { bootTestHosts, type TestHost, type TestNetwork } from "../helpers/testHosts";

/**
 * Failover across two booted systemd hosts: db1's primary is fenced while commits arrive, db2's synchronous
 * standby is promoted, the stack is changed to name db2 the primary, and `pulumi up` rewinds db1 (pg_rewind over
 * verified TLS as the rewind role) into db2's synchronous standby.
 */
describe("failover across hosts: fence, promote, swap the roles in the stack, rejoin with pg_rewind, fail back", () => {
  let network: TestNetwork;
  let db1: TestHost;
  let db2: TestHost;
  let project: EngineProject;
  let ca: TestCa;
  const stack = "failover";
  const stackFile = () => path.join(project.dir, "stacks", `Pulumi.${stack}.yaml`);
  const pulumi = (args: string[]) => project.pulumi(args);
  const on = async (host: TestHost, script: string, timeoutMs?: number) => {
    const r = await host.ssh(script, timeoutMs);
    if (r.status !== 0) throw new Error(`on ${host.name}: ${script}\n${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
  };
  const psql = (host: TestHost, port: number, query: string) =>
    on(
      host,
      `runuser -u postgres -- psql -X -Atq -v ON_ERROR_STOP=1 -p ${port} -d billing -c ${JSON.stringify(query)}`,
    );
  const setConfig = (key: string, value: string, secret = false) => project.setConfig(stack, key, value, secret);
  /** Edits the stack's drkit settings in its file (secrets stay as they are, encrypted). */
  const editStack = (edit: (config: Record<string, any>) => void) => {
    const doc = parse(fs.readFileSync(stackFile(), "utf8"));
    edit(doc.config);
    fs.writeFileSync(stackFile(), stringify(doc));
  };
  const upOutput = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;
  /**
   * The stack names `primary` the primary (its Debian cluster, on `port` or the default) and `standby` its
   * synchronous standby, with a certificate for the primary's address; then `pulumi up`, which must succeed.
   */
  const swapRoles = async (
    primary: TestHost,
    server: { port?: number; cluster: string },
    standby: { name: string; host: string; port: number },
  ) => {
    editStack((config) => {
      const billing = config["drkit:services"].billing;
      billing.host = primary.name;
      if (server.port === undefined) delete billing.postgres.port;
      else billing.postgres.port = server.port;
      billing.postgres.manager.unit = `postgresql@15-${server.cluster}.service`;
      billing.standbys = [{ ...standby, synchronous: true }];
    });
    const tls = ca.issue(primary.name, { ips: [primary.address] });
    await setConfig("drkit:services.billing.replication.tls.certificate", fs.readFileSync(tls.certFile, "utf8"));
    await setConfig("drkit:services.billing.replication.tls.key", fs.readFileSync(tls.keyFile, "utf8"), true);
    const r = await pulumi(["up", "--stack", stack, "--yes", "--skip-preview"]);
    expect(r.status, upOutput(r)).toBe(0);
    return r;
  };
  let acknowledged: number[] = [];

  beforeAll(async () => {
    network = await bootTestHosts([
      { name: "db1", postgres: true },
      { name: "db2", postgres: true },
    ]);
    db1 = network.host("db1");
    db2 = network.host("db2");
    project = engineProject("failover");
    ca = makeTestCa(path.join(project.dir, "..", "ca"), "drkit failover CA", 90);
    await on(
      db1,
      "runuser -u postgres -- psql -X -q -c 'CREATE DATABASE billing' && " +
        `echo "listen_addresses = 'localhost,${db1.address}'" > /etc/postgresql/15/main/conf.d/listen.conf && ` +
        "systemctl restart postgresql@15-main",
    );
    // The shipped example, reduced to PostgreSQL and its synchronous standby on db2.
    const example = parse(fs.readFileSync(path.join(repoDir, "stacks", "Pulumi.hosts.yaml"), "utf8"));
    const config = example.config;
    config["drkit:hosts"].db1.connection.host = db1.address;
    config["drkit:hosts"].db2.connection.host = db2.address;
    delete config["drkit:objectStores"];
    const billing = config["drkit:services"].billing;
    for (const key of ["redis", "configFiles", "monitoring", "offsite"]) delete billing[key];
    billing.standbys = [{ name: "replica", host: "db2", port: 5433, synchronous: true }];
    billing.schedule = { randomizedDelay: "0s" };
    project.writeStack(stack, stringify(example));
    expect((await pulumi(["stack", "init", stack])).status).toBe(0);
    const db1Tls = ca.issue("db1", { ips: [db1.address] });
    const read = (file: string) => fs.readFileSync(file, "utf8");
    for (const host of [db1, db2]) {
      await setConfig(`drkit:hosts.${host.name}.connection.privateKey`, network.privateKey, true);
      await setConfig(`drkit:hosts.${host.name}.connection.hostKey`, host.hostKey);
    }
    await setConfig("drkit:services.billing.replication.tls.ca", read(ca.certFile));
    await setConfig("drkit:services.billing.replication.tls.certificate", read(db1Tls.certFile));
    await setConfig("drkit:services.billing.replication.tls.key", read(db1Tls.keyFile), true);
  });
  afterAll(() => {
    network?.teardown();
    project?.remove();
  });

  it("pulumi up: db2's standby streams synchronously from db1 over TLS", async () => {
    const r = await pulumi(["up", "--stack", stack, "--yes", "--skip-preview"]);
    expect(r.status, upOutput(r)).toBe(0);
    expect(await psql(db1, 5432, "SELECT application_name, sync_state FROM pg_stat_replication")).toBe("replica|sync");
    // the rewind role: a login that can read files through pg_rewind's functions, and nothing else
    expect(
      await psql(
        db1,
        5432,
        "SELECT rolcanlogin, rolsuper, rolreplication FROM pg_roles WHERE rolname = 'drkit_rewind'",
      ),
    ).toBe("t|f|f");
    await psql(db1, 5432, "CREATE TABLE acknowledged (n int PRIMARY KEY)");
    const denied = await db1.ssh(
      "runuser -u postgres -- psql -X -Atq -d billing -c 'SET ROLE drkit_rewind' " +
        "-c 'SELECT count(*) FROM acknowledged'",
    );
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toContain("permission denied for table acknowledged");
  });

  it("db1 is fenced while commits arrive; db2 is promoted with every acknowledged commit", async () => {
    // A writer on db1: one commit per statement, each acknowledged by the synchronous standby before the next.
    await on(
      db1,
      "nohup bash -c 'for i in $(seq 1 5000); do " +
        'runuser -u postgres -- psql -X -q -d billing -c "INSERT INTO acknowledged VALUES ($i)" >/dev/null 2>&1 ' +
        "|| break; echo $i >> /root/acked; done' >/dev/null 2>&1 &",
    );
    await waitFor("50 acknowledged commits", async () =>
      Number(await on(db1, "wc -l < /root/acked 2>/dev/null || echo 0")) >= 50 ? true : undefined,
    );
    // db2 stops receiving: db1's next commit is written there only and waits for the standby, unacknowledged.
    await psql(db2, 5433, "ALTER SYSTEM SET primary_conninfo = ''");
    await psql(db2, 5433, "SELECT pg_reload_conf()");
    await waitFor("a commit waiting for the standby", async () =>
      (await psql(db1, 5432, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")) === "1"
        ? true
        : undefined,
    );

    const fence = await db1.ssh("/usr/local/lib/drkit/billing/fence-primary");
    expect(fence.status, fence.stderr).toBe(0);
    expect(fence.stderr).toMatch(
      /fenced: \/var\/lib\/postgresql\/15\/main is stopped, postgresql@15-main\.service masked/,
    );
    expect(await on(db1, "systemctl is-enabled postgresql@15-main.service || true")).toBe("masked");
    expect((await db1.ssh("systemctl start postgresql@15-main.service")).status).not.toBe(0);
    acknowledged = (await on(db1, "sleep 1; cat /root/acked")).split("\n").map(Number);
    expect(acknowledged.length).toBeGreaterThanOrEqual(50);

    const promote = await db2.ssh("/usr/local/lib/drkit/billing/standby-replica/promote-standby replica --wait 30");
    expect(promote.status, promote.stderr).toBe(0);
    expect(promote.stderr).toContain("data-loss window: none for acknowledged commits: replica is synchronous");
    expect(promote.stderr).toMatch(/promoted replica to primary on timeline 2 in \d+ ms/);
    // 0 acknowledged commits lost
    const onDb2 = (await psql(db2, 5433, "SELECT n FROM acknowledged ORDER BY n")).split("\n").map(Number);
    expect(acknowledged.filter((n) => !onDb2.includes(n))).toEqual([]);
    expect(Math.max(...onDb2)).toBe(Math.max(...acknowledged));
  });

  it("with db2 named the primary, pulumi up rewinds db1 into its synchronous standby over verified TLS", async () => {
    // The new primary listens on its address, as db1's did.
    await on(
      db2,
      `echo "listen_addresses = 'localhost,${db2.address}'" > /etc/postgresql/15/replica/conf.d/listen.conf`,
    );
    const r = await swapRoles(db2, { port: 5433, cluster: "replica" }, { name: "main", host: "db1", port: 5432 });
    expect(upOutput(r)).toContain("rewinding the fenced former primary in /var/lib/postgresql/15/main");
    // db1 had written a commit db2 never received: a real rewind, not "no rewind required"
    expect(upOutput(r)).toMatch(/pg_rewind: servers diverged at WAL location \S+ on timeline 1/);
    expect(upOutput(r)).toContain("pg_rewind: Done!");

    // enabled again (Debian's generator enables its clusters at runtime), no longer masked
    expect(await on(db1, "systemctl is-enabled postgresql@15-main.service")).toMatch(/^enabled/);
    expect(await on(db1, "test -e /var/lib/postgresql/15/main/drkit.fenced && echo fenced || echo gone")).toBe("gone");
    expect(await psql(db1, 5432, "SELECT pg_is_in_recovery()")).toBe("t");
    const walsender =
      "SELECT r.application_name || ' ' || r.sync_state || ' ' || s.ssl FROM pg_stat_replication r " +
      "JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'main'";
    expect(await psql(db2, 5433, walsender)).toBe("main sync true");
    // db1's own commit that no standby acknowledged is gone: rewound to db2's timeline
    const rows = (await psql(db1, 5432, "SELECT n FROM acknowledged ORDER BY n")).split("\n").map(Number);
    expect(rows).toEqual((await psql(db2, 5433, "SELECT n FROM acknowledged ORDER BY n")).split("\n").map(Number));
    expect(rows).not.toContain(Math.max(...acknowledged) + 1);
    await psql(db2, 5433, "INSERT INTO acknowledged VALUES (-1)");
    await waitFor("the new primary's commit on db1", async () =>
      (await psql(db1, 5432, "SELECT count(*) FROM acknowledged WHERE n = -1")) === "1" ? true : undefined,
    );
  });

  it("the roles moved: db2 runs the primary's jobs under systemd, db1 keeps only its standby's files", async () => {
    const base = await db2.ssh("systemctl start drkit-billing-base.service", 600_000);
    const journal = async () => (await db2.ssh("journalctl -u 'drkit-billing-*' --no-pager -n 40 -o cat")).stdout;
    expect(base.status, `${base.stderr}\n${base.status === 0 ? "" : await journal()}`).toBe(0);
    expect(await on(db2, "systemctl show --value -p Result drkit-billing-base.service")).toBe("success");
    expect(await on(db2, "systemctl is-active drkit-billing-base.timer")).toBe("active");
    expect(await on(db1, "systemctl list-unit-files 'drkit-*' --no-legend | wc -l")).toBe("0");
    expect(await on(db1, "ls /usr/local/lib/drkit/billing")).toBe("standby-main");
    expect(await on(db1, "test -e /etc/drkit/billing/standby-main.pgpass && echo present")).toBe("present");
    // the old standby's folder on db2 is gone, and removing that standby did not stop the promoted server
    expect(await on(db2, "test -e /usr/local/lib/drkit/billing/standby-replica && echo left || echo gone")).toBe(
      "gone",
    );
    expect(await on(db2, "systemctl is-active postgresql@15-replica.service")).toBe("active");
    const second = await pulumi(["up", "--stack", stack, "--yes", "--expect-no-changes"]);
    expect(second.status, upOutput(second)).toBe(0);
  });

  it("fail-back after a crash: db2's server killed and fenced, db1 promoted, the first stack rewinds db2", async () => {
    await psql(db2, 5433, "INSERT INTO acknowledged VALUES (-2)");
    // the postmaster killed: its backends exit when they see it gone, as in a crash
    await on(db2, 'kill -KILL "$(head -n 1 /var/lib/postgresql/15/replica/postmaster.pid)"');
    await waitFor("db2's server down", async () =>
      (await db2.ssh("systemctl is-active postgresql@15-replica.service")).stdout.trim() !== "active"
        ? true
        : undefined,
    );
    // a crashed primary is fenced all the same: masked and marked, nothing to stop
    const fence = await db2.ssh("/usr/local/lib/drkit/billing/fence-primary");
    expect(fence.status, fence.stderr).toBe(0);
    expect(fence.stderr).not.toContain("stopping the primary");
    expect(await on(db2, "systemctl is-enabled postgresql@15-replica.service || true")).toBe("masked");
    const promote = await db1.ssh("/usr/local/lib/drkit/billing/standby-main/promote-standby main --wait 30");
    expect(promote.status, promote.stderr).toBe(0);
    expect(promote.stderr).toContain("data-loss window: none for acknowledged commits: main is synchronous");
    expect(await psql(db1, 5432, "SELECT count(*) FROM acknowledged WHERE n = -2")).toBe("1");

    const r = await swapRoles(db1, { cluster: "main" }, { name: "replica", host: "db2", port: 5433 });
    expect(upOutput(r)).toContain("rewinding the fenced former primary in /var/lib/postgresql/15/replica");

    expect(await psql(db2, 5433, "SELECT pg_is_in_recovery()")).toBe("t");
    expect(await psql(db1, 5432, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'replica'")).toBe(
      "sync",
    );
    await psql(db1, 5432, "INSERT INTO acknowledged VALUES (-3)");
    await waitFor("db1's commit on db2", async () =>
      (await psql(db2, 5433, "SELECT count(*) FROM acknowledged WHERE n IN (-2, -3)")) === "2" ? true : undefined,
    );
    expect(await on(db1, "systemctl is-active drkit-billing-base.timer")).toBe("active");
    expect(await on(db2, "systemctl list-unit-files 'drkit-*' --no-legend | wc -l")).toBe("0");
  });
  it("a primary powered off while its standby is promoted does not come back as a second primary", async () => {
    const guardDropIn = (cluster: string) => `/etc/systemd/system/postgresql@15-${cluster}.service.d/drkit-guard.conf`;
    // Placed on the primary's host only: db2's was removed when db2 became the standby again.
    expect(await on(db1, "systemctl show -p ExecStartPre --value postgresql@15-main.service")).toContain(
      "/usr/local/lib/drkit/billing/guard-primary",
    );
    expect(await on(db2, `test -e ${guardDropIn("replica")} && echo left || echo gone`)).toBe("gone");
    await psql(db1, 5432, "INSERT INTO acknowledged VALUES (-4)");
    await db1.powerOff();
    const promote = await db2.ssh("/usr/local/lib/drkit/billing/standby-replica/promote-standby replica --wait 30");
    expect(promote.status, promote.stderr).toBe(0);
    expect(promote.stderr).toContain("data-loss window: none for acknowledged commits: replica is synchronous");

    // db1 boots: its guard asks db2, which answers that it was promoted; the server does not start.
    await db1.powerOn();
    // the guard may wait for an answer: the start ends once the unit is no longer activating
    const state = await waitFor(
      "db1's server to have started or been refused",
      async () => {
        const s = (await db1.ssh("systemctl is-active postgresql@15-main.service")).stdout.trim();
        return s === "active" || s === "failed" ? s : undefined;
      },
      120,
    );
    const journal = await on(db1, "journalctl -b -u postgresql@15-main.service --no-pager -o cat");
    expect(state, journal).toBe("failed");
    expect(journal).toMatch(/standby replica \(\S+:5433\) was promoted while this server was down/);
    expect(journal).toContain("/var/lib/postgresql/15/main must not start as a second primary");
    expect(await on(db1, "cat /var/lib/postgresql/15/main/drkit.fenced")).toMatch(
      /^fenced by drkit's guard-primary at \S+Z on db1: standby replica \(\S+:5433\) was promoted$/,
    );
    // started by hand, it is refused again
    expect((await db1.ssh("systemctl start postgresql@15-main.service")).status).not.toBe(0);

    // The stack names db2 the primary: pulumi up rewinds the refused server into its synchronous standby.
    const r = await swapRoles(db2, { port: 5433, cluster: "replica" }, { name: "main", host: "db1", port: 5432 });
    expect(upOutput(r)).toContain("rewinding the fenced former primary in /var/lib/postgresql/15/main");
    expect(await psql(db1, 5432, "SELECT pg_is_in_recovery()")).toBe("t");
    expect(await psql(db2, 5433, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'main'")).toBe(
      "sync",
    );
    expect(await psql(db1, 5432, "SELECT count(*) FROM acknowledged WHERE n = -4")).toBe("1");
    // the guard moved with the primary
    expect(await on(db2, "systemctl show -p ExecStartPre --value postgresql@15-replica.service")).toContain(
      "/usr/local/lib/drkit/billing/guard-primary",
    );
    expect(await on(db1, `test -e ${guardDropIn("main")} && echo left || echo gone`)).toBe("gone");
    expect(await on(db1, "systemctl show -p ExecStartPre --value postgresql@15-main.service")).not.toContain(
      "guard-primary",
    );
  });
});
