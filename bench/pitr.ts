/**
 * Benchmark 2: point-in-time restore time against database size. drkit's rendered restore-pitr against
 * the minimal manual procedure (stop, move the data directory aside, extract the base tar, write
 * recovery.signal + restore_command + recovery_target_time, start, wait until promoted), both timed as
 * one process, both restoring the same base backup to the same target with the same archive.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Sandbox } from "../test/helpers/sandbox";
import { databaseMb, DATABASE, pgClient, type SandboxPool, switchAndWaitArchived, waitArchiverIdle } from "./db";
import { interleave, median, mustExec, progress, round, sleep } from "./lib";
import type { ResultRow, Section } from "./results";

export interface PitrOptions {
  readonly scales: readonly number[];
  readonly reps: number;
}

/** Transactions of the pgbench workload between the backup and the target: WAL the restore replays. */
const WORKLOAD = { clients: 2, transactionsPerClient: 1000 };

export interface PitrSetup {
  readonly backupId: string;
  readonly baseTar: string;
  readonly target: string;
  readonly replayMb: number;
  readonly dbMb: number;
  /** The last WAL segment the restore replays (archived before the restores run). */
  readonly lastSegment: string;
}

/** A verified base backup, a pgbench workload after it and a target time between two marker rows. */
export async function prepare(sb: Sandbox): Promise<PitrSetup> {
  sb.sql("SET client_min_messages = warning; DROP TABLE IF EXISTS bench_marker");
  sb.sql("CREATE TABLE bench_marker (id serial PRIMARY KEY, note text NOT NULL)");
  const backup = await mustExec(sb.script("backup-base"), []);
  const backupId = /base backup (\S+) complete/.exec(backup.stderr)?.[1];
  if (!backupId) throw new Error(`backup-base did not report a backup id:\n${backup.stderr}`);
  const backupDir = path.join(sb.plan.paths.baseDir, backupId);
  const baseTar = path.join(
    backupDir,
    fs.readdirSync(backupDir).find((f) => f.startsWith("base.tar"))!,
  );
  const lsnAfterBackup = sb.sql("SELECT pg_current_wal_lsn()");
  const [cmd, args] = pgClient(sb, "pgbench", [
    "-n",
    "-c",
    String(WORKLOAD.clients),
    "-j",
    String(WORKLOAD.clients),
    "-t",
    String(WORKLOAD.transactionsPerClient),
    DATABASE,
  ]);
  await mustExec(cmd, args);
  sb.sql("INSERT INTO bench_marker (note) VALUES ('before')");
  await sleep(1100);
  const target = sb.sql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
  await sleep(1100);
  sb.sql("INSERT INTO bench_marker (note) VALUES ('after')");
  const replayMb = round(
    Number(sb.sql(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsnAfterBackup}')`)) / 2 ** 20,
    1,
  );
  const lastSegment = await switchAndWaitArchived(sb);
  return { backupId, baseTar, target, replayMb, dbMb: databaseMb(sb), lastSegment };
}

const decompressor = (tar: string) =>
  tar.endsWith(".zst") ? "zstd -q -d -c" : tar.endsWith(".gz") ? "gzip -d -c" : "cat";
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Where the manual procedure takes the base tar and the WAL from, and what it runs first to get them there. */
export interface ManualSource {
  readonly baseTar: string;
  readonly walDir: string;
  /** Bash lines run once the server is stopped and its data directory moved aside (a download, say). */
  readonly fetch?: string;
}

/** The minimal manual procedure, as an operator would type it, as one bash script. */
export function manualRestoreScript(
  sb: Sandbox,
  setup: PitrSetup,
  aside: string,
  source: ManualSource = { baseTar: setup.baseTar, walDir: sb.plan.paths.walDir },
): string {
  const pg = sb.plan.postgres;
  if (pg.manager.type !== "pg_ctl") throw new Error("the manual PITR baseline needs a pg_ctl-managed sandbox");
  const u = pg.osUser;
  return `#!/usr/bin/env bash
# Minimal manual point-in-time restore: the baseline for drkit's restore-pitr.
set -euo pipefail
export PGHOST=${q(pg.socketDirectory)} PGPORT=${pg.port} PGUSER=${q(pg.role)} PGDATABASE=postgres
PGDATA=${q(pg.dataDirectory)}
BIN=${q(pg.binDirectory)}
runuser -u ${u} -- "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
mv -T -- "$PGDATA" ${q(aside)}
${source.fetch ?? ""}
install -d -m 0700 -o ${u} -g "$(id -gn ${u})" -- "$PGDATA"
${decompressor(source.baseTar)} ${q(source.baseTar)} | tar -xf - -C "$PGDATA"
mkdir -p -- "$PGDATA/pg_wal"
cat >>"$PGDATA/postgresql.auto.conf" <<'EOF'
restore_command = 'cp ${source.walDir}/%f %p'
recovery_target_time = '${setup.target}'
recovery_target_action = 'promote'
EOF
touch -- "$PGDATA/recovery.signal"
chown -R ${u}:"$(id -gn ${u})" -- "$PGDATA"
runuser -u ${u} -- "$BIN/pg_ctl" -D "$PGDATA" -l ${q(pg.manager.logFile)} -W start >/dev/null
deadline=$((SECONDS + ${sb.plan.rtoSeconds}))
until [[ $(runuser -u ${u} -- "$BIN/psql" -XAtq -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]]; do
  (( SECONDS < deadline )) || { echo "recovery did not end in time" >&2; exit 1; }
  sleep 0.1
done
`;
}

/** drkit's restore-pitr of the setup's backup to its target (with `extra` arguments); its seconds. */
export const timedRestorePitr = async (sb: Sandbox, setup: PitrSetup, extra: string[] = []) =>
  (
    await mustExec(sb.script("restore-pitr"), [
      ...extra,
      "--force",
      "--target-time",
      setup.target,
      "--backup",
      setup.backupId,
    ])
  ).seconds;

/** Both procedures must end promoted with exactly the rows committed before the target. */
export function checkRestored(sb: Sandbox, who: string): void {
  const rows = sb.sql("SELECT string_agg(note, ',' ORDER BY id) FROM bench_marker");
  const recovering = sb.sql("SELECT pg_is_in_recovery()");
  if (rows !== "before" || recovering !== "f")
    throw new Error(`${who} restored the wrong state: rows '${rows}', in recovery ${recovering}`);
}

/** WAL archive files a restore added: other timelines, their history files and the old timeline's .partial. */
export const fromARestore = (name: string) =>
  /\.history$|\.partial$/.test(name) || (/^[0-9A-F]{24}/.test(name) && !name.startsWith("00000001"));

/**
 * Puts the archive and the disk back as they were before the restore, so every run replays the same
 * WAL on timeline 1 and promotes to timeline 2 (otherwise the next run would follow the newest timeline).
 */
async function resetAfterRestore(sb: Sandbox): Promise<void> {
  await waitArchiverIdle(sb, 120_000);
  for (const f of fs.readdirSync(sb.plan.paths.walDir).filter(fromARestore))
    fs.rmSync(path.join(sb.plan.paths.walDir, f));
  const parent = path.dirname(sb.plan.postgres.dataDirectory);
  const base = path.basename(sb.plan.postgres.dataDirectory);
  for (const d of fs
    .readdirSync(parent)
    .filter((d) => d.startsWith(`${base}.before-restore-`) || d === `${base}.manual-aside`)) {
    fs.rmSync(path.join(parent, d), { recursive: true, force: true });
  }
}

interface SizeResult {
  readonly scale: number;
  readonly setup: PitrSetup;
  readonly manual: readonly number[];
  readonly drkit: readonly number[];
}

async function benchSize(pool: SandboxPool, scale: number, reps: number): Promise<SizeResult> {
  const sb = await pool.acquire(scale);
  const setup = await prepare(sb);
  progress(
    `PITR scale ${scale}: ${setup.dbMb} MB, backup ${setup.backupId}, ${setup.replayMb} MB of WAL to replay, ` +
      `target ${setup.target}`,
  );
  const scriptFile = path.join(sb.plan.rootPrefix, "bench-manual-pitr");
  fs.writeFileSync(scriptFile, manualRestoreScript(sb, setup, `${sb.plan.postgres.dataDirectory}.manual-aside`), {
    mode: 0o700,
  });
  const samples = await interleave(
    reps,
    [
      {
        name: "manual",
        run: async () => (await mustExec("bash", [scriptFile])).seconds,
        after: async () => {
          checkRestored(sb, "the manual procedure");
          await resetAfterRestore(sb);
        },
      },
      {
        name: "drkit restore-pitr",
        run: () => timedRestorePitr(sb, setup),
        after: async () => {
          checkRestored(sb, "restore-pitr");
          await resetAfterRestore(sb);
        },
      },
    ],
    `PITR scale ${scale} (s)`,
  );
  await pool.discard(scale);
  return { scale, setup, manual: samples.get("manual")!, drkit: samples.get("drkit restore-pitr")! };
}

function sizeRow(r: SizeResult): ResultRow {
  const manual = median(r.manual);
  const drkit = median(r.drkit);
  return {
    benchmark: `PITR restore, pgbench scale ${r.scale} (${r.setup.dbMb} MB)`,
    unit: "s",
    baseline: "manual procedure",
    baselineMedian: round(manual),
    drkitMedian: round(drkit),
    ratio: round(drkit / manual),
    notes:
      `extra ${(drkit - manual).toFixed(2)} s; same backup and target, ${r.setup.replayMb} ` +
      `MB of WAL replayed; drkit extracts no WAL tar when the archive holds the backup's WAL, reads ` +
      `recovery.signal and the postmaster's status line every 10 ms and asks the server once both say done, ` +
      `the manual loop asks every 0.1 s; ` +
      `n=${r.manual.length}`,
  };
}

export async function benchPitr(pool: SandboxPool, opts: PitrOptions): Promise<Section> {
  const t0 = Date.now();
  progress(
    `PITR: drkit restore-pitr vs the manual procedure at pgbench scales ${opts.scales.join(", ")}, ${opts.reps} ` +
      `rounds each`,
  );
  const sizes: SizeResult[] = [];
  for (const scale of [...opts.scales].sort((a, b) => a - b)) {
    sizes.push(await benchSize(pool, scale, opts.reps));
    const row = sizeRow(sizes[sizes.length - 1]);
    progress(`PITR scale ${scale}: manual ${row.baselineMedian} s, drkit ${row.drkitMedian} s, ratio ${row.ratio}`);
  }
  return {
    id: "pitr",
    ranAt: new Date(t0).toISOString(),
    seconds: (Date.now() - t0) / 1000,
    options: { ...opts },
    rows: sizes.map(sizeRow),
    details: {
      workload: WORKLOAD,
      sizes: sizes.map((s) => ({
        scale: s.scale,
        ...s.setup,
        manualSeconds: s.manual.map((x) => round(x)),
        drkitSeconds: s.drkit.map((x) => round(x)),
      })),
    },
  };
}
