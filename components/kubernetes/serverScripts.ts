import { header, settings } from "../render/shell";
import { CONFIG_FILES, LAYOUT } from "./layout";
import { REPLICATION_ROLE, SUPERUSER } from "./names";
import { localSql, lockDataVolume, readSecret, requireEnv, serverControl, writePgpass } from "./scriptLib";
import type { ClusterSpec } from "./spec";

const CONFIG_FILE = `${LAYOUT.configDir}/${CONFIG_FILES.postgresql}`;
const job = (spec: ClusterSpec, what: string) => `drkit-${spec.name}-${what}`;

/** Idempotent SQL that makes roles, databases and slots match the spec; passwords arrive as shell variables. */
function setupSql(spec: ClusterSpec): string {
  const wanted = spec.derived.slots.map((s) => `'${s}'`).join(", ");
  return [
    `ALTER ROLE ${SUPERUSER} WITH PASSWORD '$superuser_password';`,
    `SELECT 'CREATE ROLE ${REPLICATION_ROLE} WITH LOGIN REPLICATION' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${REPLICATION_ROLE}') \\gexec`,
    `ALTER ROLE ${REPLICATION_ROLE} WITH LOGIN REPLICATION PASSWORD '$replication_password';`,
    ...spec.databases.map((db) => `SELECT 'CREATE DATABASE ${db}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${db}') \\gexec`),
    ...spec.derived.slots.map((s) => `SELECT pg_create_physical_replication_slot('${s}') WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '${s}');`),
    // Slots of standbys scaled away would pin WAL until max_slot_wal_keep_size; drop them now.
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE starts_with(slot_name, '${spec.names.slotPrefix}') AND slot_name <> ALL (ARRAY[${wanted}]::text[]) AND NOT active;`,
  ].join("\n");
}

/**
 * The primary's container command. A fresh volume gets initdb (checksums on, peer on the socket, SCRAM
 * over the network); then a server reachable only on its socket gets the passwords from the Secret, the
 * databases and one slot per standby, and is stopped; then postgres itself runs as the container's process.
 */
export function renderPrimaryEntrypoint(spec: ClusterSpec): string {
  return `${header({ job: job(spec, "primary"), purpose: `Primary of drkit cluster ${spec.name}: initialise or check the volume, apply roles, databases and slots, run postgres.` })}
${settings({ CONFIG_FILE, START_TIMEOUT: spec.derived.serverStartSeconds })}
${requireEnv("PGDATA", "PGHOST", "PGPORT", "DRKIT_RUN_DIR")}
${readSecret}
${serverControl}
${localSql}
${lockDataVolume}
[[ ! -e $PGDATA/standby.signal ]] || die "$PGDATA holds a standby (standby.signal); refusing to run it as the primary"
[[ ! -e $PGDATA/recovery.signal ]] || die "$PGDATA holds an unfinished recovery (recovery.signal); run the restore job again"
superuser_password=$(read_secret superuser-password)
replication_password=$(read_secret replication-password)

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  if [[ -d $PGDATA && -n $(ls -A -- "$PGDATA") ]]; then die "$PGDATA is not empty but holds no cluster; refusing to initdb over it"; fi
  log "initialising a new cluster in $PGDATA"
  printf '%s\\n' "$superuser_password" >"$DRKIT_RUN_DIR/initdb-password"
  initdb -D "$PGDATA" --username=${SUPERUSER} --pwfile="$DRKIT_RUN_DIR/initdb-password" --auth-local=peer --auth-host=scram-sha-256 --data-checksums --encoding=UTF8 >&2
  rm -f -- "$DRKIT_RUN_DIR/initdb-password"
fi
chmod 0700 -- "$PGDATA"

trap kill_server EXIT
start_server "$START_TIMEOUT" -D "$PGDATA" -c config_file="$CONFIG_FILE" -c listen_addresses=
# No standby can connect to this server, so a synchronous commit would wait forever.
PGOPTIONS="-c synchronous_commit=local" sql -d postgres >/dev/null <<SQL
${setupSql(spec)}
SQL
stop_server
trap - EXIT
log "roles, databases (${spec.databases.join(" ")}) and ${spec.derived.slots.length} slot(s) in place; starting postgres"
exec postgres -D "$PGDATA" -c config_file="$CONFIG_FILE" -c port="$PGPORT" -c unix_socket_directories="$PGHOST"
`;
}

/**
 * The standby pods' init container: clone the primary with pg_basebackup -R through this pod's slot into
 * an empty volume (into a side directory first, so an interrupted clone never looks finished). A volume
 * that holds a clone of another cluster (the primary was rebuilt) is cloned again; an unreachable primary
 * leaves an existing clone alone.
 */
export function renderStandbyClone(spec: ClusterSpec): string {
  return `${header({ job: job(spec, "standby-clone"), purpose: `Clones a standby of drkit cluster ${spec.name} from its primary through the pod's replication slot.` })}
${settings({ REPLICATION_ROLE, SLOT_PREFIX: spec.names.slotPrefix, START_TIMEOUT: spec.derived.serverStartSeconds })}
${requireEnv("PGDATA", "PGPORT", "DRKIT_RUN_DIR", "DRKIT_PRIMARY_HOST", "DRKIT_POD_NAME")}
${readSecret}
${writePgpass}
ordinal=\${DRKIT_POD_NAME##*-}
[[ $ordinal =~ ^[0-9]+$ ]] || die "cannot tell this pod's ordinal from its name $DRKIT_POD_NAME"
slot=$SLOT_PREFIX$ordinal
write_pgpass

if [[ -s $PGDATA/PG_VERSION ]]; then
  ours=$(pg_controldata -D "$PGDATA" | sed -n 's/^Database system identifier: *//p')
  if theirs=$(psql -X -Atq "host=$DRKIT_PRIMARY_HOST port=$PGPORT user=$REPLICATION_ROLE replication=true connect_timeout=10" -c IDENTIFY_SYSTEM 2>/dev/null | cut -d'|' -f1); then
    if [[ -n $theirs && $theirs != "$ours" ]]; then
      log "$PGDATA is a clone of database system $ours but the primary is $theirs; cloning again"
      rm -rf -- "$PGDATA"
    else
      log "$PGDATA already holds a clone of the primary"
      exit 0
    fi
  else
    log "the primary is unreachable; keeping the clone in $PGDATA"
    exit 0
  fi
fi

waited=0
until pg_isready -q -h "$DRKIT_PRIMARY_HOST" -p "$PGPORT"; do
  ((waited < START_TIMEOUT)) || die "the primary $DRKIT_PRIMARY_HOST:$PGPORT did not accept connections within \${START_TIMEOUT}s"
  sleep 5
  waited=$((waited + 5))
done
partial=$PGDATA.partial
rm -rf -- "$partial"
log "cloning $DRKIT_PRIMARY_HOST:$PGPORT into $PGDATA through slot $slot"
if ! PGAPPNAME=$DRKIT_POD_NAME pg_basebackup --host="$DRKIT_PRIMARY_HOST" --port="$PGPORT" --username="$REPLICATION_ROLE" --no-password \\
  --pgdata="$partial" --wal-method=stream --slot="$slot" --write-recovery-conf --checkpoint=fast; then
  rm -rf -- "$partial"
  die "pg_basebackup from $DRKIT_PRIMARY_HOST failed (does slot $slot exist? the primary creates one per standby when it starts)"
fi
chmod 0700 -- "$partial"
mv -- "$partial" "$PGDATA"
log "standby $DRKIT_POD_NAME cloned; it streams through slot $slot as application_name $DRKIT_POD_NAME"
`;
}

/** The standby's container command: never start a volume without standby.signal (it would be a second primary). */
export function renderStandbyEntrypoint(spec: ClusterSpec): string {
  return `${header({ job: job(spec, "standby"), purpose: `Standby of drkit cluster ${spec.name}: runs postgres on the clone made by the init container.` })}
${settings({ CONFIG_FILE })}
${requireEnv("PGDATA", "PGHOST", "PGPORT", "DRKIT_RUN_DIR")}
${readSecret}
${writePgpass}
${lockDataVolume}
[[ -s $PGDATA/PG_VERSION ]] || die "$PGDATA holds no clone; the standby-clone init container makes one"
[[ -f $PGDATA/standby.signal ]] || die "$PGDATA has no standby.signal; refusing to start what would be a second primary"
# primary_conninfo (written by pg_basebackup -R) names this file, which lives in memory and so is rebuilt here.
write_pgpass
exec postgres -D "$PGDATA" -c config_file="$CONFIG_FILE" -c port="$PGPORT" -c unix_socket_directories="$PGHOST"
`;
}

/**
 * archive_command: one WAL file into the backup volume. An identical file already there is success,
 * a different one failure; temp file, fsync, link(2), so nothing is ever overwritten.
 */
export function renderArchiveWal(spec: ClusterSpec): string {
  return `${header({ job: job(spec, "archive-wal"), purpose: `archive_command of drkit cluster ${spec.name}: copies one WAL file into the archive, atomically, never overwriting.`, usage: "archive-wal.sh <%p> <%f>" })}
${requireEnv("DRKIT_BACKUP_ROOT")}
[[ $# -eq 2 ]] || die "usage: archive-wal.sh <%p> <%f>"
src=$1
name=$2
[[ $name =~ ^([0-9A-F]{24}(\\.partial|\\.[0-9A-F]{8}\\.backup)?|[0-9A-F]{8}\\.history)$ ]] || die "refusing to archive unexpected file name '$name'"
[[ -f $src ]] || die "WAL file $src does not exist"
dir=$DRKIT_BACKUP_ROOT/wal
mkdir -p -- "$dir"
dest=$dir/$name
already_archived() {
  cmp -s -- "$src" "$dest" || die "$dest already exists with different content; refusing to overwrite it"
}
if [[ -e $dest ]]; then
  already_archived
  exit 0
fi
tmp=$(mktemp "$dir/.$name.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cp -- "$src" "$tmp"
sync -- "$tmp"
if ! ln -- "$tmp" "$dest" 2>/dev/null; then
  [[ -e $dest ]] || die "could not link $tmp to $dest"
  already_archived
fi
sync -- "$dir"
`;
}
