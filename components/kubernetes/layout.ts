/**
 * Where things live inside drkit's containers. Scripts read these locations from environment variables
 * set by the manifests (so they can be rehearsed outside a pod); what they do is rendered into them.
 */
export const LAYOUT = {
  /** Mount point of a server's volume; the cluster lives one level down so the volume root can hold
   * a lock file, restore markers and data moved aside. */
  dataMount: "/var/lib/postgresql/data",
  pgdata: "/var/lib/postgresql/data/pgdata",
  configDir: "/etc/drkit/config",
  scriptsDir: "/etc/drkit/scripts",
  secretsDir: "/etc/drkit/secrets",
  /** Memory-backed: pgpass files built from the Secret never touch a disk. */
  runDir: "/run/drkit",
  socketDir: "/var/run/postgresql",
  backupRoot: "/backups",
  scratch: "/scratch",
  tmp: "/tmp",
  /** Memory-backed, shared by the backup pod's two steps: the backup step leaves the id of the backup it took. */
  handoffDir: "/run/drkit-handoff",
  /** The off-site upload script alone (not the scripts volume, whose items the server pods share). */
  offsiteScriptDir: "/etc/drkit/offsite",
} as const;

export const SECRET_KEYS = { superuser: "superuser-password", replication: "replication-password" } as const;

export const CONFIG_FILES = { postgresql: "postgresql.conf", dr: "drkit.conf", hba: "pg_hba.conf" } as const;

export const SCRIPT_FILES = {
  primary: "primary-entrypoint.sh",
  standbyClone: "standby-clone.sh",
  standby: "standby-entrypoint.sh",
  archive: "archive-wal.sh",
  backup: "backup.sh",
  verify: "restore-test.sh",
  restore: "restore.sh",
} as const;

export type ScriptName = keyof typeof SCRIPT_FILES;

/**
 * Off-site shipping: the upload script (a ConfigMap key, mounted on its own so that turning shipping on or
 * off leaves the server pods' volumes, and so the servers, alone), the mc alias it uploads through and the
 * key of the Secret that holds that alias's MC_HOST_ line.
 */
export const OFFSITE = {
  script: "offsite-upload.sh",
  alias: "offsite",
  secretKey: "MC_HOST_offsite",
  handoffFile: "backup-id",
} as const;

/** The scripts a cluster's ConfigMap holds: the restore script only while a restore is requested. */
export const scriptFiles = (withRestore: boolean): string[] => Object.values(SCRIPT_FILES).filter((file) => withRestore || file !== SCRIPT_FILES.restore);

/** What the server pods read: a change to any of these restarts them, a change to a job's script does not. */
export const SERVER_FILES: readonly string[] = [...Object.values(CONFIG_FILES), SCRIPT_FILES.primary, SCRIPT_FILES.standbyClone, SCRIPT_FILES.standby, SCRIPT_FILES.archive];
