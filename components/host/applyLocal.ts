import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ServicePlan } from "../plan/plan";
import { randomBytes } from "node:crypto";
import { backupDirectories, offsiteCredentialFiles, renderPostgresDropIn, renderRedisDropInFile, renderReplicationDropInFile, renderServiceFiles, renderStandbyFiles, type RenderedFile } from "../render";
import { setupReplicationScriptPath } from "../render/replication";
import { redisScripts } from "../render/redis";
import { applySettingsScriptPath } from "../render/archiving";
import { provisionScriptPath } from "../render/sandbox";
import { installMcCommand } from "./commands";

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

/** The service's backup directories with their owners and modes, as BackupDirectories makes them (idempotent). */
export function placeBackupDirectories(plan: ServicePlan): void {
  for (const dir of backupDirectories(plan)) {
    fs.mkdirSync(dir.path, { recursive: true });
    fs.chmodSync(dir.path, parseInt(dir.mode, 8));
    fs.chownSync(dir.path, idOf("-u", dir.owner), idOf("-g", dir.owner));
  }
}

/**
 * Applies a service's rendered files straight to this machine, without the Pulumi engine: what the
 * components do, for tests and for the drill's fallback. Only for local hosts.
 */
export function applyServiceLocally(plan: ServicePlan, storeKeys: Readonly<Record<string, { accessKey: string; secretKey: string }>> = {}): void {
  if (plan.host.connection.type !== "local") throw new Error(`service ${plan.name}: applyServiceLocally needs a local host`);
  placeBackupDirectories(plan);
  for (const file of renderServiceFiles(plan)) placeFile(file);
  const plain = (s: unknown) => {
    if (typeof s !== "string") throw new Error(`service ${plan.name}: applyServiceLocally needs plain object-store keys (no Pulumi secrets)`);
    return s;
  };
  for (const file of offsiteCredentialFiles(plan, (t) => storeKeys[t.store] ?? { accessKey: plain(t.accessKey), secretKey: plain(t.secretKey) })) placeFile(file);
  if (plan.offsite && plan.rootPrefix) execFileSync("bash", ["-c", installMcCommand(plan)], { stdio: "inherit" });
  if (plan.postgres.provision) execFileSync(provisionScriptPath(plan), ["start"], { stdio: "inherit" });
  placeFile(renderPostgresDropIn(plan));
  execFileSync(applySettingsScriptPath(plan), [], { stdio: "inherit" });
  if (plan.replication) {
    const r = plan.replication;
    // Without the engine there is no RandomPassword: make one, once, and keep it in the 0600 pgpass file.
    const password = fs.existsSync(r.passFile) ? fs.readFileSync(r.passFile, "utf8").trim().split(":")[4] : randomBytes(24).toString("hex");
    const pgpass = { content: `*:*:*:${r.role}:${password}\n`, mode: "0600", owner: plan.postgres.osUser, group: plan.postgres.osUser, kind: "postgres-conf" as const, secret: true };
    placeFile({ ...pgpass, path: r.passFile });
    placeFile(renderReplicationDropInFile(plan));
    execFileSync(applySettingsScriptPath(plan), [], { stdio: "inherit" });
    execFileSync(setupReplicationScriptPath(plan), [], { stdio: "inherit" });
    for (const file of renderStandbyFiles(plan)) {
      const standby = r.standbys.find((s) => s.name === file.standby)!;
      if (standby.host.connection.type !== "local") throw new Error(`standby ${standby.name}: applyServiceLocally needs local hosts`);
      placeFile({ ...pgpass, path: standby.passFile });
      placeFile(file);
      execFileSync(file.path, [], { stdio: "inherit" });
    }
  }
  if (plan.redis) {
    placeFile(renderRedisDropInFile(plan));
    if (plan.redis.provision) execFileSync(redisScripts(plan).sandbox, ["start"], { stdio: "inherit" });
    execFileSync(redisScripts(plan).apply, [], { stdio: "inherit" });
  }
}
