/**
 * The tools a team would otherwise use for a full base backup, measured beside drkit's on the same database:
 * pgBackRest (Debian's) with zstd level 1 and two processes, and pg_basebackup with client-side gzip (-z), the
 * manual procedure's habit. Neither checks its backup the way drkit's job does; they anchor the ratios.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Sandbox } from "../test/helpers/sandbox";
import { pgClient, pgOwnedDir } from "./db";
import { asUser, directoryMb, mustExec } from "./lib";

/** pg_basebackup as the manual procedure runs it: tar format, gzip on the client at its default level. */
export async function gzipBasebackup(sb: Sandbox, target: string): Promise<number> {
  const args = [
    `--pgdata=${target}`,
    "--format=tar",
    "-z",
    "--wal-method=stream",
    "--checkpoint=fast",
    "--no-password",
  ];
  const [cmd, argv] = pgClient(sb, "pg_basebackup", args);
  return (await mustExec(cmd, argv)).seconds;
}

export interface PgBackRest {
  /** Runs one full backup; the previous one is expired by pgBackRest itself (repo1-retention-full=1). */
  backup(): Promise<number>;
  /** The size of the newest full backup in the repository, in MB. */
  newestBackupMb(): number;
  /** "pgBackRest <version> full backup (<settings>)". */
  readonly description: string;
}

/**
 * A pgBackRest repository and stanza for the sandbox's server, under `root` (owned by the PostgreSQL OS user).
 * The server archives with drkit's archive_command, not `pgbackrest archive-push`, so the backup does not wait
 * for its WAL in pgBackRest's archive (archive-check=n): pgBackRest does a little less than drkit here.
 */
export async function pgBackRest(sb: Sandbox, root: string): Promise<PgBackRest> {
  const pg = sb.plan.postgres;
  const dir = pgOwnedDir(path.join(root, "pgbackrest"), pg.osUser);
  for (const sub of ["repo", "log", "lock", "spool"]) pgOwnedDir(path.join(dir, sub), pg.osUser);
  const settings = [
    "compress-type=zst",
    "compress-level=1",
    "process-max=2",
    "start-fast=y",
    "archive-check=n",
    "repo1-retention-full=1",
  ];
  const conf = path.join(dir, "pgbackrest.conf");
  fs.writeFileSync(
    conf,
    [
      "[global]",
      `repo1-path=${dir}/repo`,
      `log-path=${dir}/log`,
      `lock-path=${dir}/lock`,
      `spool-path=${dir}/spool`,
      "log-level-console=warn",
      "log-level-file=off",
      ...settings,
      "",
      "[bench]",
      `pg1-path=${pg.dataDirectory}`,
      `pg1-port=${pg.port}`,
      `pg1-socket-path=${pg.socketDirectory}`,
      `pg1-user=${pg.role}`,
      "",
    ].join("\n"),
  );
  fs.chmodSync(conf, 0o644);
  const [cmd, ...prefix] = asUser(pg.osUser);
  const run = (...args: string[]) =>
    mustExec(cmd, [...prefix, "pgbackrest", `--config=${conf}`, "--stanza=bench", ...args]);
  await run("stanza-create");
  const backups = path.join(dir, "repo", "backup", "bench");
  const version = /pgBackRest (\S+)/.exec(spawnSync("pgbackrest", ["version"], { encoding: "utf8" }).stdout)?.[1];
  return {
    description: `pgBackRest ${version ?? "?"} full backup (${settings.join(", ")})`,
    backup: async () => (await run("--type=full", "backup")).seconds,
    newestBackupMb: () => {
      const newest = fs
        .readdirSync(backups)
        .filter((f) => /^\d{8}-\d{6}F$/.test(f))
        .sort()
        .pop();
      return newest ? directoryMb(path.join(backups, newest)) : 0;
    },
  };
}
