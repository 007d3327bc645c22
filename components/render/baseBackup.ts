import type { ServicePlan } from "../plan/plan";
import { shipScriptPath } from "./offsite";
import { becomePgUser, extractTar, header, lock, settings, shq } from "./shell";

/** Reads the fields drkit records beside every completed base backup. */
export const BACKUP_META = "drkit-backup.env";

/**
 * A base backup: pg_basebackup in tar format with the WAL it needs, into a partial directory that is
 * renamed into place only after pg_verifybackup has checked every file against the backup manifest.
 */
export function renderBaseBackupScript(plan: ServicePlan, shellLib: { env: string }): string {
  return `${header({
    job: `drkit-${plan.name}-base`,
    purpose: `Base backup of ${plan.name}: pg_basebackup (tar, ${plan.compression.method}), checked with pg_verifybackup, published atomically.`,
  })}
${shellLib.env}
${settings({
  BASE_DIR: plan.paths.baseDir,
  COMPRESS_ARGS: plan.compression.baseBackupArgs,
  VERIFY_AFTER_BACKUP: plan.verifyAfterBackup ? "yes" : "no",
  SERVICE: plan.name,
})}
${becomePgUser}${lock(plan.paths.lockDir, "base")}
${extractTar}
started=$(date -u +%s)
id=$(date -u -d "@$started" +%Y%m%dT%H%M%SZ)
final=$BASE_DIR/$id
work=$BASE_DIR/.partial-$id
scratch=
[[ ! -e $final ]] || die "$final already exists"
cleanup() {
  local status=$?
  [[ -n $scratch ]] && rm -rf -- "$scratch"
  if [[ $status -ne 0 ]]; then
    rm -rf -- "$work"
    log "base backup $id FAILED (exit $status); nothing was published"
  fi
}
trap cleanup EXIT

mkdir -m 0700 -- "$work"
log "starting base backup $id of $SERVICE into $BASE_DIR"
"$PG_BIN/pg_basebackup" --pgdata="$work" --format=tar "\${COMPRESS_ARGS[@]}" --wal-method=stream \\
  --checkpoint=fast --label="drkit-$SERVICE-$id" --manifest-checksums=CRC32C --no-password

base_tar=$(find "$work" -maxdepth 1 -name 'base.tar*' -print -quit)
wal_tar=$(find "$work" -maxdepth 1 -name 'pg_wal.tar*' -print -quit)
[[ -n $base_tar && -n $wal_tar && -f $work/backup_manifest ]] || die "pg_basebackup did not write base.tar, pg_wal.tar and backup_manifest"

# pg_verifybackup reads plain directories only (before PostgreSQL 18), so check an extracted copy.
scratch=$(mktemp -d "$BASE_DIR/.verify-$id.XXXXXX")
extract_tar "$base_tar" "$scratch"
mkdir -p -- "$scratch/pg_wal"
extract_tar "$wal_tar" "$scratch/pg_wal"
if [[ $VERIFY_AFTER_BACKUP == yes ]]; then
  "$PG_BIN/pg_verifybackup" --quiet --manifest-path="$work/backup_manifest" --wal-directory="$scratch/pg_wal" "$scratch" ||
    die "pg_verifybackup found the backup does not match its manifest"
fi
label=$scratch/backup_label
start_wal=$(sed -n 's/^START WAL LOCATION: .*(file \\([0-9A-F]\\{24\\}\\))$/\\1/p' "$label")
start_time=$(sed -n 's/^START TIME: //p' "$label")
timeline=$(sed -n 's/^START TIMELINE: //p' "$label")
[[ -n $start_wal ]] || die "no START WAL LOCATION in backup_label"
finished=$(date -u +%s)
{
  echo "id=$id"
  echo "start_wal=$start_wal"
  echo "timeline=\${timeline:-1}"
  echo "start_epoch=$(date -u -d "$start_time" +%s)"
  echo "end_epoch=$finished"
  echo "server_version=$(sql -c 'SHOW server_version_num')"
  echo "compression=\${COMPRESS_ARGS[*]:-none}"
} >"$work/${BACKUP_META}.tmp"
mv -- "$work/${BACKUP_META}.tmp" "$work/${BACKUP_META}"
sync -- "$work"/*
mv -T -- "$work" "$final"
sync -- "$BASE_DIR"
size=$(du -sh -- "$final" | cut -f1)
log "base backup $id complete: $size, starts at WAL $start_wal, took $((finished - started))s"
${plan.offsite ? `${shq(shipScriptPath(plan))} base "$id"
` : ""}`;
}
