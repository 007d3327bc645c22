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

function stackFilePath(projectDir: string, stack: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(stack))
    throw new Error(`stack name "${stack}" may only hold letters, digits, '.', '_' and '-'`);
  const project = parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as { stackConfigDir?: string };
  return path.join(projectDir, project.stackConfigDir ?? ".", `Pulumi.${stack}.yaml`);
}

/** The drkit part of a stack's config (keys `drkit:hosts`, `drkit:services`), as written in the YAML file. */
export function readStackConfig(projectDir: string, stack: string): Record<string, unknown> {
  const file = stackFilePath(projectDir, stack);
  if (!fs.existsSync(file))
    throw new Error(`stack "${stack}" has no config file ${path.relative(process.cwd(), file) || file}`);
  const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  return rawConfigFromEntries(doc.config ?? {});
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
