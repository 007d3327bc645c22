import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { storesInCreationOrder, type ObjectStorePlan } from "../components/plan/offsite";
import type { DrPlan } from "../components/plan/plan";
import { mcHostUrl } from "../components/objectstore/mcHost";
import {
  MINIO_REPLICA_ALIAS,
  MINIO_SOURCE_ALIAS,
  renderMinioTargetScript,
  renderSandboxMinioScript,
} from "../components/objectstore/minioScripts";

export interface PlainKeys {
  readonly accessKey: string;
  readonly secretKey: string;
}

const mcHost = (store: ObjectStorePlan, k: PlainKeys) =>
  mcHostUrl(store.name, store.endpoint, k.accessKey, k.secretKey);

/** Keys of a sandbox server without configured ones: generated once, kept in a 0600 file beside its data. */
function sandboxKeys(store: ObjectStorePlan): PlainKeys {
  const file = path.join(store.provision!.dataDirectory, "root-keys.json");
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8")) as PlainKeys;
  const keys = { accessKey: `drkit-${store.name}`, secretKey: randomBytes(20).toString("hex") };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

function runScript(content: string, args: string[], env: Record<string, string>, what: string): void {
  console.error(`drkit: ${what}`);
  const r = spawnSync("bash", ["-s", "--", ...args], {
    input: content,
    stdio: ["pipe", "inherit", "inherit"],
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal})`);
}

/**
 * What the object-store components do, without the engine: sandbox MinIO servers started, buckets configured
 * (replica sites first). Returns every store's keys for the hosts' credentials files.
 */
export function applyObjectStoresLocally(plan: DrPlan): Record<string, PlainKeys> {
  const keys: Record<string, PlainKeys> = {};
  for (const store of storesInCreationOrder(plan.objectStores)) {
    if (store.type !== "minio")
      throw new Error(
        `object store ${store.name}: drkit apply configures MinIO only; ${store.type} buckets need pulumi up`,
      );
    keys[store.name] = keysOf(store);
    if (store.provision) {
      runScript(
        renderSandboxMinioScript(store),
        ["start"],
        { MINIO_ROOT_USER: keys[store.name].accessKey, MINIO_ROOT_PASSWORD: keys[store.name].secretKey },
        `${store.name}: starting the sandbox MinIO server`,
      );
    }
    const replica = plan.objectStores.find((s) => s.name === store.replicateTo);
    const env: Record<string, string> = { [`MC_HOST_${MINIO_SOURCE_ALIAS}`]: mcHost(store, keys[store.name]) };
    if (replica) env[`MC_HOST_${MINIO_REPLICA_ALIAS}`] = mcHost(replica, keys[replica.name]);
    runScript(renderMinioTargetScript(store, replica), [], env, `${store.name}: configuring bucket ${store.bucket}`);
  }
  return keys;
}

function keysOf(store: ObjectStorePlan): PlainKeys {
  if (typeof store.accessKey === "string" && typeof store.secretKey === "string")
    return { accessKey: store.accessKey, secretKey: store.secretKey };
  if (store.provision) return sandboxKeys(store);
  throw new Error(`object store ${store.name}: drkit apply needs its keys in plain text (use pulumi up for secrets)`);
}
