import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { escapeHtml, renderHtml } from "../../components/drill/html";
import { mdText, renderMarkdown } from "../../components/drill/markdown";
import {
  formatSeconds,
  formatTime,
  overallVerdict,
  type DrillReport,
  type ScenarioResult,
} from "../../components/drill/report";
import { writeFileAtomic, writeReports } from "../../components/drill/writeReports";

const at = (clock: string) => `2025-06-03T${clock}Z`;
const XSS = `<script>alert("x")</script>`;

function pitr(): ScenarioResult {
  return {
    id: "accidental-deletion",
    title: "Accidental deletion, recovered by PITR",
    verdict: "PASS",
    reasons: ["target is the commit before the DROP TABLE"],
    rto: {
      seconds: 46.6,
      objectiveSeconds: 1800,
      clock: "from the DROP TABLE until the restored server accepted a write",
    },
    rpo: {
      lostCommits: 0,
      lostSpanSeconds: 0,
      objectiveSeconds: 300,
      recoveryPoint: at("14:01:34.912"),
      lastAcknowledgedCommit: at("14:01:34.904"),
    },
    integrity: {
      ok: true,
      tables: [
        {
          table: "orders",
          expectedRows: 1874,
          actualRows: 1874,
          expectedChecksum: "9f2c4e0a",
          actualChecksum: "9f2c4e0a",
          ok: true,
        },
        {
          table: "customers",
          expectedRows: 200,
          actualRows: 200,
          expectedChecksum: "41aa07c3",
          actualChecksum: "41aa07c3",
          ok: true,
        },
      ],
    },
    workload: { acknowledgedCommits: 1874, firstCommitAt: at("14:00:00.020"), lastCommitAt: at("14:01:34.904") },
    timeline: [
      { at: at("14:00:00.000"), kind: "writes-start", label: "4 writers" },
      { at: at("14:01:35.000"), kind: "disaster", label: `DROP TABLE orders ${XSS}` },
      { at: at("14:01:35.000"), kind: "writes-end", label: "relation does not exist" },
      { at: at("14:01:37.400"), kind: "recovery-start", label: "pitr.sh" },
      { at: at("14:02:21.600"), kind: "service-back", label: "restored server accepted a write" },
    ],
    steps: [
      { name: "restore base backup base_20250603T135800Z", seconds: 11.8, ok: true },
      { name: "replay WAL to the target", seconds: 27.94, ok: true, detail: "14 segments" },
    ],
  };
}

function hostLoss(): ScenarioResult {
  return {
    id: "host-loss",
    title: "Host loss, restored from the off-site copy alone",
    verdict: "PASS",
    reasons: [],
    rto: {
      seconds: 188.3,
      objectiveSeconds: 1800,
      clock: "from deleting the host's data until the rebuilt server accepted a write",
    },
    rpo: {
      lostCommits: 2301,
      lostSpanSeconds: 212.4,
      objectiveSeconds: 300,
      recoveryPoint: at("14:06:07.600"),
      lastAcknowledgedCommit: at("14:09:40.000"),
    },
    integrity: {
      ok: true,
      tables: [
        {
          table: "orders",
          expectedRows: 3911,
          actualRows: 3911,
          expectedChecksum: "77aa",
          actualChecksum: "77aa",
          ok: true,
        },
      ],
    },
    workload: { acknowledgedCommits: 6212, firstCommitAt: at("14:03:00.010"), lastCommitAt: at("14:09:40.000") },
    timeline: [
      { at: at("14:03:00.000"), kind: "writes-start", label: "4 writers" },
      { at: at("14:09:40.050"), kind: "disaster", label: "host lost" },
      { at: at("14:12:48.350"), kind: "service-back", label: "server accepted a write" },
    ],
    steps: [{ name: "download base backup and WAL from MinIO", seconds: 61.2, ok: true, detail: "412 MB" }],
  };
}

function corruptedBackup(): ScenarioResult {
  return {
    id: "corrupted-backup",
    title: "Corrupted newest backup, recovery from the previous one",
    verdict: "FAIL",
    reasons: ["RTO 34 min 12 s is over the objective 30 min", "table order_items | 3 rows missing"],
    rto: {
      seconds: 2052,
      objectiveSeconds: 1800,
      clock: "from the server stop until the server restored from the previous backup accepted a write",
    },
    rpo: { lostCommits: 0, lostSpanSeconds: 0, objectiveSeconds: 300 },
    integrity: {
      ok: false,
      tables: [
        {
          table: "orders",
          expectedRows: 5120,
          actualRows: 5120,
          expectedChecksum: "aa01",
          actualChecksum: "aa01",
          ok: true,
        },
        {
          table: "order_items",
          expectedRows: 15360,
          actualRows: 15357,
          expectedChecksum: "bb02",
          actualChecksum: "cc03",
          ok: false,
        },
      ],
    },
    workload: { acknowledgedCommits: 5120 },
    timeline: [
      { at: at("14:20:00.500"), kind: "disaster", label: "server stopped, newest base backup corrupted" },
      { at: at("14:54:12.500"), kind: "service-back", label: "server accepted a write" },
    ],
    steps: [
      { name: "verify the newest base backup", seconds: 2.5, ok: true, detail: "refused: checksum mismatch" },
      { name: "replay 26 h of WAL", seconds: 1744, ok: false, detail: "RTO objective exceeded" },
    ],
  };
}

function sampleReport(): DrillReport {
  const scenarios = [pitr(), hostLoss(), corruptedBackup()];
  return {
    stack: "local",
    service: "billing",
    startedAt: at("13:59:12.000"),
    finishedAt: at("14:58:09.000"),
    provisionedBy: "direct-apply",
    provisionNote: "the Pulumi CLI is not installed",
    objectives: { rpoSeconds: 300, rtoSeconds: 1800 },
    environment: { postgres: "15.13", redis: "7.0.15", host: "local" },
    scenarios,
    verdict: overallVerdict(scenarios),
  };
}

describe("overallVerdict", () => {
  it("is PASS only when every scenario passed", () => {
    expect(overallVerdict([pitr(), hostLoss()])).toBe("PASS");
    expect(overallVerdict([pitr(), corruptedBackup(), hostLoss()])).toBe("FAIL");
    expect(sampleReport().verdict).toBe("FAIL");
  });

  it("fails a drill that ran no scenario: it proved nothing", () => {
    expect(overallVerdict([])).toBe("FAIL");
  });
});

describe("formatSeconds", () => {
  it.each([
    [0, "0 s"],
    [0.35, "0.35 s"],
    [7.9, "7.9 s"],
    [46, "46 s"],
    [212.4, "3 min 32 s"],
    [1800, "30 min"],
    [2052, "34 min 12 s"],
    [3725, "1 h 2 min 5 s"],
    [Number.NaN, "n/a"],
  ])("%s -> %s", (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });
});

describe("formatTime", () => {
  it("shows milliseconds only when there are some, and text that is no time as it is", () => {
    expect(formatTime("2025-06-03T14:01:34.912Z")).toBe("2025-06-03 14:01:34.912 UTC");
    expect(formatTime("2025-06-03T16:01:35+02:00")).toBe("2025-06-03 14:01:35 UTC");
    expect(formatTime("yesterday")).toBe("yesterday");
    expect(formatTime(undefined)).toBe("n/a");
  });
});

describe("renderMarkdown", () => {
  const md = renderMarkdown(sampleReport());

  it("starts with the overall verdict and the objectives", () => {
    expect(md.split("\n")[0]).toBe("# Drill report: billing on stack local: FAIL");
    expect(md).toContain("- Objectives: RPO 5 min, RTO 30 min.");
    expect(md).toContain("provisioned by direct-apply (the Pulumi CLI is not installed)");
  });

  it("has a summary row per scenario with the measured numbers against the objectives", () => {
    expect(md).toContain(
      "| Scenario | Verdict | RTO measured / objective | RPO lost commits, span / objective | Integrity |",
    );
    expect(md).toContain(
      "| Accidental deletion, recovered by PITR (`accidental-deletion`) | PASS | 46.6 s / 30 min | 0 commits, " +
        "0 s / 5 min | 2/2 tables match |",
    );
    expect(md).toContain(
      "| Host loss, restored from the off-site copy alone (`host-loss`) | PASS | 3 min 8 s / 30 min | 2,301 " +
        "commits, 3 min 32 s / 5 min | 1/1 tables match |",
    );
    expect(md).toContain(
      "| Corrupted newest backup, recovery from the previous one (`corrupted-backup`) | **FAIL** | 34 min 12 s / " +
        "30 min (over) | 0 commits, 0 s / 5 min | FAILED: 1/2 tables match |",
    );
  });

  it("with monitoring, a column says which alert detected each disaster, and the RTO without the wait", () => {
    const report = sampleReport();
    report.scenarios[1].detection = {
      watchedBy: ["DrkitPostgresDown"],
      alert: "DrkitPostgresDown",
      seconds: 48.3,
      note: "detected by DrkitPostgresDown 48.3s after the disaster; the RTO includes that wait",
    };
    report.scenarios[0].detection = {
      watchedBy: [],
      note: "no alert watches this disaster: a DELETE is a valid write",
    };
    report.scenarios[2].detection = { watchedBy: ["DrkitPostgresDown"], note: "none of DrkitPostgresDown fired" };
    const text = renderMarkdown(report);
    expect(text).toContain(
      "| Scenario | Verdict | RTO measured / objective | Detected by | RPO lost commits, span / objective | " +
        "Integrity |",
    );
    expect(text).toContain("| 3 min 8 s / 30 min | `DrkitPostgresDown` after 48.3 s (RTO without it 2 min 20 s) |");
    expect(text).toContain("| 46.6 s / 30 min | not watched |");
    expect(text).toContain("(over) | **not detected** |");
    expect(text).toContain("- Detection: detected by DrkitPostgresDown 48.3s after the disaster; the RTO includes");
    expect(renderHtml(report)).toContain("detection: detected by DrkitPostgresDown 48.3s after the disaster");
    // Without monitoring there is no such column.
    expect(md).not.toContain("Detected by");
  });

  it("puts a failed scenario's reasons first, escaping the pipe that would break a table", () => {
    const section = md.slice(md.indexOf("### Corrupted newest backup"));
    const reasons = section.indexOf("**Why it failed:**");
    expect(reasons).toBeGreaterThan(0);
    expect(reasons).toBeLessThan(section.indexOf("- RTO:"));
    expect(section).toContain("- RTO 34 min 12 s is over the objective 30 min");
    expect(section).toContain("- table order_items \\| 3 rows missing");
  });

  it("shows a passed scenario's notes after its details, not as failure reasons", () => {
    const section = md.slice(md.indexOf("### Accidental deletion"), md.indexOf("### Host loss"));
    expect(section).not.toContain("Why it failed");
    expect(section.indexOf("Notes:")).toBeGreaterThan(section.indexOf("#### Steps"));
  });

  it("explains each clock and lists the steps with their seconds", () => {
    expect(md).toContain("Clock: from the DROP TABLE until the restored server accepted a write.");
    expect(md).toContain("- RPO: 2,301 of 6,212 acknowledged commits lost, span 3 min 32 s, objective 5 min (within).");
    expect(md).toContain("**RPO lost span** is the time from the recovery point");
    expect(md).toContain("| 2 | replay WAL to the target | 27.9 | ok | 14 segments |");
    expect(md).toContain("| 2 | replay 26 h of WAL | 1744.0 | **FAILED** | RTO objective exceeded |");
    expect(md).toContain("| `order_items` | 15,360 | 15,357 | `bb02` | `cc03` | **FAILED** |");
    expect(md).toContain(
      "- Recovery point 2025-06-03 14:01:34.912 UTC; last acknowledged commit 2025-06-03 14:01:34.904 UTC.",
    );
    expect(md).toContain("- 2025-06-03 14:01:37.400 UTC (+1 min 37 s) recovery starts: pitr.sh");
  });

  it("keeps HTML from the data inert", () => {
    expect(md).not.toContain("<script>");
    expect(md).toContain("DROP TABLE orders &lt;script>");
    expect(mdText("a|b\nc\\d & <e>")).toBe("a\\|b c\\\\d &amp; &lt;e>");
  });
});

describe("renderHtml", () => {
  const html = renderHtml(sampleReport());

  it("escapes every label: the <script> in a timeline label is text, never an element", () => {
    expect(html).not.toContain(XSS);
    expect(html.match(/<script/gi)).toBeNull();
    expect(html).toContain(escapeHtml(`DROP TABLE orders ${XSS}`));
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });

  it("escapes the report's own fields too (service, stack, table names)", () => {
    const report = sampleReport();
    report.service = "<b>billing</b>";
    report.scenarios[0].integrity.tables[0].table = "<img src=x>";
    const page = renderHtml(report);
    expect(page).not.toContain("<b>billing</b>");
    expect(page).not.toContain("<img");
    expect(page).toContain("<title>drkit drill: &lt;b&gt;billing&lt;/b&gt; (local): FAIL</title>");
  });

  it("is self-contained: no scripts, external stylesheets, fonts or images", () => {
    expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\((?!#)/i);
  });

  it("draws one timeline per scenario with its markers, and the summary rows", () => {
    expect(html.match(/<svg class="timeline"/g)).toHaveLength(3);
    expect(html.match(/data-kind="disaster"/g)).toHaveLength(3);
    expect(html.match(/data-kind="service-back"/g)).toHaveLength(3);
    // The recovery point comes from rpo.recoveryPoint when the timeline has no such event.
    expect(html.match(/data-kind="recovery-point"/g)).toHaveLength(2);
    expect(html).toContain(`<tr class="fail" data-scenario="corrupted-backup">`);
    expect(html).toContain(`<td class="num">34 min 12 s / 30 min</td>`);
    expect(html).toContain(`<td class="num">2,301</td>`);
  });

  it("marks the page FAIL even when the stored verdict says PASS above a failed scenario", () => {
    const report = { ...sampleReport(), verdict: "PASS" as const };
    expect(renderHtml(report)).toContain("<title>drkit drill: billing (local): FAIL</title>");
    expect(renderMarkdown(report).split("\n")[0]).toMatch(/: FAIL$/);
  });

  it("renders a scenario without timeline, steps or tables", () => {
    const bare: ScenarioResult = {
      ...hostLoss(),
      timeline: [],
      steps: [],
      integrity: { ok: false, tables: [] },
      workload: { acknowledgedCommits: 0 },
    };
    bare.rpo = { lostCommits: 0, lostSpanSeconds: 0, objectiveSeconds: 300 };
    const report = { ...sampleReport(), scenarios: [bare] };
    const page = renderHtml(report);
    expect(page).toContain("No timeline recorded.");
    expect(page).toContain("No steps recorded.");
    expect(renderMarkdown(report)).toContain("FAILED: no tables compared");
  });
});

describe("writeReports", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-report-unit-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("writes report.md, report.json and report.html, and the JSON reads back equal", () => {
    const dir = path.join(tempDir(), "drill", "2025-06-03");
    const report = sampleReport();
    const paths = writeReports(report, dir);
    expect(paths).toEqual({
      markdown: path.join(dir, "report.md"),
      json: path.join(dir, "report.json"),
      html: path.join(dir, "report.html"),
    });
    expect(fs.readdirSync(dir).sort()).toEqual(["report.html", "report.json", "report.md"]);
    expect(JSON.parse(fs.readFileSync(paths.json, "utf8"))).toEqual(report);
    expect(fs.readFileSync(paths.markdown, "utf8")).toBe(renderMarkdown(report));
    expect(fs.readFileSync(paths.html, "utf8")).toBe(renderHtml(report));
  });

  it("replaces existing reports and leaves no temp file behind", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "report.md"), "old");
    writeReports(sampleReport(), dir);
    expect(fs.readFileSync(path.join(dir, "report.md"), "utf8")).toMatch(/^# Drill report/);
    expect(fs.readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("removes its temp file when the rename fails, leaving the target as it was", () => {
    const dir = tempDir();
    const target = path.join(dir, "report.md");
    fs.mkdirSync(target); // a directory in the way: rename(2) of a file over it fails
    expect(() => writeFileAtomic(target, "new")).toThrow();
    expect(fs.statSync(target).isDirectory()).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(["report.md"]);
  });
});

describe("scenarios not played", () => {
  const report = {
    ...sampleReport(),
    notPlayed: [{ id: "corrupt-backup", reason: "needs pg_verifybackup of PostgreSQL 17 in /x <bin> (missing)" }],
  };

  it("are listed under the environment in Markdown, with the reason", () => {
    expect(renderMarkdown(report)).toContain(
      "- Not played: `corrupt-backup`, needs pg_verifybackup of PostgreSQL 17 in /x &lt;bin> (missing).",
    );
    expect(renderMarkdown(sampleReport())).not.toContain("Not played");
  });

  it("are listed under the summary in HTML, escaped", () => {
    expect(renderHtml(report)).toContain(
      "<li>Not played: <code>corrupt-backup</code>, needs pg_verifybackup of PostgreSQL 17 in /x &lt;bin&gt; " +
        "(missing)</li>",
    );
    expect(renderHtml(sampleReport())).not.toContain("not-played");
  });
});
