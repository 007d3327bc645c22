/** Object names, labels and in-cluster addresses of one drkit PostgreSQL cluster, derived from its name. */

export type ClusterComponent = "primary" | "standby" | "backup" | "shipper" | "verify" | "restore";

export const POSTGRES_PORT = 5432;
export const REPLICATION_ROLE = "drkit_replicator";
export const SUPERUSER = "postgres";
/** On database pods only, so the headless Service does not also select backup, verify or restore pods. */
export const SERVER_LABEL = "drkit.io/server";

export interface ClusterNames {
  readonly config: string;
  readonly credentials: string;
  /** Secret with the off-site store's MC_HOST_offsite (only with offsite shipping). */
  readonly offsite: string;
  readonly headless: string;
  readonly readWrite: string;
  readonly readOnly: string;
  readonly primary: string;
  readonly standby: string;
  /** The claim the primary StatefulSet's "data" template resolves to for pod 0; drkit creates it itself. */
  readonly primaryData: string;
  readonly backups: string;
  readonly backupJob: string;
  /** The WAL shipper Deployment (only with off-site shipping). */
  readonly shipper: string;
  readonly verifyJob: string;
  readonly restoreJob: string;
  /** How pods in the namespace reach the primary pod itself, ready or not (the headless Service publishes it). */
  readonly primaryHost: string;
  readonly slotPrefix: string;
}

export const DATA_TEMPLATE = "data";

export function clusterNames(name: string): ClusterNames {
  const primary = `${name}-primary`;
  const headless = `${name}-headless`;
  return {
    config: `${name}-config`,
    credentials: `${name}-credentials`,
    offsite: `${name}-offsite`,
    headless,
    readWrite: `${name}-rw`,
    readOnly: `${name}-ro`,
    primary,
    standby: `${name}-standby`,
    primaryData: `${DATA_TEMPLATE}-${primary}-0`,
    backups: `${name}-backups`,
    backupJob: `${name}-backup`,
    shipper: `${name}-shipper`,
    verifyJob: `${name}-verify`,
    restoreJob: `${name}-restore`,
    primaryHost: `${primary}-0.${headless}`,
    slotPrefix: "drkit_standby_",
  };
}

/** application_name of standby pod N: its pod name, which is also what synchronous_standby_names lists. */
export const standbyPodName = (name: string, ordinal: number) => `${clusterNames(name).standby}-${ordinal}`;

export type Labels = Record<string, string>;

/** The labels every object of the cluster carries. */
export function commonLabels(name: string): Labels {
  return {
    "app.kubernetes.io/name": "postgresql",
    "app.kubernetes.io/instance": name,
    "app.kubernetes.io/managed-by": "drkit",
  };
}

export function componentLabels(name: string, component: ClusterComponent): Labels {
  return { ...commonLabels(name), "app.kubernetes.io/component": component };
}

/** What a StatefulSet or Service selects: stable keys only (no managed-by, which a selector need not pin). */
export function selectorLabels(name: string, component: ClusterComponent): Labels {
  return {
    "app.kubernetes.io/name": "postgresql",
    "app.kubernetes.io/instance": name,
    "app.kubernetes.io/component": component,
  };
}

/** Longest suffix drkit appends to the cluster name for an object whose own name is length-limited. */
const LONGEST_SUFFIX = "-standby";
/** StatefulSet names above 52 characters break the controller-revision-hash label of their pods. */
export const STATEFULSET_NAME_LIMIT = 52;
export const MAX_CLUSTER_NAME_LENGTH = STATEFULSET_NAME_LIMIT - LONGEST_SUFFIX.length;
