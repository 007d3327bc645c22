import type * as pulumi from "@pulumi/pulumi";
import type { apps, batch, core } from "@pulumi/kubernetes";
import type * as inputs from "@pulumi/kubernetes/types/input";
import type { ClusterSpec } from "./spec";

export type Meta = inputs.meta.v1.ObjectMeta;
/** The SDK's argument types (closed, so a misspelt field does not compile) with apiVersion, kind and name required. */
type Typed<Args, ApiVersion extends string, Kind extends string> = Args & {
  apiVersion: ApiVersion;
  kind: Kind;
  metadata: Meta & { name: string; namespace: string };
};
export type ConfigMapManifest = Typed<core.v1.ConfigMapArgs, "v1", "ConfigMap">;
export type SecretManifest = Typed<core.v1.SecretArgs, "v1", "Secret">;
export type ServiceManifest = Typed<core.v1.ServiceArgs, "v1", "Service">;
export type ClaimManifest = Typed<core.v1.PersistentVolumeClaimArgs, "v1", "PersistentVolumeClaim">;
export type StatefulSetManifest = Typed<apps.v1.StatefulSetArgs, "apps/v1", "StatefulSet">;
export type DeploymentManifest = Typed<apps.v1.DeploymentArgs, "apps/v1", "Deployment">;
export type CronJobManifest = Typed<batch.v1.CronJobArgs, "batch/v1", "CronJob">;
export type JobManifest = Typed<batch.v1.JobArgs, "batch/v1", "Job">;

export interface Credentials {
  readonly superuserPassword: pulumi.Input<string>;
  readonly replicationPassword: pulumi.Input<string>;
  /**
   * With off-site shipping: the credentials file the agent reads, `MC_HOST_offsite=<mcHostUrl>` (see
   * credentialsFileContent), a secret.
   */
  readonly offsiteMcHost?: pulumi.Input<string>;
  /** With replicationTls: the primary's private key, a secret. */
  readonly replicationTlsKey?: pulumi.Input<string>;
}

/** The provider's annotation for "create or update it, and go on without waiting for it to become ready". */
export const SKIP_AWAIT = { "pulumi.com/skipAwait": "true" };

/** The annotations of a server's object (a StatefulSet, the shipper's Deployment): see `awaitReady`. */
export const serverAwait = (spec: ClusterSpec) => (spec.awaitReady ? undefined : SKIP_AWAIT);

export const meta = (
  spec: ClusterSpec,
  name: string,
  labels: Record<string, string>,
  annotations?: Record<string, string>,
) => ({
  name,
  namespace: spec.namespace,
  labels,
  ...(annotations ? { annotations } : {}),
});
