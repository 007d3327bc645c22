import { shq } from "../agent/envFile";
import { lifecycleRules, toMinioIlmJson } from "./lifecycle";
import type { ObjectStorePlan } from "../plan/offsite";

/** `readonly NAME=value` lines for a script's settings block. */
function settings(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([name, value]) => `readonly ${name}=${shq(value)}`)
    .join("\n");
}

/** Shebang, strict mode and a readable log line. */
function header(h: { readonly job: string; readonly purpose: string; readonly usage: string }): string {
  return `#!/usr/bin/env bash
# ${h.purpose}
# Rendered by drkit; edit the stack config instead of this file.
# Usage: ${h.usage}
set -euo pipefail
umask 077
readonly JOB=${shq(h.job)}

log() { printf '%s %s: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$JOB" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
`;
}

/** mc aliases the target script expects in the environment (MC_HOST_<alias>), so keys never reach argv. */
export const MINIO_SOURCE_ALIAS = "drkit_src";
export const MINIO_REPLICA_ALIAS = "drkit_dst";

/** The ILM rules drkit applies to a MinIO bucket (transitions need MinIO tiers and are left out). */
export const minioIlmJson = (store: ObjectStorePlan) => toMinioIlmJson(lifecycleRules(store.lifecycle));

/** Lines that put each store's own CA into mc's certs/CAs folder (mc trusts them besides the system's). */
function trustedCas(stores: ObjectStorePlan[]): string {
  const withCa = stores.filter((s) => s.caCertificate);
  if (withCa.length === 0) return "";
  return (
    'mkdir -p -- "$mc_home/certs/CAs"\n' +
    withCa.map((s) => `cat >"$mc_home/certs/CAs/${s.name}.crt" <<'CA'\n${s.caCertificate!.trim()}\nCA\n`).join("")
  );
}

/**
 * Brings a MinIO bucket to the plan: exists (with object lock when asked, which MinIO allows only at
 * creation), versioning on, default retention, ILM rules replaced by drkit's, and replication to the replica
 * site's bucket. Idempotent; `--remove` takes drkit's ILM and replication off again but keeps the bucket and
 * every object (a destroy never deletes backups). Runs where Pulumi runs, with `mc` on PATH.
 */
export function renderMinioTargetScript(store: ObjectStorePlan, replica?: ObjectStorePlan): string {
  return (
    `${header({
      job: `drkit-minio-target-${store.name}`,
      purpose:
        `Configures MinIO bucket ${store.bucket} (${store.name}): versioning, ` +
        `lifecycle${store.objectLock ? ", object lock" : ""}${replica ? `, replication to ${replica.name}` : ""}.`,
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
${trustedCas([store, ...(replica ? [replica] : [])])}command -v mc >/dev/null || die "mc is not on PATH"
[[ -n \${MC_HOST_${MINIO_SOURCE_ALIAS}:-} ]] || die "MC_HOST_${MINIO_SOURCE_ALIAS} is not set"

if [[ \${1:-} == --remove ]]; then
  if [[ -n $DST ]]; then mc replicate rm --all --force "$SRC" >/dev/null 2>&1 || true; fi
  mc ilm rule rm --all --force "$SRC" >/dev/null 2>&1 || true
  log "removed drkit's lifecycle and replication rules from $SRC; the bucket and its objects are kept"
  exit 0
fi

# A server that just started may not answer yet (mc ready would wait forever on bad keys; ls fails).
for _ in $(seq 1 30); do mc ls "${MINIO_SOURCE_ALIAS}" >/dev/null 2>&1 && break; sleep 1; done
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
  mc version info "$DST" --json | grep -q '"status":"Enabled"' || die "the replica bucket $DST must exist with ` +
    `versioning on (its own target first)"
  if mc replicate ls "$SRC" --json 2>/dev/null | grep -q '"Status":"Enabled"'; then
    log "replication from $SRC is already configured"
  else
    mc replicate add "$SRC" --remote-bucket "$DST" --priority 1 --replicate "delete,delete-marker,` +
    `existing-objects" >/dev/null
    log "replication $SRC -> $DST added"
  fi
fi
log "$SRC: versioning $(mc version info "$SRC" --json | sed -n 's/.*"status":"\\([A-Za-z]*\\)".*/\\1/p'), ` +
    `$(mc ilm rule ls "$SRC" --json | grep -c '"ID"' || true) lifecycle rule(s)"
`
  );
}

/**
 * A sandbox MinIO server for a store with `provision`: started in the background on loopback with its data
 * under the store's directory, root keys from MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in the environment.
 * `stop` stops it and keeps the data. Runs where Pulumi runs, with `minio` and `mc` on PATH.
 */
export function renderSandboxMinioScript(store: ObjectStorePlan): string {
  if (!store.provision) throw new Error(`object store ${store.name} has no provision section`);
  const dir = store.provision.dataDirectory;
  return (
    `${header({
      job: `drkit-sandbox-minio-${store.name}`,
      purpose:
        `Starts or stops the sandbox MinIO server of object store ${store.name} ` +
        `on 127.0.0.1:${store.provision.port}.`,
      usage: "sandbox-minio start|stop   (env: MINIO_ROOT_USER, MINIO_ROOT_PASSWORD)",
    })}
${settings({ DIR: dir, PORT: store.provision.port, PID_FILE: `${dir}/minio.pid` })}
running() { [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

case \${1:-} in
  start)
    [[ -n \${MINIO_ROOT_USER:-} && -n \${MINIO_ROOT_PASSWORD:-} ]] || die "MINIO_ROOT_USER and ` +
    `MINIO_ROOT_PASSWORD must be set"
    minio=$(command -v minio) || die "minio is not on PATH: run toolchain/setup"
    if running; then
      log "MinIO is already running (pid $(cat "$PID_FILE"))"
    else
      # Parents the usual 0755 (umask 077 would make a shared one such as a sandbox host's root prefix
      # untraversable for the postgres user); the server's own directory 0700.
      (umask 022 && mkdir -p -- "$(dirname -- "$DIR")")
      mkdir -p -- "$DIR/data" "$DIR/certs" "$DIR/home"
      chmod 0700 -- "$DIR"
      # Detached, no inherited descriptors: the caller must not wait on the server's output.
      HOME=$DIR/home MINIO_UPDATE=off MINIO_BROWSER=off setsid "$minio" server --quiet --certs-dir "$DIR/certs" \\
        --address "127.0.0.1:$PORT" --console-address "127.0.0.1:$((PORT + 1))" "$DIR/data" \\
        </dev/null >>"$DIR/minio.log" 2>&1 8>&- 9>&- &
      echo "$!" >"$PID_FILE"
    fi
    for _ in $(seq 1 120); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        log "MinIO serves 127.0.0.1:$PORT (data in $DIR/data)"
        exit 0
      fi
      running || die "MinIO exited; see $DIR/minio.log"
      sleep 0.25
    done
    die "MinIO did not listen on 127.0.0.1:$PORT within 30s; see $DIR/minio.log"
    ;;
  stop)
    if running; then
      pid=$(cat "$PID_FILE")
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      log "MinIO stopped; its data stays in $DIR/data"
    fi
    rm -f -- "$PID_FILE"
    ;;
  *) die "usage: sandbox-minio start|stop" ;;
esac
`
  );
}
