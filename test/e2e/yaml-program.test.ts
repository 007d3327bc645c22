import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineEnv, repoDir, toolchainBin } from "../helpers/engine";
import { freePort, psqlAt, runAsync, tempRoot, type RunResult } from "../helpers/sandbox";

// drkit from another Pulumi language: plugin/ as a component package (PulumiPlugin.yaml, the nodejs runtime,
// its schema inferred from plugin/index.ts), used by the Pulumi YAML program plugin/example/Pulumi.yaml through
// the pulumi-language-yaml host that toolchain/build.sh builds. On a copy of the sources in a temp directory:
// schema, preview, up of a sandbox, a backup by the job up placed, a no-op second up, destroy.
describe("a Pulumi YAML program declares drkit's PostgresBackup through the component package", () => {
  let root: string;
  let project: string;
  let example: string;
  let sandbox: string;
  let port: number;
  let env: Record<string, string>;
  const run = (cwd: string, command: string, args: string[], timeout = 600_000): Promise<RunResult> =>
    runAsync("bash", ["-c", 'cd "$1" && shift && exec "$@"', "run", cwd, command, ...args], env, timeout);
  const pulumi = (args: string[]) => run(example, "pulumi", ["--non-interactive", ...args]);

  beforeAll(async () => {
    root = tempRoot("yaml-program");
    project = path.join(root, "project");
    sandbox = path.join(root, "sandbox");
    example = path.join(project, "plugin", "example");
    for (const entry of ["package.json", "tsconfig.json", "agent", "components", "plugin"]) {
      fs.cpSync(path.join(repoDir, entry), path.join(project, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(repoDir, "node_modules"), path.join(project, "node_modules"));
    fs.mkdirSync(path.join(root, "state"));
    env = engineEnv(path.join(root, "state"));
    expect(fs.existsSync(path.join(toolchainBin(), "pulumi-language-yaml"))).toBe(true);
    const build = await run(path.join(project, "plugin"), path.join(repoDir, "node_modules/.bin/tsc"), [
      "-p",
      "tsconfig.json",
    ]);
    expect(build.status, build.stdout + build.stderr).toBe(0);
    port = await freePort();
    expect((await pulumi(["stack", "init", "sandbox"])).status).toBe(0);
    for (const [key, value] of [
      ["rootPrefix", sandbox],
      ["port", String(port)],
    ]) {
      const set = await pulumi(["config", "set", key, value]);
      expect(set.status, set.stderr).toBe(0);
    }
  }, 300_000);

  afterAll(async () => {
    if (example) await pulumi(["destroy", "--yes"]).catch(() => undefined);
    if (sandbox) spawnSync("pkill", ["-f", "--", `-D ${sandbox}`]);
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("the package's schema has PostgresBackup with plain inputs and its outputs", async () => {
    const r = await run(project, "pulumi", ["package", "get-schema", "./plugin"]);
    expect(r.status, r.stderr).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.name).toBe("drkit");
    const component = schema.resources["drkit:index:PostgresBackup"];
    expect(component.isComponent).toBe(true);
    expect(component.requiredInputs.sort()).toEqual(["databases", "rpo", "service"]);
    // plain: the plan is decided when the component is constructed, so no input waits on another resource
    expect(component.inputProperties.databases).toEqual(
      expect.objectContaining({ type: "array", items: { type: "string", plain: true }, plain: true }),
    );
    expect(component.inputProperties.postgresVersion.type).toBe("number");
    expect(Object.keys(component.properties).sort()).toEqual([
      "archiveTimeoutSeconds",
      "backupRoot",
      "restorePitrScript",
      "timers",
      "walDirectory",
    ]);
  });

  it("preview plans drkit's resources under the YAML program's component", async () => {
    const r = await pulumi(["preview", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const steps = JSON.parse(r.stdout).steps as Array<{ op: string; urn: string }>;
    const types = new Set(steps.filter((s) => s.op === "create").map((s) => s.urn.split("::")[2].split("$").pop()));
    for (const type of ["drkit:index:PostgresBackup", "drkit:postgres:PostgresBackup", "drkit:host:Agent"]) {
      expect(types.has(type), `${type} in ${[...types].join(", ")}`).toBe(true);
    }
  });

  it("up provisions the sandbox: archiving from the RPO, a backup job that runs; no-op second up", async () => {
    const up = await pulumi(["up", "--yes", "--skip-preview"]);
    expect(up.status, up.stdout + up.stderr).toBe(0);
    const outputs = JSON.parse((await pulumi(["stack", "output", "--json"])).stdout);
    expect(outputs.archiveTimeoutSeconds).toBe(240);
    expect(outputs.backupRoot.startsWith(sandbox)).toBe(true);
    const socket = path.join(sandbox, "var/run/postgresql");
    expect(psqlAt(socket, port, "SHOW archive_mode", "postgres")).toBe("on");
    expect(psqlAt(socket, port, "SHOW archive_timeout", "postgres")).toBe("4min");
    const backup = await runAsync(path.join(sandbox, "usr/local/lib/drkit/billing/backup-base"), [], {}, 300_000);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/base backup \d{8}T\d{6}Z complete/);
    const again = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(again.status, again.stdout + again.stderr).toBe(0);
  });

  it("a value the stack config rules refuse fails the preview, naming the component and the field", async () => {
    const set = await pulumi(["config", "set", "port", "70000"]);
    expect(set.status, set.stderr).toBe(0);
    const r = await pulumi(["preview"]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/drkit:PostgresBackup "billing": services\.billing\.postgres\.port: 70000/);
    expect((await pulumi(["config", "set", "port", String(port)])).status).toBe(0);
  });
});
