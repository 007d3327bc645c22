import type * as inputs from "@pulumi/kubernetes/types/input";
import { CONFIG_FILES, LAYOUT, OFFSITE, SETTINGS_FILES, agentFiles } from "./layout";
import { POSTGRES_PORT, SERVER_LABEL, selectorLabels } from "./names";
import type { ClusterSpec } from "./spec";

export type Container = inputs.core.v1.Container;
export type PodSpec = inputs.core.v1.PodSpec;
export type Volume = inputs.core.v1.Volume;
export type VolumeMount = inputs.core.v1.VolumeMount;
export type EnvVar = inputs.core.v1.EnvVar;

/** The official image's postgres user; the pods never run as root. */
const POSTGRES_UID = 999;

export const VOLUMES = {
  data: "data",
  config: "config",
  agent: "agent",
  secrets: "secrets",
  run: "run",
  socket: "socket",
  tmp: "tmp",
  backups: "backups",
  scratch: "scratch",
  shm: "shm",
  tools: "tools",
  offsite: "offsite",
} as const;
type VolumeName = (typeof VOLUMES)[keyof typeof VOLUMES];

const MOUNT_PATHS: Record<VolumeName, string> = {
  data: LAYOUT.dataMount,
  config: LAYOUT.configDir,
  agent: LAYOUT.agentDir,
  secrets: LAYOUT.secretsDir,
  run: LAYOUT.runDir,
  socket: LAYOUT.socketDir,
  tmp: LAYOUT.tmp,
  backups: LAYOUT.backupRoot,
  scratch: LAYOUT.scratch,
  shm: "/dev/shm",
  tools: LAYOUT.toolsDir,
  offsite: LAYOUT.offsiteDir,
};

const READ_ONLY: readonly VolumeName[] = [VOLUMES.config, VOLUMES.agent, VOLUMES.secrets, VOLUMES.offsite];
export const mounts = (...names: VolumeName[]): VolumeMount[] =>
  names.map((name) => ({ name, mountPath: MOUNT_PATHS[name], readOnly: READ_ONLY.includes(name) }));

const emptyDir = (name: VolumeName, sizeLimit: string, medium?: "Memory"): Volume => ({
  name,
  emptyDir: { sizeLimit, ...(medium ? { medium } : {}) },
});

/**
 * Volumes every drkit pod has: configuration and the pod settings files, and the agent (every file of agent/,
 * verbatim, executable) from the ConfigMap, and small writable scratch places.
 */
export function baseVolumes(spec: ClusterSpec): Volume[] {
  const config = [...Object.values(CONFIG_FILES), ...Object.values(SETTINGS_FILES)];
  return [
    {
      name: VOLUMES.config,
      configMap: { name: spec.names.config, items: config.map((key) => ({ key, path: key, mode: 0o444 })) },
    },
    {
      name: VOLUMES.agent,
      configMap: { name: spec.names.config, items: agentFiles().map((key) => ({ key, path: key, mode: 0o555 })) },
    },
    emptyDir(VOLUMES.run, "1Mi", "Memory"),
    emptyDir(VOLUMES.socket, "1Mi", "Memory"),
    emptyDir(VOLUMES.tmp, "256Mi"),
    // A container's own /dev/shm is 64MB, too little for PostgreSQL's dynamic shared memory (parallel queries).
    emptyDir(VOLUMES.shm, "256Mi", "Memory"),
  ];
}

/** mc, copied there from the mc image by the backup pod's init container. */
export const toolsVolume = (): Volume => emptyDir(VOLUMES.tools, "256Mi");
/** The object store's credentials file (`MC_HOST_offsite=...`), from the offsite Secret; the agent reads it. */
export const offsiteVolume = (spec: ClusterSpec): Volume => ({
  name: VOLUMES.offsite,
  secret: {
    secretName: spec.names.offsite,
    defaultMode: 0o440,
    items: [OFFSITE.credentialsKey, ...(spec.offsite?.caCertificate ? [OFFSITE.caKey] : [])].map((key) => ({
      key,
      path: key,
    })),
  },
});

export const secretsVolume = (spec: ClusterSpec): Volume => ({
  name: VOLUMES.secrets,
  secret: { secretName: spec.names.credentials, defaultMode: 0o440 },
});
export const claimVolume = (name: VolumeName, claimName: string): Volume => ({
  name,
  persistentVolumeClaim: { claimName },
});
/** A restored cluster never outgrows the volume it came from. */
export const scratchVolume = (spec: ClusterSpec): Volume => emptyDir(VOLUMES.scratch, spec.storage.size);

export const env = (values: Record<string, string>): EnvVar[] =>
  Object.entries(values).map(([name, value]) => ({ name, value }));

/**
 * A container's environment: DRKIT_ENV names its role's settings file (the agent reads everything from it);
 * PGDATA, PGHOST and PGPORT only for people and probes (kubectl exec, pg_ctl in preStop).
 */
export const agentEnv = (settingsFile: string): Record<string, string> => ({
  DRKIT_ENV: `${LAYOUT.configDir}/${settingsFile}`,
  PGDATA: LAYOUT.pgdata,
  PGHOST: LAYOUT.socketDir,
  PGPORT: String(POSTGRES_PORT),
});

export const podNameEnv: EnvVar = { name: "DRKIT_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } };

export const containerSecurityContext: inputs.core.v1.SecurityContext = {
  runAsNonRoot: true,
  runAsUser: POSTGRES_UID,
  runAsGroup: POSTGRES_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

const podSecurityContext: inputs.core.v1.PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: POSTGRES_UID,
  runAsGroup: POSTGRES_UID,
  fsGroup: POSTGRES_UID,
  // Re-owning a large data volume on every start would delay it; once is enough.
  fsGroupChangePolicy: "OnRootMismatch",
  seccompProfile: { type: "RuntimeDefault" },
};

/** Accepting connections (exit 0); "rejecting" (1: starting, recovering) and "no response" (2) are not ready. */
const ready: inputs.core.v1.ExecAction = {
  command: ["pg_isready", "-q", "-h", "localhost", "-p", String(POSTGRES_PORT), "-t", "5"],
};
/** Alive unless nothing answers: a server in crash recovery rejects connections but must not be killed. */
const alive: inputs.core.v1.ExecAction = {
  command: ["bash", "-c", `pg_isready -q -h localhost -p ${POSTGRES_PORT} -t 5; [ $? -ne 2 ]`],
};
/**
 * A standby is ready only while it streams from the primary: one that cannot follow (its clone belongs to
 * a history the primary left, say after a point-in-time restore) still answers, with stale data.
 */
const streaming: inputs.core.v1.ExecAction = {
  command: [
    "bash",
    "-c",
    `[ "$(psql -X -Atq -h ${LAYOUT.socketDir} -p ${POSTGRES_PORT} -U postgres -d postgres -c 'SELECT status FROM ` +
      `pg_stat_wal_receiver')" = streaming ]`,
  ],
};
const PROBE_PERIOD = 10;

export function serverProbes(
  spec: ClusterSpec,
  component: "primary" | "standby",
): Pick<Container, "startupProbe" | "readinessProbe" | "livenessProbe"> {
  return {
    startupProbe: {
      exec: alive,
      periodSeconds: PROBE_PERIOD,
      timeoutSeconds: 6,
      failureThreshold: Math.ceil(spec.derived.serverStartSeconds / PROBE_PERIOD),
    },
    readinessProbe: {
      exec: component === "primary" ? ready : streaming,
      periodSeconds: PROBE_PERIOD,
      timeoutSeconds: 6,
      failureThreshold: 3,
    },
    livenessProbe: { exec: alive, periodSeconds: PROBE_PERIOD, timeoutSeconds: 6, failureThreshold: 6 },
  };
}

export const TERMINATION_GRACE_SECONDS = 120;
/** A fast shutdown (clients disconnected, a clean checkpoint) rather than the smart one SIGTERM asks for. */
export const fastShutdown: inputs.core.v1.Lifecycle = {
  preStop: {
    exec: {
      command: [
        "pg_ctl",
        "stop",
        "-D",
        LAYOUT.pgdata,
        "-m",
        "fast",
        "-w",
        "-t",
        String(TERMINATION_GRACE_SECONDS - 20),
      ],
    },
  },
};

export const serverPort: inputs.core.v1.ContainerPort[] = [
  { name: "postgresql", containerPort: POSTGRES_PORT, protocol: "TCP" },
];

/** Database pods of one cluster prefer different nodes, so one node's loss takes at most one copy. */
export const spreadServers = (spec: ClusterSpec): inputs.core.v1.Affinity => ({
  podAntiAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        podAffinityTerm: {
          topologyKey: "kubernetes.io/hostname",
          labelSelector: { matchLabels: { "app.kubernetes.io/instance": spec.name, [SERVER_LABEL]: "true" } },
        },
      },
    ],
  },
});

/** A ReadWriteOnce backup volume is attached where the primary runs, so jobs using it must run there too. */
export const besidePrimary = (spec: ClusterSpec): inputs.core.v1.Affinity | undefined =>
  spec.backupStorage.accessMode === "ReadWriteOnce"
    ? {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            {
              topologyKey: "kubernetes.io/hostname",
              labelSelector: { matchLabels: selectorLabels(spec.name, "primary") },
            },
          ],
        },
      }
    : undefined;

/** Pod settings every drkit pod shares: non-root, no API token, no service links. */
export function podBase(
  affinity: inputs.core.v1.Affinity | undefined,
): Pick<PodSpec, "securityContext" | "automountServiceAccountToken" | "enableServiceLinks" | "affinity"> {
  return {
    securityContext: podSecurityContext,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    ...(affinity ? { affinity } : {}),
  };
}

export const JOB_RESOURCES = { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } };

/**
 * mc is not in the postgres image: an init container in the mc image copies its binary into an emptyDir that
 * the agent finds at MC (the mc image has bash and coreutils).
 */
export function mcCopyContainer(spec: ClusterSpec): Container {
  return {
    name: "mc",
    image: spec.offsite!.mcImage,
    command: ["bash", "-c", `cp -- "$(command -v mc)" ${LAYOUT.toolsDir}/mc`],
    resources: JOB_RESOURCES,
    securityContext: containerSecurityContext,
    volumeMounts: mounts(VOLUMES.tools),
  };
}
