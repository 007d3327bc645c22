import type * as pulumi from "@pulumi/pulumi";
import { deriveArchiveTimeout, deriveCompression, synchronousStandbyNames } from "../plan/derive";
import { collectIntervalSeconds, deriveThresholds, type AlertThresholds } from "../plan/monitoring";
import { cronMaxIntervalHours } from "./cron";
import {
  DEFAULTS,
  defaultImage,
  defaultOffsitePrefix,
  type ContainerResources,
  type PostgresClusterArgs,
} from "./args";
import { LAYOUT, OFFSITE } from "./layout";
import { MIB, parseQuantity } from "./formats";
import { clusterNames, standbyPodName, type ClusterNames } from "./names";
import { ClusterArgsError, clusterArgProblems } from "./validation";

export interface ResolvedRestore {
  readonly fromBackup: string;
  /** recovery_target_time as PostgreSQL reads it, in UTC; absent: recover to the end of the archive. */
  readonly targetTime?: string;
  readonly targetEpoch?: number;
  /** Identifies the request: the restore job does nothing when the volume was already restored for it. */
  readonly requestId: string;
}

/** Off-site shipping without its keys, which never enter the spec (they go from the arguments to a Secret). */
export interface ResolvedOffsite {
  readonly endpoint: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly mcImage: string;
  readonly caCertificate?: string;
  /** "offsite/<bucket>/<prefix>": where mc puts base/ and wal/. */
  readonly target: string;
}

/** Metrics on the backup volume, served by a node_exporter beside the primary; alerts from the objectives. */
export interface ResolvedMonitoring {
  readonly exporterImage: string;
  readonly prometheusRule: boolean;
  readonly metricsDir: string;
  readonly collectIntervalSeconds: number;
  readonly runbookBaseUrl: string;
  readonly thresholds: AlertThresholds;
}

/** The cluster with defaults applied and every setting derived: what the builders read. */
export interface ClusterSpec {
  readonly name: string;
  readonly namespace: string;
  readonly names: ClusterNames;
  readonly image: pulumi.Input<string>;
  readonly postgresVersion: number;
  readonly databases: readonly string[];
  readonly rpoSeconds: number;
  readonly rtoSeconds: number;
  readonly standbys: number;
  readonly synchronous: boolean;
  readonly awaitReady: boolean;
  readonly storage: { readonly size: string; readonly storageClassName?: pulumi.Input<string> };
  readonly backupStorage: {
    readonly size: string;
    readonly storageClassName?: pulumi.Input<string>;
    readonly accessMode: "ReadWriteOnce" | "ReadWriteMany";
  };
  readonly schedule: { readonly backup: string; readonly verify: string };
  readonly backupsKept: number;
  readonly resources: ContainerResources;
  readonly restore?: ResolvedRestore;
  readonly offsite?: ResolvedOffsite;
  readonly monitoring?: ResolvedMonitoring;
  /** With replicationTls: the CA and the primary's certificate (PEM); the key goes to the Secret only. */
  readonly replicationTls?: { readonly ca: string; readonly certificate: string };
  readonly derived: DerivedSettings;
}

export interface DerivedSettings {
  readonly archiveTimeoutSeconds: number;
  readonly maxWalSenders: number;
  readonly maxReplicationSlots: number;
  readonly maxSlotWalKeepSizeMb: number;
  readonly synchronousStandbyNames: string;
  readonly slots: readonly string[];
  readonly baseBackupArgs: readonly string[];
  /** How long a server may take to start (crash recovery, catching up) before the kubelet restarts it. */
  readonly serverStartSeconds: number;
}

type Objectives = Pick<
  ClusterSpec,
  "name" | "postgresVersion" | "rpoSeconds" | "rtoSeconds" | "standbys" | "synchronous"
>;

function derive(args: Objectives, storageSize: string): DerivedSettings {
  const names = clusterNames(args.name);
  const pods = Array.from({ length: args.standbys }, (_, i) => standbyPodName(args.name, i));
  return {
    archiveTimeoutSeconds: deriveArchiveTimeout(args.rpoSeconds),
    // Two senders for a base backup streaming its WAL, two to spare; slots for the standbys plus two.
    maxWalSenders: args.standbys + 4,
    maxReplicationSlots: args.standbys + 2,
    // A dead standby's slot may pin at most a quarter of the primary's volume before it is invalidated.
    maxSlotWalKeepSizeMb: Math.floor(parseQuantity(storageSize)! / 4 / MIB),
    synchronousStandbyNames: synchronousStandbyNames(args.synchronous ? pods : []),
    slots: pods.map((_, i) => `${names.slotPrefix}${i}`),
    baseBackupArgs: deriveCompression("auto", args.postgresVersion).baseBackupArgs,
    // Never below ten minutes: restarting a server in crash recovery only makes recovery longer.
    serverStartSeconds: Math.max(600, args.rtoSeconds),
  };
}

function resolveRestore(restore: PostgresClusterArgs["restore"]): ResolvedRestore | undefined {
  if (!restore) return undefined;
  if (restore.targetTime === undefined)
    return { fromBackup: restore.fromBackup, requestId: `${restore.fromBackup}@end-of-archive` };
  const ms = Date.parse(restore.targetTime);
  const utc = new Date(ms).toISOString(); // 2024-01-15T14:30:00.000Z
  const targetTime = `${utc.slice(0, 10)} ${utc.slice(11, 23)}+00`;
  return {
    fromBackup: restore.fromBackup,
    targetTime,
    targetEpoch: Math.floor(ms / 1000),
    requestId: `${restore.fromBackup}@${utc}`,
  };
}

function resolveOffsite(name: string, offsite: PostgresClusterArgs["offsite"]): ResolvedOffsite | undefined {
  if (!offsite) return undefined;
  const prefix = offsite.prefix ?? defaultOffsitePrefix(name);
  return {
    endpoint: offsite.endpoint,
    bucket: offsite.bucket,
    prefix,
    mcImage: offsite.mcImage ?? DEFAULTS.mcImage,
    ...(offsite.caCertificate ? { caCertificate: offsite.caCertificate.trim() + "\n" } : {}),
    target: `${OFFSITE.alias}/${offsite.bucket}/${prefix}`,
  };
}

/**
 * The thresholds from the objectives and the CronJob schedules; local retention keeps the newest N base backups,
 * so the recovery window it promises is N backup intervals.
 */
function resolveMonitoring(
  args: PostgresClusterArgs,
  schedule: ClusterSpec["schedule"],
  backupsKept: number,
): ResolvedMonitoring | undefined {
  const m = args.monitoring;
  if (!m) return undefined;
  const base = cronMaxIntervalHours(schedule.backup);
  return {
    exporterImage: m.exporterImage ?? DEFAULTS.exporterImage,
    prometheusRule: m.prometheusRule ?? true,
    metricsDir: `${LAYOUT.backupRoot}/metrics`,
    collectIntervalSeconds: collectIntervalSeconds(args.rpoSeconds),
    runbookBaseUrl: m.runbookBaseUrl ?? "docs/alerts.md",
    thresholds: deriveThresholds({
      rpoSeconds: args.rpoSeconds,
      intervalHours: { base, verify: cronMaxIntervalHours(schedule.verify) },
      randomizedDelaySeconds: 0,
      retentionSeconds: backupsKept * (base ?? 24) * 3600,
      sizeChangeRatio: m.sizeChangeRatio ?? 0.5,
      replicationLagBytes: m.replicationLagBytes ?? 256 * 1024 ** 2,
    }),
  };
}

/** Validates the arguments (throwing every problem at once) and derives the cluster's settings. */
export function resolveCluster(args: PostgresClusterArgs): ClusterSpec {
  const problems = clusterArgProblems(args);
  if (problems.length > 0) throw new ClusterArgsError(typeof args.name === "string" ? args.name : "?", problems);
  const core: Objectives = {
    name: args.name,
    postgresVersion: args.postgresVersion ?? DEFAULTS.postgresVersion,
    rpoSeconds: args.rpoSeconds,
    rtoSeconds: args.rtoSeconds ?? DEFAULTS.rtoSeconds,
    standbys: args.standbys ?? DEFAULTS.standbys,
    synchronous: args.synchronous ?? DEFAULTS.synchronous,
  };
  const schedule = {
    backup: args.schedule?.backup ?? DEFAULTS.backupSchedule,
    verify: args.schedule?.verify ?? DEFAULTS.verifySchedule,
  };
  const backupsKept = args.retention?.backups ?? DEFAULTS.backupsKept;
  const monitoring = resolveMonitoring(args, schedule, backupsKept);
  return {
    ...core,
    namespace: args.namespace,
    names: clusterNames(args.name),
    image: args.image ?? defaultImage(core.postgresVersion),
    awaitReady: args.awaitReady ?? DEFAULTS.awaitReady,
    databases: [...args.databases],
    storage: { ...args.storage },
    backupStorage: { ...args.backupStorage, accessMode: args.backupStorage.accessMode ?? DEFAULTS.backupAccessMode },
    schedule,
    backupsKept,
    resources: args.resources ?? DEFAULTS.resources,
    restore: resolveRestore(args.restore),
    ...(args.offsite ? { offsite: resolveOffsite(args.name, args.offsite) } : {}),
    ...(monitoring ? { monitoring } : {}),
    ...(args.replicationTls
      ? {
          replicationTls: {
            ca: args.replicationTls.ca.trim() + "\n",
            certificate: args.replicationTls.certificate.trim() + "\n",
          },
        }
      : {}),
    derived: derive(core, args.storage.size),
  };
}
