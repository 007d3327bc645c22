import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { agentFile } from "../agent/agentFiles";
import { renderPodSettings } from "./agentSettings";
import { buildBackupCronJob, buildRestoreJob, buildRestoreTestCronJob } from "./jobManifests";
import { buildShipperDeployment } from "./shipperManifest";
import {
  buildPrometheusRule,
  monitoringSidecars,
  scrapeAnnotations,
  type PrometheusRuleManifest,
} from "./monitoringManifests";
import {
  CONFIG_FILES,
  OFFSITE,
  SECRET_KEYS,
  SERVER_FILES,
  SETTINGS_FILES,
  TLS_FILES,
  agentCommand,
  agentFiles,
} from "./layout";
import {
  SKIP_AWAIT,
  meta,
  serverAwait,
  type ClaimManifest,
  type ConfigMapManifest,
  type CronJobManifest,
  type Credentials,
  type DeploymentManifest,
  type JobManifest,
  type SecretManifest,
  type ServiceManifest,
  type StatefulSetManifest,
} from "./manifestTypes";
import { DATA_TEMPLATE, POSTGRES_PORT, SERVER_LABEL, commonLabels, componentLabels, selectorLabels } from "./names";
import {
  TERMINATION_GRACE_SECONDS,
  VOLUMES,
  baseVolumes,
  claimVolume,
  containerSecurityContext,
  agentEnv,
  env,
  fastShutdown,
  mounts,
  podBase,
  podNameEnv,
  secretsVolume,
  serverPort,
  serverProbes,
  spreadServers,
  type Container,
  type PodSpec,
} from "./podSpecs";
import { renderDrSettings, renderPgHba, renderPostgresqlConf } from "./settings";
import type { ClusterSpec } from "./spec";

export type { Credentials } from "./manifestTypes";

/**
 * Configuration, the pod settings files and the agent (every file of agent/, verbatim), keyed as the ConfigMap holds
 * them.
 */
export function configData(spec: ClusterSpec): Record<string, string> {
  return {
    [CONFIG_FILES.postgresql]: renderPostgresqlConf(spec),
    [CONFIG_FILES.dr]: renderDrSettings(spec),
    [CONFIG_FILES.hba]: renderPgHba(spec),
    ...(spec.replicationTls
      ? { [TLS_FILES.ca]: spec.replicationTls.ca, [TLS_FILES.certificate]: spec.replicationTls.certificate }
      : {}),
    [SETTINGS_FILES.server]: renderPodSettings(spec, "server"),
    [SETTINGS_FILES.backup]: renderPodSettings(spec, "backup"),
    [SETTINGS_FILES.restoreTest]: renderPodSettings(spec, "restore-test"),
    [SETTINGS_FILES.restore]: renderPodSettings(spec, "restore"),
    ...Object.fromEntries(agentFiles().map((name) => [name, agentFile(name)])),
  };
}

/** Changes whenever a file the servers read changes, so their pods restart to pick it up. */
const configHash = (data: Record<string, string>) =>
  createHash("sha256")
    .update(JSON.stringify(SERVER_FILES.map((file) => [file, data[file]])))
    .digest("hex")
    .slice(0, 16);

const buildConfigMap = (spec: ClusterSpec): ConfigMapManifest => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: meta(spec, spec.names.config, commonLabels(spec.name)),
  data: configData(spec),
});

const buildSecret = (spec: ClusterSpec, credentials: Credentials): SecretManifest => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: meta(spec, spec.names.credentials, commonLabels(spec.name)),
  type: "Opaque",
  stringData: {
    [SECRET_KEYS.superuser]: credentials.superuserPassword,
    [SECRET_KEYS.replication]: credentials.replicationPassword,
    ...(spec.replicationTls ? { [SECRET_KEYS.tlsKey]: tlsKey(spec, credentials) } : {}),
  },
});

function tlsKey(spec: ClusterSpec, credentials: Credentials): pulumi.Input<string> {
  if (credentials.replicationTlsKey === undefined)
    throw new Error(`cluster ${spec.name} has replicationTls but no key was given`);
  return credentials.replicationTlsKey;
}

/**
 * Only with off-site shipping: the store's credentials file (its MC_HOST_offsite line, see mcHostUrl), which the backup
 * pod mounts.
 */
function buildOffsiteSecret(spec: ClusterSpec, credentials: Credentials): SecretManifest | undefined {
  if (!spec.offsite) return undefined;
  if (credentials.offsiteMcHost === undefined)
    throw new Error(`cluster ${spec.name} ships off-site but no MC_HOST value was given`);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(spec, spec.names.offsite, componentLabels(spec.name, "backup")),
    type: "Opaque",
    stringData: {
      [OFFSITE.credentialsKey]: credentials.offsiteMcHost,
      ...(spec.offsite.caCertificate ? { [OFFSITE.caKey]: spec.offsite.caCertificate } : {}),
    },
  };
}

const servicePorts = [{ name: "postgresql", port: POSTGRES_PORT, targetPort: "postgresql", protocol: "TCP" }];

/**
 * Governs the StatefulSets' pod DNS names; lists pods before they are ready, so standbys can find a starting primary.
 */
const buildHeadlessService = (spec: ClusterSpec): ServiceManifest => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: meta(spec, spec.names.headless, commonLabels(spec.name)),
  spec: {
    clusterIP: "None",
    publishNotReadyAddresses: true,
    selector: {
      "app.kubernetes.io/name": "postgresql",
      "app.kubernetes.io/instance": spec.name,
      [SERVER_LABEL]: "true",
    },
    ports: servicePorts,
  },
});

const buildService = (spec: ClusterSpec, component: "primary" | "standby"): ServiceManifest => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: meta(
    spec,
    component === "primary" ? spec.names.readWrite : spec.names.readOnly,
    componentLabels(spec.name, component),
  ),
  spec: { type: "ClusterIP", selector: selectorLabels(spec.name, component), ports: servicePorts },
});

const claimSpec = (size: string, storageClassName: pulumi.Input<string> | undefined, accessMode: string) => ({
  accessModes: [accessMode],
  resources: { requests: { storage: size } },
  ...(storageClassName !== undefined ? { storageClassName } : {}),
});

/**
 * The primary's volume, created by drkit under the name the StatefulSet's "data" template gives pod 0 (the
 * controller uses an existing claim of that name), so the restore job can fill it before the primary starts.
 */
const buildPrimaryDataClaim = (spec: ClusterSpec): ClaimManifest => ({
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  // With WaitForFirstConsumer storage the claim binds only once a pod uses it; waiting for it would deadlock.
  metadata: meta(spec, spec.names.primaryData, componentLabels(spec.name, "primary"), SKIP_AWAIT),
  spec: claimSpec(spec.storage.size, spec.storage.storageClassName, "ReadWriteOnce"),
});

const buildBackupClaim = (spec: ClusterSpec): ClaimManifest => ({
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: meta(spec, spec.names.backups, componentLabels(spec.name, "backup"), SKIP_AWAIT),
  spec: claimSpec(spec.backupStorage.size, spec.backupStorage.storageClassName, spec.backupStorage.accessMode),
});

function serverContainer(spec: ClusterSpec, component: "primary" | "standby"): Container {
  const primary = component === "primary";
  return {
    name: "postgres",
    image: spec.image,
    command: agentCommand(primary ? "pod-primary" : "pod-standby"),
    // archive_command (the agent's archive-wal) inherits DRKIT_ENV from the server.
    env: env(agentEnv(SETTINGS_FILES.server)),
    ports: serverPort,
    resources: spec.resources,
    securityContext: containerSecurityContext,
    ...serverProbes(spec, component),
    lifecycle: fastShutdown,
    volumeMounts: primary
      ? mounts(
          VOLUMES.data,
          VOLUMES.config,
          VOLUMES.agent,
          VOLUMES.secrets,
          VOLUMES.run,
          VOLUMES.socket,
          VOLUMES.tmp,
          VOLUMES.shm,
          VOLUMES.backups,
        )
      : mounts(
          VOLUMES.data,
          VOLUMES.config,
          VOLUMES.agent,
          VOLUMES.secrets,
          VOLUMES.run,
          VOLUMES.socket,
          VOLUMES.tmp,
          VOLUMES.shm,
        ),
  };
}

const cloneContainer = (spec: ClusterSpec): Container => ({
  name: "clone",
  image: spec.image,
  // Kubernetes expands $(DRKIT_POD_NAME) from the container's environment.
  command: agentCommand("pod-standby-clone", "$(DRKIT_POD_NAME)"),
  env: [...env(agentEnv(SETTINGS_FILES.server)), podNameEnv],
  resources: spec.resources,
  securityContext: containerSecurityContext,
  volumeMounts: mounts(VOLUMES.data, VOLUMES.config, VOLUMES.agent, VOLUMES.secrets, VOLUMES.run, VOLUMES.tmp),
});

function buildStatefulSet(
  spec: ClusterSpec,
  component: "primary" | "standby",
  data: Record<string, string>,
): StatefulSetManifest {
  const primary = component === "primary";
  const labels = componentLabels(spec.name, component);
  const annotations: Record<string, string> = {
    "drkit.io/config-hash": configHash(data),
    ...(primary ? scrapeAnnotations(spec) : {}),
  };
  // A changed restore request rolls the primary once the restore job has run.
  if (primary && spec.restore) annotations["drkit.io/restore-request"] = spec.restore.requestId;
  const pod: PodSpec = {
    ...podBase(spreadServers(spec)),
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    ...(primary ? {} : { initContainers: [cloneContainer(spec)] }),
    containers: [serverContainer(spec, component), ...(primary ? monitoringSidecars(spec) : [])],
    volumes: [
      ...baseVolumes(spec),
      secretsVolume(spec),
      ...(primary ? [claimVolume(VOLUMES.backups, spec.names.backups)] : []),
    ],
  };
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: meta(spec, primary ? spec.names.primary : spec.names.standby, labels, serverAwait(spec)),
    spec: {
      serviceName: spec.names.headless,
      replicas: primary ? 1 : spec.standbys,
      podManagementPolicy: "OrderedReady",
      updateStrategy: { type: "RollingUpdate" },
      selector: { matchLabels: selectorLabels(spec.name, component) },
      // Deleting the StatefulSet keeps every volume; a standby scaled away loses its clone (its slot is dropped too).
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: primary ? "Retain" : "Delete" },
      volumeClaimTemplates: [
        {
          metadata: { name: DATA_TEMPLATE, labels },
          spec: claimSpec(spec.storage.size, spec.storage.storageClassName, "ReadWriteOnce"),
        },
      ],
      template: { metadata: { labels: { ...labels, [SERVER_LABEL]: "true" }, annotations }, spec: pod },
    },
  };
}

export interface ClusterManifests {
  readonly config: ConfigMapManifest;
  readonly credentials: SecretManifest;
  readonly offsite?: SecretManifest;
  readonly headless: ServiceManifest;
  readonly readWrite: ServiceManifest;
  readonly readOnly: ServiceManifest;
  readonly primaryData: ClaimManifest;
  readonly backups: ClaimManifest;
  readonly primary: StatefulSetManifest;
  readonly standby?: StatefulSetManifest;
  readonly backupJob: CronJobManifest;
  /** With off-site shipping: the WAL shipper beside the primary. */
  readonly shipper?: DeploymentManifest;
  readonly verifyJob: CronJobManifest;
  readonly restoreJob?: JobManifest;
  /** With monitoring: the alerts derived from the objectives. */
  readonly prometheusRule?: PrometheusRuleManifest;
}

/** Every object of the cluster, as plain manifests. */
export function buildClusterManifests(spec: ClusterSpec, credentials: Credentials): ClusterManifests {
  const config = buildConfigMap(spec);
  const data = config.data as Record<string, string>;
  return {
    config,
    credentials: buildSecret(spec, credentials),
    ...(spec.offsite ? { offsite: buildOffsiteSecret(spec, credentials) } : {}),
    headless: buildHeadlessService(spec),
    readWrite: buildService(spec, "primary"),
    readOnly: buildService(spec, "standby"),
    primaryData: buildPrimaryDataClaim(spec),
    backups: buildBackupClaim(spec),
    primary: buildStatefulSet(spec, "primary", data),
    ...(spec.standbys > 0 ? { standby: buildStatefulSet(spec, "standby", data) } : {}),
    backupJob: buildBackupCronJob(spec),
    ...(spec.offsite ? { shipper: buildShipperDeployment(spec) } : {}),
    verifyJob: buildRestoreTestCronJob(spec),
    ...(spec.restore ? { restoreJob: buildRestoreJob(spec) } : {}),
    ...(spec.monitoring?.prometheusRule ? { prometheusRule: buildPrometheusRule(spec) } : {}),
  };
}
