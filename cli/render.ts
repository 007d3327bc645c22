import * as fs from "node:fs";
import * as path from "node:path";
import { serviceArtifacts } from "../components/artifacts/hostArtifacts";
import type { DrPlan } from "../components/plan/plan";

export interface WrittenFile {
  readonly host: string;
  readonly hostPath: string;
  readonly outPath: string;
}

/** The path a file has on its host, without the sandbox root prefix. */
export function hostPathOf(filePath: string, rootPrefix: string): string {
  return rootPrefix && filePath.startsWith(`${rootPrefix}/`) ? filePath.slice(rootPrefix.length) : filePath;
}

/**
 * Writes every artifact of every service: each file as <out>/<host>/<absolute path> (secret files hold a
 * placeholder, never the secret), and per host and service a listing of the directories and setup steps.
 */
export function renderPlanTo(plan: DrPlan, outDir: string): WrittenFile[] {
  const written: WrittenFile[] = [];
  for (const service of plan.services) {
    const listings = new Map<string, string[]>();
    const listing = (host: string) => listings.get(host) ?? listings.set(host, []).get(host)!;
    for (const a of serviceArtifacts(service).all) {
      const prefix = a.host.connection.rootPrefix;
      if (a.kind === "file") {
        const hostPath = hostPathOf(a.path, prefix);
        const outPath = path.join(outDir, a.host.name, hostPath);
        fs.mkdirSync(path.dirname(outPath), { recursive: true });
        fs.writeFileSync(outPath, a.content, { mode: parseInt(a.mode, 8) });
        written.push({ host: a.host.name, hostPath, outPath });
        listing(a.host.name).push(
          `file ${a.mode} ${a.owner}:${a.group} ${hostPath}${a.secret ? " (secret)" : ""}  [${a.id}]`,
        );
      } else if (a.kind === "directory") {
        listing(a.host.name).push(`directory ${a.mode} ${a.owner} ${hostPathOf(a.path, prefix)}  [${a.id}]`);
      } else {
        listing(a.host.name).push(`step ${a.description}  [${a.id}]`);
      }
    }
    for (const [host, lines] of listings) {
      fs.mkdirSync(path.join(outDir, host), { recursive: true });
      const out = path.join(outDir, host, `ARTIFACTS-${service.name}.txt`);
      fs.writeFileSync(
        out,
        `# what drkit places for ${service.name} on ${host}, in order (kind mode owner path ` +
          `[id])\n${lines.join("\n")}\n`,
      );
    }
  }
  return written;
}
