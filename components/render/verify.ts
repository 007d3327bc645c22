import type { ServicePlan } from "../plan/plan";
import { BACKUP_META } from "./baseBackup";
import { becomePgUser, extractTar, header, lock, settings } from "./shell";

/** One query that gives exact row counts for every user table of the current database. */
export const ROW_COUNTS_SQL = `SELECT format('%I.%I', n.nspname, c.relname) || ' ' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`;

/**
 * Restore test: the newest base backup is checked against its manifest, restored into a scratch instance
 * (its own socket, no TCP, archiving off) and recovered to a restore point created on the source at the
 * moment its row counts were taken; then per-table row counts must match.
 */
export function renderVerifyScript(plan: ServicePlan, shellLib: { env: string }): string {
  return `${header({
    job: `drkit-${plan.name}-verify`,
    purpose: `Restore test of ${plan.name}: newest base backup + WAL into a scratch instance, row counts compared with the source.`,
    usage: "verify-backup [--backup ID] [--timeout SECONDS]",
  })}
${shellLib.env}
${settings({
  BASE_DIR: plan.paths.baseDir,
  WAL_DIR: plan.paths.walDir,
  VERIFY_DIR: plan.paths.verifyDir,
  META: BACKUP_META,
  DATABASES: plan.postgres.databases,
  SCRATCH_PORT: plan.postgres.port,
  ROW_COUNTS_SQL,
})}
${extractTar}
${becomePgUser}backup_id=
timeout=${Math.max(plan.rtoSeconds, 2 * plan.archiveTimeoutSeconds + 60)}
while [[ $# -gt 0 ]]; do
  case $1 in
    --backup) backup_id=\${2:?--backup needs a value}; shift 2 ;;
    --timeout) timeout=\${2:?--timeout needs a value}; shift 2 ;;
    *) die "unknown argument '$1' (usage: verify-backup [--backup ID] [--timeout SECONDS])" ;;
  esac
done
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$timeout'"
${lock(plan.paths.lockDir, "verify")}
if [[ -z $backup_id ]]; then
  backup_id=$(find "$BASE_DIR" -mindepth 2 -maxdepth 2 -name "$META" -printf '%h\\n' | xargs -r -n1 basename | sort -r | head -n1)
  [[ -n $backup_id ]] || die "no complete base backup in $BASE_DIR to verify"
fi
backup=$BASE_DIR/$backup_id
[[ -f $backup/$META ]] || die "no complete base backup $backup_id in $BASE_DIR"
mkdir -p -- "$VERIFY_DIR"
status_file=$VERIFY_DIR/last-result
scratch=$(mktemp -d "$VERIFY_DIR/scratch.XXXXXX")
data=$scratch/data
result=FAIL
reason="did not finish"
cleanup() {
  if [[ -f $data/postmaster.pid ]]; then "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true; fi
  rm -rf -- "$scratch"
  {
    echo "service=${plan.name}"
    echo "backup=$backup_id"
    echo "result=$result"
    echo "reason=$reason"
    echo "checked_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$status_file.tmp" && mv -- "$status_file.tmp" "$status_file"
  log "verification of $backup_id: $result ($reason)"
}
trap cleanup EXIT
fail() {
  reason=$*
  die "$*"
}

log "verifying base backup $backup_id"
mkdir -m 0700 -- "$data"
base_tar=$(find "$backup" -maxdepth 1 -name 'base.tar*' -print -quit)
wal_tar=$(find "$backup" -maxdepth 1 -name 'pg_wal.tar*' -print -quit)
[[ -n $base_tar && -n $wal_tar ]] || fail "backup $backup_id is missing base.tar or pg_wal.tar"
extract_tar "$base_tar" "$data" || fail "cannot extract $base_tar"
mkdir -p -- "$data/pg_wal"
extract_tar "$wal_tar" "$data/pg_wal" || fail "cannot extract $wal_tar"
"$PG_BIN/pg_verifybackup" --quiet --manifest-path="$backup/backup_manifest" --wal-directory="$data/pg_wal" "$data" ||
  fail "backup $backup_id does not match its manifest (pg_verifybackup)"

counts() { # <database>: "schema.table count" lines
  "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -Atq -d "$1" -c "$ROW_COUNTS_SQL"
}
snapshot() {
  local db
  for db in "\${DATABASES[@]}"; do counts "$db" | sed "s|^|$db.|"; done
}

# Counts that held both before and after the restore point was written are the counts at that point.
point=drkit_verify_$(date -u +%Y%m%dT%H%M%SZ)_$$
stable=no
for attempt in 1 2 3 4 5; do
  before=$(snapshot)
  point_lsn=$(sql -c "SELECT pg_create_restore_point('$point')")
  after=$(snapshot)
  if [[ $before == "$after" ]]; then
    stable=yes
    break
  fi
  log "source changed while counting (attempt $attempt); trying again"
  point=\${point}_$attempt
done
[[ $stable == yes ]] || fail "the source kept changing while its rows were counted; cannot compare exactly"
segment=$(sql -c "SELECT pg_walfile_name('$point_lsn')")
sql -c "SELECT pg_switch_wal()" >/dev/null
deadline=$(($(date +%s) + timeout))
until [[ -f $WAL_DIR/$segment ]]; do
  (($(date +%s) < deadline)) || fail "WAL segment $segment with the restore point was not archived within \${timeout}s"
  sleep 1
done

{
  echo "listen_addresses = ''"
  echo "port = $SCRATCH_PORT"
  echo "unix_socket_directories = '$scratch'"
  echo "hba_file = '$scratch/pg_hba.conf'"
  echo "ident_file = '$scratch/pg_ident.conf'"
  echo "archive_mode = off"
  echo "shared_buffers = 32MB"
  # Recovery refuses to run with lower limits than the source had; pg_control records them.
  "$PG_BIN/pg_controldata" "$data" | awk -F': *' '
    $1 == "max_connections setting" { print "max_connections = " $2 }
    $1 == "max_worker_processes setting" { print "max_worker_processes = " $2 }
    $1 == "max_wal_senders setting" { print "max_wal_senders = " $2 }
    $1 == "max_prepared_xacts setting" { print "max_prepared_transactions = " $2 }
    $1 == "max_locks_per_xact setting" { print "max_locks_per_transaction = " $2 }'
  echo "restore_command = 'cp $WAL_DIR/%f %p'"
  echo "recovery_target_name = '$point'"
  echo "recovery_target_action = 'promote'"
} >"$scratch/postgresql.conf"
echo "local all all trust" >"$scratch/pg_hba.conf"
: >"$scratch/pg_ident.conf"
touch -- "$data/recovery.signal"
rm -f -- "$data/postmaster.pid" "$data/postmaster.opts"
"$PG_BIN/pg_ctl" -D "$data" -o "-c config_file=$scratch/postgresql.conf" -l "$scratch/server.log" -W start >/dev/null 9>&- ||
  fail "the scratch instance did not start"
for _ in $(seq 1 100); do
  [[ -f $data/postmaster.pid ]] && break
  sleep 0.1
done
export PGHOST=$scratch PGPORT=$SCRATCH_PORT
ready=no
while (($(date +%s) < deadline)); do
  if [[ $("$PG_BIN/psql" -X -Atq -d postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; then
    ready=yes
    break
  fi
  if ! "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    tail -n 20 "$scratch/server.log" >&2
    fail "the scratch instance stopped during recovery"
  fi
  sleep 1
done
[[ $ready == yes ]] || fail "the scratch instance did not finish recovery within \${timeout}s"
restored=$(snapshot)
if [[ $restored != "$after" ]]; then
  diff <(echo "$after") <(echo "$restored") | sed 's/^/  /' >&2 || true
  fail "row counts of the restored backup differ from the source (< source, > restored)"
fi
tables=$(echo "$restored" | grep -c . || true)
result=PASS
reason="$tables table(s) in \${#DATABASES[@]} database(s) match the source at restore point $point"
`;
}
