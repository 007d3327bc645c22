import { execFileSync } from "node:child_process";
import { agentPath } from "../../components/artifacts/hostArtifacts";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StandbyPlan } from "../../components/plan/plan";
import { DrillContext, measureRecovery } from "../../drill/context";
import { postgresWorkload } from "../../drill/workload";
import { freePort, processAlive, psqlAt, startSandbox, type Sandbox } from "../helpers/sandbox";

// Promoting an asynchronous standby loses what it had not received. Here the primary's WAL sender is
// frozen for 50 writes before the primary crashes, so the window is real, then measured against the
// workload's log and compared with what the failover script reports.
describe("failover to an asynchronous standby: the lost window is measured and reported", () => {
  let sb: Sandbox;
  let solo: StandbyPlan;
  const on = (query: string) => psqlAt(solo.socketDirectory, solo.port, query, "app");

  beforeAll(async () => {
    sb = await startSandbox({
      label: "failover-async",
      service: { standbys: [{ name: "solo", host: "sandbox", port: await freePort() }] },
    });
    solo = sb.plan.replication!.standbys[0];
    sb.sql("CREATE TABLE ledger (seq bigint PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
  });
  afterAll(() => {
    try {
      execFileSync("runuser", [
        "-u",
        "postgres",
        "--",
        `${sb.plan.postgres.binDirectory}/pg_ctl`,
        "-D",
        solo.dataDirectory,
        "-m",
        "immediate",
        "-w",
        "stop",
      ]);
    } catch {
      /* not running */
    }
    sb?.destroy();
  });

  it(
    "loses exactly the commits streamed after the standby's last received WAL, and the script's report " + "agrees",
    async () => {
      const ctx = new DrillContext(sb.plan, () => undefined);
      const workload = postgresWorkload(ctx.psqlArgs(), "ledger", 5);
      workload.start();
      await workload.waitForAcks(100);
      // Freeze the primary's WAL sender (commits are still acknowledged: the standby is asynchronous), then
      // crash the whole primary with SIGKILL: what was not sent never reaches the standby.
      const sender = sb.sql("SELECT pid FROM pg_stat_replication WHERE application_name = 'solo'");
      expect(sender).toMatch(/^\d+$/);
      process.kill(Number(sender), "SIGSTOP");
      const pausedAt = workload.acks.length;
      await workload.waitForAcks(pausedAt + 50);
      const postmaster = Number(
        readFileSync(`${sb.plan.postgres.dataDirectory}/postmaster.pid`, "utf8").split("\n")[0],
      );
      execFileSync("pkill", ["-KILL", "-P", String(postmaster)]);
      process.kill(postmaster, "SIGKILL");
      const alive = processAlive;
      for (let i = 0; i < 100 && (alive(postmaster) || alive(Number(sender))); i++)
        await new Promise((r) => setTimeout(r, 50));
      await workload.stop();

      const r = await sb.run(agentPath(sb.plan, "failover"), ["--to", "solo"]);
      expect(r.status, r.stderr).toBe(0);
      const report =
        // eslint-disable-next-line max-len
        /data-loss window: solo is asynchronous; it received WAL up to (\S+), its last replayed commit is from (.+?); commits/.exec(
          r.stderr,
        );
      expect(report, r.stderr).not.toBeNull();
      expect(on("SELECT pg_is_in_recovery()")).toBe("f");

      const present = on("SELECT seq FROM ledger ORDER BY seq").split("\n").filter(Boolean);
      const m = measureRecovery("ledger", workload.acks, present);
      console.log(
        `asynchronous failover: ${workload.acks.length} acknowledged, ${m.lostCommits} ` +
          `lost over ${m.lostSpanSeconds.toFixed(3)}s; script: received up to ${report![1]}, ` +
          `last replayed commit ${report![2]}`,
      );
      expect(m.check.ok).toBe(true); // what survived is a prefix of the log: no holes
      // the writes made while the receiver was paused (a few may have been in its buffers)
      expect(m.lostCommits).toBeGreaterThanOrEqual(50 - 5);
      expect(m.lostSpanSeconds).toBeGreaterThan(0.1);
      // The script's "last replayed commit" lies between the last surviving write and the first lost one.
      const lastReplayed = Date.parse(report![2].replace(" ", "T").replace(/\+00$/, "Z"));
      const lastKept = Date.parse(workload.acks[m.check.expectedRows - 1].at);
      const firstLost = Date.parse(workload.acks[m.check.expectedRows].at);
      expect(lastReplayed).toBeGreaterThanOrEqual(lastKept);
      expect(lastReplayed).toBeLessThan(firstLost);
    },
  );
});
