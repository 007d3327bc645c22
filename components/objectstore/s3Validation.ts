import { describeValue } from "../plan/errors";
import { BACKUP_SETS, shortestExpiry, validateLifecyclePolicy, type LifecyclePolicy } from "./lifecycle";
import { OBJECT_LOCK_MODES, REPLICA_STORAGE_CLASSES, type S3BackupBucketArgs } from "./s3BucketArgs";

const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key\/[A-Za-z0-9-]+$/;
const RESERVED_PREFIXES = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/** The rules of general-purpose S3 bucket names that `name` breaks. */
function bucketNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (name.length < 3 || name.length > 63) problems.push(`must be 3 to 63 characters long (it has ${name.length})`);
  if (!/^[a-z0-9.-]*$/.test(name)) problems.push("may contain only lowercase letters, digits, '.' and '-'");
  else if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name))
    problems.push("must begin and end with a lowercase letter or digit");
  if (name.includes("..")) problems.push("must not contain two adjacent periods");
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(name)) problems.push("must not be formatted as an IP address");
  for (const p of RESERVED_PREFIXES)
    if (name.startsWith(p)) problems.push(`must not begin with the reserved prefix ${p}`);
  for (const s of RESERVED_SUFFIXES) if (name.endsWith(s)) problems.push(`must not end with the reserved suffix ${s}`);
  return problems;
}

function validateBucketName(value: unknown, path: string, errors: string[]): void {
  if (typeof value !== "string") {
    errors.push(`${path}: ${describeValue(value)} must be a bucket name (a string)`);
    return;
  }
  for (const problem of bucketNameProblems(value)) errors.push(`${path}: ${describeValue(value)} ${problem}`);
}

function validateRegion(value: unknown, path: string, errors: string[]): boolean {
  if (typeof value === "string" && REGION_PATTERN.test(value)) return true;
  errors.push(`${path}: ${describeValue(value)} must be an AWS region name such as us-east-1`);
  return false;
}

/** Why a KMS key given as text cannot encrypt a bucket in `region` (a key ARN in that region), or undefined. */
export function kmsKeyProblem(value: string, region: string): string | undefined {
  const match = KMS_KEY_ARN.exec(value);
  if (!match) return `${describeValue(value)} must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`;
  if (match[1] !== region)
    return `${describeValue(value)} is in ${match[1]}; S3 needs the key in the bucket's region ${region}`;
  return undefined;
}

/** A KMS key given as a plain string must be a key ARN in the bucket's region; outputs are checked by AWS. */
function validateKmsKey(value: unknown, region: string, path: string, errors: string[]): void {
  const problem = typeof value === "string" ? kmsKeyProblem(value, region) : undefined;
  if (problem) errors.push(`${path}: ${problem}`);
}

const isPositiveInteger = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n > 0;

/** The replica's bucket name when none is given: the source's name with the replica region appended. */
export const defaultReplicaBucketName = (bucketName: string, region: string) => `${bucketName}-${region}`;

/**
 * The replica's own lifecycle: S3 does not replicate deletions made by lifecycle rules, so the replica
 * expires its copies itself, every set after `expireDays` and WAL one day later so that PITR from the
 * oldest replicated base backup keeps working there too.
 */
export function replicaLifecyclePolicy(policy: LifecyclePolicy, expireDays: number): LifecyclePolicy {
  return {
    services: policy.services.map((s) => ({
      prefix: s.prefix,
      ...(s.epochFolders ? { epochFolders: s.epochFolders } : {}),
      days: Object.fromEntries(
        BACKUP_SETS.filter((set) => s.days[set] !== undefined).map((set) => [
          set,
          set === "wal" ? expireDays + 1 : expireDays,
        ]),
      ) as LifecyclePolicy["services"][number]["days"],
    })),
    noncurrentVersions: policy.noncurrentVersions,
    abortIncompleteMultipartDays: policy.abortIncompleteMultipartDays,
  };
}

function validateObjectLock(args: S3BackupBucketArgs, errors: string[]): void {
  const lock = args.objectLock;
  if (!lock) return;
  if (!OBJECT_LOCK_MODES.includes(lock.mode))
    errors.push(`objectLock.mode: ${describeValue(lock.mode)} must be GOVERNANCE or COMPLIANCE`);
  if (!isPositiveInteger(lock.days)) {
    errors.push(`objectLock.days: ${describeValue(lock.days)} must be a positive whole number of days`);
    return;
  }
  const shortest = shortestExpiry(args.lifecycle);
  if (shortest && lock.days > shortest.days) {
    errors.push(
      `objectLock.days: ${lock.days} is longer than the shortest expiry (lifecycle.${shortest.field} ` +
        `= ${shortest.days}); the lock would keep objects past their retention`,
    );
  }
  const replicaDays = args.replication?.expireDays;
  if (isPositiveInteger(replicaDays) && lock.days > replicaDays) {
    errors.push(
      `objectLock.days: ${lock.days} is longer than replication.expireDays (${replicaDays}); replicas keep the ` +
        `lock and would outlive their retention`,
    );
  }
}

function validateReplication(args: S3BackupBucketArgs, errors: string[]): void {
  const r = args.replication;
  if (!r) return;
  if (validateRegion(r.region, "replication.region", errors)) {
    if (r.region === args.region)
      errors.push(
        `replication.region: ${describeValue(r.region)} equals region; cross-region replication needs a different ` +
          `region`,
      );
    validateKmsKey(r.kmsKeyArn, r.region, "replication.kmsKeyArn", errors);
  }
  const name =
    r.bucketName ??
    (typeof args.bucketName === "string" ? defaultReplicaBucketName(args.bucketName, r.region) : undefined);
  validateBucketName(
    name,
    r.bucketName === undefined ? "replication.bucketName (derived)" : "replication.bucketName",
    errors,
  );
  if (name === args.bucketName)
    errors.push(`replication.bucketName: ${describeValue(name)} equals bucketName; the replica needs its own bucket`);
  // The replica's policy is derived from lifecycle and expireDays, so it is valid when they are.
  if (!isPositiveInteger(r.expireDays))
    errors.push(`replication.expireDays: ${describeValue(r.expireDays)} must be a positive whole number of days`);
  if (r.storageClass !== undefined && !REPLICA_STORAGE_CLASSES.includes(r.storageClass)) {
    errors.push(
      `replication.storageClass: ${describeValue(r.storageClass)} must be one of ${REPLICA_STORAGE_CLASSES.join(", ")}`,
    );
  }
}

/** Every problem with the component's arguments, each as "field: value rule"; empty when they are valid. */
export function validateS3BackupBucketArgs(args: S3BackupBucketArgs): string[] {
  const errors: string[] = [];
  validateBucketName(args.bucketName, "bucketName", errors);
  if (validateRegion(args.region, "region", errors)) validateKmsKey(args.kmsKeyArn, args.region, "kmsKeyArn", errors);
  if (!args.lifecycle) errors.push(`lifecycle: (missing) is required`);
  else errors.push(...validateLifecyclePolicy(args.lifecycle, "lifecycle"));
  if (args.lifecycle) validateObjectLock(args, errors);
  validateReplication(args, errors);
  return errors;
}
