import { describeValue } from "../plan/errors";
import type { ContainerResources, PostgresClusterArgs } from "./args";
import { cronProblem } from "./cron";
import { GIB, isDns1123Label, isDns1123Subdomain, parseQuantity } from "./formats";
import { MAX_CLUSTER_NAME_LENGTH, STATEFULSET_NAME_LIMIT } from "./names";
import { mcKeyProblem } from "../objectstore/mcHost";
import { postgresVersionProblem } from "../plan/postgresVersion";
import { LONGEST_OBJECTIVE_SECONDS } from "../plan/duration";
import { PEM_CERTIFICATES, pemCertificatesRule } from "../plan/schema";
import { replicationTlsProblems } from "../plan/replicationTls";
import { clusterNames } from "./names";

/** Every problem with a PostgresCluster's arguments, one "field: value rule" line each. */
export class ClusterArgsError extends Error {
  constructor(
    readonly component: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid arguments for PostgresCluster "${component}":\n${problems.join("\n")}`);
    this.name = "ClusterArgsError";
  }
}

/** Same rule as database names in the stack config: safe unquoted in SQL, shell and paths. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,39}$/;
const BACKUP_ID = /^[0-9]{8}T[0-9]{6}Z$/;
const ISO_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$/;
const DNS_LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit";

/** Collects problems in argument order, each as "field: value rule". */
class Problems {
  readonly lines: string[] = [];
  add(field: string, value: unknown, rule: string): void {
    this.lines.push(`${field}: ${describeValue(value)} ${rule}`);
  }
  /** For a secret: the line never shows the value. */
  addSecret(field: string, rule: string): void {
    this.lines.push(`${field}: (secret) ${rule}`);
  }
}

const isWhole = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

function integerIn(p: Problems, field: string, value: unknown, min: number, max?: number): void {
  if (!isWhole(value)) p.add(field, value, "must be a whole number");
  else if (value < min) p.add(field, value, `must be at least ${min}`);
  else if (max !== undefined && value > max) p.add(field, value, `must be at most ${max}`);
}

function quantity(
  p: Problems,
  field: string,
  value: unknown,
  example: string,
  minimum?: { bytes: number; text: string },
): number | undefined {
  const parsed = typeof value === "string" ? parseQuantity(value) : undefined;
  if (parsed === undefined) p.add(field, value, `must be a quantity such as "${example}"`);
  else if (minimum && parsed < minimum.bytes) p.add(field, value, `must be at least ${minimum.text}`);
  return parsed;
}

function storageClass(p: Problems, field: string, value: unknown): void {
  // An output of another resource is passed through unchecked.
  if (typeof value === "string" && !isDns1123Subdomain(value))
    p.add(field, value, `must be a StorageClass name: ${DNS_LABEL_RULE}, dot-separated`);
}

function checkName(p: Problems, name: unknown): void {
  if (typeof name !== "string" || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    p.add("name", name, `must be a DNS-1123 label starting with a letter: ${DNS_LABEL_RULE}`);
  } else if (name.length > MAX_CLUSTER_NAME_LENGTH) {
    p.add(
      "name",
      name,
      `must be at most ${MAX_CLUSTER_NAME_LENGTH} characters, so that "${name}-standby" fits the StatefulSet ` +
        `limit of ${STATEFULSET_NAME_LIMIT}`,
    );
  }
}

function checkImage(p: Problems, image: unknown, version: unknown): void {
  if (image === undefined || typeof image !== "string") return;
  if (!/^[^\s]+$/.test(image)) {
    p.add("image", image, "must be an image reference without spaces");
    return;
  }
  const tagged = /^(?:.*\/)?postgres:([0-9]+)(?:[.-].*)?$/.exec(image);
  if (tagged && isWhole(version) && Number(tagged[1]) !== version)
    p.add("image", image, `is PostgreSQL ${tagged[1]} but postgresVersion is ${version}`);
}

function checkDatabases(p: Problems, databases: unknown): void {
  if (!Array.isArray(databases) || databases.length === 0) {
    p.add("databases", databases, "must list at least one database");
    return;
  }
  const seen = new Set<string>();
  databases.forEach((db: unknown, i) => {
    const field = `databases[${i}]`;
    if (typeof db !== "string" || !DATABASE_NAME.test(db))
      p.add(
        field,
        db,
        "must be a database name: lowercase letters, digits and '_', not starting with a digit, at most 40 characters",
      );
    else if (db === "template0" || db === "template1")
      p.add(field, db, "is a PostgreSQL template database, not one of yours");
    else if (seen.has(db)) p.add(field, db, "is listed twice");
    else seen.add(db);
  });
}

function checkResources(p: Problems, resources: ContainerResources | undefined): void {
  if (resources === undefined) return;
  for (const kind of ["cpu", "memory"] as const) {
    const example = kind === "cpu" ? "500m" : "1Gi";
    const request = resources.requests?.[kind];
    const limit = resources.limits?.[kind];
    const r = request === undefined ? undefined : quantity(p, `resources.requests.${kind}`, request, example);
    const l = limit === undefined ? undefined : quantity(p, `resources.limits.${kind}`, limit, example);
    if (r !== undefined && l !== undefined && l < r)
      p.add(
        `resources.limits.${kind}`,
        limit,
        `must be at least resources.requests.${kind} (${describeValue(request)})`,
      );
  }
}

function checkRestore(p: Problems, restore: PostgresClusterArgs["restore"]): void {
  if (restore === undefined) return;
  const { fromBackup, targetTime } = restore;
  if (typeof fromBackup !== "string" || (fromBackup !== "latest" && !BACKUP_ID.test(fromBackup))) {
    p.add("restore.fromBackup", fromBackup, 'must be "latest" or a backup id such as "20240115T020000Z"');
  }
  if (targetTime === undefined) return;
  if (typeof targetTime !== "string" || !ISO_TIME.test(targetTime) || Number.isNaN(Date.parse(targetTime))) {
    p.add("restore.targetTime", targetTime, 'must be an ISO 8601 time with a zone, such as "2024-01-15T14:30:00Z"');
  } else if (
    typeof fromBackup === "string" &&
    BACKUP_ID.test(fromBackup) &&
    Date.parse(targetTime) <= backupIdTime(fromBackup)
  ) {
    p.add("restore.targetTime", targetTime, `is not after backup ${fromBackup} started`);
  }
}

/** The same bucket and endpoint rules as the stack config's object stores (components/plan/schema.ts). */
const BUCKET_NAME = /^(?!\d+\.\d+\.\d+\.\d+$)(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ENDPOINT = /^https?:\/\/[A-Za-z0-9.-]+(?::([0-9]{1,5}))?\/?$/;
/** One or more folder names, each ending in '/'; no "." or ".." folders. Safe unquoted in shell and mc URLs. */
const PREFIX = /^(?:(?!\.\.?\/)[A-Za-z0-9._-]+\/)+$/;

function isEndpoint(value: string): boolean {
  const match = ENDPOINT.exec(value);
  if (!match) return false;
  const port = match[1] === undefined ? 443 : Number(match[1]);
  if (port < 1 || port > 65535) return false;
  try {
    return new URL(value).hostname !== "";
  } catch {
    return false;
  }
}

/** Plain keys are checked here; outputs of other resources when their values are known (see mcHostUrl). */
function checkKey(p: Problems, field: string, role: "access" | "secret", value: unknown): void {
  if (value === undefined || value === null || value === "")
    p.add(field, value === "" ? "" : undefined, "must be given");
  else if (typeof value === "string") {
    const problem = mcKeyProblem(role, value);
    if (problem) p.addSecret(field, problem);
  } else if (typeof value !== "object") p.addSecret(field, "must be text or an output of another resource");
}

/**
 * The CA and certificate as PEM; then, as for hosts, a certificate that chains to the CA, is valid, allows a TLS
 * server, matches its key (when the key is plain text here) and names both addresses the pods connect to.
 */
function checkReplicationTls(p: Problems, tls: unknown, name: unknown): void {
  if (tls === undefined) return;
  if (tls === null || typeof tls !== "object" || Array.isArray(tls)) {
    p.add("replicationTls", tls, "must be an object with ca, certificate and key");
    return;
  }
  const { ca, certificate, key } = tls as Record<string, unknown>;
  const before = p.lines.length;
  checkPemCertificates(p, "replicationTls.ca", ca, "the CA that signed the primary's certificate");
  checkPemCertificates(
    p,
    "replicationTls.certificate",
    certificate,
    "the primary's server certificate, then any intermediates",
  );
  if (key === undefined || key === null || key === "")
    p.addSecret("replicationTls.key", "must be the certificate's PEM private key");
  if (p.lines.length > before || typeof name !== "string") return;
  const names = clusterNames(name);
  const found = new Set<string>();
  for (const address of [names.primaryHost, names.readWrite])
    for (const problem of replicationTlsProblems(
      {
        generate: false,
        ca: ca as string,
        certificate: certificate as string,
        key: typeof key === "string" ? key : undefined,
      },
      { at: "replicationTls", primaryAddress: address, remoteStandbys: [], now: new Date() },
    ))
      found.add(problem);
  p.lines.push(...found);
}

function checkOffsite(p: Problems, offsite: unknown): void {
  if (offsite === undefined) return;
  if (offsite === null || typeof offsite !== "object" || Array.isArray(offsite)) {
    p.add("offsite", offsite, "must be an object with endpoint, bucket, accessKey and secretKey");
    return;
  }
  const { endpoint, bucket, prefix, accessKey, secretKey, mcImage, caCertificate } = offsite as Record<string, unknown>;
  if (typeof endpoint !== "string" || !isEndpoint(endpoint))
    p.add(
      "offsite.endpoint",
      endpoint,
      'must be an http(s) URL of a host and optional port, such as "https://minio.example.com:9000"',
    );
  if (typeof bucket !== "string" || !BUCKET_NAME.test(bucket) || bucket.includes("..")) {
    p.add(
      "offsite.bucket",
      bucket,
      "must be a bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or " +
        "digit, without '..', not an IP address",
    );
  }
  if (prefix !== undefined && (typeof prefix !== "string" || !PREFIX.test(prefix) || prefix.length > 256)) {
    p.add(
      "offsite.prefix",
      prefix,
      `must be folder names of letters, digits, '.', '_' and '-', each ending in '/', such as "billing/" ` +
        `(at most 256 characters)`,
    );
  }
  checkKey(p, "offsite.accessKey", "access", accessKey);
  checkKey(p, "offsite.secretKey", "secret", secretKey);
  checkCaCertificate(p, caCertificate, endpoint);
  if (mcImage !== undefined && (typeof mcImage !== "string" || !/^[^\s]+$/.test(mcImage)))
    p.add("offsite.mcImage", mcImage, "must be an image reference without spaces");
}

/** PEM certificates (`what` says which); false when they are not, and a pasted private key is never shown. */
function checkPemCertificates(p: Problems, field: string, value: unknown, what: string): boolean {
  const rule = pemCertificatesRule(what);
  if (typeof value === "string" && value.includes("PRIVATE KEY")) p.addSecret(field, rule);
  else if (typeof value !== "string" || !PEM_CERTIFICATES.test(value)) p.add(field, value, rule);
  else return true;
  return false;
}

/** The store's CA: PEM certificates for an https endpoint. */
function checkCaCertificate(p: Problems, ca: unknown, endpoint: unknown): void {
  if (ca === undefined) return;
  if (!checkPemCertificates(p, "offsite.caCertificate", ca, "the CA that signed the store's certificate")) return;
  if (typeof endpoint === "string" && endpoint.startsWith("http://"))
    p.lines.push(`offsite.caCertificate: is only for an https:// endpoint; ${endpoint} is plain http`);
}

function checkMonitoring(p: Problems, monitoring: unknown): void {
  if (monitoring === undefined) return;
  if (monitoring === null || typeof monitoring !== "object" || Array.isArray(monitoring)) {
    p.add("monitoring", monitoring, "must be an object (every field optional)");
    return;
  }
  const m = monitoring as Record<string, unknown>;
  if (m.exporterImage !== undefined && (typeof m.exporterImage !== "string" || !/^[^\s]+$/.test(m.exporterImage)))
    p.add("monitoring.exporterImage", m.exporterImage, "must be an image reference without spaces");
  if (m.runbookBaseUrl !== undefined && (typeof m.runbookBaseUrl !== "string" || !/^[^\s#]+$/.test(m.runbookBaseUrl)))
    p.add("monitoring.runbookBaseUrl", m.runbookBaseUrl, "must be a URL or a path without spaces or '#'");
  const ratio = m.sizeChangeRatio;
  if (ratio !== undefined && !(typeof ratio === "number" && ratio > 0 && ratio <= 10))
    p.add("monitoring.sizeChangeRatio", ratio, "must be a number more than 0 and at most 10");
  if (m.replicationLagBytes !== undefined) integerIn(p, "monitoring.replicationLagBytes", m.replicationLagBytes, 1);
  if (m.prometheusRule !== undefined && typeof m.prometheusRule !== "boolean")
    p.add("monitoring.prometheusRule", m.prometheusRule, "must be true or false");
}

/** Start time (ms since the epoch) of a backup from its id, "YYYYMMDDTHHMMSSZ". */
function backupIdTime(id: string): number {
  const [, y, mo, d, h, mi, s] = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id)!;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
}

/** Every rule the arguments break, in argument order; empty when they are valid. */
export function clusterArgProblems(args: PostgresClusterArgs): string[] {
  const p = new Problems();
  checkName(p, args.name);
  if (typeof args.namespace !== "string" || !isDns1123Label(args.namespace)) {
    p.add("namespace", args.namespace, `must be a DNS-1123 label: ${DNS_LABEL_RULE}, at most 63 characters`);
  }
  if (args.postgresVersion !== undefined) {
    const version = args.postgresVersion;
    const problem = typeof version === "number" ? postgresVersionProblem(version) : "must be a whole number";
    if (problem) p.add("postgresVersion", version, problem);
  }
  checkImage(p, args.image, args.postgresVersion ?? 15);
  checkDatabases(p, args.databases);
  integerIn(p, "rpoSeconds", args.rpoSeconds, 1, LONGEST_OBJECTIVE_SECONDS);
  if (args.rtoSeconds !== undefined) integerIn(p, "rtoSeconds", args.rtoSeconds, 60, LONGEST_OBJECTIVE_SECONDS);
  if (args.standbys !== undefined) integerIn(p, "standbys", args.standbys, 0, 8);
  if (args.synchronous !== undefined && typeof args.synchronous !== "boolean")
    p.add("synchronous", args.synchronous, "must be true or false");
  if (args.synchronous === true && !(isWhole(args.standbys) && args.standbys >= 1))
    p.add("synchronous", true, "needs at least 1 standby");
  if (args.awaitReady !== undefined && typeof args.awaitReady !== "boolean")
    p.add("awaitReady", args.awaitReady, "must be true or false");
  quantity(p, "storage.size", args.storage?.size, "10Gi", { bytes: GIB, text: "1Gi" });
  storageClass(p, "storage.storageClassName", args.storage?.storageClassName);
  quantity(p, "backupStorage.size", args.backupStorage?.size, "50Gi", { bytes: GIB, text: "1Gi" });
  storageClass(p, "backupStorage.storageClassName", args.backupStorage?.storageClassName);
  const mode = args.backupStorage?.accessMode;
  if (mode !== undefined && mode !== "ReadWriteOnce" && mode !== "ReadWriteMany")
    p.add("backupStorage.accessMode", mode, 'must be "ReadWriteOnce" or "ReadWriteMany"');
  for (const job of ["backup", "verify"] as const) {
    const schedule = args.schedule?.[job];
    if (schedule === undefined) continue;
    const problem = typeof schedule === "string" ? cronProblem(schedule) : "it is not text";
    if (problem) p.add(`schedule.${job}`, schedule, `must be a 5-field cron expression (${problem})`);
  }
  if (args.retention?.backups !== undefined) integerIn(p, "retention.backups", args.retention.backups, 1, 1000);
  checkResources(p, args.resources);
  checkRestore(p, args.restore);
  checkOffsite(p, args.offsite);
  checkMonitoring(p, args.monitoring);
  checkReplicationTls(p, args.replicationTls, args.name);
  return p.lines;
}
