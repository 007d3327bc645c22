import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LifecyclePolicy } from "../../components/objectstore/lifecycle";
import type { S3BackupBucketArgs } from "../../components/objectstore/s3BackupBucket";
import { startLocalKms, type LocalKms } from "../helpers/localKms";
import { startMinio, type MinioServer } from "../helpers/minio";
import { recordResources, type Registered } from "../helpers/mocks";
import { NOT_SENT, sendDeclared } from "../helpers/s3Declared";
import { makeTestCa } from "../helpers/testCa";

/**
 * What S3BackupBucket declares, applied to real S3 servers (MinIO, plain HTTP and HTTPS) through the AWS SDK,
 * and the servers' behaviour checked: versions kept, objects encrypted with the declared key (and not readable
 * on disk), the lock refusing deletion, the TLS-only policy refusing plain HTTP, the lifecycle stored as declared.
 */
const mocks = recordResources({
  state: (args) => ({
    ...args.inputs,
    ...(args.type === "aws:s3/bucket:Bucket" ? { arn: `arn:aws:s3:::${args.inputs.bucket}` } : {}),
  }),
});

/** MinIO's form of the declared key (see sendDeclared). */
const minioKeyId = (declaredArn: string) => `arn:aws:kms:${declaredArn.split("/").pop()}`;

// No transitions: MinIO transitions only to tiers configured with `mc ilm tier add`.
const lifecycle: LifecyclePolicy = {
  services: [{ prefix: "billing/", days: { base: 35, logical: 90, wal: 36, config: 90 } }],
  noncurrentVersions: { days: 30, keep: 3 },
  abortIncompleteMultipartDays: 7,
};
/** The buckets as declared with a key made in local-kms (its ARN is known once the key exists). */
const governedWith = (kmsKeyArn: string): S3BackupBucketArgs => ({
  bucketName: "acme-billing-backups",
  region: "eu-central-1",
  lifecycle,
  kmsKeyArn,
  objectLock: { mode: "GOVERNANCE", days: 1 },
  tags: { team: "billing" },
});
let governed: S3BackupBucketArgs;
let compliant: S3BackupBucketArgs;
let kms: LocalKms;
let KEY_ARN = "";

let scratch: string;
let plain: MinioServer;
let secure: MinioServer;
let caFile: string;
const declared: Record<string, Registered[]> = {};
const clients = new Map<MinioServer, S3Client>();
const sentToPlain: string[] = [];

/** The root user's client of a server (one per server), trusting the test CA where it serves HTTPS. */
const clientFor = (server: MinioServer): S3Client => {
  let client = clients.get(server);
  if (!client) {
    client = new S3Client({
      endpoint: server.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
      ...(server.endpoint.startsWith("https:")
        ? { requestHandler: { httpsAgent: new https.Agent({ ca: fs.readFileSync(caFile) }) } }
        : {}),
    });
    clients.set(server, client);
  }
  return client;
};

async function declare(name: string, args: S3BackupBucketArgs): Promise<Registered[]> {
  const { S3BackupBucket } = await import("../../components/objectstore/s3BackupBucket");
  const before = mocks.registered.length;
  const component = new S3BackupBucket(name, args);
  await new Promise((resolve) => component.bucketArn.apply(resolve));
  await mocks.settle();
  return mocks.registered.slice(before);
}

/** An anonymous GET (no signature), over HTTPS with the test CA where the server serves it. */
function anonymousGet(server: MinioServer, key: string): Promise<number> {
  const url = `${server.endpoint}/${key}`;
  if (!url.startsWith("https:")) return fetch(url).then((r) => r.status);
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: fs.readFileSync(caFile) }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on("error", reject);
  });
}

const filesUnder = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
const onDisk = (server: MinioServer, marker: string) =>
  filesUnder(server.dataDirectory).some((f) => fs.readFileSync(f).includes(marker));

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-s3-bucket-"));
  const ca = makeTestCa(path.join(scratch, "ca"), "drkit S3 bucket CA");
  caFile = ca.certFile;
  const certificate = ca.issue("s3", { ips: ["127.0.0.1"] });
  // The declared key is a key of a KMS API (local-kms). MinIO cannot call an AWS KMS: its built-in KMS holds one
  // key, named like the declared key's id, and the key stays in the environment.
  kms = await startLocalKms(scratch);
  const created = await kms.call("CreateKey", { Description: "drkit backups", KeyUsage: "ENCRYPT_DECRYPT" });
  KEY_ARN = created.KeyMetadata.Arn;
  governed = governedWith(KEY_ARN);
  compliant = { ...governed, bucketName: "acme-ledger-backups", objectLock: { mode: "COMPLIANCE", days: 1 } };
  const env = { MINIO_KMS_SECRET_KEY: `${created.KeyMetadata.KeyId}:${randomBytes(32).toString("base64")}` };
  plain = await startMinio("s3plain", { parent: scratch, env });
  secure = await startMinio("s3tls", {
    parent: scratch,
    env,
    tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, caFile: ca.certFile },
  });
  declared.governed = await declare("billing", governed);
  declared.compliant = await declare("ledger", compliant);
  for (const server of [plain, secure])
    for (const resources of Object.values(declared)) {
      const sent = await sendDeclared(clientFor(server), resources, { kmsKeyId: minioKeyId });
      if (server === plain) sentToPlain.push(...sent);
    }
}, 120_000);

afterAll(async () => {
  for (const c of clients.values()) c.destroy();
  await plain?.destroy();
  await secure?.destroy();
  await kms?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe("S3BackupBucket's declaration on a real S3 API (MinIO)", () => {
  it("sends every S3 resource it declares, and lists why each other one is not sent", () => {
    const types = new Set(declared.governed.map((r) => r.type));
    const sent = [...types].filter((t) => !(t in NOT_SENT)).sort();
    expect(sent).toEqual([
      "aws:s3/bucket:Bucket",
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
      "aws:s3/bucketPolicy:BucketPolicy",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "aws:s3/bucketVersioning:BucketVersioning",
    ]);
    expect([...types].filter((t) => t in NOT_SENT).sort()).toEqual([
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "drkit:objectstore:S3BackupBucket",
      "pulumi:providers:aws",
    ]);
    const requests = (bucket: string) =>
      ["CreateBucket", "PutBucketTagging", "PutBucketVersioning", "PutBucketEncryption", "PutBucketPolicy"]
        .concat(["PutObjectLockConfiguration", "PutBucketLifecycleConfiguration"])
        .map((r) => `${r} ${bucket}`);
    expect(sentToPlain).toEqual([...requests(governed.bucketName), ...requests(compliant.bucketName)]);
  });

  it("the server stores the configuration as declared", async () => {
    const s3 = clientFor(plain);
    const Bucket = governed.bucketName;
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status).toBe("Enabled");
    const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket }));
    expect(encryption.ServerSideEncryptionConfiguration?.Rules?.[0].ApplyServerSideEncryptionByDefault).toEqual({
      SSEAlgorithm: "aws:kms",
      KMSMasterKeyID: minioKeyId(KEY_ARN),
    });
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket }));
    expect(lock.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: "Enabled",
      Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } },
    });
    const policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket }))).Policy!);
    expect(policy.Statement).toHaveLength(1);
    const bucketArn = `arn:aws:s3:::${Bucket}`;
    expect(policy.Statement[0]).toMatchObject({
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Resource: expect.arrayContaining([bucketArn, `${bucketArn}/*`]),
      Condition: { Bool: { "aws:SecureTransport": ["false"] } },
    });
    const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules ?? [];
    const declaredRules = declared.governed.find((r) => r.type.endsWith("BucketLifecycleConfiguration"))!.inputs.rules;
    expect(rules.map((r) => r.ID).sort()).toEqual(declaredRules.map((r: { id: string }) => r.id).sort());
    const base = rules.find((r) => r.Filter?.Prefix === "billing/base/");
    expect(base?.Expiration?.Days).toBe(35);
    expect(rules.some((r) => r.NoncurrentVersionExpiration?.NoncurrentDays === 30)).toBe(true);
  });

  it("declares a key S3 can use: symmetric, enabled; a data key for the bucket opens in its context only", async () => {
    const encryption = declared.governed.find((r) => r.type.endsWith("BucketServerSideEncryptionConfiguration"))!;
    const rule = encryption.inputs.rules[0];
    expect(rule).toMatchObject({
      bucketKeyEnabled: true,
      applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" },
    });
    const keyId = rule.applyServerSideEncryptionByDefault.kmsMasterKeyId;
    expect(keyId).toMatch(/^arn:aws:kms:eu-central-1:111122223333:key\/[0-9a-f-]{36}$/);
    // S3 takes only symmetric encryption keys for SSE-KMS.
    const { KeyMetadata } = await kms.call("DescribeKey", { KeyId: keyId });
    expect(KeyMetadata).toMatchObject({ Enabled: true, KeyState: "Enabled", KeyUsage: "ENCRYPT_DECRYPT" });
    expect(KeyMetadata.KeySpec ?? KeyMetadata.CustomerMasterKeySpec).toBe("SYMMETRIC_DEFAULT");
    // With a bucket key, S3 asks for one data key per bucket, bound to the bucket's ARN as encryption context.
    const context = { "aws:s3:arn": `arn:aws:s3:::${governed.bucketName}` };
    const dataKey = await kms.call("GenerateDataKey", { KeyId: keyId, KeySpec: "AES_256", EncryptionContext: context });
    const opened = await kms.call("Decrypt", { CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context });
    expect(opened.Plaintext).toBe(dataKey.Plaintext);
    expect(opened.KeyId).toBe(keyId);
    const otherBucket = { "aws:s3:arn": `arn:aws:s3:::${compliant.bucketName}` };
    await expect(
      kms.call("Decrypt", { CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: otherBucket }),
    ).rejects.toThrow(/InvalidCiphertextException/);
  });

  it("keeps every version: an overwrite and a delete leave the earlier contents readable", async () => {
    const s3 = clientFor(plain);
    const Bucket = governed.bucketName;
    const Key = "billing/wal/000000010000000000000001";
    const first = await s3.send(new PutObjectCommand({ Bucket, Key, Body: "first" }));
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: "second" }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key }));
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: Key }));
    expect(versions.Versions).toHaveLength(2);
    expect(versions.DeleteMarkers).toHaveLength(1);
    const old = await s3.send(new GetObjectCommand({ Bucket, Key, VersionId: first.VersionId }));
    expect(await old.Body!.transformToString()).toBe("first");
  });

  it("encrypts every object with the declared key, unasked, and nothing of it is readable on the disk", async () => {
    const s3 = clientFor(plain);
    const marker = `drkit-plaintext-${randomBytes(8).toString("hex")}`;
    const Key = "billing/base/20261204T000000Z/base.tar";
    await s3.send(new PutObjectCommand({ Bucket: governed.bucketName, Key, Body: marker }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: governed.bucketName, Key }));
    expect(head.ServerSideEncryption).toBe("aws:kms");
    expect(head.SSEKMSKeyId).toBe(minioKeyId(KEY_ARN));
    expect(onDisk(plain, marker)).toBe(false);
    // The same object in a bucket without the declaration lies on the disk in the clear: the scan can see it.
    await s3.send(new CreateBucketCommand({ Bucket: "unencrypted-control" }));
    await s3.send(new PutObjectCommand({ Bucket: "unencrypted-control", Key, Body: marker }));
    expect(onDisk(plain, marker)).toBe(true);
  });

  it("locks each new version: GOVERNANCE refuses its deletion unless bypassed, COMPLIANCE even then", async () => {
    const s3 = clientFor(plain);
    for (const [args, bypassable] of [
      [governed, true],
      [compliant, false],
    ] as const) {
      const Bucket = args.bucketName;
      const Key = "billing/logical/20261204T000000Z/app.dump";
      const put = await s3.send(new PutObjectCommand({ Bucket, Key, Body: "dump" }));
      const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
      expect(head.ObjectLockMode).toBe(args.objectLock!.mode);
      const until = head.ObjectLockRetainUntilDate!.getTime() - Date.now();
      expect(until).toBeGreaterThan(23 * 3600_000);
      expect(until).toBeLessThan(25 * 3600_000);
      await expect(s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId: put.VersionId }))).rejects.toThrow(
        /WORM protected/,
      );
      const bypass = s3.send(
        new DeleteObjectCommand({ Bucket, Key, VersionId: put.VersionId, BypassGovernanceRetention: true }),
      );
      if (bypassable) await bypass;
      else await expect(bypass).rejects.toThrow(/WORM protected/);
      const left = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: Key }));
      expect(left.Versions ?? []).toHaveLength(bypassable ? 0 : 1);
    }
  });

  it("the TLS-only policy refuses a request over plain HTTP and lets the same one through over HTTPS", async () => {
    // MinIO applies bucket policies to anonymous requests only (on AWS they bind every principal): a test-only
    // statement lets anyone read public/, and the declared statement must still refuse it over plain HTTP.
    const Bucket = governed.bucketName;
    const Key = "public/readable";
    const readable = {
      Sid: "TestAnonymousRead",
      Effect: "Allow",
      Principal: { AWS: ["*"] },
      Action: ["s3:GetObject"],
      Resource: [`arn:aws:s3:::${Bucket}/public/*`],
    };
    const declaredPolicy = JSON.parse(declared.governed.find((r) => r.type.endsWith("BucketPolicy"))!.inputs.policy);
    const withDeclared = JSON.stringify({ ...declaredPolicy, Statement: [...declaredPolicy.Statement, readable] });
    const alone = JSON.stringify({ Version: "2012-10-17", Statement: [readable] });
    for (const server of [plain, secure]) {
      const s3 = clientFor(server);
      await s3.send(new PutObjectCommand({ Bucket, Key, Body: "hello" }));
      await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: alone }));
      expect(await anonymousGet(server, `${Bucket}/${Key}`)).toBe(200);
      await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: withDeclared }));
      expect(await anonymousGet(server, `${Bucket}/${Key}`)).toBe(server === plain ? 403 : 200);
    }
  });
});
