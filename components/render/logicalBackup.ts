import type { ServicePlan } from "../plan/plan";
import { shipScriptPath } from "./offsite";
import { becomePgUser, header, lock, settings, shq } from "./shell";

/** Custom-format dumps are named <db>_<id>.custom.dump so their format is never in doubt. */
export const dumpFileName = (db: string, id: string) => `${db}_${id}.custom.dump`;

export function renderLogicalBackupScript(plan: ServicePlan, shellLib: { env: string }): string {
  return `${header({
    job: `drkit-${plan.name}-logical`,
    purpose: `Logical backup of ${plan.name}: pg_dump custom format per database plus roles, each checked with pg_restore --list.`,
  })}
${shellLib.env}
${settings({
  LOGICAL_DIR: plan.paths.logicalDir,
  DATABASES: plan.postgres.databases,
  DUMP_ARGS: plan.compression.dumpArgs,
})}
${becomePgUser}${lock(plan.paths.lockDir, "logical")}
id=$(date -u +%Y%m%dT%H%M%SZ)
tmp_files=()
cleanup() {
  local status=$?
  [[ \${#tmp_files[@]} -gt 0 ]] && rm -f -- "\${tmp_files[@]}"
  [[ $status -eq 0 ]] || log "logical backup $id FAILED (exit $status); no partial dump was published"
}
trap cleanup EXIT

publish() {
  local tmp=$1 dest=$2
  sync -- "$tmp"
  mv -- "$tmp" "$dest"
  sync -- "$LOGICAL_DIR"
}

for db in "\${DATABASES[@]}"; do
  dest=$LOGICAL_DIR/${dumpFileName("${db}", "${id}")}
  tmp=$LOGICAL_DIR/.partial-$db-$id.dump
  tmp_files+=("$tmp")
  log "dumping database $db"
  "$PG_BIN/pg_dump" --format=custom "\${DUMP_ARGS[@]}" --no-password --dbname="$db" --file="$tmp"
  "$PG_BIN/pg_restore" --list "$tmp" >/dev/null || die "pg_restore cannot read the dump of $db"
  publish "$tmp" "$dest"
  log "database $db -> $dest ($(du -h -- "$dest" | cut -f1))"
done

globals=$LOGICAL_DIR/globals_$id.sql
tmp=$LOGICAL_DIR/.partial-globals-$id.sql
tmp_files+=("$tmp")
"$PG_BIN/pg_dumpall" --globals-only --no-password --file="$tmp"
publish "$tmp" "$globals"
log "logical backup $id complete: \${#DATABASES[@]} database(s) and roles"
${plan.offsite ? `${shq(shipScriptPath(plan))} logical "$id"\n` : ""}`;
}
