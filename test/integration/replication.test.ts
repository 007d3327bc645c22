import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StandbyPlan } from "../../components/plan/plan";
import { freePort, startSandbox, type Sandbox, psqlAt } from "../helpers/sandbox";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("streaming replicas configured only from drkit's rendered files", () => {
  let sb: Sandbox;
  let standbys: readonly StandbyPlan[];
  const on = (s: StandbyPlan, query: string, db = "app") => psqlAt(s.socketDirectory, s.port, query, db);
  const stopStandby = (s: StandbyPlan) =>
    execFileSync("runuser", [
      "-u",
      "postgres",
      "--",
      "/usr/lib/postgresql/15/bin/pg_ctl",
      "-D",
      s.dataDirectory,
      "-m",
      "fast",
      "-w",
      "stop",
    ]);

  beforeAll(async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    sb = await startSandbox({
      label: "replication",
      service: {
        standbys: [
          { name: "replica_sync", host: "sandbox", port: p1, synchronous: true },
          { name: "replica_async", host: "sandbox", port: p2 },
        ],
        replication: { maxSlotWalKeepSize: "96MB" },
      },
    });
    standbys = sb.plan.replication!.standbys;
  });
  afterAll(() => {
    for (const s of standbys ?? []) {
      try {
        stopStandby(s);
      } catch {
        /* already stopped */
      }
    }
    sb?.destroy();
  });

  it("sizes the primary from the plan and declares the synchronous standby", () => {
    expect(sb.sql("SHOW max_wal_senders")).toBe("6");
    expect(sb.sql("SHOW max_replication_slots")).toBe("4");
    expect(sb.sql("SHOW max_slot_wal_keep_size")).toBe("96MB");
    expect(sb.sql("SHOW synchronous_standby_names")).toBe('FIRST 1 ("replica_sync")');
    expect(sb.sql("SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots")).toBe(
      "drkit_replica_async,drkit_replica_sync",
    );
    expect(
      sb.sql(
        "SELECT string_agg(application_name || '=' || sync_state, ',' ORDER BY application_name) " +
          "FROM pg_stat_replication",
      ),
    ).toBe("replica_async=async,replica_sync=sync");
    const hba = sb.sql(
      "SELECT string_agg(type || ' ' || array_to_string(database, ',') || ' ' || array_to_string(user_name, ',') " +
        "|| ' ' || address || ' ' || auth_method, ';' ORDER BY line_number) FROM pg_hba_file_rules WHERE " +
        "'drkit_replicator' = ANY(user_name)",
    );
    expect(hba).toBe(
      "host replication drkit_replicator 127.0.0.1 scram-sha-256;host replication drkit_replicator 127.0.0.1 " +
        "scram-sha-256",
    );
  });

  it("rows written on the primary are read on both standbys, with the lag measured", async () => {
    sb.sql("CREATE TABLE events (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
    sb.sql("INSERT INTO events (id) SELECT generate_series(1, 5000)");
    const target = sb.sql("SELECT pg_current_wal_lsn()");
    for (const s of standbys) {
      const started = Date.now();
      while (on(s, `SELECT pg_last_wal_replay_lsn() >= '${target}'::pg_lsn`) !== "t" && Date.now() - started < 30_000)
        await sleep(50);
      expect(on(s, "SELECT count(*) FROM events")).toBe("5000");
      expect(on(s, "SELECT pg_is_in_recovery()")).toBe("t");
      const lagQuery =
        "SELECT coalesce(replay_lag::text, '0') FROM pg_stat_replication " + `WHERE application_name = '${s.name}'`;
      console.log(
        `replication lag of ${s.name}: caught up ${Date.now() - started} ` +
          `ms after the commit; ${sb.sql(lagQuery)} replay_lag reported by the primary`,
      );
    }
    const lagBytes = sb.sql("SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) FROM pg_stat_replication");
    expect(Number(lagBytes)).toBeGreaterThanOrEqual(0);
  });

  it("the replication password never sits in the standbys' config, only in the 0600 passfile", () => {
    for (const s of standbys) {
      const conninfo = on(s, "SHOW primary_conninfo");
      expect(conninfo).toContain(`passfile=${s.passFile}`);
      expect(conninfo).not.toMatch(/password=/);
    }
  });

  it("the passwords reach the server only as SCRAM verifiers: not in its statement log; logins work", async () => {
    const r = sb.plan.replication!;
    const [password, rewindPassword] = fs
      .readFileSync(r.passFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(":")[4]);
    expect(rewindPassword).toMatch(/^[A-Za-z0-9]{16,}$/);
    const pg = sb.plan.postgres;
    if (pg.manager.type !== "pg_ctl") throw new Error("the sandbox runs its server with pg_ctl");
    const logFile = pg.manager.logFile;
    sb.sql("ALTER SYSTEM SET log_statement = 'all'");
    sb.sql("SELECT pg_reload_conf()");
    sb.sql(`ALTER ROLE ${r.role} PASSWORD NULL`);
    sb.sql(`ALTER ROLE ${r.rewindRole} PASSWORD NULL`);
    const logged = fs.statSync(logFile).size;
    const first = await sb.run("setup-replication");
    expect(first.status, first.stderr).toBe(0);
    const storedVerifier = () => sb.sql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${r.role}'`, "postgres");
    const stored = storedVerifier();
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    // a rerun with the same password leaves the verifier (and its salt) alone
    expect((await sb.run("setup-replication")).status).toBe(0);
    expect(storedVerifier()).toBe(stored);
    sb.sql("ALTER SYSTEM RESET log_statement");
    sb.sql("SELECT pg_reload_conf()");
    const log = fs.readFileSync(logFile, "utf8").slice(logged);
    expect(log).toContain(`ALTER ROLE "${r.role}" PASSWORD 'SCRAM-SHA-256$4096:`);
    expect(log).toContain(`ALTER ROLE "${r.rewindRole}" PASSWORD 'SCRAM-SHA-256$4096:`);
    expect(log).not.toContain(password);
    expect(log).not.toContain(rewindPassword);
    // the verifier is the password's: a new replication connection authenticates with the passfile
    const identify = (auth: string) =>
      spawnSync(
        "runuser",
        ["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql", "-X", "-Atq", "-c", "IDENTIFY_SYSTEM"].concat(
          `host=127.0.0.1 port=${pg.port} user=${r.role} dbname=replication replication=true ${auth}`,
        ),
        { encoding: "utf8" },
      );
    const login = identify(`passfile=${r.passFile}`);
    expect(login.status, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/^\d+\|1\|/);
    const wrong = identify("password=Wrong0123456789abc");
    expect(wrong.stderr).toContain(`password authentication failed for user "${r.role}"`);
  });

  it("a stopped standby cannot make the primary's pg_wal grow past max_slot_wal_keep_size", async () => {
    const async = standbys.find((s) => s.name === "replica_async")!;
    stopStandby(async);
    // Keep checkpoints from holding WAL for their own sake, so what remains is what slots hold.
    sb.sql("ALTER SYSTEM SET max_wal_size = '48MB'");
    sb.sql("ALTER SYSTEM SET min_wal_size = '32MB'");
    sb.sql("SELECT pg_reload_conf()");
    const start = sb.sql("SELECT pg_current_wal_lsn()");
    for (let i = 1; i <= 20; i++) {
      sb.sql(`INSERT INTO events (id) SELECT generate_series(${100000 * i}, ${100000 * i + 20000})`);
      sb.sql("SELECT pg_switch_wal()");
    }
    sb.sql("CHECKPOINT");
    await sleep(300);
    sb.sql("CHECKPOINT");
    const writtenMb = Number(sb.sql(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${start}') / 1024 / 1024`));
    const walMb = Number(sb.sql("SELECT sum(size) / 1024 / 1024 FROM pg_ls_waldir()"));
    const status = sb.sql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'drkit_replica_async'");
    console.log(
      `with replica_async stopped the primary wrote ${writtenMb.toFixed(0)} MB of WAL; ` +
        `pg_wal holds ${walMb.toFixed(0)} MB; the slot is ${status}`,
    );
    expect(writtenMb).toBeGreaterThan(300);
    expect(status).toBe("lost");
    // at most the slot limit (96MB) plus max_wal_size (48MB) plus a few segments in flight
    expect(walMb).toBeLessThanOrEqual(96 + 48 + 3 * 16);
    // the synchronous standby kept streaming throughout
    expect(sb.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'replica_sync'")).toBe("sync");
  });
});
