import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { lifecycleRules, type LifecycleRule } from "./lifecycle";
import type { S3BackupBucketArgs, S3ReplicationArgs } from "./s3BucketArgs";
import { defaultReplicaBucketName, replicaLifecyclePolicy, validateS3BackupBucketArgs } from "./s3Validation";

export type { S3BackupBucketArgs };

/** The provider's shape of the model's rules. */
function toPulumiLifecycleRules(rules: LifecycleRule[]): aws.types.input.s3.BucketLifecycleConfigurationRule[] {
  return rules.map((r) => ({
    id: r.id,
    status: "Enabled",
    filter: { prefix: r.prefix ?? "" },
    ...(r.expirationDays !== undefined ? { expiration: { days: r.expirationDays } } : {}),
    ...(r.expiredObjectDeleteMarker ? { expiration: { expiredObjectDeleteMarker: true } } : {}),
    ...(r.transitions.length
      ? { transitions: r.transitions.map((t) => ({ days: t.days, storageClass: t.storageClass })) }
      : {}),
    ...(r.noncurrentExpiration
      ? {
          noncurrentVersionExpiration: {
            noncurrentDays: r.noncurrentExpiration.days,
            newerNoncurrentVersions: r.noncurrentExpiration.newerNoncurrentVersions,
          },
        }
      : {}),
    ...(r.abortIncompleteMultipartDays !== undefined
      ? { abortIncompleteMultipartUpload: { daysAfterInitiation: r.abortIncompleteMultipartDays } }
      : {}),
  }));
}

/** A bucket policy that denies every request not made over TLS, to the bucket and its objects. */
function tlsOnlyPolicy(bucketArn: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, pulumi.interpolate`${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  });
}

interface HardenedBucket {
  readonly bucket: aws.s3.Bucket;
  readonly versioning: aws.s3.BucketVersioning;
}

interface HardenedBucketArgs {
  readonly bucketName: string;
  readonly kmsKeyArn?: pulumi.Input<string>;
  readonly objectLock: boolean;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** A bucket with versioning, SSE-KMS with a bucket key, every public access blocked, and a TLS-only policy. */
function hardenedBucket(name: string, args: HardenedBucketArgs, opts: pulumi.CustomResourceOptions): HardenedBucket {
  const bucket = new aws.s3.Bucket(
    `${name}-bucket`,
    { bucket: args.bucketName, objectLockEnabled: args.objectLock, tags: args.tags },
    opts,
  );
  const versioning = new aws.s3.BucketVersioning(
    `${name}-versioning`,
    { bucket: bucket.bucket, versioningConfiguration: { status: "Enabled" } },
    opts,
  );
  new aws.s3.BucketServerSideEncryptionConfiguration(
    `${name}-encryption`,
    {
      bucket: bucket.bucket,
      rules: [
        {
          applyServerSideEncryptionByDefault: {
            sseAlgorithm: "aws:kms",
            ...(args.kmsKeyArn ? { kmsMasterKeyId: args.kmsKeyArn } : {}),
          },
          bucketKeyEnabled: true,
        },
      ],
    },
    opts,
  );
  const publicAccess = new aws.s3.BucketPublicAccessBlock(
    `${name}-public-access`,
    {
      bucket: bucket.bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    opts,
  );
  // S3 answers OperationAborted to a policy written while the public access block is being changed.
  new aws.s3.BucketPolicy(
    `${name}-tls-only`,
    { bucket: bucket.bucket, policy: tlsOnlyPolicy(bucket.arn) },
    { ...opts, dependsOn: [publicAccess] },
  );
  return { bucket, versioning };
}

function bucketLifecycle(
  name: string,
  bucket: aws.s3.Bucket,
  rules: LifecycleRule[],
  opts: pulumi.CustomResourceOptions,
): aws.s3.BucketLifecycleConfiguration {
  return new aws.s3.BucketLifecycleConfiguration(
    name,
    { bucket: bucket.bucket, rules: toPulumiLifecycleRules(rules) },
    opts,
  );
}

interface ReplicationPolicyArgs {
  readonly source: { arn: pulumi.Input<string>; region: string; kmsKeyArn?: pulumi.Input<string> };
  readonly replica: { arn: pulumi.Input<string>; region: string; kmsKeyArn?: pulumi.Input<string> };
  readonly objectLock: boolean;
}

/**
 * KMS use only through S3 in the bucket's region, for that bucket's objects. Without a customer key the
 * bucket uses the AWS-managed aws/s3 key, whose id is not known in advance: then the conditions alone scope it.
 */
function kmsStatement(action: string, bucket: ReplicationPolicyArgs["source"]) {
  return {
    Effect: "Allow",
    Action: [action],
    Resource: bucket.kmsKeyArn ?? "*",
    Condition: {
      StringEquals: { "kms:ViaService": `s3.${bucket.region}.amazonaws.com` },
      // With a bucket key the encryption context is the bucket's ARN, otherwise the object's.
      StringLike: { "kms:EncryptionContext:aws:s3:arn": [bucket.arn, pulumi.interpolate`${bucket.arn}/*`] },
    },
  };
}

/** The replication role's least-privilege policy (AWS's documented set for same-account replication). */
function replicationPolicyDocument(args: ReplicationPolicyArgs): pulumi.Output<string> {
  const { source, replica } = args;
  const readVersions = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"];
  // Replicating locked objects also reads their retention and legal hold.
  const readLocks = args.objectLock ? ["s3:GetObjectRetention", "s3:GetObjectLegalHold"] : [];
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"], Resource: [source.arn] },
      { Effect: "Allow", Action: [...readVersions, ...readLocks], Resource: [pulumi.interpolate`${source.arn}/*`] },
      {
        Effect: "Allow",
        Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
        Resource: [pulumi.interpolate`${replica.arn}/*`],
      },
      kmsStatement("kms:Decrypt", source),
      kmsStatement("kms:Encrypt", replica),
    ],
  });
}

const S3_ASSUME_ROLE = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/**
 * A versioned, SSE-KMS encrypted, private, TLS-only S3 bucket for backups, with lifecycle rules derived from
 * the retention of each service's backup sets, optional object lock, and optional cross-region replication
 * to a replica bucket that is hardened the same way and expires its copies on its own schedule.
 */
export class S3BackupBucket extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  readonly replicaBucketName?: pulumi.Output<string>;
  readonly replicaBucketArn?: pulumi.Output<string>;
  readonly replicationRoleArn?: pulumi.Output<string>;

  constructor(name: string, args: S3BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    const errors = validateS3BackupBucketArgs(args);
    if (errors.length)
      throw new Error(`S3BackupBucket ${name}: invalid arguments:\n${errors.map((e) => `  - ${e}`).join("\n")}`);
    super("drkit:objectstore:S3BackupBucket", name, summaryOf(args), opts);

    const sourceProvider = new aws.Provider(`${name}-source-provider`, { region: args.region }, { parent: this });
    const sourceOpts = { parent: this, provider: sourceProvider };
    const lock = args.objectLock;
    const source = hardenedBucket(
      name,
      { bucketName: args.bucketName, kmsKeyArn: args.kmsKeyArn, objectLock: lock !== undefined, tags: args.tags },
      sourceOpts,
    );
    const lockConfig = lock
      ? new aws.s3.BucketObjectLockConfiguration(
          `${name}-object-lock`,
          { bucket: source.bucket.bucket, rule: { defaultRetention: { mode: lock.mode, days: lock.days } } },
          { ...sourceOpts, dependsOn: [source.versioning] },
        )
      : undefined;

    const replication = args.replication
      ? this.replicate(name, args, args.replication, source, sourceProvider)
      : undefined;
    // Last: nothing at the source expires before replication is in place.
    bucketLifecycle(`${name}-lifecycle`, source.bucket, lifecycleRules(args.lifecycle), {
      ...sourceOpts,
      dependsOn: [source.versioning, ...(lockConfig ? [lockConfig] : []), ...(replication ? [replication.config] : [])],
    });

    this.bucketName = source.bucket.bucket;
    this.bucketArn = source.bucket.arn;
    this.replicaBucketName = replication?.replica.bucket;
    this.replicaBucketArn = replication?.replica.arn;
    this.replicationRoleArn = replication?.role.arn;
    this.registerOutputs({
      bucketName: this.bucketName,
      bucketArn: this.bucketArn,
      replicaBucketName: this.replicaBucketName,
      replicaBucketArn: this.replicaBucketArn,
      replicationRoleArn: this.replicationRoleArn,
    });
  }

  private replicate(
    name: string,
    args: S3BackupBucketArgs,
    r: S3ReplicationArgs,
    source: HardenedBucket,
    sourceProvider: aws.Provider,
  ) {
    const replicaProvider = new aws.Provider(`${name}-replica-provider`, { region: r.region }, { parent: this });
    const replicaOpts = { parent: this, provider: replicaProvider };
    const objectLock = args.objectLock !== undefined;
    // S3 replicates objects under object lock only into a bucket with object lock enabled; replicas keep their
    // retention.
    const replica = hardenedBucket(
      `${name}-replica`,
      {
        bucketName: r.bucketName ?? defaultReplicaBucketName(args.bucketName, r.region),
        kmsKeyArn: r.kmsKeyArn,
        objectLock,
        tags: args.tags,
      },
      replicaOpts,
    );
    // S3 does not replicate lifecycle deletions: the replica expires its copies itself.
    bucketLifecycle(
      `${name}-replica-lifecycle`,
      replica.bucket,
      lifecycleRules(replicaLifecyclePolicy(args.lifecycle, r.expireDays)),
      {
        ...replicaOpts,
        dependsOn: [replica.versioning],
      },
    );

    const sourceOpts = { parent: this, provider: sourceProvider };
    const role = new aws.iam.Role(
      `${name}-replication-role`,
      { assumeRolePolicy: S3_ASSUME_ROLE, tags: args.tags },
      sourceOpts,
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-replication-policy`,
      {
        role: role.id,
        policy: replicationPolicyDocument({
          source: { arn: source.bucket.arn, region: args.region, kmsKeyArn: args.kmsKeyArn },
          replica: { arn: replica.bucket.arn, region: r.region, kmsKeyArn: r.kmsKeyArn },
          objectLock,
        }),
      },
      sourceOpts,
    );
    const config = new aws.s3.BucketReplicationConfig(
      `${name}-replication`,
      {
        bucket: source.bucket.bucket,
        role: role.arn,
        rules: [this.replicationRule(r, replica.bucket.arn, replicaProvider)],
      },
      // S3 refuses a replication configuration unless both buckets are already versioned.
      { ...sourceOpts, dependsOn: [source.versioning, replica.versioning, policy] },
    );
    return { replica: replica.bucket, role, config };
  }

  private replicationRule(
    r: S3ReplicationArgs,
    replicaArn: pulumi.Output<string>,
    replicaProvider: aws.Provider,
  ): aws.types.input.s3.BucketReplicationConfigRule {
    const rtc = r.replicationTimeControl === true;
    return {
      id: `backups-to-${r.region}`,
      status: "Enabled",
      priority: 1,
      filter: {},
      deleteMarkerReplication: { status: r.deleteMarkerReplication ? "Enabled" : "Disabled" },
      // The source is always SSE-KMS, and S3 skips SSE-KMS objects unless this is enabled and a replica key is named.
      sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
      destination: {
        bucket: replicaArn,
        ...(r.storageClass ? { storageClass: r.storageClass } : {}),
        encryptionConfiguration: { replicaKmsKeyId: r.kmsKeyArn ?? this.awsManagedKeyAlias(r.region, replicaProvider) },
        ...(rtc
          ? {
              replicationTime: { status: "Enabled", time: { minutes: 15 } },
              metrics: { status: "Enabled", eventThreshold: { minutes: 15 } },
            }
          : {}),
      },
    };
  }

  /** The alias ARN of the AWS-managed S3 key in `region`: arn:<partition>:kms:<region>:<account>:alias/aws/s3. */
  private awsManagedKeyAlias(region: string, provider: aws.Provider): pulumi.Output<string> {
    const identity = aws.getCallerIdentityOutput({}, { parent: this, provider });
    const partition = identity.arn.apply((arn) => arn.split(":")[1]);
    return pulumi.interpolate`arn:${partition}:kms:${region}:${identity.accountId}:alias/aws/s3`;
  }
}

/** What the component shows policies and `pulumi preview`: the settings, never a key. */
function summaryOf(args: S3BackupBucketArgs): pulumi.Inputs {
  return {
    bucketName: args.bucketName,
    region: args.region,
    versioning: true,
    encryption: "aws:kms",
    customerKey: args.kmsKeyArn !== undefined,
    objectLock: args.objectLock ? { mode: args.objectLock.mode, days: args.objectLock.days } : undefined,
    retention: args.lifecycle.services.map((s) => ({ prefix: s.prefix, ...s.days })),
    noncurrentDays: args.lifecycle.noncurrentVersions.days,
    replication: args.replication
      ? { region: args.replication.region, expireDays: args.replication.expireDays }
      : undefined,
  };
}
