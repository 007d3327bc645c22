# shellcheck shell=bash
# Stand-ins for psql, pg_ctl, pg_basebackup and pg_rewind, so the replication verbs (setup-replication,
# clone-standby, failover, rejoin-as-standby) run end to end without a server. Every call is appended to
# $TMP/calls, and psql, pg_basebackup and pg_rewind append the machine's process list (ps) to $TMP/ps-listing;
# psql answers from files set with `answer PORT KEY VALUE` (KEY from the query, see below) and refuses
# connections on ports marked with `down PORT`; a server "runs" while its data directory holds postmaster.pid.
# Load after helpers and call pg_stubs after agent_setup.

pg_stubs() {
  STUBS=$TMP/stubs
  mkdir -p "$TMP/bin" "$STUBS"
  : >"$TMP/calls"
  cat >"$TMP/bin/psql" <<STUB
#!/usr/bin/env bash
all="\$*"
q=
rest=()
while [[ \$# -gt 0 ]]; do
  case \$1 in
    -c) q=\$2; shift 2 ;;
    *) rest+=("\$1"); shift ;;
  esac
done
via=-c
if [[ -z \$q ]]; then
  q=\$(cat)
  via=stdin
fi
printf 'psql port=%s options=%s via=%s: %s\n' "\$PGPORT" "\${PGOPTIONS:-}" "\$via" "\${q//\$'\n'/ }" >>"$TMP/calls"
# the whole machine's process list while the verb runs, for the tests that look for secrets in it
ps -eo args >>"$TMP/ps-listing"
if [[ -e "$STUBS/down.\$PGPORT" ]]; then
  echo "psql: error: connection to server on port \$PGPORT failed" >&2
  exit 2
fi
case \$q in
  *pg_is_in_recovery*) key=recovery ;;
  *pg_stat_wal_receiver*) key=receiver ;;
  *pg_last_wal_receive_lsn*) key=received ;;
  *pg_last_wal_replay_lsn*) key=replayed ;;
  *pg_last_xact_replay_timestamp*) key=last_commit ;;
  *"SELECT slot_name FROM pg_replication_slots"*) key=slots ;;
  *pg_hba_file_rules*) key=hba_errors ;;
  *"SHOW hba_file"*) key=hba_file ;;
  *pg_authid*) key=stored_password ;;
  *"SHOW archive_mode"*) key=archive_mode ;;
  *"SHOW synchronous_standby_names"*) key=sync_names ;;
  *pg_control_checkpoint*) key=timeline ;;
  *"FROM pg_settings"*) key=settings ;;
  *pg_reload_conf*) key=reload ;;
  "ALTER SYSTEM RESET"*) key=reset ;;
  DROP_REPLICATION_SLOT*)
    echo "replication connection: \$all" >>"$TMP/calls"
    key=drop
    ;;
  CREATE_REPLICATION_SLOT*)
    # over a replication connection to another host: logged with its arguments; \`slot_fails TEXT\` fails it
    echo "replication connection: \$all" >>"$TMP/calls"
    if [[ -f "$STUBS/slot-error" ]]; then cat "$STUBS/slot-error" >&2; exit 1; fi
    key=slot
    ;;
  IDENTIFY_SYSTEM)
    # a replication connection: its arguments are logged; \`identify_fails TEXT\` makes it fail with TEXT
    echo "replication connection: \$all" >>"$TMP/calls"
    if [[ -f "$STUBS/identify-error" ]]; then cat "$STUBS/identify-error" >&2; exit 2; fi
    key=identify
    ;;
  *) key=other ;;
esac
# a connection string naming a host (another server): logged with its arguments
if [[ "\${rest[*]}" == *"host="* && \$all != *"replication=true"* ]]; then echo "connection: \$all" >>"$TMP/calls"; fi
# \`fails PORT KEY TEXT\` makes that query fail with TEXT
if [[ -f "$STUBS/fail.\$PGPORT.\$key" ]]; then cat "$STUBS/fail.\$PGPORT.\$key" >&2; exit 1; fi
if [[ -f "$STUBS/answer.\$PGPORT.\$key" ]]; then cat "$STUBS/answer.\$PGPORT.\$key"; fi
STUB
  # postgres -C NAME: the configured value from \$STUBS/conf.NAME, as a stopped server's configuration gives it
  cat >"$TMP/bin/postgres" <<STUB
#!/usr/bin/env bash
echo "postgres \$*" >>"$TMP/calls"
name=\${*: -1}
[[ -f "$STUBS/conf.\$name" ]] || exit 1
cat "$STUBS/conf.\$name"
STUB
  cat >"$TMP/bin/pg_ctl" <<STUB
#!/usr/bin/env bash
echo "pg_ctl \$*" >>"$TMP/calls"
dir=\$2
case " \$* " in
  *" status "*) [[ -f \$dir/postmaster.pid ]] || exit 3 ;;
  *" start "*) echo $STUB_PID >"\$dir/postmaster.pid" ;;
  *" stop "*)
    if [[ -e "$STUBS/stop-fails" ]]; then
      echo "pg_ctl: server does not shut down" >&2
      exit 1
    fi
    rm -f -- "\$dir/postmaster.pid"
    if [[ -e "$STUBS/stop-finds-no-process" ]]; then
      echo "pg_ctl: could not send stop signal (PID: $STUB_PID): No such process" >&2
      exit 1
    fi
    ;;
  *" promote "*) [[ ! -e "$STUBS/promote-fails" ]] || exit 1 ;;
esac
exit 0
STUB
  cat >"$TMP/bin/pg_basebackup" <<STUB
#!/usr/bin/env bash
echo "pg_basebackup PGPASSFILE=\${PGPASSFILE:-} \$*" >>"$TMP/calls"
ps -eo args >>"$TMP/ps-listing"
for arg in "\$@"; do [[ \$arg == --pgdata=* ]] && dir=\${arg#--pgdata=}; done
echo "copied" >"\$dir/half-copied"
[[ ! -e "$STUBS/basebackup-fails" ]] || exit 1
echo 15 >"\$dir/PG_VERSION"
echo "# copied from the primary" >"\$dir/postgresql.auto.conf"
STUB
  cat >"$TMP/bin/pg_rewind" <<STUB
#!/usr/bin/env bash
echo "pg_rewind \$*" >>"$TMP/calls"
ps -eo args >>"$TMP/ps-listing"
echo "pg_rewind: rewinding"
[[ ! -e "$STUBS/rewind-fails" ]] || exit 1
echo "pg_rewind: Done!"
STUB
  chmod +x "$TMP/bin"/*
  setting PG_BIN "$TMP/bin"
  setting PG_OS_USER "$(id -un)"
  setting PGUSER postgres
  setting PGHOST "$TMP/sock"
  setting PG_MANAGER pg_ctl
  setting PG_LOG "$TMP/postgresql.log"
}
# primary_setup: the shared setup of a verb's tests on the primary's host: agent_setup, pg_stubs, PGPORT 5432 and
# PGDATA_DIR $TMP/primary (made, empty).
primary_setup() {
  agent_setup
  pg_stubs
  setting PGPORT 5432
  setting PGDATA_DIR "$TMP/primary"
  mkdir -p "$TMP/primary"
}
answer() { printf '%s\n' "$3" >"$STUBS/answer.$1.$2"; }
fails() { printf '%s\n' "$3" >"$STUBS/fail.$1.$2"; }
down() { touch "$STUBS/down.$1"; }
running() { echo "$STUB_PID" >"$1/postmaster.pid"; }
identify_fails() { printf '%s\n' "$1" >"$STUBS/identify-error"; }
slot_fails() { printf '%s\n' "$1" >"$STUBS/slot-error"; }
# systemd_stubs UNIT: a stand-in systemctl first in PATH for PG_MANAGER=systemd with PG_UNIT=UNIT. The unit is
# active while $STUBS/active exists (start creates it, stop removes it unless $STUBS/stop-hangs exists); mask
# fails while $STUBS/mask-fails exists. Every call is appended to $TMP/calls.
systemd_stubs() {
  setting PG_MANAGER systemd
  setting PG_UNIT "$1"
  mkdir -p "$TMP/path"
  cat >"$TMP/path/systemctl" <<STUB
#!/usr/bin/env bash
echo "systemctl \$*" >>"$TMP/calls"
case \$1 in
  is-active) [[ -e "$STUBS/active" ]] ;;
  start) touch "$STUBS/active" ;;
  stop) [[ -e "$STUBS/stop-hangs" ]] || rm -f "$STUBS/active" ;;
  mask) [[ ! -e "$STUBS/mask-fails" ]] ;;
esac
STUB
  chmod +x "$TMP/path/systemctl"
  export PATH="$TMP/path:$PATH"
}
