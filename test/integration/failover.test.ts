import { execFileSync, spawn } from "node:child_process";
import { agentPath } from "../../components/artifacts/hostArtifacts";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StandbyPlan } from "../../components/plan/plan";
import { freePort, startSandbox, tempRoot, type Sandbox, psqlAt } from "../helpers/sandbox";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("failover under a running write workload", () => {
  let sb: Sandbox;
  let standbys: readonly StandbyPlan[];
  const on = (s: StandbyPlan, query: string) => psqlAt(s.socketDirectory, s.port, query, "app");

  beforeAll(async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    sb = await startSandbox({
      label: "failover",
      service: {
        standbys: [
          { name: "near", host: "sandbox", port: p1, synchronous: true },
          { name: "far", host: "sandbox", port: p2 },
        ],
      },
    });
    standbys = sb.plan.replication!.standbys;
    sb.sql("CREATE TABLE ledger (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
  });
  afterAll(() => {
    for (const s of standbys ?? []) {
      try {
        execFileSync("runuser", [
          "-u",
          "postgres",
          "--",
          "/usr/lib/postgresql/15/bin/pg_ctl",
          "-D",
          s.dataDirectory,
          "-m",
          "immediate",
          "-w",
          "stop",
        ]);
      } catch {
        /* not running */
      }
    }
    sb?.destroy();
  });

  it(
    "promoting the synchronous standby loses no acknowledged commit, and the asynchronous standby follows the " +
      "new primary",
    async () => {
      const dir = tempRoot("workload");
      const acked = path.join(dir, "acked.log");
      const pg = sb.plan.postgres;
      // Each INSERT is its own transaction; an id is logged only after the server acknowledged its commit.
      const workload = spawn(
        "bash",
        [
          "-c",
          `for i in $(seq 1 100000); do runuser -u postgres -- ${pg.binDirectory}/psql -X -q ` +
            `-h ${pg.socketDirectory} -p ${pg.port} -d app -c "INSERT INTO ledger (id) VALUES ($i)" ` +
            `2>/dev/null || exit 0; echo "$i" >> ${acked}; done`,
        ],
        { stdio: "ignore" },
      );
      const exited = new Promise((res) => workload.once("exit", res));
      // Fail over once the workload has real commits in flight: a count, not a time, so a loaded machine only
      // makes the wait longer (bounded: 60 s).
      const countAcked = () => (fs.existsSync(acked) ? fs.readFileSync(acked, "utf8").trim().split("\n").length : 0);
      for (let waited = 0; countAcked() <= 20 && waited < 60_000; waited += 200) await sleep(200);
      const far = standbys.find((s) => s.name === "far")!;
      const near = standbys.find((s) => s.name === "near")!;
      const r = await sb.run(agentPath(sb.plan, "failover"), ["--to", "near"]);
      // The fenced primary ends the workload; if failover failed, stop it here.
      if (r.status !== 0) workload.kill("SIGKILL");
      await Promise.race([exited, sleep(20_000).then(() => workload.kill("SIGKILL"))]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain("data-loss window: none for acknowledged commits");

      const ids = fs.readFileSync(acked, "utf8").trim().split("\n").map(Number);
      expect(ids.length).toBeGreaterThan(20);
      expect(on(near, "SELECT pg_is_in_recovery()")).toBe("f");
      const present = new Set(on(near, "SELECT string_agg(id::text, ',') FROM ledger").split(",").map(Number));
      const lost = ids.filter((id) => !present.has(id));
      console.log(`synchronous failover: ${ids.length} acknowledged commits, ${lost.length} lost`);
      expect(lost).toEqual([]);
      console.log(
        r.stderr
          .split("\n")
          .filter((l) => /data-loss window|done in/.test(l))
          .join("\n"),
      );

      // The asynchronous standby follows the new primary; what it had before catching up is the window it would have
      // lost.
      for (
        let i = 0;
        i < 100 && on(far, "SELECT count(*) FROM ledger") !== on(near, "SELECT count(*) FROM ledger");
        i++
      )
        await sleep(100);
      expect(on(far, "SELECT count(*) FROM ledger")).toBe(on(near, "SELECT count(*) FROM ledger"));
      expect(on(far, "SELECT status FROM pg_stat_wal_receiver")).toBe("streaming");
      expect(on(far, "SELECT sender_port FROM pg_stat_wal_receiver")).toBe(String(near.port));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  );

  it("the old primary rejoins as a standby of the new one (pg_rewind) and follows it", async () => {
    const near = standbys.find((s) => s.name === "near")!;
    on(near, "INSERT INTO ledger (id) VALUES (999999)");
    const r = await sb.run(agentPath(sb.plan, "rejoin-as-standby"), ["--primary", "near"]);
    expect(r.status, r.stderr).toBe(0);
    expect(sb.sql("SELECT pg_is_in_recovery()")).toBe("t");
    expect(sb.sql("SELECT sender_port FROM pg_stat_wal_receiver")).toBe(String(near.port));
    on(near, "INSERT INTO ledger (id) VALUES (1000000)");
    const lsn = on(near, "SELECT pg_current_wal_lsn()");
    for (let i = 0; i < 100 && sb.sql(`SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`) !== "t"; i++)
      await sleep(100);
    expect(sb.sql("SELECT count(*) FROM ledger WHERE id IN (999999, 1000000)")).toBe("2");
    expect(sb.sql("SELECT count(*) FROM ledger")).toBe(on(near, "SELECT count(*) FROM ledger"));
  });
});
