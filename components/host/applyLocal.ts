import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { serviceArtifacts } from "../artifacts/hostArtifacts";
import type { Artifact, FileArtifact } from "../artifacts/types";
import { credentialsFileContent } from "../objectstore/mcHost";
import { makeDirectoriesScript } from "./commands";
import type { ServicePlan } from "../plan/plan";

const ids = new Map<string, number>();
function idOf(kind: "-u" | "-g", name: string): number {
  const key = `${kind}${name}`;
  if (!ids.has(key)) ids.set(key, Number(execFileSync("id", [kind, name], { encoding: "utf8" }).trim()));
  return ids.get(key)!;
}

export interface PlacedFile {
  readonly path: string;
  readonly content: string;
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
}

/** Writes a file the way the host components do: temp file, fsync, chmod/chown, rename. */
export function placeFile(file: PlacedFile): void {
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

export type PlainStoreKeys = Readonly<Record<string, { accessKey: string; secretKey: string }>>;

/** Resolves a secret file's content without the engine: values as given, one replication password per service. */
function secretContent(plan: ServicePlan, file: FileArtifact, storeKeys: PlainStoreKeys): string {
  const secret = file.secret!;
  const plain = (value: unknown, what: string) => {
    if (typeof value !== "string")
      throw new Error(`service ${plan.name}: applying without the engine needs a plain ${what} (no Pulumi secret)`);
    return value;
  };
  if (secret.of === "offsite-credentials") {
    const t = plan.offsite!.targets.find((x) => x.store === secret.store)!;
    const keys = storeKeys[t.store] ?? {
      accessKey: plain(t.accessKey, "object-store access key"),
      secretKey: plain(t.secretKey, "object-store secret key"),
    };
    return credentialsFileContent(t.store, t.alias, t.endpoint, keys.accessKey, keys.secretKey);
  }
  if (secret.of === "replication-tls-key")
    return `${plain(plan.replication!.tls!.key, "replication.tls.key").trim()}\n`;
  if (secret.of === "redis-auth") return `${plain(plan.redis!.auth!.password, "redis.auth.password")}\n`;
  if (secret.of === "redis-tls-key") return `${plain(plan.redis!.tls!.client!.key, "redis.tls.key").trim()}\n`;
  // Without the engine there is no RandomPassword: make one per role, once, and keep them in the primary's 0600
  // pgpass file.
  const r = plan.replication!;
  const kept = fs.existsSync(r.passFile) ? fs.readFileSync(r.passFile, "utf8").split("\n") : [];
  const passwordOf = (role: string) =>
    kept.map((line) => line.split(":")).find((f) => f[3] === role)?.[4] ?? randomBytes(24).toString("hex");
  return [r.role, r.rewindRole].map((role) => `*:*:*:${role}:${passwordOf(role)}\n`).join("");
}

/** A step's script under bash, its output passed through; asynchronous, so a caller's event loop keeps running. */
function runStep(id: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", `set -euo pipefail\n${script}`], { stdio: "inherit" });
    child.on("error", reject);
    child.on("close", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${id} failed (${signal ?? `exit ${code}`}):\n${script}`)),
    );
  });
}

async function applyArtifact(plan: ServicePlan, a: Artifact, storeKeys: PlainStoreKeys): Promise<void> {
  if (a.host.connection.type !== "local")
    throw new Error(`service ${plan.name}: ${a.id} is for host ${a.host.name}, which is not local; use pulumi up`);
  if (a.kind === "directory" && a.groupReadsTree) {
    await runStep(a.id, makeDirectoriesScript([a]));
  } else if (a.kind === "directory") {
    fs.mkdirSync(a.path, { recursive: true });
    fs.chmodSync(a.path, parseInt(a.mode, 8));
    fs.chownSync(a.path, idOf("-u", a.owner), idOf("-g", a.groupOf ?? a.owner));
  } else if (a.kind === "file") {
    placeFile(a.secret ? { ...a, content: secretContent(plan, a, storeKeys) } : a);
  } else {
    await runStep(a.id, a.run);
  }
}

/**
 * Applies a service's artifacts straight to this machine, without the Pulumi engine, in list order: what the
 * components do, for sandboxes, tests and the drill's fallback. Only for local hosts. `skip` names artifacts left
 * out (ids such as "step:clone:s1"); an id that names none is an error.
 */
export async function applyServiceLocally(
  plan: ServicePlan,
  storeKeys: PlainStoreKeys = {},
  skip: readonly string[] = [],
): Promise<void> {
  if (plan.host.connection.type !== "local")
    throw new Error(`service ${plan.name}: applyServiceLocally needs a local host`);
  const all = serviceArtifacts(plan).all;
  const unknown = skip.filter((id) => !all.some((a) => a.id === id));
  if (unknown.length) throw new Error(`service ${plan.name} has no artifact ${unknown.join(", ")} to skip`);
  for (const a of all) if (!skip.includes(a.id)) await applyArtifact(plan, a, storeKeys);
}

/** Only the backup directories, with their owners and modes (idempotent). */
export async function placeBackupDirectories(plan: ServicePlan): Promise<void> {
  for (const dir of serviceArtifacts(plan).directories()) await applyArtifact(plan, dir, {});
}
