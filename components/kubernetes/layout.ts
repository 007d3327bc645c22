import { agentFileNames } from "../agent/agentFiles";

/**
 * Where things live inside drkit's containers. The agent (agent/, verbatim) is mounted at agentDir; what it
 * reads comes from one settings file per pod role (see agentSettings.ts), named by DRKIT_ENV.
 */
export const LAYOUT = {
  /** Mount point of a server's volume; the cluster lives one level down so the volume root can hold
   * a lock file, restore markers and data moved aside. */
  dataMount: "/var/lib/postgresql/data",
  pgdata: "/var/lib/postgresql/data/pgdata",
  configDir: "/etc/drkit/config",
  agentDir: "/etc/drkit/agent",
  secretsDir: "/etc/drkit/secrets",
  /** The object store's credentials file (the offsite Secret), only in the backup pod. */
  offsiteDir: "/etc/drkit/offsite",
  /** mc, copied from the mc image by an init container (the postgres image has none). */
  toolsDir: "/opt/drkit/bin",
  /** Memory-backed: pgpass files built from the Secret never touch a disk. */
  runDir: "/run/drkit",
  socketDir: "/var/run/postgresql",
  backupRoot: "/backups",
  scratch: "/scratch",
  tmp: "/tmp",
} as const;

export const SECRET_KEYS = {
  superuser: "superuser-password",
  replication: "replication-password",
  /** With replicationTls: the primary's private key (the secrets volume is 0440, root's, the postgres group's). */
  tlsKey: "replication-tls.key",
} as const;

/** With replicationTls, in the ConfigMap: the CA clients verify the primary with, and the primary's certificate. */
export const TLS_FILES = { ca: "replication-ca.crt", certificate: "replication-server.crt" } as const;

export const CONFIG_FILES = { postgresql: "postgresql.conf", dr: "drkit.conf", hba: "pg_hba.conf" } as const;

/** The pod settings files, ConfigMap keys beside the configuration (see agentSettings.ts). */
export const SETTINGS_FILES = {
  server: "server.env",
  backup: "backup.env",
  restoreTest: "restore-test.env",
  restore: "restore.env",
} as const;

/** The agent's verb a pod runs, as its command. */
export const agentCommand = (verb: string, ...args: string[]) => [`${LAYOUT.agentDir}/${verb}`, ...args];

/**
 * Off-site shipping: the mc alias the agent uploads through and the keys of the Secret that holds the
 * credentials file (its MC_HOST_offsite line) and the store's CA.
 */
export const OFFSITE = {
  alias: "offsite",
  credentialsKey: "credentials",
  /** The store's CA (PEM), in the same Secret, when the cluster gives one. */
  caKey: "ca.crt",
} as const;

/** The agent files the servers run: a change to any of these (or to their settings) restarts them. */
const SERVER_AGENT_FILES: readonly string[] = [
  "lib.sh",
  "archive-wal",
  "pod-primary",
  "pod-standby-clone",
  "pod-standby",
];

/** What the server pods read: a change to any of these restarts them, a change to a job's settings does not. */
export const SERVER_FILES: readonly string[] = [
  ...Object.values(CONFIG_FILES),
  ...Object.values(TLS_FILES),
  SETTINGS_FILES.server,
  ...SERVER_AGENT_FILES,
];

/** Every agent file, as the ConfigMap holds them. */
export const agentFiles = (): string[] => agentFileNames();
