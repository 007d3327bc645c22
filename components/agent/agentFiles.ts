import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The agent: one library and one file per DR operation, in the repository's agent/ folder. They are placed
 * verbatim on hosts and mounted from a ConfigMap in pods; only their settings file is rendered.
 */
export const AGENT_LIBRARY = "lib.sh";

/** The agent's folder, from the sources (components/agent) or from the build (dist/components/agent). */
export function agentDirectory(): string {
  for (const candidate of [path.resolve(__dirname, "../../agent"), path.resolve(__dirname, "../../../agent")]) {
    if (fs.existsSync(path.join(candidate, AGENT_LIBRARY))) return candidate;
  }
  throw new Error(`drkit's agent folder (with ${AGENT_LIBRARY}) is missing next to ${__dirname}`);
}

/** Every file of the agent, by name, library first. */
export function agentFileNames(): string[] {
  const names = fs
    .readdirSync(agentDirectory())
    .filter((name) => !name.startsWith(".") && name !== AGENT_LIBRARY && !name.endsWith(".md"))
    .sort();
  return [AGENT_LIBRARY, ...names];
}

const cache = new Map<string, string>();
/** The text of one agent file. */
export function agentFile(name: string): string {
  if (!cache.has(name)) {
    const file = path.join(agentDirectory(), name);
    if (!fs.existsSync(file)) throw new Error(`the agent has no file "${name}" (in ${agentDirectory()})`);
    cache.set(name, fs.readFileSync(file, "utf8"));
  }
  return cache.get(name)!;
}
