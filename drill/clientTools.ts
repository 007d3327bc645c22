import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** The client programs a scenario's jobs run against the server's data or WAL: each must be of its major. */
export type ClientTool = "pg_basebackup" | "pg_waldump" | "pg_verifybackup" | "pg_rewind";

/** The major version a program reports (`--version`); undefined when it is missing or says none. */
export type VersionProbe = (program: string) => number | undefined;

const probed = new Map<string, number | undefined>();

export const programMajor: VersionProbe = (program) => {
  if (!probed.has(program)) {
    let major: number | undefined;
    if (fs.existsSync(program)) {
      try {
        const out = execFileSync(program, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
        const m = /\(PostgreSQL\)\s+(\d+)/.exec(out);
        major = m ? Number(m[1]) : undefined;
      } catch {
        major = undefined;
      }
    }
    probed.set(program, major);
  }
  return probed.get(program);
};

/**
 * Why `binDirectory` cannot serve `tools` for a PostgreSQL `major` server (a program missing, or of another
 * major, naming each); undefined when it can.
 */
export function missingClientTools(
  binDirectory: string,
  major: number,
  tools: readonly ClientTool[],
  probe: VersionProbe = programMajor,
): string | undefined {
  const problems = tools.flatMap((tool) => {
    const found = probe(path.join(binDirectory, tool));
    if (found === major) return [];
    return [found === undefined ? `${tool} is missing` : `${tool} is PostgreSQL ${found}'s`];
  });
  if (!problems.length) return undefined;
  return `needs ${tools.join(", ")} of PostgreSQL ${major} in ${binDirectory} (${problems.join(", ")})`;
}
