import type { PolicyPreview } from "../engine";
import { changeCounts, codeBlock, formatMarkdown, tableCell } from "../diff/formatDiff";
import { EFFECT_TEXT } from "../diff/settingChanges";
import { hostEffects, type StackDiff } from "../diff/stackDiff";
import { engineErrorLines, outputSection, policyViolations } from "./engineOutput";

/** What `drkit review` found for one stack. */
export interface StackReview {
  readonly stack: string;
  /** Undefined when the stack's config could not be read or validated (then `problem` says why). */
  readonly diff?: StackDiff;
  readonly problem?: string;
  /** Undefined when the preview was not run (then `notPreviewed` says why). */
  readonly preview?: PolicyPreview;
  readonly notPreviewed?: string;
}

/** The first line of the comment: a workflow finds its earlier comment by it and edits that one. */
const COMMENT_MARKER = "<!-- drkit-review -->";

/** Whether a review blocks: an invalid config, a failed preview, or (expecting none) any change. */
export function reviewFailed(review: StackReview, expectNoChanges: boolean): boolean {
  if (review.problem || (review.preview && !review.preview.ok)) return true;
  return expectNoChanges && (review.diff?.changes.length ?? 0) > 0;
}

function hostsCell(r: StackReview): string {
  if (!r.diff) return "config invalid";
  if (r.diff.changes.length === 0) return "no file changes";
  const effects = hostEffects(r.diff).filter((h) => h.effect === "restart" || h.effect === "reload");
  return [changeCounts(r.diff, true), ...effects.map((h) => `${EFFECT_TEXT[h.effect]} on ${h.host}`)].join("; ");
}

function previewCell(r: StackReview): string {
  if (!r.preview) return `not run: ${r.notPreviewed ?? "-"}`;
  if (!r.preview.ok) return "**failed**";
  const summary = Object.entries(r.preview.changeSummary ?? {})
    .filter(([op, n]) => op !== "same" && n > 0)
    .map(([op, n]) => `${n} to ${op}`);
  return `passed${summary.length ? `: ${summary.join(", ")}` : ", no resource changes"}`;
}

function policyCell(r: StackReview): string {
  if (!r.preview) return "-";
  const violations = policyViolations(r.preview.output);
  if (violations.length === 0) return /^Policy Packs run:$/m.test(r.preview.output) ? "no violations" : "not reached";
  const levels = new Map<string, number>();
  for (const v of violations) levels.set(v.level, (levels.get(v.level) ?? 0) + 1);
  return `**${[...levels].map(([level, n]) => `${n} ${level}`).join(", ")}**`;
}

function previewDetails(preview: PolicyPreview): string[] {
  const lines = ["", `#### pulumi preview: ${preview.ok ? "passed" : "failed"}`];
  const violations = policyViolations(preview.output);
  if (violations.length) {
    lines.push("", "| level | policy | resource | what it found |", "| --- | --- | --- | --- |");
    for (const v of violations)
      lines.push(`| ${v.level} | \`${v.rule}\` (${v.pack}) | \`${v.resource}\` | ${tableCell(v.message)} |`);
  }
  const resources = outputSection(preview.output, "Resources:");
  if (resources) lines.push("", codeBlock(resources));
  if (!preview.ok && preview.error) lines.push("", "The engine said:", "", codeBlock(engineErrorLines(preview.error)));
  return lines;
}

function stackDetails(r: StackReview): string[] {
  const lines = ["", `### Stack \`${r.stack}\``, ""];
  if (r.problem) lines.push("The stack config does not validate:", "", codeBlock(r.problem));
  if (r.diff) lines.push(formatMarkdown(r.diff));
  if (r.preview) lines.push(...previewDetails(r.preview));
  return lines;
}

/** The pull-request comment: one summary table over the stacks, then per stack its diff, preview and policies. */
export function reviewComment(base: string, reviews: readonly StackReview[], expectNoChanges: boolean): string {
  const failed = reviews.filter((r) => reviewFailed(r, expectNoChanges));
  const verdict = failed.length
    ? `**${failed.length} of ${reviews.length} stack(s) fail**: ${failed.map((r) => `\`${r.stack}\``).join(", ")}`
    : `${reviews.length} stack(s) pass`;
  const lines = [
    COMMENT_MARKER,
    `## DR review against \`${base}\`${expectNoChanges ? " (expecting no changes)" : ""}`,
    "",
    verdict,
    "",
    "| stack | files on the hosts | pulumi preview | policies |",
    "| --- | --- | --- | --- |",
    ...reviews.map((r) => `| \`${r.stack}\` | ${hostsCell(r)} | ${previewCell(r)} | ${policyCell(r)} |`),
  ];
  for (const r of reviews)
    if (r.problem || r.preview || (r.diff?.changes.length ?? 0) > 0) lines.push(...stackDetails(r));
  return `${lines.join("\n")}\n`;
}
