import type * as pulumi from "@pulumi/pulumi";
import { deriveArchiveTimeout, deriveCompression, synchronousStandbyNames } from "../plan/derive";
import {
  DEFAULTS,
  defaultImage,
  defaultOffsitePrefix,
  type ContainerResources,
  type PostgresClusterArgs,
} from "./args";
import { OFFSITE } from "./layout";
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
  /** "offsite/<bucket>/<prefix>": where mc puts base/ and wal/. */
  readonly target: string;
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
    target: `${OFFSITE.alias}/${offsite.bucket}/${prefix}`,
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
  return {
    ...core,
    namespace: args.namespace,
    names: clusterNames(args.name),
    image: args.image ?? defaultImage(core.postgresVersion),
    databases: [...args.databases],
    storage: { ...args.storage },
    backupStorage: { ...args.backupStorage, accessMode: args.backupStorage.accessMode ?? DEFAULTS.backupAccessMode },
    schedule: {
      backup: args.schedule?.backup ?? DEFAULTS.backupSchedule,
      verify: args.schedule?.verify ?? DEFAULTS.verifySchedule,
    },
    backupsKept: args.retention?.backups ?? DEFAULTS.backupsKept,
    resources: args.resources ?? DEFAULTS.resources,
    restore: resolveRestore(args.restore),
    ...(args.offsite ? { offsite: resolveOffsite(args.name, args.offsite) } : {}),
    derived: derive(core, args.storage.size),
  };
}
