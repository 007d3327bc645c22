import { CONFIG_FILES, LAYOUT, SECRET_KEYS, TLS_FILES } from "./layout";
import { POSTGRES_PORT, REPLICATION_ROLE } from "./names";
import type { ClusterSpec } from "./spec";

const quoted = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** Server basics; every pod runs `postgres -c config_file=` this file, so the data directory's own is unused. */
export function renderPostgresqlConf(spec: ClusterSpec): string {
  return `# PostgreSQL ${spec.postgresVersion} server of drkit cluster ${spec.name}; DR settings in ${CONFIG_FILES.dr}.
listen_addresses = '*'
port = ${POSTGRES_PORT}
unix_socket_directories = ${quoted(LAYOUT.socketDir)}
hba_file = ${quoted(`${LAYOUT.configDir}/${CONFIG_FILES.hba}`)}
password_encryption = 'scram-sha-256'
logging_collector = off
log_destination = 'stderr'
${spec.replicationTls ? tlsSettings() : ""}include ${quoted(`${LAYOUT.configDir}/${CONFIG_FILES.dr}`)}
`;
}

/** The primary's certificate and key (a standby serves them too, unused until it is promoted). */
const tlsSettings = () => `ssl = on
ssl_cert_file = ${quoted(`${LAYOUT.configDir}/${TLS_FILES.certificate}`)}
ssl_key_file = ${quoted(`${LAYOUT.secretsDir}/${SECRET_KEYS.tlsKey}`)}
ssl_min_protocol_version = 'TLSv1.2'
`;

/** The drop-in derived from the objectives: archiving within the RPO, replication sized for the standbys. */
export function renderDrSettings(spec: ClusterSpec): string {
  const d = spec.derived;
  return (
    `# DR settings of ${spec.name}, derived by drkit: RPO ${spec.rpoSeconds}s, ${spec.standbys} ` +
    `standby(s)${spec.synchronous ? ", synchronous" : ""}.
wal_level = replica
archive_mode = on
# The agent's archive-wal, with the settings file the server's environment names (DRKIT_ENV).
archive_command = ${quoted(`${LAYOUT.agentDir}/archive-wal %p %f`)}
# RPO ${spec.rpoSeconds}s minus headroom for the copy into the archive.
archive_timeout = ${d.archiveTimeoutSeconds}
max_wal_senders = ${d.maxWalSenders}
max_replication_slots = ${d.maxReplicationSlots}
# A dead standby's slot may hold at most this much WAL (a quarter of the volume); past it the slot is invalidated.
max_slot_wal_keep_size = '${d.maxSlotWalKeepSizeMb}MB'
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on
synchronous_standby_names = ${quoted(d.synchronousStandbyNames)}
`
  );
}

/**
 * Peer on the socket; everything over the network needs a SCRAM password, replication only as drkit's role; with
 * replicationTls, only over TLS (a plain connection from the network is rejected).
 */
export function renderPgHba(spec: Pick<ClusterSpec, "replicationTls">): string {
  const network = spec.replicationTls ? "hostssl" : "host   ";
  return `# TYPE  DATABASE     USER                ADDRESS  METHOD
local   all          all                          peer
${network} replication  ${REPLICATION_ROLE.padEnd(18)}  all      scram-sha-256
${network} all          all                 all      scram-sha-256
${spec.replicationTls ? "hostnossl all        all                 all      reject\n" : ""}`;
}
