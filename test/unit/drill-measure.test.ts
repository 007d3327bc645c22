import { describe, expect, it } from "vitest";
import { buildPlan } from "../../components/plan/plan";
import { judge, measureRecovery, ScenarioRecorder } from "../../drill/context";
import type { Ack } from "../../drill/workload";

const acks: Ack[] = Array.from({ length: 10 }, (_, i) => ({
  seq: i + 1,
  key: String(i + 1),
  at: new Date(Date.UTC(2026, 10, 22, 5, 0, i)).toISOString(),
  ackedAt: 0,
}));
const keys = (...n: number[]) => n.map(String);
const plan = buildPlan(
  {
    hosts: { h: { connection: { type: "local", rootPrefix: "/tmp/drkit-unit" } } },
    services: { svc: { host: "h", rpo: "5s", rto: "1m", postgres: { databases: ["app"] } } },
  },
  { baseDir: "/tmp" },
).services[0];

describe("measuring a recovery against the workload's log", () => {
  it("everything recovered: nothing lost, checksums equal", () => {
    const m = measureRecovery("t", acks, keys(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
    expect(m.lostCommits).toBe(0);
    expect(m.lostSpanSeconds).toBe(0);
    expect(m.check.ok).toBe(true);
    expect(m.check.actualChecksum).toBe(m.check.expectedChecksum);
  });

  it("a lost tail is the RPO: commits and the seconds they span", () => {
    const m = measureRecovery("t", acks, keys(1, 2, 3, 4, 5, 6));
    expect(m.lostCommits).toBe(4);
    expect(m.lostSpanSeconds).toBe(3); // commits 7..10, one per second
    expect(m.check.ok).toBe(true);
    expect(m.check.expectedRows).toBe(6);
  });

  it("a hole in the middle is an integrity failure, not just loss", () => {
    const m = measureRecovery("t", acks, keys(1, 2, 4, 5, 6, 7, 8, 9, 10));
    expect(m.check.ok).toBe(false);
    expect(m.lostCommits).toBe(1);
    expect(m.lostSpanSeconds).toBe(7); // from the missing commit 3 to the last acknowledged one
  });

  it("rows never acknowledged (in flight at the disaster) are counted apart and allowed", () => {
    const m = measureRecovery("t", acks, keys(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    expect(m.inFlight).toBe(1);
    expect(m.check.ok).toBe(true);
  });
});

describe("judging a scenario against the stack's objectives", () => {
  const disasterAt = new Date(Date.UTC(2026, 10, 22, 5, 0, 10));
  const recorder = new ScenarioRecorder(() => undefined, "x");
  const outcome = (back: number, recovered: number[]) => ({
    recorder,
    disasterAt,
    acks,
    clock: "test",
    serviceBackAt: new Date(disasterAt.getTime() + back * 1000),
    measure: measureRecovery("t", acks, keys(...recovered)),
  });

  it("passes within RPO and RTO", () => {
    const r = judge("x", "X", plan, outcome(30, [1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(r.verdict).toBe("PASS");
    expect(r.rto.seconds).toBe(30);
    expect(r.rpo.lostCommits).toBe(1);
  });

  it("fails and says why when the RTO is exceeded", () => {
    const r = judge("x", "X", plan, outcome(90, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    expect(r.verdict).toBe("FAIL");
    expect(r.reasons[0]).toBe("RTO 90.0s exceeds the objective of 60s");
  });

  it("fails when the lost commits span more than the RPO", () => {
    const r = judge("x", "X", plan, outcome(10, [1, 2]));
    expect(r.verdict).toBe("FAIL");
    expect(r.reasons[0]).toMatch(/^8 acknowledged commits over 7.0s were lost; the RPO is 5s/);
  });

  it("with monitoring, a watched disaster no alert caught fails; a caught one is reported in the result", () => {
    const missed = outcome(30, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    missed.recorder.detection = {
      watchedBy: ["DrkitPostgresDown"],
      note: "none of DrkitPostgresDown fired within 210s",
    };
    const r = judge("x", "X", plan, missed);
    expect(r.verdict).toBe("FAIL");
    expect(r.reasons[0]).toBe("detection: none of DrkitPostgresDown fired within 210s");
    const caught = outcome(30, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    caught.recorder.detection = {
      watchedBy: ["DrkitPostgresDown"],
      alert: "DrkitPostgresDown",
      seconds: 20,
      note: "n",
    };
    const ok = judge("x", "X", plan, caught);
    expect(ok.verdict).toBe("PASS");
    expect(ok.detection).toMatchObject({ alert: "DrkitPostgresDown", seconds: 20 });
    const unwatched = outcome(30, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    unwatched.recorder.detection = { watchedBy: [], note: "no alert watches this disaster" };
    expect(judge("x", "X", plan, unwatched).verdict).toBe("PASS");
    recorder.detection = undefined;
  });

  it("a FAIL: reason from a preflight check fails a scenario that recovered fine", () => {
    const r = judge("x", "X", plan, outcome(10, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), [
      "FAIL: archive_timeout is 3600s on the live server",
    ]);
    expect(r.verdict).toBe("FAIL");
    expect(r.reasons).toContain("archive_timeout is 3600s on the live server");
  });

  it("a recovery that threw fails with its error first", () => {
    const r = judge("x", "X", plan, {
      recorder,
      disasterAt,
      acks,
      clock: "test",
      error: new Error("restore-pitr exited 1"),
    });
    expect(r.verdict).toBe("FAIL");
    expect(r.reasons[0]).toBe("recovery failed: restore-pitr exited 1");
  });
});
