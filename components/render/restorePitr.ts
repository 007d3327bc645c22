import type { ServicePlan } from "../plan/plan";
import { BACKUP_META } from "./baseBackup";
import { fetchScriptPath } from "./offsite";
import { extractTar, header, settings } from "./shell";

/**
 * Point-in-time restore. Picks the newest base backup that finished before the target, moves the current
 * data directory aside (never deletes it), replays archived WAL to the target and waits, within the RTO,
 * for recovery to end.
 */
export function renderRestorePitrScript(plan: ServicePlan, shellLib: { env: string; manager: string }): string {
  return `${header({
    job: `drkit-${plan.name}-restore-pitr`,
    purpose: `Point-in-time restore of ${plan.name} from base backups and archived WAL. Run as root or ${plan.postgres.osUser}.`,
    usage: `restore-pitr [--target-time 'YYYY-MM-DD HH:MM:SS+00'] [--backup ID] [--action promote|pause] [--timeout SECONDS]${plan.offsite ? " [--from-offsite [--store NAME]]" : ""}`,
  })}
${shellLib.env}
${shellLib.manager}
${settings({ BASE_DIR: plan.paths.baseDir, WAL_DIR: plan.paths.walDir, META: BACKUP_META, LOCK_DIR: plan.paths.lockDir, BACKUP_ROOT: plan.paths.backupRoot, FETCH: plan.offsite ? fetchScriptPath(plan) : "" })}
${extractTar}
target_time=
backup_id=
action=promote
timeout=${plan.rtoSeconds}
from_offsite=no
store_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --target-time) target_time=\${2:?--target-time needs a value}; shift 2 ;;
    --backup) backup_id=\${2:?--backup needs a value}; shift 2 ;;
    --action) action=\${2:?--action needs a value}; shift 2 ;;
    --timeout) timeout=\${2:?--timeout needs a value}; shift 2 ;;
    --from-offsite) [[ -n $FETCH ]] || die "--from-offsite: this service has no off-site targets"; from_offsite=yes; shift ;;
    --store) store_args=(--store "\${2:?--store needs a value}"); shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ $action == promote || $action == pause ]] || die "--action must be promote or pause, got '$action'"
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$timeout'"
target_epoch=
if [[ -n $target_time ]]; then
  [[ $target_time =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}[\\ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}(:?[0-9]{2})?|\\ UTC)?$ ]] ||
    die "--target-time must look like '2026-02-16 14:30:00+00', got '$target_time'"
  target_epoch=$(date -u -d "$target_time" +%s) || die "cannot read --target-time '$target_time'"
fi

mkdir -p -- "$LOCK_DIR"
exec 9>>"$LOCK_DIR/restore.lock"
flock -n 9 || die "another restore of this service is running"

restore_command="cp $WAL_DIR/%f %p"
bases=$BASE_DIR
staging=
if [[ $from_offsite == yes ]]; then
  # The host's own backups are not used at all: base backup and WAL come from the object store.
  [[ -n $backup_id ]] || backup_id=$("$FETCH" choose-base "$target_epoch" "\${store_args[@]}") || die "no usable base backup off-site"
  staging=$BACKUP_ROOT/.restore-staging
  rm -rf -- "$staging"
  install -d -m 0700 -o "$PG_OS_USER" -- "$staging"
  "$FETCH" base "$backup_id" "$staging/$backup_id" "\${store_args[@]}" || die "could not fetch base backup $backup_id"
  bases=$staging
  restore_command="$FETCH wal %f %p\${store_args[*]:+ \${store_args[*]}}"
fi

# The newest complete backup that finished before the target (or the newest of all without a target).
if [[ -z $backup_id ]]; then
  while read -r candidate; do
    end=$(sed -n 's/^end_epoch=//p' "$bases/$candidate/$META")
    if [[ -z $target_epoch ]] || (( end < target_epoch )); then backup_id=$candidate; break; fi
  done < <(find "$bases" -mindepth 2 -maxdepth 2 -name "$META" -printf '%h\\n' | xargs -r -n1 basename | sort -r)
  [[ -n $backup_id ]] || die "no complete base backup in $bases finished before \${target_time:-now}"
fi
backup=$bases/$backup_id
[[ -f $backup/$META ]] || die "no complete base backup $backup_id in $bases"
log "restoring base backup $backup_id, then WAL ($restore_command) to \${target_time:-the end of the archive}"

started=$(date +%s)
if pg_running; then
  log "stopping PostgreSQL"
  pg_stop
fi
aside=
if [[ -e $PGDATA_DIR ]]; then
  aside=$PGDATA_DIR.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
  mv -T -- "$PGDATA_DIR" "$aside"
  log "moved the old data directory aside to $aside (delete it yourself once the restore is confirmed)"
fi
install -d -m 0700 -o "$PG_OS_USER" -g "$(id -gn "$PG_OS_USER")" -- "$PGDATA_DIR"
base_tar=$(find "$backup" -maxdepth 1 -name 'base.tar*' -print -quit)
wal_tar=$(find "$backup" -maxdepth 1 -name 'pg_wal.tar*' -print -quit)
extract_tar "$base_tar" "$PGDATA_DIR"
mkdir -p -- "$PGDATA_DIR/pg_wal"
extract_tar "$wal_tar" "$PGDATA_DIR/pg_wal"
{
  echo "# drkit restore-pitr $backup_id: removed again once recovery has ended"
  echo "restore_command = '$restore_command'"
  if [[ -n $target_time ]]; then
    echo "recovery_target_time = '$target_time'"
    echo "recovery_target_action = '$action'"
  fi
} >>"$PGDATA_DIR/postgresql.auto.conf"
touch -- "$PGDATA_DIR/recovery.signal"
chown -R "$PG_OS_USER:$(id -gn "$PG_OS_USER")" -- "$PGDATA_DIR"

log "starting PostgreSQL in recovery (timeout \${timeout}s)"
pg_start
deadline=$((started + timeout))
state=
while (( $(date +%s) < deadline )); do
  if [[ $action == pause ]]; then
    state=$(sql -c "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'ended' WHEN pg_is_wal_replay_paused() THEN 'ended' ELSE 'recovering' END" 2>/dev/null || true)
  else
    state=$(sql -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'recovering' ELSE 'ended' END" 2>/dev/null || true)
  fi
  [[ $state == ended ]] && break
  if [[ -z $state ]] && ! pg_running; then
    die "PostgreSQL stopped during recovery (is the target after the end of the archive, or before the backup?); see $(pg_log_hint). The old data directory is at \${aside:-<none>}"
  fi
  sleep 1
done
[[ $state == ended ]] || die "recovery did not end within \${timeout}s; PostgreSQL is still replaying, see $(pg_log_hint). The old data directory is at \${aside:-<none>}"

if [[ $action == promote ]]; then
  sql -c "ALTER SYSTEM RESET restore_command" -c "ALTER SYSTEM RESET recovery_target_time" -c "ALTER SYSTEM RESET recovery_target_action" -c "SELECT pg_reload_conf()" >/dev/null
fi
[[ -z $staging ]] || rm -rf -- "$staging"
log "recovery ended after $(( $(date +%s) - started ))s at $(sql -c "SELECT coalesce(pg_last_xact_replay_timestamp()::text, 'the backup end')") (timeline $(sql -c "SELECT timeline_id FROM pg_control_checkpoint()"))"
`;
}
