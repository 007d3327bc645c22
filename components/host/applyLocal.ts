import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ServicePlan } from "../plan/plan";
import { backupDirectories, renderPostgresDropIn, renderRedisDropInFile, renderServiceFiles, type RenderedFile } from "../render";
import { redisScripts } from "../render/redis";
import { applySettingsScriptPath } from "../render/archiving";
import { provisionScriptPath } from "../render/sandbox";

const ids = new Map<string, number>();
function idOf(kind: "-u" | "-g", name: string): number {
  const key = `${kind}${name}`;
  if (!ids.has(key)) ids.set(key, Number(execFileSync("id", [kind, name], { encoding: "utf8" }).trim()));
  return ids.get(key)!;
}

/** Writes a file the way the host components do: temp file, fsync, chmod/chown, rename. */
export function placeFile(file: RenderedFile): void {
  fs.mkdirSync(path.dirname(file.path), { recursive: true, mode: 0o755 });
  const tmp = `${path.dirname(file.path)}/.drkit-tmp.${path.basename(file.path)}.${process.pid}`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeSync(fd, file.content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, parseInt(file.mode, 8));
  fs.chownSync(tmp, idOf("-u", file.owner), idOf("-g", file.group));
  fs.renameSync(tmp, file.path);
}

/**
 * Applies a service's rendered files straight to this machine, without the Pulumi engine: what the
 * components do, for tests and for the drill's fallback. Only for local hosts.
 */
export function applyServiceLocally(plan: ServicePlan): void {
  if (plan.host.connection.type !== "local") throw new Error(`service ${plan.name}: applyServiceLocally needs a local host`);
  for (const dir of backupDirectories(plan)) {
    fs.mkdirSync(dir.path, { recursive: true });
    fs.chmodSync(dir.path, parseInt(dir.mode, 8));
    fs.chownSync(dir.path, idOf("-u", dir.owner), idOf("-g", dir.owner));
  }
  for (const file of renderServiceFiles(plan)) placeFile(file);
  if (plan.postgres.provision) execFileSync(provisionScriptPath(plan), ["start"], { stdio: "inherit" });
  placeFile(renderPostgresDropIn(plan));
  execFileSync(applySettingsScriptPath(plan), [], { stdio: "inherit" });
  if (plan.redis) {
    placeFile(renderRedisDropInFile(plan));
    if (plan.redis.provision) execFileSync(redisScripts(plan).sandbox, ["start"], { stdio: "inherit" });
    execFileSync(redisScripts(plan).apply, [], { stdio: "inherit" });
  }
}
