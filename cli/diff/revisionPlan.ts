import { spawnSync } from "node:child_process";
import { ConfigError } from "../../components/plan/errors";
import { buildPlan, type DrPlan } from "../../components/plan/plan";
import { readStackConfigFrom, workingTreeReader, type ProjectFileReader } from "../../components/plan/stackFile";

function git(projectDir: string, args: string[]) {
  const result = spawnSync("git", ["-C", projectDir, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`cannot run git: ${result.error.message}`);
  return result;
}

/** Reads the project's files as they are in a git revision (paths relative to the project directory). */
function revisionReader(projectDir: string, revision: string): ProjectFileReader {
  const commit = git(projectDir, ["rev-parse", "--verify", "--quiet", `${revision}^{commit}`]);
  if (commit.status !== 0) throw new Error(`--base ${revision}: not a commit of the git repository at ${projectDir}`);
  return (relativePath) => {
    const spec = `${revision}:./${relativePath}`;
    if (git(projectDir, ["cat-file", "-e", spec]).status !== 0) return undefined;
    const shown = git(projectDir, ["show", spec]);
    if (shown.status !== 0) throw new Error(`git show ${spec} failed: ${shown.stderr.trim()}`);
    return shown.stdout;
  };
}

/** The stack's plan from its config in the working tree (undefined when the stack has no config file). */
export function workingTreePlan(projectDir: string, stack: string): DrPlan | undefined {
  const config = readStackConfigFrom(workingTreeReader(projectDir), stack);
  return config && buildPlan(config, { baseDir: projectDir });
}

/**
 * The stack's plan from its config as committed in a git revision (undefined when the stack had no config
 * file then). Paths stay those of the working tree, so only what the config changed differs.
 */
export function revisionPlan(projectDir: string, revision: string, stack: string): DrPlan | undefined {
  const config = readStackConfigFrom(revisionReader(projectDir, revision), stack);
  try {
    return config && buildPlan(config, { baseDir: projectDir });
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(error.problems.map((p) => `(in ${revision}) ${p}`));
    throw error;
  }
}

/** The project's files that differ between a git revision and the working tree, relative to the project. */
export function changedPaths(projectDir: string, revision: string): string[] {
  const r = git(projectDir, ["diff", "--name-only", "--relative", revision, "--"]);
  if (r.status !== 0) throw new Error(`git diff --name-only ${revision} failed: ${r.stderr.trim()}`);
  return r.stdout.split("\n").filter(Boolean);
}
