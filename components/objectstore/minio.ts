import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { ObjectStorePlan } from "../plan/offsite";
import { shortestExpiry } from "./lifecycle";
import { mcHostUrl } from "./mcHost";
import {
  MINIO_REPLICA_ALIAS,
  MINIO_SOURCE_ALIAS,
  renderMinioTargetScript,
  renderSandboxMinioScript,
} from "./minioScripts";

/** An object store's keys as Pulumi secrets. */
export interface StoreKeys {
  readonly accessKey: pulumi.Input<string>;
  readonly secretKey: pulumi.Input<string>;
}

/** MC_HOST_<alias> value for an endpoint and keys, a secret. */
export function mcHostSecret(store: string, endpoint: string, keys: StoreKeys): pulumi.Output<string> {
  return pulumi.secret(
    pulumi.all([keys.accessKey, keys.secretKey]).apply(([a, s]) => mcHostUrl(store, endpoint, a, s)),
  );
}

export interface SandboxMinioArgs {
  readonly store: ObjectStorePlan;
}

/**
 * The sandbox MinIO server of a provisioned store, on this machine's loopback: keys generated once
 * (random, secret), server started; destroy stops it and keeps its data.
 */
export class SandboxMinio extends pulumi.ComponentResource {
  readonly keys: { accessKey: pulumi.Output<string>; secretKey: pulumi.Output<string> };
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: SandboxMinioArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drkit:objectstore:SandboxMinio", name, { store: args.store.name, endpoint: args.store.endpoint }, opts);
    const { store } = args;
    if (!store.provision) throw new Error(`SandboxMinio ${name}: object store ${store.name} has no provision section`);
    const secret = new random.RandomPassword(`${name}-secret-key`, { length: 40, special: false }, { parent: this });
    this.keys = {
      accessKey: pulumi.output(typeof store.accessKey === "string" ? store.accessKey : `drkit-${store.name}`),
      secretKey: typeof store.secretKey === "string" ? pulumi.secret(store.secretKey) : secret.result,
    };
    const script = renderSandboxMinioScript(store);
    const server = new command.local.Command(
      `${name}-server`,
      {
        create: "bash -s -- start",
        delete: "bash -s -- stop",
        stdin: script,
        environment: { MINIO_ROOT_USER: this.keys.accessKey, MINIO_ROOT_PASSWORD: this.keys.secretKey },
        logging: "stderr",
      },
      { parent: this },
    );
    this.endpoint = server.stderr.apply(() => store.endpoint);
    this.registerOutputs({ endpoint: this.endpoint });
  }
}

export interface MinioTargetArgs {
  readonly store: ObjectStorePlan;
  readonly keys: StoreKeys;
  /** The store that receives a copy of every object, with its keys (its own MinioTarget must exist first). */
  readonly replica?: { readonly store: ObjectStorePlan; readonly keys: StoreKeys };
  /** The stores that replicate into this one: a second site needs no replication target of its own. */
  readonly replicaOf?: readonly string[];
  /** The other stores that every service shipping here also ships to: each copy is already on two sites. */
  readonly alongside?: readonly string[];
}

/**
 * A MinIO bucket as a backup target: created (with object lock when asked), versioning on, drkit's lifecycle
 * rules, and replication to a second site, through mc (the rendered minio-target script) with the keys only
 * in the environment. An edit re-runs the script; destroy takes drkit's rules off and keeps bucket and objects.
 */
export class MinioTarget extends pulumi.ComponentResource {
  readonly bucket: pulumi.Output<string>;
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: MinioTargetArgs, opts?: pulumi.ComponentResourceOptions) {
    const { store, replica } = args;
    // What the policy pack sees (minio-target-versioned-and-replicated); nothing secret.
    super(
      "drkit:objectstore:MinioTarget",
      name,
      {
        store: store.name,
        endpoint: store.endpoint,
        bucket: store.bucket,
        versioning: true,
        expireDays: shortestExpiry(store.lifecycle)?.days,
        objectLockMode: store.objectLock?.mode,
        replicationTarget: replica?.store.name,
        replicaOf: [...(args.replicaOf ?? [])],
        alongside: [...(args.alongside ?? [])],
      },
      opts,
    );
    if (store.type !== "minio")
      throw new Error(`MinioTarget ${name}: object store ${store.name} is of type ${store.type}, not minio`);
    if (replica && replica.store.type !== "minio")
      throw new Error(`MinioTarget ${name}: replica ${replica.store.name} is not a minio store`);
    if (store.replicateTo !== replica?.store.name) {
      throw new Error(
        `MinioTarget ${name}: the plan replicates ${store.name} to ${store.replicateTo ?? "nothing"}, ` +
          `but the replica given is ${replica?.store.name ?? "none"}`,
      );
    }
    const environment: Record<string, pulumi.Input<string>> = {
      [`MC_HOST_${MINIO_SOURCE_ALIAS}`]: mcHostSecret(store.name, store.endpoint, args.keys),
    };
    if (replica)
      environment[`MC_HOST_${MINIO_REPLICA_ALIAS}`] = mcHostSecret(
        replica.store.name,
        replica.store.endpoint,
        replica.keys,
      );
    const configured = new command.local.Command(
      `${name}-bucket`,
      {
        create: "bash -s",
        update: "bash -s",
        delete: "bash -s -- --remove",
        stdin: renderMinioTargetScript(store, replica?.store),
        environment,
        logging: "stderr",
      },
      { parent: this },
    );
    this.bucket = configured.stderr.apply(() => store.bucket);
    this.endpoint = pulumi.output(store.endpoint);
    this.registerOutputs({ bucket: this.bucket, endpoint: this.endpoint });
  }
}
