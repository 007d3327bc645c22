/**
 * Everything that depends on the PostgreSQL major version, decided here and nowhere else.
 */

const OLDEST_SUPPORTED_POSTGRES = 14;
const NEWEST_SUPPORTED_POSTGRES = 18;
const SUPPORTED_POSTGRES_RANGE = `${OLDEST_SUPPORTED_POSTGRES}-${NEWEST_SUPPORTED_POSTGRES}`;
export const SUPPORTED_POSTGRES_VERSIONS: readonly number[] = Array.from(
  { length: NEWEST_SUPPORTED_POSTGRES - OLDEST_SUPPORTED_POSTGRES + 1 },
  (_, i) => OLDEST_SUPPORTED_POSTGRES + i,
);

/** Majors past their end of life, and when it came. */
const END_OF_LIFE: Readonly<Record<number, string>> = {
  13: "November 2025",
  12: "November 2024",
  11: "November 2023",
};

/** Why a major version cannot be used, or undefined when it can. */
export function postgresVersionProblem(version: number): string | undefined {
  if (!Number.isInteger(version)) return "must be a whole number";
  if (version >= OLDEST_SUPPORTED_POSTGRES && version <= NEWEST_SUPPORTED_POSTGRES) return undefined;
  const eol = END_OF_LIFE[version];
  if (eol) {
    return `is past its end of life (${eol}); drkit supports PostgreSQL ${SUPPORTED_POSTGRES_RANGE}`;
  }
  return `must be a PostgreSQL major version drkit supports (${SUPPORTED_POSTGRES_RANGE})`;
}

export interface PostgresFeatures {
  /** `archive_library` exists and wins over `archive_command`, so drkit clears it (15+). */
  readonly archiveLibrary: boolean;
  /** pg_basebackup compresses on the server with zstd (15+). */
  readonly serverZstd: boolean;
  /** pg_basebackup takes `--compress=client-gzip:N` rather than `--gzip --compress=N` (15+). */
  readonly compressSpec: boolean;
  /** pg_dump writes zstd (16+). */
  readonly dumpZstd: boolean;
  /** WAL summaries (`summarize_wal`), `pg_basebackup --incremental` and `pg_combinebackup` (17+). */
  readonly incrementalBackups: boolean;
}

export function postgresFeatures(version: number): PostgresFeatures {
  return {
    archiveLibrary: version >= 15,
    serverZstd: version >= 15,
    compressSpec: version >= 15,
    dumpZstd: version >= 16,
    incrementalBackups: version >= 17,
  };
}
