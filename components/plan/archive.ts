/**
 * Archive epochs: where a service's archive (WAL and base backups) lives, locally and in the object stores.
 * An archive location belongs to one PostgreSQL cluster (the agent's claim-archive records it there); a stack
 * config that sets `archive.epoch` starts a new, empty location, and the older ones stay where they are so their
 * backups can still be restored. Epoch 1 is the layout drkit has always had.
 */

/** The owner record of an archive location (in the local archive's folder and under each store's prefix). */
const ARCHIVE_RECORD = "drkit-archive.env";

export interface ArchiveEpochPlan {
  readonly epoch: number;
  /** The epoch's local folder: the backup root for epoch 1, `<backupRoot>/epoch-<n>` after it. */
  readonly root: string;
  readonly walDir: string;
  readonly baseDir: string;
  /** The owner record of the local archive: drkit-archive.env in `root`. */
  readonly record: string;
  /** Off-site confirmation markers of the epoch. */
  readonly markerDir: string;
  /** Key prefix in every object store: `<service>/` for epoch 1, `<service>/epoch-<n>/` after it. */
  readonly prefix: string;
}

export interface ArchivePlan {
  readonly epoch: number;
  readonly current: ArchiveEpochPlan;
  /** Every older epoch, newest first: restores can still read them (restore-pitr --epoch). */
  readonly older: readonly ArchiveEpochPlan[];
}

/** The part of an epoch's paths and keys below the service's own: "" for epoch 1, "epoch-<n>/" after it. */
export const epochFolder = (epoch: number): string => (epoch === 1 ? "" : `epoch-${epoch}/`);

function archiveEpochPlan(service: string, backupRoot: string, epoch: number): ArchiveEpochPlan {
  const root = `${backupRoot}/${epochFolder(epoch)}`.replace(/\/$/, "");
  return {
    epoch,
    root,
    walDir: `${root}/wal`,
    baseDir: `${root}/postgresql/base`,
    record: `${root}/${ARCHIVE_RECORD}`,
    markerDir: `${root}/.offsite`,
    prefix: `${service}/${epochFolder(epoch)}`,
  };
}

export function archivePlan(service: string, backupRoot: string, epoch: number): ArchivePlan {
  const older = Array.from({ length: epoch - 1 }, (_, i) => archiveEpochPlan(service, backupRoot, epoch - 1 - i));
  return { epoch, current: archiveEpochPlan(service, backupRoot, epoch), older };
}
