import { describe, expect, it } from "vitest";
import { calendarMaxIntervalHours } from "../../components/plan/calendar";

describe("how often a calendar runs at most", () => {
  it.each([
    ["*-*-* 02:00:00", 24],
    ["daily", 24],
    ["hourly", 1],
    ["*-*-* *:00:00", 1],
    ["*-*-* 02,14:00", 12],
    ["*-*-* 00/6:00", 6],
    ["Sun *-*-* 03:00:00", 168],
    ["Mon..Fri *-*-* 01:30:00", 72],
    ["Mon..Sun *-*-* 01:30:00", 24],
    ["Sat,Sun *-*-* 04:00", 144],
  ])("%s -> %d h", (calendar, hours) => {
    expect(calendarMaxIntervalHours(calendar)).toBe(hours);
  });

  it("says it cannot tell for forms it does not model", () => {
    expect(calendarMaxIntervalHours("*-*-01 02:00:00")).toBeUndefined();
    expect(calendarMaxIntervalHours("Funday *-*-* 02:00")).toBeUndefined();
  });
});

describe("synchronousStandbyNames", () => {
  it(
    "is FIRST 1 over the quoted names, the form the agent's failover writes too (test/agent/failover.bats), " +
      "and empty without standbys",
    async () => {
      const { synchronousStandbyNames } = await import("../../components/plan/derive");
      expect(synchronousStandbyNames(["replica_a", "billing-standby-0"])).toBe(
        'FIRST 1 ("replica_a", "billing-standby-0")',
      );
      expect(synchronousStandbyNames([])).toBe("");
    },
  );
});
