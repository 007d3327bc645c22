import { extractTar, header, settings } from "../render/shell";
import { CONFIG_FILES, LAYOUT } from "./layout";
import { BACKUP_INFO, handOverBackupId } from "./offsite";
import { REPLICATION_ROLE } from "./names";
import { jsonString, listBackups, recordFailures, reportResult, localSql, lockDataVolume, readSecret, requireEnv, serverControl, writePgpass } from "./scriptLib";
import type { ClusterSpec } from "./spec";

/**
 * How long a restore (extraction, WAL replay) may run before it is declared failed: far beyond the RTO on
 * purpose, since stopping a slow restore only lengthens the outage. The restore test reports the RTO verdict.
 */
export const restoreTimeoutSeconds = (spec: ClusterSpec) => Math.max(3600, 4 * spec.rtoSeconds);

/**
 * Locks on the backup volume, one descriptor each: "backup" and "restore-test" keep runs of one job from
 * overlapping; readers of published backups hold "base" shared, pruning takes it only if it is free.
 */
function lockOn(fd: number, name: string, mode: "exclusive" | "shared" | "open"): string {
  const open = `mkdir -p -- "$DRKIT_BACKUP_ROOT/locks"\nexec ${fd}>>"$DRKIT_BACKUP_ROOT/locks/${name}.lock"`;
  if (mode === "open") return `${open}\n`;
  if (mode === "shared") return `${open}\nflock -s ${fd}\n`;
  return `${open}\nflock -n ${fd} || die "another run holds $DRKIT_BACKUP_ROOT/locks/${name}.lock; not starting a second one"\n`;
}

/** Emits the job's result: a JSON line on stdout, the pod's termination message, and a file on the backup volume. */
/** A result reported, and kept in results/FILE on the backup volume for the next job and for monitoring. */
const recordResult = `${reportResult}record_result() { # FILE JSON
  local dir=$DRKIT_BACKUP_ROOT/results
  report "$2"
  mkdir -p -- "$dir"
  printf '%s\\n' "$2" >"$dir/.$1.tmp" && mv -f -- "$dir/.$1.tmp" "$dir/$1"
}
`;

/** Reads one published backup into an empty data directory and checks it against its manifest. */
const restoreBackupInto = `${extractTar}
restore_backup_into() { # BACKUP_ID DATA_DIR
  local backup=$DRKIT_BACKUP_ROOT/base/$1 data=$2 base_tar wal_tar
  base_tar=$(find "$backup" -maxdepth 1 -name 'base.tar*' -print -quit)
  wal_tar=$(find "$backup" -maxdepth 1 -name 'pg_wal.tar*' -print -quit)
  [[ -n $base_tar && -n $wal_tar ]] || die "backup $1 is missing base.tar or pg_wal.tar"
  rm -rf -- "$data"
  mkdir -m 0700 -- "$data"
  extract_tar "$base_tar" "$data" || die "cannot extract $base_tar"
  mkdir -p -- "$data/pg_wal"
  extract_tar "$wal_tar" "$data/pg_wal" || die "cannot extract $wal_tar"
  pg_verifybackup --quiet --manifest-path="$backup/backup_manifest" "$data" || die "backup $1 does not match its manifest (pg_verifybackup)"
}
backup_info() { # BACKUP_ID KEY: empty when the backup records no such key
  sed -n "s/^$2=//p" "$DRKIT_BACKUP_ROOT/base/$1/${BACKUP_INFO}" 2>/dev/null || true
}
`;

/** Recovery from the archive on the backup volume: to the target time if there is one, else to its end. */
const recoveryOptions = (targetSetting: string) => `recovery=(-c "restore_command=test -f $DRKIT_BACKUP_ROOT/wal/%f && cp $DRKIT_BACKUP_ROOT/wal/%f %p" -c recovery_target_action=promote)
${targetSetting}
`;

/** How far recovery got: the commit time of the last transaction replayed, as epoch seconds (empty if none). */
const replayedToEpoch = `replayed_to_epoch() {
  sql -d postgres -c "SELECT coalesce(floor(extract(epoch FROM pg_last_xact_replay_timestamp()))::bigint::text, '')"
}
`;


/**
 * The backup CronJob's script: pg_basebackup of the primary in tar format (zstd on the server from
 * PostgreSQL 15, gzip below) with its WAL streamed, into a side directory; every archive read through its
 * decompressor, so a truncated or damaged one fails here; published by rename; then retention: the newest
 * N backups are kept and archived WAL older than the oldest kept one is removed, so each kept backup can
 * still be rolled forward. Checksums (pg_verifybackup) and a real start are the restore test's job.
 * With off-site shipping, it ends by handing the backup's id to the upload step (see renderOffsiteUploadScript).
 */
export function renderBackupScript(spec: ClusterSpec): string {
  return `${header({ job: `drkit-${spec.name}-backup`, purpose: `Base backup of drkit cluster ${spec.name} into the backup volume, with retention.` })}
${settings({ CLUSTER: spec.name, REPLICATION_ROLE, KEEP: spec.backupsKept, COMPRESSION: spec.derived.baseBackupArgs })}
${requireEnv("DRKIT_BACKUP_ROOT", "DRKIT_RUN_DIR", "DRKIT_PRIMARY_HOST", "PGPORT", ...(spec.offsite ? ["DRKIT_HANDOFF_DIR"] : []))}
${readSecret}
${writePgpass}
${listBackups}
${jsonString}
${recordResult}
${recordFailures("backup", "record_result last-backup", 'if [[ -n ${partial:-} ]]; then rm -rf -- "$partial"; fi')}
tar_stream() {
  case $1 in
    *.tar.zst) zstd -q -d -c -- "$1" ;;
    *.tar.gz) gzip -d -c -- "$1" ;;
    *.tar) cat -- "$1" ;;
    *) die "unknown archive type: $1" ;;
  esac
}
prune() {
  local ids excess i oldest_wal
  if ! flock -n 8; then
    log "a restore or restore test is reading backups; pruning on the next run"
    return 0
  fi
  mapfile -t ids < <(list_backups)
  excess=$((\${#ids[@]} - KEEP))
  for ((i = 0; i < excess; i++)); do
    rm -rf -- "\${base:?}/\${ids[i]}"
    log "removed backup \${ids[i]} (keeping the newest $KEEP)"
  done
  oldest_wal=$(sed -n 's/^start_wal=//p' "$base/\${ids[excess > 0 ? excess : 0]}/${BACKUP_INFO}")
  [[ -n $oldest_wal ]] || die "the oldest kept backup records no start WAL file; archived WAL left as it is"
  pg_archivecleanup "$DRKIT_BACKUP_ROOT/wal" "$oldest_wal"
  find "$DRKIT_BACKUP_ROOT/wal" -maxdepth 1 -type f -name '.*' -mmin +1440 -delete
  flock -u 8
}

${lockOn(9, "backup", "exclusive")}${lockOn(8, "base", "open")}write_pgpass
base=$DRKIT_BACKUP_ROOT/base
mkdir -p -- "$base" "$DRKIT_BACKUP_ROOT/wal"
rm -rf -- "$base"/.partial-*
id=$(date -u +%Y%m%dT%H%M%SZ)
backup_id=$id
partial=$base/.partial-$id
log "base backup $id of $DRKIT_PRIMARY_HOST:$PGPORT"
pg_basebackup --host="$DRKIT_PRIMARY_HOST" --port="$PGPORT" --username="$REPLICATION_ROLE" --no-password \\
  --pgdata="$partial" --format=tar "\${COMPRESSION[@]}" --wal-method=stream --checkpoint=fast --label="drkit $CLUSTER $id" ||
  die "pg_basebackup of $DRKIT_PRIMARY_HOST:$PGPORT failed"
base_tar=$(find "$partial" -maxdepth 1 -name 'base.tar*' -print -quit)
wal_tar=$(find "$partial" -maxdepth 1 -name 'pg_wal.tar*' -print -quit)
[[ -n $base_tar && -n $wal_tar && -s $partial/backup_manifest ]] || die "backup $id lacks base.tar, pg_wal.tar or backup_manifest"
others=$(find "$partial" -maxdepth 1 -name '*.tar*' ! -name 'base.tar*' ! -name 'pg_wal.tar*' -printf '%f ')
[[ -z $others ]] || die "backup $id has tablespace archives ($others); drkit restores only the default tablespace"
# Reading backup_label streams the whole archive through tar, so this also proves it is complete and intact.
start_wal=$(tar_stream "$base_tar" | tar -xOf - backup_label | sed -n 's/^START WAL LOCATION: .*(file \\([0-9A-F]\\{24\\}\\))$/\\1/p')
[[ -n $start_wal ]] || die "backup_label of $id names no start WAL file"
tar_stream "$wal_tar" | tar -tf - >/dev/null || die "$wal_tar is not a readable tar archive"
printf 'start_wal=%s\\nend_epoch=%s\\n' "$start_wal" "$(date +%s)" >"$partial/${BACKUP_INFO}"
sync -- "$partial"/* "$partial"
mv -- "$partial" "$base/$id"
partial=
sync -- "$base"
bytes=$(du -sb -- "$base/$id" | cut -f1)
log "published backup $id ($bytes bytes, starts at WAL $start_wal)"
prune
${spec.offsite ? handOverBackupId : ""}record_result last-backup "{\\"drkit\\":\\"backup\\",\\"cluster\\":\\"$CLUSTER\\",\\"backup\\":\\"$id\\",\\"result\\":\\"ok\\",\\"bytes\\":$bytes,\\"seconds\\":$(($(date +%s) - job_started)),\\"kept\\":$(list_backups | wc -l)}"
`;
}

/**
 * The restore test: the newest backup is checked against its manifest, restored into the pod's scratch
 * emptyDir and rolled forward through the archived WAL to its end (exactly what the restore job does,
 * but with archiving off so it never writes to the archive); then it must leave recovery and answer in
 * every database, where every table is counted (a full read, so data checksums are verified). The result
 * is one JSON line: on stdout, as the pod's termination message, and in results/last-restore-test.
 */
export function renderRestoreTestScript(spec: ClusterSpec): string {
  return `${header({ job: `drkit-${spec.name}-restore-test`, purpose: `Restore test of drkit cluster ${spec.name}: newest base backup plus archived WAL into a scratch instance.` })}
${settings({ CLUSTER: spec.name, DATABASES: spec.databases, RTO_SECONDS: spec.rtoSeconds, START_TIMEOUT: restoreTimeoutSeconds(spec) })}
${requireEnv("DRKIT_BACKUP_ROOT", "DRKIT_SCRATCH", "PGHOST", "PGPORT")}
${listBackups}
${jsonString}
${recordResult}
${serverControl}
${localSql}
${replayedToEpoch}
${restoreBackupInto}
data=$DRKIT_SCRATCH/pgdata
${recordFailures("restore-test", "record_result last-restore-test", 'kill_server; rm -rf -- "$data"')}
${lockOn(9, "restore-test", "exclusive")}${lockOn(8, "base", "shared")}mapfile -t ids < <(list_backups)
((\${#ids[@]} > 0)) || die "no published base backup in $DRKIT_BACKUP_ROOT/base"
backup_id=\${ids[-1]}
log "restore test of backup $backup_id"
restore_backup_into "$backup_id" "$data"
flock -u 8
touch -- "$data/recovery.signal"
${recoveryOptions("")}start_server "$START_TIMEOUT" -D "$data" -c listen_addresses= -c archive_mode=off -c hot_standby=off "\${recovery[@]}"
[[ $(sql -d postgres -c "SELECT pg_is_in_recovery()") == f ]] || die "the restored instance did not leave recovery"
replayed_to=$(replayed_to_epoch)
backup_end=$(backup_info "$backup_id" end_epoch)
lag=null
[[ -z $replayed_to ]] || lag=$((job_started - replayed_to))
databases=
for db in "\${DATABASES[@]}"; do
  counts=$(sql -d "$db" -F ' ' -c "SELECT count(*), coalesce(sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'") ||
    die "database $db of backup $backup_id does not answer"
  read -r tables rows <<<"$counts"
  databases+="\${databases:+,}\\"$db\\":{\\"tables\\":$tables,\\"rows\\":$rows}"
done
stop_server
seconds=$(($(date +%s) - job_started))
within_rto=$([[ $seconds -le $RTO_SECONDS ]] && echo true || echo false)
log "backup $backup_id restored and answering after \${seconds}s (RTO \${RTO_SECONDS}s)"
record_result last-restore-test "{\\"drkit\\":\\"restore-test\\",\\"cluster\\":\\"$CLUSTER\\",\\"backup\\":\\"$backup_id\\",\\"result\\":\\"ok\\",\\"seconds\\":$seconds,\\"rto_seconds\\":$RTO_SECONDS,\\"within_rto\\":$within_rto,\\"backup_age_seconds\\":$((job_started - \${backup_end:-$job_started})),\\"replayed_to_epoch\\":\${replayed_to:-null},\\"archive_lag_seconds\\":$lag,\\"databases\\":{$databases}}"
`;
}

/**
 * The restore Job: restores the primary's volume, before the primary starts, from a base backup and the
 * archived WAL. The procedure around it (see PostgresCluster):
 *   1. nothing else may use the volume: the job takes the volume's server lock (held by a running primary)
 *      and refuses while the primary answers at its address;
 *   2. a volume already restored for this very request is left alone (re-running is a no-op);
 *   3. otherwise the current cluster is moved aside to pre-restore-<time> on the same volume, never deleted;
 *   4. the backup ("latest" with a target time: the newest one that ended before it) is extracted into a
 *      side directory, checked with pg_verifybackup and moved into place with recovery.signal;
 *   5. a socket-only server replays the archive to the target time (or its end) and promotes; its new
 *      timeline is archived like any other WAL; it is shut down cleanly and the request recorded.
 */
export function renderRestoreScript(spec: ClusterSpec): string {
  const r = spec.restore;
  if (!r) throw new Error(`cluster ${spec.name} has no restore request`);
  return `${header({ job: `drkit-${spec.name}-restore`, purpose: `Restores the primary volume of drkit cluster ${spec.name} from a base backup and archived WAL.` })}
${settings({
  CLUSTER: spec.name,
  CONFIG_FILE: `${LAYOUT.configDir}/${CONFIG_FILES.postgresql}`,
  FROM_BACKUP: r.fromBackup,
  TARGET_TIME: r.targetTime ?? "",
  TARGET_EPOCH: r.targetEpoch ?? "",
  REQUEST: r.requestId,
  START_TIMEOUT: restoreTimeoutSeconds(spec),
})}
${requireEnv("PGDATA", "PGHOST", "PGPORT", "DRKIT_BACKUP_ROOT", "DRKIT_PRIMARY_HOST", "DRKIT_RESTORE_REQUEST")}
${listBackups}
${jsonString}
${recordResult}
${serverControl}
${localSql}
${replayedToEpoch}
${restoreBackupInto}
${recordFailures("restore", "record_result last-restore", "kill_server")}
[[ $DRKIT_RESTORE_REQUEST == "$REQUEST" ]] || die "this script restores $REQUEST but the job asks for $DRKIT_RESTORE_REQUEST: the pod saw an older ConfigMap; retry"
${lockDataVolume}
if pg_isready -q -h "$DRKIT_PRIMARY_HOST" -p "$PGPORT" -t 5; then
  die "the primary answers at $DRKIT_PRIMARY_HOST; scale its StatefulSet to 0 before restoring over its volume"
fi
marker=$DATA_MOUNT/drkit-restored
in_progress=$DATA_MOUNT/.drkit-restore-in-progress
if [[ -f $marker ]] && grep -qxF -- "request=$REQUEST" "$marker"; then
  log "$DATA_MOUNT was already restored for $REQUEST; nothing to do"
  exit 0
fi

${lockOn(8, "base", "shared")}mapfile -t ids < <(list_backups)
if [[ $FROM_BACKUP != latest ]]; then
  [[ -d $DRKIT_BACKUP_ROOT/base/$FROM_BACKUP ]] && backup_id=$FROM_BACKUP
elif [[ -z $TARGET_EPOCH ]]; then
  ((\${#ids[@]} == 0)) || backup_id=\${ids[-1]}
else
  for id in "\${ids[@]}"; do
    end=$(backup_info "$id" end_epoch)
    [[ -n $end && $end -le $TARGET_EPOCH ]] && backup_id=$id
  done
fi
[[ -n $backup_id ]] || die "no published backup matches fromBackup=$FROM_BACKUP\${TARGET_TIME:+ before $TARGET_TIME} in $DRKIT_BACKUP_ROOT/base"

if [[ -e $PGDATA ]]; then
  if [[ -f $in_progress ]] && grep -qxF -- "$REQUEST" "$in_progress"; then
    log "removing the unfinished attempt at this restore in $PGDATA"
    rm -rf -- "$PGDATA"
  else
    aside=$DATA_MOUNT/pre-restore-$(date -u +%Y%m%dT%H%M%SZ)
    mv -- "$PGDATA" "$aside"
    log "moved the current cluster aside to $aside; delete it once the restore is accepted"
  fi
fi
printf '%s\\n' "$REQUEST" >"$in_progress"
goal="the end of the archive"
[[ -z $TARGET_TIME ]] || goal=$TARGET_TIME
log "restoring backup $backup_id into $PGDATA and recovering to $goal"
restore_backup_into "$backup_id" "$PGDATA.partial"
flock -u 8
mv -- "$PGDATA.partial" "$PGDATA"
touch -- "$PGDATA/recovery.signal"
${recoveryOptions(`[[ -z $TARGET_TIME ]] || recovery+=(-c "recovery_target_time=$TARGET_TIME")`)}start_server "$START_TIMEOUT" -D "$PGDATA" -c config_file="$CONFIG_FILE" -c listen_addresses= -c hot_standby=off "\${recovery[@]}"
[[ $(sql -d postgres -c "SELECT pg_is_in_recovery()") == f ]] || die "the restored cluster did not leave recovery"
replayed_to=$(replayed_to_epoch)
stop_server
[[ ! -e $PGDATA/recovery.signal ]] || die "recovery.signal is still in $PGDATA after promotion"
printf 'request=%s\\nbackup=%s\\nreplayed_to_epoch=%s\\nrestored_at=%s\\n' "$REQUEST" "$backup_id" "$replayed_to" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$marker.tmp"
mv -f -- "$marker.tmp" "$marker"
rm -f -- "$in_progress"
sync -- "$marker" "$DATA_MOUNT"
record_result last-restore "{\\"drkit\\":\\"restore\\",\\"cluster\\":\\"$CLUSTER\\",\\"backup\\":\\"$backup_id\\",\\"request\\":$(json_string "$REQUEST"),\\"result\\":\\"ok\\",\\"replayed_to_epoch\\":\${replayed_to:-null},\\"seconds\\":$(($(date +%s) - job_started))}"
`;
}
