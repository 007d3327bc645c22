import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import type { DrPlan } from "../../components/plan/plan";
import { drPolicies } from "../../policies/policies";
import { isSecret, recordResources, type Registered } from "../helpers/mocks";
import { openSecrets, passphraseDecrypter } from "../helpers/passphraseSecrets";
import { evaluate, urnOf, type FakeResource } from "../helpers/policyHarness";

// The shipped production example (stacks/Pulumi.production.yaml), as the program registers it under Pulumi's
// mocks: it has what the example promises, and the whole policy pack passes on it. (The real CLI cannot preview
// it here: its S3 buckets need the AWS provider plugin, which cannot be built on this machine.)

const { registered, settle, parentOf } = recordResources();
const repoDir = path.resolve(__dirname, "../..");
let plan: DrPlan;
/** Secret values in the clear, as the engine hands resources to a policy pack. */
const unwrapSecrets = (v: unknown): unknown => {
  if (isSecret(v)) return unwrapSecrets((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  return v;
};

/** The resources as the policy pack sees them: with their parents, which the stack rules group children by. */
const asPolicyInput = (rs: readonly Registered[]): FakeResource[] =>
  rs.map((r) => {
    const parent = parentOf(r.type, r.name)?.split("::");
    return {
      type: r.type,
      name: r.name,
      props: unwrapSecrets(r.inputs) as Record<string, unknown>,
      parent: parent && urnOf({ type: parent[0], name: parent.slice(1).join("::"), props: {} }),
    };
  });

/** The example as the engine gives it to the program: its secrets opened with the documented passphrase. */
async function productionPlan(): Promise<DrPlan> {
  const { rawConfigFromEntries } = await import("../../components/plan/stackFile");
  const { buildPlan } = await import("../../components/plan/plan");
  const file = parse(fs.readFileSync(path.join(repoDir, "stacks/Pulumi.production.yaml"), "utf8"));
  const decrypt = passphraseDecrypter(file.encryptionsalt, "drkit-example");
  return buildPlan(rawConfigFromEntries(openSecrets(file.config, decrypt) as Record<string, unknown>), {
    baseDir: repoDir,
  });
}

beforeAll(async () => {
  const { drStack } = await import("../../components/drStack");
  plan = await productionPlan();
  drStack(plan);
  await settle();
});

describe("the production example", () => {
  it("its secrets open with the passphrase its header and docs/production.md give, and with no other", () => {
    const file = parse(fs.readFileSync(path.join(repoDir, "stacks/Pulumi.production.yaml"), "utf8"));
    expect(fs.readFileSync(path.join(repoDir, "docs/production.md"), "utf8")).toContain('"drkit-example"');
    expect(() => passphraseDecrypter(file.encryptionsalt, "not-the-passphrase")).toThrow(/does not open/);
    const tlsKey = plan.services.find((s) => s.name === "billing")!.replication!.tls!.key;
    expect(tlsKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it("has what it promises: S3 with KMS, object lock, Glacier and a cross-region replica; a second MinIO site", () => {
    const s3 = plan.objectStores.find((s) => s.name === "s3-eu")!;
    expect(s3).toMatchObject({ type: "s3", objectLock: { mode: "GOVERNANCE", days: 14 } });
    expect(JSON.stringify(s3)).toContain("arn:aws:kms:eu-west-1:123456789012:key/6b1f3c2a-9d4e-4f7a-8c21-3e5d7a9b0c14");
    expect(JSON.stringify(s3)).toContain('"archiveStorageClass":"GLACIER"');
    expect(JSON.stringify(s3)).toContain('"region":"eu-central-1"');
    expect(plan.objectStores.find((s) => s.name === "minio-dc2")).toMatchObject({ type: "minio" });
    const billing = plan.services.find((s) => s.name === "billing")!;
    expect(billing.offsite!.targets.map((t) => t.store)).toEqual(["s3-eu", "minio-dc2"]);
    expect(billing.offsite!.encryption).toBeDefined();
  });

  it("a synchronous standby on another host over verified TLS, Valkey, monitoring on every critical service", () => {
    const billing = plan.services.find((s) => s.name === "billing")!;
    const [standby] = billing.replication!.standbys;
    expect(standby.host.name).toBe("db-billing-2");
    expect(standby.host.name).not.toBe(billing.host.name);
    expect(billing.replication!.synchronousStandbyNames).toBe('FIRST 1 ("billing_replica")');
    expect(billing.replication!.tls).toBeDefined();
    expect(billing.redis!.cli).toBe("/usr/bin/valkey-cli");
    for (const name of ["billing", "ledger"])
      expect(plan.services.find((s) => s.name === name)!.monitoring, name).toBeDefined();
  });

  it("registers its buckets with KMS encryption, object lock and replication, and every service's parts", () => {
    const types = new Set(registered.map((r) => r.type));
    for (const type of [
      "drkit:objectstore:S3BackupBucket",
      "drkit:objectstore:MinioTarget",
      "drkit:postgres:PostgresBackup",
      "drkit:redis:RedisBackup",
      "drkit:postgres:Standby",
      "aws:s3/bucket:Bucket",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
      "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    ])
      expect([...types], type).toContain(type);
  });

  it("passes every rule of the policy pack", async () => {
    const diagnostics = await evaluate(drPolicies, asPolicyInput(registered));
    expect(diagnostics).toEqual([]);
  });

  it("the policy pack would fail it with a week of off-site retention (the rules do see these resources)", async () => {
    const shortened = registered.map((r) =>
      r.type === "drkit:postgres:PostgresBackup" && r.name === "billing"
        ? { ...r, inputs: { ...r.inputs, retention: { ...r.inputs.retention, offsiteDays: 7 } } }
        : r,
    );
    const diagnostics = await evaluate(drPolicies, asPolicyInput(shortened));
    expect(diagnostics.map((d) => `${d.level} ${d.policy}`)).toContain("mandatory postgres-backup-retention");
  });
});
