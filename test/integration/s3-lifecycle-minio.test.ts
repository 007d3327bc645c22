import {
  CreateBucketCommand,
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  S3Client,
  type BucketLifecycleConfiguration,
  type LifecycleRule as SdkLifecycleRule,
} from "@aws-sdk/client-s3";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  lifecycleRules,
  toMinioIlmJson,
  toS3LifecycleConfiguration,
  type LifecyclePolicy,
} from "../../components/objectstore/lifecycle";
import { mcBinary, startMinio, type MinioServer } from "../helpers/minio";
import type { RunResult } from "../helpers/sandbox";

// No transitions: MinIO transitions only to tiers configured with `mc ilm tier add`.
const policy: LifecyclePolicy = {
  services: [
    { prefix: "billing/", days: { base: 35, logical: 90, wal: 36, valkey: 14, config: 90 } },
    { prefix: "search/", days: { base: 7, logical: 30, wal: 8 } },
  ],
  noncurrentVersions: { days: 30, keep: 3 },
  abortIncompleteMultipartDays: 7,
};
const rules = lifecycleRules(policy);

let server: MinioServer;
let s3: S3Client;
let mcConfigDir: string;

beforeAll(async () => {
  server = await startMinio("s3a");
  mcConfigDir = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-mc-ilm-"));
  s3 = new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
  });
});

afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
  if (mcConfigDir) fs.rmSync(mcConfigDir, { recursive: true, force: true });
});

async function versionedBucket(name: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: "Enabled" } }));
}

async function readBack(bucket: string): Promise<SdkLifecycleRule[]> {
  const got = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
  return got.Rules ?? [];
}

/** Runs mc with `stdin` on its standard input (helpers' runAsync has no stdin). */
function mcWithStdin(args: string[], stdin: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(mcBinary(), args, {
      env: {
        ...process.env,
        ...server.mcHostEnv(),
        MC_CONFIG_DIR: mcConfigDir,
        MC_DISABLE_PAGER: "1",
        MC_NO_COLOR: "1",
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

describe("the lifecycle model against a real MinIO", () => {
  it("is stored rule by rule through PutBucketLifecycleConfiguration (AWS SDK)", async () => {
    await versionedBucket("drkit-lifecycle-sdk");
    // Typed as the SDK's own input: the model's shape must be assignable to it.
    const configuration: BucketLifecycleConfiguration = toS3LifecycleConfiguration(rules);
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: "drkit-lifecycle-sdk",
        LifecycleConfiguration: configuration,
      }),
    );

    const stored = await readBack("drkit-lifecycle-sdk");
    expect(stored.map((r) => r.ID)).toEqual(configuration.Rules!.map((r) => r.ID));
    for (const want of configuration.Rules!) {
      const got = stored.find((r) => r.ID === want.ID)!;
      expect(got.Status, want.ID).toBe("Enabled");
      expect(got.Filter?.Prefix ?? "", want.ID).toBe(want.Filter?.Prefix);
      expect(got.Expiration, want.ID).toEqual(want.Expiration);
      expect(got.NoncurrentVersionExpiration, want.ID).toEqual(want.NoncurrentVersionExpiration);
      // MinIO's lifecycle has no AbortIncompleteMultipartUpload element: it drops it (see toMinioIlmJson).
      expect(got.AbortIncompleteMultipartUpload, want.ID).toBeUndefined();
    }
    expect(stored.find((r) => r.ID === "billing/wal/")!.Expiration).toEqual({ Days: 36 });
    expect(stored.find((r) => r.ID === "noncurrent-versions")!.NoncurrentVersionExpiration).toEqual({
      NoncurrentDays: 30,
      NewerNoncurrentVersions: 3,
    });
  });

  it("needs the delete-marker rule on its own: Days and ExpiredObjectDeleteMarker together are refused", async () => {
    await versionedBucket("drkit-lifecycle-combined");
    const combined = {
      Rules: [
        {
          ID: "both",
          Status: "Enabled" as const,
          Filter: { Prefix: "" },
          Expiration: { Days: 5, ExpiredObjectDeleteMarker: true },
        },
      ],
    };
    await expect(
      s3.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: "drkit-lifecycle-combined",
          LifecycleConfiguration: combined,
        }),
      ),
    ).rejects.toThrow(/Delete marker cannot be specified/);
  });

  it("is imported by `mc ilm import` from stdin and exported back unchanged", async () => {
    await versionedBucket("drkit-lifecycle-mc");
    const json = toMinioIlmJson(rules);
    const imported = await mcWithStdin(["ilm", "import", "s3a/drkit-lifecycle-mc"], json);
    expect(imported.status, imported.stderr).toBe(0);

    const exported = await server.mc(["ilm", "export", "s3a/drkit-lifecycle-mc"]);
    expect(exported.status, exported.stderr).toBe(0);
    const got = JSON.parse(exported.stdout).Rules as Record<string, unknown>[];
    const want = JSON.parse(json).Rules as Record<string, unknown>[];
    expect(got.map((r) => r.ID)).toEqual(want.map((r) => r.ID));
    want.forEach((rule, i) => expect(got[i], String(rule.ID)).toEqual(rule));

    // Both paths leave the same configuration on the server.
    const viaMc = await readBack("drkit-lifecycle-mc");
    const viaSdk = await readBack("drkit-lifecycle-sdk");
    expect(viaMc).toEqual(viaSdk);
  });
});
