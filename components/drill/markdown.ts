import {
  displayedVerdict,
  formatCount,
  formatSeconds,
  formatTime,
  integritySummary,
  KIND_NAMES,
  rpoWithinObjective,
  rtoWithinObjective,
  secondsBetween,
  type DrillReport,
  type ScenarioResult,
  type StepResult,
  type TableCheck,
  type TimelineEvent,
} from "./report";

/**
 * Text from the data as inert Markdown: no raw HTML, no table breaks, one line. Backslashes and
 * pipes are escaped, `<` and `&` become entities (renderers show them as the characters).
 */
export function mdText(text: string): string {
  return text
    .replace(/\\/g, "\\\\")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/\|/g, "\\|")
    .replace(/[\r\n]+/g, " ");
}

/** Text inside backticks: a code span may not hold a backtick, so those become quotes. */
function mdCode(text: string): string {
  return `\`${text.replace(/`/g, "'").replace(/[\r\n]+/g, " ")}\``;
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [row(head), row(head.map(() => "---")), ...rows.map(row)];
}

function mark(ok: boolean): string {
  return ok ? "ok" : "**FAILED**";
}

function rtoCell(s: ScenarioResult): string {
  return (
    `${formatSeconds(s.rto.seconds)} ` +
    `/ ${formatSeconds(s.rto.objectiveSeconds)}${rtoWithinObjective(s) ? "" : " (over)"}`
  );
}

/** "DrkitPostgresDown after 42 s (RTO without it 3 s)", "not watched", or "" without monitoring. */
function detectionCell(s: ScenarioResult): string {
  const d = s.detection;
  if (!d) return "";
  if (d.alert && d.seconds !== undefined)
    return (
      `${mdCode(d.alert)} after ${formatSeconds(d.seconds)} ` +
      `(RTO without it ${formatSeconds(s.rto.seconds - d.seconds)})`
    );
  return d.watchedBy.length ? "**not detected**" : "not watched";
}

function rpoCell(s: ScenarioResult): string {
  const over = rpoWithinObjective(s) ? "" : " (over)";
  return (
    `${formatCount(s.rpo.lostCommits)} commits, ${formatSeconds(s.rpo.lostSpanSeconds)} ` +
    `/ ${formatSeconds(s.rpo.objectiveSeconds)}${over}`
  );
}

function header(report: DrillReport): string[] {
  const env = report.environment;
  const provision =
    `provisioned by ${report.provisionedBy}` + `${report.provisionNote ? ` (${mdText(report.provisionNote)})` : ""}`;
  const envParts = [`PostgreSQL ${mdText(env.postgres)}`];
  if (env.redis) envParts.push(`Redis ${mdText(env.redis)}`);
  if (env.minio) envParts.push(`MinIO ${mdText(env.minio)}`);
  return [
    `# Drill report: ${mdText(report.service)} on stack ${mdText(report.stack)}: ${displayedVerdict(report)}`,
    "",
    `- Ran from ${formatTime(report.startedAt)} to ${formatTime(report.finishedAt)}, ${provision}.`,
    `- Objectives: RPO ${formatSeconds(report.objectives.rpoSeconds)}, ` +
      `RTO ${formatSeconds(report.objectives.rtoSeconds)}.`,
    `- Host ${mdText(env.host)}: ${envParts.join(", ")}.`,
    ...(report.notPlayed ?? []).map((n) => `- Not played: ${mdCode(n.id)}, ${mdText(n.reason)}.`),
  ];
}

function summary(report: DrillReport): string[] {
  const monitored = report.scenarios.some((s) => s.detection);
  const rows = report.scenarios.map((s) => [
    `${mdText(s.title)} (${mdCode(s.id)})`,
    s.verdict === "PASS" ? "PASS" : "**FAIL**",
    rtoCell(s),
    ...(monitored ? [detectionCell(s)] : []),
    rpoCell(s),
    integritySummary(s),
  ]);
  const head = [
    "Scenario",
    "Verdict",
    "RTO measured / objective",
    ...(monitored ? ["Detected by"] : []),
    "RPO lost commits, span / objective",
    "Integrity",
  ];
  return ["## Summary", "", ...table(head, rows)];
}

function clocksLegend(): string[] {
  return [
    "## How to read the clocks",
    "",
    "- **RTO** is the time the service was unavailable; each scenario says where its clock starts and stops.",
    "- **RPO lost commits** counts commits the workload saw acknowledged before the disaster that are missing " +
      "after recovery.",
    "- **RPO lost span** is the time from the recovery point (the newest data recovered) to the last acknowledged " +
      "commit.",
  ];
}

function reasonsBlock(s: ScenarioResult): string[] {
  if (s.reasons.length === 0) return [];
  const title = s.verdict === "FAIL" ? "**Why it failed:**" : "Notes:";
  return [title, "", ...s.reasons.map((r) => `- ${mdText(r)}`), ""];
}

function clocks(s: ScenarioResult): string[] {
  const lines = [
    `- RTO: ${formatSeconds(s.rto.seconds)} measured, objective ${formatSeconds(s.rto.objectiveSeconds)} ` +
      `(${rtoWithinObjective(s) ? "within" : "**over**"}). Clock: ${mdText(s.rto.clock)}.`,
    ...(s.detection ? [`- Detection: ${mdText(s.detection.note)}.`] : []),
    `- RPO: ${formatCount(s.rpo.lostCommits)} of ${formatCount(s.workload.acknowledgedCommits)} ` +
      `acknowledged commits lost, ` +
      `span ${formatSeconds(s.rpo.lostSpanSeconds)}, objective ${formatSeconds(s.rpo.objectiveSeconds)} ` +
      `(${rpoWithinObjective(s) ? "within" : "**over**"}).`,
  ];
  if (s.rpo.recoveryPoint !== undefined || s.rpo.lastAcknowledgedCommit !== undefined) {
    lines.push(
      `- Recovery point ${formatTime(s.rpo.recoveryPoint)}; last acknowledged ` +
        `commit ${formatTime(s.rpo.lastAcknowledgedCommit)}.`,
    );
  }
  lines.push(`- Integrity: ${integritySummary(s)}.`);
  return lines;
}

function stepRow(step: StepResult, index: number): string[] {
  return [String(index + 1), mdText(step.name), step.seconds.toFixed(1), mark(step.ok), mdText(step.detail ?? "")];
}

function stepsBlock(steps: StepResult[]): string[] {
  if (steps.length === 0) return ["No steps recorded.", ""];
  return [...table(["#", "Step", "Seconds", "Result", "Detail"], steps.map(stepRow)), ""];
}

function tableRow(t: TableCheck): string[] {
  return [
    mdCode(t.table),
    formatCount(t.expectedRows),
    formatCount(t.actualRows),
    mdCode(t.expectedChecksum),
    mdCode(t.actualChecksum),
    mark(t.ok),
  ];
}

function integrityBlock(tables: TableCheck[]): string[] {
  if (tables.length === 0) return ["No tables compared.", ""];
  const head = ["Table", "Rows expected", "Rows actual", "Checksum expected", "Checksum actual", "Result"];
  return [...table(head, tables.map(tableRow)), ""];
}

function timelineBlock(s: ScenarioResult): string[] {
  if (s.timeline.length === 0) return [];
  const start = s.timeline[0].at;
  const line = (e: TimelineEvent) => {
    const offset = secondsBetween(start, e.at);
    const rel = offset === undefined ? "" : ` (+${formatSeconds(offset)})`;
    return `- ${formatTime(e.at)}${rel} ${KIND_NAMES[e.kind] ?? mdText(e.kind)}: ${mdText(e.label)}`;
  };
  return ["#### Timeline", "", ...s.timeline.map(line), ""];
}

function scenarioSection(s: ScenarioResult): string[] {
  return [
    `### ${mdText(s.title)}: ${s.verdict}`,
    "",
    `Scenario ${mdCode(s.id)}.`,
    "",
    ...(s.verdict === "FAIL" ? reasonsBlock(s) : []),
    ...clocks(s),
    "",
    "#### Steps",
    "",
    ...stepsBlock(s.steps),
    "#### Integrity",
    "",
    ...integrityBlock(s.integrity.tables),
    ...timelineBlock(s),
    ...(s.verdict === "PASS" ? reasonsBlock(s) : []),
  ];
}

/** report.md: the summary table first, then what happened in each scenario. */
export function renderMarkdown(report: DrillReport): string {
  const lines = [
    ...header(report),
    "",
    ...summary(report),
    "",
    ...clocksLegend(),
    "",
    "## Scenarios",
    "",
    ...report.scenarios.flatMap(scenarioSection),
  ];
  return `${lines
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()}\n`;
}
