import type * as pulumi from "@pulumi/pulumi";
import type { DrPlan } from "../plan/plan";
import { stackSecret } from "../host/stackSecret";
import { storesInCreationOrder, type ObjectStorePlan } from "../plan/offsite";
import { MinioTarget, SandboxMinio, type StoreKeys } from "./minio";
import { S3BackupBucket } from "./s3BackupBucket";

export interface ObjectStoreResources {
  readonly keys: StoreKeys;
  /** What a host must wait for before it ships to the store. */
  readonly ready: pulumi.Resource;
}

/**
 * Every object store of the plan: sandbox MinIO servers started, MinIO buckets configured (a replica site's
 * bucket before the bucket that replicates to it), S3 buckets with their replica region.
 */
export function objectStores(plan: DrPlan, parent?: pulumi.Resource): ReadonlyMap<string, ObjectStoreResources> {
  // Ordering between the stores is this function's; a caller only chooses where they hang.
  const opts: pulumi.ComponentResourceOptions = { parent };
  const made = new Map<string, ObjectStoreResources>();
  const configuredKeys = (store: ObjectStorePlan): StoreKeys => ({
    accessKey: stackSecret(store.accessKey, `objectStores.${store.name}.accessKey`),
    secretKey: stackSecret(store.secretKey, `objectStores.${store.name}.secretKey`),
  });
  for (const store of storesInCreationOrder(plan.objectStores)) {
    if (store.type === "s3") {
      const bucket = new S3BackupBucket(
        `store-${store.name}`,
        {
          bucketName: store.bucket,
          region: store.region,
          lifecycle: store.lifecycle,
          kmsKeyArn: store.s3?.kmsKeyArn,
          objectLock: store.objectLock,
          replication: store.s3?.replication
            ? { ...store.s3.replication, bucketName: store.s3.replication.bucket }
            : undefined,
        },
        opts,
      );
      made.set(store.name, { keys: configuredKeys(store), ready: bucket });
      continue;
    }
    const sandbox = store.provision ? new SandboxMinio(`store-${store.name}-server`, { store }, opts) : undefined;
    const keys = sandbox?.keys ?? configuredKeys(store);
    const replicaPlan = plan.objectStores.find((s) => s.name === store.replicateTo);
    const replica = replicaPlan ? made.get(replicaPlan.name)! : undefined;
    const target = new MinioTarget(
      `store-${store.name}`,
      {
        store,
        keys,
        replica: replica && replicaPlan ? { store: replicaPlan, keys: replica.keys } : undefined,
        replicaOf: plan.objectStores.filter((s) => s.replicateTo === store.name).map((s) => s.name),
        alongside: storesAlongside(plan, store.name),
      },
      { ...opts, dependsOn: [...(sandbox ? [sandbox] : []), ...(replica ? [replica.ready] : [])] },
    );
    made.set(store.name, { keys, ready: target });
  }
  return made;
}

/** The other stores that every service shipping to `store` also ships to (none when no service ships there). */
function storesAlongside(plan: DrPlan, store: string): string[] {
  const targetLists = plan.services
    .map((s) => s.offsite?.targets.map((t) => t.store) ?? [])
    .filter((stores) => stores.includes(store));
  if (targetLists.length === 0) return [];
  return targetLists[0].filter((other) => other !== store && targetLists.every((list) => list.includes(other)));
}
