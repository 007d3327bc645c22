import type * as pulumi from "@pulumi/pulumi";

/** Compute resources of one container, as Kubernetes quantities ("500m", "1Gi"). */
export interface ContainerResources {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

/** Restore the primary's volume from a base backup (plus archived WAL) before the primary starts. */
export interface RestoreRequest {
  /** "latest", or a backup id as the backup job names them (e.g. "20240115T020000Z"). */
  readonly fromBackup: string;
  /** ISO 8601 time with a zone ("2024-01-15T14:30:00Z"): recover to this point instead of the end of the archive. */
  readonly targetTime?: string;
}

/**
 * Off-site copies in an S3-compatible object store (MinIO, AWS S3, ...), uploaded with mc by the backup
 * CronJob right after each backup. The bucket must exist; drkit never creates, changes or deletes anything
 * in it (expiry is the bucket's lifecycle rules' job). Layout under `<bucket>/<prefix>`:
 *   base/<backup id>/  the backup's files as on the backup volume, drkit-backup.env uploaded last;
 *   wal/<name>         the archived WAL files, shipped by each backup run (off-site RPO: the backup interval).
 * The agent's ship-offsite writes it, the same layout and sha256 checks as hosts (agent/lib.sh, offsite_key).
 */
export interface OffsiteShipping {
  /** "http(s)://host[:port]" of the store, nothing after the port. */
  readonly endpoint: string;
  /** An existing bucket: 3-63 lowercase letters, digits, '.' and '-'. */
  readonly bucket: string;
  /**
   * Folder names each ending in "/", default "<name>/": one prefix per cluster (WAL file names of two clusters
   * collide).
   */
  readonly prefix?: string;
  /** Kept secret: they reach the backup pod only through a Secret, as mc's MC_HOST_offsite. Neither may contain ':'. */
  readonly accessKey: pulumi.Input<string>;
  readonly secretKey: pulumi.Input<string>;
  /** PEM of the CA that signed the store's certificate (https only), when no system trust store holds it. */
  readonly caCertificate?: string;
  /**
   * Only its mc binary is used (copied by an init container; needs bash and coreutils). Default
   * "minio/mc:RELEASE.2025-08-13T08-35-41Z".
   */
  readonly mcImage?: string;
}

/**
 * Metrics and alerts. The backup and restore-test jobs write their results, and a collector beside the primary
 * writes archiving, replication and the recovery window, as Prometheus text files on the backup volume
 * (`/backups/metrics`); a node_exporter beside the primary serves them on port 9100 (pod annotations
 * `prometheus.io/scrape`, `prometheus.io/port`), and a PrometheusRule holds the alerts derived from the objectives.
 */
export interface ClusterMonitoring {
  /** node_exporter's image. Default "quay.io/prometheus/node-exporter:v1.8.2". */
  readonly exporterImage?: string;
  /** Each alert's runbook_url is this plus "#<alert name in lowercase>". Default "docs/alerts.md". */
  readonly runbookBaseUrl?: string;
  /** A backup whose size differs from the one before by more than this fraction alerts. Default 0.5. */
  readonly sizeChangeRatio?: number;
  /** Replication lag in bytes that alerts. Default 256 MiB. */
  readonly replicationLagBytes?: number;
  /** A PrometheusRule (the Prometheus Operator's resource) with the alerts. Default true. */
  readonly prometheusRule?: boolean;
}

/**
 * TLS for every connection to the primary over the pod network (the standbys' replication and clones, the backup
 * job): the primary serves `certificate`, clients verify it against `ca` (sslmode=verify-full), and pg_hba admits
 * network connections only over TLS. The certificate must name what the pods connect to:
 * `<name>-primary-0.<name>-headless` (the standbys) and `<name>-rw` (the backup job).
 */
export interface ClusterReplicationTls {
  /** PEM: the CA that signed `certificate` (a self-signed root, and any intermediates after the certificate). */
  readonly ca: string;
  /** PEM: the primary's server certificate, then any intermediates. */
  readonly certificate: string;
  /** PEM private key of `certificate`; kept secret (it reaches the primary only through the credentials Secret). */
  readonly key: pulumi.Input<string>;
}

/**
 * Arguments of `drkit:kubernetes:PostgresCluster`. Everything that ends up in names, scripts or settings
 * is a plain value, validated in the constructor before any resource exists; only values passed through
 * untouched (image, storage classes) may be outputs of other resources.
 */
export interface PostgresClusterArgs {
  /** Prefix of every object name; a DNS-1123 label of at most 44 characters starting with a letter. */
  readonly name: string;
  readonly namespace: string;
  /** Default "postgres:<postgresVersion>" (the official image: bash, zstd, GNU tar, uid 999). */
  readonly image?: pulumi.Input<string>;
  /** 14-18, default 15. */
  readonly postgresVersion?: number;
  /** Created on the primary if missing, and checked by the restore test. */
  readonly databases: readonly string[];
  /** Recovery point objective: archive_timeout is derived from it. */
  readonly rpoSeconds: number;
  /** Recovery time objective, default 1800: bounds the restore job and how long a server may take to start. */
  readonly rtoSeconds?: number;
  /** Streaming standbys, 0-8, default 0. */
  readonly standbys?: number;
  /** Commits wait for one standby (FIRST 1 of them, in ordinal order); needs at least 1 standby. Default false. */
  readonly synchronous?: boolean;
  readonly storage: { readonly size: string; readonly storageClassName?: pulumi.Input<string> };
  readonly backupStorage: {
    readonly size: string;
    readonly storageClassName?: pulumi.Input<string>;
    /**
     * Default "ReadWriteOnce": the primary (which archives WAL into it) and the backup and verify jobs then
     * share it on one node, so those jobs are scheduled beside the primary.
     */
    readonly accessMode?: "ReadWriteOnce" | "ReadWriteMany";
  };
  /** CronJob schedules in UTC, default backup "0 2 * * *" and verify "0 5 * * *". */
  readonly schedule?: { readonly backup?: string; readonly verify?: string };
  /** Base backups kept, default 7; archived WAL older than the oldest one kept is removed. */
  readonly retention?: { readonly backups?: number };
  /** Of each database container; default requests 500m CPU and 1Gi memory, limit 1Gi memory. */
  readonly resources?: ContainerResources;
  readonly restore?: RestoreRequest;
  readonly offsite?: OffsiteShipping;
  readonly monitoring?: ClusterMonitoring;
  readonly replicationTls?: ClusterReplicationTls;
  /**
   * Whether `pulumi up` waits for the servers (the StatefulSets, and the shipper's Deployment) to become ready, as
   * the Kubernetes provider does by default. false sets `pulumi.com/skipAwait` on them: the objects are created
   * and the update goes on, for clusters whose pods come up later (nodes still joining, images still pulling) or
   * are watched by other means. The standbys then no longer wait for the primary to be ready (their clone retries
   * until it is). The restore Job is always waited for: the primary never starts before it has succeeded.
   * Default true.
   */
  readonly awaitReady?: boolean;
}

export const DEFAULTS = {
  postgresVersion: 15,
  rtoSeconds: 1800,
  standbys: 0,
  synchronous: false,
  awaitReady: true,
  backupSchedule: "0 2 * * *",
  verifySchedule: "0 5 * * *",
  backupsKept: 7,
  backupAccessMode: "ReadWriteOnce",
  resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "1Gi" } },
  mcImage: "minio/mc:RELEASE.2025-08-13T08-35-41Z",
  exporterImage: "quay.io/prometheus/node-exporter:v1.8.2",
} as const;

export const defaultOffsitePrefix = (name: string) => `${name}/`;

export const defaultImage = (postgresVersion: number) => `postgres:${postgresVersion}`;
