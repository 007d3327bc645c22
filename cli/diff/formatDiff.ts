import { EFFECT_TEXT, type SettingChange } from "./settingChanges";
import { hostEffects, type StackDiff } from "./stackDiff";

const SETTINGS_SHOWN = 8;
/** Past this many characters of patch a Markdown comment shows only the summary (GitHub stops near 65536). */
const MARKDOWN_PATCH_LIMIT = 50_000;

const shown = (value: string | undefined) => (value === undefined ? "(unset)" : value === "" ? '""' : value);
const settingText = (s: SettingChange) => `${s.name}: ${shown(s.from)} -> ${shown(s.to)}`;

/** "2 added, 1 changed, 0 removed on 2 host(s)"; without the zero counts when `skipZero`. */
export function changeCounts(diff: StackDiff, skipZero = false): string {
  const counts = (["added", "changed", "removed"] as const)
    .map((status) => [status, diff.changes.filter((c) => c.status === status).length] as const)
    .filter(([, n]) => n > 0 || !skipZero)
    .map(([status, n]) => `${n} ${status}`);
  return `${counts.join(", ")} on ${new Set(diff.changes.map((c) => c.host)).size} host(s)`;
}

const effectLine = (e: ReturnType<typeof hostEffects>[number]) =>
  `${EFFECT_TEXT[e.effect]}${e.restartSettings.length ? ` (${e.restartSettings.join(", ")})` : ""}`;

const title = (diff: StackDiff) => `drkit diff of stack ${diff.stack}: ${diff.base} -> working tree`;

/** One screen: per host what changes, the settings that change, and what each change needs to take effect. */
export function formatSummary(diff: StackDiff): string {
  if (diff.changes.length === 0) return `${title(diff)}\nno changes`;
  const lines = [title(diff), changeCounts(diff)];
  for (const host of hostEffects(diff)) {
    lines.push("", `host ${host.host}: ${effectLine(host)}`);
    for (const c of diff.changes.filter((x) => x.host === host.host)) {
      const extra = c.details.filter((d) => d !== "content");
      lines.push(`  ${c.status.padEnd(8)} ${c.path}${extra.length ? `  [${extra.join(", ")}]` : ""}`);
      for (const s of c.settings.slice(0, SETTINGS_SHOWN)) lines.push(`             ${settingText(s)}`);
      if (c.settings.length > SETTINGS_SHOWN) lines.push(`             and ${c.settings.length - SETTINGS_SHOWN} more`);
    }
  }
  return lines.join("\n");
}

export const formatPatch = (diff: StackDiff) => diff.changes.map((c) => c.diff).join("");

/** A Markdown code block whose fence is longer than any run of backticks in the text. */
export function codeBlock(text: string, language = ""): string {
  const fence = "`".repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
  return `${fence}${language}\n${text}\n${fence}`;
}

export const tableCell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The summary as Markdown (a pull-request comment), with the patch folded below it when it fits. */
export function formatMarkdown(diff: StackDiff, withPatch = true): string {
  const lines = [`#### drkit diff: stack \`${diff.stack}\` against \`${diff.base}\``, ""];
  if (diff.changes.length === 0) return [...lines, "No file on any host changes."].join("\n");
  lines.push(`${changeCounts(diff)}.`, "");
  for (const host of hostEffects(diff)) lines.push(`- **${host.host}**: ${effectLine(host)}`);
  lines.push("", "| host | path | change | settings | takes effect |", "| --- | --- | --- | --- | --- |");
  for (const c of diff.changes) {
    const settings = c.settings.map((s) => `\`${tableCell(settingText(s))}\``).join("<br>");
    const change = [c.status, ...c.details.filter((d) => d !== "content")].join(", ");
    lines.push(`| ${c.host} | \`${tableCell(c.path)}\` | ${change} | ${settings} | ${EFFECT_TEXT[c.effect]} |`);
  }
  const patch = formatPatch(diff);
  if (withPatch && patch.length <= MARKDOWN_PATCH_LIMIT) {
    const fence = "`".repeat(Math.max(3, ...[...patch.matchAll(/`+/g)].map((m) => m[0].length + 1)));
    lines.push(
      "",
      "<details><summary>The files, as a unified diff</summary>",
      "",
      `${fence}diff`,
      patch.trimEnd(),
      fence,
    );
    lines.push("", "</details>");
  } else if (withPatch) {
    lines.push("", `The unified diff (${patch.length} characters) is too long for a comment: run \`drkit diff\`.`);
  }
  return lines.join("\n");
}

/** The diff for tools: every change with its settings and effect, and per host the strongest effect. */
export function formatJson(diff: StackDiff): string {
  return JSON.stringify(
    {
      stack: diff.stack,
      base: diff.base,
      changed: diff.changes.length > 0,
      hosts: hostEffects(diff),
      changes: diff.changes,
    },
    null,
    2,
  );
}
