/**
 * drkit as a Pulumi component package, for programs in any Pulumi language (YAML, Python, Go, .NET, Java).
 * The CLI runs this folder as a plugin (PulumiPlugin.yaml); @pulumi/pulumi serves the component classes
 * exported here and infers their schema from the args interfaces below, which therefore hold only plain,
 * serializable types. Each class takes one service's settings in those terms, validates them with the stack
 * config's own rules (buildPlan) and constructs drkit's component as its child.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../components/plan/errors";
import { buildPlan } from "../components/plan/plan";
import { PostgresBackup as PostgresBackupComponent } from "../components/postgres/postgresBackup";

/** One PostgreSQL service on the machine that runs `pulumi up` (a local host), or on a sandbox under it. */
export interface PostgresBackupArgs {
  /** The service's name: its directories, units and scripts are named after it. */
  service: string;
  /** The databases to back up. */
  databases: string[];
  /** The recovery point objective, a duration such as "5m". */
  rpo: string;
  /** The recovery time objective, a duration such as "30m" (default 30m). */
  rto?: string;
  /** The PostgreSQL major version, 14 to 18 (default 15). */
  postgresVersion?: number;
  /** The server's port (default 5432). */
  port?: number;
  /** A sandbox: every host path of the service lives under this absolute directory. */
  rootPrefix?: string;
  /** Sandbox only: drkit creates and starts the server itself, with pg_ctl. */
  provision?: boolean;
  /** PostgreSQL 17+: incremental base backups between full ones, a full one at least this often ("7d"). */
  incrementalFullEvery?: string;
}

/** drkit's PostgresBackup: backup directories, the agent, WAL archiving from the RPO, backup jobs on timers. */
export class PostgresBackup extends pulumi.ComponentResource {
  /** The service's backup root on the host. */
  public readonly backupRoot: pulumi.Output<string>;
  /** Where archived WAL goes. */
  public readonly walDirectory: pulumi.Output<string>;
  /** archive_timeout, derived from the RPO. */
  public readonly archiveTimeoutSeconds: pulumi.Output<number>;
  /** The systemd timers of the service's jobs. */
  public readonly timers: pulumi.Output<string[]>;
  /** The point-in-time restore script on the host. */
  public readonly restorePitrScript: pulumi.Output<string>;

  constructor(name: string, args: PostgresBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:index:PostgresBackup", name, {}, opts);
    const backup = new PostgresBackupComponent(name, { plan: servicePlan(name, args) }, { parent: this });
    this.backupRoot = backup.backupRoot;
    this.walDirectory = backup.walDirectory;
    this.archiveTimeoutSeconds = backup.archiveTimeoutSeconds;
    this.timers = backup.timers;
    this.restorePitrScript = backup.restorePitrScript;
    this.registerOutputs({
      backupRoot: this.backupRoot,
      walDirectory: this.walDirectory,
      archiveTimeoutSeconds: this.archiveTimeoutSeconds,
      timers: this.timers,
      restorePitrScript: this.restorePitrScript,
    });
  }
}

/** The args as a one-service stack config, validated by its rules; a problem names the component and the field. */
function servicePlan(name: string, args: PostgresBackupArgs) {
  const host = "local";
  const config = {
    hosts: { [host]: { connection: { type: "local", ...(args.rootPrefix && { rootPrefix: args.rootPrefix }) } } },
    services: {
      [args.service]: {
        host,
        rpo: args.rpo,
        ...(args.rto && { rto: args.rto }),
        ...(args.incrementalFullEvery && { incremental: { fullEvery: args.incrementalFullEvery } }),
        postgres: {
          databases: args.databases,
          ...(args.postgresVersion !== undefined && { version: args.postgresVersion }),
          ...(args.port !== undefined && { port: args.port }),
          ...(args.provision && { provision: true, manager: { type: "pg_ctl" } }),
        },
      },
    },
  };
  try {
    return buildPlan(config, { baseDir: process.cwd() }).services[0];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // The rules speak of stack config fields; say which component the value came from.
    throw new Error(`drkit:PostgresBackup "${name}": ${error.problems.join("; ")}`);
  }
}
