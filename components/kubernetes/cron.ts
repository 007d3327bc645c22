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
