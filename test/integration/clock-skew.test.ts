import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentDirectory } from "../../components/agent/agentFiles";
import { mcBinary, startMinio, type MinioServer } from "../helpers/minio";

// A host whose clock is two hours off. libfaketime cannot move mc's clock (a static Go binary reads it through the
// vDSO: `faketime -f -2h mc cp` signs with the true time and succeeds), so the skewed request is signed by the AWS
// SDK with a clock offset; the refusal comes from a real MinIO. The agent must recognise that refusal, whatever mc
// wraps around it, and the shipper's tests (test/agent/shipper.bats) answer with this same text.

const AGENT = agentDirectory();
let minio: MinioServer;
let tmp: string;
let refusal = { name: "", message: "" };

beforeAll(async () => {
  minio = await startMinio("skew");
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "drkit-clock-skew-"));
  const client = (offsetMs: number) =>
    new S3Client({
      endpoint: minio.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
      systemClockOffset: offsetMs,
      maxAttempts: 1,
    });
  await client(0).send(new CreateBucketCommand({ Bucket: "wal" }));
  try {
    await client(-2 * 3600_000).send(new PutObjectCommand({ Bucket: "wal", Key: "segment", Body: "x" }));
  } catch (error) {
    refusal = { name: (error as Error).name, message: (error as Error).message };
  }
}, 120_000);

afterAll(async () => {
  await minio?.destroy();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("a host clock two hours behind the store's", () => {
  it("the store refuses the signed request as too skewed, and nothing is written", async () => {
    expect(refusal.name).toBe("RequestTimeTooSkewed");
    expect(refusal.message).toMatch(/time/i);
    const listing = await minio.mc(["ls", "--recursive", `${minio.name}/wal/`]);
    expect(listing.stdout.trim()).toBe("");
  });

  it("the agent's mc call names the host's clock as the cause, from the store's own words", () => {
    // mc prints the store's code and message inside its own error line.
    const mc = path.join(tmp, "mc");
    const line = `mc: <ERROR> Failed to copy segment. ${refusal.name}: ${refusal.message}`;
    fs.writeFileSync(mc, `#!/usr/bin/env bash\necho "${line}" >&2\nexit 1\n`, { mode: 0o755 });
    const r = spawnSync("bash", ["-c", `. "${AGENT}/lib.sh"; MC="${mc}"; mc_call 5 cp segment store/wal/`], {
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/the store refused the request because this host's clock \(\S+\) differs too much/);
    // Without the code, from the message alone.
    fs.writeFileSync(mc, `#!/usr/bin/env bash\necho "mc: <ERROR> ${refusal.message}" >&2\nexit 1\n`);
    const bare = spawnSync("bash", ["-c", `. "${AGENT}/lib.sh"; MC="${mc}"; mc_call 5 ls store/wal/`], {
      encoding: "utf8",
    });
    expect(bare.stderr).toMatch(/this host's clock/);
  });

  it("the shipper's tests refuse with the store's own text", () => {
    const fake = fs.readFileSync(path.join(__dirname, "..", "agent", "fake-mc"), "utf8");
    expect(fake).toContain(`${refusal.name}: ${refusal.message}`);
  });

  it("mc itself cannot be skewed by libfaketime: it signs with the true time", async () => {
    const file = path.join(tmp, "probe");
    fs.writeFileSync(file, "probe");
    const env = { ...process.env, ...minio.mcHostEnv(), MC_CONFIG_DIR: path.join(tmp, "mc-config") };
    const r = spawnSync("faketime", ["-f", "-2h", mcBinary(), "cp", "--quiet", file, `${minio.name}/wal/probe`], {
      encoding: "utf8",
      env,
    });
    expect(r.status, r.stderr).toBe(0);
  });
});
