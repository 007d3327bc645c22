/**
 * systemd OnCalendar expressions, read for what drkit derives and checks: the longest gap between two runs, and
 * what systemd itself only reports when the timer is loaded (values out of range, dates that never come, such as
 * "Feb 30", which would leave a job that never runs). Forms these do not understand pass; systemd-analyze
 * verifies the units.
 */

const SHORTHANDS = new Set([
  "minutely",
  "hourly",
  "daily",
  "weekly",
  "monthly",
  "yearly",
  "annually",
  "quarterly",
  "semiannually",
]);
/** The most days a month can have (February: in a leap year). */
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** The values a field names ("*": undefined, meaning every value); throws on a form it does not understand. */
function values(field: string, max: number): number[] | undefined {
  if (field === "*") return undefined;
  const out: number[] = [];
  for (const item of field.split(",")) {
    const m = /^(\d+)(?:\.\.(\d+))?(?:\/(\d+))?$/.exec(item);
    if (!m) throw new Error("unsupported");
    const from = Number(m[1]);
    const to = m[2] !== undefined ? Number(m[2]) : m[3] !== undefined ? max : from;
    const step = m[3] !== undefined ? Number(m[3]) : 1;
    if (step < 1) throw new RangeError(`has a step of 0 in "${item}"`);
    for (let v = from; v <= to; v += step) out.push(v);
  }
  return out;
}

function outOfRange(what: string, list: number[] | undefined, min: number, max: number): string | undefined {
  const bad = list?.find((v) => v < min || v > max);
  return bad === undefined ? undefined : `has ${what} ${bad}, outside ${min}-${max}`;
}

/** Why systemd would refuse the expression or never run it, or undefined. `year` is the current year. */
export function calendarProblem(expression: string, year = new Date().getUTCFullYear()): string | undefined {
  const text = expression.trim();
  if (SHORTHANDS.has(text.toLowerCase())) return undefined;
  const tokens = text.split(/\s+/);
  const time = tokens.find((t) => t.includes(":"));
  const date = tokens.find((t) => /^[\d*,./]+-[\d*,./]+(-[\d*,./]+)?$/.test(t));
  try {
    if (time) {
      const [h, m, s] = time.split(":");
      const problem =
        outOfRange("hour", values(h, 23), 0, 23) ??
        outOfRange("minute", values(m ?? "0", 59), 0, 59) ??
        (s === undefined ? undefined : outOfRange("second", values(s.split(".")[0], 59), 0, 59));
      if (problem) return problem;
    }
    if (date) {
      const parts = date.split("-");
      const years = parts.length === 3 ? values(parts[0], 9999) : undefined;
      const months = values(parts[parts.length - 2], 12);
      const days = values(parts[parts.length - 1], 31);
      const problem = outOfRange("month", months, 1, 12) ?? outOfRange("day", days, 1, 31);
      if (problem) return problem;
      if (months && days && !months.some((month) => days.some((day) => day <= DAYS_IN_MONTH[month - 1]))) {
        const named = months.map((month) => MONTHS[month - 1]).join(", ");
        return `never elapses: ${named} ${months.length > 1 ? "have" : "has"} no day ${days.join(", ")}`;
      }
      if (years && years.every((v) => v < year)) return `never elapses: ${years.join(", ")} has passed`;
    }
  } catch (error) {
    if (error instanceof RangeError) return error.message;
    return undefined; // a form this check does not read: systemd's own parsing judges it
  }
  return undefined;
}

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function weekdaySet(spec: string): Set<number> | undefined {
  const days = new Set<number>();
  for (const part of spec.toLowerCase().split(",")) {
    const [from, to] = part.split("..").map((d) => WEEKDAYS.indexOf(d.slice(0, 3)));
    if (from < 0 || (to !== undefined && to < 0)) return undefined;
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (to === undefined || d === to) break;
    }
  }
  return days;
}

function maxCyclicGap(points: number[], cycle: number): number {
  const sorted = [...new Set(points)].sort((a, b) => a - b);
  return Math.max(...sorted.map((p, i) => (i + 1 < sorted.length ? sorted[i + 1] - p : sorted[0] + cycle - p)));
}

/**
 * The longest gap between two runs of a systemd calendar, in hours, for the common forms
 * ("daily", "hourly", "weekly", "[Mon..Fri] *-*-* HH[,HH]:MM[:SS]"); undefined for anything else,
 * which policies treat as "cannot tell".
 */
export function calendarMaxIntervalHours(calendar: string): number | undefined {
  const shorthand: Record<string, number> = { hourly: 1, daily: 24, weekly: 168 };
  const text = calendar.trim();
  if (shorthand[text.toLowerCase()] !== undefined) return shorthand[text.toLowerCase()];
  const parts = text.split(/\s+/);
  const [weekdays, date, time] = parts.length === 3 ? parts : parts.length === 2 ? [undefined, ...parts] : [];
  if (date !== "*-*-*" || !time) return undefined;
  const hourSpec = time.split(":")[0];
  let hours: number[];
  if (hourSpec === "*") hours = Array.from({ length: 24 }, (_, h) => h);
  else if (/^\d{1,2}(,\d{1,2})*$/.test(hourSpec)) hours = hourSpec.split(",").map(Number);
  else if (/^\d{1,2}\/\d{1,2}$/.test(hourSpec)) {
    const [start, step] = hourSpec.split("/").map(Number);
    hours = [];
    for (let h = start; h < 24; h += step) hours.push(h);
  } else return undefined;
  const hourGap = maxCyclicGap(hours, 24);
  if (weekdays === undefined) return hourGap;
  const days = weekdaySet(weekdays);
  if (!days) return undefined;
  return days.size === 7 ? hourGap : (maxCyclicGap([...days], 7) - 1) * 24 + hourGap;
}
