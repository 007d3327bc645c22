import { lifecycleRules, toMinioIlmJson } from "../objectstore/lifecycle";
import type { ObjectStorePlan } from "../plan/offsite";
import { header, settings } from "./shell";

/** mc aliases the target script expects in the environment (MC_HOST_<alias>), so keys never reach argv. */
export const MINIO_SOURCE_ALIAS = "drkit_src";
export const MINIO_REPLICA_ALIAS = "drkit_dst";

/** The ILM rules drkit applies to a MinIO bucket (transitions need MinIO tiers and are left out). */
export const minioIlmJson = (store: ObjectStorePlan) => toMinioIlmJson(lifecycleRules(store.lifecycle));

/**
 * Brings a MinIO bucket to the plan: exists (with object lock when asked, which MinIO allows only at
 * creation), versioning on, default retention, ILM rules replaced by drkit's, and replication to the replica
 * site's bucket. Idempotent; `--remove` takes drkit's ILM and replication off again but keeps the bucket and
 * every object (a destroy never deletes backups). Runs where Pulumi runs, with `mc` on PATH.
 */
export function renderMinioTargetScript(store: ObjectStorePlan, replica?: ObjectStorePlan): string {
  return `${header({
    job: `drkit-minio-target-${store.name}`,
    purpose: `Configures MinIO bucket ${store.bucket} (${store.name}): versioning, lifecycle${store.objectLock ? ", object lock" : ""}${replica ? `, replication to ${replica.name}` : ""}.`,
    usage: "minio-target [--remove]   (env: MC_HOST_drkit_src, and MC_HOST_drkit_dst for replication)",
  })}
${settings({
  SRC: `${MINIO_SOURCE_ALIAS}/${store.bucket}`,
  LOCK_MODE: store.objectLock?.mode ?? "",
  LOCK_DAYS: store.objectLock?.days ?? 0,
  DST: replica ? `${MINIO_REPLICA_ALIAS}/${replica.bucket}` : "",
})}
mc_home=$(mktemp -d "\${TMPDIR:-/tmp}/drkit-mc.XXXXXX")
trap 'rm -rf -- "$mc_home"' EXIT
export MC_CONFIG_DIR=$mc_home MC_DISABLE_PAGER=1 MC_NO_COLOR=1
command -v mc >/dev/null || die "mc is not on PATH"
[[ -n \${MC_HOST_${MINIO_SOURCE_ALIAS}:-} ]] || die "MC_HOST_${MINIO_SOURCE_ALIAS} is not set"

if [[ \${1:-} == --remove ]]; then
  if [[ -n $DST ]]; then mc replicate rm --all --force "$SRC" >/dev/null 2>&1 || true; fi
  mc ilm rule rm --all --force "$SRC" >/dev/null 2>&1 || true
  log "removed drkit's lifecycle and replication rules from $SRC; the bucket and its objects are kept"
  exit 0
fi

for _ in $(seq 1 30); do mc ready "${MINIO_SOURCE_ALIAS}" >/dev/null 2>&1 && break; sleep 1; done
if mc stat "$SRC" >/dev/null 2>&1 && mc ls "$SRC" >/dev/null 2>&1; then
  log "bucket $SRC exists"
  if [[ -n $LOCK_MODE ]] && ! mc retention info --default "$SRC" --json | grep -q '"enabled":"Enabled"'; then
    die "bucket $SRC exists without object lock; MinIO enables object lock only when a bucket is created"
  fi
elif [[ -n $LOCK_MODE ]]; then
  mc mb --with-lock "$SRC" >/dev/null
  log "created $SRC with object lock"
else
  mc mb "$SRC" >/dev/null
  log "created $SRC"
fi
mc version enable "$SRC" >/dev/null
if [[ -n $LOCK_MODE ]]; then
  mc retention set --default "$LOCK_MODE" "\${LOCK_DAYS}d" "$SRC" >/dev/null
fi
mc ilm import "$SRC" >/dev/null <<'ILM'
${minioIlmJson(store)}
ILM
if [[ -n $DST ]]; then
  [[ -n \${MC_HOST_${MINIO_REPLICA_ALIAS}:-} ]] || die "MC_HOST_${MINIO_REPLICA_ALIAS} is not set"
  mc version info "$DST" --json | grep -q '"status":"Enabled"' || die "the replica bucket $DST must exist with versioning on (its own target first)"
  if mc replicate ls "$SRC" --json 2>/dev/null | grep -q '"Status":"Enabled"'; then
    log "replication from $SRC is already configured"
  else
    mc replicate add "$SRC" --remote-bucket "$DST" --priority 1 --replicate "delete,delete-marker,existing-objects" >/dev/null
    log "replication $SRC -> $DST added"
  fi
fi
log "$SRC: versioning $(mc version info "$SRC" --json | sed -n 's/.*"status":"\\([A-Za-z]*\\)".*/\\1/p'), $(mc ilm rule ls "$SRC" --json | grep -c '"ID"' || true) lifecycle rule(s)"
`;
}
