import type { Manager, PostgresPlan, ServicePlan } from "../plan/plan";

/** Quotes a value as one shell word. */
export function shq(value: string | number): string {
  const text = String(value);
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `readonly NAME=value` lines for a script's settings block. */
export function settings(values: Record<string, string | number | readonly string[]>): string {
  return Object.entries(values)
    .map(([name, value]) =>
      Array.isArray(value)
        ? `readonly ${name}=(${(value as readonly string[]).map(shq).join(" ")})`
        : `readonly ${name}=${shq(value as string | number)}`,
    )
    .join("\n");
}

export interface ScriptHeader {
  readonly job: string;
  readonly purpose: string;
  readonly usage?: string;
}

/** Shebang, strict mode and a readable log line; every drkit script starts with this. */
export function header(h: ScriptHeader): string {
  return `#!/usr/bin/env bash
# ${h.purpose}
# Rendered by drkit; edit the stack config instead of this file.${h.usage ? `\n# Usage: ${h.usage}` : ""}
set -euo pipefail
umask 077
readonly JOB=${shq(h.job)}

log() { printf '%s %s: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$JOB" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
`;
}

/** Takes the job's lock or exits: two runs of one job never overlap. */
export function lock(lockDir: string, name: string): string {
  return `mkdir -p ${shq(lockDir)}
exec 9>>${shq(`${lockDir}/${name}.lock`)}
flock -n 9 || die "another run of $JOB holds ${lockDir}/${name}.lock; not starting a second one"
`;
}

/** Connection settings and helpers for talking to the service's PostgreSQL as its OS user. */
export function postgresEnv(pg: PostgresPlan): string {
  return `${settings({
    PG_BIN: pg.binDirectory,
    PG_OS_USER: pg.osUser,
  })}
export PGHOST=${shq(pg.socketDirectory)} PGPORT=${shq(pg.port)} PGUSER=${shq(pg.role)} PGDATABASE=postgres
# Run a command as the PostgreSQL OS user whether this script runs as root or as that user.
as_pg() {
  if [[ $(id -u) -eq 0 && $PG_OS_USER != root ]]; then
    runuser -u "$PG_OS_USER" -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" PGOPTIONS="\${PGOPTIONS:-}" "$@"
  else
    "$@"
  fi
}
sql() { as_pg "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -Atq "$@"; }
`;
}

/** Jobs that only touch backups run as the PostgreSQL OS user; started as root, they switch to it. */
export const becomePgUser = `if [[ $(id -u) -eq 0 && $PG_OS_USER != root ]]; then
  exec runuser -u "$PG_OS_USER" -- "$0" "$@"
fi
`;

/** Start, stop and status of the server, for the way this host runs PostgreSQL. */
export function managerFunctions(pg: PostgresPlan): string {
  const m: Manager = pg.manager;
  const dataDir = settings({ PGDATA_DIR: pg.dataDirectory });
  if (m.type === "systemd") {
    return `${dataDir}
${settings({ PG_UNIT: m.unit })}
pg_start() { systemctl start "$PG_UNIT"; }
pg_stop() { systemctl stop "$PG_UNIT"; }
pg_restart() { systemctl restart "$PG_UNIT"; }
pg_running() { systemctl is-active --quiet "$PG_UNIT"; }
pg_log_hint() { echo "journalctl -u $PG_UNIT (data directory $PGDATA_DIR)"; }
`;
  }
  return `${dataDir}
${settings({ PG_LOG: m.logFile })}
# pg_ctl -W returns before the postmaster has written its pid file; status checks need it.
wait_for_pid_file() {
  local _
  for _ in $(seq 1 100); do
    [[ -f $1/postmaster.pid ]] && return 0
    sleep 0.1
  done
  return 0
}
pg_ctl_() { as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" "$@"; }
# The server must not inherit the lock descriptors of the script that starts it.
pg_start() {
  pg_ctl_ -l "$PG_LOG" -W start >/dev/null 8>&- 9>&-
  wait_for_pid_file "$PGDATA_DIR"
}
pg_stop() { if pg_running; then pg_ctl_ -m fast -w stop >/dev/null; fi; }
pg_restart() { pg_ctl_ -l "$PG_LOG" -m fast -w restart >/dev/null 8>&- 9>&-; }
pg_running() { pg_ctl_ status >/dev/null 2>&1; }
pg_log_hint() { echo "$PG_LOG"; }
`;
}

/** Extracts a tar archive written by pg_basebackup, whatever its compression. */
export const extractTar = `extract_tar() {
  local archive=$1 dest=$2
  case $archive in
    *.tar.zst) zstd -q -d -c -- "$archive" | tar -xf - -C "$dest" ;;
    *.tar.gz) tar -xzf "$archive" -C "$dest" ;;
    *.tar.lz4) lz4 -q -d -c -- "$archive" | tar -xf - -C "$dest" ;;
    *.tar) tar -xf "$archive" -C "$dest" ;;
    *) die "unknown archive type: $archive" ;;
  esac
}
`;

export const serviceLabel = (plan: ServicePlan) => `${plan.name} on ${plan.host.name}`;
