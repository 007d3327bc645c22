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
  type TimelineKind,
  type Verdict,
} from "./report";

/** Text and attribute values from the data, inert in HTML and in inline SVG. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const e = escapeHtml;

/** A scenario id as an HTML id: letters, digits and dashes only. */
function anchor(id: string, index: number): string {
  const slug = id
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return `scenario-${index + 1}${slug ? `-${slug}` : ""}`;
}

function badge(verdict: Verdict): string {
  return `<span class="verdict ${verdict === "PASS" ? "pass" : "fail"}">${verdict}</span>`;
}

function okCell(ok: boolean): string {
  return ok ? `<td class="ok">ok</td>` : `<td class="bad">FAILED</td>`;
}

function objectiveNote(within: boolean): string {
  return within ? `<span class="within">within objective</span>` : `<span class="over">over objective</span>`;
}

// ---------------------------------------------------------------------------------------------------
// Timeline SVG

const SVG_WIDTH = 1120;
const PLOT_LEFT = 150;
const PLOT_RIGHT = SVG_WIDTH - 28;
const ROW_HEIGHT = 18;
const LABELS_TOP = 6;
const LANE_HEIGHT = 24;
const LANE_GAP = 10;
const CHAR_WIDTH = 6.6;
const MAX_LABEL_CHARS = 48;

interface Span {
  from: number;
  to: number;
}

interface Marker {
  kind: TimelineKind;
  at: string;
  ms: number;
  text: string;
}

interface PlacedMarker extends Marker {
  x: number;
  row: number;
  anchorEnd: boolean;
}

interface Scale {
  /** id of this SVG's hatch pattern (ids are page-wide, so one per timeline). */
  hatchId: string;
  origin: number;
  start: number;
  end: number;
  x(ms: number): number;
}

function ms(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? undefined : value;
}

function firstOf(s: ScenarioResult, kind: TimelineKind): number | undefined {
  const event = s.timeline.find((ev) => ev.kind === kind && ms(ev.at) !== undefined);
  return event ? ms(event.at) : undefined;
}

function defined(values: Array<number | undefined>): number[] {
  return values.filter((v): v is number => v !== undefined);
}

function writesSpan(s: ScenarioResult): Span | undefined {
  const from = firstOf(s, "writes-start") ?? ms(s.workload.firstCommitAt);
  const to = firstOf(s, "writes-end") ?? ms(s.workload.lastCommitAt);
  return from !== undefined && to !== undefined && to >= from ? { from, to } : undefined;
}

function outageSpan(s: ScenarioResult): Span | undefined {
  const from = firstOf(s, "disaster");
  if (from === undefined) return undefined;
  const to = firstOf(s, "service-back") ?? from + s.rto.seconds * 1000;
  return to >= from ? { from, to } : undefined;
}

function recoveryPointMs(s: ScenarioResult): number | undefined {
  return ms(s.rpo.recoveryPoint) ?? firstOf(s, "recovery-point");
}

function lostSpan(s: ScenarioResult): Span | undefined {
  const from = recoveryPointMs(s);
  if (from === undefined || (s.rpo.lostCommits <= 0 && s.rpo.lostSpanSeconds <= 0)) return undefined;
  const to = ms(s.rpo.lastAcknowledgedCommit) ?? from + s.rpo.lostSpanSeconds * 1000;
  return to > from ? { from, to } : undefined;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function markers(s: ScenarioResult): Marker[] {
  const shown = s.timeline.filter((ev) => ev.kind !== "writes-start" && ev.kind !== "writes-end");
  const list: Marker[] = [];
  for (const ev of shown) {
    const at = ms(ev.at);
    if (at !== undefined) list.push({ kind: ev.kind, at: ev.at, ms: at, text: ev.label });
  }
  const rp = ms(s.rpo.recoveryPoint);
  if (rp !== undefined && !list.some((m) => m.kind === "recovery-point")) {
    list.push({ kind: "recovery-point", at: s.rpo.recoveryPoint!, ms: rp, text: "newest data recovered" });
  }
  return list.sort((a, b) => a.ms - b.ms);
}

function scaleFor(s: ScenarioResult, marks: Marker[], hatchId: string): Scale | undefined {
  const spans = [writesSpan(s), outageSpan(s), lostSpan(s)].filter((sp): sp is Span => sp !== undefined);
  const times = [
    ...marks.map((m) => m.ms),
    ...spans.flatMap((sp) => [sp.from, sp.to]),
    ...defined(s.timeline.map((ev) => ms(ev.at))),
  ];
  if (times.length === 0) return undefined;
  const origin = Math.min(...times);
  const last = Math.max(...times);
  const pad = Math.max((last - origin) * 0.03, 500);
  const start = origin - pad;
  const end = last + pad;
  const x = (t: number) => PLOT_LEFT + ((t - start) / (end - start)) * (PLOT_RIGHT - PLOT_LEFT);
  return { hatchId, origin, start, end, x };
}

function labelText(m: Marker): string {
  return truncate(`${KIND_NAMES[m.kind] ?? m.kind}: ${m.text}`, MAX_LABEL_CHARS);
}

function labelWidth(m: Marker): number {
  return labelText(m).length * CHAR_WIDTH + 8;
}

/** Puts each label on the first row where it does not overlap a label already placed. */
function placeLabels(marks: Marker[], scale: Scale): PlacedMarker[] {
  const rowsEnd: Array<Array<[number, number]>> = [];
  return marks.map((m) => {
    const x = scale.x(m.ms);
    const width = labelWidth(m);
    const anchorEnd = x + width > SVG_WIDTH - 4;
    const extent: [number, number] = anchorEnd ? [x - width, x] : [x, x + width];
    let row = rowsEnd.findIndex((taken) => taken.every(([a, b]) => extent[1] + 6 < a || extent[0] > b + 6));
    if (row === -1) {
      row = rowsEnd.length;
      rowsEnd.push([]);
    }
    rowsEnd[row].push(extent);
    return { ...m, x, row, anchorEnd };
  });
}

interface Geometry {
  plotTop: number;
  laneY(i: number): number;
  axisY: number;
  height: number;
}

function geometry(labelRows: number): Geometry {
  const plotTop = LABELS_TOP + labelRows * ROW_HEIGHT + 8;
  const laneY = (i: number) => plotTop + i * (LANE_HEIGHT + LANE_GAP);
  const axisY = laneY(3) + 2;
  return { plotTop, laneY, axisY, height: axisY + 42 };
}

function niceStep(seconds: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
  return steps.find((step) => seconds / step <= 10) ?? Math.ceil(seconds / 10 / 86400) * 86400;
}

function axis(scale: Scale, g: Geometry): string {
  const span = (scale.end - scale.origin) / 1000;
  const step = niceStep(span);
  const ticks: string[] = [];
  for (let t = 0; scale.origin + t * 1000 <= scale.end; t += step) {
    const x = scale.x(scale.origin + t * 1000).toFixed(1);
    ticks.push(
      `<line class="tick" x1="${x}" x2="${x}" y1="${g.axisY}" y2="${g.axisY + 5}"/>` +
        `<text class="tick-label" x="${x}" y="${g.axisY + 18}" text-anchor="middle">+${e(formatSeconds(t))}</text>`,
    );
  }
  const full = formatTime(new Date(scale.origin).toISOString());
  const origin =
    `<text class="axis-origin" x="${PLOT_LEFT - 14}" y="${g.axisY + 18}" text-anchor="end">` +
    `<title>+0 s is ${e(full)}</title>${e(full.slice(11))}</text>`;
  return (
    `<line class="axis" x1="${PLOT_LEFT}" x2="${PLOT_RIGHT}" y1="${g.axisY}" ` +
    `y2="${g.axisY}"/>${ticks.join("")}${origin}`
  );
}

function laneLabel(text: string, y: number): string {
  return (
    `<text class="lane-label" x="${PLOT_LEFT - 10}" y="${y + LANE_HEIGHT / 2 + 4}" ` +
    `text-anchor="end">${e(text)}</text>`
  );
}

/** A text for a band: inside it when it fits, otherwise beside it on the side with room. */
function bandText(text: string, x0: number, x1: number, y: number, cls: string): string {
  const width = text.length * CHAR_WIDTH;
  const baseline = y + LANE_HEIGHT / 2 + 4;
  if (x1 - x0 >= width + 12)
    return (
      `<text class="band-text ${cls}" x="${((x0 + x1) / 2).toFixed(1)}" y="${baseline}" ` +
      `text-anchor="middle">${e(text)}</text>`
    );
  if (x1 + 6 + width <= PLOT_RIGHT)
    return `<text class="band-side" x="${(x1 + 6).toFixed(1)}" y="${baseline}">${e(text)}</text>`;
  return `<text class="band-side" x="${(x0 - 6).toFixed(1)}" y="${baseline}" text-anchor="end">${e(text)}</text>`;
}

function band(kind: string, span: Span, scale: Scale, y: number, tooltip: string): string {
  const fill = kind === "lost-overlay" ? ` fill="url(#${scale.hatchId})"` : "";
  const x0 = scale.x(span.from);
  const x1 = Math.max(scale.x(span.to), x0 + 2);
  return (
    `<rect class="band band-${kind}" data-kind="${kind}"${fill} x="${x0.toFixed(1)}" y="${y}" ` +
    `width="${(x1 - x0).toFixed(1)}" height="${LANE_HEIGHT}" rx="3">` +
    `<title>${e(tooltip)}</title></rect>`
  );
}

function writesLane(s: ScenarioResult, scale: Scale, g: Geometry): string {
  const y = g.laneY(0);
  const span = writesSpan(s);
  const lost = lostSpan(s);
  const parts = [laneLabel("writes", y)];
  if (!span)
    return parts
      .concat(`<text class="band-side" x="${PLOT_LEFT}" y="${y + 16}">no write period recorded</text>`)
      .join("");
  const text = `${formatCount(s.workload.acknowledgedCommits)} acknowledged commits`;
  parts.push(band("writes", span, scale, y, `writes: ${text}`));
  if (lost) parts.push(band("lost-overlay", lost, scale, y, "acknowledged commits the recovery lost"));
  const kept = lost && lost.from > span.from ? Math.min(lost.from, span.to) : span.to;
  parts.push(bandText(text, scale.x(span.from), scale.x(kept), y, "on-writes"));
  return parts.join("");
}

function outageLane(s: ScenarioResult, scale: Scale, g: Geometry): string {
  const y = g.laneY(1);
  const span = outageSpan(s);
  const parts = [laneLabel("outage (RTO)", y)];
  if (!span)
    return parts.concat(`<text class="band-side" x="${PLOT_LEFT}" y="${y + 16}">no disaster recorded</text>`).join("");
  const text = `RTO ${formatSeconds(s.rto.seconds)} (objective ${formatSeconds(s.rto.objectiveSeconds)})`;
  const cls = rtoWithinObjective(s) ? "rto" : "rto-over";
  parts.push(band(cls, span, scale, y, `${text}: ${s.rto.clock}`));
  parts.push(bandText(text, scale.x(span.from), scale.x(span.to), y, `on-${cls}`));
  return parts.join("");
}

function lostLane(s: ScenarioResult, scale: Scale, g: Geometry): string {
  const y = g.laneY(2);
  const span = lostSpan(s);
  const parts = [laneLabel("data lost (RPO)", y)];
  const text =
    `${formatCount(s.rpo.lostCommits)} commits, ${formatSeconds(s.rpo.lostSpanSeconds)} ` +
    `(objective ${formatSeconds(s.rpo.objectiveSeconds)})`;
  if (!span) {
    const rp = recoveryPointMs(s);
    const x = rp === undefined ? PLOT_LEFT : scale.x(rp) + 8;
    const none = s.rpo.lostCommits === 0 ? "no acknowledged commit lost" : text;
    return parts.concat(bandText(none, x, x, y, "")).join("");
  }
  const cls = rpoWithinObjective(s) ? "lost" : "lost-over";
  parts.push(band(cls, span, scale, y, `lost: ${text}`));
  parts.push(bandText(text, scale.x(span.from), scale.x(span.to), y, `on-${cls}`));
  return parts.join("");
}

function markerSvg(m: PlacedMarker, g: Geometry): string {
  const x = m.x.toFixed(1);
  const baseline = LABELS_TOP + m.row * ROW_HEIGHT + 13;
  const tx = m.anchorEnd ? m.x - 4 : m.x + 4;
  const name = KIND_NAMES[m.kind] ?? m.kind;
  const rest = labelText(m).slice(name.length);
  return (
    `<g class="marker k-${e(m.kind)}" data-kind="${e(m.kind)}" data-at="${e(m.at)}">` +
    `<title>${e(`${name} at ${formatTime(m.at)}: ${m.text}`)}</title>` +
    `<line class="marker-line" x1="${x}" x2="${x}" y1="${baseline - 12}" y2="${g.axisY}"/>` +
    `<circle class="marker-dot" cx="${x}" cy="${g.axisY}" r="4.5"/>` +
    `<text class="marker-label" x="${tx.toFixed(1)}" y="${baseline}"${m.anchorEnd ? ` text-anchor="end"` : ""}>` +
    `<tspan class="marker-kind">${e(name)}</tspan>${e(rest)}</text></g>`
  );
}

/** The scenario's timeline: writes, outage and lost-data lanes over a time axis, events marked and labelled. */
function timelineSvg(s: ScenarioResult, index: number): string {
  const marks = markers(s);
  const scale = scaleFor(s, marks, `lost-hatch-${index + 1}`);
  const title = `Timeline of ${s.title}`;
  if (!scale) return `<p class="empty">No timeline recorded.</p>`;
  const placed = placeLabels(marks, scale);
  const g = geometry(Math.max(1, ...placed.map((m) => m.row + 1)));
  return (
    `<svg class="timeline" id="timeline-${index + 1}" data-scenario="${e(s.id)}" viewBox="0 ` +
    `0 ${SVG_WIDTH} ${g.height}" ` +
    `width="${SVG_WIDTH}" height="${g.height}" role="img" aria-label="${e(title)}" ` +
    `xmlns="http://www.w3.org/2000/svg">` +
    `<title>${e(title)}</title>` +
    `<defs><pattern id="${scale.hatchId}" width="6" height="6" patternUnits="userSpaceOnUse" ` +
    `patternTransform="rotate(45)">` +
    `<rect width="6" height="6" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="6" ` +
    `class="hatch-line"/></pattern></defs>` +
    writesLane(s, scale, g) +
    outageLane(s, scale, g) +
    lostLane(s, scale, g) +
    axis(scale, g) +
    placed.map((m) => markerSvg(m, g)).join("") +
    `</svg>`
  );
}

// ---------------------------------------------------------------------------------------------------
// Page

const CSS =
  `
:root { --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9; --ink: #1f2328; --muted: #59636e;
  --line: #d1d9e0; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Helvetica Neue", Arial, sans-serif; ` +
  `color: var(--ink); background: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 0 24px 48px; }
header.banner { border-bottom: 4px solid var(--line); padding: 24px 0 16px; margin-bottom: 20px; }
header.banner.pass { border-color: var(--pass); }
header.banner.fail { border-color: var(--fail); }
h1 { font-size: 26px; margin: 0; display: flex; align-items: center; gap: 14px; }
h2 { font-size: 20px; margin: 32px 0 12px; }
h3 { font-size: 16px; margin: 20px 0 8px; }
.sub { color: var(--muted); margin: 6px 0 0; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--panel); ` +
  `padding: 1px 5px; border-radius: 4px; }
.verdict { display: inline-block; font-weight: 700; font-size: 14px; letter-spacing: .04em; padding: 2px 10px; ` +
  `border-radius: 999px; color: #fff; vertical-align: middle; }
.verdict.pass { background-color: var(--pass); }
.verdict.fail { background-color: var(--fail); }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; background: #fff; }
.card h3 { margin: 0 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.card .big { font-size: 22px; font-weight: 700; }
.card p { margin: 4px 0 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { color: var(--pass); font-weight: 600; }
td.bad { color: var(--fail); font-weight: 700; }
tr.fail td { background: var(--fail-bg); }
.within { color: var(--pass); font-weight: 600; }
.over { color: var(--fail); font-weight: 700; }
section.scenario { border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 8px; ` +
  `padding: 4px 20px 16px; margin: 24px 0; }
section.scenario.pass { border-left-color: var(--pass); }
section.scenario.fail { border-left-color: var(--fail); }
section.scenario > h2 { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.reasons { border-radius: 6px; padding: 8px 16px; margin: 8px 0 12px; }
.reasons.fail { background: var(--fail-bg); border: 1px solid var(--fail); }
.reasons.notes { background: var(--panel); border: 1px solid var(--line); }
.reasons h3 { margin: 4px 0; }
.reasons ul { margin: 4px 0; padding-left: 20px; }
.metrics { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin: 12px 0; }
.clock { color: var(--muted); font-size: 13px; }
figure { margin: 12px 0; }
figcaption { color: var(--muted); font-size: 13px; }
svg.timeline { width: 100%; height: auto; display: block; font-family: system-ui, -apple-system, "Segoe UI", ` +
  `Arial, sans-serif; }
svg .lane-label { font-size: 12px; fill: var(--muted); }
svg .band { stroke-width: 1; }
svg .band-writes { fill: #ddf4ff; stroke: #54aeff; }
svg .band-lost-overlay { stroke: #e16f24; }
svg .hatch-bg { fill: #fff1e5; }
svg .hatch-line { stroke: #f0883e; stroke-width: 3; }
svg .band-rto { fill: #fff1c2; stroke: #d4a72c; }
svg .band-rto-over, svg .band-lost-over { fill: var(--fail-bg); stroke: var(--fail); }
svg .band-lost { fill: #ffd8b5; stroke: #e16f24; }
svg .band-text { font-size: 12px; font-weight: 600; fill: var(--ink); }
svg .band-side { font-size: 12px; fill: var(--ink); }
svg .axis, svg .tick { stroke: #818b98; stroke-width: 1; }
svg .tick-label, svg .axis-origin { font-size: 11px; fill: var(--muted); }
svg .marker { --c: #818b98; }
svg .marker-line { stroke: var(--c); stroke-width: 1.5; stroke-dasharray: 4 3; fill: none; }
svg .marker-dot { fill: var(--c); stroke: #fff; stroke-width: 1.5; }
svg .marker-label { font-size: 12px; fill: var(--ink); paint-order: stroke; stroke: #fff; stroke-width: 3px; ` +
  `stroke-linejoin: round; }
svg .marker-kind { font-weight: 700; fill: var(--c); }
svg .k-disaster { --c: #b42318; }
svg .k-detected { --c: #bc4c00; }
svg .k-recovery-start { --c: #9a6700; }
svg .k-service-back { --c: #1a7f37; }
svg .k-recovery-point { --c: #8250df; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); }
footer { color: var(--muted); font-size: 13px; margin-top: 32px; }
`;

function headerHtml(report: DrillReport, verdict: Verdict): string {
  const duration = secondsBetween(report.startedAt, report.finishedAt);
  const took = duration === undefined ? "" : ` (${formatSeconds(duration)})`;
  const note = report.provisionNote ? `: ${e(report.provisionNote)}` : "";
  return (
    `<header class="banner ${verdict === "PASS" ? "pass" : "fail"}">` +
    `<h1>Drill report: ${e(report.service)} ${badge(verdict)}</h1>` +
    `<p class="sub">Stack <code>${e(report.stack)}</code> · ${e(formatTime(report.startedAt))} ` +
    `to ${e(formatTime(report.finishedAt))}${e(took)} · ` +
    `provisioned by ${e(report.provisionedBy)}${note}</p></header>`
  );
}

function factsHtml(report: DrillReport): string {
  const env = report.environment;
  const failed = report.scenarios.filter((s) => s.verdict === "FAIL").length;
  const rows: Array<[string, string | undefined]> = [
    ["Host", env.host],
    ["PostgreSQL", env.postgres],
    ["Redis", env.redis],
    ["MinIO", env.minio],
  ];
  const dl = rows
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<dt>${k}</dt><dd>${e(v!)}</dd>`)
    .join("");
  return (
    `<section class="facts">` +
    `<div class="card"><h3>Scenarios</h3><div class="big">${report.scenarios.length - failed} ` +
    `of ${report.scenarios.length} passed</div>` +
    `<p>${failed === 0 ? "every scenario recovered within its objectives" : `${failed} failed, see below`}</p></div>` +
    `<div class="card"><h3>Objectives</h3><dl><dt>RPO</dt><dd>${e(formatSeconds(report.objectives.rpoSeconds))} ` +
    `of data at most</dd>` +
    `<dt>RTO</dt><dd>${e(formatSeconds(report.objectives.rtoSeconds))} of downtime at most</dd></dl></div>` +
    `<div class="card"><h3>Environment</h3><dl>${dl}</dl></div></section>`
  );
}

function summaryRow(s: ScenarioResult, index: number): string {
  const cls = s.verdict === "PASS" ? "pass" : "fail";
  return (
    `<tr class="${cls}" data-scenario="${e(s.id)}"><td><a ` +
    `href="#${anchor(s.id, index)}">${e(s.title)}</a></td><td>${badge(s.verdict)}</td>` +
    `<td class="num">${e(formatSeconds(s.rto.seconds))} / ${e(formatSeconds(s.rto.objectiveSeconds))}</td>` +
    `<td class="num">${e(formatCount(s.rpo.lostCommits))}</td>` +
    `<td class="num">${e(formatSeconds(s.rpo.lostSpanSeconds))} / ${e(formatSeconds(s.rpo.objectiveSeconds))}</td>` +
    `<td>${e(integritySummary(s))}</td></tr>`
  );
}

function summaryHtml(report: DrillReport): string {
  return (
    `<h2>Summary</h2><table class="summary"><thead><tr><th>Scenario</th><th>Verdict</th><th class="num">RTO ` +
    `measured / objective</th>` +
    `<th class="num">RPO lost commits</th><th class="num">RPO lost span / ` +
    `objective</th><th>Integrity</th></tr></thead>` +
    `<tbody>${report.scenarios.map(summaryRow).join("")}</tbody></table>` +
    (report.notPlayed?.length
      ? `<ul class="not-played">${report.notPlayed
          .map((n) => `<li>Not played: <code>${e(n.id)}</code>, ${e(n.reason)}</li>`)
          .join("")}</ul>`
      : "") +
    `<p class="clock">RTO: how long the service was unavailable (each scenario says where its clock starts and ` +
    `stops). ` +
    `RPO lost commits: commits acknowledged to the workload before the disaster that are missing after recovery; ` +
    `lost span: from the recovery point to the last acknowledged commit.</p>`
  );
}

function reasonsHtml(s: ScenarioResult): string {
  if (s.reasons.length === 0) return "";
  const fail = s.verdict === "FAIL";
  const items = s.reasons.map((r) => `<li>${e(r)}</li>`).join("");
  return (
    `<div class="reasons ${fail ? "fail" : "notes"}"><h3>${fail ? "Why it failed" : "Notes"}</h3>` +
    `<ul>${items}</ul></div>`
  );
}

function metricsHtml(s: ScenarioResult): string {
  const rp = s.rpo.recoveryPoint ? `<p class="clock">recovery point ${e(formatTime(s.rpo.recoveryPoint))}` : "";
  const ack = s.rpo.lastAcknowledgedCommit
    ? `${rp ? "; " : `<p class="clock">`}last acknowledged commit ${e(formatTime(s.rpo.lastAcknowledgedCommit))}`
    : "";
  const rpoTimes = rp || ack ? `${rp}${ack}</p>` : "";
  return (
    `<div class="metrics">` +
    `<div class="card rto"><h3>Recovery time (RTO)</h3><div class="big">${e(formatSeconds(s.rto.seconds))}</div>` +
    `<p>objective ${e(formatSeconds(s.rto.objectiveSeconds))}: ${objectiveNote(rtoWithinObjective(s))}</p><p ` +
    `class="clock">clock: ${e(s.rto.clock)}</p>` +
    (s.detection ? `<p class="clock">detection: ${e(s.detection.note)}</p>` : "") +
    `</div>` +
    `<div class="card rpo"><h3>Data lost (RPO)</h3><div class="big">${e(formatCount(s.rpo.lostCommits))} ` +
    `commits</div>` +
    `<p>of ${e(formatCount(s.workload.acknowledgedCommits))} acknowledged; ` +
    `span ${e(formatSeconds(s.rpo.lostSpanSeconds))}, ` +
    `objective ${e(formatSeconds(s.rpo.objectiveSeconds))}: ${objectiveNote(rpoWithinObjective(s))}</` +
    `p>${rpoTimes}</div>` +
    `<div class="card integrity"><h3>Integrity</h3><div ` +
    `class="big ${s.integrity.ok ? "within" : "over"}">${s.integrity.ok ? "intact" : "damaged"}</div>` +
    `<p>${e(integritySummary(s))}</p></div></div>`
  );
}

function stepRow(step: StepResult, index: number): string {
  return (
    `<tr class="${step.ok ? "pass" : "fail"}"><td class="num">${index + 1}</td><td>${e(step.name)}</td>` +
    `<td class="num">${e(step.seconds.toFixed(1))}</td>${okCell(step.ok)}<td>${e(step.detail ?? "")}</td></tr>`
  );
}

function stepsHtml(steps: StepResult[]): string {
  if (steps.length === 0) return `<h3>Steps</h3><p class="empty">No steps recorded.</p>`;
  return (
    `<h3>Steps</h3><table class="steps"><thead><tr><th class="num">#</th><th>Step</th><th ` +
    `class="num">Seconds</th><th>Result</th><th>Detail</th></tr></thead>` +
    `<tbody>${steps.map(stepRow).join("")}</tbody></table>`
  );
}

function tableRow(t: TableCheck): string {
  return (
    `<tr class="${t.ok ? "pass" : "fail"}"><td><code>${e(t.table)}</code></td><td ` +
    `class="num">${e(formatCount(t.expectedRows))}</td>` +
    `<td class="num">${e(formatCount(t.actualRows))}</td><td><code>${e(t.expectedChecksum)}</code></td><td>` +
    `<code>${e(t.actualChecksum)}</code></td>${okCell(t.ok)}</tr>`
  );
}

function integrityHtml(tables: TableCheck[]): string {
  if (tables.length === 0) return `<h3>Integrity</h3><p class="empty">No tables compared.</p>`;
  return (
    `<h3>Integrity</h3><table class="integrity"><thead><tr><th>Table</th><th class="num">Rows expected</th><th ` +
    `class="num">Rows actual</th>` +
    `<th>Checksum expected</th><th>Checksum ` +
    `actual</th><th>Result</th></tr></thead><tbody>${tables.map(tableRow).join("")}</tbody></table>`
  );
}

function eventsHtml(events: TimelineEvent[]): string {
  if (events.length === 0) return "";
  const start = events[0].at;
  const rows = events.map((ev) => {
    const offset = secondsBetween(start, ev.at);
    return (
      `<tr><td>${e(formatTime(ev.at))}</td><td ` +
      `class="num">${offset === undefined ? "" : `+${e(formatSeconds(offset))}`}</td>` +
      `<td>${e(KIND_NAMES[ev.kind] ?? ev.kind)}</td><td>${e(ev.label)}</td></tr>`
    );
  });
  return (
    `<details><summary>Timeline events (${events.length})</summary><table ` +
    `class="events"><thead><tr><th>Time</th><th class="num">Offset</th><th>Event</th><th>Label</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table></details>`
  );
}

function scenarioHtml(s: ScenarioResult, index: number): string {
  const cls = s.verdict === "PASS" ? "pass" : "fail";
  return (
    `<section class="scenario ${cls}" id="${anchor(s.id, index)}" data-scenario="${e(s.id)}" ` +
    `data-verdict="${s.verdict}">` +
    `<h2>${e(s.title)} ${badge(s.verdict)} <code>${e(s.id)}</code></h2>` +
    (s.verdict === "FAIL" ? reasonsHtml(s) : "") +
    metricsHtml(s) +
    `<figure>${timelineSvg(s, index)}<figcaption>Writes, the outage the RTO measures and the writes the recovery ` +
    `lost, on one time axis; ` +
    `dashed lines mark the events.</figcaption></figure>` +
    stepsHtml(s.steps) +
    integrityHtml(s.integrity.tables) +
    eventsHtml(s.timeline) +
    (s.verdict === "PASS" ? reasonsHtml(s) : "") +
    `</section>`
  );
}

/** report.html: one self-contained page (inline CSS and SVG; no scripts, fonts or images). */
export function renderHtml(report: DrillReport): string {
  const verdict = displayedVerdict(report);
  const title = `drkit drill: ${report.service} (${report.stack}): ${verdict}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${e(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${headerHtml(report, verdict)}
${factsHtml(report)}
${summaryHtml(report)}
${report.scenarios.map(scenarioHtml).join("\n")}
<footer>Generated by drkit drill from report.json.</footer>
</main>
</body>
</html>
`;
}
