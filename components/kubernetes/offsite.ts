import { header, settings } from "../render/shell";
import { OFFSITE } from "./layout";
import { jsonString, recordFailures, reportResult, requireEnv } from "./scriptLib";
import type { ClusterSpec } from "./spec";

/** Written by backup.sh into every backup directory; uploaded last, so that off-site it marks a complete backup. */
export const BACKUP_INFO = "drkit-backup-info";

/**
 * Why a key cannot go into MC_HOST_offsite, or undefined. mc does not URL-decode that variable: it splits it
 * with regular expressions (cmd/config.go, parseEnvURLStr; URL-decoding was proposed in minio/mc#3456 and
 * declined) and uses the keys literally, so a percent-encoded key is a different key ("/" and "+", common in
 * AWS secret keys, would fail every request), and a ':' would be taken for the start of a session token.
 */
export function mcKeyProblem(key: string): string | undefined {
  if (key === "") return "must not be empty";
  if (key.includes(":")) return "must not contain ':' (mc splits MC_HOST_offsite at ':' and takes the keys literally)";
  if (/[\u0000-\u001f\u007f]/.test(key)) return "must not contain control characters";
  return undefined;
}

/**
 * The value of MC_HOST_offsite: `<scheme>://<access key>:<secret key>@<host[:port]>`, the keys as they are (see
 * mcKeyProblem). Keys that are outputs of other resources are only known here, at deployment: a bad one fails
 * it with a message that names the field, never the value.
 */
export function mcHostValue(endpoint: string, accessKey: string, secretKey: string): string {
  for (const [field, key] of [
    ["offsite.accessKey", accessKey],
    ["offsite.secretKey", secretKey],
  ] as const) {
    const problem = typeof key === "string" ? mcKeyProblem(key) : "must be text";
    if (problem) throw new Error(`${field}: (secret) ${problem}`);
  }
  const url = new URL(endpoint);
  return `${url.protocol}//${accessKey}:${secretKey}@${url.host}`;
}

/** backup.sh, with shipping on: the id of the backup it published, for the upload step (last, once all went well). */
export const handOverBackupId = `printf '%s\\n' "$id" >"$DRKIT_HANDOFF_DIR/${OFFSITE.handoffFile}"\n`;

/**
 * The backup pod's second step (its main container, run after the backup init container succeeded), in the
 * mc image, which has bash, coreutils and mc and nothing else: no grep, sed, find or flock here.
 *
 * 1. The base backup this pod just took (its id handed over in memory by backup.sh) is uploaded file by file
 *    with `mc cp` to <target>base/<id>/, drkit-backup-info last; the folder must be empty beforehand (nothing
 *    is overwritten) and every object must read back with its local size afterwards.
 * 2. WAL: archive_command writes WAL only into the backup volume, so this step ships it too: `mc mirror` of the
 *    volume's wal/ to <target>wal/, without --overwrite and --remove, so it only adds segments the store lacks
 *    (dot files, segments still being archived, are left out). Off-site then holds every backup plus the WAL
 *    archived up to the latest successful run, and the off-site RPO is the interval between backup runs plus
 *    archive_timeout (plus the run's duration): a day and a few minutes with the default daily schedule. The
 *    cluster's rpoSeconds is met by the backup volume alone, not by the off-site copy.
 *
 * Nothing is deleted on either side: the backup volume is mounted read-only here, and off-site copies expire
 * only through the bucket's own lifecycle rules. mirror logs a segment that exists off-site with other
 * content (another cluster writing to the same prefix) and goes on without overwriting it. Any mc failure
 * fails the container, hence the Job, and the CronJob's failed Job is the alert; the Job's retry takes a new
 * backup and uploads that one. Restoring from off-site: copy <target>base/<id>/ and <target>wal/ into a
 * backup volume's base/<id>/ and wal/ (mc cp --recursive, mc mirror), then use `restore`.
 *
 * The result is one JSON line on stdout and as the pod's termination message.
 */
export function renderOffsiteUploadScript(spec: ClusterSpec): string {
  const o = spec.offsite;
  if (!o) throw new Error(`cluster ${spec.name} has no off-site shipping`);
  return `${header({ job: `drkit-${spec.name}-offsite-upload`, purpose: `Copies the backup just taken of drkit cluster ${spec.name}, and its archived WAL, to bucket ${o.bucket} at ${o.endpoint}.` })}
${settings({ CLUSTER: spec.name, TARGET: o.target, INFO: BACKUP_INFO })}
${requireEnv("DRKIT_BACKUP_ROOT", "DRKIT_HANDOFF_DIR", "MC_CONFIG_DIR", OFFSITE.secretKey)}
${jsonString}
${reportResult}${recordFailures("offsite-upload", "report")}
declare -A remote=()
# list_remote URL: remote[NAME]=SIZE for each object directly under URL/; fails when the store cannot be listed.
list_remote() {
  local out line key
  remote=()
  if ! out=$(mc ls --json "$1/" 2>&1); then
    log "mc ls $1/: $out"
    return 1
  fi
  while IFS= read -r line; do
    [[ $line =~ \\"key\\":\\"([^\\"]*)\\" ]] || continue
    key=\${BASH_REMATCH[1]}
    [[ $line =~ \\"size\\":([0-9]+) ]] || continue
    remote[$key]=\${BASH_REMATCH[1]}
  done <<<"$out"
}

mkdir -p -- "$MC_CONFIG_DIR"
handoff=$DRKIT_HANDOFF_DIR/${OFFSITE.handoffFile}
[[ -s $handoff ]] || die "the backup step left no backup id in $handoff"
backup_id=$(<"$handoff")
[[ $backup_id =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || die "$handoff does not hold a backup id"
src=$DRKIT_BACKUP_ROOT/base/$backup_id
[[ -f $src/$INFO ]] || die "backup $backup_id is not published in $DRKIT_BACKUP_ROOT/base"
dest=\${TARGET}base/$backup_id
files=()
for f in "$src"/*; do
  if [[ -f $f && \${f##*/} != "$INFO" ]]; then files+=("$f"); fi
done
files+=("$src/$INFO")

list_remote "$dest" || die "cannot list $dest/ (does the bucket exist, are the keys right?)"
((\${#remote[@]} == 0)) || die "$dest/ already holds \${#remote[@]} object(s); refusing to overwrite them"
log "uploading backup $backup_id (\${#files[@]} files) to $dest/"
for f in "\${files[@]}"; do
  mc cp --quiet "$f" "$dest/\${f##*/}" >&2 || die "mc cp of $f to $dest/\${f##*/} failed"
done
list_remote "$dest" || die "cannot list $dest/ after the upload"
bytes=0
for f in "\${files[@]}"; do
  name=\${f##*/}
  size=$(stat -c %s -- "$f")
  [[ \${remote[$name]:-missing} == "$size" ]] || die "$dest/$name is \${remote[$name]:-missing} bytes off-site, expected $size"
  bytes=$((bytes + size))
done
log "backup $backup_id is off-site ($bytes bytes); adding archived WAL to \${TARGET}wal/"
mc mirror --quiet --exclude '.*' "$DRKIT_BACKUP_ROOT/wal/" "\${TARGET}wal/" >&2 || die "mc mirror of $DRKIT_BACKUP_ROOT/wal/ to \${TARGET}wal/ failed"
report "{\\"drkit\\":\\"offsite-upload\\",\\"cluster\\":\\"$CLUSTER\\",\\"backup\\":\\"$backup_id\\",\\"result\\":\\"ok\\",\\"target\\":$(json_string "$dest/"),\\"bytes\\":$bytes,\\"seconds\\":$(($(date +%s) - job_started))}"
`;
}
