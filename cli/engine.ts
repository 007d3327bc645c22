import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import type { DrPlan } from "../components/plan/plan";
import type { EngineRun } from "../drill/hostCommands";

export type EngineAction = "preview" | "up" | "destroy";

/** Where toolchain/setup puts the Go-built pulumi, its plugins, minio and mc. */
export const toolchainBinDir = () =>
  path.join(process.env.DRKIT_TOOLCHAIN_DIR ?? path.join(os.homedir(), ".cache/drkit-toolchain"), "bin");

/** The PATH the engine runs with; cli/main.ts has put the toolchain's bin first when it exists. */
export function enginePath(): string {
  const path_ = process.env.PATH ?? "";
  if (!path_.split(":").some((dir) => dir && fs.existsSync(path.join(dir, "pulumi")))) {
    throw new Error("no pulumi CLI: run `bash toolchain/setup` (builds it from Go modules) or put pulumi on PATH");
  }
  return path_;
}

/**
 * Environment for the engine. A stack made only of sandbox hosts gets a state backend inside the
 * sandbox and an empty passphrase when none is set; real stacks must bring their own.
 */
function engineEnv(projectDir: string, plan: DrPlan): Record<string, string> {
  const sandboxOnly = plan.services.every((s) => s.host.connection.type === "local" && s.rootPrefix);
  const env: Record<string, string> = {
    PATH: enginePath(),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    // drkit's program is type-checked when drkit is built: transpiling it is enough, and saves the engine a
    // full type-check (tens of seconds) whenever its compile cache is cold.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
  };
  if (!process.env.PULUMI_BACKEND_URL) {
    if (!sandboxOnly)
      throw new Error(
        "set PULUMI_BACKEND_URL (or pulumi login): this stack has real hosts, so drkit will not pick a state " +
          "backend for it",
      );
    const state = path.join(projectDir, ".sandbox", "state");
    fs.mkdirSync(state, { recursive: true });
    env.PULUMI_BACKEND_URL = `file://${state}`;
  }
  if (process.env.PULUMI_CONFIG_PASSPHRASE === undefined && process.env.PULUMI_CONFIG_PASSPHRASE_FILE === undefined) {
    if (!sandboxOnly)
      throw new Error("set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE for this stack's secrets");
    env.PULUMI_CONFIG_PASSPHRASE = "";
  }
  return env;
}

/** The stack through the Automation API, with the engine's environment. */
async function workspaceStack(projectDir: string, stackName: string, plan: DrPlan): Promise<Stack> {
  const envVars = engineEnv(projectDir, plan);
  // The workspace finds the CLI through this process's PATH; its child processes get envVars.
  process.env.PATH = envVars.PATH;
  return LocalWorkspace.createOrSelectStack({ stackName, workDir: projectDir }, { envVars });
}

/** Runs preview, up or destroy through the Automation API, streaming the engine's progress. */
export async function runEngine(
  projectDir: string,
  stackName: string,
  plan: DrPlan,
  action: EngineAction,
): Promise<void> {
  const stack = await workspaceStack(projectDir, stackName, plan);
  const onOutput = (out: string) => process.stdout.write(out);
  if (action === "preview") {
    const r = await stack.preview({ onOutput, diff: true });
    console.error(`drkit: preview of ${stackName}: ${JSON.stringify(r.changeSummary)}`);
  } else if (action === "up") {
    const r = await stack.up({ onOutput });
    console.error(`drkit: up of ${stackName}: ${r.summary.result} ${JSON.stringify(r.summary.resourceChanges ?? {})}`);
  } else {
    const r = await stack.destroy({ onOutput });
    console.error(`drkit: destroy of ${stackName}: ${r.summary.result}`);
  }
}

/** A secret of the stack's config (a `--path` key such as `drkit:services.x.y`), decrypted by the CLI. */
export async function stackSecretValue(
  projectDir: string,
  stackName: string,
  plan: DrPlan,
  configPath: string,
): Promise<string> {
  const stack = await workspaceStack(projectDir, stackName, plan);
  return (await stack.getConfig(configPath, true)).value;
}

/** Pins a host's SSH key in the stack config (`hosts.<name>.connection.hostKey`), as `pulumi config set --path`. */
export async function pinHostKey(
  projectDir: string,
  stackName: string,
  plan: DrPlan,
  host: string,
  hostKey: string,
): Promise<void> {
  const stack = await workspaceStack(projectDir, stackName, plan);
  await stack.setConfig(`drkit:hosts.${host}.connection.hostKey`, { value: hostKey, secret: false }, true);
}

/** pulumi up, its progress streamed to `onOutput` and kept; a failed up is reported, not thrown. */
export async function upKeepingOutput(
  projectDir: string,
  stackName: string,
  plan: DrPlan,
  onOutput: (out: string) => void,
): Promise<EngineRun> {
  const chunks: string[] = [];
  try {
    const stack = await workspaceStack(projectDir, stackName, plan);
    await stack.up({
      color: "never",
      onOutput: (out) => {
        chunks.push(out);
        onOutput(out);
      },
    });
    return { ok: true, output: chunks.join("") };
  } catch (error) {
    return { ok: false, output: chunks.join(""), error: error instanceof Error ? error.message : String(error) };
  }
}

export interface PolicyPreview {
  /** false when the preview failed: a mandatory policy violation, an error, or a change under expectNoChanges. */
  readonly ok: boolean;
  /** What the engine printed (progress, diff, the policy and resource summaries). */
  readonly output: string;
  /** Resources by operation ("create", "update", "same", ...), when the preview got that far. */
  readonly changeSummary?: Record<string, number>;
  readonly error?: string;
}

/** pulumi preview --diff with policy packs, its output kept (not streamed) for a report. */
export async function previewWithPolicies(
  projectDir: string,
  stackName: string,
  plan: DrPlan,
  options: { policyPacks: string[]; policyPackConfigs: string[]; expectNoChanges: boolean },
): Promise<PolicyPreview> {
  const chunks: string[] = [];
  try {
    const stack = await workspaceStack(projectDir, stackName, plan);
    const r = await stack.preview({ ...options, diff: true, color: "never", onOutput: (out) => chunks.push(out) });
    return { ok: true, output: chunks.join(""), changeSummary: r.changeSummary };
  } catch (error) {
    return { ok: false, output: chunks.join(""), error: error instanceof Error ? error.message : String(error) };
  }
}
