import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  overallVerdict,
  type DrillReport,
  type ScenarioResult,
  type TimelineEvent,
} from "../../components/drill/report";
import { writeReports } from "../../components/drill/writeReports";

// A drill of five scenarios as the runner reports it; the corrupted-backup scenario misses its RTO.
// The tsconfig has no DOM lib: the few browser globals the page functions use, typed by hand (types are
// erased, so the functions still run in the page as written).
interface PageGlobals {
  document: { documentElement: { scrollWidth: number } };
  getComputedStyle(element: unknown): Record<string, string>;
  __pwned?: number;
}

const DAY = "2025-06-03T";
const iso = (clock: string) => `${DAY}${clock}Z`;
const ev = (clock: string, kind: TimelineEvent["kind"], label: string): TimelineEvent => ({
  at: iso(clock),
  kind,
  label,
});
const tables = (rows: Array<[string, number]>) => ({
  ok: true,
  tables: rows.map(([table, n], i) => ({
    table,
    expectedRows: n,
    actualRows: n,
    expectedChecksum: `9f2c4e${i}a17b`,
    actualChecksum: `9f2c4e${i}a17b`,
    ok: true,
  })),
});
const OBJ = { rto: 1800, rpo: 300 };

const scenarios: ScenarioResult[] = [
  {
    id: "accidental-deletion",
    title: "Accidental deletion, recovered by PITR",
    verdict: "PASS",
    reasons: ["recovery_target_time is the commit before the DROP TABLE, read from the workload's log"],
    rto: {
      seconds: 46.6,
      objectiveSeconds: OBJ.rto,
      clock: "from the DROP TABLE until the restored server accepted a write",
    },
    rpo: {
      lostCommits: 0,
      lostSpanSeconds: 0,
      objectiveSeconds: OBJ.rpo,
      recoveryPoint: iso("14:01:34.912"),
      lastAcknowledgedCommit: iso("14:01:34.904"),
    },
    integrity: tables([
      ["orders", 1874],
      ["customers", 200],
      ["order_items", 5622],
    ]),
    workload: { acknowledgedCommits: 1874, firstCommitAt: iso("14:00:00.020"), lastCommitAt: iso("14:01:34.904") },
    timeline: [
      ev("14:00:00.000", "writes-start", "4 writers, one order per commit"),
      ev("14:01:34.912", "recovery-point", "recovery_target_time"),
      ev("14:01:35.000", "disaster", "DROP TABLE orders <script>window.__pwned = 1</script>"),
      ev("14:01:35.000", "writes-end", "writers stop: relation does not exist"),
      ev("14:01:37.400", "recovery-start", "pitr.sh --target 14:01:34.912"),
      ev("14:02:21.600", "service-back", "restored server accepted a write"),
    ],
    steps: [
      { name: "run the workload", seconds: 95.0, ok: true, detail: "1,874 commits acknowledged" },
      { name: "DROP TABLE orders", seconds: 0.1, ok: true },
      { name: "stop PostgreSQL, move the data directory aside", seconds: 2.3, ok: true },
      { name: "restore base backup base_20250603T135800Z", seconds: 11.8, ok: true },
      { name: "replay WAL to the target", seconds: 27.9, ok: true, detail: "14 segments" },
      { name: "promote and accept a write", seconds: 4.4, ok: true },
      { name: "compare tables", seconds: 1.9, ok: true },
    ],
  },
  {
    id: "host-loss",
    title: "Host loss, restored from the off-site copy alone",
    verdict: "PASS",
    reasons: ["the last 212 s of WAL were not yet archived: archive_timeout is 240 s"],
    rto: {
      seconds: 188.3,
      objectiveSeconds: OBJ.rto,
      clock: "from deleting the data directory and local backups until the server rebuilt from MinIO accepted a write",
    },
    rpo: {
      lostCommits: 2301,
      lostSpanSeconds: 212.4,
      objectiveSeconds: OBJ.rpo,
      recoveryPoint: iso("14:06:07.600"),
      lastAcknowledgedCommit: iso("14:09:40.000"),
    },
    integrity: tables([
      ["orders", 3911],
      ["customers", 200],
      ["order_items", 11733],
    ]),
    workload: { acknowledgedCommits: 6212, firstCommitAt: iso("14:03:00.010"), lastCommitAt: iso("14:09:40.000") },
    timeline: [
      ev("14:03:00.000", "writes-start", "4 writers"),
      ev("14:06:07.600", "recovery-point", "end of the last archived WAL segment"),
      ev("14:09:40.050", "disaster", "host lost: data directory, local backups and WAL archive deleted"),
      ev("14:09:40.050", "writes-end", "connection refused"),
      ev("14:09:42.100", "recovery-start", "restore from s3://drkit-offsite/billing"),
      ev("14:12:48.350", "service-back", "server accepted a write"),
    ],
    steps: [
      { name: "run the workload", seconds: 400.0, ok: true },
      { name: "delete the host's data and backups", seconds: 0.4, ok: true },
      { name: "download base backup and WAL from MinIO", seconds: 61.2, ok: true, detail: "412 MB" },
      { name: "restore and replay WAL", seconds: 118.0, ok: true },
      { name: "accept a write", seconds: 1.1, ok: true },
      { name: "compare tables", seconds: 2.6, ok: true },
    ],
  },
  {
    id: "primary-crash",
    title: "Primary crash, failover to the synchronous standby",
    verdict: "PASS",
    reasons: [],
    rto: {
      seconds: 7.9,
      objectiveSeconds: OBJ.rto,
      clock: "from kill -9 of the primary's postmaster until the promoted standby accepted a write",
    },
    rpo: {
      lostCommits: 0,
      lostSpanSeconds: 0,
      objectiveSeconds: OBJ.rpo,
      recoveryPoint: iso("14:15:20.480"),
      lastAcknowledgedCommit: iso("14:15:20.480"),
    },
    integrity: tables([
      ["orders", 2440],
      ["customers", 200],
      ["order_items", 7320],
    ]),
    workload: { acknowledgedCommits: 2440, firstCommitAt: iso("14:14:00.000"), lastCommitAt: iso("14:15:35.000") },
    timeline: [
      ev("14:14:00.000", "writes-start", "4 writers, synchronous_commit = on"),
      ev("14:15:20.480", "recovery-point", "last commit acknowledged by the old primary"),
      ev("14:15:20.500", "disaster", "kill -9 the primary postmaster"),
      ev("14:15:21.600", "recovery-start", "failover replica_a"),
      ev("14:15:28.400", "service-back", "replica_a accepted a write"),
      ev("14:15:28.400", "note", "writers reconnect to replica_a"),
      ev("14:15:35.000", "writes-end", "workload stopped"),
    ],
    steps: [
      { name: "kill -9 the primary", seconds: 0.1, ok: true },
      { name: "promote replica_a", seconds: 6.8, ok: true },
      { name: "accept a write", seconds: 1.0, ok: true },
      { name: "compare tables with the workload's log", seconds: 1.7, ok: true },
    ],
  },
  {
    id: "corrupted-backup",
    title: "Corrupted newest backup, recovery from the previous one",
    verdict: "FAIL",
    reasons: [
      "RTO 34 min 12 s is over the objective 30 min: the previous base backup is 26 h old and replaying its WAL " +
        "took 29 min",
      "verification caught the corrupted backup as intended (pg_verifybackup: checksum mismatch)",
    ],
    rto: {
      seconds: 2052,
      objectiveSeconds: OBJ.rto,
      clock: "from the server stop until the server restored from the previous backup accepted a write",
    },
    rpo: {
      lostCommits: 0,
      lostSpanSeconds: 0,
      objectiveSeconds: OBJ.rpo,
      recoveryPoint: iso("14:20:00.000"),
      lastAcknowledgedCommit: iso("14:19:59.990"),
    },
    integrity: tables([
      ["orders", 5120],
      ["customers", 200],
      ["order_items", 15360],
    ]),
    workload: { acknowledgedCommits: 5120, firstCommitAt: iso("14:17:00.000"), lastCommitAt: iso("14:19:59.990") },
    timeline: [
      ev("14:17:00.000", "writes-start", "4 writers"),
      ev("14:20:00.000", "recovery-point", "end of WAL"),
      ev("14:20:00.000", "writes-end", "workload stopped before the stop"),
      ev("14:20:00.500", "disaster", "server stopped, newest base backup corrupted"),
      ev("14:20:03.000", "note", "verify: base_20250603T140000Z refused"),
      ev("14:20:05.000", "recovery-start", "restore base_20250602T120000Z"),
      ev("14:54:12.500", "service-back", "server accepted a write"),
    ],
    steps: [
      { name: "corrupt the newest base backup", seconds: 0.2, ok: true },
      {
        name: "verify the newest base backup",
        seconds: 2.5,
        ok: true,
        detail: "refused: checksum mismatch in base/16384/16402",
      },
      { name: "restore base_20250602T120000Z", seconds: 290.0, ok: true },
      { name: "replay 26 h of WAL", seconds: 1744.0, ok: false, detail: "1,210 segments; RTO objective exceeded" },
      { name: "accept a write", seconds: 1.2, ok: true },
      { name: "compare tables", seconds: 3.0, ok: true },
    ],
  },
  {
    id: "redis-loss",
    title: "Redis loss, restored from the snapshot",
    verdict: "PASS",
    reasons: ["AOF off for the drill: the snapshot alone bounds the loss"],
    rto: {
      seconds: 3.2,
      objectiveSeconds: OBJ.rto,
      clock: "from FLUSHALL and server stop until redis-server answered PING with the snapshot loaded",
    },
    rpo: {
      lostCommits: 412,
      lostSpanSeconds: 41.0,
      objectiveSeconds: OBJ.rpo,
      recoveryPoint: iso("14:57:19.000"),
      lastAcknowledgedCommit: iso("14:58:00.000"),
    },
    integrity: {
      ok: true,
      tables: [
        {
          table: "keys order:*",
          expectedRows: 3588,
          actualRows: 3588,
          expectedChecksum: "c01d9e",
          actualChecksum: "c01d9e",
          ok: true,
        },
      ],
    },
    workload: { acknowledgedCommits: 4000, firstCommitAt: iso("14:56:00.000"), lastCommitAt: iso("14:58:00.000") },
    timeline: [
      ev("14:56:00.000", "writes-start", "SET order:N, 33 per second"),
      ev("14:57:19.000", "recovery-point", "snapshot dump_20250603T145719Z.rdb"),
      ev("14:58:00.100", "disaster", "FLUSHALL and kill the server"),
      ev("14:58:00.100", "writes-end", "connection refused"),
      ev("14:58:00.400", "recovery-start", "restore dump_20250603T145719Z.rdb"),
      ev("14:58:03.300", "service-back", "PING answered, 3,588 keys"),
    ],
    steps: [
      { name: "FLUSHALL and kill redis-server", seconds: 0.3, ok: true },
      { name: "check the snapshot's sha256 and redis-check-rdb", seconds: 0.6, ok: true },
      { name: "restore and start", seconds: 2.3, ok: true },
    ],
  },
];

const report: DrillReport = {
  stack: "local",
  service: "billing",
  startedAt: iso("13:59:12.000"),
  finishedAt: iso("14:58:09.000"),
  provisionedBy: "pulumi",
  provisionNote: "pulumi up of the local stack through the Automation API",
  objectives: { rpoSeconds: OBJ.rpo, rtoSeconds: OBJ.rto },
  environment: {
    postgres: "15.13 (Debian 15.13-0+deb12u1)",
    redis: "7.0.15",
    minio: "RELEASE.2025-04-22T22-12-26Z",
    host: "local (.sandbox/local)",
  },
  scenarios,
  verdict: overallVerdict(scenarios),
};

describe("the drill's HTML report in headless Chromium", () => {
  let browser: Browser;
  let page: Page;
  let dir: string;
  const problems: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-drill-report-"));
    const { html } = writeReports(report, dir);
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("loads without console errors, page errors or any request but the page itself", async () => {
    expect(problems).toEqual([]);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(/^file:.*report\.html$/);
    expect(await page.locator("script, img, link[rel=stylesheet], iframe, object, embed").count()).toBe(0);
  });

  it("has a title naming the service, the stack and the overall verdict", async () => {
    expect(await page.title()).toBe("drkit drill: billing (local): FAIL");
    expect(await page.locator("header h1 .verdict").textContent()).toBe("FAIL");
  });

  it("shows a label holding <script> as text and never runs it", async () => {
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__pwned)).toBeUndefined();
    const label = page.locator('[data-scenario="accidental-deletion"] svg [data-kind="disaster"] .marker-label');
    expect(await label.textContent()).toContain("DROP TABLE orders <script>");
  });

  it("draws one timeline SVG per scenario, each with the writes band, outage span and the key markers", async () => {
    const svgs = page.locator("section.scenario svg.timeline");
    expect(await svgs.count()).toBe(scenarios.length);
    for (const s of scenarios) {
      const svg = page.locator(`section.scenario[data-scenario="${s.id}"] svg.timeline`);
      for (const kind of ["writes", "disaster", "service-back", "recovery-point"]) {
        expect(await svg.locator(`[data-kind="${kind}"]`).count(), `${s.id} ${kind}`).toBeGreaterThanOrEqual(1);
      }
      const outage = await svg.locator(".band-rto, .band-rto-over").count();
      expect(outage, `${s.id} outage band`).toBe(1);
    }
  });

  it("shades lost writes only where commits were lost", async () => {
    const lost = async (id: string) =>
      page
        .locator(`[data-scenario="${id}"] svg [data-kind="lost"], [data-scenario="${id}"] svg [data-kind="lost-over"]`)
        .count();
    expect(await lost("host-loss")).toBe(1);
    expect(await lost("redis-loss")).toBe(1);
    expect(await lost("primary-crash")).toBe(0);
  });

  it("places markers left to right in the order of their times, and spans between their events", async () => {
    for (const s of scenarios) {
      const marks = await page.locator(`section.scenario[data-scenario="${s.id}"] svg .marker`).evaluateAll((nodes) =>
        nodes.map((n) => ({
          at: Date.parse(n.getAttribute("data-at") ?? ""),
          x: n.querySelector("line")!.getBoundingClientRect().x,
        })),
      );
      expect(marks.length, s.id).toBeGreaterThanOrEqual(3);
      const byTime = [...marks].sort((a, b) => a.at - b.at);
      for (let i = 1; i < byTime.length; i++) {
        const [prev, next] = [byTime[i - 1], byTime[i]];
        if (next.at === prev.at) expect(Math.abs(next.x - prev.x), s.id).toBeLessThan(0.5);
        else expect(next.x, `${s.id}: marker ${i}`).toBeGreaterThan(prev.x);
      }
    }
    const box = async (sel: string) =>
      (await page.locator(`[data-scenario="host-loss"] svg ${sel}`).first().boundingBox())!;
    const [disaster, back, outage] = [
      await box('[data-kind="disaster"] line'),
      await box('[data-kind="service-back"] line'),
      await box(".band-rto"),
    ];
    expect(Math.abs(outage.x - disaster.x)).toBeLessThan(2);
    expect(Math.abs(outage.x + outage.width - back.x)).toBeLessThan(2);
  });

  it("keeps every marker label inside its SVG and apart from the labels on its row", async () => {
    for (const s of scenarios) {
      const boxes = await page.locator(`section.scenario[data-scenario="${s.id}"] svg`).evaluate((svg) => {
        const outer = svg.getBoundingClientRect();
        const labels = [...svg.querySelectorAll(".marker-label")].map((t) => t.getBoundingClientRect());
        return {
          outer: { left: outer.left, right: outer.right },
          labels: labels.map((r) => ({ left: r.left, right: r.right, top: r.top, bottom: r.bottom })),
        };
      });
      for (const l of boxes.labels) {
        expect(l.left, s.id).toBeGreaterThanOrEqual(boxes.outer.left);
        expect(l.right, s.id).toBeLessThanOrEqual(boxes.outer.right);
      }
      for (let i = 0; i < boxes.labels.length; i++) {
        for (let j = i + 1; j < boxes.labels.length; j++) {
          const [a, b] = [boxes.labels[i], boxes.labels[j]];
          const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
          expect(overlap, `${s.id}: labels ${i} and ${j} overlap`).toBe(false);
        }
      }
    }
  });

  it("shows the failed scenario red and the passed ones green", async () => {
    const color = (sel: string, prop: "backgroundColor" | "borderLeftColor") =>
      page
        .locator(sel)
        .first()
        .evaluate((el, p) => (globalThis as unknown as PageGlobals).getComputedStyle(el)[p], prop);
    expect(await color('section[data-scenario="corrupted-backup"] h2 .verdict', "backgroundColor")).toBe(
      "rgb(207, 34, 46)",
    );
    expect(await color('section[data-scenario="corrupted-backup"]', "borderLeftColor")).toBe("rgb(207, 34, 46)");
    expect(await color('section[data-scenario="primary-crash"] h2 .verdict', "backgroundColor")).toBe(
      "rgb(26, 127, 55)",
    );
    const reasons = page.locator('section[data-scenario="corrupted-backup"] .reasons');
    expect(await reasons.locator("li").first().textContent()).toContain("is over the objective 30 min");
  });

  it("fits 1280 px without horizontal scrolling and takes a full-page screenshot", async () => {
    expect(
      await page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.scrollWidth),
    ).toBeLessThanOrEqual(1280);
    const shot = path.join(dir, "report.png");
    await page.screenshot({ path: shot, fullPage: true });
    const png = fs.readFileSync(shot);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(png.readUInt32BE(16)).toBe(1280); // IHDR width
    expect(png.readUInt32BE(20)).toBeGreaterThan(2000); // IHDR height: five scenarios are a long page
    expect(png.length).toBeGreaterThan(100_000);
    // DRKIT_REPORT_EXAMPLE_DIR=docs/example keeps the sample report and its screenshot for a look.
    const keep = process.env.DRKIT_REPORT_EXAMPLE_DIR;
    if (keep) fs.cpSync(dir, keep, { recursive: true });
  });
});
