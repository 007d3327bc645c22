/**
 * Values derived from the stated objectives, in one place.
 */

/**
 * archive_timeout bounds how long a committed change can sit in an unfinished WAL segment.
 * The copy to the archive takes time too, so leave headroom below the RPO:
 * a fifth of it, at most a minute, at least a second.
 */
export function deriveArchiveTimeout(rpoSeconds: number): number {
  const headroom = Math.min(60, Math.ceil(rpoSeconds / 5));
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
  const method: CompressionMethod = requested === "auto" ? (version >= 15 ? "zstd" : "gzip") : requested;
  const baseBackupArgs =
    method === "zstd"
      ? ["--compress=server-zstd:level=1"]
      : method === "gzip"
        ? version >= 15
          ? ["--compress=client-gzip:6"]
          : ["--gzip", "--compress=6"]
        : [];
  const dumpArgs =
    method === "zstd" && version >= 16 ? ["--compress=zstd:3"] : method === "none" ? ["--compress=0"] : ["--compress=6"];
  return { method, baseBackupArgs, dumpArgs };
}

