import { execFileSync } from "node:child_process";
import { agentPath } from "../../components/artifacts/hostArtifacts";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StandbyPlan } from "../../components/plan/plan";
import { DrillContext, measureRecovery } from "../../drill/context";
import { postgresWorkload } from "../../drill/workload";
import { freePort, processAlive, psqlAt, startSandbox, type Sandbox } from "../helpers/sandbox";

// Promoting an asynchronous standby loses what it had not received. Here the primary's WAL sender is
// frozen for 50 writes before the primary crashes, so the window is real, then measured against the
// workload's log and compared with what the failover script reports. The primary completes a checkpoint after
// the divergence, which recycles the WAL pg_rewind later needs: the old primary still rejoins, from the archive.
describe("failover to an asynchronous standby: the lost window is measured and reported", () => {
  let sb: Sandbox;
  let solo: StandbyPlan;
  let divergence = "";
  /** Switches WAL and waits until the primary archived that segment. */
  const switchAndArchive = async () => {
    const segment = sb.sql("SELECT pg_walfile_name(pg_switch_wal())", "postgres");
    for (let i = 0; i < 200; i++) {
      if (sb.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", "postgres") >= segment) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${segment} was not archived within 20s`);
  };
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
      // The last checkpoint before the divergence, two segments before it.
      sb.sql("CHECKPOINT", "postgres");
      for (let i = 0; i < 2; i++) await switchAndArchive();
      // Freeze the primary's WAL sender (commits are still acknowledged: the standby is asynchronous), then
      // crash the whole primary with SIGKILL: what was not sent never reaches the standby.
      const sender = sb.sql("SELECT pid FROM pg_stat_replication WHERE application_name = 'solo'");
      expect(sender).toMatch(/^\d+$/);
      process.kill(Number(sender), "SIGSTOP");
      const pausedAt = workload.acks.length;
      await workload.waitForAcks(pausedAt + 50);
      // After the divergence: a checkpoint that removes the archived segments before it (the slot keeps the
      // standby's from its restart point on). No WAL switch: the standby would replay it from the archive.
      sb.sql("CHECKPOINT", "postgres");
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
      divergence = report![1];
    },
  );

  it("the old primary rejoins although its WAL before the divergence was recycled: read from the archive", async () => {
    const segment = on(`SELECT '00000001' || substr(pg_walfile_name('${divergence}'::pg_lsn), 9)`);
    const tl1 = readdirSync(`${sb.plan.postgres.dataDirectory}/pg_wal`).filter((f) => /^00000001[0-9A-F]{16}$/.test(f));
    // The precondition: the old primary kept nothing of timeline 1 before the divergence's segment; the archive did.
    expect(
      tl1.every((f) => f >= segment),
      tl1.join(" "),
    ).toBe(true);
    const before = `00000001${(BigInt(`0x${segment.slice(8)}`) - 1n).toString(16).toUpperCase().padStart(16, "0")}`;
    expect(existsSync(`${sb.plan.paths.walDir}/${before}`)).toBe(true);
    const r = await sb.run(agentPath(sb.plan, "rejoin-as-standby"), ["--primary", "solo"]);
    expect(r.status, r.stderr).toBe(0);
    expect(sb.sql("SELECT pg_is_in_recovery()")).toBe("t");
    expect(sb.sql("SELECT sender_port FROM pg_stat_wal_receiver")).toBe(String(solo.port));
  });
});
