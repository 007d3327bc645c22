import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { buildPlan, type DrPlan } from "./plan";

const CONFIG_NAMESPACE = "drkit";

/** Finds the project directory (the one holding Pulumi.yaml) at or above `from`. */
export function findProjectDir(from: string): string {
  let dir = path.resolve(from);
  for (;;) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no Pulumi.yaml at or above ${from}: run drkit inside a drkit project`);
    dir = parent;
  }
}

/** Reads a file of the project by its path relative to the project directory; undefined when it is missing. */
export type ProjectFileReader = (relativePath: string) => string | undefined;

export const workingTreeReader =
  (projectDir: string): ProjectFileReader =>
  (relativePath) => {
    const file = path.join(projectDir, relativePath);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  };

/** Where the stacks' config files are, relative to the project directory (Pulumi.yaml's stackConfigDir). */
function stackConfigDir(read: ProjectFileReader): string {
  const projectFile = read("Pulumi.yaml");
  if (projectFile === undefined) throw new Error("the project has no Pulumi.yaml");
  return ((parse(projectFile) ?? {}) as { stackConfigDir?: string }).stackConfigDir ?? ".";
}

/** The stack's config file, relative to the project directory. */
function stackFilePath(read: ProjectFileReader, stack: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(stack))
    throw new Error(`stack name "${stack}" may only hold letters, digits, '.', '_' and '-'`);
  return path.normalize(path.join(stackConfigDir(read), `Pulumi.${stack}.yaml`));
}

/** The project's stacks: every Pulumi.<stack>.yaml in its stack config directory, by name. */
export function stackNames(projectDir: string): string[] {
  const dir = path.join(projectDir, stackConfigDir(workingTreeReader(projectDir)));
  return fs
    .readdirSync(dir)
    .flatMap((name) => /^Pulumi\.([A-Za-z0-9._-]+)\.yaml$/.exec(name)?.[1] ?? [])
    .sort();
}

/** The stack's config file, relative to the project directory. */
export const stackFileOf = (projectDir: string, stack: string) => stackFilePath(workingTreeReader(projectDir), stack);

/** The drkit part of a stack's config, or undefined when the project has no config file for the stack. */
export function readStackConfigFrom(read: ProjectFileReader, stack: string): Record<string, unknown> | undefined {
  const text = read(stackFilePath(read, stack));
  if (text === undefined) return undefined;
  const doc = (parse(text) ?? {}) as { config?: Record<string, unknown> };
  return rawConfigFromEntries(doc.config ?? {});
}

/** The drkit part of a stack's config (keys `drkit:hosts`, `drkit:services`), as written in the YAML file. */
export function readStackConfig(projectDir: string, stack: string): Record<string, unknown> {
  const read = workingTreeReader(projectDir);
  const config = readStackConfigFrom(read, stack);
  if (config === undefined) {
    const file = path.join(projectDir, stackFilePath(read, stack));
    throw new Error(`stack "${stack}" has no config file ${path.relative(process.cwd(), file) || file}`);
  }
  return config;
}

/** Picks `drkit:<key>` entries out of a flat Pulumi config map. */
export function rawConfigFromEntries(entries: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entries)) {
    const [namespace, name] = key.split(":");
    if (namespace === CONFIG_NAMESPACE && name) raw[name] = value;
  }
  return raw;
}

export function loadStackPlan(projectDir: string, stack: string): DrPlan {
  return buildPlan(readStackConfig(projectDir, stack), { baseDir: projectDir });
}
