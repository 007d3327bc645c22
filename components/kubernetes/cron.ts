/**
 * The 5-field cron syntax CronJob schedules accept (minute hour day-of-month month day-of-week, as
 * Kubernetes' parser reads it: lists, ranges, steps, month and weekday names, `?` for either day field).
 */

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  readonly question?: boolean;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: readonly Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31, question: true },
  { name: "month", min: 1, max: 12, names: MONTHS },
  { name: "day of week", min: 0, max: 6, names: WEEKDAYS, question: true },
];

function value(text: string, field: Field): number | undefined {
  const named = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + field.min;
  return /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

/** Why one comma-separated element of a field is wrong, or undefined. */
function elementProblem(element: string, field: Field): string | undefined {
  const [range, step, ...rest] = element.split("/");
  if (rest.length > 0 || (step !== undefined && !/^[1-9][0-9]*$/.test(step)))
    return `${field.name} "${element}" has a bad step`;
  if (range === "*" || (range === "?" && field.question)) return undefined;
  const [from, to, ...more] = range.split("-");
  const start = value(from, field);
  const end = to === undefined ? start : value(to, field);
  if (more.length > 0 || start === undefined || end === undefined)
    return `${field.name} "${element}" is not a number, name, range or *`;
  for (const v of [start, end])
    if (v < field.min || v > field.max) return `${field.name} ${v} is outside ${field.min}-${field.max}`;
  if (start > end) return `${field.name} range "${range}" runs backwards`;
  return undefined;
}

/** Why `schedule` is not a 5-field cron expression, or undefined when it is one. */
export function cronProblem(schedule: string): string | undefined {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) return `it has ${schedule.trim() === "" ? 0 : fields.length} fields`;
  for (const [i, text] of fields.entries()) {
    for (const element of text.split(",")) {
      const problem = elementProblem(element, FIELDS[i]);
      if (problem) return problem;
    }
  }
  return undefined;
}

/** Expands one field ("*", "3", "1,5", "1-5", "*\/6", "mon-fri") to its values; undefined for what it cannot. */
function expand(text: string, field: Field): number[] | undefined {
  const values = new Set<number>();
  for (const element of text.split(",")) {
    const [range, stepText] = element.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    const [from, to] =
      range === "*" || range === "?" ? [field.min, field.max] : range.split("-").map((v) => value(v, field));
    const end = to ?? (stepText === undefined ? from : field.max);
    if (from === undefined || end === undefined || !(step >= 1)) return undefined;
    for (let v = from; v <= end; v += step) values.add(field.name === "day of week" ? v % 7 : v);
  }
  return [...values].sort((a, b) => a - b);
}

const maxCyclicGap = (points: readonly number[], cycle: number) =>
  Math.max(...points.map((p, i) => (i + 1 < points.length ? points[i + 1] - p : points[0] + cycle - p)));

/**
 * The longest gap between two runs of a CronJob schedule, in hours, for schedules that run on every day of the
 * month and every month ("0 2 * * *", "30 *\/6 * * *", "0 3 * * 0"); undefined for the others.
 */
export function cronMaxIntervalHours(schedule: string): number | undefined {
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 5 || cronProblem(schedule)) return undefined;
  const [minute, hour, dayOfMonth, month, dayOfWeek] = parts;
  if (!/^[0-9]+$/.test(minute) || !["*", "?"].includes(dayOfMonth) || month !== "*") return undefined;
  const hours = expand(hour, FIELDS[1]);
  const days = expand(dayOfWeek, FIELDS[4]);
  if (!hours?.length || !days?.length) return undefined;
  const hourGap = maxCyclicGap(hours, 24);
  return days.length === 7 ? hourGap : (maxCyclicGap(days, 7) - 1) * 24 + hourGap;
}
