import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { PostgresClusterArgs } from "./args";
import { credentialsFileContent } from "../objectstore/mcHost";
import { restoreTimeoutSeconds } from "./agentSettings";
import { OFFSITE } from "./layout";
import { buildClusterManifests } from "./manifests";
import { POSTGRES_PORT } from "./names";
import { resolveCluster } from "./spec";

const minutes = (seconds: number) => `${Math.ceil(seconds / 60)}m`;

/**
 * PostgreSQL with streaming standbys on Kubernetes, with drkit's DR settings: WAL archiving within the
 * RPO into a backup volume, scheduled base backups with retention, a scheduled restore test, and (when
 * `restore` is set) a restore of the primary's volume before the primary starts.
 *
 * Restoring an existing cluster in place (point in time or from a named backup):
 *   1. stop the applications writing to it;
 *   2. `kubectl -n NS scale statefulset NAME-primary NAME-standby --replicas=0` and wait for the pods to go;
 *   3. `kubectl -n NS delete pvc -l app.kubernetes.io/instance=NAME,app.kubernetes.io/component=standby`:
 *      the standbys' clones belong to the abandoned history and are cloned again afterwards;
 *   4. set `restore: { fromBackup, targetTime? }` and run `pulumi up --refresh` (the refresh sees the
 *      StatefulSets scaled down, so the up scales them back): the restore job moves the current cluster
 *      aside on its volume, restores and recovers, and only when it succeeded does the primary start;
 *   5. check the data, then delete `pgdata.before-restore-*` on the primary's volume. Leaving `restore` set is
 *      harmless: the job does nothing for a request it already carried out.
 * A new cluster (a fresh stack over a backup volume that survived) is step 4 alone.
 *
 * With `offsite`, every backup run also copies the backup it took, and the archived WAL, to an object store
 * with the agent's ship-offsite: the hosts' object layout and sha256 checks, so a host service can restore
 * from it and the other way round. WAL is archived into the backup volume and shipped by each backup run, so
 * the off-site RPO is the backup interval plus archive_timeout. The store's keys go only into the
 * `<name>-offsite` Secret (a credentials file, `MC_HOST_offsite=...`), as a Pulumi secret, mounted in the backup pod.
 *
 * Settings live in the `<name>-config` ConfigMap. The Kubernetes provider replaces a ConfigMap whose data change,
 * and one with a fixed name is deleted before it is made again: set the provider's `enableConfigMapMutable: true`
 * to have it updated in place (the servers restart on a change of the files they read either way).
 *
 * Volumes outlive the component: `pulumi destroy` keeps the primary's and the backup volume
 * (retainOnDelete) and the StatefulSets keep their claims. Re-creating a cluster over them needs
 * `pulumi import` of the two claims (or the provider's upsertExistingObjects), never a silent adoption.
 */
export class PostgresCluster extends pulumi.ComponentResource {
  /** `<name>-rw.<namespace>.svc`: the primary, for reads and writes. */
  readonly readWriteHost: pulumi.Output<string>;
  /** `<name>-ro.<namespace>.svc`: the standbys (no endpoints while there are none). */
  readonly readOnlyHost: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  /** Secret with keys superuser-password (role postgres) and replication-password. */
  readonly credentialsSecret: pulumi.Output<string>;
  readonly superuserPassword: pulumi.Output<string>;
  readonly archiveTimeoutSeconds: pulumi.Output<number>;
  readonly backupClaim: pulumi.Output<string>;

  constructor(name: string, args: PostgresClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    // Throws every argument problem at once, before any resource (this one included) is registered.
    const spec = resolveCluster(args);
    const d = spec.derived;
    // What the policy pack sees of this cluster; nothing secret.
    super(
      "drkit:kubernetes:PostgresCluster",
      name,
      {
        cluster: spec.name,
        namespace: spec.namespace,
        postgresVersion: spec.postgresVersion,
        rpoSeconds: spec.rpoSeconds,
        rtoSeconds: spec.rtoSeconds,
        walLevel: "replica",
        archiveMode: "on",
        archiveTimeoutSeconds: d.archiveTimeoutSeconds,
        standbys: spec.standbys,
        synchronousStandbys: spec.synchronous ? 1 : 0,
        maxSlotWalKeepSizeMb: d.maxSlotWalKeepSizeMb,
        backupsKept: spec.backupsKept,
        schedule: { ...spec.schedule },
        ...(spec.offsite
          ? {
              offsite: {
                endpoint: spec.offsite.endpoint,
                bucket: spec.offsite.bucket,
                prefix: spec.offsite.prefix,
                shipsWal: true,
              },
            }
          : {}),
      },
      opts,
    );
    const parent = { parent: this };
    const password = (id: string) =>
      new random.RandomPassword(`${name}-${id}-password`, { length: 32, special: false }, parent);
    const superuser = password("superuser");
    const replication = password("replication");
    this.superuserPassword = pulumi.secret(superuser.result);

    const keys = args.offsite;
    const offsiteMcHost =
      spec.offsite && keys
        ? pulumi.secret(
            pulumi
              .all([keys.accessKey, keys.secretKey])
              .apply(([access, secret]) =>
                credentialsFileContent(OFFSITE.alias, OFFSITE.alias, spec.offsite!.endpoint, access, secret),
              ),
          )
        : undefined;
    const m = buildClusterManifests(spec, {
      superuserPassword: this.superuserPassword,
      replicationPassword: pulumi.secret(replication.result),
      ...(offsiteMcHost ? { offsiteMcHost } : {}),
      ...(args.replicationTls
        ? {
            replicationTlsKey: pulumi.secret(pulumi.output(args.replicationTls.key).apply((k) => `${k.trim()}\n`)),
          }
        : {}),
    });
    const config = new k8s.core.v1.ConfigMap(`${name}-config`, m.config, parent);
    const secret = new k8s.core.v1.Secret(`${name}-credentials`, m.credentials, parent);
    const headless = new k8s.core.v1.Service(`${name}-headless`, m.headless, parent);
    const readWrite = new k8s.core.v1.Service(`${name}-rw`, m.readWrite, parent);
    new k8s.core.v1.Service(`${name}-ro`, m.readOnly, parent);
    const keep = { ...parent, retainOnDelete: true };
    const primaryData = new k8s.core.v1.PersistentVolumeClaim(`${name}-primary-data`, m.primaryData, keep);
    const backups = new k8s.core.v1.PersistentVolumeClaim(`${name}-backups`, m.backups, keep);

    const restore = m.restoreJob
      ? [
          new k8s.batch.v1.Job(`${name}-restore`, m.restoreJob, {
            ...parent,
            dependsOn: [config, primaryData, backups],
            deleteBeforeReplace: true,
            customTimeouts: {
              create: minutes(restoreTimeoutSeconds(spec) + 300),
              update: minutes(restoreTimeoutSeconds(spec) + 300),
            },
          }),
        ]
      : [];
    const serverTimeouts = { create: minutes(d.serverStartSeconds + 300), update: minutes(d.serverStartSeconds + 300) };
    // Fixed names: a StatefulSet whose claim template changes is replaced by deleting it first (its volumes stay).
    const server = { ...parent, customTimeouts: serverTimeouts, deleteBeforeReplace: true };
    const primary = new k8s.apps.v1.StatefulSet(`${name}-primary`, m.primary, {
      ...server,
      dependsOn: [config, secret, headless, primaryData, backups, ...restore],
    });
    if (m.standby) new k8s.apps.v1.StatefulSet(`${name}-standby`, m.standby, { ...server, dependsOn: [primary] });
    const offsite = m.offsite ? [new k8s.core.v1.Secret(`${name}-offsite`, m.offsite, parent)] : [];
    new k8s.batch.v1.CronJob(`${name}-backup`, m.backupJob, { ...parent, dependsOn: [primary, readWrite, ...offsite] });
    if (m.shipper)
      new k8s.apps.v1.Deployment(`${name}-shipper`, m.shipper, { ...parent, dependsOn: [backups, ...offsite] });
    new k8s.batch.v1.CronJob(`${name}-verify`, m.verifyJob, { ...parent, dependsOn: [primary] });
    if (m.prometheusRule) new k8s.apiextensions.CustomResource(`${name}-alerts`, m.prometheusRule, parent);

    this.readWriteHost = pulumi.output(`${spec.names.readWrite}.${spec.namespace}.svc`);
    this.readOnlyHost = pulumi.output(`${spec.names.readOnly}.${spec.namespace}.svc`);
    this.port = pulumi.output(POSTGRES_PORT);
    this.credentialsSecret = pulumi.output(spec.names.credentials);
    this.archiveTimeoutSeconds = pulumi.output(d.archiveTimeoutSeconds);
    this.backupClaim = pulumi.output(spec.names.backups);
    this.registerOutputs({
      readWriteHost: this.readWriteHost,
      readOnlyHost: this.readOnlyHost,
      port: this.port,
      credentialsSecret: this.credentialsSecret,
      superuserPassword: this.superuserPassword,
      archiveTimeoutSeconds: this.archiveTimeoutSeconds,
      backupClaim: this.backupClaim,
    });
  }
}
