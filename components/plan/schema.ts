import { isIP } from "node:net";
import { z } from "zod";
import { calendarProblem } from "./calendar";
import { formatDuration, LONGEST_OBJECTIVE_SECONDS, parseDuration } from "./duration";
import { SIZE } from "./size";
import { postgresVersionProblem } from "./postgresVersion";
import { parseSshHostKey } from "./sshHostKey";

/** Names that become parts of unit names, paths and shell words. */
const SAFE_NAME = /^[a-z][a-z0-9-]{0,39}$/;
/** Identifiers that end up unquoted in SQL and in file names. */
const SAFE_IDENTIFIER = /^[a-z_][a-z0-9_]{0,39}$/;
/** Absolute paths made of characters that need no quoting anywhere. */
const SAFE_ABSOLUTE_PATH = /^\/[A-Za-z0-9._@+-]+(\/[A-Za-z0-9._@+-]+)*\/?$|^\/$/;
const SAFE_RELATIVE_PATH = /^[A-Za-z0-9._@+-]+(\/[A-Za-z0-9._@+-]+)*\/?$/;
/** systemd calendar expressions: the characters they may contain (full parsing is systemd's job). */
const CALENDAR_CHARS = /^[A-Za-z0-9 *,./:~-]+$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[?[0-9a-fA-F:]+\]?$/;

const name = (what: string) =>
  z.string({ error: `must be a ${what} (text)` }).regex(SAFE_NAME, {
    error: `must be a ${what}: lowercase letters, digits and '-', starting with a letter, at most 40 characters`,
  });

const identifier = (what: string) =>
  z.string({ error: `must be a ${what} (text)` }).regex(SAFE_IDENTIFIER, {
    error: `must be a ${what}: lowercase letters, digits and '_', not starting with a digit, at most 40 characters`,
  });

const noDotSegments = (p: string) => !p.split("/").some((s) => s === "." || s === "..");

const absolutePath = z
  .string({ error: "must be an absolute path (text)" })
  .regex(SAFE_ABSOLUTE_PATH, {
    error: "must be an absolute path of letters, digits and . _ @ + - (no spaces, quotes or shell characters)",
  })
  .refine(noDotSegments, { error: "must not contain '.' or '..' segments" });

const rootPrefix = z
  .string({ error: "must be a path (text)" })
  .refine((p) => SAFE_ABSOLUTE_PATH.test(p) || SAFE_RELATIVE_PATH.test(p), {
    error: "must be a path of letters, digits and . _ @ + - (no spaces, quotes or shell characters)",
  })
  .refine((p) => p.split("/").every((s) => s !== ".."), { error: "must not contain '..' segments" });

const duration = (min: number, minText: string, maxSeconds?: number) =>
  z
    .union([z.string(), z.number()], { error: 'must be a duration such as "30s", "5m", "1h" or "7d"' })
    .refine((v) => parseDuration(v) !== undefined, {
      error: 'must be a duration such as "30s", "5m", "1h" or "7d"',
    })
    .refine((v) => (parseDuration(v) ?? 0) >= min, { error: `must be at least ${minText}` })
    .refine((v) => maxSeconds === undefined || (parseDuration(v) ?? 0) <= maxSeconds, {
      error: `must be at most ${formatDuration(maxSeconds ?? 0)}`,
    });

/** A check whose problem function (undefined: fine) names the rule a value breaks. */
const ruleOf =
  <T>(problemOf: (value: T) => string | undefined) =>
  (value: T, ctx: z.RefinementCtx) => {
    const problem = problemOf(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  };

const size = z
  .string({ error: 'must be a size such as "512MB" or "4GB"' })
  .regex(SIZE, { error: 'must be a size such as "512MB", "4GB" or "1TB"' });

const calendar = z
  .string({ error: "must be a systemd OnCalendar expression (text)" })
  .regex(CALENDAR_CHARS, { error: 'must be a systemd OnCalendar expression, e.g. "*-*-* 02:00:00"' })
  .superRefine(ruleOf(calendarProblem));

const count = (min: number, max: number) =>
  z
    .number({ error: "must be a whole number" })
    .int({ error: "must be a whole number" })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

/** `plain` as given, or a Pulumi secret in the YAML file ({secure: ...}), which the engine decrypts. */
const secretOr = (plain: z.ZodString, error = "must be text or a Pulumi secret") =>
  z.union([plain, z.strictObject({ secure: z.string() })], { error });
/** A value that may be a Pulumi secret in the YAML file ({secure: ...}) or already decrypted. */
const secretString = secretOr(z.string());
/** An object-store key: one line of printable characters, written into credential files and mc's environment. */
const storeKey = secretOr(
  z
    .string()
    .min(1, { error: "must not be empty" })
    .regex(/^[\x21-\x7e]+$/, { error: "must be one line of printable characters, without spaces" }),
);

const localConnectionSchema = z.strictObject({
  type: z.literal("local"),
  rootPrefix: rootPrefix.optional(),
});

/** Parsed once, here: the plan receives the key as the command provider takes it ("<type> <base64>"). */
const sshHostKey = z.string().transform((text, ctx) => {
  const parsed = parseSshHostKey(text);
  if ("key" in parsed) return parsed.key;
  ctx.addIssue({ code: "custom", message: parsed.problem });
  return z.NEVER;
});

const sshConnectionSchema = z
  .strictObject({
    type: z.literal("ssh"),
    host: z.string().regex(HOSTNAME, { error: "must be a host name or IP address" }),
    port: count(1, 65535).default(22),
    user: name("user name").default("root"),
    privateKey: secretString.optional(),
    /** The host's public key: the connection is refused before anything is sent when the host shows another. */
    hostKey: sshHostKey.optional(),
    /** No host key check at all: whoever answers at the address receives the commands and their secrets. */
    acceptAnyHostKey: z.boolean().default(false),
    /** A sandbox on the remote host: every host path lives under this absolute directory there. */
    rootPrefix: absolutePath.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.hostKey === undefined && !c.acceptAnyHostKey)
      ctx.addIssue({
        code: "custom",
        path: ["hostKey"],
        message:
          "is required for an SSH host: its public key (the line of /etc/ssh/ssh_host_ed25519_key.pub, taken " +
          "from the host over a channel you trust), so that a machine answering in its place is refused before " +
          "it receives anything; acceptAnyHostKey: true turns the check off",
      });
    if (c.hostKey !== undefined && c.acceptAnyHostKey)
      ctx.addIssue({
        code: "custom",
        path: ["acceptAnyHostKey"],
        message: "cannot be true when hostKey pins the host's key: remove one of them",
      });
  });

const hostSchema = z.strictObject({
  connection: z.discriminatedUnion("type", [localConnectionSchema, sshConnectionSchema], {
    error: 'must say how to reach the host: type "local" or "ssh"',
  }),
});

const managerSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({
      type: z.literal("systemd"),
      unit: z
        .string()
        .regex(/^[A-Za-z0-9@._-]+\.service$/, { error: "must be a systemd service unit name ending in .service" })
        .optional(),
    }),
    z.strictObject({ type: z.literal("pg_ctl"), logFile: absolutePath.optional() }),
  ],
  { error: 'must be how PostgreSQL is started and stopped: type "systemd" or "pg_ctl"' },
);

const postgresSchema = z.strictObject({
  version: z.number({ error: "must be a whole number" }).superRefine(ruleOf(postgresVersionProblem)).default(15),
  dataDirectory: absolutePath.optional(),
  configDirectory: absolutePath.optional(),
  binDirectory: absolutePath.optional(),
  port: count(1, 65535).default(5432),
  socketDirectory: absolutePath.default("/var/run/postgresql"),
  osUser: name("system user name").default("postgres"),
  role: identifier("database role name").default("postgres"),
  databases: z.array(identifier("database name"), { error: "must be a list of database names" }).min(1, {
    error: "must list at least one database",
  }),
  manager: managerSchema.default({ type: "systemd" }),
  provision: z.boolean({ error: "must be true or false" }).default(false),
});

const scheduleSchema = z.strictObject({
  base: calendar.default("*-*-* 02:00:00"),
  logical: calendar.default("Sun *-*-* 03:00:00"),
  verify: calendar.default("*-*-* 05:00:00"),
  config: calendar.default("*-*-* 02:30:00"),
  randomizedDelay: duration(0, "0s").default("15m"),
});

const retentionSchema = z.strictObject({
  dailyDays: count(1, 3650).default(7),
  weeklyWeeks: count(0, 520).default(12),
  longTermMonths: count(0, 1200).default(0),
  offsiteDays: count(1, 36500).default(30),
});

const pathsSchema = z.strictObject({
  backupRoot: absolutePath.optional(),
  scripts: absolutePath.optional(),
  units: absolutePath.default("/etc/systemd/system"),
});

const redisManagerSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({
      type: z.literal("systemd"),
      unit: z
        .string()
        .regex(/^[A-Za-z0-9@._-]+\.service$/, { error: "must be a systemd service unit name ending in .service" })
        .default("redis-server.service"),
    }),
    z.strictObject({ type: z.literal("process") }),
  ],
  { error: 'must be how Redis/Valkey is started and stopped: type "systemd" or "process" (a sandbox)' },
);

const savePoint = z.tuple([count(1, 86400 * 7), count(1, 100_000_000)], {
  error: "must be a [seconds, changes] pair, e.g. [900, 1]",
});

export const PEM_CERTIFICATES =
  /^\s*(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/;
/** The rule PEM certificates follow; `what` says which certificates. */
export const pemCertificatesRule = (what: string) =>
  `must be PEM text: one or more -----BEGIN CERTIFICATE----- blocks (${what}, never a private key)`;
/** PEM text of one or more certificates, never a private key. */
const pemCertificates = (what: string) =>
  z
    .string({ error: "must be PEM text (one or more -----BEGIN CERTIFICATE----- blocks)" })
    .regex(PEM_CERTIFICATES, { error: pemCertificatesRule(what) });
/** PEM certificates of the CA that signed a store's TLS certificate: trusted by mc for that store. */
const caCertificate = pemCertificates("the CA that signed the store's certificate");

/** A PEM private key: text (checked here) or a Pulumi secret (checked where it is placed). */
const pemPrivateKey = secretOr(
  z
    .string()
    .regex(/^\s*-----BEGIN ([A-Z]+ )?PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END ([A-Z]+ )?PRIVATE KEY-----\s*$/, {
      error: "must be one PEM private key (-----BEGIN PRIVATE KEY----- ... -----END PRIVATE KEY-----)",
    }),
  "must be a PEM private key (text) or a Pulumi secret",
);

/** How the jobs authenticate to Redis/Valkey: the default user's password, or an ACL user's. */
const redisAuthSchema = z.strictObject({
  user: z
    .string({ error: "must be an ACL user name (text)" })
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: "must be an ACL user name: letters, digits, '_', '.', '-', at most 64" })
    .optional(),
  password: secretOr(
    z
      .string()
      .min(16, { error: "must be at least 16 characters" })
      .regex(/^[\x21-\x7e]+$/, { error: "must be one line of printable characters, without spaces" }),
  ),
});

/**
 * TLS to a Redis/Valkey server that takes only TLS connections (`tls-port`): the jobs' redis-cli verifies the
 * server's certificate chain against `ca` (redis-cli does not check the name in it) and, for a server with
 * `tls-auth-clients yes` (Redis's default), shows the client certificate and key.
 */
const redisTlsSchema = z
  .strictObject({
    ca: pemCertificates("the CA that signed the server's certificate"),
    certificate: pemCertificates("the jobs' client certificate, then any intermediates").optional(),
    key: pemPrivateKey.optional(),
    /** Sent as SNI, for a server behind a proxy that routes by name. */
    serverName: z.string().regex(HOSTNAME, { error: "must be a host name" }).optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.certificate === undefined) !== (t.key === undefined))
      ctx.addIssue({
        code: "custom",
        path: [t.certificate === undefined ? "certificate" : "key"],
        message:
          "must be given with " +
          (t.certificate === undefined ? "key" : "certificate") +
          " (a client certificate and its key go together)",
      });
  });

const redisSchema = z
  .strictObject({
    port: count(1, 65535).default(6379),
    dataDirectory: absolutePath.default("/var/lib/redis"),
    /** The server's main config file; it must `include` the drop-in (drkit checks, and the sandbox writes it). */
    configFile: absolutePath.default("/etc/redis/redis.conf"),
    socket: absolutePath.optional(),
    osUser: name("system user name").default("redis"),
    cli: absolutePath.default("/usr/bin/redis-cli"),
    server: absolutePath.default("/usr/bin/redis-server"),
    manager: redisManagerSchema.default({ type: "systemd", unit: "redis-server.service" }),
    auth: redisAuthSchema.optional(),
    tls: redisTlsSchema.optional(),
    provision: z.boolean({ error: "must be true or false" }).default(false),
    persistence: z
      .strictObject({
        savePoints: z.array(savePoint, { error: "must be a list of [seconds, changes] pairs" }).default([
          [900, 1],
          [300, 10],
          [60, 10000],
        ]),
        appendonly: z.boolean({ error: "must be true or false" }).default(true),
        appendfsync: z
          .enum(["always", "everysec", "no"], { error: 'must be one of "always", "everysec", "no"' })
          .default("everysec"),
        autoAofRewritePercentage: count(0, 10000).default(100),
        autoAofRewriteMinSize: z
          .string()
          .regex(/^[0-9]+(kb|mb|gb)$/, { error: 'must be a size such as "64mb"' })
          .default("64mb"),
      })
      .default({
        savePoints: [
          [900, 1],
          [300, 10],
          [60, 10000],
        ],
        appendonly: true,
        appendfsync: "everysec",
        autoAofRewritePercentage: 100,
        autoAofRewriteMinSize: "64mb",
      }),
    snapshot: z
      .strictObject({
        schedule: calendar.default("*-*-* *:00:00"),
        retentionDays: count(1, 3650).default(7),
        timeout: duration(1, "1s").default("5m"),
      })
      .default({ schedule: "*-*-* *:00:00", retentionDays: 7, timeout: "5m" }),
  })
  .superRefine((r, ctx) => {
    if (!r.tls) return;
    if (r.socket !== undefined)
      ctx.addIssue({ code: "custom", path: ["socket"], message: "must not be set with tls (TLS runs over TCP: port)" });
    if (r.provision)
      ctx.addIssue({
        code: "custom",
        path: ["tls"],
        message: "is for a server you run: the sandbox server (provision: true) listens on loopback without TLS",
      });
  });

const standbySchema = z.strictObject({
  name: identifier("standby name"),
  host: name("host name"),
  synchronous: z.boolean({ error: "must be true or false" }).default(false),
  port: count(1, 65535).default(5432),
  dataDirectory: absolutePath.optional(),
  /** The address the primary sees this standby connect from (pg_hba); defaults to its host's address. */
  address: z
    .string({ error: "must be an IP address (text)" })
    .refine((a) => isIP(a) !== 0, { error: "must be an IP address (IPv4 or IPv6), as pg_hba needs" })
    .optional(),
});

/**
 * TLS for replication connections: standbys verify the primary's certificate (sslmode=verify-full) and pg_hba
 * admits them only over TLS. Either drkit generates a CA and the certificate (every standby on the primary's
 * host), or the stack gives the CA, the primary's certificate and its key.
 */
const replicationTlsSchema = z
  .strictObject({
    generate: z.boolean({ error: "must be true or false" }).default(false),
    /** The CA that signed the primary's certificate: what standbys trust. */
    ca: pemCertificates("the CA that signed the primary's certificate").optional(),
    /** The primary's server certificate (then any intermediates), naming the address standbys connect to. */
    certificate: pemCertificates("the primary's server certificate, then any intermediates").optional(),
    key: pemPrivateKey.optional(),
  })
  .superRefine((t, ctx) => {
    const given = (["ca", "certificate", "key"] as const).filter((k) => t[k] !== undefined);
    if (t.generate && given.length > 0)
      ctx.addIssue({
        code: "custom",
        path: [given[0]],
        message: "must not be set with generate: true (drkit makes the CA, the certificate and the key)",
      });
    if (!t.generate)
      for (const k of (["ca", "certificate", "key"] as const).filter((k) => t[k] === undefined))
        ctx.addIssue({
          code: "custom",
          path: [k],
          message: "is required unless generate is true (give ca, certificate and key, or generate: true)",
        });
  });

const replicationSchema = z
  .strictObject({
    role: identifier("replication role name").default("drkit_replicator"),
    /** What a former primary's pg_rewind logs in as when it rejoins: no replication, no superuser. */
    rewindRole: identifier("rewind role name").default("drkit_rewind"),
    maxSlotWalKeepSize: z
      .string()
      .regex(/^[0-9]+(MB|GB)$/, { error: 'must be a size such as "2GB" or "512MB"' })
      .default("2GB"),
    /** Standby names in the order failover tries them; default: the order of `standbys`. */
    failoverOrder: z.array(identifier("standby name")).optional(),
    /** Where the primary is reached by standbys; defaults to its host's address (127.0.0.1 for local hosts). */
    primaryAddress: z
      .string()
      .regex(/^[A-Za-z0-9.:-]+$/, { error: "must be a host name or IP address" })
      .optional(),
    tls: replicationTlsSchema.optional(),
  })
  .refine((r) => r.rewindRole !== r.role, {
    path: ["rewindRole"],
    error: "must differ from role: the rewind role gets no replication right, the replication role no file access",
  });

const BUCKET_NAME = /^(?!\d+\.\d+\.\d+\.\d+$)(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const bucketName = z
  .string({ error: "must be a bucket name (text)" })
  .regex(BUCKET_NAME, {
    error:
      "must be a bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or " +
      "digit, not an IP address",
  })
  .refine((b) => !b.includes(".."), { error: "must not contain '..'" });
const region = z
  .string({ error: "must be a region name (text)" })
  .regex(/^[a-z]{2}(-[a-z]+)+-[0-9]$|^[a-z0-9-]{2,32}$/, { error: 'must be a region name such as "eu-west-1"' });
const endpointUrl = z.string({ error: "must be a URL (text)" }).regex(/^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?\/?$/, {
  error: 'must be an http(s) URL of a host and optional port, e.g. "https://minio.example.com:9000"',
});

const objectLockSchema = z.strictObject({
  mode: z.enum(["GOVERNANCE", "COMPLIANCE"], { error: 'must be "GOVERNANCE" or "COMPLIANCE"' }),
  days: count(1, 36500),
});
const noncurrentSchema = z.strictObject({
  days: count(1, 3650).default(7),
  keep: count(0, 100).default(30),
});

const minioStoreSchema = z.strictObject({
  type: z.literal("minio"),
  endpoint: endpointUrl,
  bucket: bucketName,
  region: z
    .string()
    .regex(/^[a-z0-9-]{2,32}$/, { error: 'must be a region name such as "us-east-1"' })
    .default("us-east-1"),
  /** Optional for a provisioned sandbox server: drkit then generates the keys (random, Pulumi secrets). */
  accessKey: storeKey.optional(),
  secretKey: storeKey.optional(),
  /** The CA of the server's certificate, when no system trust store holds it (https endpoints only). */
  caCertificate: caCertificate.optional(),
  /** Another minio store that receives a copy of every object (bucket replication). */
  replicateTo: name("object store name").optional(),
  objectLock: objectLockSchema.optional(),
  noncurrentVersions: noncurrentSchema.default({ days: 7, keep: 30 }),
  /** A sandbox MinIO server that drkit starts; the endpoint must then be http://127.0.0.1:<port>. */
  provision: z.strictObject({ dataDirectory: rootPrefix }).optional(),
});

const s3StoreSchema = z.strictObject({
  type: z.literal("s3"),
  region,
  bucket: bucketName,
  endpoint: endpointUrl.optional(),
  /** The CA of an S3-compatible endpoint's certificate, when no system trust store holds it. */
  caCertificate: caCertificate.optional(),
  /** Keys the hosts upload with (the Pulumi side uses the AWS provider's own credentials). */
  accessKey: storeKey,
  secretKey: storeKey,
  /** A key ARN in the bucket's region (checked with the region, in offsite.ts). */
  kmsKeyArn: z.string({ error: "must be a KMS key ARN (text)" }).optional(),
  objectLock: objectLockSchema.optional(),
  noncurrentVersions: noncurrentSchema.default({ days: 7, keep: 30 }),
  transitions: z
    .strictObject({
      infrequentAccessDays: count(1, 36500).optional(),
      archiveDays: count(1, 36500).optional(),
      archiveStorageClass: z
        .enum(["GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"], { error: 'must be "GLACIER", "DEEP_ARCHIVE" or "GLACIER_IR"' })
        .default("GLACIER"),
    })
    .optional(),
  replication: z
    .strictObject({
      region,
      bucket: bucketName.optional(),
      kmsKeyArn: z.string({ error: "must be a KMS key ARN (text)" }).optional(),
      expireDays: count(1, 36500).default(90),
      deleteMarkerReplication: z.boolean({ error: "must be true or false" }).default(false),
      replicationTimeControl: z.boolean({ error: "must be true or false" }).default(false),
    })
    .optional(),
});

const objectStoreSchema = z.discriminatedUnion("type", [minioStoreSchema, s3StoreSchema], {
  error: 'must say what kind of object store it is: type "minio" or "s3"',
});

/** An age X25519 recipient (public key): "age1" and 58 bech32 characters. */
const ageRecipient = z
  .string({ error: "must be an age recipient (text)" })
  .regex(/^age1[02-9ac-hj-np-z]{58}$/, { error: 'must be an age recipient: "age1" and 58 characters (age-keygen -y)' });
/** The age identity (private key) that opens the off-site copies: only restores need it. */
const ageIdentity = secretOr(
  z.string().regex(/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/, {
    error: 'must be an age identity: "AGE-SECRET-KEY-1" and 58 characters (age-keygen)',
  }),
  "must be an age identity (text) or a Pulumi secret",
);
/** Client-side encryption of everything a service sends to its object stores. */
const offsiteEncryptionSchema = z.strictObject({
  /** Public keys: every object is encrypted to each of them on the host, before it leaves. */
  recipients: z
    .array(ageRecipient, { error: "must be a list of age recipients" })
    .min(1, { error: "must list at least one age recipient" })
    .max(16, { error: "must list at most 16 age recipients" }),
  /** The identity restores run by drkit (the drill) use; never placed on a host. */
  identity: ageIdentity.optional(),
});

const offsiteSchema = z.strictObject({
  /** Object stores (names under drkit:objectStores) every backup and WAL segment is uploaded to. */
  targets: z
    .array(name("object store name"), { error: "must be a list of object store names" })
    .min(1, { error: "must list at least one object store" }),
  /** mc, the MinIO client, on the host (it speaks S3 too). */
  mc: absolutePath.default("/usr/local/bin/mc"),
  retry: z
    .strictObject({ attempts: count(1, 20).default(5), initialDelay: duration(1, "1s").default("2s") })
    .default({ attempts: 5, initialDelay: "2s" }),
  /** Catch-up run that ships whatever is not yet confirmed off-site (and Redis snapshots). */
  schedule: calendar.default("*-*-* *:20:00"),
  /** Uploads at once to one store. */
  parallel: count(1, 32).default(4),
  /** Bound of one call to a store that moves no data; an upload gets one more second per MiB. */
  callTimeout: duration(1, "1s").default("30s"),
  /** Unshipped WAL per store beyond which its oldest is given up off-site (kept locally, and recorded). */
  maxBacklog: size.default("8GB"),
  /** How long after archiving a segment is off-site in normal operation; the RPO must allow for it. */
  lagBudget: duration(1, "1s").default("10s"),
  /** age encryption of every object before it leaves the host; without it objects are stored as they are. */
  encryption: offsiteEncryptionSchema.optional(),
});

/** The service's WAL archive: its epoch, and the bounds that keep the primary running when it cannot grow. */
const archiveSchema = z.strictObject({
  /**
   * The archive epoch. Starting a new one (a higher number) gives the service's archive a new local folder and
   * object-store prefix, for a re-created cluster whose old archive must stay restorable.
   */
  epoch: count(1, 9999).default(1),
  /** Free space the local archive's filesystem keeps: below it a segment is not archived (and that is recorded). */
  minFreeSpace: size.default("1GB"),
  /** Cap on the local WAL archive; none by default (retention and the backlog cap bound it). */
  maxSize: size.optional(),
});

/** Metrics from every job and alert rules derived from the objectives. */
const monitoringSchema = z.strictObject({
  /** node_exporter's textfile collector directory (Debian's default): every drkit job publishes metrics there. */
  textfileDirectory: absolutePath.default("/var/lib/prometheus/node-exporter"),
  /** The Prometheus rules file on the service's host; default /etc/prometheus/rules/drkit-<service>.yml. */
  rulesFile: absolutePath.optional(),
  /** A backup whose size differs from the one before by more than this fraction alerts. */
  sizeChangeRatio: z
    .number({ error: "must be a number such as 0.5 (50 %)" })
    .gt(0, { error: "must be more than 0" })
    .max(10, { error: "must be at most 10 (1000 %)" })
    .default(0.5),
  /** Replication lag by bytes that alerts: on an idle primary the lag by time says nothing. */
  replicationLagBytes: size.default("256MB"),
  /** Where each alert's runbook_url points: this base plus "#<alert name in lowercase>". */
  runbookBaseUrl: z
    .string({ error: "must be a URL or a path (text)" })
    .regex(/^[A-Za-z0-9._~:/?@!$&'()*+,;=%-]+$/, { error: "must be a URL or a path without spaces or '#'" })
    .default("docs/alerts.md"),
  /** Configure Debian's exporters on the service's host to serve the metrics. */
  exporters: z
    .strictObject({
      node: z.boolean({ error: "must be true or false" }).default(false),
      postgres: z.boolean({ error: "must be true or false" }).default(false),
    })
    .default({ node: false, postgres: false }),
});

const serviceSchema = z.strictObject({
  host: name("host name"),
  postgres: postgresSchema,
  rpo: duration(1, "1s", LONGEST_OBJECTIVE_SECONDS).default("5m"),
  rto: duration(1, "1s", LONGEST_OBJECTIVE_SECONDS).default("30m"),
  schedule: scheduleSchema.default(scheduleSchema.parse({})),
  retention: retentionSchema.default(retentionSchema.parse({})),
  paths: pathsSchema.default(pathsSchema.parse({})),
  compression: z
    .enum(["auto", "zstd", "gzip", "none"], { error: 'must be one of "auto", "zstd", "gzip", "none"' })
    .default("auto"),
  configFiles: z.array(absolutePath, { error: "must be a list of absolute paths" }).default([]),
  verifyAfterBackup: z.boolean({ error: "must be true or false" }).default(true),
  /** Incremental base backups between full ones (PostgreSQL 17+). */
  incremental: z
    .strictObject({
      fullEvery: duration(86400, "1d", 90 * 86400),
    })
    .optional(),
  jobTimeout: duration(60, "1m", 2 * 86400).default("6h"),
  redis: redisSchema.optional(),
  standbys: z
    .array(standbySchema, { error: "must be a list of standbys" })
    .max(8, { error: "must list at most 8 standbys" })
    .default([]),
  replication: replicationSchema.default({
    role: "drkit_replicator",
    rewindRole: "drkit_rewind",
    maxSlotWalKeepSize: "2GB",
  }),
  offsite: offsiteSchema.optional(),
  archive: archiveSchema.default({ epoch: 1, minFreeSpace: "1GB" }),
  monitoring: monitoringSchema.optional(),
});

export const stackConfigSchema = z.strictObject({
  hosts: z.record(name("host name"), hostSchema, { error: "must be a map of host name to host" }),
  services: z.record(name("service name"), serviceSchema, { error: "must be a map of service name to service" }),
  objectStores: z
    .record(name("object store name"), objectStoreSchema, {
      error: "must be a map of object store name to object store",
    })
    .default({}),
});

export type RawStackConfig = z.input<typeof stackConfigSchema>;
export type ParsedStackConfig = z.output<typeof stackConfigSchema>;
export type ParsedService = z.output<typeof serviceSchema>;
export type ParsedHost = z.output<typeof hostSchema>;
export type ParsedObjectStore = z.output<typeof objectStoreSchema>;
