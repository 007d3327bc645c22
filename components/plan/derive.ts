/**
 * Values derived from the stated objectives, in one place.
 */

import { postgresFeatures } from "./postgresVersion";

/**
 * archive_timeout bounds how long a committed change can sit in an unfinished WAL segment.
 * The copy to the archive takes time too, so leave headroom below the RPO:
 * a fifth of it, at most a minute, at least a second; and at least the off-site lag budget, when WAL is
 * shipped, so archive_timeout plus the shipping lag fits in the RPO.
 */
export function deriveArchiveTimeout(rpoSeconds: number, offsiteLagSeconds = 0): number {
  const headroom = Math.max(offsiteLagSeconds, Math.min(60, Math.ceil(rpoSeconds / 5)));
  return Math.max(1, rpoSeconds - headroom);
}

export type CompressionMethod = "zstd" | "gzip" | "none";

export interface CompressionPlan {
  readonly method: CompressionMethod;
  /** pg_basebackup arguments. */
  readonly baseBackupArgs: readonly string[];
  /** pg_dump arguments (pg_dump gains zstd only in PostgreSQL 16). */
  readonly dumpArgs: readonly string[];
}

export function deriveCompression(requested: "auto" | CompressionMethod, version: number): CompressionPlan {
  const can = postgresFeatures(version);
  const method: CompressionMethod = requested === "auto" ? (can.serverZstd ? "zstd" : "gzip") : requested;
  const baseBackupArgs =
    method === "zstd"
      ? ["--compress=server-zstd:level=1"]
      : method === "gzip"
        ? can.compressSpec
          ? ["--compress=client-gzip:6"]
          : ["--gzip", "--compress=6"]
        : [];
  const dumpArgs =
    method === "zstd" && can.dumpZstd ? ["--compress=zstd:3"] : method === "none" ? ["--compress=0"] : ["--compress=6"];
  return { method, baseBackupArgs, dumpArgs };
}

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function weekdaySet(spec: string): Set<number> | undefined {
  const days = new Set<number>();
  for (const part of spec.toLowerCase().split(",")) {
    const [from, to] = part.split("..").map((d) => WEEKDAYS.indexOf(d.slice(0, 3)));
    if (from < 0 || (to !== undefined && to < 0)) return undefined;
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (to === undefined || d === to) break;
    }
  }
  return days;
}

function maxCyclicGap(points: number[], cycle: number): number {
  const sorted = [...new Set(points)].sort((a, b) => a - b);
  return Math.max(...sorted.map((p, i) => (i + 1 < sorted.length ? sorted[i + 1] - p : sorted[0] + cycle - p)));
}

/**
 * The longest gap between two runs of a systemd calendar, in hours, for the common forms
 * ("daily", "hourly", "weekly", "[Mon..Fri] *-*-* HH[,HH]:MM[:SS]"); undefined for anything else,
 * which policies treat as "cannot tell".
 */
export function calendarMaxIntervalHours(calendar: string): number | undefined {
  const shorthand: Record<string, number> = { hourly: 1, daily: 24, weekly: 168 };
  const text = calendar.trim();
  if (shorthand[text.toLowerCase()] !== undefined) return shorthand[text.toLowerCase()];
  const parts = text.split(/\s+/);
  const [weekdays, date, time] = parts.length === 3 ? parts : parts.length === 2 ? [undefined, ...parts] : [];
  if (date !== "*-*-*" || !time) return undefined;
  const hourSpec = time.split(":")[0];
  let hours: number[];
  if (hourSpec === "*") hours = Array.from({ length: 24 }, (_, h) => h);
  else if (/^\d{1,2}(,\d{1,2})*$/.test(hourSpec)) hours = hourSpec.split(",").map(Number);
  else if (/^\d{1,2}\/\d{1,2}$/.test(hourSpec)) {
    const [start, step] = hourSpec.split("/").map(Number);
    hours = [];
    for (let h = start; h < 24; h += step) hours.push(h);
  } else return undefined;
  const hourGap = maxCyclicGap(hours, 24);
  if (weekdays === undefined) return hourGap;
  const days = weekdaySet(weekdays);
  if (!days) return undefined;
  return days.size === 7 ? hourGap : (maxCyclicGap([...days], 7) - 1) * 24 + hourGap;
}

/**
 * synchronous_standby_names for the given standbys: FIRST 1, so the synchronous standby is the first of the list
 * that is connected, and a failover knows which standby holds every acknowledged commit. Names are quoted (pod
 * names hold '-'). The agent's failover writes the same form for the standbys that remain.
 */
export function synchronousStandbyNames(names: readonly string[]): string {
  return names.length ? `FIRST 1 (${names.map((n) => `"${n}"`).join(", ")})` : "";
}
