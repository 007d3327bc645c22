import type { RetentionPlan, ServicePlan } from "../plan/plan";
import { BACKUP_META } from "./baseBackup";
import { offsiteConfirmedFunction } from "./offsite";
import { becomePgUser, header, lock, settings } from "./shell";

/**
 * Shell function `retention_plan`: reads backup ids (YYYYMMDDTHHMMSSZ) newest first on stdin and prints
 * "keep <id> <reason>" or "drop <id>" for each. The newest backup is always kept; then every backup younger
 * than the daily window; then the newest of each ISO week within the weekly window; then the newest of each
 * calendar month within the long-term window.
 */
export function retentionFunction(r: RetentionPlan): string {
  return `${settings({ DAILY_DAYS: r.dailyDays, WEEKLY_WEEKS: r.weeklyWeeks, LONG_TERM_MONTHS: r.longTermMonths })}
id_epoch() {
  local id=$1
  date -u -d "\${id:0:4}-\${id:4:2}-\${id:6:2} \${id:9:2}:\${id:11:2}:\${id:13:2}" +%s
}
retention_plan() {
  local now=$1 id epoch age week month now_month first=yes
  local -A kept_weeks=() kept_months=()
  now_month=$(( $(date -u -d "@$now" +%Y) * 12 + 10#$(date -u -d "@$now" +%m) ))
  while read -r id; do
    epoch=$(id_epoch "$id")
    age=$((now - epoch))
    week=$(date -u -d "@$epoch" +%G-W%V)
    month=$(( \${id:0:4} * 12 + 10#\${id:4:2} ))
    if [[ $first == yes ]]; then
      echo "keep $id newest"
    elif (( age < DAILY_DAYS * 86400 )); then
      echo "keep $id daily"
    elif (( WEEKLY_WEEKS > 0 && age < WEEKLY_WEEKS * 7 * 86400 )) && [[ -z \${kept_weeks[$week]:-} ]]; then
      echo "keep $id weekly"
    elif (( LONG_TERM_MONTHS > 0 && now_month - month < LONG_TERM_MONTHS )) && [[ -z \${kept_months[$month]:-} ]]; then
      echo "keep $id monthly"
    else
      echo "drop $id"
      continue
    fi
    first=no
    kept_weeks[$week]=1
    kept_months[$month]=1
  done
}
`;
}

export const backupIdPattern = "[0-9]{8}T[0-9]{6}Z";

/**
 * Retention for base and logical backups, then WAL: archived segments are removed only below the start of
 * the oldest retained base backup, so every retained backup can be recovered to any point after it.
 */
export function renderPruneScript(plan: ServicePlan, shellLib: { env: string }): string {
  return `${header({
    job: `drkit-${plan.name}-prune`,
    purpose: `Retention for ${plan.name}: daily ${plan.retention.dailyDays}d, weekly ${plan.retention.weeklyWeeks}w, long-term ${plan.retention.longTermMonths} months; WAL kept back to the oldest retained base backup.`,
    usage: "prune [--dry-run] [--now EPOCH_SECONDS]",
  })}
${shellLib.env}
${settings({ BASE_DIR: plan.paths.baseDir, LOGICAL_DIR: plan.paths.logicalDir, WAL_DIR: plan.paths.walDir, LOCK_DIR: plan.paths.lockDir, META: BACKUP_META })}
${retentionFunction(plan.retention)}
${offsiteConfirmedFunction(plan)}${becomePgUser}now=$(date -u +%s)
dry_run=no
while [[ $# -gt 0 ]]; do
  case $1 in
    --dry-run) dry_run=yes; shift ;;
    --now) [[ \${2:-} =~ ^[0-9]+$ ]] || die "--now needs seconds since the epoch"; now=$2; shift 2 ;;
    *) die "unknown argument '$1' (usage: prune [--dry-run] [--now EPOCH_SECONDS])" ;;
  esac
done
${lock(plan.paths.lockDir, "prune")}
remove() {
  if [[ $dry_run == yes ]]; then log "would remove $*"; else rm -rf -- "$@"; fi
}

list_ids() { find "$1" -mindepth 1 -maxdepth 1 -regextype posix-extended -regex "$2" -printf '%f\\n' | grep -oE '${backupIdPattern}' | sort -ru; }

# Leftovers of runs that crashed: only when no base backup is running.
exec 8>>"$LOCK_DIR/base.lock"
if flock -n 8; then
  while IFS= read -r -d '' stale; do remove "$stale"; done < <(find "$BASE_DIR" -mindepth 1 -maxdepth 1 \\( -name '.partial-*' -o -name '.verify-*' \\) -print0)
  flock -u 8
fi
while IFS= read -r -d '' stale; do remove "$stale"; done < <(find "$WAL_DIR" -mindepth 1 -maxdepth 1 -name '.*' -type f -mmin +1440 -print0)

oldest_kept=
kept=0
dropped=0
while read -r verdict id reason; do
  if [[ $verdict == keep ]]; then
    if [[ -f $BASE_DIR/$id/$META ]]; then oldest_kept=$id; fi
    kept=$((kept + 1))
    log "keeping base backup $id ($reason)"
  elif ! confirmed_offsite base "$id"; then
    if [[ -f $BASE_DIR/$id/$META ]]; then oldest_kept=$id; fi
    kept=$((kept + 1))
    log "keeping base backup $id: not yet confirmed on every object store"
  else
    remove "\${BASE_DIR:?}/$id"
    dropped=$((dropped + 1))
    log "removed base backup $id"
  fi
done < <(list_ids "$BASE_DIR" '.*/${backupIdPattern}' | retention_plan "$now")

while read -r verdict id _; do
  if [[ $verdict == drop ]] && ! confirmed_offsite logical "$id"; then
    log "keeping logical backup set $id: not yet confirmed on every object store"
  elif [[ $verdict == drop ]]; then
    mapfile -t files < <(find "$LOGICAL_DIR" -maxdepth 1 -type f \\( -name "*_$id.custom.dump" -o -name "globals_$id.sql" \\))
    [[ \${#files[@]} -eq 0 ]] || remove "\${files[@]}"
    log "removed logical backup set $id"
  fi
done < <(list_ids "$LOGICAL_DIR" '.*_${backupIdPattern}\\.(custom\\.dump|sql)' | retention_plan "$now")

if [[ -z $oldest_kept ]]; then
  log "no complete base backup is retained; keeping every archived WAL segment"
else
  start_wal=$(sed -n 's/^start_wal=//p' "$BASE_DIR/$oldest_kept/$META")
  [[ $start_wal =~ ^[0-9A-F]{24}$ ]] || die "base backup $oldest_kept has no valid start_wal in $META"
  count=$("$PG_BIN/pg_archivecleanup" -n "$WAL_DIR" "$start_wal" | wc -l)
  if [[ $dry_run == yes ]]; then
    log "would remove $count WAL segment(s) older than $start_wal"
  else
    "$PG_BIN/pg_archivecleanup" "$WAL_DIR" "$start_wal"
    log "removed $count WAL segment(s) older than $start_wal, the start of the oldest retained base backup $oldest_kept"
  fi
fi
log "retention done: kept $kept base backup(s), removed $dropped"
`;
}
