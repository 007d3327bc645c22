import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox } from "../helpers/sandbox";

const DAY = 86400;
const ROWS_PER_DAY = 10;
const DAYS = 40;
const retention = { dailyDays: 7, weeklyWeeks: 3, longTermMonths: 2, offsiteDays: 30 };

const idOf = (epoch: number) =>
  new Date(epoch * 1000)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
const isoWeek = (epoch: number) => {
  const d = new Date(epoch * 1000);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dayNr = (target.getUTCDay() + 6) % 7;
  target.setUTCDate(target.getUTCDate() - dayNr + 3);
  const year = target.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(year, 0, 4));
  const week =
    1 +
    Math.round(
      ((target.getTime() - firstThursday.getTime()) / 86400000 - 3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7,
    );
  return `${year}-${week}`;
};

/** The retention policy as stated in the README, written independently of the shell implementation. */
function expectedKept(epochs: number[], now: number): Set<number> {
  const kept = new Set<number>();
  const weeks = new Set<string>();
  const months = new Set<number>();
  const nowMonth = new Date(now * 1000).getUTCFullYear() * 12 + new Date(now * 1000).getUTCMonth();
  const newestFirst = [...epochs].sort((a, b) => b - a);
  newestFirst.forEach((epoch, i) => {
    const age = now - epoch;
    const month = new Date(epoch * 1000).getUTCFullYear() * 12 + new Date(epoch * 1000).getUTCMonth();
    const keep =
      i === 0 ||
      age < retention.dailyDays * DAY ||
      (age < retention.weeklyWeeks * 7 * DAY && !weeks.has(isoWeek(epoch))) ||
      (nowMonth - month < retention.longTermMonths && !months.has(month));
    if (keep) {
      kept.add(epoch);
      weeks.add(isoWeek(epoch));
      months.add(month);
    }
  });
  return kept;
}

describe("retention over 40 simulated days keeps every retained backup restorable", () => {
  let sb: Sandbox;
  const simulated: number[] = [];
  const insertedAt: string[] = [];
  const firstDay = Math.floor(Date.UTC(2026, 0, 5, 2, 0, 0) / 1000);

  beforeAll(async () => {
    // each retained backup is verified below, so skip the per-backup manifest check to keep 40 backups quick
    sb = await startSandbox({ label: "retention", service: { retention, verifyAfterBackup: false } });
    sb.sql("CREATE TABLE days (day int, n int, at timestamptz DEFAULT clock_timestamp())");
    for (let day = 0; day < DAYS; day++) {
      sb.sql(`INSERT INTO days (day, n) SELECT ${day}, g FROM generate_series(1, ${ROWS_PER_DAY}) g`);
      // taken after the INSERT's commit, so a target at this time includes that day's rows
      insertedAt.push(
        sb.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"),
      );
      const before = new Set(fs.readdirSync(sb.plan.paths.baseDir));
      const logicalBefore = new Set(fs.readdirSync(sb.plan.paths.logicalDir));
      // The day's base backup and logical dump run side by side, as their timers may (each job has its own lock).
      const [base, logical] = await Promise.all([sb.run("backup-base"), sb.run("backup-logical")]);
      expect(base.status, base.stderr).toBe(0);
      expect(logical.status, logical.stderr).toBe(0);
      const made = fs.readdirSync(sb.plan.paths.baseDir).find((d) => !before.has(d))!;
      const epoch = firstDay + day * DAY;
      fs.renameSync(path.join(sb.plan.paths.baseDir, made), path.join(sb.plan.paths.baseDir, idOf(epoch)));
      simulated.push(epoch);
      for (const f of fs.readdirSync(sb.plan.paths.logicalDir).filter((x) => !logicalBefore.has(x))) {
        fs.renameSync(
          path.join(sb.plan.paths.logicalDir, f),
          path.join(sb.plan.paths.logicalDir, f.replace(/\d{8}T\d{6}Z/, idOf(epoch))),
        );
      }
    }
    // 40 days of backups: allow for a machine shared with other test files.
  }, 600_000);
  afterAll(() => sb?.destroy());

  it("prunes to the daily, weekly and long-term sets and nothing else", async () => {
    const now = firstDay + DAYS * DAY + 3600;
    const walBefore = fs
      .readdirSync(sb.plan.paths.walDir)
      .filter((f) => /^[0-9A-F]{24}$/.test(f))
      .sort();
    const dry = await sb.run("prune", ["--dry-run", "--now", String(now)]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(fs.readdirSync(sb.plan.paths.baseDir)).toHaveLength(DAYS);

    const r = await sb.run("prune", ["--now", String(now)]);
    expect(r.status, r.stderr).toBe(0);
    const expected = [...expectedKept(simulated, now)].sort().map(idOf);
    const kept = fs
      .readdirSync(sb.plan.paths.baseDir)
      .filter((d) => /^\d{8}T\d{6}Z$/.test(d))
      .sort();
    expect(kept).toEqual(expected);
    expect(kept.length).toBeGreaterThan(7);
    expect(kept.length).toBeLessThan(DAYS);
    const logicalIds = new Set(
      fs
        .readdirSync(sb.plan.paths.logicalDir)
        .map((f) => f.match(/\d{8}T\d{6}Z/)?.[0])
        .filter(Boolean),
    );
    expect([...logicalIds].sort()).toEqual(expected);

    const oldestStart = fs
      .readFileSync(path.join(sb.plan.paths.baseDir, kept[0], "drkit-backup.env"), "utf8")
      .match(/^start_wal=(\w+)$/m)![1];
    const walAfter = fs
      .readdirSync(sb.plan.paths.walDir)
      .filter((f) => /^[0-9A-F]{24}$/.test(f))
      .sort();
    expect(walAfter[0]).toBe(oldestStart);
    // the live server may archive another segment meanwhile (archive_timeout); only newer ones may appear
    const newestBefore = walBefore[walBefore.length - 1];
    expect(walAfter.filter((f) => f <= newestBefore)).toEqual(walBefore.filter((f) => f >= oldestStart));
    expect(walAfter.filter((f) => f > newestBefore).length).toBeLessThan(5);
    expect(walAfter.length).toBeLessThan(walBefore.length);
  });

  it("every retained backup still restores, with its WAL chain, into a scratch instance", async () => {
    const kept = fs
      .readdirSync(sb.plan.paths.baseDir)
      .filter((d) => /^\d{8}T\d{6}Z$/.test(d))
      .sort();
    for (const id of kept) {
      const r = await sb.run("verify-backup", ["--backup", id]);
      expect(r.status, `${id}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toContain(`verification of ${id}: PASS`);
    }
  });

  it("recovers to a point after the oldest retained backup", async () => {
    const kept = fs
      .readdirSync(sb.plan.paths.baseDir)
      .filter((d) => /^\d{8}T\d{6}Z$/.test(d))
      .sort();
    const oldestDay = simulated.map(idOf).indexOf(kept[0]);
    const targetDay = oldestDay + 2;
    const r = await sb.run("restore-pitr", ["--force", "--backup", kept[0], "--target-time", insertedAt[targetDay]]);
    expect(r.status, r.stderr).toBe(0);
    expect(sb.sql("SELECT max(day) FROM days")).toBe(String(targetDay));
    expect(sb.sql("SELECT count(*) FROM days")).toBe(String((targetDay + 1) * ROWS_PER_DAY));
  });
});
