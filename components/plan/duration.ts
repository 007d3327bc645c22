/** Durations in stack config: "90s", "5m", "1h30m", "7d", "2w", or a number of seconds. */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION = /^(\d+(?:s|m|h|d|w))+$/;
const PART = /(\d+)(s|m|h|d|w)/g;

/** The longest RPO or RTO drkit accepts, in stack configs and PostgresCluster args alike. */
export const LONGEST_OBJECTIVE_SECONDS = 7 * 86400;

/** Parses a duration into whole seconds; returns undefined when the text is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") {
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  }
  const text = value.trim();
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_SECONDS[unit];
  }
  return total;
}

/** Formats seconds the way people write them: 300 -> "5m", 5400 -> "1h30m". */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const parts: string[] = [];
  let rest = seconds;
  for (const unit of ["d", "h", "m", "s"] as const) {
    const size = UNIT_SECONDS[unit];
    const amount = Math.floor(rest / size);
    if (amount > 0) {
      parts.push(`${amount}${unit}`);
      rest -= amount * size;
    }
  }
  return parts.join("");
}
