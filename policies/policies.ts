import type {
  PolicyConfigSchema,
  PolicyResource,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";

/**
 * drkit's DR rules. Each message names the resource, the value found and the rule's minimum. Minimums
 * are drkit's defaults and can be raised or lowered per team through the pack's config; every rule's
 * enforcement level can be set to advisory, mandatory or disabled the same way.
 */

/** Resource inputs and policy config as the engine hands them over: JSON of unknown shape, narrowed where read. */
type Props = Record<string, unknown>;
/** `value` as an object to read fields from; anything else (absent, a scalar, an array) reads as empty. */
const obj = (value: unknown): Props =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Props) : {};
/** `value` as a list; anything else reads as empty. */
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
export type DrPolicy = ResourceValidationPolicy | StackValidationPolicy;

const T = {
  postgresBackup: "drkit:postgres:PostgresBackup",
  walArchiving: "drkit:postgres:WalArchiving",
  replicationPrimary: "drkit:postgres:ReplicationPrimary",
  minioTarget: "drkit:objectstore:MinioTarget",
  bucket: ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"],
  versioning: ["aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"],
  encryption: [
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
  ],
  publicAccessBlock: ["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"],
  bucketPolicy: ["aws:s3/bucketPolicy:BucketPolicy"],
  lifecycle: [
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
  ],
  replication: ["aws:s3/bucketReplicationConfig:BucketReplicationConfig"],
  objectLock: [
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
  ],
  cronJob: "kubernetes:batch/v1:CronJob",
  statefulSet: "kubernetes:apps/v1:StatefulSet",
};

const integer = (min: number, defaultValue: number, description: string) => ({
  type: "integer" as const,
  minimum: min,
  default: defaultValue,
  description,
});
const schema = (properties: PolicyConfigSchema["properties"]): PolicyConfigSchema => ({ properties });
const is = (types: string | string[], type: string) => (Array.isArray(types) ? types.includes(type) : types === type);
const label = (name: string, type: string) => `${type.split(":").pop()} "${name}"`;

function resourcePolicy(
  name: string,
  description: string,
  types: string | string[],
  configSchema: PolicyConfigSchema | undefined,
  check: (props: Props, config: Props, what: string, report: (message: string) => void) => void,
): ResourceValidationPolicy {
  return {
    name,
    description,
    configSchema,
    validateResource: (args, reportViolation) => {
      if (!is(types, args.type)) return;
      check(args.props, args.getConfig<Props>(), label(args.name, args.type), reportViolation);
    },
  };
}

// ---- PostgreSQL services -------------------------------------------------------------------------

const walArchiving = resourcePolicy(
  "postgres-wal-archiving-within-rpo",
  "Every PostgreSQL service archives WAL, and archive_timeout plus the off-site shipping lag budget fits in its RPO.",
  T.walArchiving,
  undefined,
  (p, _c, what, report) => {
    if (p.archiveMode !== "on" && p.archiveMode !== "always")
      report(`${what}: archive_mode is ${JSON.stringify(p.archiveMode)}; WAL archiving must be on`);
    if (p.walLevel !== "replica" && p.walLevel !== "logical")
      report(`${what}: wal_level is ${JSON.stringify(p.walLevel)}; archiving needs replica or logical`);
    const timeout = Number(p.archiveTimeoutSeconds);
    const ship = Number(p.offsiteShipIntervalSeconds ?? 0);
    const rpo = Number(p.rpoSeconds);
    if (!(timeout > 0))
      report(
        `${what}: archive_timeout is ${p.archiveTimeoutSeconds}; it must be set (> 0) so a quiet server still ` +
          `archives within the RPO`,
      );
    else if (timeout + ship > rpo)
      report(
        `${what}: archive_timeout ${timeout}s + off-site shipping lag budget ${ship}s = ${timeout + ship}s exceeds ` +
          `the RPO of ${rpo}s`,
      );
  },
);

const backupFrequency = resourcePolicy(
  "postgres-base-backup-frequency",
  "Base backups run at least as often as the configured maximum interval.",
  T.postgresBackup,
  schema({ maxBaseBackupIntervalHours: integer(1, 24, "longest allowed gap between base backups, in hours") }),
  (p, c, what, report) => {
    const max = Number(c.maxBaseBackupIntervalHours ?? 24);
    const interval = p.baseBackupMaxIntervalHours;
    if (interval === null || interval === undefined)
      report(
        `${what}: the base backup schedule is too unusual to tell how often it runs; the rule's maximum is ` +
          `every ${max}h`,
      );
    else if (Number(interval) > max)
      report(`${what}: base backups can be ${interval}h apart; the rule's maximum is ${max}h`);
  },
);

const offsiteEncrypted = resourcePolicy(
  "offsite-copies-encrypted",
  "Every backup and WAL segment a service sends to an object store is encrypted on the host first (age).",
  T.postgresBackup,
  undefined,
  (p, _c, what, report) => {
    const stores = list(p.offsiteTargets);
    if (stores.length === 0 || Number(p.offsiteEncryptionRecipients) > 0) return;
    report(
      `${what}: ships to ${stores.join(", ")} without encryption; the rule requires ` +
        `services.${String(p.service ?? "<name>")}.offsite.encryption.recipients (age public keys)`,
    );
  },
);

const backupRetention = resourcePolicy(
  "postgres-backup-retention",
  "Local daily retention, weekly retention and off-site retention meet the configured minimums (defaults: 7 days, " +
    "12 weeks, 30 days).",
  T.postgresBackup,
  schema({
    minLocalDays: integer(1, 7, "minimum days every backup is kept locally"),
    minWeeklyWeeks: integer(0, 12, "minimum weeks a weekly backup is kept"),
    minOffsiteDays: integer(1, 30, "minimum days backups are kept off-site"),
  }),
  (p, c, what, report) => {
    const r = obj(p.retention);
    const rules: Array<[string, number, number, string]> = [
      ["retention.dailyDays", Number(r.dailyDays), Number(c.minLocalDays ?? 7), "days"],
      ["retention.weeklyWeeks", Number(r.weeklyWeeks), Number(c.minWeeklyWeeks ?? 12), "weeks"],
      ["retention.offsiteDays", Number(r.offsiteDays), Number(c.minOffsiteDays ?? 30), "days"],
    ];
    for (const [field, found, min, unit] of rules) {
      if (!(found >= min))
        report(
          `${what}: ${field} is ${Number.isNaN(found) ? "not set" : `${found} ${unit}`}; the rule's minimum ` +
            `is ${min} ${unit}`,
        );
    }
  },
);

const rpoZeroNeedsSyncStandby = resourcePolicy(
  "postgres-zero-rpo-needs-synchronous-standby",
  "A service whose RPO is zero has a synchronous standby: archiving alone always loses the last segment.",
  T.postgresBackup,
  undefined,
  (p, _c, what, report) => {
    if (Number(p.rpoSeconds) === 0 && !(Number(p.synchronousStandbys) >= 1))
      report(`${what}: RPO is 0s but synchronous standbys: ${p.synchronousStandbys ?? 0}; the rule's minimum is 1`);
  },
);

const slotWalLimit = resourcePolicy(
  "replica-slot-wal-limit",
  "A primary with replication slots caps the WAL they may hold (max_slot_wal_keep_size), so a dead standby cannot " +
    "fill its disk.",
  T.replicationPrimary,
  undefined,
  (p, _c, what, report) => {
    const size = Number(p.maxSlotWalKeepSizeMb);
    if (!(size > 0))
      report(
        `${what}: max_slot_wal_keep_size is ${p.maxSlotWalKeepSizeMb ?? "unset (-1, unlimited)"}; ` +
          `it must be a positive size`,
      );
  },
);

const monitoringConfigured: ResourceValidationPolicy = {
  ...resourcePolicy(
    "postgres-monitoring-configured",
    "A service with recovery objectives publishes metrics and has alert rules (a monitoring section): a backup that " +
      "silently stopped is otherwise noticed only at restore time. Advisory unless a team raises it.",
    T.postgresBackup,
    undefined,
    (p, _c, what, report) => {
      if (p.monitoring !== true)
        report(
          `${what}: has an RPO of ${p.rpoSeconds}s and an RTO of ${p.rtoSeconds}s but no monitoring section; ` +
            `nothing alerts when its backups or archiving stop`,
        );
    },
  ),
  enforcementLevel: "advisory",
};

const archivingPresent: StackValidationPolicy = {
  name: "postgres-archiving-present",
  description: "Every drkit PostgreSQL service in the stack has WAL archiving.",
  validateStack: (args, report) => {
    for (const service of args.resources.filter((r) => r.type === T.postgresBackup)) {
      const archived = args.resources.some((r) => r.type === T.walArchiving && r.parent?.urn === service.urn);
      if (!archived)
        report(
          `${label(service.name, service.type)}: has no WalArchiving; found none, the rule's minimum is 1`,
          service.urn,
        );
    }
  },
};

// ---- S3 backup buckets (AWS provider v7 side resources) ------------------------------------------

const s3Versioning = resourcePolicy(
  "s3-versioning-enabled",
  "Backup buckets keep versions.",
  T.versioning,
  undefined,
  (p, _c, what, report) => {
    const status = obj(p.versioningConfiguration).status;
    if (status !== "Enabled")
      report(`${what}: versioning status is ${JSON.stringify(status ?? null)}; the rule requires "Enabled"`);
  },
);

const s3Encryption = resourcePolicy(
  "s3-encryption",
  "Backup buckets encrypt at rest by default (SSE-KMS when the config requires KMS).",
  T.encryption,
  schema({ requireKms: { type: "boolean", default: true, description: "require aws:kms rather than AES256" } }),
  (p, c, what, report) => {
    const algorithms = list(p.rules)
      .map((r) => obj(obj(r).applyServerSideEncryptionByDefault).sseAlgorithm)
      .filter(Boolean)
      .map(String);
    const requireKms = c.requireKms ?? true;
    if (algorithms.length === 0)
      report(`${what}: no default encryption rule; the rule requires ${requireKms ? "aws:kms" : "AES256 or aws:kms"}`);
    else if (requireKms && !algorithms.every((a) => a.startsWith("aws:kms")))
      report(`${what}: encryption is ${algorithms.join(", ")}; the rule requires aws:kms`);
  },
);

const s3PublicAccess = resourcePolicy(
  "s3-public-access-blocked",
  "Backup buckets block every form of public access.",
  T.publicAccessBlock,
  undefined,
  (p, _c, what, report) => {
    for (const flag of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) {
      if (p[flag] !== true) report(`${what}: ${flag} is ${JSON.stringify(p[flag] ?? null)}; the rule requires true`);
    }
  },
);

function parsePolicy(text: unknown): unknown {
  if (typeof text !== "string") return text ?? {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function deniesInsecureTransport(policy: unknown): boolean {
  const statement = obj(policy).Statement;
  const statements = Array.isArray(statement) ? statement : statement ? [statement] : [];
  return statements.map(obj).some((s) => {
    if (s.Effect !== "Deny") return false;
    const value = obj(obj(s.Condition).Bool)["aws:SecureTransport"];
    return value === false || value === "false" || (Array.isArray(value) && value.map(String).includes("false"));
  });
}

const s3TlsOnly = resourcePolicy(
  "s3-tls-only",
  "Backup bucket policies deny requests that do not use TLS.",
  T.bucketPolicy,
  undefined,
  (p, _c, what, report) => {
    if (!deniesInsecureTransport(parsePolicy(p.policy)))
      report(`${what}: no statement denies aws:SecureTransport = false; the rule requires a TLS-only policy`);
  },
);

const s3Lifecycle = resourcePolicy(
  "s3-lifecycle-keeps-backups",
  "No lifecycle rule expires current backups before the retention minimum, and noncurrent versions are kept long " +
    "enough.",
  T.lifecycle,
  schema({
    minRetentionDays: integer(1, 30, "minimum days before a current backup object may expire"),
    minNoncurrentDays: integer(1, 30, "minimum days a noncurrent version is kept"),
  }),
  (p, c, what, report) => {
    const minRetention = Number(c.minRetentionDays ?? 30);
    const minNoncurrent = Number(c.minNoncurrentDays ?? 30);
    for (const rule of list(p.rules).map(obj)) {
      if (rule.status !== "Enabled") continue;
      const id = rule.id ?? "(unnamed)";
      const days = obj(rule.expiration).days;
      if (days !== undefined && days !== null && Number(days) < minRetention)
        report(
          `${what}: rule "${id}" expires current objects after ${days} days; the rule's minimum ` +
            `is ${minRetention} days`,
        );
      const noncurrent = obj(rule.noncurrentVersionExpiration).noncurrentDays;
      if (noncurrent !== undefined && noncurrent !== null && Number(noncurrent) < minNoncurrent)
        report(
          `${what}: rule "${id}" expires noncurrent versions after ${noncurrent} days; the rule's minimum ` +
            `is ${minNoncurrent} days`,
        );
    }
  },
);

const s3ObjectLockRetention = resourcePolicy(
  "s3-object-lock-retention",
  "Where object lock is configured, its default retention is at least the configured days.",
  T.objectLock,
  schema({ minLockDays: integer(1, 7, "minimum default retention of object lock, in days") }),
  (p, c, what, report) => {
    const retention = obj(obj(p.rule).defaultRetention);
    const days = Number(retention.days ?? (retention.years !== undefined ? Number(retention.years) * 365 : NaN));
    const min = Number(c.minLockDays ?? 7);
    if (!(days >= min))
      report(
        `${what}: default retention is ${Number.isNaN(days) ? "not set" : `${days} days`}; the rule's minimum ` +
          `is ${min} days`,
      );
  },
);

/** The bucket name a side resource points at (its `bucket` input). */
const bucketOf = (r: PolicyResource) => r.props.bucket as string | undefined;
const bucketName = (r: PolicyResource) => (r.props.bucket ?? r.props.id ?? r.name) as string;

const s3BucketComplete: StackValidationPolicy = {
  name: "s3-backup-bucket-complete",
  description:
    "Every bucket has versioning, encryption, a public access block, a TLS-only policy and a replication config; " +
    "object lock too when the config requires it.",
  configSchema: schema({
    requireObjectLock: { type: "boolean", default: false, description: "require object lock on every bucket" },
  }),
  validateStack: (args, report) => {
    const config = args.getConfig<{ requireObjectLock?: boolean }>();
    const buckets = args.resources.filter((r) => is(T.bucket, r.type));
    const replicaDestinations = new Set(
      args.resources
        .filter((r) => is(T.replication, r.type))
        .flatMap((r) => list(r.props.rules).map((rule) => String(obj(obj(rule).destination).bucket ?? ""))),
    );
    const needs: Array<[string, string[], boolean]> = [
      ["versioning", T.versioning, true],
      ["server-side encryption", T.encryption, true],
      ["public access block", T.publicAccessBlock, true],
      ["bucket policy", T.bucketPolicy, true],
      ["replication config", T.replication, true],
      ["object lock configuration", T.objectLock, config.requireObjectLock === true],
    ];
    for (const bucket of buckets) {
      const name = bucketName(bucket);
      const arn = `arn:aws:s3:::${name}`;
      const isReplica = replicaDestinations.has(arn) || replicaDestinations.has(String(bucket.props.arn ?? ""));
      for (const [what, types, required] of needs) {
        if (!required || (isReplica && what === "replication config")) continue;
        if (!args.resources.some((r) => is(types, r.type) && bucketOf(r) === name)) {
          report(`${label(bucket.name, bucket.type)}: has no ${what}; found none, the rule requires one`, bucket.urn);
        }
      }
    }
  },
};

const s3CrossRegion: StackValidationPolicy = {
  name: "s3-replication-cross-region",
  description: "Backup buckets replicate to a bucket in a different region.",
  validateStack: (args, report) => {
    const buckets = args.resources.filter((r) => is(T.bucket, r.type));
    const regionOf = (name: string) => {
      const b = buckets.find(
        (x) => bucketName(x) === name || x.props.arn === name || `arn:aws:s3:::${bucketName(x)}` === name,
      );
      return b ? ((b.props.region as string | undefined) ?? b.provider?.props?.region) : undefined;
    };
    for (const config of args.resources.filter((r) => is(T.replication, r.type))) {
      const source = regionOf(String(config.props.bucket));
      for (const rule of list(config.props.rules)) {
        const destination = regionOf(String(obj(obj(rule).destination).bucket ?? ""));
        if (source !== undefined && destination !== undefined && source === destination) {
          report(
            `${label(config.name, config.type)}: replicates to a bucket in the same region (${source}); ` +
              `the rule requires a different region`,
            config.urn,
          );
        }
      }
    }
  },
};

// ---- MinIO targets ------------------------------------------------------------------------------

const minioTarget = resourcePolicy(
  "minio-target-versioned-and-replicated",
  "MinIO backup targets keep versions, expire nothing before the retention minimum, and replicate to a second site.",
  T.minioTarget,
  schema({ minRetentionDays: integer(1, 30, "minimum days before a backup object may expire") }),
  (p, c, what, report) => {
    const min = Number(c.minRetentionDays ?? 30);
    if (p.versioning !== true)
      report(`${what}: versioning is ${JSON.stringify(p.versioning ?? null)}; the rule requires true`);
    const expiry = p.expireDays;
    if (expiry === undefined || expiry === null)
      report(`${what}: has no lifecycle expiry; the rule requires one of at least ${min} days`);
    else if (Number(expiry) < min)
      report(`${what}: lifecycle expires objects after ${expiry} days; the rule's minimum is ${min} days`);
    // A second site (the target other stores replicate into) is itself the copy; so is a store that every
    // service shipping here also ships to.
    const some = (list: unknown) => Array.isArray(list) && list.length > 0;
    if (!p.replicationTarget && !some(p.replicaOf) && !some(p.alongside))
      report(
        `${what}: has no replication target, no store replicates into it and no service ships to another store ` +
          `beside it; the rule requires a second site`,
      );
  },
);

// ---- Redis / Valkey -----------------------------------------------------------------------------

const redisPersistence = resourcePolicy(
  "redis-persistence-and-snapshots",
  "Redis/Valkey keeps an append-only file, snapshots at least as often as the maximum interval, " +
    "and keeps snapshots long enough.",
  "drkit:redis:RedisBackup",
  schema({
    requireAof: { type: "boolean", default: true, description: "require appendonly yes" },
    maxSnapshotIntervalHours: integer(1, 24, "longest allowed gap between snapshots, in hours"),
    minSnapshotRetentionDays: integer(1, 3, "minimum days a snapshot is kept (default 3)"),
  }),
  (p, c, what, report) => {
    if ((c.requireAof ?? true) && p.appendonly !== true)
      report(`${what}: appendonly is ${JSON.stringify(p.appendonly ?? null)}; the rule requires true`);
    const interval = p.snapshotMaxIntervalHours;
    const max = Number(c.maxSnapshotIntervalHours ?? 24);
    if (interval === null || interval === undefined)
      report(
        `${what}: the snapshot schedule is too unusual to tell how often it runs; the rule's maximum is every ${max}h`,
      );
    else if (Number(interval) > max)
      report(`${what}: snapshots can be ${interval}h apart; the rule's maximum is ${max}h`);
    const min = Number(c.minSnapshotRetentionDays ?? 3);
    if (!(Number(p.snapshotRetentionDays) >= min))
      report(`${what}: snapshots are kept ${p.snapshotRetentionDays} days; the rule's minimum is ${min} days`);
  },
);

// ---- Hosts --------------------------------------------------------------------------------------

const sshHostKeyPinned = resourcePolicy(
  "ssh-host-key-pinned",
  "Every command run over SSH checks the host's key: no commands or secrets go to whoever answers at the address.",
  "command:remote:Command",
  undefined,
  (p, _c, what, report) => {
    const c = obj(p.connection);
    if (typeof c.hostKey === "string" && c.hostKey.trim() !== "") return;
    report(
      `${what}: connects to ${String(c.host ?? "?")}:${String(c.port ?? 22)} without a pinned host key ` +
        `(acceptAnyHostKey); the rule requires the host's key (hosts.<name>.connection.hostKey)`,
    );
  },
);

// ---- Kubernetes ---------------------------------------------------------------------------------

const isDrkitBackupCronJob = (p: Props) => {
  const labels = obj(obj(p.metadata).labels);
  return labels["app.kubernetes.io/component"] === "backup" && labels["app.kubernetes.io/managed-by"] === "drkit";
};

const cronJobForbidsOverlap = resourcePolicy(
  "k8s-backup-cronjob-forbids-overlap",
  "drkit backup CronJobs never run two at once.",
  T.cronJob,
  undefined,
  (p, _c, what, report) => {
    if (!isDrkitBackupCronJob(p)) return;
    const policy = obj(p.spec).concurrencyPolicy;
    if (policy !== "Forbid")
      report(`${what}: concurrencyPolicy is ${JSON.stringify(policy ?? "Allow")}; the rule requires "Forbid"`);
  },
);

const cronJobExists: StackValidationPolicy = {
  name: "k8s-backup-cronjob-exists",
  description: "A stack that runs drkit PostgreSQL on Kubernetes has a backup CronJob.",
  validateStack: (args, report) => {
    const databases = args.resources.filter(
      (r) => r.type === T.statefulSet && r.props.metadata?.labels?.["app.kubernetes.io/managed-by"] === "drkit",
    );
    const backups = args.resources.filter((r) => r.type === T.cronJob && isDrkitBackupCronJob(r.props));
    if (databases.length > 0 && backups.length === 0) {
      report(
        `${label(databases[0].name, databases[0].type)}: the stack runs ${databases.length} drkit PostgreSQL ` +
          `StatefulSet(s) and 0 backup CronJobs; the rule's minimum is 1`,
        databases[0].urn,
      );
    }
  },
};

export const drPolicies: DrPolicy[] = [
  walArchiving,
  archivingPresent,
  backupFrequency,
  backupRetention,
  offsiteEncrypted,
  rpoZeroNeedsSyncStandby,
  slotWalLimit,
  monitoringConfigured,
  s3Versioning,
  s3Encryption,
  s3PublicAccess,
  s3TlsOnly,
  s3Lifecycle,
  s3ObjectLockRetention,
  s3BucketComplete,
  s3CrossRegion,
  minioTarget,
  redisPersistence,
  sshHostKeyPinned,
  cronJobForbidsOverlap,
  cronJobExists,
];
