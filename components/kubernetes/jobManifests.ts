import type * as inputs from "@pulumi/kubernetes/types/input";
import { restoreTimeoutSeconds } from "./agentSettings";
import { SETTINGS_FILES, agentCommand } from "./layout";
import { meta, type CronJobManifest, type JobManifest, type Meta } from "./manifestTypes";
import { componentLabels, type ClusterComponent } from "./names";
import {
  JOB_RESOURCES,
  VOLUMES,
  agentEnv,
  baseVolumes,
  besidePrimary,
  claimVolume,
  containerSecurityContext,
  env,
  mcCopyContainer,
  mounts,
  offsiteVolume,
  podBase,
  scratchVolume,
  secretsVolume,
  toolsVolume,
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

function jobPod(
  spec: ClusterSpec,
  component: ClusterComponent,
  container: Container,
  volumes: PodSpec["volumes"],
  affinity: inputs.core.v1.Affinity | undefined,
): { metadata: Meta; spec: PodSpec } {
  return {
    metadata: { labels: componentLabels(spec.name, component) },
    spec: { ...podBase(affinity), restartPolicy: "Never", containers: [container], volumes },
  };
}

const jobContainer = (
  spec: ClusterSpec,
  name: string,
  command: string[],
  settingsFile: string,
  volumeMounts: Container["volumeMounts"],
  resources: Container["resources"],
  extraEnv: Record<string, string> = {},
): Container => ({
  name,
  image: spec.image,
  command,
  env: env({ ...agentEnv(settingsFile), ...extraEnv }),
  resources,
  securityContext: containerSecurityContext,
  // The result line the agent writes to /dev/termination-log shows in the pod's status; its log otherwise.
  terminationMessagePolicy: "FallbackToLogsOnError",
  volumeMounts,
});

function cronJob(
  spec: ClusterSpec,
  component: "backup" | "verify",
  schedule: string,
  backoffLimit: number,
  deadline: number,
  pod: ReturnType<typeof jobPod>,
): CronJobManifest {
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
 * The backup CronJob: the agent's pod-backup, i.e. backup-base against the primary as the replication role,
 * with off-site shipping ship-offsite (the backup set and the archived WAL, the hosts' object layout and sha256
 * checks), then prune ("keep the newest N"). The store's credentials reach it only as a file from the offsite
 * Secret (OFFSITE_CREDENTIALS), never through its environment.
 */
export function buildBackupCronJob(spec: ClusterSpec): CronJobManifest {
  const shipping = spec.offsite !== undefined;
  const backup = jobContainer(
    spec,
    "backup",
    agentCommand("pod-backup"),
    SETTINGS_FILES.backup,
    [
      ...mounts(VOLUMES.config, VOLUMES.agent, VOLUMES.secrets, VOLUMES.run, VOLUMES.tmp, VOLUMES.backups),
      ...(shipping ? mounts(VOLUMES.tools, VOLUMES.offsite) : []),
    ],
    JOB_RESOURCES,
  );
  const volumes = [
    ...baseVolumes(spec),
    secretsVolume(spec),
    claimVolume(VOLUMES.backups, spec.names.backups),
    ...(shipping ? [toolsVolume(), offsiteVolume(spec)] : []),
  ];
  const pod = jobPod(spec, "backup", backup, volumes, besidePrimary(spec));
  if (shipping) pod.spec = { ...pod.spec, initContainers: [mcCopyContainer(spec)] };
  return cronJob(spec, "backup", spec.schedule.backup, 1, BACKUP_DEADLINE_SECONDS, pod);
}

/** The restore test: the agent's verify-backup in its end-of-archive mode, in a scratch emptyDir. */
export function buildRestoreTestCronJob(spec: ClusterSpec): CronJobManifest {
  const container = jobContainer(
    spec,
    "restore-test",
    agentCommand("verify-backup", "--end-of-archive"),
    SETTINGS_FILES.restoreTest,
    mounts(VOLUMES.config, VOLUMES.agent, VOLUMES.socket, VOLUMES.tmp, VOLUMES.shm, VOLUMES.backups, VOLUMES.scratch),
    spec.resources,
  );
  const volumes = [...baseVolumes(spec), claimVolume(VOLUMES.backups, spec.names.backups), scratchVolume(spec)];
  // A failed restore test is a finding to report, not something to retry until it passes.
  return cronJob(
    spec,
    "verify",
    spec.schedule.verify,
    0,
    restoreTimeoutSeconds(spec),
    jobPod(spec, "verify", container, volumes, besidePrimary(spec)),
  );
}

/**
 * Only with a restore request: the agent's pod-restore (guards, then restore-pitr) fills the primary's volume before
 * the primary StatefulSet exists.
 */
export function buildRestoreJob(spec: ClusterSpec): JobManifest | undefined {
  if (!spec.restore) return undefined;
  const r = spec.restore;
  const args = [
    ...(r.fromBackup !== "latest" ? ["--backup", r.fromBackup] : []),
    ...(r.targetTime ? ["--target-time", r.targetTime] : []),
  ];
  const container = jobContainer(
    spec,
    "restore",
    agentCommand("pod-restore", ...args),
    SETTINGS_FILES.restore,
    mounts(
      VOLUMES.data,
      VOLUMES.config,
      VOLUMES.agent,
      VOLUMES.run,
      VOLUMES.socket,
      VOLUMES.tmp,
      VOLUMES.shm,
      VOLUMES.backups,
    ),
    spec.resources,
    // The request in the Job's own spec: a new request changes the spec (so the Job is replaced and runs), and
    // pod-restore checks it against the settings file's, in case the pod saw an older ConfigMap.
    { DRKIT_RESTORE_REQUEST: r.requestId },
  );
  const volumes = [
    ...baseVolumes(spec),
    claimVolume(VOLUMES.data, spec.names.primaryData),
    claimVolume(VOLUMES.backups, spec.names.backups),
  ];
  // The primary is down while this runs, so there is nothing to run beside: no affinity.
  const pod = jobPod(spec, "restore", container, volumes, undefined);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    // A failed restore is replaced (re-run) by the next `pulumi up` instead of being awaited again.
    metadata: meta(spec, spec.names.restoreJob, componentLabels(spec.name, "restore"), {
      "pulumi.com/replaceUnready": "true",
    }),
    spec: { backoffLimit: 1, activeDeadlineSeconds: restoreTimeoutSeconds(spec), template: pod },
  };
}
