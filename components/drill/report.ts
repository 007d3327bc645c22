/**
 * The report of `drkit drill`: what each scenario broke, how it was recovered, and what the recovery
 * cost in time (RTO) and in data (RPO). The runner fills these types; `markdown.ts`, `html.ts` and
 * `writeReports.ts` turn them into report.md, report.html and report.json.
 */

export type Verdict = "PASS" | "FAIL";

export type TimelineKind =
  | "writes-start"
  | "disaster"
  | "detected"
  | "recovery-start"
  | "service-back"
  | "recovery-point"
  | "writes-end"
  | "note";

export interface TimelineEvent {
  /** ISO 8601 time. */
  at: string;
  kind: TimelineKind;
  label: string;
}

export interface TableCheck {
  table: string;
  expectedRows: number;
  actualRows: number;
  expectedChecksum: string;
  actualChecksum: string;
  ok: boolean;
}

export interface StepResult {
  name: string;
  seconds: number;
  ok: boolean;
  detail?: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  verdict: Verdict;
  /** Why it failed, or notes when it passed. */
  reasons: string[];
  rto: {
    seconds: number;
    objectiveSeconds: number;
    /** What the clock includes, e.g. "from the DROP TABLE until the restored server accepted a write". */
    clock: string;
  };
  rpo: {
    lostCommits: number;
    lostSpanSeconds: number;
    objectiveSeconds: number;
    /** ISO time the recovered data reaches. */
    recoveryPoint?: string;
    /** ISO time of the last commit the workload saw acknowledged before the disaster. */
    lastAcknowledgedCommit?: string;
  };
  integrity: { ok: boolean; tables: TableCheck[] };
  /**
   * With monitoring: the alerts that watch this disaster, which one fired and how long after the disaster (the
   * recovery then started, so the RTO includes it); a note when no alert watches it or none fired.
   */
  detection?: { watchedBy: string[]; alert?: string; seconds?: number; note: string };
  workload: { acknowledgedCommits: number; firstCommitAt?: string; lastCommitAt?: string };
  timeline: TimelineEvent[];
  steps: StepResult[];
}

export interface NotPlayed {
  id: string;
  reason: string;
}

export interface DrillReport {
  stack: string;
  service: string;
  startedAt: string;
  finishedAt: string;
  provisionedBy: "pulumi" | "direct-apply";
  provisionNote?: string;
  objectives: { rpoSeconds: number; rtoSeconds: number };
  environment: { postgres: string; redis?: string; minio?: string; host: string };
  scenarios: ScenarioResult[];
  /** The scenarios this stack or this host's tools cannot play, with the reason. */
  notPlayed?: NotPlayed[];
  /** FAIL if any scenario failed. */
  verdict: Verdict;
}

/** FAIL if any scenario failed; a drill that ran no scenario proved nothing, so it fails too. */
export function overallVerdict(scenarios: ScenarioResult[]): Verdict {
  if (scenarios.length === 0) return "FAIL";
  return scenarios.every((s) => s.verdict === "PASS") ? "PASS" : "FAIL";
}

/** The verdict a report shows: never PASS above a failed scenario, whatever the stored field says. */
export function displayedVerdict(report: DrillReport): Verdict {
  return report.verdict === "PASS" && overallVerdict(report.scenarios) === "PASS" ? "PASS" : "FAIL";
}

export const KIND_NAMES: Readonly<Record<TimelineKind, string>> = {
  "writes-start": "writes start",
  disaster: "disaster",
  detected: "alert fired",
  "recovery-start": "recovery starts",
  "service-back": "service back",
  "recovery-point": "recovery point",
  "writes-end": "writes end",
  note: "note",
};

export function rtoWithinObjective(s: ScenarioResult): boolean {
  return s.rto.seconds <= s.rto.objectiveSeconds;
}

export function rpoWithinObjective(s: ScenarioResult): boolean {
  return s.rpo.lostSpanSeconds <= s.rpo.objectiveSeconds;
}

/** "3/3 tables match", or "FAILED: 2/3 tables match" when the integrity check failed. */
export function integritySummary(s: ScenarioResult): string {
  const { tables, ok } = s.integrity;
  const prefix = ok ? "" : "FAILED: ";
  if (tables.length === 0) return `${prefix}no tables compared`;
  return `${prefix}${tables.filter((t) => t.ok).length}/${tables.length} tables match`;
}

/** Measured seconds as people read them: 0.35 -> "0.35 s", 46.2 -> "46.2 s", 1930 -> "32 min 10 s". */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "n/a";
  if (seconds < 0) return `-${formatSeconds(-seconds)}`;
  if (seconds < 1) return `${trimZeros(seconds.toFixed(2))} s`;
  if (seconds < 60) return `${trimZeros(seconds.toFixed(1))} s`;
  return wholeUnits(Math.round(seconds));
}

function trimZeros(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

function wholeUnits(total: number): string {
  const parts: string[] = [];
  const units: Array<[string, number]> = [
    ["d", 86_400],
    ["h", 3_600],
    ["min", 60],
    ["s", 1],
  ];
  let rest = total;
  for (const [name, size] of units) {
    const amount = Math.floor(rest / size);
    if (amount > 0) parts.push(`${amount} ${name}`);
    rest -= amount * size;
  }
  return parts.join(" ");
}

const COUNT = new Intl.NumberFormat("en-US");

/** 12345 -> "12,345". */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? COUNT.format(n) : "n/a";
}

/**
 * "2025-06-03T14:02:11.482Z" -> "2025-06-03 14:02:11.482 UTC" (milliseconds only when there are some:
 * a recovery point and the disaster are often under a second apart); text that is no time is shown as it is.
 */
export function formatTime(iso: string | undefined): string {
  if (iso === undefined) return "n/a";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const text = new Date(ms).toISOString();
  return `${text.slice(0, ms % 1000 === 0 ? 19 : 23).replace("T", " ")} UTC`;
}

/** Seconds between two ISO times, or undefined when either is missing or not a time. */
export function secondsBetween(from: string | undefined, to: string | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  const a = Date.parse(from);
  const b = Date.parse(to);
  return Number.isNaN(a) || Number.isNaN(b) ? undefined : (b - a) / 1000;
}
