import type { ReplicationPlan, ServicePlan, StandbyPlan } from "../plan/plan";
import { header, managerFunctions, postgresEnv, settings } from "./shell";

const replicationOf = (plan: ServicePlan): ReplicationPlan => {
  if (!plan.replication) throw new Error(`service ${plan.name} has no standbys`);
  return plan.replication;
};

export const replicationDropInPath = (plan: ServicePlan) => `${plan.postgres.configDirectory}/91-drkit-${plan.name}-replication.conf`;
export const setupReplicationScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/setup-replication`;
export const cloneStandbyScriptPath = (plan: ServicePlan, standby: StandbyPlan) =>
  `${standby.rootPrefix}/usr/local/lib/drkit/${plan.name}/clone-standby-${standby.name}`;

/** Primary-side settings sized from the plan; the postmaster-level ones restart the server once. */
export function renderReplicationDropIn(plan: ServicePlan): string {
  const r = replicationOf(plan);
  return `# Streaming replication for ${plan.name}, rendered by drkit: ${r.standbys.length} standby(s).
max_wal_senders = ${r.maxWalSenders}
max_replication_slots = ${r.maxReplicationSlots}
# A dead standby's slot may hold at most this much WAL; past it the slot is invalidated, not the disk filled.
max_slot_wal_keep_size = '${r.maxSlotWalKeepSizeMb}MB'
wal_log_hints = on
hot_standby = on
hot_standby_feedback = on
synchronous_standby_names = '${r.synchronousStandbyNames}'
`;
}

/**
 * On the primary: the replication role (password from the 0600 pgpass file, never on a command line),
 * one physical slot per standby (stale drkit slots dropped), and pg_hba lines for the standbys only.
 */
export function renderSetupReplicationScript(plan: ServicePlan): string {
  const r = replicationOf(plan);
  const hba = r.standbys.map((s) => `host replication ${r.role} ${s.address}/${s.address.includes(":") ? 128 : 32} scram-sha-256`);
  return `${header({ job: `drkit-${plan.name}-setup-replication`, purpose: `Replication role, slots and pg_hba entries on the primary of ${plan.name}.` })}
${postgresEnv(plan.postgres)}
${settings({ ROLE: r.role, PASS_FILE: r.passFile, HBA_FILE: r.hbaFile, SLOTS: r.standbys.map((s) => s.slot), HBA_LINES: hba, SERVICE: plan.name })}
# Until the synchronous standby exists, a synchronous commit here would wait for it forever.
export PGOPTIONS="-c synchronous_commit=local"
[[ -f $PASS_FILE ]] || die "no password file $PASS_FILE"
password=$(awk -F: 'NR == 1 { print $5 }' "$PASS_FILE")
[[ $password =~ ^[A-Za-z0-9]{16,}$ ]] || die "$PASS_FILE must hold one pgpass line with an alphanumeric password of 16 or more characters"

# The password reaches psql on stdin, not on its command line.
sql <<SQL
SELECT format('CREATE ROLE %I WITH LOGIN REPLICATION', '$ROLE') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') \\gexec
SELECT format('ALTER ROLE %I WITH LOGIN REPLICATION PASSWORD %L', '$ROLE', '$password') \\gexec
SQL

wanted=" \${SLOTS[*]} "
for slot in "\${SLOTS[@]}"; do
  sql -c "SELECT pg_create_physical_replication_slot('$slot') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$slot')" >/dev/null
done
while read -r slot; do
  [[ -z $slot || $wanted == *" $slot "* ]] && continue
  sql -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
  log "dropped slot $slot: no standby of $SERVICE uses it any more"
done < <(sql -c "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'drkit\\_%' AND NOT active")

# pg_hba: drkit's block first (first match wins), everything else kept as it was.
tmp=$(mktemp "$HBA_FILE.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
{
  echo "# BEGIN drkit $SERVICE replication"
  printf '%s\\n' "\${HBA_LINES[@]}"
  echo "# END drkit $SERVICE replication"
  awk -v begin="# BEGIN drkit $SERVICE replication" -v end="# END drkit $SERVICE replication" '
    $0 == begin { skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }' "$HBA_FILE"
} >"$tmp"
chmod --reference="$HBA_FILE" -- "$tmp"
chown --reference="$HBA_FILE" -- "$tmp"
mv -- "$tmp" "$HBA_FILE"
sql -c "SELECT pg_reload_conf()" >/dev/null
errors=$(sql -c "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
[[ $errors == 0 ]] || die "PostgreSQL rejects $errors line(s) of $HBA_FILE"
log "role $ROLE, \${#SLOTS[@]} slot(s) and pg_hba entries for \${#HBA_LINES[@]} standby address(es) are in place"
`;
}

/**
 * On a standby's host: the initial clone with pg_basebackup through the standby's slot, then
 * primary_conninfo (password from the passfile), standby.signal, hot standby with feedback, and the
 * WAL archive as a fallback restore_command. Leaves an existing cluster alone.
 */
export function renderCloneStandbyScript(plan: ServicePlan, standby: StandbyPlan): string {
  const r = replicationOf(plan);
  const standbyPg = { ...plan.postgres, dataDirectory: standby.dataDirectory, port: standby.port, socketDirectory: standby.socketDirectory, manager: standby.manager };
  const archiveReadable = standby.host.name === plan.host.name;
  return `${header({ job: `drkit-${plan.name}-clone-${standby.name}`, purpose: `Clones standby ${standby.name} of ${plan.name} from its primary and starts it.`, usage: `clone-standby-${standby.name}` })}
${postgresEnv(standbyPg)}
${managerFunctions(standbyPg)}
${settings({
  PRIMARY_ADDRESS: r.primaryAddress,
  PRIMARY_PORT: r.primaryPort,
  ROLE: r.role,
  SLOT: standby.slot,
  STANDBY: standby.name,
  PASS_FILE: standby.passFile,
  PORT: standby.port,
  RESTORE_COMMAND: archiveReadable ? `cp ${plan.paths.walDir}/%f %p` : "",
})}
if [[ -f $PGDATA_DIR/PG_VERSION ]]; then
  log "$PGDATA_DIR already holds a cluster; not cloning over it"
else
  [[ -f $PASS_FILE ]] || die "no password file $PASS_FILE"
  install -d -m 0700 -o "$PG_OS_USER" -g "$(id -gn "$PG_OS_USER")" -- "$PGDATA_DIR"
  log "cloning $PRIMARY_ADDRESS:$PRIMARY_PORT into $PGDATA_DIR through slot $SLOT"
  if ! as_pg env PGPASSFILE="$PASS_FILE" "$PG_BIN/pg_basebackup" --host="$PRIMARY_ADDRESS" --port="$PRIMARY_PORT" \\
    --username="$ROLE" --pgdata="$PGDATA_DIR" --wal-method=stream --slot="$SLOT" --checkpoint=fast --no-password; then
    rm -rf -- "$PGDATA_DIR"
    die "pg_basebackup from $PRIMARY_ADDRESS:$PRIMARY_PORT failed; nothing was left behind"
  fi
  {
    echo "# drkit standby $STANDBY"
    echo "port = $PORT"
    echo "primary_conninfo = 'host=$PRIMARY_ADDRESS port=$PRIMARY_PORT user=$ROLE passfile=$PASS_FILE application_name=$STANDBY'"
    echo "primary_slot_name = '$SLOT'"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
    [[ -z $RESTORE_COMMAND ]] || echo "restore_command = '$RESTORE_COMMAND'"
  } >>"$PGDATA_DIR/postgresql.auto.conf"
  touch -- "$PGDATA_DIR/standby.signal"
  chown -R "$PG_OS_USER:$(id -gn "$PG_OS_USER")" -- "$PGDATA_DIR"
fi
if ! pg_running; then pg_start; fi
for _ in $(seq 1 150); do
  [[ $(sql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null) == streaming ]] && break
  sleep 0.2
done
[[ $(sql -c "SELECT status FROM pg_stat_wal_receiver") == streaming ]] || die "standby $STANDBY is not streaming from $PRIMARY_ADDRESS:$PRIMARY_PORT; see $(pg_log_hint)"
log "standby $STANDBY is streaming from $PRIMARY_ADDRESS:$PRIMARY_PORT on port $PORT"
`;
}

export const failoverScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/failover`;

/**
 * Failover runbook for nodes on this host (sandboxes, single-host test rigs): fence the old primary,
 * report what the chosen standby has received, promote it, and repoint the other standbys at it.
 * Multi-host failover (fencing over SSH) is not rendered yet.
 */
export function renderFailoverScript(plan: ServicePlan): string {
  const r = replicationOf(plan);
  const local = r.standbys.filter((s) => s.host.name === plan.host.name);
  return `${header({ job: `drkit-${plan.name}-failover`, purpose: `Failover of ${plan.name}: fence the primary, promote a standby, repoint the others.`, usage: `failover [--to STANDBY] (default: the first of ${r.failoverOrder.join(", ")} that is streaming)` })}
${postgresEnv(plan.postgres)}
${settings({
  NAMES: local.map((s) => s.name),
  PORTS: local.map((s) => String(s.port)),
  DATA_DIRS: local.map((s) => s.dataDirectory),
  SLOTS: local.map((s) => s.slot),
  SYNC: local.map((s) => (s.synchronous ? "yes" : "no")),
  ORDER: r.failoverOrder.filter((n) => local.some((s) => s.name === n)),
  SOCKET_DIR: plan.postgres.socketDirectory,
  PRIMARY_DATA_DIR: plan.postgres.dataDirectory,
  PRIMARY_ADDRESS: r.primaryAddress,
  ROLE: r.role,
  PASS_FILE: r.passFile,
})}
target=
while [[ $# -gt 0 ]]; do
  case $1 in
    --to) target=\${2:?--to needs a standby name}; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
index_of() {
  local i
  for i in "\${!NAMES[@]}"; do [[ \${NAMES[$i]} == "$1" ]] && { echo "$i"; return 0; }; done
  return 1
}
on() { # <index> <sql>
  as_pg env PGPORT="\${PORTS[$1]}" PGHOST="$SOCKET_DIR" "$PG_BIN/psql" -X -Atq -d postgres -c "$2"
}
if [[ -z $target ]]; then
  for name in "\${ORDER[@]}"; do
    i=$(index_of "$name")
    if [[ $(on "$i" "SELECT pg_is_in_recovery()" 2>/dev/null) == t ]]; then target=$name; break; fi
  done
  [[ -n $target ]] || die "no standby in the failover order (\${ORDER[*]}) answers"
fi
t=$(index_of "$target") || die "'$target' is not a standby of this service on this host (\${NAMES[*]})"
[[ $(on "$t" "SELECT pg_is_in_recovery()") == t ]] || die "standby $target is not in recovery; is it already a primary?"

started=$(date +%s%3N)
log "fencing the old primary ($PRIMARY_DATA_DIR)"
if as_pg "$PG_BIN/pg_ctl" -D "$PRIMARY_DATA_DIR" status >/dev/null 2>&1; then
  as_pg "$PG_BIN/pg_ctl" -D "$PRIMARY_DATA_DIR" -m immediate -w stop >/dev/null
fi
received=$(on "$t" "SELECT pg_last_wal_receive_lsn()")
replayed=$(on "$t" "SELECT pg_last_wal_replay_lsn()")
last_commit=$(on "$t" "SELECT coalesce(pg_last_xact_replay_timestamp()::text, 'none')")
if [[ \${SYNC[$t]} == yes ]]; then
  log "data-loss window: none for acknowledged commits: $target was synchronous (received up to $received)"
else
  log "data-loss window: $target is asynchronous; it received WAL up to $received, its last replayed commit is from $last_commit; commits the old primary acknowledged after that are lost"
fi
log "promoting $target (replayed up to $replayed)"
as_pg "$PG_BIN/pg_ctl" -D "\${DATA_DIRS[$t]}" -w -t 120 promote >/dev/null || die "promotion of $target failed"
# The new primary must not wait for itself: only the other synchronous standbys stay synchronous.
others=()
for i in "\${!NAMES[@]}"; do [[ $i != "$t" && \${SYNC[$i]} == yes ]] && others+=("\${NAMES[$i]}"); done
if [[ \${#others[@]} -gt 0 ]]; then
  sync_names="FIRST 1 ($(IFS=,; echo "\${others[*]}"))"
else
  sync_names=""
  log "no synchronous standby remains: commits are acknowledged without one until a standby rejoins"
fi
PGOPTIONS="-c synchronous_commit=local" on "$t" "ALTER SYSTEM SET synchronous_standby_names = '$sync_names'" >/dev/null
on "$t" "SELECT pg_reload_conf()" >/dev/null
for i in "\${!NAMES[@]}"; do
  [[ $i == "$t" ]] && continue
  PGOPTIONS="-c synchronous_commit=local" on "$t" "SELECT pg_create_physical_replication_slot('\${SLOTS[$i]}') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '\${SLOTS[$i]}')" >/dev/null
  if [[ $(on "$i" "SELECT pg_is_in_recovery()" 2>/dev/null) == t ]]; then
    on "$i" "ALTER SYSTEM SET primary_conninfo = 'host=$PRIMARY_ADDRESS port=\${PORTS[$t]} user=$ROLE passfile=$PASS_FILE application_name=\${NAMES[$i]}'" >/dev/null
    on "$i" "SELECT pg_reload_conf()" >/dev/null
    log "standby \${NAMES[$i]} now follows $target"
  else
    log "standby \${NAMES[$i]} is down; point it at $target (port \${PORTS[$t]}) when it is back"
  fi
done
log "failover to $target done in $(( $(date +%s%3N) - started )) ms; the old primary stays stopped until it rejoins as a standby"
`;
}

export const rejoinScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/rejoin-as-standby`;

/**
 * After a failover on this host: turns the old primary into a standby of the promoted one with
 * pg_rewind (checksums or wal_log_hints make that possible), through a slot of its own.
 */
export function renderRejoinScript(plan: ServicePlan): string {
  const r = replicationOf(plan);
  const local = r.standbys.filter((s) => s.host.name === plan.host.name);
  return `${header({ job: `drkit-${plan.name}-rejoin`, purpose: `Rejoins the old primary of ${plan.name} as a standby of the promoted one (pg_rewind).`, usage: "rejoin-as-standby --primary STANDBY" })}
${postgresEnv(plan.postgres)}
${managerFunctions(plan.postgres)}
${settings({
  NAMES: local.map((s) => s.name),
  PORTS: local.map((s) => String(s.port)),
  SOCKET_DIR: plan.postgres.socketDirectory,
  OLD_PORT: plan.postgres.port,
  PRIMARY_ADDRESS: r.primaryAddress,
  ROLE: r.role,
  PASS_FILE: r.passFile,
  SLOT: `drkit_${plan.name.replace(/-/g, "_")}_former_primary`,
})}
new_primary=
while [[ $# -gt 0 ]]; do
  case $1 in
    --primary) new_primary=\${2:?--primary needs a standby name}; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
port=
for i in "\${!NAMES[@]}"; do [[ \${NAMES[$i]} == "$new_primary" ]] && port=\${PORTS[$i]}; done
[[ -n $port ]] || die "--primary must name a standby on this host (\${NAMES[*]})"
on_new() { as_pg env PGPORT="$port" PGHOST="$SOCKET_DIR" PGOPTIONS="-c synchronous_commit=local" "$PG_BIN/psql" -X -Atq -d postgres -c "$1"; }
[[ $(on_new "SELECT pg_is_in_recovery()") == f ]] || die "$new_primary is not a primary (still in recovery)"
if pg_running; then
  [[ $(sql -c "SELECT pg_is_in_recovery()") == t ]] && die "the old primary already runs as a standby"
  die "the old primary is running as a primary: fence it first (failover does)"
fi
on_new "SELECT pg_create_physical_replication_slot('$SLOT') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT')" >/dev/null
# pg_rewind reads the source's timeline from its control file, which a promotion updates only at the next checkpoint.
on_new "CHECKPOINT" >/dev/null
log "rewinding $PGDATA_DIR to the timeline of $new_primary (port $port)"
as_pg "$PG_BIN/pg_rewind" --target-pgdata="$PGDATA_DIR" --source-server="host=$SOCKET_DIR port=$port user=$PGUSER dbname=postgres" --progress 2>&1 | tail -n 3 >&2 ||
  die "pg_rewind failed; the data directory may need a fresh clone"
# pg_rewind copied the new primary's configuration: give this node back its own port, and follow.
{
  echo "# drkit: rejoined as a standby of $new_primary"
  echo "port = $OLD_PORT"
  echo "primary_conninfo = 'host=$PRIMARY_ADDRESS port=$port user=$ROLE passfile=$PASS_FILE application_name=former_primary'"
  echo "primary_slot_name = '$SLOT'"
  echo "hot_standby = on"
} >>"$PGDATA_DIR/postgresql.auto.conf"
touch -- "$PGDATA_DIR/standby.signal"
chown "$PG_OS_USER:$(id -gn "$PG_OS_USER")" -- "$PGDATA_DIR/standby.signal" "$PGDATA_DIR/postgresql.auto.conf"
pg_start
for _ in $(seq 1 150); do
  [[ $(sql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null) == streaming ]] && break
  sleep 0.2
done
if [[ $(sql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null) != streaming ]]; then
  hint=$(pg_log_hint)
  if [[ -f $hint ]]; then tail -n 15 -- "$hint" >&2; fi
  die "the old primary does not stream from $new_primary; see $hint"
fi
log "the old primary now streams from $new_primary through slot $SLOT"
`;
}
