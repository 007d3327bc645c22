import type * as inputs from "@pulumi/kubernetes/types/input";
import { restoreTimeoutSeconds } from "./backupScripts";
import { LAYOUT, OFFSITE } from "./layout";
import { meta, type CronJobManifest, type JobManifest, type Meta } from "./manifestTypes";
import { POSTGRES_PORT, componentLabels, type ClusterComponent } from "./names";
import {
  JOB_RESOURCES,
  VOLUMES,
  baseVolumes,
  besidePrimary,
  claimVolume,
  containerSecurityContext,
  env,
  handoffVolume,
  mounts,
  offsiteScriptVolume,
  podBase,
  readOnlyMount,
  scratchVolume,
  scriptCommand,
  secretsVolume,
  serverEnv,
  type Container,
  type PodSpec,
} from "./podSpecs";
import type { ClusterSpec } from "./spec";

const HOUR = 3600;
/** Runs that could not start on time (controller down, a previous run still going) may start up to an
 * hour late rather than be skipped; without a deadline the controller gives up after 100 missed starts. */
const STARTING_DEADLINE_SECONDS = HOUR;
/** For the whole backup pod: with off-site shipping, the backup and its upload together. */
const BACKUP_DEADLINE_SECONDS = 6 * HOUR;

function jobPod(spec: ClusterSpec, component: ClusterComponent, container: Container, volumes: PodSpec["volumes"], affinity: inputs.core.v1.Affinity | undefined): { metadata: Meta; spec: PodSpec } {
  return {
    metadata: { labels: componentLabels(spec.name, component) },
    spec: { ...podBase(affinity), restartPolicy: "Never", containers: [container], volumes },
  };
}

const jobContainer = (spec: ClusterSpec, script: "backup" | "verify" | "restore", envValues: Record<string, string>, volumeMounts: Container["volumeMounts"], resources: Container["resources"]): Container => ({
  name: script === "verify" ? "restore-test" : script,
  image: spec.image,
  command: scriptCommand(script),
  env: env(envValues),
  resources,
  securityContext: containerSecurityContext,
  // The result line the script writes to /dev/termination-log shows in the pod's status; its log otherwise.
  terminationMessagePolicy: "FallbackToLogsOnError",
  volumeMounts,
});

function cronJob(spec: ClusterSpec, component: "backup" | "verify", schedule: string, backoffLimit: number, deadline: number, pod: ReturnType<typeof jobPod>): CronJobManifest {
  const labels = componentLabels(spec.name, component);
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: meta(spec, component === "backup" ? spec.names.backupJob : spec.names.verifyJob, labels),
    spec: {
      schedule,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: STARTING_DEADLINE_SECONDS,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: { metadata: { labels }, spec: { backoffLimit, activeDeadlineSeconds: deadline, template: pod } },
    },
  };
}

/**
 * The off-site upload step (see renderOffsiteUploadScript) in the mc image: the store's credentials only as
 * MC_HOST_offsite from the cluster's offsite Secret, the backup volume read-only, and neither the database
 * credentials nor the pgpass run directory.
 */
function offsiteUploadContainer(spec: ClusterSpec): Container {
  const offsite = spec.offsite!;
  return {
    name: "offsite-upload",
    image: offsite.mcImage,
    command: ["bash", `${LAYOUT.offsiteScriptDir}/${OFFSITE.script}`],
    env: [
      // mc keeps its (here empty) configuration in MC_CONFIG_DIR, and needs a HOME even then: uid 999 has none in the image.
      ...env({ DRKIT_BACKUP_ROOT: LAYOUT.backupRoot, DRKIT_HANDOFF_DIR: LAYOUT.handoffDir, HOME: LAYOUT.tmp, MC_CONFIG_DIR: `${LAYOUT.tmp}/.mc`, MC_NO_COLOR: "1", MC_DISABLE_PAGER: "1" }),
      { name: OFFSITE.secretKey, valueFrom: { secretKeyRef: { name: spec.names.offsite, key: OFFSITE.secretKey } } },
    ],
    resources: JOB_RESOURCES,
    securityContext: containerSecurityContext,
    terminationMessagePolicy: "FallbackToLogsOnError",
    volumeMounts: [...mounts(VOLUMES.offsiteScript, VOLUMES.tmp), readOnlyMount(VOLUMES.handoff), readOnlyMount(VOLUMES.backups)],
  };
}

/**
 * The backup CronJob. With off-site shipping its pod runs two steps in order: the backup as an init container
 * (a Job's containers run side by side, init containers one after another and before them), then the upload
 * as the main container. Either failing fails the pod, so the Job, so the CronJob's run.
 */
export function buildBackupCronJob(spec: ClusterSpec): CronJobManifest {
  const shipping = spec.offsite !== undefined;
  const backup = jobContainer(
    spec,
    "backup",
    {
      DRKIT_BACKUP_ROOT: LAYOUT.backupRoot,
      DRKIT_RUN_DIR: LAYOUT.runDir,
      DRKIT_PRIMARY_HOST: spec.names.readWrite,
      PGPORT: String(POSTGRES_PORT),
      ...(shipping ? { DRKIT_HANDOFF_DIR: LAYOUT.handoffDir } : {}),
    },
    shipping
      ? mounts(VOLUMES.scripts, VOLUMES.secrets, VOLUMES.run, VOLUMES.tmp, VOLUMES.backups, VOLUMES.handoff)
      : mounts(VOLUMES.scripts, VOLUMES.secrets, VOLUMES.run, VOLUMES.tmp, VOLUMES.backups),
    JOB_RESOURCES,
  );
  const volumes = [...baseVolumes(spec), secretsVolume(spec), claimVolume(VOLUMES.backups, spec.names.backups), ...(shipping ? [handoffVolume(), offsiteScriptVolume(spec)] : [])];
  const pod = jobPod(spec, "backup", backup, volumes, besidePrimary(spec));
  if (shipping) pod.spec = { ...pod.spec, initContainers: [backup], containers: [offsiteUploadContainer(spec)] };
  return cronJob(spec, "backup", spec.schedule.backup, 1, BACKUP_DEADLINE_SECONDS, pod);
}

export function buildRestoreTestCronJob(spec: ClusterSpec): CronJobManifest {
  const container = jobContainer(
    spec,
    "verify",
    { DRKIT_BACKUP_ROOT: LAYOUT.backupRoot, DRKIT_SCRATCH: LAYOUT.scratch, PGHOST: LAYOUT.socketDir, PGPORT: String(POSTGRES_PORT) },
    mounts(VOLUMES.scripts, VOLUMES.socket, VOLUMES.tmp, VOLUMES.shm, VOLUMES.backups, VOLUMES.scratch),
    spec.resources,
  );
  const volumes = [...baseVolumes(spec), claimVolume(VOLUMES.backups, spec.names.backups), scratchVolume(spec)];
  // A failed restore test is a finding to report, not something to retry until it passes.
  return cronJob(spec, "verify", spec.schedule.verify, 0, restoreTimeoutSeconds(spec), jobPod(spec, "verify", container, volumes, besidePrimary(spec)));
}

/** Only with a restore request: fills the primary's volume before the primary StatefulSet exists (see renderRestoreScript). */
export function buildRestoreJob(spec: ClusterSpec): JobManifest | undefined {
  if (!spec.restore) return undefined;
  const container = jobContainer(
    spec,
    "restore",
    // The request in the Job's own spec: a new request changes the spec (so the Job is replaced and runs), and
    // the script checks it against the one rendered into it, in case the pod saw an older ConfigMap.
    { ...serverEnv(), DRKIT_BACKUP_ROOT: LAYOUT.backupRoot, DRKIT_PRIMARY_HOST: spec.names.primaryHost, DRKIT_RESTORE_REQUEST: spec.restore.requestId },
    mounts(VOLUMES.data, VOLUMES.config, VOLUMES.scripts, VOLUMES.run, VOLUMES.socket, VOLUMES.tmp, VOLUMES.shm, VOLUMES.backups),
    spec.resources,
  );
  const volumes = [...baseVolumes(spec), claimVolume(VOLUMES.data, spec.names.primaryData), claimVolume(VOLUMES.backups, spec.names.backups)];
  // The primary is down while this runs, so there is nothing to run beside: no affinity.
  const pod = jobPod(spec, "restore", container, volumes, undefined);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    // A failed restore is replaced (re-run) by the next `pulumi up` instead of being awaited again.
    metadata: meta(spec, spec.names.restoreJob, componentLabels(spec.name, "restore"), { "pulumi.com/replaceUnready": "true" }),
    spec: { backoffLimit: 1, activeDeadlineSeconds: restoreTimeoutSeconds(spec), template: pod },
  };
}

