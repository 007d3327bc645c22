import { describe, expect, it } from "vitest";
import { calendarProblem } from "../../components/plan/calendar";

describe("calendar checks", () => {
  it("passes the shorthands, the defaults and the forms systemd reads", () => {
    for (const ok of [
      "daily",
      "Weekly",
      "*-*-* 02:00:00",
      "Sun *-*-* 03:00:00",
      "Mon..Fri *-*-* 01:30:00",
      "*-*-* 00/6:00:00",
      "*-*-* *:20:00",
      "*-*-* 0,12:15",
      "*-02-29 04:00:00",
      "*-02,03-30 04:00:00",
      "2030-01-01 00:00:00",
      "*-*~01 03:00",
    ]) {
      expect(calendarProblem(ok, 2026), ok).toBeUndefined();
    }
  });

  it("names a date that never comes", () => {
    expect(calendarProblem("*-02-30 02:00:00", 2026)).toBe("never elapses: Feb has no day 30");
    expect(calendarProblem("*-04,06-31", 2026)).toBe("never elapses: Apr, Jun have no day 31");
    expect(calendarProblem("2020-01-01 00:00:00", 2026)).toBe("never elapses: 2020 has passed");
  });

  it("names a value out of range or a step of zero", () => {
    expect(calendarProblem("*-*-* 24:00:00", 2026)).toBe("has hour 24, outside 0-23");
    expect(calendarProblem("*-*-* 02:60", 2026)).toBe("has minute 60, outside 0-59");
    expect(calendarProblem("*-*-* 02:00:61", 2026)).toBe("has second 61, outside 0-59");
    expect(calendarProblem("*-13-01 02:00", 2026)).toBe("has month 13, outside 1-12");
    expect(calendarProblem("*-01-32 02:00", 2026)).toBe("has day 32, outside 1-31");
    expect(calendarProblem("*-*-* 0/0:00", 2026)).toBe('has a step of 0 in "0/0"');
  });
});
