import * as fs from "node:fs";
import * as path from "node:path";
import { toolchainBinDir } from "../../cli/engine";
import { runAsync, tempRoot, type RunResult } from "./sandbox";

export const repoDir = path.resolve(__dirname, "../..");

/** Where toolchain/build.sh put the Go-built Pulumi CLI and plugins. */
export function toolchainBin(): string {
  const dir = toolchainBinDir();
  if (!fs.existsSync(path.join(dir, "pulumi"))) {
    throw new Error(`no pulumi CLI in ${dir}: run "bash toolchain/setup" first`);
  }
  return dir;
}

/** Environment for the real CLI: local file backend, passphrase secrets, no network lookups. */
export function engineEnv(stateDir: string): Record<string, string> {
  return {
    PATH: `${toolchainBin()}:${process.env.PATH}`,
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_CONFIG_PASSPHRASE: "drkit-e2e-passphrase",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    // the program is type-checked by `npm run typecheck`; the engine only transpiles it (as drkit's CLI does)
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    NO_COLOR: "1",
  };
}

/** A stack file for one sandbox host named `sandbox`; `services` is the YAML under drkit:services. */
export function sandboxStackYaml(rootPrefix: string, services: string): string {
  return `config:
  drkit:hosts:
    sandbox:
      connection: { type: local, rootPrefix: ${rootPrefix} }
  drkit:services:
${services.replace(/^\n/, "")}`;
}

export interface EngineProject {
  readonly dir: string;
  /** A directory beside the project for the stack's sandbox host (its root prefix). */
  readonly sandboxRoot: string;
  /** stdout and stderr of every CLI run so far: where a leaked secret would show. */
  readonly outputs: string[];
  readonly stateDir: string;
  readonly env: Record<string, string>;
  pulumi(args: string[]): Promise<RunResult>;
  /** The drkit CLI of this repository (bin/drkit.js) on the project. */
  drkit(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** `pulumi config set --path KEY -- VALUE` on a stack (as a secret when asked); fails the test on an error. */
  setConfig(stack: string, key: string, value: string, secret?: boolean): Promise<void>;
  writeStack(name: string, yaml: string): void;
  /** Every file under the state directory, concatenated: what a leaked secret would be found in. */
  stateText(): string;
  remove(): void;
}

/** A copy of the drkit project in a temp directory (node_modules linked), with its own state backend. */
export function engineProject(label: string): EngineProject {
  const root = tempRoot(`e2e-${label}`);
  const dir = path.join(root, "project");
  const stateDir = path.join(root, "state");
  fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
  fs.mkdirSync(stateDir);
  for (const entry of ["Pulumi.yaml", "package.json", "tsconfig.json", "agent", "components", "infra"]) {
    fs.cpSync(path.join(repoDir, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(repoDir, "node_modules"), path.join(dir, "node_modules"));
  const env = engineEnv(stateDir);
  const outputs: string[] = [];
  const pulumi = async (args: string[]) => {
    const r = await runAsync(
      "bash",
      ["-c", `cd "$1" && shift && exec pulumi --non-interactive "$@"`, "pulumi", dir, ...args],
      env,
      600_000,
    );
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const setConfig = async (stack: string, key: string, value: string, secret = false) => {
    const r = await pulumi([
      "config",
      "set",
      "--stack",
      stack,
      ...(secret ? ["--secret"] : []),
      "--path",
      key,
      "--",
      value,
    ]);
    if (r.status !== 0) throw new Error(`pulumi config set ${key} on ${stack}: ${r.stderr}`);
  };
  return {
    dir,
    sandboxRoot: path.join(root, "sandbox"),
    outputs,
    stateDir,
    env,
    pulumi,
    drkit: (args, timeoutMs = 600_000) =>
      runAsync(process.execPath, [path.join(repoDir, "bin/drkit.js"), "-C", dir, ...args], env, timeoutMs),
    setConfig,
    writeStack: (name, yaml) => fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${name}.yaml`), yaml),
    stateText: () => {
      const out: string[] = [];
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else out.push(fs.readFileSync(p, "utf8"));
        }
      };
      walk(stateDir);
      return out.join("\n");
    },
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}
