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

/**
 * synchronous_standby_names for the given standbys: FIRST 1, so the synchronous standby is the first of the list
 * that is connected, and a failover knows which standby holds every acknowledged commit. Names are quoted (pod
 * names hold '-'). The agent's failover writes the same form for the standbys that remain.
 */
export function synchronousStandbyNames(names: readonly string[]): string {
  return names.length ? `FIRST 1 (${names.map((n) => `"${n}"`).join(", ")})` : "";
}
