/**
 * The arguments of S3BackupBucket, apart from the component so that s3Validation.ts can check them
 * without importing s3BackupBucket.ts (which imports the validation): the dependency goes one way.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { LifecyclePolicy } from "./lifecycle";

export const OBJECT_LOCK_MODES = ["GOVERNANCE", "COMPLIANCE"] as const;
export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];

export const REPLICA_STORAGE_CLASSES = [
  "STANDARD",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER",
  "GLACIER_IR",
  "DEEP_ARCHIVE",
] as const;
export type ReplicaStorageClass = (typeof REPLICA_STORAGE_CLASSES)[number];

export interface S3ReplicationArgs {
  /** The replica's region; must differ from the source's. */
  readonly region: string;
  /** Default: `<bucketName>-<region>`. */
  readonly bucketName?: string;
  /** Customer key for the replica (in its region); default: the replica region's AWS-managed key aws/s3. */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Days every backup set is kept in the replica (WAL one day longer). */
  readonly expireDays: number;
  /** Replicate delete markers; default false, so a deletion at the source leaves the replica's copy current. */
  readonly deleteMarkerReplication?: boolean;
  /** S3 Replication Time Control: 15-minute SLA plus replication metrics. */
  readonly replicationTimeControl?: boolean;
  readonly storageClass?: ReplicaStorageClass;
}

export interface S3BackupBucketArgs {
  readonly bucketName: string;
  readonly region: string;
  readonly lifecycle: LifecyclePolicy;
  /** Customer key (in `region`) for SSE-KMS; default: the AWS-managed key aws/s3. */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Object lock with a default retention; can only be turned on when the bucket is created. */
  readonly objectLock?: { readonly mode: ObjectLockMode; readonly days: number };
  readonly replication?: S3ReplicationArgs;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}
