import { describeValue } from "../plan/errors";

/**
 * A pure model of a backup bucket's lifecycle: one place that turns retention days into rules, and
 * renders them for the Pulumi AWS provider, the AWS SDK (`PutBucketLifecycleConfiguration`) and MinIO
 * (`mc ilm import`).
 */

/** The backup sets under one service's prefix: keys are `<prefix>base/`, `<prefix>logical/`, ... */
export const BACKUP_SETS = ["base", "logical", "wal", "valkey", "config"] as const;
export type BackupSet = (typeof BACKUP_SETS)[number];

export interface ServiceRetention {
  /** e.g. "billing/"; "" puts the sets at the bucket's root. */
  prefix: string;
  /**
   * Folders under the prefix that hold the same sets again, with the same days: a service's later archive
   * epochs ("epoch-2/"). The sets right under the prefix (epoch 1) always get their rules.
   */
  epochFolders?: string[];
  /** Days after upload that each set's objects expire; an absent set gets no rule. */
  days: { base: number; logical: number; wal: number; valkey?: number; config?: number };
}

export type ArchiveStorageClass = "GLACIER" | "DEEP_ARCHIVE" | "GLACIER_IR";
export type TransitionStorageClass = "STANDARD_IA" | ArchiveStorageClass;

export interface LifecyclePolicy {
  services: ServiceRetention[];
  transitions?: { infrequentAccessDays?: number; archiveDays?: number; archiveStorageClass?: ArchiveStorageClass };
  /** Noncurrent version expiry, keeping `keep` newer noncurrent versions regardless of age. */
  noncurrentVersions: { days: number; keep?: number };
  abortIncompleteMultipartDays: number;
}

export interface LifecycleRule {
  id: string;
  /** Absent: the whole bucket. */
  prefix?: string;
  expirationDays?: number;
  expiredObjectDeleteMarker?: boolean;
  transitions: { days: number; storageClass: TransitionStorageClass }[];
  noncurrentExpiration?: { days: number; newerNoncurrentVersions?: number };
  abortIncompleteMultipartDays?: number;
}

export const NONCURRENT_RULE_ID = "noncurrent-versions";
export const DELETE_MARKER_RULE_ID = "expired-delete-markers";
/** S3 refuses a STANDARD_IA transition earlier than 30 days after upload. */
const INFREQUENT_ACCESS_MIN_DAYS = 30;
/** S3's limit for NewerNoncurrentVersions. */
const MAX_NEWER_NONCURRENT_VERSIONS = 100;
const DEFAULT_ARCHIVE_CLASS: ArchiveStorageClass = "GLACIER";

/** The sets a service declares, with their days, in BACKUP_SETS order. */
function serviceSets(service: ServiceRetention): { set: BackupSet; days: number }[] {
  return BACKUP_SETS.flatMap((set) => {
    const days = service.days[set];
    return days === undefined ? [] : [{ set, days }];
  });
}

/** The transitions a set keeps: only those that happen before it expires (S3 requires Expiration after Transition). */
function transitionsFor(policy: LifecyclePolicy, expirationDays: number): LifecycleRule["transitions"] {
  const t = policy.transitions ?? {};
  const all: LifecycleRule["transitions"] = [];
  if (t.infrequentAccessDays !== undefined) all.push({ days: t.infrequentAccessDays, storageClass: "STANDARD_IA" });
  if (t.archiveDays !== undefined)
    all.push({ days: t.archiveDays, storageClass: t.archiveStorageClass ?? DEFAULT_ARCHIVE_CLASS });
  return all.filter((x) => x.days < expirationDays);
}

/**
 * One expiry rule per backup set, then one rule for noncurrent versions and incomplete multipart uploads,
 * then the expired-delete-marker cleanup in a rule of its own: S3 refuses ExpiredObjectDeleteMarker next to
 * Days in one Expiration.
 */
export function lifecycleRules(policy: LifecyclePolicy): LifecycleRule[] {
  const expiries = policy.services.flatMap((service) =>
    ["", ...(service.epochFolders ?? [])].flatMap((folder) =>
      serviceSets(service).map(({ set, days }) => ({
        id: `${service.prefix}${folder}${set}/`,
        prefix: `${service.prefix}${folder}${set}/`,
        expirationDays: days,
        transitions: transitionsFor(policy, days),
      })),
    ),
  );
  const { days, keep } = policy.noncurrentVersions;
  return [
    ...expiries,
    {
      id: NONCURRENT_RULE_ID,
      transitions: [],
      noncurrentExpiration: keep === undefined ? { days } : { days, newerNoncurrentVersions: keep },
      abortIncompleteMultipartDays: policy.abortIncompleteMultipartDays,
    },
    { id: DELETE_MARKER_RULE_ID, expiredObjectDeleteMarker: true, transitions: [] },
  ];
}

// ---- renderings ---------------------------------------------------------------------------------

/**
 * The shape of @aws-sdk/client-s3's `LifecycleRule` this model produces (declared here: the SDK is a dev dependency).
 */
export interface S3LifecycleRule {
  ID: string;
  Status: "Enabled";
  Filter: { Prefix: string };
  Expiration?: { Days: number } | { ExpiredObjectDeleteMarker: true };
  Transitions?: { Days: number; StorageClass: TransitionStorageClass }[];
  NoncurrentVersionExpiration?: { NoncurrentDays: number; NewerNoncurrentVersions?: number };
  AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
}

function expirationOf(rule: LifecycleRule): S3LifecycleRule["Expiration"] {
  if (rule.expirationDays !== undefined) return { Days: rule.expirationDays };
  if (rule.expiredObjectDeleteMarker) return { ExpiredObjectDeleteMarker: true };
  return undefined;
}

function noncurrentOf(rule: LifecycleRule): S3LifecycleRule["NoncurrentVersionExpiration"] {
  const n = rule.noncurrentExpiration;
  if (!n) return undefined;
  return n.newerNoncurrentVersions === undefined
    ? { NoncurrentDays: n.days }
    : { NoncurrentDays: n.days, NewerNoncurrentVersions: n.newerNoncurrentVersions };
}

/** Drops the keys whose value is undefined, so the rendered JSON and SDK requests carry no empty elements. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function toS3Rule(rule: LifecycleRule): S3LifecycleRule {
  return compact<S3LifecycleRule>({
    ID: rule.id,
    Status: "Enabled",
    Filter: { Prefix: rule.prefix ?? "" },
    Expiration: expirationOf(rule),
    Transitions: rule.transitions.length
      ? rule.transitions.map((t) => ({ Days: t.days, StorageClass: t.storageClass }))
      : undefined,
    NoncurrentVersionExpiration: noncurrentOf(rule),
    AbortIncompleteMultipartUpload:
      rule.abortIncompleteMultipartDays === undefined
        ? undefined
        : { DaysAfterInitiation: rule.abortIncompleteMultipartDays },
  });
}

/** The `LifecycleConfiguration` of @aws-sdk/client-s3's PutBucketLifecycleConfigurationCommand. */
export function toS3LifecycleConfiguration(rules: LifecycleRule[]): { Rules: S3LifecycleRule[] } {
  return { Rules: rules.map(toS3Rule) };
}

/**
 * JSON for `mc ilm import` (minio-go's lifecycle.Configuration). Two things are left out on purpose:
 * - transitions: MinIO transitions only to remote tiers configured with `mc ilm tier add`, and its JSON
 *   has one Transition per rule; a bucket without tiers refuses the whole configuration;
 * - AbortIncompleteMultipartUpload: MinIO's lifecycle parser has no such element and drops it on import
 *   (the server expires stale multipart uploads itself, `api stale_uploads_expiry`, 24h by default).
 * Whole-bucket rules carry no Filter, as minio-go writes them (it omits an empty prefix), so the JSON is
 * exactly what `mc ilm export` gives back.
 */
export function toMinioIlmJson(rules: LifecycleRule[]): string {
  const minioRules = rules.map((rule) => {
    const { Transitions: _t, AbortIncompleteMultipartUpload: _a, Filter, ...rest } = toS3Rule(rule);
    return Filter.Prefix ? { ...rest, Filter } : rest;
  });
  return JSON.stringify({ Rules: minioRules });
}

// ---- validation ---------------------------------------------------------------------------------

const PREFIX_PATTERN = /^(?:[A-Za-z0-9._-]+\/)*$/;

const isPositiveInteger = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n > 0;

function checkDays(value: unknown, path: string, errors: string[], optional = false): value is number {
  if (optional && value === undefined) return false;
  if (isPositiveInteger(value)) return true;
  errors.push(`${path}: ${describeValue(value)} must be a positive whole number of days`);
  return false;
}

function validatePrefixes(services: ServiceRetention[], path: string, errors: string[]): void {
  services.forEach((s, i) => {
    if (typeof s.prefix !== "string" || !PREFIX_PATTERN.test(s.prefix)) {
      errors.push(
        `${path}.services[${i}].prefix: ${describeValue(s.prefix)} must be "" or folder names (letters, digits, ` +
          `'.', '_', '-') each ending in '/'`,
      );
    }
    (s.epochFolders ?? []).forEach((f, j) => {
      if (typeof f !== "string" || !/^epoch-[1-9][0-9]*\/$/.test(f))
        errors.push(`${path}.services[${i}].epochFolders[${j}]: ${describeValue(f)} must look like "epoch-2/"`);
    });
  });
  for (let i = 0; i < services.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [services[i].prefix, services[j].prefix];
      if (typeof a !== "string" || typeof b !== "string") continue;
      if (a === b)
        errors.push(
          `${path}.services[${i}].prefix: ${describeValue(a)} duplicates services[${j}].prefix; ` +
            `each service needs its own prefix`,
        );
      else if (a.startsWith(b) || b.startsWith(a))
        errors.push(
          `${path}.services[${i}].prefix: ${describeValue(a)} overlaps services[${j}].prefix ${describeValue(b)}; ` +
            `one service's rules would expire the other's objects`,
        );
    }
  }
}

function validateServiceDays(service: ServiceRetention, path: string, errors: string[]): void {
  const d = service.days ?? ({} as ServiceRetention["days"]);
  const base = checkDays(d.base, `${path}.days.base`, errors);
  checkDays(d.logical, `${path}.days.logical`, errors);
  const wal = checkDays(d.wal, `${path}.days.wal`, errors);
  checkDays(d.valkey, `${path}.days.valkey`, errors, true);
  checkDays(d.config, `${path}.days.config`, errors, true);
  // Lifecycle counts from upload, and the WAL segment a base backup starts in is uploaded before the
  // backup finishes: keeping WAL only as long as base backups breaks PITR from the oldest one.
  if (base && wal && d.wal <= d.base) {
    errors.push(
      `${path}.days.wal: ${d.wal} must be greater than days.base (${d.base}): PITR from the oldest base backup ` +
        `needs the WAL uploaded before it finished`,
    );
  }
}

/** The set that expires first, with its field path relative to the policy; undefined when none is valid. */
export function shortestExpiry(policy: LifecyclePolicy): { days: number; field: string } | undefined {
  if (!Array.isArray(policy.services)) return undefined;
  const all = policy.services.flatMap((s, i) =>
    serviceSets(s).map(({ set, days }) => ({ days, field: `services[${i}].days.${set}` })),
  );
  return all.filter((x) => isPositiveInteger(x.days)).sort((a, b) => a.days - b.days)[0];
}

function longestExpiry(policy: LifecyclePolicy): number | undefined {
  if (!Array.isArray(policy.services)) return undefined;
  const days = policy.services.flatMap((s) => serviceSets(s).map((x) => x.days)).filter(isPositiveInteger);
  return days.length ? Math.max(...days) : undefined;
}

/**
 * The transition rules alone ("path.transitions.field: value rule"): what a stack's s3 store config is checked against.
 */
export function transitionProblems(policy: LifecyclePolicy, path: string): string[] {
  const errors: string[] = [];
  validateTransitions(policy, path, errors);
  return errors;
}

function validateTransitions(policy: LifecyclePolicy, path: string, errors: string[]): void {
  const t = policy.transitions;
  if (!t) return;
  const ia = checkDays(t.infrequentAccessDays, `${path}.transitions.infrequentAccessDays`, errors, true);
  const archive = checkDays(t.archiveDays, `${path}.transitions.archiveDays`, errors, true);
  if (ia && t.infrequentAccessDays! < INFREQUENT_ACCESS_MIN_DAYS) {
    errors.push(
      `${path}.transitions.infrequentAccessDays: ${t.infrequentAccessDays} ` +
        `must be at least ${INFREQUENT_ACCESS_MIN_DAYS} (the S3 minimum for STANDARD_IA)`,
    );
  }
  if (ia && archive && t.archiveDays! <= t.infrequentAccessDays!) {
    errors.push(
      `${path}.transitions.archiveDays: ${t.archiveDays} must be later than infrequentAccessDays ` +
        `(${t.infrequentAccessDays})`,
    );
  }
  if (
    t.archiveStorageClass !== undefined &&
    !["GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"].includes(t.archiveStorageClass)
  ) {
    errors.push(
      `${path}.transitions.archiveStorageClass: ${describeValue(t.archiveStorageClass)} must be GLACIER, ` +
        `DEEP_ARCHIVE or GLACIER_IR`,
    );
  }
  const longest = longestExpiry(policy);
  if (longest === undefined) return;
  for (const [field, ok] of [
    ["infrequentAccessDays", ia],
    ["archiveDays", archive],
  ] as const) {
    const day = t[field]!;
    if (ok && day >= longest)
      errors.push(
        `${path}.transitions.${field}: ${day} is not before the expiry of any backup set (the longest ` +
          `is ${longest} days); retention is shorter than the transition`,
      );
  }
}

function validateNoncurrent(policy: LifecyclePolicy, path: string, errors: string[]): void {
  const n = policy.noncurrentVersions ?? ({} as LifecyclePolicy["noncurrentVersions"]);
  checkDays(n.days, `${path}.noncurrentVersions.days`, errors);
  if (n.keep !== undefined && !(isPositiveInteger(n.keep) && n.keep <= MAX_NEWER_NONCURRENT_VERSIONS)) {
    errors.push(
      `${path}.noncurrentVersions.keep: ${describeValue(n.keep)} must be a whole number from 1 ` +
        `to ${MAX_NEWER_NONCURRENT_VERSIONS}`,
    );
  }
  checkDays(policy.abortIncompleteMultipartDays, `${path}.abortIncompleteMultipartDays`, errors);
}

/** Every problem with a policy, each as "path.field: value rule"; empty when the policy is valid. */
export function validateLifecyclePolicy(policy: LifecyclePolicy, path: string): string[] {
  const errors: string[] = [];
  if (!Array.isArray(policy.services) || policy.services.length === 0) {
    errors.push(`${path}.services: ${describeValue(policy.services)} must list at least one service`);
  } else {
    validatePrefixes(policy.services, path, errors);
    policy.services.forEach((s, i) => validateServiceDays(s, `${path}.services[${i}]`, errors));
  }
  validateTransitions(policy, path, errors);
  validateNoncurrent(policy, path, errors);
  return errors;
}
