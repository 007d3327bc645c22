import type { ServicePlan } from "../plan/plan";
import { becomePgUser, header, settings } from "./shell";

/**
 * Logical restore. Dumps the current database first (a safety copy), restores into a new database, and
 * swaps names only when pg_restore succeeded: the live database is untouched by a failed restore.
 */
export function renderRestoreLogicalScript(plan: ServicePlan, shellLib: { env: string }): string {
  return `${header({
    job: `drkit-${plan.name}-restore-logical`,
    purpose: `Logical restore of one database of ${plan.name} from a custom-format dump, with a safety dump of the current one first.`,
    usage: "restore-logical <dump file> [--database NAME] [--jobs N]",
  })}
${shellLib.env}
${settings({ LOGICAL_DIR: plan.paths.logicalDir, DATABASES: plan.postgres.databases })}
${becomePgUser}dump=
database=
jobs=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --database) database=\${2:?--database needs a value}; shift 2 ;;
    --jobs) jobs=\${2:?--jobs needs a value}; shift 2 ;;
    -*) die "unknown option '$1'" ;;
    *) [[ -z $dump ]] || die "only one dump file, please"; dump=$1; shift ;;
  esac
done
[[ -n $dump ]] || die "usage: restore-logical <dump file> [--database NAME] [--jobs N]"
[[ -f $dump ]] || die "dump file '$dump' does not exist"
[[ $jobs =~ ^[1-9][0-9]?$ ]] || die "--jobs must be a number from 1 to 99, got '$jobs'"
if [[ -z $database ]]; then
  base=$(basename -- "$dump")
  database=\${base%_*}
fi
[[ $database =~ ^[a-z_][a-z0-9_]{0,39}$ ]] || die "database name '$database' is not a plain lowercase identifier"
known=no
for db in "\${DATABASES[@]}"; do [[ $db == "$database" ]] && known=yes; done
[[ $known == yes ]] || die "database '$database' is not one of this service's databases (\${DATABASES[*]})"

"$PG_BIN/pg_restore" --list "$dump" >/dev/null || die "'$dump' is not a readable custom-format dump"
id=$(date -u +%Y%m%dT%H%M%SZ)
staging=\${database}__drkit_restore
exists=$(sql -c "SELECT 1 FROM pg_database WHERE datname = '$database'")

if [[ $exists == 1 ]]; then
  mkdir -p -- "$LOGICAL_DIR/safety"
  safety=$LOGICAL_DIR/safety/\${database}_before-restore_$id.custom.dump
  log "safety dump of the current $database -> $safety"
  "$PG_BIN/pg_dump" --format=custom --no-password --dbname="$database" --file="$safety.partial"
  mv -- "$safety.partial" "$safety"
fi

log "restoring $dump into staging database $staging"
sql -c "DROP DATABASE IF EXISTS $staging" -c "CREATE DATABASE $staging TEMPLATE template0" >/dev/null
if ! "$PG_BIN/pg_restore" --exit-on-error --no-password --jobs="$jobs" --dbname="$staging" "$dump"; then
  sql -c "DROP DATABASE IF EXISTS $staging" >/dev/null || true
  die "pg_restore failed; $database was not touched"
fi

if [[ $exists == 1 ]]; then
  old=\${database}__drkit_old
  log "swapping $staging into place; disconnecting sessions of $database"
  sql -c "DROP DATABASE IF EXISTS $old" >/dev/null
  sql -c "ALTER DATABASE $database ALLOW_CONNECTIONS false" \\
    -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$database' AND pid <> pg_backend_pid()" \\
    -c "ALTER DATABASE $database RENAME TO $old" \\
    -c "ALTER DATABASE $staging RENAME TO $database" >/dev/null
  sql -c "DROP DATABASE $old" >/dev/null
else
  sql -c "ALTER DATABASE $staging RENAME TO $database" >/dev/null
fi
log "restored $database from $dump\${safety:+ (the previous contents are in $safety)}"
`;
}
