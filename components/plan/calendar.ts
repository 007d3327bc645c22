/**
 * Checks of systemd OnCalendar expressions that systemd itself only reports when the timer is loaded: values out
 * of range, and dates that never come ("Feb 30"), which would leave a job that never runs. Forms this does not
 * understand pass; systemd-analyze verifies the units.
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
