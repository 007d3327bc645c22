import * as policyProxy from "@pulumi/policy/proxy";
import { describe, expect, it } from "vitest";
import { drPolicies } from "../../policies/policies";
import { evaluate, urnOf, type FakeResource } from "../helpers/policyHarness";

const only = (name: string) => {
  const p = drPolicies.find((x) => x.name === name);
  if (!p) throw new Error(`no policy ${name}`);
  return [p];
};

const backup = (props: Record<string, unknown> = {}): FakeResource => ({
  type: "drkit:postgres:PostgresBackup",
  name: "billing",
  props: {
    service: "billing",
    rpoSeconds: 300,
    rtoSeconds: 1800,
    retention: { dailyDays: 7, weeklyWeeks: 12, longTermMonths: 0, offsiteDays: 30 },
    baseBackupMaxIntervalHours: 24,
    synchronousStandbys: 0,
    ...props,
  },
});
const archiving = (props: Record<string, unknown> = {}, parent?: FakeResource): FakeResource => ({
  type: "drkit:postgres:WalArchiving",
  name: "billing-archiving",
  props: {
    service: "billing",
    rpoSeconds: 300,
    walLevel: "replica",
    archiveMode: "on",
    archiveTimeoutSeconds: 240,
    offsiteShipIntervalSeconds: 0,
    ...props,
  },
  parent: parent ? urnOf(parent) : undefined,
});

const s3 = {
  bucket: (name: string, region = "eu-west-1"): FakeResource => ({
    type: "aws:s3/bucket:Bucket",
    name,
    props: { bucket: name, region },
  }),
  versioning: (bucket: string, status = "Enabled"): FakeResource => ({
    type: "aws:s3/bucketVersioning:BucketVersioning",
    name: `${bucket}-versioning`,
    props: { bucket, versioningConfiguration: { status } },
  }),
  encryption: (bucket: string, sseAlgorithm = "aws:kms"): FakeResource => ({
    type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    name: `${bucket}-sse`,
    props: { bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm }, bucketKeyEnabled: true }] },
  }),
  publicAccess: (bucket: string, open = false): FakeResource => ({
    type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    name: `${bucket}-pab`,
    props: {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: !open,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
  }),
  policy: (bucket: string, tls = true): FakeResource => ({
    type: "aws:s3/bucketPolicy:BucketPolicy",
    name: `${bucket}-policy`,
    props: {
      bucket,
      policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          tls
            ? {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
              }
            : { Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:root" }, Action: "s3:GetObject", Resource: "*" },
        ],
      }),
    },
  }),
  lifecycle: (bucket: string, days = 30, noncurrentDays = 30): FakeResource => ({
    type: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    name: `${bucket}-lifecycle`,
    props: {
      bucket,
      rules: [
        {
          id: "base",
          status: "Enabled",
          filter: { prefix: "postgresql/base/" },
          expiration: { days },
          noncurrentVersionExpiration: { noncurrentDays },
        },
        { id: "disabled", status: "Disabled", expiration: { days: 1 } },
      ],
    },
  }),
  replication: (bucket: string, destination: string): FakeResource => ({
    type: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    name: `${bucket}-replication`,
    props: {
      bucket,
      role: "arn:aws:iam::1:role/r",
      rules: [{ id: "all", status: "Enabled", destination: { bucket: `arn:aws:s3:::${destination}` } }],
    },
  }),
  objectLock: (bucket: string, days: number): FakeResource => ({
    type: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    name: `${bucket}-lock`,
    props: { bucket, rule: { defaultRetention: { mode: "GOVERNANCE", days } } },
  }),
};
const completeBucket = (name: string, region: string, replicaOf?: string) => [
  s3.bucket(name, region),
  s3.versioning(name),
  s3.encryption(name),
  s3.publicAccess(name),
  s3.policy(name),
  ...(replicaOf ? [] : [s3.replication(name, `${name}-replica`)]),
];

describe("PostgreSQL rules", () => {
  it("WAL archiving within the RPO passes; off or too slow fails naming value and limit", async () => {
    expect(await evaluate(only("postgres-wal-archiving-within-rpo"), [archiving()])).toEqual([]);
    const off = await evaluate(only("postgres-wal-archiving-within-rpo"), [archiving({ archiveMode: "off" })]);
    expect(off.map((d) => d.message)).toEqual([
      'WalArchiving "billing-archiving": archive_mode is "off"; WAL archiving must be on',
    ]);
    const slow = await evaluate(only("postgres-wal-archiving-within-rpo"), [
      archiving({ archiveTimeoutSeconds: 240, offsiteShipIntervalSeconds: 120 }),
    ]);
    expect(slow[0].message).toBe(
      'WalArchiving "billing-archiving": archive_timeout 240s + off-site shipping lag budget 120s = 360s exceeds ' +
        "the RPO of 300s",
    );
    expect(slow[0].level).toBe("mandatory");
  });

  it("every service has archiving (stack rule)", async () => {
    const svc = backup();
    expect(await evaluate(only("postgres-archiving-present"), [svc, archiving({}, svc)])).toEqual([]);
    const missing = await evaluate(only("postgres-archiving-present"), [svc]);
    expect(missing[0].message).toContain('PostgresBackup "billing": has no WalArchiving');
  });

  it("base backup frequency: daily passes, weekly fails, a team can allow weekly", async () => {
    expect(await evaluate(only("postgres-base-backup-frequency"), [backup()])).toEqual([]);
    const weekly = await evaluate(only("postgres-base-backup-frequency"), [
      backup({ baseBackupMaxIntervalHours: 168 }),
    ]);
    expect(weekly[0].message).toBe(
      'PostgresBackup "billing": base backups can be 168h apart; the rule\'s maximum is 24h',
    );
    expect(
      await evaluate(only("postgres-base-backup-frequency"), [backup({ baseBackupMaxIntervalHours: 168 })], {
        "postgres-base-backup-frequency": { maxBaseBackupIntervalHours: 168 },
      }),
    ).toEqual([]);
    const unknown = await evaluate(only("postgres-base-backup-frequency"), [
      backup({ baseBackupMaxIntervalHours: null }),
    ]);
    expect(unknown[0].message).toContain("too unusual to tell");
  });

  it("retention meets the default minimums; each shortfall is named", async () => {
    expect(await evaluate(only("postgres-backup-retention"), [backup()])).toEqual([]);
    const short = await evaluate(only("postgres-backup-retention"), [
      backup({ retention: { dailyDays: 3, weeklyWeeks: 4, offsiteDays: 14 } }),
    ]);
    expect(short.map((d) => d.message)).toEqual([
      'PostgresBackup "billing": retention.dailyDays is 3 days; the rule\'s minimum is 7 days',
      'PostgresBackup "billing": retention.weeklyWeeks is 4 weeks; the rule\'s minimum is 12 weeks',
      'PostgresBackup "billing": retention.offsiteDays is 14 days; the rule\'s minimum is 30 days',
    ]);
  });

  it("config overrides minimums and enforcement levels", async () => {
    const short = backup({ retention: { dailyDays: 3, weeklyWeeks: 12, offsiteDays: 30 } });
    expect(
      await evaluate(only("postgres-backup-retention"), [short], { "postgres-backup-retention": { minLocalDays: 3 } }),
    ).toEqual([]);
    const advisory = await evaluate(only("postgres-backup-retention"), [short], {
      "postgres-backup-retention": { enforcementLevel: "advisory" },
    });
    expect(advisory.map((d) => d.level)).toEqual(["advisory"]);
    expect(
      await evaluate(only("postgres-backup-retention"), [short], {
        "postgres-backup-retention": { enforcementLevel: "disabled" },
      }),
    ).toEqual([]);
  });

  it("a service with objectives and no monitoring section is reported, advisory unless raised", async () => {
    expect(await evaluate(only("postgres-monitoring-configured"), [backup({ monitoring: true })])).toEqual([]);
    const found = await evaluate(only("postgres-monitoring-configured"), [backup({ monitoring: false })]);
    expect(found).toHaveLength(1);
    expect(found[0].level).toBe("advisory");
    expect(found[0].message).toContain("RPO of 300s and an RTO of 1800s but no monitoring section");
    const raised = await evaluate(only("postgres-monitoring-configured"), [backup()], {
      "postgres-monitoring-configured": { enforcementLevel: "mandatory" },
    });
    expect(raised[0].level).toBe("mandatory");
  });

  it("zero RPO needs a synchronous standby; a slot WAL limit must be set", async () => {
    expect(
      await evaluate(only("postgres-zero-rpo-needs-synchronous-standby"), [
        backup({ rpoSeconds: 0, synchronousStandbys: 1 }),
      ]),
    ).toEqual([]);
    expect(
      (await evaluate(only("postgres-zero-rpo-needs-synchronous-standby"), [backup({ rpoSeconds: 0 })]))[0].message,
    ).toContain("RPO is 0s but synchronous standbys: 0");
    const primary = (props: Record<string, unknown>): FakeResource => ({
      type: "drkit:postgres:ReplicationPrimary",
      name: "billing-primary",
      props,
    });
    expect(await evaluate(only("replica-slot-wal-limit"), [primary({ maxSlotWalKeepSizeMb: 4096 })])).toEqual([]);
    expect((await evaluate(only("replica-slot-wal-limit"), [primary({})]))[0].message).toContain(
      "max_slot_wal_keep_size is unset (-1, unlimited)",
    );
  });

  it("a value unknown during preview becomes an advisory note, as in the analyzer", async () => {
    const d = await evaluate(only("postgres-wal-archiving-within-rpo"), [
      archiving({ archiveMode: (policyProxy as unknown as { unknownStringValue: unknown }).unknownStringValue }),
    ]);
    expect(d).toHaveLength(1);
    expect(d[0].level).toBe("advisory");
    expect(d[0].message).toContain("can't be known during preview");
  });
});

describe("off-site encryption rule", () => {
  it("offsite-copies-encrypted: a service shipping to a store without age recipients is a violation", async () => {
    const rule = only("offsite-copies-encrypted");
    const found = await evaluate(rule, [
      backup({ offsiteTargets: ["site-a", "site-b"], offsiteEncryptionRecipients: 0 }),
    ]);
    expect(found.map((d) => d.message)).toEqual([
      'PostgresBackup "billing": ships to site-a, site-b without encryption; the rule requires ' +
        "services.billing.offsite.encryption.recipients (age public keys)",
    ]);
    expect(await evaluate(rule, [backup({ offsiteTargets: ["site-a"], offsiteEncryptionRecipients: 2 })])).toEqual([]);
    // Nothing leaves the host: nothing to encrypt.
    expect(await evaluate(rule, [backup({ offsiteTargets: [] })])).toEqual([]);
  });
});

describe("S3 backup bucket rules (AWS v7 side resources)", () => {
  it("versioning, encryption, public access and TLS-only: compliant passes, each violation is named", async () => {
    expect(
      await evaluate(
        drPolicies.filter((p) => p.name.startsWith("s3-") && "validateResource" in p),
        completeBucket("backups", "eu-west-1"),
      ),
    ).toEqual([]);
    expect((await evaluate(only("s3-versioning-enabled"), [s3.versioning("b", "Suspended")]))[0].message).toBe(
      'BucketVersioning "b-versioning": versioning status is "Suspended"; the rule requires "Enabled"',
    );
    expect((await evaluate(only("s3-encryption"), [s3.encryption("b", "AES256")]))[0].message).toBe(
      'BucketServerSideEncryptionConfiguration "b-sse": encryption is AES256; the rule requires aws:kms',
    );
    expect(
      await evaluate(only("s3-encryption"), [s3.encryption("b", "AES256")], { "s3-encryption": { requireKms: false } }),
    ).toEqual([]);
    expect((await evaluate(only("s3-public-access-blocked"), [s3.publicAccess("b", true)]))[0].message).toBe(
      'BucketPublicAccessBlock "b-pab": blockPublicPolicy is false; the rule requires true',
    );
    expect((await evaluate(only("s3-tls-only"), [s3.policy("b", false)]))[0].message).toContain(
      "no statement denies aws:SecureTransport = false",
    );
  });

  it("lifecycle never expires current backups or noncurrent versions before the minimum", async () => {
    expect(await evaluate(only("s3-lifecycle-keeps-backups"), [s3.lifecycle("b", 30, 30)])).toEqual([]);
    const bad = await evaluate(only("s3-lifecycle-keeps-backups"), [s3.lifecycle("b", 7, 3)]);
    expect(bad.map((d) => d.message)).toEqual([
      'BucketLifecycleConfiguration "b-lifecycle": rule "base" expires current objects after 7 days; ' +
        "the rule's minimum is 30 days",
      'BucketLifecycleConfiguration "b-lifecycle": rule "base" expires noncurrent versions after 3 days; ' +
        "the rule's minimum is 30 days",
    ]);
    expect(
      await evaluate(only("s3-lifecycle-keeps-backups"), [s3.lifecycle("b", 7, 7)], {
        "s3-lifecycle-keeps-backups": { minRetentionDays: 7, minNoncurrentDays: 7 },
      }),
    ).toEqual([]);
  });

  it("object lock retention meets its minimum", async () => {
    expect(await evaluate(only("s3-object-lock-retention"), [s3.objectLock("b", 30)])).toEqual([]);
    expect((await evaluate(only("s3-object-lock-retention"), [s3.objectLock("b", 1)]))[0].message).toContain(
      "default retention is 1 days; the rule's minimum is 7 days",
    );
  });

  it("a bucket without a replication config (or other side resources) fails the stack rule", async () => {
    const ok = [
      ...completeBucket("backups", "eu-west-1"),
      ...completeBucket("backups-replica", "eu-central-1", "backups"),
    ];
    expect(await evaluate(only("s3-backup-bucket-complete"), ok)).toEqual([]);
    const noReplication = ok.filter((r) => r.type !== "aws:s3/bucketReplicationConfig:BucketReplicationConfig");
    const d = await evaluate(only("s3-backup-bucket-complete"), noReplication);
    expect(d.map((x) => x.message)).toContain(
      'Bucket "backups": has no replication config; found none, the rule requires one',
    );
    const lockRequired = await evaluate(only("s3-backup-bucket-complete"), ok, {
      "s3-backup-bucket-complete": { requireObjectLock: true },
    });
    expect(lockRequired.filter((x) => x.message.includes("object lock"))).toHaveLength(2);
  });

  it("replication to the same region fails; to another region passes", async () => {
    const cross = [
      s3.bucket("backups", "eu-west-1"),
      s3.bucket("backups-replica", "eu-central-1"),
      s3.replication("backups", "backups-replica"),
    ];
    expect(await evaluate(only("s3-replication-cross-region"), cross)).toEqual([]);
    const same = [
      s3.bucket("backups", "eu-west-1"),
      s3.bucket("backups-replica", "eu-west-1"),
      s3.replication("backups", "backups-replica"),
    ];
    expect((await evaluate(only("s3-replication-cross-region"), same))[0].message).toBe(
      'BucketReplicationConfig "backups-replication": replicates to a bucket in the same region (eu-west-1); ' +
        "the rule requires a different region",
    );
  });
});

describe("MinIO and Kubernetes rules", () => {
  const minio = (props: Record<string, unknown>): FakeResource => ({
    type: "drkit:objectstore:MinioTarget",
    name: "site-a",
    props,
  });
  it("MinIO targets keep versions, expire late enough and replicate", async () => {
    expect(
      await evaluate(only("minio-target-versioned-and-replicated"), [
        minio({ versioning: true, expireDays: 30, replicationTarget: "site-b" }),
      ]),
    ).toEqual([]);
    // The second site itself: it is the copy other stores replicate into.
    expect(
      await evaluate(only("minio-target-versioned-and-replicated"), [
        minio({ versioning: true, expireDays: 30, replicaOf: ["site-a"] }),
      ]),
    ).toEqual([]);
    const bad = await evaluate(only("minio-target-versioned-and-replicated"), [
      minio({ versioning: false, expireDays: 5 }),
    ]);
    expect(bad.map((d) => d.message)).toEqual([
      'MinioTarget "site-a": versioning is false; the rule requires true',
      'MinioTarget "site-a": lifecycle expires objects after 5 days; the rule\'s minimum is 30 days',
      'MinioTarget "site-a": has no replication target, no store replicates into it and no service ships to another ' +
        "store beside it; the rule requires a second site",
    ]);
  });

  it("a MinIO target is a second site when every service shipping to it ships to another store too", async () => {
    const rule = only("minio-target-versioned-and-replicated");
    expect(await evaluate(rule, [minio({ versioning: true, expireDays: 30, alongside: ["s3-eu"] })])).toEqual([]);
    expect(await evaluate(rule, [minio({ versioning: true, expireDays: 30, alongside: [] })])).toHaveLength(1);
  });

  const labels = { "app.kubernetes.io/managed-by": "drkit", "app.kubernetes.io/component": "backup" };
  const cronJob = (concurrencyPolicy?: string): FakeResource => ({
    type: "kubernetes:batch/v1:CronJob",
    name: "billing-backup",
    props: {
      metadata: { labels },
      spec: { schedule: "0 2 * * *", ...(concurrencyPolicy ? { concurrencyPolicy } : {}) },
    },
  });
  const statefulSet: FakeResource = {
    type: "kubernetes:apps/v1:StatefulSet",
    name: "billing-pg",
    props: { metadata: { labels: { "app.kubernetes.io/managed-by": "drkit" } } },
  };

  it("backup CronJobs forbid concurrent runs", async () => {
    expect(await evaluate(only("k8s-backup-cronjob-forbids-overlap"), [cronJob("Forbid")])).toEqual([]);
    expect((await evaluate(only("k8s-backup-cronjob-forbids-overlap"), [cronJob()]))[0].message).toBe(
      'CronJob "billing-backup": concurrencyPolicy is "Allow"; the rule requires "Forbid"',
    );
  });

  it("a cluster stack with PostgreSQL has a backup CronJob", async () => {
    expect(await evaluate(only("k8s-backup-cronjob-exists"), [statefulSet, cronJob("Forbid")])).toEqual([]);
    expect((await evaluate(only("k8s-backup-cronjob-exists"), [statefulSet]))[0].message).toContain(
      "0 backup CronJobs; the rule's minimum is 1",
    );
  });
});

describe("Redis/Valkey rule", () => {
  const redis = (props: Record<string, unknown>): FakeResource => ({
    type: "drkit:redis:RedisBackup",
    name: "billing-redis",
    props: { appendonly: true, snapshotMaxIntervalHours: 1, snapshotRetentionDays: 7, ...props },
  });
  it("AOF on, hourly snapshots kept a week pass; each shortfall is named", async () => {
    expect(await evaluate(only("redis-persistence-and-snapshots"), [redis({})])).toEqual([]);
    const bad = await evaluate(only("redis-persistence-and-snapshots"), [
      redis({ appendonly: false, snapshotMaxIntervalHours: 48, snapshotRetentionDays: 1 }),
    ]);
    expect(bad.map((d) => d.message)).toEqual([
      'RedisBackup "billing-redis": appendonly is false; the rule requires true',
      'RedisBackup "billing-redis": snapshots can be 48h apart; the rule\'s maximum is 24h',
      'RedisBackup "billing-redis": snapshots are kept 1 days; the rule\'s minimum is 3 days',
    ]);
    expect(
      await evaluate(only("redis-persistence-and-snapshots"), [redis({ appendonly: false })], {
        "redis-persistence-and-snapshots": { requireAof: false },
      }),
    ).toEqual([]);
  });
});

describe("the pack", () => {
  it("has unique rule names and a description for each", () => {
    const names = drPolicies.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of drPolicies) expect(p.description.length).toBeGreaterThan(20);
  });
});

describe("host rules", () => {
  const messages = (ds: Array<{ message: string }>) => ds.map((d) => d.message);
  it("ssh-host-key-pinned: a command over SSH without the host's key is a violation", async () => {
    const remote = (connection: Record<string, unknown>): FakeResource => ({
      type: "command:remote:Command",
      name: "billing-db1-agent",
      props: { create: "true", connection: { host: "10.0.0.1", port: 22, user: "root", ...connection } },
    });
    const pinned = remote({ hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ" });
    expect(await evaluate(only("ssh-host-key-pinned"), [pinned])).toEqual([]);
    const expected = [
      'Command "billing-db1-agent": connects to 10.0.0.1:22 without a pinned host key (acceptAnyHostKey); the ' +
        "rule requires the host's key (hosts.<name>.connection.hostKey)",
    ];
    expect(messages(await evaluate(only("ssh-host-key-pinned"), [remote({})]))).toEqual(expected);
    expect(messages(await evaluate(only("ssh-host-key-pinned"), [remote({ hostKey: " " })]))).toEqual(expected);
    // local commands have no host key to check
    expect(await evaluate(only("ssh-host-key-pinned"), [{ ...remote({}), type: "command:local:Command" }])).toEqual([]);
  });
});
