import type { ServicePlan } from "../plan/plan";
import { header, settings } from "./shell";

export const provisionScriptPath = (plan: ServicePlan) => `${plan.paths.scriptsDir}/sandbox-postgres`;

/**
 * Sandbox hosts only: creates a PostgreSQL cluster under the root prefix (initdb as the OS user) that
 * reads drkit's conf.d, starts it, and creates the service's databases. `stop` stops it; the data
 * directory is never removed.
 */
export function renderSandboxScript(plan: ServicePlan, shellLib: { env: string; manager: string }): string {
  const pg = plan.postgres;
  return `${header({
    job: `drkit-${plan.name}-sandbox`,
    purpose: `Sandbox PostgreSQL ${pg.version} for ${plan.name} under ${plan.rootPrefix || "/"}.`,
    usage: "sandbox-postgres start|stop",
  })}
${shellLib.env}
${shellLib.manager}
${settings({
  CONF_DIR: pg.configDirectory,
  SOCKET_DIR: pg.socketDirectory,
  PORT: pg.port,
  ROLE: pg.role,
  DATABASES: pg.databases,
})}
group=$(id -gn "$PG_OS_USER")

case \${1:-} in
  stop)
    pg_stop
    log "stopped; the data directory $PGDATA_DIR stays"
    exit 0
    ;;
  start) ;;
  *) die "usage: sandbox-postgres start|stop" ;;
esac

install -d -m 0750 -o "$PG_OS_USER" -g "$group" -- "$SOCKET_DIR" "$(dirname -- "$PG_LOG")"
if [[ ! -f $PGDATA_DIR/PG_VERSION ]]; then
  install -d -m 0700 -o "$PG_OS_USER" -g "$group" -- "$PGDATA_DIR"
  auth=trust
  [[ $ROLE == "$PG_OS_USER" ]] && auth=peer
  as_pg "$PG_BIN/initdb" --pgdata="$PGDATA_DIR" --username="$ROLE" --auth-local="$auth" --auth-host=scram-sha-256 \\
    --data-checksums --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "# drkit sandbox"
    echo "port = $PORT"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$SOCKET_DIR'"
    echo "include_dir = '$CONF_DIR'"
  } >>"$PGDATA_DIR/postgresql.conf"
  log "initialised a PostgreSQL cluster in $PGDATA_DIR"
fi
install -d -m 0750 -o "$PG_OS_USER" -g "$group" -- "$CONF_DIR"
if ! pg_running; then
  pg_start
fi
for _ in $(seq 1 60); do
  sql -c "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.5
done
sql -c "SELECT 1" >/dev/null || die "the sandbox server did not start; see $(pg_log_hint)"
for db in "\${DATABASES[@]}"; do
  if [[ -z $(sql -c "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
    sql -c "CREATE DATABASE $db" >/dev/null
    log "created database $db"
  fi
done
log "sandbox PostgreSQL for $PGDATA_DIR is running on port $PORT (socket $SOCKET_DIR)"
`;
}
