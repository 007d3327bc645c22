import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineProject, repoDir, type EngineProject } from "../helpers/engine";

const policyPack = path.join(repoDir, "policies");

describe("pulumi preview --policy-pack policies with the real CLI", () => {
  let project: EngineProject;
  const preview = (stack: string, extra: string[] = []) =>
    project.pulumi(["preview", "--stack", stack, "--policy-pack", policyPack, ...extra]);

  beforeAll(async () => {
    project = engineProject("policy");
    // The shipped files, minus the local stack's salt (it belongs to the sandbox's empty passphrase) and the
    // secret made with it (the off-site identity, which only restores use).
    const shipped = (stack: string) =>
      fs
        .readFileSync(path.join(repoDir, "stacks", `Pulumi.${stack}.yaml`), "utf8")
        .replace(/^encryptionsalt:.*$/m, "")
        .replace(/^ +identity:\n +secure: .*\n/m, "");
    // The production example's S3 buckets need the AWS provider plugin, which cannot be built here:
    // test/unit/production-example.test.ts runs the pack on it under mocks.
    project.writeStack("local", shipped("local"));
    const shortRetention = shipped("local").replace(
      "      rpo: 5m\n",
      "      rpo: 5m\n      retention: { dailyDays: 3, weeklyWeeks: 12, offsiteDays: 30 }\n",
    );
    project.writeStack("short-retention", shortRetention);
    const unencrypted = shipped("local").replace(/^ +encryption:\n +recipients: .*\n/m, "");
    expect(unencrypted).not.toContain("encryption:");
    project.writeStack("unencrypted", unencrypted);
    for (const stack of ["local", "short-retention", "unencrypted"])
      expect((await project.pulumi(["stack", "init", stack])).status).toBe(0);
  });
  afterAll(() => project?.remove());

  it("passes on the shipped local stack", async () => {
    const r = await preview("local");
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/drkit-dr@v0\.1\.0/);
    expect(r.stdout).not.toMatch(/mandatory/);
  });

  // A stack breaking a rule fails the preview, which names the rule and what broke it, as mandatory.
  const failsWith = async (stack: string, rule: string, message: string) => {
    const r = await preview(stack);
    expect(r.status).not.toBe(0);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(out).toContain(rule);
    expect(out).toContain(message);
    expect(out).toMatch(/mandatory/);
  };

  it("fails a stack that breaks retention, naming the rule and the values", () =>
    failsWith(
      "short-retention",
      "postgres-backup-retention",
      "retention.dailyDays is 3 days; the rule's minimum is 7 days",
    ));

  it("fails a stack whose off-site copies are not encrypted", () =>
    failsWith("unencrypted", "offsite-copies-encrypted", "ships to site-a without encryption"));

  it("a team's policy config can lower the rule to advisory", async () => {
    const config = path.join(path.dirname(project.dir), "policy-config.json");
    fs.writeFileSync(config, JSON.stringify({ "postgres-backup-retention": { enforcementLevel: "advisory" } }));
    const r = await preview("short-retention", ["--policy-pack-config", config]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("retention.dailyDays is 3 days");
    expect(r.stdout).toMatch(/advisory/);
  });
});
