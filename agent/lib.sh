# shellcheck shell=bash
# shellcheck disable=SC2034 # the names and patterns below are used by the verbs that source this file
# drkit agent library: sourced by every verb in this folder. It loads the service's settings (one env file
# rendered from the stack config), defines the names and patterns every verb shares, and the helpers for
# logging, locks, PostgreSQL, retention and the object stores. Verbs hold the procedures; this file holds
# what two or more of them need.
set -euo pipefail
umask 077

AGENT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly AGENT_DIR
VERB=$(basename -- "$0")
readonly VERB

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${JOB:-drkit-$VERB}" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
usage_error() {
  log "ERROR: $*"
  exit 2
}
# option_value "$@": the value after the option in $1, or a usage error (naming the verb's USAGE, if set).
# Use as `var=$(option_value "$@")`: under set -e the verb then exits 2 too.
option_value() {
  [[ $# -ge 2 && -n $2 ]] || usage_error "$1 needs a value${USAGE:+ ($USAGE)}"
  printf '%s\n' "$2"
}

# ---- names and patterns: the one definition of each -------------------------------------------------------
# A WAL file PostgreSQL hands to archive_command: a segment, a partial segment, a backup history file or a
# timeline history file.
readonly WAL_NAME_RE='^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$'
readonly WAL_SEGMENT_RE='^[0-9A-F]{24}$'
# Backup ids are UTC timestamps, so they sort by time.
readonly BACKUP_ID_PATTERN='[0-9]{8}T[0-9]{6}Z'
readonly BACKUP_ID_RE="^${BACKUP_ID_PATTERN}\$"
# Recorded beside every complete base backup, and uploaded last: off-site it marks a complete backup.
readonly BACKUP_META=drkit-backup.env
new_backup_id() { date -u +%Y%m%dT%H%M%SZ; }
is_wal_name() { [[ $1 =~ $WAL_NAME_RE ]]; }
is_backup_id() { [[ $1 =~ $BACKUP_ID_RE ]]; }

# ---- settings ---------------------------------------------------------------------------------------------
# DRKIT_ENV names the settings file; without it, drkit.env beside the agent (hosts). Pods set DRKIT_ENV.
load_settings() {
  local file=${DRKIT_ENV:-$AGENT_DIR/drkit.env}
  [[ -f $file && -r $file ]] || die "cannot read the settings file $file (set DRKIT_ENV or place drkit.env beside $VERB)"
  # shellcheck source=/dev/null
  . "$file"
  JOB=drkit-${SERVICE:?the settings file $file sets no SERVICE}-$VERB
}
# require_settings NAME...: every named setting is present and non-empty.
require_settings() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || die "setting $name is not set (settings file ${DRKIT_ENV:-$AGENT_DIR/drkit.env})"
  done
}
is_true() { [[ ${1:-} == yes ]]; }
# require_arrays NAME...: every named setting is a list (a bash array), possibly empty.
require_arrays() {
  local name
  for name in "$@"; do
    [[ $(declare -p "$name" 2>/dev/null) == "declare -a"* ]] ||
      die "setting $name is not set as a list (settings file ${DRKIT_ENV:-$AGENT_DIR/drkit.env})"
  done
}

# ---- locks and files --------------------------------------------------------------------------------------
# take_lock NAME [FD]: two runs of one job never overlap; the lock lives as long as the process.
take_lock() {
  local name=$1 fd=${2:-9}
  require_settings LOCK_DIR
  mkdir -p -- "$LOCK_DIR"
  eval "exec $fd>>\"\$LOCK_DIR/\$name.lock\""
  flock -n "$fd" || die "another run holds $LOCK_DIR/$name.lock; not starting a second one"
}
# write_atomically FILE: stdin into FILE through a temp file in the same directory, fsynced, then renamed.
write_atomically() {
  local dest=$1 tmp
  tmp=$(mktemp "$(dirname -- "$dest")/.$(basename -- "$dest").XXXXXX")
  if ! cat >"$tmp"; then
    rm -f -- "$tmp"
    return 1
  fi
  sync -- "$tmp"
  mv -f -- "$tmp" "$dest"
}
# Extracts a tar archive written by pg_basebackup, whatever its compression.
extract_tar() {
  local archive=$1 dest=$2
  case $archive in
    *.tar.zst) zstd -q -d -c -- "$archive" | tar -xf - -C "$dest" ;;
    *.tar.gz) tar -xzf "$archive" -C "$dest" ;;
    *.tar.lz4) lz4 -q -d -c -- "$archive" | tar -xf - -C "$dest" ;;
    *.tar) tar -xf "$archive" -C "$dest" ;;
    *) die "unknown archive type: $archive" ;;
  esac
}
# The complete base backups in DIR (their metadata file exists), newest first.
complete_backups() {
  local dir=$1 meta id
  for meta in "$dir"/*/"$BACKUP_META"; do
    [[ -f $meta ]] || continue
    id=${meta%/*}
    id=${id##*/}
    is_backup_id "$id" && printf '%s\n' "$id"
  done | sort -r
}
# backup_field DIR ID KEY: one field of a backup's metadata, empty when it records none.
backup_field() { sed -n "s/^$3=//p" "$1/$2/$BACKUP_META" 2>/dev/null | head -n1; }

# ---- PostgreSQL -------------------------------------------------------------------------------------------
# Connection settings: PGHOST (socket directory or address), PGPORT and PGUSER come from the settings file.
pg_env() {
  require_settings PG_BIN PG_OS_USER PGHOST PGPORT PGUSER
  export PGHOST PGPORT PGUSER PGDATABASE=${PGDATABASE:-postgres}
}
# as_pg COMMAND...: runs a command as the PostgreSQL OS user whether this script runs as root or as that user.
as_pg() {
  if [[ $(id -u) -eq 0 && $PG_OS_USER != root ]]; then
    runuser -u "$PG_OS_USER" -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" \
      PGOPTIONS="${PGOPTIONS:-}" ${PGPASSFILE:+PGPASSFILE="$PGPASSFILE"} "$@"
  else
    "$@"
  fi
}
sql() { as_pg "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -Atq "$@"; }
# Jobs that only touch backups run as the PostgreSQL OS user; started as root, they switch to it.
become_pg_user() {
  if [[ $(id -u) -eq 0 && $PG_OS_USER != root ]]; then
    exec runuser -u "$PG_OS_USER" -- "$0" "$@"
  fi
}
pg_group() { id -gn "$PG_OS_USER"; }

# Start, stop and status of the server: PG_MANAGER is systemd (PG_UNIT), pg_ctl (PG_LOG) or foreground (pods:
# postgres runs in the background of this very process, its log on stderr, started with PG_SERVER_ARGS and
# stopped cleanly by pg_stop before the process ends).
pg_manager_check() {
  require_settings PG_MANAGER PGDATA_DIR
  case $PG_MANAGER in
    systemd) require_settings PG_UNIT ;;
    pg_ctl) require_settings PG_LOG ;;
    foreground) ;;
    *) die "setting PG_MANAGER must be systemd or pg_ctl, not '$PG_MANAGER' (or foreground, in pods)" ;;
  esac
}
PG_PID=
# The foreground server: started here, alive (its pid file written) before this returns.
pg_start_foreground() {
  local args=()
  if declare -p PG_SERVER_ARGS >/dev/null 2>&1; then args=("${PG_SERVER_ARGS[@]}"); fi
  as_pg "$PG_BIN/postgres" -D "$PGDATA_DIR" "${args[@]}" -c port="$PGPORT" -c unix_socket_directories="$PGHOST" \
    >&2 8>&- 9>&- &
  PG_PID=$!
  wait_for_pid_file "$PGDATA_DIR"
  kill -0 "$PG_PID" 2>/dev/null || die "postgres exited while starting; its log is above"
}
# signal_foreground SIGNAL: the postmaster itself gets it. $! is the background job, a subshell (as_pg is a
# function; as root also runuser) that has postgres as a child: a signal sent to it would never reach postgres.
signal_foreground() {
  local master
  master=$(sed -n 1p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)
  if [[ $master =~ ^[0-9]+$ ]] && kill -0 "$master" 2>/dev/null; then
    kill "-$1" "$master" 2>/dev/null || true
  else
    kill "-$1" "$PG_PID" 2>/dev/null || true
  fi
}
pg_stop_foreground() {
  [[ -n $PG_PID ]] || return 0
  signal_foreground INT
  local pid=$PG_PID
  PG_PID=
  wait "$pid" || die "postgres did not shut down cleanly; its log is above"
}
# pg_kill_foreground: for exit traps; an immediate stop of a foreground server still running.
pg_kill_foreground() {
  if [[ -n ${PG_PID:-} ]]; then
    signal_foreground QUIT
    wait "$PG_PID" 2>/dev/null || true
    PG_PID=
  fi
}
pg_ctl_() { as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" "$@"; }
# The server's options for pg_ctl start/restart: the settings file's port and socket directory (PGHOST, when it
# is one) win over the data directory's postgresql.conf, which may be another server's (a pod's base backup
# carries initdb's, as pods pass config_file on the command line). pg_ctl hands -o to a shell: quoted.
pg_ctl_server_opts() {
  local opts="-p $PGPORT"
  if [[ $PGHOST == /* ]]; then
    [[ $PGHOST != *"'"* ]] || die "PGHOST '$PGHOST' must not contain a single quote"
    opts+=" -k '$PGHOST'"
  fi
  printf '%s' "$opts"
}
# pg_ctl -W returns before the postmaster has written its pid file; status checks need it.
wait_for_pid_file() {
  local _
  for _ in $(seq 1 100); do
    [[ -f $1/postmaster.pid ]] && return 0
    sleep 0.1
  done
  return 0
}
# The server must not inherit the lock descriptors of the script that starts it.
pg_start() {
  case $PG_MANAGER in
    systemd) systemctl start "$PG_UNIT" ;;
    pg_ctl)
      pg_ctl_ -l "$PG_LOG" -W start -o "$(pg_ctl_server_opts)" >/dev/null 8>&- 9>&-
      wait_for_pid_file "$PGDATA_DIR"
      ;;
    foreground) pg_start_foreground ;;
  esac
}
pg_stop() {
  case $PG_MANAGER in
    systemd) systemctl stop "$PG_UNIT" ;;
    pg_ctl) if pg_running; then pg_ctl_ -m fast -w stop >/dev/null; fi ;;
    foreground) pg_stop_foreground ;;
  esac
}
pg_restart() {
  case $PG_MANAGER in
    systemd) systemctl restart "$PG_UNIT" ;;
    pg_ctl) pg_ctl_ -l "$PG_LOG" -m fast -w restart -o "$(pg_ctl_server_opts)" >/dev/null 8>&- 9>&- ;;
    foreground)
      pg_stop_foreground
      pg_start_foreground
      ;;
  esac
}
pg_running() {
  case $PG_MANAGER in
    systemd) systemctl is-active --quiet "$PG_UNIT" ;;
    pg_ctl) pg_ctl_ status >/dev/null 2>&1 ;;
    foreground) [[ -n $PG_PID ]] && kill -0 "$PG_PID" 2>/dev/null ;;
  esac
}
pg_log_hint() {
  case $PG_MANAGER in
    systemd) echo "journalctl -u $PG_UNIT (data directory $PGDATA_DIR)" ;;
    pg_ctl) echo "$PG_LOG" ;;
    foreground) echo "the job's log above (data directory $PGDATA_DIR)" ;;
  esac
}
# wait_until_sql SECONDS: true once the server answers a query.
wait_until_sql() {
  local deadline=$((SECONDS + $1))
  until sql -c "SELECT 1" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# ---- pods -------------------------------------------------------------------------------------------------
# lock_data_volume: one server (or restore) per volume. postmaster.pid cannot tell a live server in another pod
# from a stale file; flock on the volume (the folder above PGDATA_DIR) can. Descriptor 7 stays open through
# `exec postgres`, so the lock lives as long as the server.
lock_data_volume() {
  DATA_MOUNT=$(dirname -- "$PGDATA_DIR")
  exec 7>>"$DATA_MOUNT/.drkit-server.lock"
  flock -n 7 || die "another server or a restore job is using $DATA_MOUNT (it holds $DATA_MOUNT/.drkit-server.lock)"
}
# read_secret KEY: one password from POD_SECRETS_DIR (the mounted Secret), alphanumeric (safe in SQL and pgpass).
read_secret() {
  local value
  require_settings POD_SECRETS_DIR
  value=$(<"$POD_SECRETS_DIR/$1")
  [[ $value =~ ^[A-Za-z0-9]{16,}$ ]] || die "secret key $1 must be an alphanumeric password of 16 or more characters"
  printf '%s' "$value"
}
# write_pgpass ROLE SECRET_KEY: PGPASSFILE (in memory, mode 0600: libpq ignores a group-readable one) from
# the Secret, exported.
write_pgpass() {
  local password tmp
  require_settings PGPASSFILE
  password=$(read_secret "$2")
  tmp=$(mktemp "$(dirname -- "$PGPASSFILE")/.pgpass.XXXXXX")
  printf '*:*:*:%s:%s\n' "$1" "$password" >"$tmp"
  mv -f -- "$tmp" "$PGPASSFILE"
  export PGPASSFILE
}

# json_string TEXT: TEXT as a JSON string (control characters dropped).
json_string() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$(printf '%s' "$s" | tr -d '\000-\037')"
}
# record_result NAME JSON: a job's one-line result, on stdout, as the pod's termination message (when there is
# one) and in RESULTS_DIR/NAME for the next job and for monitoring.
record_result() {
  printf '%s\n' "$2"
  if [[ -w /dev/termination-log ]]; then printf '%s\n' "$2" >/dev/termination-log || true; fi
  if [[ -n ${RESULTS_DIR:-} ]]; then
    mkdir -p -- "$RESULTS_DIR"
    printf '%s\n' "$2" | write_atomically "$RESULTS_DIR/$1"
  fi
}

# sql_at_port PORT QUERY: one query to the server on PORT behind the same socket directory (a local standby).
sql_at_port() { as_pg env PGPORT="$1" PGHOST="$PGHOST" "$PG_BIN/psql" -X -Atq -d postgres -c "$2"; }
# wait_until_streaming: true once this server (a standby) streams from its primary, within about 30 seconds.
wait_until_streaming() {
  local _
  for _ in $(seq 1 150); do
    [[ $(sql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null) == streaming ]] && return 0
    sleep 0.2
  done
  [[ $(sql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null) == streaming ]]
}

# ---- retention --------------------------------------------------------------------------------------------
id_epoch() {
  local id=$1
  date -u -d "${id:0:4}-${id:4:2}-${id:6:2} ${id:9:2}:${id:11:2}:${id:13:2}" +%s
}
# retention_plan NOW DAILY_DAYS WEEKLY_WEEKS LONG_TERM_MONTHS [KEEP_NEWEST]: reads backup ids newest first on
# stdin, prints "keep <id> <reason>" or "drop <id>" for each. The newest KEEP_NEWEST (at least 1) are always
# kept; then every backup younger than the daily window; then the newest of each ISO week within the weekly
# window; then the newest of each calendar month within the long-term window.
retention_plan() {
  local now=$1 daily=$2 weekly=$3 months=$4 newest=${5:-1} id epoch age week month now_month n=0
  local -A kept_weeks=() kept_months=()
  ((newest >= 1)) || newest=1
  now_month=$(($(date -u -d "@$now" +%Y) * 12 + 10#$(date -u -d "@$now" +%m)))
  while read -r id; do
    epoch=$(id_epoch "$id")
    age=$((now - epoch))
    week=$(date -u -d "@$epoch" +%G-W%V)
    month=$((${id:0:4} * 12 + 10#${id:4:2}))
    n=$((n + 1))
    if ((n <= newest)); then
      echo "keep $id newest"
    elif ((age < daily * 86400)); then
      echo "keep $id daily"
    elif ((weekly > 0 && age < weekly * 7 * 86400)) && [[ -z ${kept_weeks[$week]:-} ]]; then
      echo "keep $id weekly"
    elif ((months > 0 && now_month - month < months)) && [[ -z ${kept_months[$month]:-} ]]; then
      echo "keep $id monthly"
    else
      echo "drop $id"
      continue
    fi
    kept_weeks[$week]=1
    kept_months[$month]=1
  done
}

# ---- object stores ----------------------------------------------------------------------------------------
# Off-site layout, the same from hosts and pods, the one place it is written down (offsite_key builds every
# key from it): in each store's <bucket>/<prefix>
#   base/<id>/<file>   a base backup's files; BACKUP_META is uploaded last, so it marks the set complete
#   wal/<name>         one WAL file, under the name PostgreSQL gave it
#   logical/<file>     a logical set's dumps, its globals_<id>.sql last
#   valkey/<file>      a Redis/Valkey snapshot: dump_<id>.rdb, .rdb.sha256, then .meta last
# Every object carries its sha256 as metadata (drkit-sha256). A set every store confirmed has a marker
# $OFFSITE_MARKS/<store>/<kind>/<id>, written by ship-offsite; retention reads it (confirmed_offsite).
# offsite_key KIND [ID [FILE]]: the key of an object under <prefix>. base ID FILE, wal NAME, logical ID FILE,
# valkey ID FILE; without FILE (or NAME) it is the folder to list: "base/", "base/<id>/", "wal/".
offsite_key() {
  local kind=$1 id=${2:-} file=${3:-}
  case $kind in
    base) printf 'base/%s%s' "${id:+$id/}" "${file##*/}" ;;
    wal) printf 'wal/%s' "$id" ;;
    logical | valkey) printf '%s/%s' "$kind" "${file##*/}" ;;
    *) die "unknown kind of off-site object '$kind'" ;;
  esac
}
offsite_enabled() { declare -p OFFSITE_STORES >/dev/null 2>&1 && [[ ${#OFFSITE_STORES[@]} -gt 0 ]]; }
# confirmed_offsite KIND ID: true when every object store confirmed the set (ship-offsite wrote a marker).
confirmed_offsite() {
  local store
  offsite_enabled || return 0
  for store in "${OFFSITE_STORES[@]}"; do
    [[ -e $OFFSITE_MARKS/$store/$1/$2 ]] || return 1
  done
}
# mc_init: credentials from the 0600 files into the environment (never onto a command line), a private mc
# configuration directory. Call once per process.
mc_init() {
  local i f line
  require_settings MC
  [[ -x $MC ]] || die "mc is not installed at $MC"
  for i in "${!OFFSITE_STORES[@]}"; do
    f=${OFFSITE_CREDENTIALS[$i]}
    [[ -r $f ]] || die "cannot read the credentials of object store ${OFFSITE_STORES[$i]} ($f)"
    line=$(grep -m1 "^MC_HOST_${OFFSITE_ALIASES[$i]}=" "$f") || die "$f has no MC_HOST_${OFFSITE_ALIASES[$i]}= line"
    export "${line%%=*}=${line#*=}"
  done
  MC_HOME=$(mktemp -d "${TMPDIR:-/tmp}/drkit-mc.XXXXXX")
  export MC_CONFIG_DIR=$MC_HOME MC_DISABLE_PAGER=1 MC_NO_COLOR=1
}
mc_cleanup() { if [[ -n ${MC_HOME:-} ]]; then rm -rf -- "$MC_HOME"; fi; }
# store_url STORE_INDEX KEY
store_url() { printf '%s/%s/%s%s' "${OFFSITE_ALIASES[$1]}" "${OFFSITE_BUCKETS[$1]}" "${OFFSITE_PREFIX:-}" "$2"; }
# retry DESCRIPTION COMMAND...: runs COMMAND until it succeeds, backing off exponentially.
retry() {
  local what=$1 attempt=1 delay=${RETRY_FIRST_DELAY:-1} out
  shift
  while true; do
    if out=$("$@" 2>&1); then
      [[ -z $out ]] || printf '%s\n' "$out"
      return 0
    fi
    if ((attempt >= ${RETRY_ATTEMPTS:-3})); then
      log "$what failed after $attempt attempt(s): ${out//$'\n'/ }"
      return 1
    fi
    log "$what failed (attempt $attempt of ${RETRY_ATTEMPTS:-3}), retrying in ${delay}s: ${out##*$'\n'}"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}
# remote_sha STORE_INDEX KEY: prints the object's recorded sha256, "missing" if there is none;
# fails when the store cannot be asked (mc stat alone reports an unreachable server as a missing object).
remote_sha() {
  local url listing stat sha
  url=$(store_url "$1" "$2")
  listing=$(retry "listing $url" "$MC" ls --json "$url") || return 1
  if ! grep -qF "\"key\":\"${2##*/}\"" <<<"$listing"; then
    echo missing
    return 0
  fi
  stat=$(retry "stat of $url" "$MC" stat --json "$url") || return 1
  # mc stat also reports objects the key is a prefix of (000...02 and 000...02.00000028.backup): pick ours.
  sha=$(grep -F "\"name\":\"${2##*/}\"" <<<"$stat" |
    sed -n 's/.*"X-Amz-Meta-Drkit-Sha256":"\([0-9a-f]*\)".*/\1/p' | head -n1) || true
  echo "${sha:-unknown}"
}

# ---- Redis/Valkey -----------------------------------------------------------------------------------------
# redis-cli against the service's server: REDIS_TARGET is "-s SOCKET" or "-h ADDRESS -p PORT".
redis_env() { require_settings REDIS_CLI REDIS_TARGET; }
rcli() { "$REDIS_CLI" "${REDIS_TARGET[@]}" "$@"; }
# info_field SECTION FIELD: one field of INFO, without the trailing carriage return.
info_field() { rcli INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"; }
# wait_for_ping TRIES: true once the server answers PING (TRIES times 0.2 s at most).
wait_for_ping() {
  local _
  for _ in $(seq 1 "$1"); do
    [[ $(rcli PING 2>/dev/null) == PONG ]] && return 0
    sleep 0.2
  done
  return 1
}
# Start and stop of the server: REDIS_MANAGER is systemd (REDIS_UNIT) or process (REDIS_SERVER started on
# REDIS_CONFIG as REDIS_OS_USER, REDIS_PID_FILE while it runs).
redis_manager_check() {
  require_settings REDIS_MANAGER REDIS_OS_USER
  case $REDIS_MANAGER in
    systemd) require_settings REDIS_UNIT ;;
    process) require_settings REDIS_SERVER REDIS_CONFIG REDIS_PID_FILE ;;
    *) die "setting REDIS_MANAGER must be systemd or process, not '$REDIS_MANAGER'" ;;
  esac
}
# The server must not inherit the lock descriptors of the script that starts it.
redis_start() {
  case $REDIS_MANAGER in
    systemd) systemctl start "$REDIS_UNIT" ;;
    process)
      if [[ $(id -u) -eq 0 && $REDIS_OS_USER != root ]]; then
        runuser -u "$REDIS_OS_USER" -- "$REDIS_SERVER" "$REDIS_CONFIG" 8>&- 9>&-
      else
        "$REDIS_SERVER" "$REDIS_CONFIG" 8>&- 9>&-
      fi
      ;;
  esac
}
redis_stop() {
  case $REDIS_MANAGER in
    systemd) systemctl stop "$REDIS_UNIT" ;;
    process)
      rcli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
      local _
      for _ in $(seq 1 100); do
        [[ -f $REDIS_PID_FILE ]] || return 0
        sleep 0.1
      done
      die "the server did not stop ($REDIS_PID_FILE is still there)"
      ;;
  esac
}
# snapshot_files ID: a snapshot's files in REDIS_BACKUP_DIR, the metadata (written last, it marks the
# snapshot complete) last.
snapshot_files() {
  local f
  for f in "dump_$1.rdb" "dump_$1.rdb.sha256" "dump_$1.meta"; do printf '%s\n' "$REDIS_BACKUP_DIR/$f"; done
}
