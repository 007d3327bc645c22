import * as fs from "node:fs";
import * as path from "node:path";
import type { DrPlan } from "../components/plan/plan";
import { backupDirectories, renderPostgresDropIn, renderServiceFiles } from "../components/render";

export interface WrittenFile {
  readonly host: string;
  readonly hostPath: string;
  readonly outPath: string;
}

/** The path a file has on its host, without the sandbox root prefix. */
export function hostPathOf(filePath: string, rootPrefix: string): string {
  return rootPrefix && filePath.startsWith(`${rootPrefix}/`) ? filePath.slice(rootPrefix.length) : filePath;
}

/** Writes every file drkit would place, as <out>/<host>/<absolute path>, plus a directory listing. */
export function renderPlanTo(plan: DrPlan, outDir: string): WrittenFile[] {
  const written: WrittenFile[] = [];
  for (const service of plan.services) {
    const files = [...renderServiceFiles(service), renderPostgresDropIn(service)];
    for (const file of files) {
      const hostPath = hostPathOf(file.path, service.rootPrefix);
      const outPath = path.join(outDir, service.host.name, hostPath);
      fs.mkdirSync(path.dirname(outPath), { recursive: true });
      fs.writeFileSync(outPath, file.content, { mode: parseInt(file.mode, 8) });
      written.push({ host: service.host.name, hostPath, outPath });
    }
    const dirs = backupDirectories(service).map((d) => `${d.mode} ${d.owner} ${hostPathOf(d.path, service.rootPrefix)}`);
    const listing = path.join(outDir, service.host.name, `DIRECTORIES-${service.name}.txt`);
    fs.writeFileSync(listing, `# directories drkit creates for ${service.name} (mode owner path)\n${dirs.join("\n")}\n`);
  }
  return written;
}
