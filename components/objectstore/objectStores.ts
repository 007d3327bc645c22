import * as pulumi from "@pulumi/pulumi";
import type { DrPlan } from "../plan/plan";
import type { ObjectStorePlan, SecretText } from "../plan/offsite";
import { MinioTarget, SandboxMinio, type StoreKeys } from "./minio";
import { S3BackupBucket } from "./s3BackupBucket";

export interface ObjectStoreResources {
  readonly keys: StoreKeys;
  /** What a host must wait for before it ships to the store. */
  readonly ready: pulumi.Resource;
}

const secretOf = (value: SecretText | undefined, what: string): pulumi.Output<string> => {
  if (typeof value !== "string") throw new Error(`${what} must be set in the stack config (a Pulumi secret)`);
  return pulumi.secret(value);
};

/**
 * Every object store of the plan: sandbox MinIO servers started, MinIO buckets configured (a replica site's
 * bucket before the bucket that replicates to it), S3 buckets with their replica region.
 */
export function objectStores(plan: DrPlan, opts?: pulumi.ComponentResourceOptions): ReadonlyMap<string, ObjectStoreResources> {
  const made = new Map<string, ObjectStoreResources>();
  const byName = new Map(plan.objectStores.map((s) => [s.name, s]));

  const make = (store: ObjectStorePlan): ObjectStoreResources => {
    const done = made.get(store.name);
    if (done) return done;
    let result: ObjectStoreResources;
    if (store.type === "s3") {
      const bucket = new S3BackupBucket(`store-${store.name}`, {
        bucketName: store.bucket,
        region: store.region,
        lifecycle: store.lifecycle,
        kmsKeyArn: store.s3?.kmsKeyArn,
        objectLock: store.objectLock,
        replication: store.s3?.replication ? { ...store.s3.replication, bucketName: store.s3.replication.bucket } : undefined,
      }, opts);
      result = { keys: { accessKey: secretOf(store.accessKey, `objectStores.${store.name}.accessKey`), secretKey: secretOf(store.secretKey, `objectStores.${store.name}.secretKey`) }, ready: bucket };
    } else {
      const sandbox = store.provision ? new SandboxMinio(`store-${store.name}-server`, { store }, opts) : undefined;
      const keys: StoreKeys = sandbox?.keys ?? { accessKey: secretOf(store.accessKey, `objectStores.${store.name}.accessKey`), secretKey: secretOf(store.secretKey, `objectStores.${store.name}.secretKey`) };
      const replicaPlan = store.replicateTo ? byName.get(store.replicateTo) : undefined;
      const replica = replicaPlan ? make(replicaPlan) : undefined;
      const target = new MinioTarget(
        `store-${store.name}`,
        { store, keys, replica: replica && replicaPlan ? { store: replicaPlan, keys: replica.keys } : undefined, replicaOf: plan.objectStores.filter((s) => s.replicateTo === store.name).map((s) => s.name) },
        { ...opts, dependsOn: [...(sandbox ? [sandbox] : []), ...(replica ? [replica.ready] : [])] },
      );
      result = { keys, ready: target };
    }
    made.set(store.name, result);
    return result;
  };

  plan.objectStores.forEach(make);
  return made;
}
