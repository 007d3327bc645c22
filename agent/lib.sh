# shellcheck shell=bash
# shellcheck disable=SC2034 # the names and patterns below are used by the verbs that source this file
# drkit agent library: sourced by every verb in this folder. It loads the service's settings (one env file
# rendered from the stack config), defines the names and patterns every verb shares, and the helpers for
# logging, locks, PostgreSQL, retention and the object stores. Verbs hold the procedures; this file holds
# what two or more of them need.
set -euo pipefail
umask 077
# PostgreSQL runs archive_command and restore_command with the environment it was started with, and Debian's
# pg_ctlcluster starts it without PATH. Bash then uses a default PATH that it does not export, and mc (which
# looks the user up with getent) fails: export one.
export PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}

# Without a process: archive_command starts a verb for every WAL segment, and each fork costs a millisecond or two.
AGENT_DIR=${BASH_SOURCE[0]%/*}
[[ ${BASH_SOURCE[0]} == */* ]] || AGENT_DIR=.
[[ $AGENT_DIR == /* ]] || AGENT_DIR=$PWD/$AGENT_DIR
readonly AGENT_DIR
VERB=${0##*/}
readonly VERB

# utc_time VAR FORMAT [EPOCH]: EPOCH (default: now) in UTC, strftime FORMAT, into VAR (a builtin: no process).
utc_time() { TZ=UTC0 printf -v "$1" "%($2)T" "${3:--1}"; }
log() {
  local at
  utc_time at '%Y-%m-%dT%H:%M:%SZ'
  printf '%s %s: %s\n' "$at" "${JOB:-drkit-$VERB}" "$*" >&2
}
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
# In a data directory: written by fence-primary; only a fenced former primary is rewound into a standby.
readonly FENCE_MARKER=drkit.fenced
# An archived WAL file waiting for the shipper has an empty entry <prefix><name> beside it in the archive.
readonly SHIP_QUEUE_PREFIX=.to-ship.
new_backup_id() {
  local id
  utc_time id '%Y%m%dT%H%M%SZ'
  printf '%s\n' "$id"
}
# unused_backup_id PATH_FORMAT: a new backup id for which `printf PATH_FORMAT ID` names nothing yet. Ids are whole
# seconds: a run in the same second as the one before waits for the next.
unused_backup_id() {
  local id path tries=0
  while true; do
    id=$(new_backup_id)
    # shellcheck disable=SC2059 # the format is the caller's
    printf -v path "$1" "$id"
    [[ -e $path ]] || break
    ((++tries <= 30)) || die "$path exists and no new backup id came free"
    sleep 0.1
  done
  printf '%s\n' "$id"
}
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

# ---- what archive-wal needs -----------------------------------------------------------------------------
# wal_header FILE: reads a WAL segment's long page header, without PostgreSQL and without a process, in the calling
# shell: WAL_SYSID (xlp_sysid, a uint64 little-endian at byte 24, after the 24-byte standard header) and WAL_SEG_SIZE
# (xlp_seg_size, a uint32 at byte 32, when FILE holds it); WAL_HEADER_FILE is FILE. Both are empty when the file
# does not start with a long page header (magic 0xD1xx, XLP_LONG_HEADER set in xlp_info): it is no WAL segment.
wal_header() {
  WAL_HEADER_FILE=$1 WAL_SYSID='' WAL_SEG_SIZE=''
  local -a hdr
  header_bytes hdr 40 "$1" 2>/dev/null || true
  ((${#hdr[@]} >= 32 && hdr[1] == 0xD1 && (hdr[2] & 2) != 0)) || return 0
  local i sysid=0 seg=0
  for i in 7 6 5 4 3 2 1 0; do sysid=$(((sysid << 8) | hdr[24 + i])); done
  printf -v WAL_SYSID '%u' "$sysid"
  # a header cut after xlp_sysid (claim-archive reads 32 bytes of a remote segment) has no size
  ((${#hdr[@]} == 40)) || return 0
  for i in 3 2 1 0; do seg=$(((seg << 8) | hdr[32 + i])); done
  # only a size PostgreSQL allows (a power of two from 1 MiB to 1 GiB) is taken; callers ask the file otherwise
  ((seg >= 1048576 && seg <= 1073741824 && (seg & (seg - 1)) == 0)) || return 0
  WAL_SEG_SIZE=$seg
}
# header_bytes ARRAY COUNT FILE: the first COUNT bytes of FILE (fewer when it is shorter) into ARRAY, as numbers.
# Read by bash itself: archive-wal reads every segment's header, and od would be a process. In the C locale each
# byte is one character; with NUL as the delimiter a NUL byte reads as an empty one (status 0), the end as 1.
header_bytes() {
  local -n bytes_of=$1
  local LC_ALL=C byte value fd i
  bytes_of=()
  exec {fd}<"$3" || return 1
  for ((i = 0; i < $2; i++)); do
    IFS= read -r -d '' -n 1 -u "$fd" byte || break
    value=0
    [[ -z $byte ]] || printf -v value '%d' "'$byte"
    bytes_of+=("$value")
  done
  exec {fd}<&-
}
# foreign_archive LOCATION RECORDED OURS: the error for a location that holds another cluster's archive.
foreign_archive() {
  printf '%s holds the archive of another PostgreSQL cluster (system identifier %s); this cluster is system' "$1" "$2"
  printf ' identifier %s. Nothing is archived there: start a new archive epoch (services.%s.archive.epoch: %s)' \
    "$3" "$SERVICE" "$((${ARCHIVE_EPOCH:-1} + 1))"
  printf ' or clean the location (docs/runbook.md, "The archive belongs to another cluster")\n'
}
# read_archive_owner: sets ARCHIVE_OWNER_SYSID, the system identifier that owns the local archive (ARCHIVE_RECORD),
# empty while it is unclaimed (or where the settings name no record: pods). A variable, not output: archive-wal asks
# for every segment, and a command substitution forks.
read_archive_owner() {
  ARCHIVE_OWNER_SYSID=''
  [[ -n ${ARCHIVE_RECORD:-} && -e $ARCHIVE_RECORD ]] || return 0
  [[ -r $ARCHIVE_RECORD ]] || die "cannot read the archive's owner record $ARCHIVE_RECORD"
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == SYSTEM_IDENTIFIER=* ]]; then
      ARCHIVE_OWNER_SYSID=${line#SYSTEM_IDENTIFIER=}
      return 0
    fi
  done <"$ARCHIVE_RECORD"
}
# archive_owner: the same, printed (nothing while unclaimed).
archive_owner() {
  read_archive_owner
  [[ -z $ARCHIVE_OWNER_SYSID ]] || printf '%s\n' "$ARCHIVE_OWNER_SYSID"
}
# control_sysid PGDATA: the system identifier in PGDATA's global/pg_control (its first field, a uint64), without
# pg_controldata; nothing when the file cannot be read.
control_sysid() { od -An -v -t u8 --endian=little -N 8 -- "$1/global/pg_control" 2>/dev/null | tr -d ' \n' || true; }
# check_segment_owner FILE NAME: a WAL file is this archive's, against the local record, with no network and no
# pg_controldata: a segment by its page header; a history or backup history file (no header) by the pg_control of
# the data directory whose pg_wal it comes from (archive_command's %p), when that is readable. A file that is no
# WAL segment at all is not judged, and an unclaimed archive has no owner to compare with: both pass.
check_segment_owner() {
  local owner sysid
  read_archive_owner
  owner=$ARCHIVE_OWNER_SYSID
  [[ -n $owner ]] || return 0
  if [[ $2 =~ ^[0-9A-F]{24}(\.partial)?$ ]]; then
    [[ ${WAL_HEADER_FILE:-} == "$1" ]] || wal_header "$1"
    sysid=$WAL_SYSID
  elif [[ $(basename -- "$(dirname -- "$1")") == pg_wal ]]; then
    sysid=$(control_sysid "$(dirname -- "$1")/..")
  fi
  [[ -z ${sysid:-} || $sysid == "$owner" ]] && return 0
  log "ERROR: WAL $2 is from the cluster with system identifier $sysid, but" \
    "$(foreign_archive "the local archive $WAL_DIR" "$owner" "$sysid")"
  return 1
}
# record_gap FILE FIRST LAST COUNT REASON: appends one line (one write, so lines never interleave) to a gap log:
# "<time> <first file> <last file> <count> <reason>".
record_gap() {
  local at
  utc_time at '%Y-%m-%dT%H:%M:%SZ'
  printf '%s %s %s %s %s\n' "$at" "$2" "$3" "$4" "$5" >>"$1"
}
# archive-wal is PostgreSQL's archive_command: it runs once for every WAL file and needs nothing below. Bash
# reads a sourced file one command at a time, so it stops here; parsing the rest would cost it more than its copy.
[[ $VERB != archive-wal ]] || return 0

# ---- locks and files --------------------------------------------------------------------------------------
# take_lock NAME [FD [WAITING]]: two runs of one job never overlap; the lock lives as long as the process. With
# WAITING (what to log), a second run waits for the first instead of failing.
take_lock() {
  local name=$1 fd=${2:-9} waiting=${3:-}
  require_settings LOCK_DIR
  mkdir -p -- "$LOCK_DIR"
  eval "exec $fd>>\"\$LOCK_DIR/\$name.lock\""
  flock -n "$fd" && return 0
  [[ -n $waiting ]] || die "another run holds $LOCK_DIR/$name.lock; not starting a second one"
  log "$waiting ($LOCK_DIR/$name.lock)"
  flock "$fd"
}
# enter_own_dir DIR: a root job whose folder lies in one the PostgreSQL user owns works inside it only: DIR is
# made (0700) when missing, entered, and must then be a real directory of root's that nobody else can write, still
# found at its path. From here on the job names its files relative to it, so a parent renamed or a link planted
# meanwhile leads nowhere else.
enter_own_dir() {
  local dir=$1 owner
  [[ ! -L $dir ]] || die "$dir is a symbolic link, not this job's own folder: refusing to follow it"
  if [[ ! -e $dir ]]; then mkdir -m 0700 -- "$dir" || die "cannot create $dir"; fi
  cd -- "$dir" || die "cannot enter $dir"
  owner=$(stat -c '%u %A' .)
  [[ ! -L $dir && . -ef $dir ]] || die "$dir changed while this job entered it (renamed or replaced by a link): refusing"
  [[ $owner =~ ^0\ d....-..-.$ ]] ||
    die "$dir is not a folder of root's that only root can write (owner uid and mode: $owner): refusing to use it"
}
# write_atomically FILE [MODE]: stdin into FILE through a temp file in the same directory (mode 0600, or MODE),
# fsynced, then renamed.
write_atomically() {
  local dest=$1 mode=${2:-} tmp
  tmp=$(mktemp "$(dirname -- "$dest")/.$(basename -- "$dest").XXXXXX")
  if ! cat >"$tmp"; then
    rm -f -- "$tmp"
    return 1
  fi
  [[ -z $mode ]] || chmod "$mode" -- "$tmp"
  sync -- "$tmp"
  mv -f -- "$tmp" "$dest"
}
# on_exit FUNCTION: FUNCTION runs when the verb exits, after those registered before it, with $? and EXIT_STATUS
# the verb's exit status. Verbs register their clean-ups here rather than with trap, so that several compose.
EXIT_HANDLERS=()
EXIT_STATUS=0
on_exit() {
  EXIT_HANDLERS+=("$1")
  trap run_exit_handlers EXIT
}
status_is() { return "$1"; }
run_exit_handlers() {
  EXIT_STATUS=$?
  local handler
  for handler in "${EXIT_HANDLERS[@]}"; do
    if ((EXIT_STATUS == 0)); then "$handler" || true; else status_is "$EXIT_STATUS" || "$handler" || true; fi
  done
}
# remove_leftovers DIR GLOB...: removes what a run of this job that was killed (SIGKILL, power loss) left in DIR:
# the entries directly in DIR whose names match a GLOB, each logged. Call it under the job's lock (take_lock),
# so a running job's files are never taken from under it.
remove_leftovers() {
  local dir=$1 glob path
  shift
  [[ -d $dir ]] || return 0
  for glob in "$@"; do
    while IFS= read -r -d '' path; do
      rm -rf -- "$path"
      log "removed $path, left by an earlier run that did not finish"
    done < <(find "$dir" -mindepth 1 -maxdepth 1 -name "$glob" -print0)
  done
}
# require_space DIR BYTES WHAT: fails, before anything is written, when the filesystem of DIR has fewer than
# BYTES bytes available to this user for WHAT (an estimate the caller makes), naming both numbers. On the WAL
# archive's filesystem the archive's reserve (WAL_ARCHIVE_MIN_FREE_BYTES) must stay free as well: below it,
# archive-wal stops archiving.
require_space() {
  local dir=$1 need=$2 what=$3 avail reserve=0 also=
  [[ $need =~ ^[0-9]+$ ]] || die "cannot estimate the space $what needs (got '$need')"
  avail=$(df -B1 --output=avail -- "$dir" | awk 'NR == 2 { print $1 }') || true
  [[ $avail =~ ^[0-9]+$ ]] || die "cannot tell the free space in $dir"
  if [[ ${WAL_ARCHIVE_MIN_FREE_BYTES:-0} =~ ^[1-9][0-9]*$ && -n ${WAL_DIR:-} && -d ${WAL_DIR:-} ]] &&
    [[ $(stat -c %d -- "$dir") == "$(stat -c %d -- "$WAL_DIR")" ]]; then
    reserve=$WAL_ARCHIVE_MIN_FREE_BYTES
    also=" plus the WAL archive's reserve of $reserve bytes ($(numfmt --to=iec -- "$reserve"))"
  fi
  if ((avail < need + reserve)); then
    die "not enough space in $dir for $what: needs about $need bytes ($(numfmt --to=iec -- "$need"))$also," \
      "$avail bytes ($(numfmt --to=iec -- "$avail")) are available; nothing was written"
  fi
}
# tar_decompressor ARCHIVE: sets TAR_DECOMPRESS to the program (an array) that writes a tar archive of
# pg_basebackup's decompressed to stdout, read from a file argument or stdin; dies on an unknown type.
tar_decompressor() {
  case $1 in
    *.tar.zst) TAR_DECOMPRESS=(zstd -q -d -c) ;;
    *.tar.gz) TAR_DECOMPRESS=(gzip -q -d -c) ;;
    *.tar.lz4) TAR_DECOMPRESS=(lz4 -q -d -c) ;;
    *.tar) TAR_DECOMPRESS=(cat) ;;
    *) die "unknown archive type: $1" ;;
  esac
}
# tar_content_size ARCHIVE: the bytes a tar archive of pg_basebackup's holds once decompressed.
tar_content_size() {
  if [[ $1 == *.tar ]]; then
    stat -c %s -- "$1"
    return
  fi
  tar_decompressor "$1"
  "${TAR_DECOMPRESS[@]}" -- "$1" | wc -c
}
# Extracts a tar archive written by pg_basebackup, whatever its compression.
extract_tar() {
  local archive=$1 dest=$2
  tar_decompressor "$archive"
  "${TAR_DECOMPRESS[@]}" -- "$archive" | tar -xf - -C "$dest"
}
# extract_wal_tar ARCHIVE DEST: the WAL files of a backup's pg_wal tar into DEST, sparse: pg_basebackup pads each
# segment with zeros to its full size, and those pages take no disk, so a segment holding a few records of WAL
# costs a few blocks. The archive_status markers pg_basebackup adds (archive_mode on) are left out; any other
# member that is no WAL file name fails the extraction.
extract_wal_tar() {
  local archive=$1 dest=$2
  # shellcheck disable=SC2016 # expanded by the shell tar starts for each member
  local write_member='
    if [[ $TAR_FILENAME =~ ^archive_status/[0-9A-F]{8}([0-9A-F]{16}|\.history)\.(done|ready)$ ]]; then
      exec cat >/dev/null
    fi
    [[ $TAR_FILENAME =~ ^[0-9A-F]{8}([0-9A-F]{16}|\.history)$ ]] || { echo "no WAL file: $TAR_FILENAME" >&2; exit 1; }
    exec cp --sparse=always /dev/stdin "$WAL_TAR_DEST/$TAR_FILENAME"'
  tar_decompressor "$archive"
  "${TAR_DECOMPRESS[@]}" -- "$archive" | WAL_TAR_DEST=$dest tar -xf - --to-command="bash -c '$write_member'"
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
backup_field() { { sed -n "s/^$3=//p" "$1/$2/$BACKUP_META" 2>/dev/null || true; } | head -n1; }

# ---- incremental base backups (PostgreSQL 17+) -------------------------------------------------------------
# An incremental backup records its parent (the backup it was taken against: parent=) and the full backup its
# chain starts from (full=); a full backup records neither. A restore combines the whole chain, full first.
# backup_chain DIR ID: the ids a restore of ID needs, its full backup first, one per line; fails naming the
# first one missing from DIR.
backup_chain() {
  local dir=$1 id=$2 child='' chain=()
  while [[ -n $id ]]; do
    [[ -f $dir/$id/$BACKUP_META ]] ||
      die "base backup $id${child:+, the parent of incremental backup $child,} is not complete in $dir"
    chain=("$id" "${chain[@]}")
    ((${#chain[@]} <= 10000)) || die "the chain of base backup $2 in $dir loops"
    child=$id
    id=$(backup_field "$dir" "$id" parent)
  done
  printf '%s\n' "${chain[@]}"
}
# manifest_files_size DIR ID...: the bytes of every file the manifests of backups ID... list (their sizes are exact).
manifest_files_size() {
  local dir=$1 id manifests=()
  shift
  for id in "$@"; do manifests+=("$dir/$id/backup_manifest"); done
  { grep -ohE '"Size": *[0-9]+' "${manifests[@]}" 2>/dev/null || true; } |
    awk -F': *' '{ n += $2 } END { print n + 0 }'
}
# chain_parents DIR: "ID PARENT" for every complete incremental backup in DIR.
chain_parents() {
  local id parent
  while read -r id; do
    parent=$(backup_field "$1" "$id" parent)
    [[ -z $parent ]] || printf '%s %s\n' "$id" "$parent"
  done < <(complete_backups "$1")
}
# keep_parents PARENTS_FILE: reads retention_plan's verdicts ("keep ID REASON", "drop ID") and prints them in
# the same order, with every ancestor of a kept backup turned into "keep ID parent of incremental CHILD": a
# kept incremental backup is worth nothing without its chain. PARENTS_FILE holds chain_parents' lines.
keep_parents() {
  local verdict id reason parent child lines=() kept_ids=()
  local -A parent_of=() keep=() why=()
  while read -r id parent; do [[ -z $id ]] || parent_of[$id]=$parent; done <"$1"
  while read -r verdict id reason; do
    lines+=("$verdict $id${reason:+ $reason}")
    if [[ $verdict == keep ]]; then
      keep[$id]=1
      kept_ids+=("$id")
    fi
  done
  for child in "${kept_ids[@]}"; do
    parent=${parent_of[$child]:-}
    while [[ -n $parent && -z ${keep[$parent]:-} ]]; do
      keep[$parent]=1
      why[$parent]="parent of incremental $child"
      child=$parent
      parent=${parent_of[$child]:-}
    done
  done
  for reason in "${lines[@]}"; do
    read -r verdict id _ <<<"$reason"
    if [[ $verdict == drop && -n ${why[$id]:-} ]]; then
      printf 'keep %s %s\n' "$id" "${why[$id]}"
    else
      printf '%s\n' "$reason"
    fi
  done
}
# backup_wal_archived DIR ID ARCHIVE: the WAL folder ARCHIVE holds every segment base backup ID needs to become
# consistent, from its start_wal to the one holding its end_lsn (one timeline: backup-base records
# wal_segment_bytes only then); false when it lacks one or the backup does not record what it takes.
backup_wal_archived() {
  local archive=$3 line start='' end='' size='' per segno last name
  while IFS= read -r line; do
    case $line in
      start_wal=*) start=${line#*=} ;;
      end_lsn=*) end=${line#*=} ;;
      wal_segment_bytes=*) size=${line#*=} ;;
    esac
  done <"$1/$2/$BACKUP_META" || return 1
  [[ $start =~ ^[0-9A-F]{24}$ && $end =~ ^[0-9A-F]{1,8}/[0-9A-F]{1,8}$ && $size =~ ^[1-9][0-9]{0,10}$ ]] || return 1
  # a size PostgreSQL allows: a power of two from 1 MiB to 1 GiB, so it divides a WAL file's 4 GiB
  ((size >= 1048576 && size <= 1073741824 && (size & (size - 1)) == 0)) || return 1
  per=$((0x100000000 / size))
  segno=$((16#${start:8:8} * per + 16#${start:16:8}))
  # the segment number of end_lsn (high 32 bits / low 32 bits), without the 64-bit LSN that could overflow
  last=$((16#${end%/*} * per + 16#${end#*/} / size))
  ((last >= segno && last - segno < 4096)) || return 1
  for (( ; segno <= last; segno++)); do
    printf -v name '%s%08X%08X' "${start:0:8}" $((segno / per)) $((segno % per))
    [[ -f $archive/$name ]] || return 1
  done
}
# restore_base DIR ID DEST WORK [ARCHIVE]: makes the empty folder DEST the data directory of base backup ID, with
# the WAL it needs in pg_wal, and prints the manifest that describes DEST. An incremental backup's chain is
# extracted into the empty folder WORK (the caller removes it) and combined by pg_combinebackup (PostgreSQL 17+),
# which writes DEST's own manifest. With ARCHIVE, the WAL folder recovery's restore_command reads, the backup's
# pg_wal.tar is not extracted when ARCHIVE holds all of its segments: recovery reads a segment from the archive
# first and from pg_wal only when the archive lacks it, so the extracted copies would never be read.
restore_base() {
  local dir=$1 id=$2 dest=$3 work=$4 archive=${5:-} chain member tar wal_tar algorithm inputs=()
  # Every step checks its own status: callers take the manifest's name with $(...), where set -e is off.
  chain=$(backup_chain "$dir" "$id") || return 1
  wal_tar=$(find "$dir/$id" -maxdepth 1 -name 'pg_wal.tar*' -print -quit)
  [[ -n $wal_tar ]] || die "base backup $id has no pg_wal.tar"
  if [[ $chain == "$id" ]]; then
    tar=$(find "$dir/$id" -maxdepth 1 -name 'base.tar*' -print -quit)
    [[ -n $tar ]] || die "base backup $id has no base.tar"
    extract_tar "$tar" "$dest" || die "cannot extract $tar"
    printf '%s\n' "$dir/$id/backup_manifest"
  else
    require_tools_of "$(($(backup_field "$dir" "$id" server_version) / 10000))" pg_combinebackup || return 1
    while read -r member; do
      tar=$(find "$dir/$member" -maxdepth 1 -name 'base.tar*' -print -quit)
      [[ -n $tar ]] || die "base backup $member has no base.tar"
      mkdir -m 0700 -- "$work/$member" || die "cannot create $work/$member"
      extract_tar "$tar" "$work/$member" || die "cannot extract $tar"
      cp -- "$dir/$member/backup_manifest" "$work/$member/" || die "cannot copy the manifest of $member"
      inputs+=("$work/$member")
    done <<<"$chain"
    log "combining base backup $id with the backups it builds on (${chain//$'\n'/ }) by pg_combinebackup"
    if [[ $(id -u) -eq 0 ]]; then chown -R "$PG_OS_USER:" -- "$work" "$dest" || die "cannot chown $work"; fi
    # The backups' own checksum type: pg_combinebackup then carries each unchanged file's checksum over from the
    # backup that holds it, and pg_verifybackup checks the files against those rather than against new ones.
    algorithm=$(grep -m1 -oE '"Checksum-Algorithm": *"[A-Z0-9-]+"' "$dir/$id/backup_manifest" | cut -d'"' -f4) ||
      true
    as_pg "$PG_BIN/pg_combinebackup" --output="$dest" --manifest-checksums="${algorithm:-CRC32C}" -- \
      "${inputs[@]}" >&2 ||
      die "pg_combinebackup could not combine base backup $id with its chain"
    printf '%s\n' "$dest/backup_manifest"
  fi
  mkdir -p -- "$dest/pg_wal" || die "cannot create $dest/pg_wal"
  if [[ -n $archive ]] && backup_wal_archived "$dir" "$id" "$archive"; then
    log "base backup $id: the WAL it needs is in $archive, so its pg_wal.tar is not extracted"
    return 0
  fi
  extract_tar "$wal_tar" "$dest/pg_wal" || die "cannot extract $wal_tar"
}

# ---- metrics ----------------------------------------------------------------------------------------------
# With METRICS_DIR set (a node_exporter textfile collector directory), verbs publish Prometheus text-format
# metrics there: one file per writer, drkit_<service>_<name>.prom, replaced by a rename so that it is never read
# half-written. Every series carries service="<service>". Publishing never fails a job; it is logged instead
# (the alert on absent or stale metrics then tells).
metrics_enabled() { [[ -n ${METRICS_DIR:-} ]]; }
metrics_path() { printf '%s/drkit_%s_%s.prom' "$METRICS_DIR" "$SERVICE" "$1"; }
# publish_metrics NAME: stdin becomes NAME's metrics file.
publish_metrics() {
  local dest tmp=
  if ! metrics_enabled; then
    cat >/dev/null
    return 0
  fi
  dest=$(metrics_path "$1")
  if tmp=$(mktemp "$METRICS_DIR/.drkit_${SERVICE}_$1.XXXXXX" 2>/dev/null) && cat >"$tmp" && chmod 0644 -- "$tmp" &&
    mv -f -- "$tmp" "$dest"; then
    return 0
  fi
  [[ -z $tmp ]] || rm -f -- "$tmp"
  log "WARNING: cannot publish metrics to $dest"
}
# metric_value FILE NAME: the value of the (first) series NAME in a metrics file, empty when there is none.
metric_value() { awk -v m="$2" 'index($0, m "{") == 1 || index($0, m " ") == 1 { print $NF; exit }' "$1" 2>/dev/null; }
# metric_help NAME TYPE HELP: a metric's HELP and TYPE lines.
metric_help() { printf '# HELP %s %s\n# TYPE %s %s\n' "$1" "$3" "$1" "$2"; }

# Job results. track_job JOB after the verb's lock: at exit, drkit_<service>_job_<JOB>.prom records the run
# (label drkit_job="JOB"; not job, which Prometheus sets to the scrape target's): last success and failure
# times, duration, runs and failures so far; for a backup, the verb sets BACKUP_SIZE (bytes) and BACKUP_TYPE
# before it ends, and the size of the backup before is kept.
JOB_LABEL=
JOB_STARTED=
BACKUP_SIZE=
BACKUP_TYPE=
track_job() {
  JOB_LABEL=$1
  printf -v JOB_STARTED '%(%s)T' -1
  on_exit publish_job_metrics
}
publish_job_metrics() {
  local status=$EXIT_STATUS file now labels success=0 failure=0 runs failures size previous previous_type
  metrics_enabled || return 0
  file=$(metrics_path "job_$JOB_LABEL")
  printf -v now '%(%s)T' -1
  labels="service=\"$SERVICE\",drkit_job=\"$JOB_LABEL\""
  success=$(metric_value "$file" drkit_job_last_success_timestamp_seconds)
  failure=$(metric_value "$file" drkit_job_last_failure_timestamp_seconds)
  runs=$(metric_value "$file" drkit_job_runs_total)
  failures=$(metric_value "$file" drkit_job_failures_total)
  size=$(metric_value "$file" drkit_backup_size_bytes)
  previous=$(metric_value "$file" drkit_backup_previous_size_bytes)
  previous_type=$(sed -n 's/^drkit_backup_info{.*type="\([a-z]*\)"} .*/\1/p' "$file" 2>/dev/null | head -n1 || true)
  if ((status == 0)); then
    success=$now
    if [[ -n $BACKUP_SIZE ]]; then
      previous=${size:-$BACKUP_SIZE}
      # A full and an incremental base backup differ in size by nature: each is compared with its own kind.
      [[ -z $previous_type || $previous_type == "$BACKUP_TYPE" ]] || previous=$BACKUP_SIZE
      size=$BACKUP_SIZE
    fi
  else
    failure=$now
    failures=$((${failures:-0} + 1))
  fi
  {
    metric_help drkit_job_last_success_timestamp_seconds gauge "When the job last ended successfully (0: never)."
    printf 'drkit_job_last_success_timestamp_seconds{%s} %s\n' "$labels" "${success:-0}"
    metric_help drkit_job_last_failure_timestamp_seconds gauge "When the job last failed (0: never)."
    printf 'drkit_job_last_failure_timestamp_seconds{%s} %s\n' "$labels" "${failure:-0}"
    metric_help drkit_job_last_duration_seconds gauge "How long the job's last run took."
    printf 'drkit_job_last_duration_seconds{%s} %s\n' "$labels" "$((now - JOB_STARTED))"
    metric_help drkit_job_last_exit_code gauge "The exit status of the job's last run."
    printf 'drkit_job_last_exit_code{%s} %s\n' "$labels" "$status"
    metric_help drkit_job_runs_total counter "Runs of the job recorded here."
    printf 'drkit_job_runs_total{%s} %s\n' "$labels" "$((${runs:-0} + 1))"
    metric_help drkit_job_failures_total counter "Failed runs of the job recorded here."
    printf 'drkit_job_failures_total{%s} %s\n' "$labels" "${failures:-0}"
    if [[ -n $size ]]; then
      metric_help drkit_backup_size_bytes gauge "Size of the newest backup the job made."
      printf 'drkit_backup_size_bytes{%s} %s\n' "$labels" "$size"
      metric_help drkit_backup_previous_size_bytes gauge "Size of the backup the job made before the newest."
      printf 'drkit_backup_previous_size_bytes{%s} %s\n' "$labels" "${previous:-$size}"
    fi
    if [[ -n $BACKUP_TYPE ]]; then
      metric_help drkit_backup_info gauge "The kind of backup the job makes (label type)."
      printf 'drkit_backup_info{%s,type="%s"} 1\n' "$labels" "$BACKUP_TYPE"
    fi
  } | publish_metrics "job_$JOB_LABEL"
}

# ---- long-running verbs (the shipper, the metrics collector) on hosts without systemd -------------------
# daemon_pid PID_FILE: the pid of this verb's instance recorded there, if it still runs.
daemon_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -qa "$VERB" "/proc/$pid/cmdline" && echo "$pid"
}
# start_daemon PID_FILE LOG_FILE: `<verb> run` in the background as this user, unless it already runs.
start_daemon() {
  local pid
  if pid=$(daemon_pid "$1"); then
    log "$VERB already runs (pid $pid)"
    return 0
  fi
  setsid "$0" run </dev/null >>"$2" 2>&1 &
  echo "$!" >"$1"
  log "started $VERB (pid $!, log $2)"
}
# stop_daemon PID_FILE: TERM, ten seconds, then KILL.
stop_daemon() {
  local pid
  if pid=$(daemon_pid "$1"); then
    kill "$pid"
    for _ in {1..100}; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null || kill -KILL "$pid"
    log "stopped $VERB (pid $pid)"
  fi
  rm -f -- "$1"
}
# A handler, not the default action: a container's first process (PID 1) gets SIGTERM only through one.
stop_on_signal() {
  log "stopping (signal)"
  exit 0
}

# ---- PostgreSQL -------------------------------------------------------------------------------------------
# Connection settings: PGHOST (socket directory or address), PGPORT and PGUSER come from the settings file;
# PG_SSLMODE and PG_SSLROOTCERT (pods with TLS) apply to connections over the network (libpq never uses TLS on a
# socket).
pg_env() {
  require_settings PG_BIN PG_OS_USER PGHOST PGPORT PGUSER
  export PGHOST PGPORT PGUSER PGDATABASE=${PGDATABASE:-postgres}
  if [[ -n ${PG_SSLMODE:-} ]]; then
    require_settings PG_SSLROOTCERT
    # shellcheck disable=SC2153 # PG_SSLROOTCERT is a setting, not PGSSLROOTCERT misspelt
    export PGSSLMODE=$PG_SSLMODE PGSSLROOTCERT=$PG_SSLROOTCERT
  fi
}
# server_answers HOST [PG_ISREADY ARGS...]: the server at HOST:PGPORT answers, whatever certificate it shows
# (PGSSLMODE=prefer): one the CA refuses is a server that is up, never taken for none at all.
server_answers() {
  local host=$1
  shift
  PGSSLMODE=prefer "$PG_BIN/pg_isready" -q -h "$host" -p "$PGPORT" "$@"
}
# pg_argv NAME COMMAND...: sets the array NAME to the command line that runs COMMAND as the PostgreSQL OS user,
# whether this script runs as root or as that user (for a command to start without a shell function around it).
pg_argv() {
  local -n argv_of=$1
  shift
  if [[ $(id -u) -eq 0 && $PG_OS_USER != root ]]; then
    argv_of=(runuser -u "$PG_OS_USER" -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER"
      PGDATABASE="$PGDATABASE" PGOPTIONS="${PGOPTIONS:-}" ${PGPASSFILE:+PGPASSFILE="$PGPASSFILE"}
      ${PGSSLMODE:+PGSSLMODE="$PGSSLMODE"} ${PGSSLROOTCERT:+PGSSLROOTCERT="$PGSSLROOTCERT"} "$@")
  else
    argv_of=("$@")
  fi
}
# as_pg COMMAND...: runs a command as the PostgreSQL OS user whether this script runs as root or as that user.
as_pg() {
  local pg_command
  pg_argv pg_command "$@"
  "${pg_command[@]}"
}
sql() { as_pg "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -Atq "$@"; }
# scram_verifier SALT_BASE64 ITERATIONS: the SCRAM-SHA-256 verifier (RFC 5802/7677, PostgreSQL's stored
# format) of the password read on stdin. SASLprep leaves the alphanumeric passwords drkit accepts unchanged.
scram_verifier() {
  perl -MDigest::SHA=hmac_sha256,sha256 -MMIME::Base64 -e '
    my ($salt64, $iterations) = @ARGV;
    my $password = <STDIN> // ""; chomp $password;
    my $salt = decode_base64($salt64);
    my $u = hmac_sha256($salt . pack("N", 1), $password);
    my $salted = $u;
    for (2 .. $iterations) { $u = hmac_sha256($u, $password); $salted ^= $u; }
    my $stored = sha256(hmac_sha256("Client Key", $salted));
    my $server = hmac_sha256("Server Key", $salted);
    print "SCRAM-SHA-256\$$iterations:", encode_base64($salt, ""), "\$", encode_base64($stored, ""), ":",
      encode_base64($server, ""), "\n";' "$1" "$2"
}
# role_password_sql ROLE: an ALTER ROLE that stores the password read on stdin as a SCRAM verifier computed
# here, so neither the server nor its statement log ever sees the password; nothing when the stored verifier
# already belongs to this password (a rerun changes nothing).
role_password_sql() {
  local role=$1 password='' stored verifier
  IFS= read -r password || true
  stored=$(sql -d postgres -c "SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = '$role'")
  if [[ $stored =~ ^SCRAM-SHA-256\$([0-9]+):([A-Za-z0-9+/=]+)\$ ]]; then
    verifier=$(scram_verifier "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}" <<<"$password")
    [[ $verifier != "$stored" ]] || return 0
  fi
  verifier=$(scram_verifier "$(head -c 16 /dev/urandom | base64)" 4096 <<<"$password")
  printf "ALTER ROLE \"%s\" PASSWORD '%s';\n" "$role" "$verifier"
}
# Jobs that only touch backups run as the PostgreSQL OS user; started as root, they switch to it.
become_pg_user() {
  if [[ $(id -u) -eq 0 && $PG_OS_USER != root ]]; then
    exec runuser -u "$PG_OS_USER" -- "$0" "$@"
  fi
}
pg_group() { id -gn "$PG_OS_USER"; }
# require_tools_of MAJOR PROGRAM...: each program in PG_BIN is of PostgreSQL MAJOR. A pg_basebackup of another
# major may copy a server's files, but pg_waldump (also inside pg_verifybackup) cannot parse another major's WAL.
require_tools_of() {
  local major=$1 program version
  shift
  for program in "$@"; do
    [[ -x $PG_BIN/$program ]] ||
      die "$PG_BIN/$program is missing: install the PostgreSQL $major programs and name their folder" \
        "(postgres.binDirectory)"
    version=$("$PG_BIN/$program" --version 2>/dev/null) || die "$PG_BIN/$program --version failed"
    version=$(sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p' <<<"$version")
    [[ $version == "$major" ]] ||
      die "$PG_BIN/$program is PostgreSQL ${version:-of an unknown version} but the server is PostgreSQL $major:" \
        "point postgres.binDirectory at the PostgreSQL $major programs"
  done
}

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
  local i
  for ((i = 0; i < 2000; i++)); do
    [[ -f $1/postmaster.pid ]] && return 0
    sleep 0.005
  done
  return 0
}
# The server must not inherit the lock descriptors of the script that starts it.
# A unit whose server fails while starting can stay "activating" for good (Debian's waits for a pid file without a
# timeout): the start is bounded, and one that does not finish is stopped, so nothing is left half-started.
PG_START_SECONDS=${PG_START_SECONDS:-600}
pg_start() {
  case $PG_MANAGER in
    systemd)
      local status=0
      timeout "$PG_START_SECONDS" systemctl start "$PG_UNIT" || status=$?
      if ((status == 124)); then
        systemctl stop "$PG_UNIT" 2>/dev/null || true
        die "$PG_UNIT did not start within $PG_START_SECONDS s, so it was stopped; see journalctl -u $PG_UNIT"
      fi
      return "$status"
      ;;
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
# repl_conninfo PORT APPLICATION_NAME: how a standby here reaches the primary (REPL_PRIMARY_ADDRESS) on PORT, the
# password from REPL_PASS_FILE, the primary's certificate verified against REPL_TLS_CA when replication uses TLS.
repl_conninfo() {
  printf 'host=%s port=%s user=%s passfile=%s application_name=%s' "$REPL_PRIMARY_ADDRESS" "$1" "$REPL_ROLE" \
    "$REPL_PASS_FILE" "$2"
  [[ -z ${REPL_TLS_CA:-} ]] || printf ' sslmode=verify-full sslrootcert=%s' "$REPL_TLS_CA"
}
# hba_block_first FILE BLOCK DROPPED LINE...: the pg_hba file FILE with drkit's block "# BEGIN drkit $SERVICE BLOCK"
# holding LINE... first (first match wins), the block of that name it had and the one named DROPPED (if any) gone,
# everything else kept, mode and owner too; replaced by a rename. The server is not told: reload it.
hba_block_first() {
  local file=$1 block=$2 dropped=$3 tmp
  shift 3
  tmp=$(mktemp "$file.XXXXXX") || return 1
  if ! {
    echo "# BEGIN drkit $SERVICE $block"
    printf '%s\n' "$@"
    echo "# END drkit $SERVICE $block"
    awk -v begin="# BEGIN drkit $SERVICE " -v end="# END drkit $SERVICE " -v a="$block" -v b="$dropped" '
      $0 == begin a || (b != "" && $0 == begin b) { skip = 1; next }
      $0 == end a || (b != "" && $0 == end b) { skip = 0; next }
      !skip { print }' "$file"
  } >"$tmp" || ! chmod --reference="$file" -- "$tmp" || ! chown --reference="$file" -- "$tmp" ||
    ! mv -- "$tmp" "$file"; then
    rm -f -- "$tmp"
    return 1
  fi
}
# check_replication_tls: with replication TLS (REPL_TLS_CA), a replication connection to the primary as standbys
# make it gets through the TLS handshake with the certificate verified. pg_hba may then turn this host away (it
# admits standbys' addresses only): that answer comes after the handshake and counts. Dies naming what failed,
# e.g. nothing listening at the address, or a certificate or key the server could not load or the CA refuses.
check_replication_tls() {
  [[ -n ${REPL_TLS_CA:-} ]] || return 0
  local out
  out=$(as_pg "$PG_BIN/psql" -X -Atq -c IDENTIFY_SYSTEM \
    "$(repl_conninfo "$REPL_PRIMARY_PORT" drkit_check) dbname=replication replication=true connect_timeout=10" 2>&1) &&
    return 0
  [[ $out == *"pg_hba.conf"*"SSL encryption"* || $out == *"password authentication failed"* ]] && return 0
  die "standbys cannot connect to the primary at $REPL_PRIMARY_ADDRESS:$REPL_PRIMARY_PORT over verified TLS" \
    "(CA $REPL_TLS_CA): ${out#*error: }"
}
# wait_until_streaming: true once this server (a standby) streams from its primary, within STANDBY_STREAM_SECONDS
# (120 by default: a standby first replays what the archive holds through restore_command, which takes its time on
# a loaded host or after a long absence).
wait_until_streaming() {
  local deadline=$((SECONDS + ${STANDBY_STREAM_SECONDS:-120}))
  while :; do
    [[ $(sql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null) == streaming ]] && return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# wait_until_not_streaming SECONDS: true once this server (a standby) no longer streams from its primary (fenced,
# stopped or gone), asked every second; false when it still does after SECONDS.
wait_until_not_streaming() {
  local deadline=$((SECONDS + $1))
  while [[ $(sql -c "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')") == streaming ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

# archive_leftovers: a fenced primary's segments (PGDATA_DIR) marked .ready, archived (each within
# ARCHIVE_SECONDS) and marked .done, as its archiver would have. A failure is reported, not fatal: the failover
# goes on.
readonly ARCHIVE_SECONDS=60
archive_leftovers() {
  local status_dir=$PGDATA_DIR/pg_wal/archive_status ready name archived=() unarchived=()
  if [[ ! -d $status_dir ]]; then
    log "WARNING: the old primary's $status_dir is not reachable: WAL it had not archived stays unarchived," \
      "and a point-in-time restore across this failover cannot replay it"
    return 0
  fi
  for ready in "$status_dir"/*.ready; do
    [[ -e $ready ]] || continue
    name=${ready##*/}
    name=${name%.ready}
    is_wal_name "$name" || continue
    if as_pg timeout --kill-after=5 "$ARCHIVE_SECONDS" "$AGENT_DIR/archive-wal" "$PGDATA_DIR/pg_wal/$name" "$name"; then
      mv -f -- "$ready" "$status_dir/$name.done"
      archived+=("$name")
    else
      unarchived+=("$name")
    fi
  done
  if [[ ${#archived[@]} -gt 0 ]]; then
    log "archived ${#archived[@]} WAL file(s) the old primary had not archived: ${archived[*]}"
  fi
  if [[ ${#unarchived[@]} -gt 0 ]]; then
    log "WARNING: could not archive ${unarchived[*]} from the old primary (see archive-wal's errors above): a" \
      "point-in-time restore across this failover stops before them until they are archived"
  fi
}

# ---- timelines --------------------------------------------------------------------------------------------
# Timeline N's history file (history_name N) lists every ancestor of N, one line each: "<parent> <switch LSN>
# <reason>", the switch LSN being where the branch towards N left that parent. A base backup can be recovered
# along timeline N when it was taken on N, or on an ancestor of N before the branch left that ancestor.
history_name() { printf '%08X.history' "$1"; }
# lsn_number LSN: a WAL location (X/Y, hexadecimal) as one integer, for comparisons; fails on anything else.
lsn_number() {
  [[ $1 =~ ^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$ ]] || return 1
  echo $((16#${BASH_REMATCH[1]} * 4294967296 + 16#${BASH_REMATCH[2]}))
}
# switch_point HISTORY_FILE TLI: the LSN where the history leaves timeline TLI; fails when TLI is no ancestor.
switch_point() {
  [[ -f $1 ]] || return 1
  awk -v tli="$2" '$1 ~ /^[0-9]+$/ && $1 + 0 == tli + 0 { print $2; found = 1; exit } END { exit !found }' "$1"
}
# reaches_timeline HISTORY_DIR TARGET TLI START_LSN [END_LSN]: true when a base backup taken on timeline TLI,
# starting at START_LSN (and consistent at END_LSN, when known), lies on the path to timeline TARGET: TLI is
# TARGET, or an ancestor listed in TARGET's history file (in HISTORY_DIR) whose switch point comes after the
# backup's start and not before its end.
reaches_timeline() {
  local dir=$1 target=$2 tli=$3 start end switch
  [[ $target =~ ^[0-9]+$ && $tli =~ ^[0-9]+$ ]] || return 1
  ((tli == target)) && return 0
  ((tli < target)) || return 1
  start=$(lsn_number "$4") || return 1
  end=$start
  if [[ -n ${5:-} && $5 != - ]]; then end=$(lsn_number "$5") || return 1; fi
  switch=$(switch_point "$dir/$(history_name "$target")" "$tli") || return 1
  switch=$(lsn_number "$switch") || return 1
  ((start < switch && end <= switch))
}
# newest_timeline FROM EXISTS_COMMAND...: PostgreSQL's "latest": starting at timeline FROM, the highest timeline
# reached while the next one's history file exists (EXISTS_COMMAND <history file name> succeeds). Fails past
# 1000 timelines above FROM: an archive that answers yes to everything.
newest_timeline() {
  local from=$1 tli=$1 next
  shift
  while printf -v next '%08X.history' $((tli + 1)) && "$@" "$next"; do
    tli=$((tli + 1))
    ((tli - from < 1000)) || die "more than 1000 timelines above timeline $from in the archive: not believable"
  done
  echo "$tli"
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
  utc_time now_month '%Y %m' "$now"
  now_month=$((${now_month% *} * 12 + 10#${now_month#* }))
  while read -r id; do
    epoch=$(id_epoch "$id")
    age=$((now - epoch))
    utc_time week '%G-W%V' "$epoch"
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
# valkey ID FILE, config ID FILE; without FILE (or NAME) it is the folder to list: "base/", "base/<id>/", "wal/".
offsite_key() {
  local kind=$1 id=${2:-} file=${3:-}
  case $kind in
    base) printf 'base/%s%s' "${id:+$id/}" "${file##*/}" ;;
    wal) printf 'wal/%s' "$id" ;;
    logical | valkey | config) printf '%s/%s' "$kind" "${file##*/}" ;;
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
  # mc's config folder, named after this process: one left by a run that was killed (its process gone) goes now.
  remove_dead_leftovers "${TMPDIR:-/tmp}/drkit-mc."
  MC_HOME=$(mktemp -d "${TMPDIR:-/tmp}/drkit-mc.$$.XXXXXX")
  export MC_CONFIG_DIR=$MC_HOME MC_DISABLE_PAGER=1 MC_NO_COLOR=1
  # A store's own CA: mc trusts every certificate in <config dir>/certs/CAs besides the system's.
  for i in "${!OFFSITE_STORES[@]}"; do
    f=${OFFSITE_CA_FILES[$i]:-}
    [[ -n $f ]] || continue
    [[ -r $f ]] || die "cannot read the CA certificate of object store ${OFFSITE_STORES[$i]} ($f)"
    mkdir -p -- "$MC_HOME/certs/CAs"
    cp -- "$f" "$MC_HOME/certs/CAs/${OFFSITE_ALIASES[$i]}.crt"
  done
}
mc_cleanup() { if [[ -n ${MC_HOME:-} ]]; then rm -rf -- "$MC_HOME"; fi; }
# remove_dead_leftovers PREFIX: removes PREFIX<pid>.* (files or folders this user owns) whose process is gone: what
# a run that was killed left behind in a place named after its process.
remove_dead_leftovers() {
  local stale pid
  for stale in "$1"*; do
    pid=${stale#"$1"}
    pid=${pid%%.*}
    if [[ -e $stale && -O $stale && $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then rm -rf -- "$stale"; fi
  done
}
# mc_call TIMEOUT ARG...: mc with a bound (mc itself has none: an endpoint that swallows packets would hang it).
# TERM after TIMEOUT seconds, KILL 5 s later. A refusal because of the host's clock is reported as such.
mc_call() {
  local limit=$1 out status=0
  shift
  out=$(timeout --kill-after=5 "$limit" "$MC" "$@" 2>&1) || status=$?
  if ((status == 0)); then
    [[ -z $out ]] || printf '%s\n' "$out"
  elif ((status == 124 || status == 137)); then
    printf 'mc %s gave no answer within %ss (timed out)\n' "$1" "$limit" >&2
  elif grep -qiE 'RequestTimeTooSkewed|time.*too (large|skewed)' <<<"$out"; then
    printf 'the store refused the request because this host'"'"'s clock (%s) differs too much from its own: %s\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${out##*$'\n'}" >&2
  else
    printf '%s\n' "$out" >&2
  fi
  return "$status"
}
# mc_quick ARG...: an mc call that moves no data (list, stat, cat of a small object).
mc_quick() { mc_call "${OFFSITE_CALL_TIMEOUT:-60}" "$@"; }
# transfer_timeout FILE: the bound of one upload or download of FILE: OFFSITE_CALL_TIMEOUT plus one second per
# MiB (a store slower than 1 MiB/s counts as failing).
transfer_timeout() {
  local size=0
  [[ ! -e $1 ]] || size=$(stat -c %s -- "$1")
  echo $((${OFFSITE_CALL_TIMEOUT:-60} + size / 1048576))
}
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
# remote_sha STORE_INDEX KEY: prints the object's recorded sha256 and plaintext sha256 (stat_sha), "missing -"
# if there is none; fails when the store cannot be asked (mc stat alone reports an unreachable server as a missing
# object).
remote_sha() {
  local url listing
  url=$(store_url "$1" "$2")
  listing=$(retry "listing $url" mc_quick ls --json "$url") || return 1
  if ! grep -qF "\"key\":\"${2##*/}\"" <<<"$listing"; then
    echo missing -
    return 0
  fi
  stat_sha "$1" "$2"
}

# base64_hex BASE64 VAR: sets VAR to the bytes' lowercase hex. Decoded in the shell: a batch reads back dozens of
# checksums, and a process or two for each costs more than the upload of a small segment.
base64_hex() {
  local in=${1%%=*} alphabet=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ out='' c v
  local -i bits=0 n=0 k
  for ((k = 0; k < ${#in}; k++)); do
    c=${in:k:1}
    v=${alphabet%%"$c"*}
    bits=$(((bits << 6) | ${#v}))
    n+=6
    if ((n >= 8)); then
      n+=-8
      printf -v out '%s%02x' "$out" $(((bits >> n) & 255))
      bits=$((bits & ((1 << n) - 1)))
    fi
  done
  printf -v "$2" '%s' "$out"
}

# marks_mkdir DIR...: folders under OFFSITE_MARKS, group-readable whatever the unit's umask: with Redis on the
# host the marker folder hands its group (Redis's) down, and backup-redis's retention reads the markers.
marks_mkdir() { (umask 0027 && mkdir -p -- "$@"); }
# store_queue STORE: the shipper's queue for one store: an empty entry per WAL file it has not confirmed yet.
store_queue() { printf '%s/%s/wal-queue' "$OFFSITE_MARKS" "$1"; }
# oldest_unshipped_wal: the oldest WAL segment not yet on every store (empty when none); prune keeps it.
oldest_unshipped_wal() {
  local store
  offsite_enabled || return 0
  {
    find "$WAL_DIR" -mindepth 1 -maxdepth 1 -type f -name "$SHIP_QUEUE_PREFIX*" -printf '%f\n'
    if offsite_enabled && [[ -n ${OFFSITE_MARKS:-} ]]; then
      for store in "${OFFSITE_STORES[@]}"; do
        find "$(store_queue "$store")" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' 2>/dev/null || true
      done
    fi
  } | sed "s/^${SHIP_QUEUE_PREFIX//./\\.}//" | grep -E "$WAL_SEGMENT_RE" | sort -k1.9 | head -n1 || true
}
# remote_checksums URL: "<name> <sha256 hex> <plaintext sha256 hex>" for every object under URL (a key or a key
# prefix), from one `mc stat --recursive`. The sha256 is the drkit-sha256 metadata, or else the store's own SHA256
# checksum (uploads with --checksum SHA256, which the store verified against the body); "unknown" when an object
# has neither. The plaintext's is the drkit-plain-sha256 metadata of an encrypted object, "-" without it.
remote_checksums() {
  local out line name sha plain
  out=$(retry "stat of $1" mc_quick stat --recursive --json "$1") || return 1
  while IFS= read -r line; do
    [[ $line =~ \"name\":\"([^\"]+)\" ]] || continue
    name=${BASH_REMATCH[1]}
    if [[ $line =~ \"X-Amz-Meta-Drkit-Sha256\":\"([0-9a-f]{64})\" ]]; then
      sha=${BASH_REMATCH[1]}
    elif [[ $line =~ \"SHA256\":\"([A-Za-z0-9+/]{43}=)\" ]]; then
      base64_hex "${BASH_REMATCH[1]}" sha
    else
      sha=unknown
    fi
    plain=-
    if [[ $line =~ \"X-Amz-Meta-Drkit-Plain-Sha256\":\"([0-9a-f]{64})\" ]]; then plain=${BASH_REMATCH[1]}; fi
    printf '%s %s %s\n' "${name##*/}" "$sha" "$plain"
  done <<<"$out"
}
# stat_sha STORE_INDEX KEY: "<sha256> <plaintext sha256>" of an object known to exist (remote_checksums' fields).
stat_sha() {
  local sums
  # A key is also the prefix of longer ones (000...02 and 000...02.00000028.backup): pick ours.
  sums=$(remote_checksums "$(store_url "$1" "$2")" | sed -n "s/^${2##*/} //p" | head -n1) || return 1
  echo "${sums:-unknown -}"
}
# sha256_program ARRAY: the command (before its FILE... arguments) that prints "<sha256> <name>" per file: OpenSSL
# where it is installed (it uses the CPU's SHA instructions, several times coreutils' speed; it marks each name
# with a leading "*"), sha256sum otherwise. One process, so that it can be run with exec and stopped by its pid.
sha256_program() {
  local -n sha256_command=$1
  if command -v openssl >/dev/null; then
    sha256_command=(openssl dgst -sha256 -r --)
  else
    sha256_command=(sha256sum --)
  fi
}
# sha256_files FILE...: "<sha256>  <name>" per file, as sha256sum prints it.
sha256_files() {
  local program
  sha256_program program
  "${program[@]}" "$@" | sed 's/^\([0-9a-f]\{64\}\) \*/\1  /'
}
# sha256_of FILE: the file's sha256.
sha256_of() {
  local line
  line=$(sha256_files "$1") || return 1
  printf '%s\n' "${line%% *}"
}
# upload_object STORE_INDEX FILE KEY: FILE to KEY, encrypted when the service seals its objects, with the sha256
# of what is stored (and of the plaintext) as metadata, confirmed by reading it back. An object already there with
# the same content counts as uploaded (age never encrypts alike twice: its plaintext sha256 says what it holds); a
# different one is never overwritten.
upload_object() {
  local i=$1 file=$2 key=$3 sha sums remote plain url body attrs want status=0
  url=$(store_url "$i" "$key")
  sha=$(sha256_of "$file") || return 1
  sums=$(remote_sha "$i" "$key") || return 1
  read -r remote plain <<<"$sums"
  if [[ $remote == "$sha" || $plain == "$sha" ]]; then
    return 0
  elif [[ $remote != missing ]]; then
    log "$url exists with sha256 $remote (plaintext ${plain/#-/not recorded}), not $sha; refusing to overwrite it"
    return 1
  fi
  body=$file want=$sha attrs="drkit-sha256=$sha"
  if offsite_sealed; then
    body=$(seal_tmp) || return 1
    seal "$file" "$body" || return 1
    want=$(sha256_of "$body") || return 1
    attrs="drkit-sha256=$want;drkit-plain-sha256=$sha"
  fi
  retry "upload of $file to $url" mc_call "$(transfer_timeout "$body")" cp --quiet --checksum SHA256 \
    --attr "$attrs" -- "$body" "$url" >/dev/null || status=1
  [[ $body == "$file" ]] || rm -f -- "$body"
  ((status == 0)) || return 1
  sums=$(stat_sha "$i" "$key") || return 1
  read -r remote _ <<<"$sums"
  if [[ $remote != "$want" ]]; then
    log "$url reads back sha256 $remote after the upload, expected $want"
    return 1
  fi
}

# ---- client-side encryption (age) ---------------------------------------------------------------------------
# With OFFSITE_AGE_RECIPIENTS (a file of age public keys) every object is encrypted on the host before it leaves;
# the identity that opens them is never on the host: restores are given it (--identity FILE).
readonly AGE_HEADER=age-encryption.org/v1
offsite_sealed() { [[ -n ${OFFSITE_AGE_RECIPIENTS:-} ]]; }
# seal FILE OUT: FILE encrypted to the recipients, into OUT.
seal() {
  command -v age >/dev/null || die "age is not installed: it encrypts this service's off-site copies"
  [[ -r $OFFSITE_AGE_RECIPIENTS ]] || die "cannot read the age recipients $OFFSITE_AGE_RECIPIENTS"
  age --encrypt --recipients-file "$OFFSITE_AGE_RECIPIENTS" --output "$2" "$1"
}
# is_sealed FILE: FILE is an age-encrypted file. Read by bash (no process; a command substitution would warn about
# the NUL bytes of a binary file).
is_sealed() {
  local LC_ALL=C start=''
  IFS= read -r -N ${#AGE_HEADER} start 2>/dev/null <"$1" || true
  [[ $start == "$AGE_HEADER" ]]
}
# unseal FILE OUT IDENTITY_FILE WHAT: decrypts FILE (WHAT, for messages) into OUT; fails naming the identity and
# age's reason when it does not open FILE.
unseal() {
  local out
  command -v age >/dev/null || die "age is not installed: it decrypts this service's off-site copies"
  if ! out=$(age --decrypt --identity "$3" --output "$2" "$1" 2>&1); then
    rm -f -- "$2"
    out=$(grep -m1 'error:' <<<"$out" || echo "$out")
    log "cannot decrypt $4 with the identity in $3: ${out#age: error: }"
    return 1
  fi
}
# require_identity FILE: a readable age identity file (given to a restore: the hosts hold none).
require_identity() {
  [[ -r $1 ]] || die "cannot read the age identity $1"
  grep -q '^AGE-SECRET-KEY-1' -- "$1" || die "$1 holds no age identity (a line AGE-SECRET-KEY-1...)"
}
# seal_tmp: a new file for one encrypted upload, named after this process, in SEAL_DIR (a folder of the job's
# own; the markers' folder by default). upload_object removes it; those of a process killed mid-upload go here.
seal_tmp() {
  local dir=${SEAL_DIR:-$OFFSITE_MARKS}
  remove_dead_leftovers "$dir/.sealing."
  marks_mkdir "$dir"
  mktemp "$dir/.sealing.$$.XXXXXX"
}

# ---- archive ownership and epochs -------------------------------------------------------------------------
# An archive location holds the WAL and base backups of ONE PostgreSQL cluster: the local archive (WAL_DIR and
# BASE_DIR, with the record ARCHIVE_RECORD beside them) and <bucket>/<OFFSITE_PREFIX> in each object store (the
# record <prefix>drkit-archive.env). The first cluster to use a location records itself there (claim-archive, at
# provisioning); WAL of any other cluster is refused. A record is key=value lines: SYSTEM_IDENTIFIER (every WAL
# page header carries it too), PG_MAJOR, TIMELINE and HISTORY_FILES (when claimed), SERVICE, EPOCH, LOCATION,
# CLAIMED_AT. The stack config's archive.epoch starts a new, empty location; the older epochs stay untouched, for
# restores (the ARCHIVE_OLDER_* settings, newest first; use_archive_epoch).
readonly ARCHIVE_OWNER=drkit-archive.env
# record_field FILE KEY: one field of a key=value file, empty when it has none.
record_field() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n1; }
# controldata DIR: pg_controldata of the cluster in DIR, in English whatever the locale.
controldata() { as_pg env LC_ALL=C "$PG_BIN/pg_controldata" -D "$1"; }
# data_dir_sysid DIR: the system identifier of the cluster in DIR; fails when there is none.
data_dir_sysid() {
  local sysid
  sysid=$(controldata "$1" | sed -n 's/^Database system identifier: *\([0-9][0-9]*\)$/\1/p') || return 1
  [[ -n $sysid ]] || return 1
  printf '%s\n' "$sysid"
}
# wal_sysid FILE: the system identifier in a WAL segment's first page header (wal_header); nothing for other files.
wal_sysid() {
  wal_header "$1"
  printf '%s' "$WAL_SYSID"
}
# store_location STORE_INDEX: how messages name a store's location.
store_location() {
  printf 'object store %s (%s/%s)' "${OFFSITE_STORES[$1]}" "${OFFSITE_BUCKETS[$1]}" "${OFFSITE_PREFIX:-}"
}
# store_owner STORE_INDEX: the system identifier recorded in the store's location, "none" when it has no record,
# "unreadable" when its record names none; fails when the store cannot be asked.
store_owner() {
  local url listing record sysid
  url=$(store_url "$1" "$ARCHIVE_OWNER")
  listing=$(retry "listing $url" mc_call "${OFFSITE_CALL_TIMEOUT:-60}" ls --json "$url") || return 1
  if ! grep -qF "\"key\":\"$ARCHIVE_OWNER\"" <<<"$listing"; then
    echo none
    return 0
  fi
  record=$(retry "reading $url" mc_call "${OFFSITE_CALL_TIMEOUT:-60}" cat "$url") || return 1
  sysid=$(sed -n 's/^SYSTEM_IDENTIFIER=\([0-9][0-9]*\)$/\1/p' <<<"$record" | head -n1)
  echo "${sysid:-unreadable}"
}
# check_store_owner STORE_INDEX SYSID: 0 when the store's location belongs to SYSID (or is not claimed yet, or
# SYSID is empty: an unclaimed local archive, `check_store_owner "$i" "$(archive_owner)"`), 1 when it belongs to
# another cluster (logged, naming both), 2 when the store cannot be asked. Call it in the main shell, not in $(...):
# a location found to be SYSID's, or unclaimed, is not asked again by this process (a long-running shipper asks
# once per store; claim-archive claims at provisioning, and a shipper started again asks again).
STORE_OWNER_CONFIRMED=()
STORE_OWNER_UNCLAIMED=()
check_store_owner() {
  local i=$1 sysid=$2 owner
  [[ -n $sysid && ${STORE_OWNER_CONFIRMED[$i]:-} != "$sysid" && -z ${STORE_OWNER_UNCLAIMED[$i]:-} ]] || return 0
  owner=$(store_owner "$i") || {
    log "cannot ask $(store_location "$i") which cluster its archive belongs to"
    return 2
  }
  case $owner in
    "$sysid") STORE_OWNER_CONFIRMED[i]=$sysid ;;
    none) STORE_OWNER_UNCLAIMED[i]=yes ;;
    *)
      log "ERROR: $(foreign_archive "$(store_location "$i")" "$owner" "$sysid")"
      return 1
      ;;
  esac
}
# use_archive_epoch N: BASE_DIR, WAL_DIR, ARCHIVE_RECORD, OFFSITE_PREFIX and OFFSITE_MARKS of archive epoch N (the
# current one, or one of ARCHIVE_OLDER_EPOCHS); a usage error for any other N.
use_archive_epoch() {
  local n=$1 i
  [[ $n =~ ^[1-9][0-9]*$ ]] || usage_error "an archive epoch is a whole number from 1, not '$n'"
  [[ $n != "${ARCHIVE_EPOCH:-1}" ]] || return 0
  if declare -p ARCHIVE_OLDER_EPOCHS >/dev/null 2>&1; then
    for i in "${!ARCHIVE_OLDER_EPOCHS[@]}"; do
      [[ ${ARCHIVE_OLDER_EPOCHS[$i]} == "$n" ]] || continue
      BASE_DIR=${ARCHIVE_OLDER_BASE_DIRS[$i]}
      WAL_DIR=${ARCHIVE_OLDER_WAL_DIRS[$i]}
      ARCHIVE_RECORD=${ARCHIVE_OLDER_RECORDS[$i]}
      OFFSITE_PREFIX=${ARCHIVE_OLDER_PREFIXES[$i]}
      OFFSITE_MARKS=${ARCHIVE_OLDER_MARKS[$i]}
      return 0
    done
  fi
  usage_error "archive epoch $n is neither the current one (${ARCHIVE_EPOCH:-1}) nor an older one of this" \
    "service (${ARCHIVE_OLDER_EPOCHS[*]:-none})"
}

# ---- Redis/Valkey -----------------------------------------------------------------------------------------
# redis-cli against the service's server: REDIS_TARGET is "-s SOCKET" or "-h ADDRESS -p PORT" (then, with TLS,
# "--tls --cacert CA [--cert CERT --key KEY] [--sni NAME]"). With REDIS_AUTH_FILE (a 0600 file holding the
# password; REDIS_AUTH_USER names an ACL user, else the default user) the password reaches redis-cli in
# REDISCLI_AUTH, never in its arguments.
redis_env() {
  require_settings REDIS_CLI REDIS_TARGET
  REDIS_AUTH=
  [[ -n ${REDIS_AUTH_FILE:-} ]] || return 0
  [[ -r $REDIS_AUTH_FILE ]] || die "cannot read the Redis credentials file $REDIS_AUTH_FILE as $(id -un)"
  IFS= read -r REDIS_AUTH <"$REDIS_AUTH_FILE" || true
  [[ -n $REDIS_AUTH ]] || die "the Redis credentials file $REDIS_AUTH_FILE holds no password"
}
rcli() {
  if [[ -n ${REDIS_AUTH:-} ]]; then
    REDISCLI_AUTH=$REDIS_AUTH "$REDIS_CLI" ${REDIS_AUTH_USER:+--user "$REDIS_AUTH_USER"} "${REDIS_TARGET[@]}" "$@"
  else
    "$REDIS_CLI" "${REDIS_TARGET[@]}" "$@"
  fi
}
# redis_ping: true when the server answers PING, false when nothing does; a refused login or a failed TLS
# handshake is an error naming what to check, never taken for a stopped server.
redis_ping() {
  local reply
  reply=$(rcli PING 2>&1) || true
  case $reply in
    *PONG) return 0 ;;
    *NOAUTH* | *WRONGPASS* | *"invalid password"* | *"invalid username-password"*)
      [[ -n ${REDIS_AUTH_FILE:-} ]] || die "the server requires authentication: set redis.auth (its password," \
        "and user for an ACL user) in the stack config"
      die "the server refused the credentials in $REDIS_AUTH_FILE${REDIS_AUTH_USER:+ (user $REDIS_AUTH_USER)}:" \
        "${reply//$'\n'/ }"
      ;;
    *SSL_connect* | *"certificate verify failed"* | *"Failed to configure SSL"* | *"Invalid CA Certificate"*)
      die "TLS to the server failed (check redis.tls: the CA that signed its certificate, the client" \
        "certificate): ${reply//$'\n'/ }"
      ;;
    *) return 1 ;;
  esac
}
# info_field SECTION FIELD: one field of INFO, without the trailing carriage return.
info_field() { rcli INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"; }
# wait_for_ping TRIES: true once the server answers PING (TRIES times 0.2 s at most).
wait_for_ping() {
  local _
  for _ in $(seq 1 "$1"); do
    redis_ping && return 0
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
      local i pid
      for ((i = 0; i < 100; i++)); do
        # Asked again every half second: a server that is still starting (its pid file written, its socket not
        # yet open) refuses the connection, and would otherwise be waited for in vain.
        if ((i % 5 == 0)); then rcli SHUTDOWN NOSAVE >/dev/null 2>&1 || true; fi
        [[ -f $REDIS_PID_FILE ]] || return 0
        # A pid file whose process is gone (a server killed, a host that lost power) is stale.
        pid=$(cat -- "$REDIS_PID_FILE" 2>/dev/null || true)
        if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null && [[ ! -e /proc/$pid ]]; then
          rm -f -- "$REDIS_PID_FILE"
          return 0
        fi
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
# redis_restore_lock: restore-redis's lock, in the data directory (root and the server's OS user can both write
# there). apply-redis-settings takes it too, so it never switches AOF back on under a restore in progress.
redis_restore_lock() {
  [[ -d $REDIS_DATA_DIR ]] || die "the data directory $REDIS_DATA_DIR does not exist"
  LOCK_DIR=$REDIS_DATA_DIR take_lock .drkit-restore
  if [[ $(id -u) -eq 0 ]]; then chown -- "$REDIS_OS_USER" "$REDIS_DATA_DIR/.drkit-restore.lock" 2>/dev/null || true; fi
}
# set_drop_in_appendonly yes|no: the drop-in's `appendonly` line set to that value, rewritten atomically (temp
# file, fsync, rename) and only if it differs; prints "changed" when it did.
set_drop_in_appendonly() {
  local want=$1 tmp
  grep -qxE 'appendonly (yes|no)' -- "$REDIS_DROP_IN" || die "$REDIS_DROP_IN has no 'appendonly yes|no' line"
  ! grep -qx "appendonly $want" -- "$REDIS_DROP_IN" || return 0
  tmp=$(mktemp "$(dirname -- "$REDIS_DROP_IN")/.$(basename -- "$REDIS_DROP_IN").XXXXXX")
  sed -E "s/^appendonly (yes|no)\$/appendonly $want/" -- "$REDIS_DROP_IN" >"$tmp"
  chmod --reference="$REDIS_DROP_IN" -- "$tmp"
  if [[ $(id -u) -eq 0 ]]; then chown --reference="$REDIS_DROP_IN" -- "$tmp"; fi
  sync -- "$tmp"
  mv -f -- "$tmp" "$REDIS_DROP_IN"
  echo changed
}
# redis_drop_in_as_configured: the drop-in's AOF setting as configured (REDIS_AOF) again. restore-redis switches
# it off while it restores; a restore that was killed leaves it off, and the next restore-redis or
# apply-redis-settings puts it back (under redis_restore_lock), with the temp files such a run may have left.
redis_drop_in_as_configured() {
  local want=no
  ! is_true "$REDIS_AOF" || want=yes
  remove_leftovers "$(dirname -- "$REDIS_DROP_IN")" ".$(basename -- "$REDIS_DROP_IN").??????"
  local changed
  changed=$(set_drop_in_appendonly "$want")
  if [[ $changed == changed ]]; then
    log "set 'appendonly $want' in $REDIS_DROP_IN again, as configured: a restore that did not finish had changed it"
  fi
}
