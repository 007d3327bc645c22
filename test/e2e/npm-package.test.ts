import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineEnv, repoDir } from "../helpers/engine";
import { runAsync, tempRoot } from "../helpers/sandbox";

// The package as published: `npm pack` of a copy of the sources (its prepack builds dist/), installed from the
// tarball into an empty project, which then uses the components in a Pulumi program of its own, the drkit
// command, and the policy pack shipped in dist/policies.
describe("the npm package, installed into an empty project", () => {
  let root: string;
  let consumer: string;
  let tarball: string;
  let env: Record<string, string>;
  const inConsumer = (command: string, args: string[]) => runAsync(command, args, { ...env, PWD: consumer }, 600_000);
  const node = (script: string) => inConsumer("bash", ["-c", 'cd "$1" && node -e "$2"', "node", consumer, script]);
  const pulumi = (...args: string[]) =>
    inConsumer("bash", ["-c", 'cd "$1" && shift && exec pulumi --non-interactive "$@"', "pulumi", consumer, ...args]);
  const stackYaml = (retention: string) => `config:
  drkit:hosts:
    sandbox:
      connection: { type: local, rootPrefix: ${root}/sandbox }
  drkit:services:
    billing:
      host: sandbox
      rpo: 2m
      retention: ${retention}
      monitoring: {}
      postgres: { port: 55997, databases: [billing] }
`;

  beforeAll(async () => {
    root = tempRoot("npm-package");
    const source = path.join(root, "source");
    consumer = path.join(root, "consumer");
    fs.mkdirSync(source);
    const inputs = ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md"];
    for (const entry of [...inputs, "components", "infra", "cli", "drill", "policies", "agent", "bin", "toolchain"])
      fs.cpSync(path.join(repoDir, entry), path.join(source, entry), { recursive: true });
    fs.symlinkSync(path.join(repoDir, "node_modules"), path.join(source, "node_modules"));
    const pack = await runAsync("bash", [
      "-c",
      'cd "$1" && npm pack --silent --pack-destination "$2"',
      "pack",
      source,
      root,
    ]);
    expect(pack.status, pack.stderr).toBe(0);
    tarball = path.join(root, pack.stdout.trim().split("\n").pop()!);

    fs.mkdirSync(consumer);
    fs.writeFileSync(
      path.join(consumer, "package.json"),
      '{ "name": "consumer", "version": "1.0.0", "private": true }',
    );
    env = { ...engineEnv(path.join(root, "state")) };
    fs.mkdirSync(path.join(root, "state"));
    const install = await inConsumer("bash", [
      "-c",
      'cd "$1" && npm install --prefer-offline --no-audit --no-fund "$2"',
      "install",
      consumer,
      tarball,
    ]);
    expect(install.status, install.stderr).toBe(0);
    fs.writeFileSync(path.join(consumer, "Pulumi.yaml"), "name: consumer\nruntime: nodejs\nmain: index.js\n");
    fs.writeFileSync(
      path.join(consumer, "index.js"),
      `const pulumi = require("@pulumi/pulumi");
const drkit = require("drkit");
const config = new pulumi.Config("drkit");
const plan = drkit.buildPlan(
  { hosts: config.requireObject("hosts"), services: config.requireObject("services") },
  { baseDir: __dirname },
);
const backups = plan.services.map((service) => new drkit.PostgresBackup(service.name, { plan: service }));
exports.archiveTimeoutSeconds = backups[0].archiveTimeoutSeconds;
`,
    );
    expect((await pulumi("stack", "init", "dev")).status).toBe(0);
  }, 600_000);
  afterAll(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("the tarball holds the built JavaScript, the agent and the policy pack; no tests, no TypeScript sources", () => {
    const files = spawnSync("tar", ["-tzf", tarball], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    for (const file of [
      "package/dist/components/index.js",
      "package/dist/components/index.d.ts",
      "package/dist/cli/main.js",
      "package/dist/policies/index.js",
      "package/dist/policies/PulumiPolicy.yaml",
      "package/agent/lib.sh",
      "package/agent/backup-base",
      "package/bin/drkit.js",
    ])
      expect(files).toContain(file);
    expect(files.filter((f) => f.startsWith("package/test/") || /\.ts$/.test(f.replace(/\.d\.ts$/, "")))).toEqual([]);
  });

  it("a program requires it: the components and the plan, with drkit's validation errors", async () => {
    const r = await node(`
      const drkit = require("drkit");
      for (const name of ["PostgresBackup", "RedisBackup", "PostgresCluster", "S3BackupBucket", "buildPlan"])
        if (typeof drkit[name] !== "function") throw new Error(name + " is not exported");
      try {
        drkit.buildPlan({ hosts: { h: { connection: { type: "local" } } }, services: { s: { host: "h", rpo: "0s" } } },
          { baseDir: "/tmp" });
      } catch (e) { console.log(e.name + ": " + e.message); }`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("ConfigError: invalid drkit stack config:");
    expect(r.stdout).toContain('services.s.rpo: "0s" must be at least 1s');
  });

  it("the drkit command runs from the build (no TypeScript runner installed)", async () => {
    expect(fs.existsSync(path.join(consumer, "node_modules/tsx"))).toBe(false);
    fs.writeFileSync(path.join(consumer, "Pulumi.dev.yaml"), stackYaml("{ dailyDays: 7 }"));
    const r = await inConsumer("bash", ["-c", 'cd "$1" && npx drkit plan --stack dev', "drkit", consumer]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("archive_timeout = 96s");
  });

  it("pulumi preview of the program with the installed policy pack: passes, fails on short retention", async () => {
    const pack = path.join(consumer, "node_modules/drkit/dist/policies");
    fs.writeFileSync(path.join(consumer, "Pulumi.dev.yaml"), stackYaml("{ dailyDays: 7 }"));
    const ok = await pulumi("preview", "--stack", "dev", "--policy-pack", pack);
    expect(ok.status, `${ok.stdout}\n${ok.stderr}`).toBe(0);
    expect(ok.stdout).toMatch(/drkit-dr@v0\.1\.0/);
    expect(ok.stdout).toMatch(/archiveTimeoutSeconds: 96/);
    expect(ok.stdout).toMatch(/\+ +drkit:postgres:PostgresBackup +billing +create/);

    fs.writeFileSync(path.join(consumer, "Pulumi.dev.yaml"), stackYaml("{ dailyDays: 3 }"));
    const short = await pulumi("preview", "--stack", "dev", "--policy-pack", pack);
    expect(short.status).not.toBe(0);
    expect(short.stdout).toMatch(/\[mandatory\] +postgres-backup-retention/);
    expect(short.stdout).toContain("retention.dailyDays is 3 days; the rule's minimum is 7 days");
  });
});
