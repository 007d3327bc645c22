import type { OffsitePlan, OffsiteTargetPlan } from "../plan/offsite";
import type { ServicePlan } from "../plan/plan";
import { BACKUP_META } from "./baseBackup";
import { header, settings } from "./shell";

export const shipScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/ship-offsite`;
export const fetchScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/fetch-offsite`;

/**
 * mc's MC_HOST_<alias> value. mc splits it with patterns and uses the keys exactly as written (it does not
 * URL-decode them; the host is what follows the last '@'), so keys go in verbatim; ':' or '@' in the access key
 * or whitespace in either cannot be
 * written unambiguously and is refused (naming the store, never the value).
 */
export function mcHostUrl(store: string, endpoint: string, accessKey: string, secretKey: string): string {
  if (/[:@\s]/.test(accessKey)) throw new Error(`object store ${store}: the access key contains ':', '@' or whitespace, which mc cannot take in MC_HOST_*`);
  if (/\s/.test(secretKey)) throw new Error(`object store ${store}: the secret key contains whitespace, which mc cannot take in MC_HOST_*`);
  const url = new URL(endpoint);
  return `${url.protocol}//${accessKey}:${secretKey}@${url.host}`;
}

/** The line of a target's 0600 credentials file: mc reads MC_HOST_<alias> from the environment. */
export function credentialsFileContent(target: OffsiteTargetPlan, accessKey: string, secretKey: string): string {
  return `# drkit: credentials of object store ${target.store} for mc; keep this file mode 0600\nMC_HOST_${target.alias}=${mcHostUrl(target.store, target.endpoint, accessKey, secretKey)}\n`;
}

/** Settings and helpers shared by ship-offsite and fetch-offsite: credentials, mc, retries. */
function mcLib(o: OffsitePlan): string {
  return `${settings({
    MC: o.mc,
    STORES: o.targets.map((t) => t.store),
    ALIASES: o.targets.map((t) => t.alias),
    BUCKETS: o.targets.map((t) => t.bucket),
    CREDENTIALS: o.targets.map((t) => t.credentialsFile),
    PREFIX: o.targets[0]?.prefix ?? "",
    ATTEMPTS: o.retryAttempts,
    FIRST_DELAY: o.retryInitialDelaySeconds,
  })}
[[ -x $MC ]] || die "mc is not installed at $MC"
# Keys come from the 0600 files into the environment, never onto a command line.
for i in "\${!STORES[@]}"; do
  f=\${CREDENTIALS[$i]}
  [[ -r $f ]] || die "cannot read the credentials of object store \${STORES[$i]} ($f)"
  line=$(grep -m1 "^MC_HOST_\${ALIASES[$i]}=" "$f") || die "$f has no MC_HOST_\${ALIASES[$i]}= line"
  export "\${line%%=*}=\${line#*=}"
done
mc_home=$(mktemp -d "\${TMPDIR:-/tmp}/drkit-mc.XXXXXX")
trap 'rm -rf -- "$mc_home"' EXIT
export MC_CONFIG_DIR=$mc_home MC_DISABLE_PAGER=1 MC_NO_COLOR=1

url_of() { printf '%s/%s/%s%s' "\${ALIASES[$1]}" "\${BUCKETS[$1]}" "$PREFIX" "$2"; }

# retry DESCRIPTION COMMAND...: runs COMMAND until it succeeds, backing off exponentially.
retry() {
  local what=$1 attempt=1 delay=$FIRST_DELAY out
  shift
  while true; do
    if out=$("$@" 2>&1); then
      [[ -z $out ]] || printf '%s\\n' "$out"
      return 0
    fi
    if (( attempt >= ATTEMPTS )); then
      log "$what failed after $attempt attempt(s): \${out//$'\\n'/ }"
      return 1
    fi
    log "$what failed (attempt $attempt of $ATTEMPTS), retrying in \${delay}s: \${out##*$'\\n'}"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}

# remote_sha STORE_INDEX KEY: prints the object's recorded sha256, "missing" if there is none;
# fails when the store cannot be asked (mc stat alone reports an unreachable server as a missing object).
remote_sha() {
  local listing stat sha
  listing=$(retry "listing $(url_of "$1" "$2")" "$MC" ls --json "$(url_of "$1" "$2")") || return 1
  if ! grep -qF "\\"key\\":\\"\${2##*/}\\"" <<<"$listing"; then
    echo missing
    return 0
  fi
  stat=$(retry "stat of $(url_of "$1" "$2")" "$MC" stat --json "$(url_of "$1" "$2")") || return 1
  # mc stat also reports objects the key is a prefix of (000...02 and 000...02.00000028.backup): pick ours.
  sha=$(grep -F "\\"name\\":\\"\${2##*/}\\"" <<<"$stat" | sed -n 's/.*"X-Amz-Meta-Drkit-Sha256":"\\([0-9a-f]*\\)".*/\\1/p' | head -n1) || true
  echo "\${sha:-unknown}"
}
`;
}

/** Confirmation markers: a backup may be pruned locally only once every target has it. */
export function offsiteConfirmedFunction(plan: ServicePlan): string {
  const o = plan.offsite;
  if (!o) return `confirmed_offsite() { return 0; }\n`;
  return `${settings({ OFFSITE_MARKS: o.markerDir, OFFSITE_STORES: o.targets.map((t) => t.store) })}
# confirmed_offsite KIND ID: true when every object store confirmed the backup (ship-offsite wrote a marker).
confirmed_offsite() {
  local store
  for store in "\${OFFSITE_STORES[@]}"; do
    [[ -e $OFFSITE_MARKS/$store/$1/$2 ]] || return 1
  done
}
`;
}

/**
 * Uploads backups and WAL to every configured object store. Each object carries its sha256 as metadata; an
 * upload counts only when the store reports that sha256 back, and then a marker is written so retention may
 * prune the local copy. An object already there with the same sha256 is skipped; a different one is an error
 * (nothing is overwritten). Failures retry with exponential backoff, then exit non-zero.
 */
export function renderShipScript(plan: ServicePlan): string {
  const o = plan.offsite!;
  return `${header({
    job: `drkit-${plan.name}-ship-offsite`,
    purpose: `Uploads ${plan.name}'s backups and WAL to its object stores (${o.targets.map((t) => t.store).join(", ")}), confirmed by checksum.`,
    usage: "ship-offsite wal <path> <name> | base <id> | logical <id> | valkey <id> | pending | status",
  })}
${mcLib(o)}
${settings({
  MARKS: o.markerDir,
  BASE_DIR: plan.paths.baseDir,
  LOGICAL_DIR: plan.paths.logicalDir,
  VALKEY_DIR: plan.redis?.backupDir ?? "",
  META: BACKUP_META,
})}

# upload STORE_INDEX FILE KEY
upload() {
  local i=$1 file=$2 key=$3 sha remote
  sha=$(sha256sum -- "$file" | cut -d' ' -f1)
  remote=$(remote_sha "$i" "$key") || return 1
  if [[ $remote == "$sha" ]]; then
    return 0
  elif [[ $remote != missing ]]; then
    log "$(url_of "$i" "$key") exists with sha256 $remote, not $sha; refusing to overwrite it"
    return 1
  fi
  retry "upload of $file to $(url_of "$i" "$key")" "$MC" cp --quiet --attr "drkit-sha256=$sha" -- "$file" "$(url_of "$i" "$key")" >/dev/null || return 1
  remote=$(remote_sha "$i" "$key") || return 1
  [[ $remote == "$sha" ]] || { log "$(url_of "$i" "$key") reads back sha256 $remote after the upload, expected $sha"; return 1; }
}

mark() {
  mkdir -p -- "$MARKS/$1/$2"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$MARKS/$1/$2/.$3.tmp"
  mv -- "$MARKS/$1/$2/.$3.tmp" "$MARKS/$1/$2/$3"
}

# ship_set KIND ID FILE... : uploads the files (the last one last: it marks the set complete remotely), then marks it.
ship_set() {
  local kind=$1 id=$2 i f failed=0
  shift 2
  for i in "\${!STORES[@]}"; do
    [[ -e $MARKS/\${STORES[$i]}/$kind/$id ]] && continue
    for f in "$@"; do
      if ! upload "$i" "$f" "$kind/$(set_key "$kind" "$id" "$f")"; then failed=1; continue 2; fi
    done
    mark "\${STORES[$i]}" "$kind" "$id"
    log "$kind $id confirmed on \${STORES[$i]} ($# file(s))"
  done
  return "$failed"
}
set_key() { if [[ $1 == base ]]; then printf '%s/%s' "$2" "\${3##*/}"; else printf '%s' "\${3##*/}"; fi; }

base_files() {
  local dir=$BASE_DIR/$1
  [[ -f $dir/$META ]] || { log "no complete base backup $1 in $BASE_DIR"; return 1; }
  find "$dir" -maxdepth 1 -type f ! -name "$META" | sort
  echo "$dir/$META"
}
# A logical set is complete once its globals file exists (written last); it is uploaded last too.
logical_files() {
  [[ -f $LOGICAL_DIR/globals_$1.sql ]] || { log "logical backup $1 is not complete"; return 1; }
  find "$LOGICAL_DIR" -maxdepth 1 -type f -name "*_$1.custom.dump" | sort
  echo "$LOGICAL_DIR/globals_$1.sql"
}
valkey_files() {
  [[ -f $VALKEY_DIR/dump_$1.meta ]] || { log "snapshot $1 is not complete"; return 1; }
  local f
  for f in "dump_$1.rdb" "dump_$1.rdb.sha256" "dump_$1.meta"; do echo "$VALKEY_DIR/$f"; done
}

ship_kind() {
  local kind=$1 id=$2 files
  mapfile -t files < <("\${kind}_files" "$id")
  [[ \${#files[@]} -gt 0 ]] || { log "nothing to ship for $kind $id"; return 1; }
  ship_set "$kind" "$id" "\${files[@]}"
}

ship_wal() {
  local src=$1 name=$2 i
  [[ $name =~ ^([0-9A-F]{24}(\\.partial|\\.[0-9A-F]{8}\\.backup)?|[0-9A-F]{8}\\.history)$ ]] || die "refusing to ship unexpected WAL file name '$name'"
  for i in "\${!STORES[@]}"; do
    upload "$i" "$src" "wal/$name" || die "WAL $name is not off-site on \${STORES[$i]}; PostgreSQL keeps it and retries"
  done
}

ids_in() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\\n' 2>/dev/null | grep -oE "$2" | sort -u; }

pending() {
  local failed=0 id
  while read -r id; do ship_kind base "$id" || failed=1; done < <(ids_in "$BASE_DIR" '^[0-9]{8}T[0-9]{6}Z$')
  while read -r id; do ship_kind logical "$id" || failed=1; done < <(ids_in "$LOGICAL_DIR" '[0-9]{8}T[0-9]{6}Z')
  if [[ -n $VALKEY_DIR ]]; then
    while read -r id; do ship_kind valkey "$id" || failed=1; done < <(ids_in "$VALKEY_DIR" '^dump_[0-9]{8}T[0-9]{6}Z\\.rdb$' | grep -oE '[0-9]{8}T[0-9]{6}Z')
  fi
  return "$failed"
}

status() {
  local i kind id
  for i in "\${!STORES[@]}"; do
    for kind in base logical valkey; do
      while read -r id; do printf '%s %s %s confirmed %s\\n' "\${STORES[$i]}" "$kind" "$id" "$(cat "$MARKS/\${STORES[$i]}/$kind/$id")"; done < <(ids_in "$MARKS/\${STORES[$i]}/$kind" '.+')
    done
  done
}

command=\${1:-}
case $command in
  wal) [[ $# -eq 3 ]] || die "usage: ship-offsite wal <path> <name>"; ship_wal "$2" "$3" ;;
  base | logical | valkey)
    [[ $# -eq 2 && $2 =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || die "usage: ship-offsite $command <backup id YYYYMMDDTHHMMSSZ>"
    ship_kind "$command" "$2" || die "$command $2 is not confirmed on every object store; the local copy is kept and the next run retries"
    ;;
  "" | pending) pending || die "some backups are not confirmed off-site yet; see the lines above"; log "every local backup is confirmed off-site" ;;
  status) status ;;
  *) die "usage: ship-offsite wal <path> <name> | base <id> | logical <id> | valkey <id> | pending | status" ;;
esac
`;
}

/**
 * Reads backups back from the object stores, for a restore when the host's own copies are gone: the base
 * backup to use (by id or by recovery target), its files (checked against their recorded sha256), and single
 * WAL segments as PostgreSQL's restore_command.
 */
export function renderFetchScript(plan: ServicePlan): string {
  const o = plan.offsite!;
  return `${header({
    job: `drkit-${plan.name}-fetch-offsite`,
    purpose: `Fetches ${plan.name}'s base backups and WAL back from its object stores.`,
    usage: "fetch-offsite choose-base [TARGET_EPOCH] | base <id> <dir> | wal <name> <path>   [--store NAME]",
  })}
${mcLib(o)}
${settings({ META: BACKUP_META })}
store=0
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --store)
      found=
      for i in "\${!STORES[@]}"; do [[ \${STORES[$i]} == "\${2:-}" ]] && found=$i; done
      [[ -n $found ]] || die "--store must be one of: \${STORES[*]}"
      store=$found
      shift 2
      ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "\${args[@]}"

# fetch KEY DEST: downloads one object and checks its sha256 against the one recorded at upload.
fetch() {
  local key=$1 dest=$2 expected actual
  expected=$(remote_sha "$store" "$key") || return 2
  [[ $expected != missing ]] || return 1
  retry "download of $(url_of "$store" "$key")" "$MC" cp --quiet -- "$(url_of "$store" "$key")" "$dest.fetching" >/dev/null || return 2
  actual=$(sha256sum -- "$dest.fetching" | cut -d' ' -f1)
  if [[ $expected != unknown && $actual != "$expected" ]]; then
    rm -f -- "$dest.fetching"
    log "$(url_of "$store" "$key") has sha256 $actual, recorded $expected"
    return 2
  fi
  mv -- "$dest.fetching" "$dest"
}

# The complete base backups (their metadata file is uploaded last), newest first, as "id end_epoch".
list_bases() {
  local listing id
  listing=$(retry "listing base backups" "$MC" ls --json --recursive "$(url_of "$store" base/)") || die "cannot list base backups on \${STORES[$store]}"
  while read -r id; do
    printf '%s %s\\n' "$id" "$("$MC" cat "$(url_of "$store" "base/$id/$META")" | sed -n 's/^end_epoch=//p')"
  done < <(grep -oE "\\"key\\":\\"[0-9]{8}T[0-9]{6}Z/$META\\"" <<<"$listing" | grep -oE '[0-9]{8}T[0-9]{6}Z' | sort -r)
}

case \${1:-} in
  choose-base)
    target=\${2:-}
    while read -r id end; do
      if [[ -z $target ]] || (( end < target )); then echo "$id"; exit 0; fi
    done < <(list_bases)
    die "no complete base backup on \${STORES[$store]} finished before \${target:-now}"
    ;;
  base)
    [[ $# -eq 3 && $2 =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || die "usage: fetch-offsite base <id> <dir>"
    id=$2 dir=$3
    mkdir -p -- "$dir"
    listing=$(retry "listing base backup $id" "$MC" ls --json "$(url_of "$store" "base/$id/")") || die "cannot list base backup $id on \${STORES[$store]}"
    mapfile -t names < <(grep -oE '"key":"[^"/]+"' <<<"$listing" | sed 's/^"key":"//; s/"$//')
    [[ " \${names[*]} " == *" $META "* ]] || die "base backup $id on \${STORES[$store]} is incomplete (no $META)"
    for name in "\${names[@]}"; do
      fetch "base/$id/$name" "$dir/$name" || die "could not fetch base/$id/$name from \${STORES[$store]}"
    done
    log "fetched base backup $id (\${#names[@]} files) from \${STORES[$store]} into $dir"
    ;;
  wal)
    [[ $# -eq 3 ]] || die "usage: fetch-offsite wal <name> <path>"
    [[ $2 =~ ^([0-9A-F]{24}(\\.partial|\\.[0-9A-F]{8}\\.backup)?|[0-9A-F]{8}\\.history)$ ]] || die "unexpected WAL file name '$2'"
    status=0
    fetch "wal/$2" "$3" || status=$?
    # 1: not archived (the normal end of recovery). Unreachable store: 126 makes PostgreSQL abort recovery
    # instead of taking a gap in the archive for its end and promoting early.
    case $status in
      0) ;;
      1) exit 1 ;;
      *) log "object store \${STORES[$store]} unreachable while fetching WAL $2; aborting recovery"; exit 126 ;;
    esac
    ;;
  *) die "usage: fetch-offsite choose-base [TARGET_EPOCH] | base <id> <dir> | wal <name> <path> [--store NAME]" ;;
esac
`;
}
