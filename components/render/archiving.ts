import type { ServicePlan } from "../plan/plan";
import { shipScriptPath } from "./offsite";
import { header, settings, shq } from "./shell";

/** How a setting takes effect: `postmaster` ones need a restart, `sighup` ones a reload. */
export type SettingContext = "postmaster" | "sighup";

export interface PgSetting {
  readonly name: string;
  readonly value: string;
  readonly context: SettingContext;
}

export const archiveScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/archive-wal`;
export const applySettingsScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/apply-settings`;
export const archiveDropInPath = (plan: ServicePlan) =>
  `${plan.postgres.configDirectory}/90-drkit-${plan.name}-archiving.conf`;

/** The WAL archiving settings for PostgreSQL 13-17, with the context each one needs to change. */
export function archiveSettings(plan: ServicePlan): PgSetting[] {
  const list: PgSetting[] = [
    { name: "wal_level", value: "replica", context: "postmaster" },
    { name: "archive_mode", value: "on", context: "postmaster" },
    { name: "archive_command", value: `${archiveScriptPath(plan)} %p %f`, context: "sighup" },
    { name: "archive_timeout", value: String(plan.archiveTimeoutSeconds), context: "sighup" },
  ];
  // From 15 on an archive_library wins over archive_command (and from 16 setting both is an error).
  if (plan.postgres.version >= 15) list.push({ name: "archive_library", value: "", context: "sighup" });
  return list;
}

const confValue = (value: string) => (/^[0-9]+$/.test(value) ? value : `'${value.replace(/'/g, "''")}'`);

export function renderArchiveDropIn(plan: ServicePlan): string {
  const lines = archiveSettings(plan).map((s) => `${s.name} = ${confValue(s.value)}`);
  return `# WAL archiving for ${plan.name}, rendered by drkit.
# RPO ${plan.rpoSeconds}s -> archive_timeout ${plan.archiveTimeoutSeconds}s (headroom left for the copy to the archive).
# wal_level and archive_mode need a server restart; the others a reload.
${lines.join("\n")}
`;
}

/** Setting names whose change needs a restart, between two renderings. */
export function settingsNeedingRestart(before: readonly PgSetting[], after: readonly PgSetting[]): string[] {
  const old = new Map(before.map((s) => [s.name, s.value]));
  return after.filter((s) => s.context === "postmaster" && old.get(s.name) !== s.value).map((s) => s.name);
}

/**
 * The archive_command. A file already archived with identical content is success, a different one is
 * failure; the copy is written to a temp file, fsynced and linked into place, so nothing is overwritten.
 */
export function renderArchiveScript(plan: ServicePlan): string {
  return `${header({
    job: `drkit-${plan.name}-archive-wal`,
    purpose: `PostgreSQL archive_command for ${plan.name}: copies one WAL file into the archive, atomically, never overwriting.`,
    usage: "archive-wal <path of the WAL file (%p)> <its file name (%f)>",
  })}
${settings({ ARCHIVE_DIR: plan.paths.walDir })}

[[ $# -eq 2 ]] || die "usage: archive-wal <%p> <%f>"
src=$1
name=$2
[[ $name =~ ^([0-9A-F]{24}(\\.partial|\\.[0-9A-F]{8}\\.backup)?|[0-9A-F]{8}\\.history)$ ]] ||
  die "refusing to archive unexpected file name '$name'"
[[ -f $src ]] || die "WAL file $src does not exist"
dest=$ARCHIVE_DIR/$name

already_archived() {
  if cmp -s -- "$src" "$dest"; then
    log "$name is already archived with identical content"
    return 0
  fi
  die "$dest already exists with different content; refusing to overwrite it"
}

archive_locally() {
  local tmp
  tmp=$(mktemp "$ARCHIVE_DIR/.$name.XXXXXX")
  cp -- "$src" "$tmp"
  sync -- "$tmp"
  # link(2) fails if the name exists, so a concurrent copy is never overwritten.
  if ! ln -- "$tmp" "$dest" 2>/dev/null; then
    rm -f -- "$tmp"
    [[ -e $dest ]] || die "could not link $tmp to $dest"
    already_archived
    return
  fi
  rm -f -- "$tmp"
  sync -- "$ARCHIVE_DIR"
}

if [[ -e $dest ]]; then
  already_archived
else
  archive_locally
fi
${plan.offsite ? `# Off-site before success: PostgreSQL keeps the segment and retries until every object store has it,
# so the off-host copy lags the archive by one upload, not by a shipping interval.
${shq(shipScriptPath(plan))} wal "$src" "$name"
` : ""}`;
}

/**
 * Applies the drop-in: reload, wait until the server has read it, then restart only if a setting
 * that needs one is pending (PostgreSQL reports that itself in pg_settings.pending_restart).
 */
export function renderApplySettingsScript(plan: ServicePlan, shellLib: { env: string; manager: string }): string {
  const sighup = archiveSettings(plan).filter((s) => s.context === "sighup" && s.name === "archive_timeout");
  return `${header({
    job: `drkit-${plan.name}-apply-settings`,
    purpose: `Makes PostgreSQL for ${plan.name} load drkit's settings: reload, and restart only when a changed setting needs it.`,
  })}
${shellLib.env}
${shellLib.manager}
${settings({ DROP_IN: archiveDropInPath(plan), EXPECTED_ARCHIVE_TIMEOUT: sighup[0]?.value ?? "" })}

# With --removed the drop-in is gone: reload (and restart if needed) without expecting its values.
removed=no
[[ \${1:-} == --removed ]] && removed=yes

if ! pg_running; then
  log "PostgreSQL is not running; $DROP_IN takes effect when it starts"
  exit 0
fi

errors=$(sql -c "SELECT sourcefile || ':' || sourceline || ': ' || error FROM pg_file_settings WHERE error IS NOT NULL AND error <> 'setting could not be applied'")
[[ -z $errors ]] || die "PostgreSQL rejects its configuration: $errors"

loaded_before=$(sql -c "SELECT pg_conf_load_time()")
sql -c "SELECT pg_reload_conf()" >/dev/null
# The reload is asynchronous: wait until new sessions see a newer configuration load time.
for _ in $(seq 1 100); do
  [[ $(sql -c "SELECT pg_conf_load_time() > '$loaded_before'::timestamptz") == t ]] && break
  sleep 0.1
done
current=$(sql -c "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'")
[[ $removed == yes || $current == "$EXPECTED_ARCHIVE_TIMEOUT" ]] ||
  die "after a reload archive_timeout is $current, expected $EXPECTED_ARCHIVE_TIMEOUT: is $DROP_IN in an include_dir of postgresql.conf?"

pending=$(sql -c "SELECT string_agg(name, ', ' ORDER BY name) FROM pg_settings WHERE pending_restart")
if [[ -n $pending ]]; then
  log "restarting PostgreSQL: changed setting(s) $pending take effect only on restart"
  pg_restart
  for _ in $(seq 1 120); do
    sql -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.5
  done
  sql -c "SELECT 1" >/dev/null || die "PostgreSQL did not come back after the restart; see $(pg_log_hint)"
else
  log "reloaded; no setting needs a restart"
fi
log "archive_mode=$(sql -c "SHOW archive_mode") archive_timeout=$(sql -c "SHOW archive_timeout")"
`;
}

