import {
  CreateBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
  type LifecycleRule,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Registered } from "./mocks";

/**
 * What S3BackupBucket declared (the inputs its resources were registered with, under Pulumi's mocks), sent to
 * an S3 API as the same requests the provider makes for them. Every declared resource type is either sent or
 * named in NOT_SENT with the reason; a type that is neither fails, so a new resource cannot go unchecked.
 */
export const NOT_SENT: Record<string, string> = {
  "drkit:objectstore:S3BackupBucket": "the component itself, not an S3 resource",
  "pulumi:providers:aws": "a provider, not an S3 resource",
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "MinIO has no public access block API",
  "aws:s3/bucketReplicationConfig:BucketReplicationConfig": "replication between AWS regions needs AWS's IAM role",
  "aws:iam/role:Role": "IAM, AWS only",
  "aws:iam/rolePolicy:RolePolicy": "IAM, AWS only",
};

const T = {
  bucket: "aws:s3/bucket:Bucket",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  objectLock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
};

export interface SendOptions {
  /**
   * MinIO names its one KMS key by a plain name, and takes `arn:aws:kms:<name>` for it: a declared key ARN
   * (`arn:aws:kms:<region>:<account>:key/<id>`) is sent as `arn:aws:kms:<id>`, the server's key being named <id>.
   */
  readonly kmsKeyId: (declaredArn: string) => string;
}

/** The requests, in the engine's order (the bucket, then its configuration, lifecycle last). */
export async function sendDeclared(s3: S3Client, declared: readonly Registered[], options: SendOptions) {
  const unknown = declared.filter((r) => !Object.values(T).includes(r.type) && !(r.type in NOT_SENT));
  if (unknown.length) throw new Error(`declared but neither sent nor listed: ${unknown.map((r) => r.type).join(", ")}`);
  const of = (type: string) => declared.filter((r) => r.type === type).map((r) => r.inputs);
  const sent: string[] = [];
  const send = async (label: string, request: () => Promise<unknown>) => {
    await request();
    sent.push(label);
  };

  for (const b of of(T.bucket)) {
    await send(`CreateBucket ${b.bucket}`, () =>
      s3.send(new CreateBucketCommand({ Bucket: b.bucket, ObjectLockEnabledForBucket: b.objectLockEnabled === true })),
    );
    const tags = Object.entries((b.tags ?? {}) as Record<string, string>);
    if (tags.length)
      await send(`PutBucketTagging ${b.bucket}`, () =>
        s3.send(
          new PutBucketTaggingCommand({
            Bucket: b.bucket,
            Tagging: { TagSet: tags.map(([Key, Value]) => ({ Key, Value })) },
          }),
        ),
      );
  }
  for (const v of of(T.versioning))
    await send(`PutBucketVersioning ${v.bucket}`, () =>
      s3.send(
        new PutBucketVersioningCommand({
          Bucket: v.bucket,
          VersioningConfiguration: { Status: v.versioningConfiguration.status },
        }),
      ),
    );
  for (const e of of(T.encryption))
    await send(`PutBucketEncryption ${e.bucket}`, () =>
      s3.send(
        new PutBucketEncryptionCommand({
          Bucket: e.bucket,
          ServerSideEncryptionConfiguration: {
            Rules: (e.rules as any[]).map((r) => ({
              ApplyServerSideEncryptionByDefault: {
                SSEAlgorithm: r.applyServerSideEncryptionByDefault.sseAlgorithm,
                ...(r.applyServerSideEncryptionByDefault.kmsMasterKeyId
                  ? { KMSMasterKeyID: options.kmsKeyId(r.applyServerSideEncryptionByDefault.kmsMasterKeyId) }
                  : {}),
              },
              BucketKeyEnabled: r.bucketKeyEnabled,
            })),
          },
        }),
      ),
    );
  for (const p of of(T.policy))
    await send(`PutBucketPolicy ${p.bucket}`, () =>
      s3.send(new PutBucketPolicyCommand({ Bucket: p.bucket, Policy: p.policy })),
    );
  for (const l of of(T.objectLock))
    await send(`PutObjectLockConfiguration ${l.bucket}`, () =>
      s3.send(
        new PutObjectLockConfigurationCommand({
          Bucket: l.bucket,
          ObjectLockConfiguration: {
            ObjectLockEnabled: "Enabled",
            Rule: { DefaultRetention: { Mode: l.rule.defaultRetention.mode, Days: l.rule.defaultRetention.days } },
          },
        }),
      ),
    );
  for (const l of of(T.lifecycle))
    await send(`PutBucketLifecycleConfiguration ${l.bucket}`, () =>
      s3.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: l.bucket,
          LifecycleConfiguration: { Rules: (l.rules as any[]).map(toSdkLifecycleRule) },
        }),
      ),
    );
  return sent;
}

function toSdkLifecycleRule(r: any): LifecycleRule {
  return {
    ID: r.id,
    Status: r.status,
    Filter: { Prefix: r.filter.prefix },
    ...(r.expiration
      ? {
          Expiration: r.expiration.expiredObjectDeleteMarker
            ? { ExpiredObjectDeleteMarker: true }
            : { Days: r.expiration.days },
        }
      : {}),
    ...(r.transitions
      ? { Transitions: r.transitions.map((t: any) => ({ Days: t.days, StorageClass: t.storageClass })) }
      : {}),
    ...(r.noncurrentVersionExpiration
      ? {
          NoncurrentVersionExpiration: {
            NoncurrentDays: r.noncurrentVersionExpiration.noncurrentDays,
            NewerNoncurrentVersions: r.noncurrentVersionExpiration.newerNoncurrentVersions,
          },
        }
      : {}),
    ...(r.abortIncompleteMultipartUpload
      ? {
          AbortIncompleteMultipartUpload: {
            DaysAfterInitiation: r.abortIncompleteMultipartUpload.daysAfterInitiation,
          },
        }
      : {}),
  };
}
