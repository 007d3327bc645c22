import * as pulumi from "@pulumi/pulumi";
import { agentPath, serviceArtifacts } from "../artifacts/hostArtifacts";
import { BackupDirectories } from "../host/backupDirectories";
import { ServiceMonitoring } from "../monitoring/serviceMonitoring";
import { HostAgent } from "../host/hostAgent";
import { hostCommand, type HostRef } from "../host/hostCommand";
import { hostFile } from "../host/hostFile";
import type { ServicePlan } from "../plan/plan";
import type { StoreKeys } from "../objectstore/minio";
import { OffsiteShipping } from "../objectstore/offsiteShipping";
import { ReplicationPrimary, Standby } from "./replication";
import { SandboxPostgres } from "./sandboxPostgres";
import { TimerJob } from "./timerJob";
import { WalArchiving } from "./walArchiving";

export interface PostgresBackupArgs {
  /** The validated plan of one service (from buildPlan). */
  readonly plan: ServicePlan;
  /** SSH private key for the service's host, when it is not in the plan (kept secret). */
  readonly privateKey?: pulumi.Input<string>;
  /** For a service with an offsite section: every target store's keys, and the resources that make the stores. */
  readonly offsite?: {
    readonly keys: Readonly<Record<string, StoreKeys>>;
    readonly stores: pulumi.Input<pulumi.Resource>[];
  };
}

/**
 * Everything host-side for one PostgreSQL service: backup directories, the agent and its settings, WAL archiving
 * derived from the RPO, base/logical/verify/config jobs on systemd timers with retention, and replication.
 */
export class PostgresBackup extends pulumi.ComponentResource {
  readonly backupRoot: pulumi.Output<string>;
  readonly walDirectory: pulumi.Output<string>;
  readonly archiveTimeoutSeconds: pulumi.Output<number>;
  readonly timers: pulumi.Output<string[]>;
  readonly restorePitrScript: pulumi.Output<string>;
  readonly restoreLogicalScript: pulumi.Output<string>;

  constructor(name: string, args: PostgresBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { plan } = args;
    // These props are what the policy pack sees of this resource (nothing secret goes here).
    super(
      "drkit:postgres:PostgresBackup",
      name,
      {
        service: plan.name,
        host: plan.host.name,
        rpoSeconds: plan.rpoSeconds,
        rtoSeconds: plan.rtoSeconds,
        retention: { ...plan.retention },
        baseBackupMaxIntervalHours: plan.baseBackupMaxIntervalHours,
        verifyScheduled: plan.jobs.some((j) => j.id === "verify" && j.calendar !== undefined),
        synchronousStandbys: plan.replication?.standbys.filter((s) => s.synchronous).length ?? 0,
        offsiteTargets: plan.offsite?.targets.map((t) => t.store) ?? [],
        offsiteEncryptionRecipients: plan.offsite?.encryption?.recipients.length ?? 0,
        monitoring: plan.monitoring !== undefined,
      },
      opts,
    );
    if (args.privateKey !== undefined && plan.host.connection.type !== "ssh") {
      throw new Error(
        `PostgresBackup ${name}: privateKey is only for SSH hosts; host "${plan.host.name}" ` +
          `is ${plan.host.connection.type}`,
      );
    }
    if (plan.jobs.length === 0) throw new Error(`PostgresBackup ${name}: the plan of service ${plan.name} has no jobs`);
    const host: HostRef = { plan: plan.host, privateKey: args.privateKey };

    const artifacts = serviceArtifacts(plan);
    const dirs = new BackupDirectories(
      `${name}-dirs`,
      { host, directories: artifacts.directories() },
      { parent: this },
    );
    const agentFiles = [...artifacts.matching("agent:", "file"), artifacts.file("settings")];
    const agent = new HostAgent(`${name}-agent`, { host, files: agentFiles }, { parent: this, dependsOn: [dirs] });
    // The metrics directory exists before any job that writes to it is enabled.
    const monitoring = plan.monitoring
      ? [new ServiceMonitoring(`${name}-monitoring`, { host, plan }, { parent: this, dependsOn: [agent] })]
      : [];
    const server = plan.postgres.provision
      ? [new SandboxPostgres(`${name}-sandbox`, { host, plan }, { parent: this, dependsOn: [agent] })]
      : [];
    if (plan.offsite && !args.offsite)
      throw new Error(
        `PostgresBackup ${name}: service ${plan.name} ships off-site; give the target stores' keys (args.offsite)`,
      );
    // Off-site first: once archiving is on, archive-wal queues every segment for the shipper.
    const shipping =
      plan.offsite && args.offsite
        ? [
            new OffsiteShipping(
              `${name}-offsite`,
              { host, plan, keys: args.offsite.keys },
              { parent: this, dependsOn: [agent, ...args.offsite.stores] },
            ),
          ]
        : [];
    // The shipper runs before archive_command queues anything for it; the catch-up timer beside it.
    const shipJob = plan.jobs
      .filter((job) => job.id === "offsite" || job.id === "shipper")
      .map(
        (job) =>
          new TimerJob(
            `${name}-${job.id}`,
            { host, plan, job },
            { parent: this, dependsOn: [agent, ...monitoring, ...shipping] },
          ),
      );
    // The archive locations are checked (and claimed on first use) before archive_command points at them: a
    // location holding another cluster's archive stops the deployment here. A new location (another epoch, store,
    // bucket or prefix) is checked again; other settings, such as the RPO, leave the claim alone.
    const claimStep = artifacts.step("step:claim-archive");
    const locations = {
      local: plan.archive.current.root,
      stores: plan.offsite?.targets.map((t) => `${t.endpoint}/${t.bucket}/${t.prefix}`) ?? [],
    };
    const claim = hostCommand(
      `${name}-claim-archive`,
      host,
      { create: claimStep.run, update: claimStep.run, triggers: [JSON.stringify(locations)] },
      { parent: this, dependsOn: [agent, ...server, ...shipping] },
    );
    const archiving = new WalArchiving(
      `${name}-archiving`,
      { host, plan },
      { parent: this, dependsOn: [agent, ...server, ...shipJob, claim] },
    );
    const restore = { pitr: agentPath(plan, "restore-pitr"), logical: agentPath(plan, "restore-logical") };
    if (plan.replication) {
      const primary = new ReplicationPrimary(
        `${name}-replication`,
        { plan, host },
        { parent: this, dependsOn: [archiving] },
      );
      const standbys = plan.replication.standbys.map(
        (standby) =>
          new Standby(
            `${name}-${standby.name.replace(/_/g, "-")}`,
            { plan, standby, host: { plan: standby.host }, pgpass: primary.pgpass, tlsKey: primary.tlsKey },
            { parent: this, dependsOn: [primary] },
          ),
      );
      // Once the standbys run, so that restarting the primary meanwhile never waits for one that is not there.
      if (artifacts.has("step:primary-guard")) {
        const dropIn = hostFile(`${name}-primary-guard-dropin`, host, artifacts.file("unit:primary-guard"), {
          parent: this,
          dependsOn: standbys,
        });
        const guard = artifacts.step("step:primary-guard");
        hostCommand(
          `${name}-primary-guard`,
          host,
          { create: guard.run, delete: guard.undo, triggers: [artifacts.file("unit:primary-guard").content] },
          { parent: this, dependsOn: [dropIn] },
        );
      }
    }
    const jobs = [
      ...shipJob,
      ...plan.jobs
        .filter((job) => job.id !== "redis" && job.id !== "offsite" && job.id !== "shipper")
        .map(
          (job) =>
            new TimerJob(
              `${name}-${job.id}`,
              { host, plan, job },
              { parent: this, dependsOn: [agent, ...monitoring, archiving] },
            ),
        ),
    ];

    this.backupRoot = pulumi.output(plan.paths.backupRoot);
    this.walDirectory = pulumi.output(plan.paths.walDir);
    this.archiveTimeoutSeconds = archiving.archiveTimeoutSeconds;
    this.timers = pulumi
      .all(jobs.map((j) => pulumi.all([j.unit, j.calendar])))
      .apply((units) => units.filter(([, calendar]) => calendar !== undefined).map(([unit]) => `${unit}.timer`));
    this.restorePitrScript = pulumi.output(restore.pitr);
    this.restoreLogicalScript = pulumi.output(restore.logical);
    this.registerOutputs({
      backupRoot: this.backupRoot,
      walDirectory: this.walDirectory,
      archiveTimeoutSeconds: this.archiveTimeoutSeconds,
      timers: this.timers,
      restorePitrScript: this.restorePitrScript,
      restoreLogicalScript: this.restoreLogicalScript,
    });
  }
}
