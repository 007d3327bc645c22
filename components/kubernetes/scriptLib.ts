import { LAYOUT } from "./layout";
import { REPLICATION_ROLE } from "./names";

/** Fails unless every named environment variable (set by the manifests) is non-empty. */
export const requireEnv = (...names: string[]) => names.map((name) => `[[ -n \${${name}:-} ]] || die "environment variable ${name} is not set"\n`).join("");

/** read_secret KEY: one password from the mounted Secret, which must be alphanumeric (safe in SQL and pgpass). */
export const readSecret = `read_secret() {
  local value
  value=$(<"${LAYOUT.secretsDir}/$1")
  [[ $value =~ ^[A-Za-z0-9]{16,}$ ]] || die "secret key $1 must be an alphanumeric password of 16 or more characters"
  printf '%s' "$value"
}
`;

/** write_pgpass: the replication role's pgpass file in the memory-backed run directory, exported as PGPASSFILE. */
export const writePgpass = `write_pgpass() {
  local password tmp
  password=$(read_secret replication-password)
  tmp=$(mktemp "$DRKIT_RUN_DIR/pgpass.XXXXXX")
  printf '*:*:*:%s:%s\\n' ${REPLICATION_ROLE} "$password" >"$tmp"
  mv -f -- "$tmp" "$DRKIT_RUN_DIR/pgpass"
  export PGPASSFILE=$DRKIT_RUN_DIR/pgpass
}
`;

/**
 * One server per volume. A ReadWriteOnce volume can still be mounted by two pods on one node, and
 * postmaster.pid cannot tell a live server in another pod from a stale file; flock on the volume can.
 * The descriptor stays open through \`exec postgres\`, so the lock lives as long as the server.
 */
export const lockDataVolume = `DATA_MOUNT=$(dirname -- "$PGDATA")
exec 9>>"$DATA_MOUNT/.drkit-server.lock"
flock -n 9 || die "another server or a restore job is using $DATA_MOUNT (it holds $DATA_MOUNT/.drkit-server.lock)"
`;

/**
 * start_server SECONDS ARGS...: postgres in the background (its log on stderr) until it accepts
 * connections on the socket in $PGHOST; stop_server: fast shutdown, and fail unless it was clean.
 */
export const serverControl = `SERVER_PID=
start_server() {
  local timeout=$1 waited=0
  shift
  postgres "$@" -c port="$PGPORT" -c unix_socket_directories="$PGHOST" >&2 &
  SERVER_PID=$!
  until pg_isready -q -h "$PGHOST" -p "$PGPORT"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" || true
      SERVER_PID=
      die "postgres exited while starting; its log is above"
    fi
    ((waited++ < timeout)) || die "postgres did not accept connections within \${timeout}s"
    sleep 1
  done
}
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -INT "$SERVER_PID"
  local pid=$SERVER_PID
  SERVER_PID=
  wait "$pid" || die "postgres did not shut down cleanly"
}
kill_server() {
  if [[ -n $SERVER_PID ]]; then kill -QUIT "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
}
`;

/** psql as the local superuser over the socket, quiet, stopping at the first error. */
export const localSql = `sql() { psql -X -v ON_ERROR_STOP=1 -Atq -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }
`;

/** The base backups published on the backup volume, oldest first (ids sort by time). */
export const listBackups = `list_backups() {
  local dir
  for dir in "$DRKIT_BACKUP_ROOT"/base/*/; do
    dir=\${dir%/}
    dir=\${dir##*/}
    [[ $dir =~ ^[0-9]{8}T[0-9]{6}Z$ ]] && printf '%s\\n' "$dir"
  done | sort
}
`;

/** The JSON string of a shell value (for result lines; control characters dropped). */
export const jsonString = `json_string() {
  local s=\${1//\\\\/\\\\\\\\}
  s=\${s//\\"/\\\\\\"}
  printf '"%s"' "$(printf '%s' "$s" | tr -d '\\000-\\037')"
}
`;

/** A result line on stdout and as the pod's termination message. */
export const reportResult = `report() { # JSON
  printf '%s\\n' "$1"
  if [[ -w /dev/termination-log ]]; then printf '%s\\n' "$1" >/dev/termination-log || true; fi
}
`;

/**
 * Every failure of a job ends in a "failed" result record naming its reason (the message of the die that
 * ended it); `cleanup` runs first, whatever the outcome.
 */
export const recordFailures = (kind: string, record: string, cleanup = ":") => `job_started=$(date +%s)
backup_id=
reason="it stopped before finishing"
die() {
  reason=$*
  log "ERROR: $*"
  exit 1
}
on_exit() {
  local status=$?
  ${cleanup}
  if ((status != 0)); then
    ${record} "{\\"drkit\\":\\"${kind}\\",\\"cluster\\":\\"$CLUSTER\\",\\"backup\\":$(json_string "$backup_id"),\\"result\\":\\"failed\\",\\"error\\":$(json_string "$reason"),\\"seconds\\":$(($(date +%s) - job_started))}"
  fi
}
trap on_exit EXIT
`;
