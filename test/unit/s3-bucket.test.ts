import type * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { LifecyclePolicy } from "../../components/objectstore/lifecycle";
import type { S3BackupBucketArgs } from "../../components/objectstore/s3BackupBucket";
import { recordResources } from "../helpers/mocks";

const ACCOUNT = "123456789012";

const mocks = recordResources({
  state: (args) => {
    const state: Record<string, unknown> = { ...args.inputs };
    if (args.type === "aws:s3/bucket:Bucket") state.arn = `arn:aws:s3:::${args.inputs.bucket}`;
    if (args.type === "aws:iam/role:Role") state.arn = `arn:aws:iam::${ACCOUNT}:role/${args.name}`;
    return state;
  },
  call: (args) =>
    args.token === "aws:index/getCallerIdentity:getCallerIdentity"
      ? { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/ci`, userId: "AIDACI", id: ACCOUNT }
      : args.inputs,
});
const { registered, settle } = mocks;

let S3BackupBucket: typeof import("../../components/objectstore/s3BackupBucket").S3BackupBucket;

beforeAll(async () => {
  ({ S3BackupBucket } = await import("../../components/objectstore/s3BackupBucket"));
});

const promiseOf = <T>(output: pulumi.Output<T> | undefined) =>
  new Promise<T>((resolve) => (output ? output.apply(resolve) : resolve(undefined as T)));

const lifecycle: LifecyclePolicy = {
  services: [{ prefix: "billing/", days: { base: 35, logical: 90, wal: 36, config: 90 } }],
  transitions: { infrequentAccessDays: 30, archiveDays: 60, archiveStorageClass: "GLACIER" },
  noncurrentVersions: { days: 30, keep: 3 },
  abortIncompleteMultipartDays: 7,
};
const SOURCE_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1111-2222`;
const REPLICA_KEY = `arn:aws:kms:us-west-2:${ACCOUNT}:key/3333-4444`;

const fullArgs: S3BackupBucketArgs = {
  bucketName: "acme-billing-backups",
  region: "us-east-1",
  lifecycle,
  kmsKeyArn: SOURCE_KEY,
  objectLock: { mode: "GOVERNANCE", days: 7 },
  replication: {
    region: "us-west-2",
    kmsKeyArn: REPLICA_KEY,
    expireDays: 90,
    deleteMarkerReplication: true,
    replicationTimeControl: true,
    storageClass: "STANDARD_IA",
  },
  tags: { team: "billing" },
};

async function build(name: string, args: S3BackupBucketArgs) {
  const before = registered.length;
  const component = new S3BackupBucket(name, args);
  const outputs = await Promise.all(
    [
      component.bucketName,
      component.bucketArn,
      component.replicaBucketName,
      component.replicaBucketArn,
      component.replicationRoleArn,
    ].map(promiseOf),
  );
  await settle();
  const mine = registered.slice(before);
  const one = (resourceName: string) => {
    const found = mine.filter((r) => r.name === resourceName);
    expect(found, resourceName).toHaveLength(1);
    return found[0];
  };
  return { component, outputs, mine, one };
}

const T = {
  bucket: "aws:s3/bucket:Bucket",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  objectLock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
  replication: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  provider: "pulumi:providers:aws",
  component: "drkit:objectstore:S3BackupBucket",
};

const hardenedParts = (name: string) => [
  `${name}-bucket`,
  `${name}-versioning`,
  `${name}-encryption`,
  `${name}-public-access`,
  `${name}-tls-only`,
];

describe("S3BackupBucket with object lock and cross-region replication", () => {
  let built: Awaited<ReturnType<typeof build>>;
  beforeAll(async () => {
    built = await build("billing", fullArgs);
  });

  it("registers exactly the expected resources, named after the component", () => {
    const names = built.mine.map((r) => `${r.type} ${r.name}`).sort();
    expect(names).toEqual(
      [
        `${T.component} billing`,
        `${T.provider} billing-source-provider`,
        `${T.provider} billing-replica-provider`,
        `${T.bucket} billing-bucket`,
        `${T.versioning} billing-versioning`,
        `${T.encryption} billing-encryption`,
        `${T.publicAccess} billing-public-access`,
        `${T.policy} billing-tls-only`,
        `${T.objectLock} billing-object-lock`,
        `${T.lifecycle} billing-lifecycle`,
        `${T.bucket} billing-replica-bucket`,
        `${T.versioning} billing-replica-versioning`,
        `${T.encryption} billing-replica-encryption`,
        `${T.publicAccess} billing-replica-public-access`,
        `${T.policy} billing-replica-tls-only`,
        `${T.lifecycle} billing-replica-lifecycle`,
        `${T.role} billing-replication-role`,
        `${T.rolePolicy} billing-replication-policy`,
        `${T.replication} billing-replication`,
      ].sort(),
    );
  });

  it("puts each side in its own region through explicit providers", () => {
    expect(built.one("billing-source-provider").inputs.region).toBe("us-east-1");
    expect(built.one("billing-replica-provider").inputs.region).toBe("us-west-2");
    const onProvider = (p: string) =>
      built.mine
        .filter((r) => r.provider.includes(`::${p}::`))
        .map((r) => r.name)
        .sort();
    expect(onProvider("billing-replica-provider")).toEqual(
      [...hardenedParts("billing-replica"), "billing-replica-lifecycle"].sort(),
    );
    expect(onProvider("billing-source-provider")).toEqual(
      [
        ...hardenedParts("billing"),
        "billing-object-lock",
        "billing-lifecycle",
        "billing-replication-role",
        "billing-replication-policy",
        "billing-replication",
      ].sort(),
    );
  });

  it("names both buckets, enables object lock at creation on both, and tags them", () => {
    expect(built.one("billing-bucket").inputs).toMatchObject({
      bucket: "acme-billing-backups",
      objectLockEnabled: true,
      tags: { team: "billing" },
    });
    expect(built.one("billing-replica-bucket").inputs).toMatchObject({
      bucket: "acme-billing-backups-us-west-2",
      objectLockEnabled: true,
      tags: { team: "billing" },
    });
  });

  it("versions both buckets", () => {
    for (const name of ["billing-versioning", "billing-replica-versioning"])
      expect(built.one(name).inputs.versioningConfiguration).toEqual({ status: "Enabled" });
    expect(built.one("billing-replica-versioning").inputs.bucket).toBe("acme-billing-backups-us-west-2");
  });

  it("encrypts with SSE-KMS under each side's customer key and a bucket key", () => {
    expect(built.one("billing-encryption").inputs).toEqual({
      bucket: "acme-billing-backups",
      rules: [
        {
          applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: SOURCE_KEY },
          bucketKeyEnabled: true,
        },
      ],
    });
    expect(built.one("billing-replica-encryption").inputs.rules).toEqual([
      {
        applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: REPLICA_KEY },
        bucketKeyEnabled: true,
      },
    ]);
  });

  it("blocks every form of public access on both buckets", () => {
    for (const name of ["billing-public-access", "billing-replica-public-access"]) {
      expect(built.one(name).inputs).toMatchObject({
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      });
    }
  });

  it("denies non-TLS requests to each bucket and its objects", () => {
    for (const [name, bucket] of [
      ["billing-tls-only", "acme-billing-backups"],
      ["billing-replica-tls-only", "acme-billing-backups-us-west-2"],
    ]) {
      const r = built.one(name);
      expect(r.inputs.bucket).toBe(bucket);
      expect(JSON.parse(r.inputs.policy)).toEqual({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:*",
            Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
        ],
      });
    }
  });

  it("configures object lock with the default retention", () => {
    expect(built.one("billing-object-lock").inputs).toMatchObject({
      bucket: "acme-billing-backups",
      rule: { defaultRetention: { mode: "GOVERNANCE", days: 7 } },
    });
  });

  it(
    "expires each backup set under its prefix, with transitions, noncurrent versions, aborts and delete " + "markers",
    () => {
      const rules = built.one("billing-lifecycle").inputs.rules as any[];
      expect(rules.map((r) => [r.id, r.filter.prefix, r.expiration?.days])).toEqual([
        ["billing/base/", "billing/base/", 35],
        ["billing/logical/", "billing/logical/", 90],
        ["billing/wal/", "billing/wal/", 36],
        ["billing/config/", "billing/config/", 90],
        ["noncurrent-versions", "", undefined],
        ["expired-delete-markers", "", undefined],
      ]);
      expect(rules.every((r) => r.status === "Enabled")).toBe(true);
      // Base backups expire on day 35: the day-60 archive transition applies only to the longer-lived sets.
      expect(rules[0].transitions).toEqual([{ days: 30, storageClass: "STANDARD_IA" }]);
      expect(rules[1].transitions).toEqual([
        { days: 30, storageClass: "STANDARD_IA" },
        { days: 60, storageClass: "GLACIER" },
      ]);
      expect(rules[4]).toEqual({
        id: "noncurrent-versions",
        status: "Enabled",
        filter: { prefix: "" },
        noncurrentVersionExpiration: { noncurrentDays: 30, newerNoncurrentVersions: 3 },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
      });
      expect(rules[5]).toEqual({
        id: "expired-delete-markers",
        status: "Enabled",
        filter: { prefix: "" },
        expiration: { expiredObjectDeleteMarker: true },
      });
    },
  );

  it("expires the replica's copies on its own schedule, WAL a day later, without transitions", () => {
    const rules = built.one("billing-replica-lifecycle").inputs.rules as any[];
    expect(rules.map((r) => [r.id, r.expiration?.days, r.transitions])).toEqual([
      ["billing/base/", 90, undefined],
      ["billing/logical/", 90, undefined],
      ["billing/wal/", 91, undefined],
      ["billing/config/", 90, undefined],
      ["noncurrent-versions", undefined, undefined],
      ["expired-delete-markers", undefined, undefined],
    ]);
  });

  it("lets only S3 assume the replication role", () => {
    expect(JSON.parse(built.one("billing-replication-role").inputs.assumeRolePolicy)).toEqual({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
  });

  it("grants the replication role exactly the documented actions on exactly the right resources", () => {
    const policy = JSON.parse(built.one("billing-replication-policy").inputs.policy);
    expect(built.one("billing-replication-policy").inputs.role).toBe("billing-replication-role-id");
    const grants = (policy.Statement as any[]).map((s) => ({
      effect: s.Effect,
      actions: s.Action,
      resource: s.Resource,
    }));
    expect(grants).toEqual([
      {
        effect: "Allow",
        actions: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
        resource: ["arn:aws:s3:::acme-billing-backups"],
      },
      {
        effect: "Allow",
        actions: [
          "s3:GetObjectVersionForReplication",
          "s3:GetObjectVersionAcl",
          "s3:GetObjectVersionTagging",
          "s3:GetObjectRetention",
          "s3:GetObjectLegalHold",
        ],
        resource: ["arn:aws:s3:::acme-billing-backups/*"],
      },
      {
        effect: "Allow",
        actions: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
        resource: ["arn:aws:s3:::acme-billing-backups-us-west-2/*"],
      },
      { effect: "Allow", actions: ["kms:Decrypt"], resource: SOURCE_KEY },
      { effect: "Allow", actions: ["kms:Encrypt"], resource: REPLICA_KEY },
    ]);
    expect(policy.Statement[3].Condition).toEqual({
      StringEquals: { "kms:ViaService": "s3.us-east-1.amazonaws.com" },
      StringLike: {
        "kms:EncryptionContext:aws:s3:arn": [
          "arn:aws:s3:::acme-billing-backups",
          "arn:aws:s3:::acme-billing-backups/*",
        ],
      },
    });
    expect(policy.Statement[4].Condition.StringEquals).toEqual({ "kms:ViaService": "s3.us-west-2.amazonaws.com" });
  });

  it("replicates everything to the replica with delete markers, RTC, metrics, KMS and the storage class", () => {
    const r = built.one("billing-replication").inputs;
    expect(r.bucket).toBe("acme-billing-backups");
    expect(r.role).toBe(`arn:aws:iam::${ACCOUNT}:role/billing-replication-role`);
    expect(r.rules).toEqual([
      {
        id: "backups-to-us-west-2",
        status: "Enabled",
        priority: 1,
        filter: {},
        deleteMarkerReplication: { status: "Enabled" },
        sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
        destination: {
          bucket: "arn:aws:s3:::acme-billing-backups-us-west-2",
          storageClass: "STANDARD_IA",
          encryptionConfiguration: { replicaKmsKeyId: REPLICA_KEY },
          replicationTime: { status: "Enabled", time: { minutes: 15 } },
          metrics: { status: "Enabled", eventThreshold: { minutes: 15 } },
        },
      },
    ]);
  });

  it(
    "orders replication after both versionings and the role's policy, and the source lifecycle after " + "replication",
    () => {
      expect(mocks.dependencyNames("billing-replication")).toEqual(
        expect.arrayContaining(["billing-versioning", "billing-replica-versioning", "billing-replication-policy"]),
      );
      expect(mocks.dependencyNames("billing-lifecycle")).toEqual(
        expect.arrayContaining(["billing-replication", "billing-versioning", "billing-object-lock"]),
      );
      expect(mocks.dependencyNames("billing-object-lock")).toContain("billing-versioning");
      expect(mocks.dependencyNames("billing-replica-lifecycle")).toContain("billing-replica-versioning");
      expect(mocks.dependencyNames("billing-tls-only")).toContain("billing-public-access");
      // The control: nothing at the source waits on the lifecycle.
      expect(mocks.dependencyNames("billing-replication")).not.toContain("billing-lifecycle");
    },
  );

  it("exposes both buckets and the role, and registers its outputs", async () => {
    expect(built.outputs).toEqual([
      "acme-billing-backups",
      "arn:aws:s3:::acme-billing-backups",
      "acme-billing-backups-us-west-2",
      "arn:aws:s3:::acme-billing-backups-us-west-2",
      `arn:aws:iam::${ACCOUNT}:role/billing-replication-role`,
    ]);
    expect(await promiseOf(built.component.urn)).toBe(
      "urn:pulumi:unit::drkit::drkit:objectstore:S3BackupBucket::billing",
    );
  });

  it("shows the settings, not the keys, as component inputs", () => {
    const component = built.mine.find((r) => r.type === T.component)!;
    expect(component.inputs).toMatchObject({
      bucketName: "acme-billing-backups",
      region: "us-east-1",
      customerKey: true,
      objectLock: { mode: "GOVERNANCE", days: 7 },
      replication: { region: "us-west-2", expireDays: 90 },
    });
    expect(JSON.stringify(component.inputs)).not.toContain("key/1111");
  });
});

describe("S3BackupBucket with AWS-managed keys", () => {
  it("without replication: no key id, no lock, no replica, lifecycle after versioning only", async () => {
    const { mine, one, outputs } = await build("plain", {
      bucketName: "acme-plain-backups",
      region: "eu-west-1",
      lifecycle,
    });
    expect(mine.map((r) => r.name).sort()).toEqual([
      "plain",
      "plain-bucket",
      "plain-encryption",
      "plain-lifecycle",
      "plain-public-access",
      "plain-source-provider",
      "plain-tls-only",
      "plain-versioning",
    ]);
    expect(one("plain-source-provider").inputs.region).toBe("eu-west-1");
    expect(mine.find((r) => r.type === T.bucket)!.inputs.objectLockEnabled).toBe(false);
    expect(one("plain-encryption").inputs.rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true },
    ]);
    expect(mocks.dependencyNames("plain-lifecycle")).toContain("plain-versioning");
    expect(outputs.slice(2)).toEqual([undefined, undefined, undefined]);
  });

  it(
    "with replication: the replica region's aws/s3 key, KMS scoped by service and bucket, delete markers and " +
      "RTC off",
    async () => {
      const { one } = await build("managed", {
        bucketName: "acme-managed-backups",
        region: "eu-west-1",
        lifecycle,
        replication: { region: "eu-central-1", bucketName: "acme-managed-replica", expireDays: 60 },
      });
      const rule = one("managed-replication").inputs.rules[0];
      expect(rule.deleteMarkerReplication).toEqual({ status: "Disabled" });
      expect(rule.destination).toEqual({
        bucket: "arn:aws:s3:::acme-managed-replica",
        encryptionConfiguration: { replicaKmsKeyId: `arn:aws:kms:eu-central-1:${ACCOUNT}:alias/aws/s3` },
      });
      const statements = JSON.parse(one("managed-replication-policy").inputs.policy).Statement as any[];
      expect(statements[1].Action).toEqual([
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionTagging",
      ]);
      expect(statements.slice(3)).toEqual([
        {
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: "*",
          Condition: {
            StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" },
            StringLike: {
              "kms:EncryptionContext:aws:s3:arn": [
                "arn:aws:s3:::acme-managed-backups",
                "arn:aws:s3:::acme-managed-backups/*",
              ],
            },
          },
        },
        {
          Effect: "Allow",
          Action: ["kms:Encrypt"],
          Resource: "*",
          Condition: {
            StringEquals: { "kms:ViaService": "s3.eu-central-1.amazonaws.com" },
            StringLike: {
              "kms:EncryptionContext:aws:s3:arn": [
                "arn:aws:s3:::acme-managed-replica",
                "arn:aws:s3:::acme-managed-replica/*",
              ],
            },
          },
        },
      ]);
      expect(one("managed-replica-bucket").inputs.objectLockEnabled).toBe(false);
      expect(
        one("managed-replica-lifecycle").inputs.rules.find((r: any) => r.id === "billing/wal/").expiration,
      ).toEqual({
        days: 61,
      });
    },
  );
});

describe("S3BackupBucket validation", () => {
  /** Builds with `args`, expecting the constructor to throw before any resource is registered. */
  async function rejected(args: Partial<S3BackupBucketArgs> & Record<string, unknown>): Promise<string[]> {
    const before = registered.length;
    let message = "";
    try {
      new S3BackupBucket("invalid", { ...fullArgs, ...args } as S3BackupBucketArgs);
    } catch (e) {
      message = (e as Error).message;
    }
    await settle();
    expect(registered.length, "no resource may be registered").toBe(before);
    expect(message).toMatch(/^S3BackupBucket invalid: invalid arguments:\n/);
    return message
      .split("\n")
      .slice(1)
      .map((l) => l.replace(/^ {2}- /, ""));
  }

  it("accepts the full example (the control for the cases below)", async () => {
    const before = registered.length;
    expect(
      () =>
        new S3BackupBucket("valid-control", {
          ...fullArgs,
          bucketName: "acme-control-backups",
          replication: { ...fullArgs.replication!, bucketName: "acme-control-replica" },
        }),
    ).not.toThrow();
    await settle();
    expect(registered.length - before).toBe(19);
  });

  it("refuses a replica in the source's region", async () => {
    expect(
      await rejected({ replication: { ...fullArgs.replication!, region: "us-east-1", kmsKeyArn: undefined } }),
    ).toEqual(['replication.region: "us-east-1" equals region; cross-region replication needs a different region']);
  });

  it("refuses an object lock that outlives the shortest expiry", async () => {
    expect(await rejected({ objectLock: { mode: "COMPLIANCE", days: 40 } })).toEqual([
      "objectLock.days: 40 is longer than the shortest expiry (lifecycle.services[0].days.base = 35); " +
        "the lock would keep objects past their retention",
    ]);
    expect(
      await rejected({
        objectLock: { mode: "GOVERNANCE", days: 10 },
        replication: { ...fullArgs.replication!, expireDays: 5 },
      }),
    ).toEqual([
      "objectLock.days: 10 is longer than replication.expireDays (5); replicas keep the lock and would outlive " +
        "their retention",
    ]);
    expect(await rejected({ objectLock: { mode: "FOREVER" as "GOVERNANCE", days: 0 } })).toEqual([
      'objectLock.mode: "FOREVER" must be GOVERNANCE or COMPLIANCE',
      "objectLock.days: 0 must be a positive whole number of days",
    ]);
  });

  it.each([
    ["ab", "must be 3 to 63 characters long (it has 2)"],
    ["a".repeat(64), "must be 3 to 63 characters long (it has 64)"],
    ["Acme-Backups", "may contain only lowercase letters, digits, '.' and '-'"],
    ["acme_backups", "may contain only lowercase letters, digits, '.' and '-'"],
    ["-acme-backups", "must begin and end with a lowercase letter or digit"],
    ["acme-backups.", "must begin and end with a lowercase letter or digit"],
    ["acme..backups", "must not contain two adjacent periods"],
    ["192.168.10.12", "must not be formatted as an IP address"],
    ["xn--acme-backups", "must not begin with the reserved prefix xn--"],
    ["acme-backups-s3alias", "must not end with the reserved suffix -s3alias"],
  ])("refuses the bucket name %j", async (bucketName, rule) => {
    const errors = await rejected({
      bucketName,
      replication: { ...fullArgs.replication!, bucketName: "acme-valid-replica" },
    });
    expect(errors).toEqual([`bucketName: ${JSON.stringify(bucketName)} ${rule}`]);
  });

  it("checks the replica's bucket name, given or derived", async () => {
    expect(await rejected({ replication: { ...fullArgs.replication!, bucketName: "Replica" } })).toEqual([
      `replication.bucketName: "Replica" may contain only lowercase letters, digits, '.' and '-'`,
    ]);
    const long = "a".repeat(55);
    expect(await rejected({ bucketName: long })).toEqual([
      `replication.bucketName (derived): "${long}-us-west-2" must be 3 to 63 characters long (it has 65)`,
    ]);
    expect(await rejected({ replication: { ...fullArgs.replication!, bucketName: fullArgs.bucketName } })).toEqual([
      'replication.bucketName: "acme-billing-backups" equals bucketName; the replica needs its own bucket',
    ]);
  });

  it("refuses bad regions, keys from another region, replica days and storage classes", async () => {
    expect(
      await rejected({
        region: "US East",
        replication: {
          region: "us-west-2",
          kmsKeyArn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/3333`,
          expireDays: 1.5,
          storageClass: "COLD" as "GLACIER",
        },
      }),
    ).toEqual([
      'region: "US East" must be an AWS region name such as us-east-1',
      `replication.kmsKeyArn: "arn:aws:kms:us-east-1:${ACCOUNT}:key/3333" is in us-east-1; S3 needs the key in ` +
        `the bucket's region us-west-2`,
      "replication.expireDays: 1.5 must be a positive whole number of days",
      'replication.storageClass: "COLD" must be one of STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, ' +
        "GLACIER, GLACIER_IR, DEEP_ARCHIVE",
    ]);
    expect(await rejected({ kmsKeyArn: "alias/backups" })).toEqual([
      'kmsKeyArn: "alias/backups" must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)',
    ]);
  });

  it("reports the lifecycle policy's problems with the component's, all at once", async () => {
    const errors = await rejected({
      bucketName: "UPPER",
      lifecycle: {
        ...lifecycle,
        services: [{ prefix: "billing/", days: { base: 35, logical: 90, wal: 35 } }],
        transitions: { infrequentAccessDays: 20 },
      },
      replication: { ...fullArgs.replication!, bucketName: "acme-valid-replica" },
    });
    expect(errors).toEqual([
      `bucketName: "UPPER" may contain only lowercase letters, digits, '.' and '-'`,
      "lifecycle.services[0].days.wal: 35 must be greater than days.base (35): PITR from the oldest base backup " +
        "needs the WAL uploaded before it finished",
      "lifecycle.transitions.infrequentAccessDays: 20 must be at least 30 (the S3 minimum for STANDARD_IA)",
    ]);
  });
});
