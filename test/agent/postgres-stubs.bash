# shellcheck shell=bash
# Stand-ins for PostgreSQL's client tools, so the backup, restore and settings verbs (apply-settings,
# backup-logical, restore-logical, restore-pitr, sandbox-postgres) run end to end without a server. Every call
# is appended to $TMP/calls. psql prints the answer of the first `sql_answer GLOB VALUE` whose GLOB matches its
# queries (all -c joined by " ; "), nothing otherwise; `sql_fails GLOB` makes matching queries fail. pg_ctl
# keeps a server "running" while the data directory (-D) holds postmaster.pid. pg_dump and pg_dumpall write
# small files, pg_restore --list accepts only files starting with PGDMP. `stub_fails NAME` makes pg_dump,
# pg_restore (restoring, or `list`), pg_ctl start (`start`: the server dies at once) fail. pg_ctl start writes
# $STUB_PID (no process has it), or the process id in $STUBS/start.pid: a live process as the postmaster.
# Load after helpers and call postgres_stubs after agent_setup.

postgres_stubs() {
  STUBS=$TMP/stubs
  mkdir -p "$TMP/bin" "$STUBS"
  : >"$TMP/calls"
  : >"$STUBS/answers"
  cat >"$TMP/bin/psql" <<STUB
#!/usr/bin/env bash
q=
while [[ \$# -gt 0 ]]; do
  case \$1 in
    -c) q=\${q:+\$q ; }\$2; shift 2 ;;
    *) shift ;;
  esac
done
printf 'psql host=%s port=%s: %s\n' "\$PGHOST" "\$PGPORT" "\${q//\$'\n'/ }" >>"$TMP/calls"
while IFS=\$'\t' read -r kind glob value; do
  # shellcheck disable=SC2053 # glob is a pattern
  [[ \$q == \$glob ]] || continue
  if [[ \$kind == fail ]]; then
    echo "psql: error: stub failure for \$glob" >&2
    exit 2
  fi
  printf '%b\n' "\$value"
  exit 0
done <"$STUBS/answers"
exit 0
STUB
  cat >"$TMP/bin/pg_ctl" <<STUB
#!/usr/bin/env bash
echo "pg_ctl \$*" >>"$TMP/calls"
dir=\$2
case " \$* " in
  *" status "*) [[ -f \$dir/postmaster.pid ]] || exit 3 ;;
  *" start "*)
    pid=$STUB_PID
    [[ ! -f "$STUBS/start.pid" ]] || pid=\$(cat "$STUBS/start.pid")
    [[ -e "$STUBS/fails.start" ]] || echo "\$pid" >"\$dir/postmaster.pid"
    ;;
  *" stop "*) rm -f -- "\$dir/postmaster.pid" ;;
  *" restart "*) echo $((STUB_PID + 1)) >"\$dir/postmaster.pid" ;;
esac
exit 0
STUB
  cat >"$TMP/bin/pg_dump" <<STUB
#!/usr/bin/env bash
echo "pg_dump \$*" >>"$TMP/calls"
[[ ! -e "$STUBS/fails.pg_dump" ]] || exit 1
for arg in "\$@"; do
  case \$arg in
    --file=*) file=\${arg#--file=} ;;
    --dbname=*) db=\${arg#--dbname=} ;;
  esac
done
if [[ -e "$STUBS/fails.list" ]]; then echo "not a dump of \$db" >"\$file"; else echo "PGDMP dump of \$db" >"\$file"; fi
STUB
  cat >"$TMP/bin/pg_dumpall" <<STUB
#!/usr/bin/env bash
echo "pg_dumpall \$*" >>"$TMP/calls"
for arg in "\$@"; do [[ \$arg != --file=* ]] || echo "-- roles" >"\${arg#--file=}"; done
STUB
  cat >"$TMP/bin/pg_restore" <<STUB
#!/usr/bin/env bash
echo "pg_restore \$*" >>"$TMP/calls"
if [[ \$1 == --list ]]; then
  [[ \$(head -c 5 -- "\$2") == PGDMP ]] || { echo "pg_restore: error: not a valid archive" >&2; exit 1; }
  exit 0
fi
[[ ! -e "$STUBS/fails.pg_restore" ]] || { echo "pg_restore: error: stub failure" >&2; exit 1; }
STUB
  cat >"$TMP/bin/initdb" <<STUB
#!/usr/bin/env bash
echo "initdb \$*" >>"$TMP/calls"
for arg in "\$@"; do [[ \$arg != --pgdata=* ]] || dir=\${arg#--pgdata=}; done
echo 15 >"\$dir/PG_VERSION"
echo "# initdb's postgresql.conf" >"\$dir/postgresql.conf"
STUB
  chmod +x "$TMP/bin"/*
  setting PG_BIN "$TMP/bin"
  setting PG_OS_USER "$(id -un)"
  setting PGUSER postgres
  setting PGHOST "$TMP/sock"
  setting PGPORT 5432
  setting PGDATA_DIR "$TMP/data"
  setting PG_MANAGER pg_ctl
  setting PG_LOG "$TMP/log/postgresql.log"
}
sql_answer() { printf 'answer\t%s\t%s\n' "$1" "$2" >>"$STUBS/answers"; }
sql_fails() { printf 'fail\t%s\t-\n' "$1" >>"$STUBS/answers"; }
stub_fails() { touch "$STUBS/fails.$1"; }
running() { echo "$STUB_PID" >"$1/postmaster.pid"; }

# agent_copy VERB...: lib.sh and the verbs in $TMP/agent, so a test can put stand-ins for the verbs they call
# beside them (`sibling_stub NAME BODY`); AGENT then points at the copy.
agent_copy() {
  mkdir -p "$TMP/agent"
  cp -- "$AGENT/lib.sh" "$TMP/agent/"
  local verb
  for verb in "$@"; do cp -- "$AGENT/$verb" "$TMP/agent/"; done
  AGENT=$TMP/agent
}
# sibling_stub NAME BODY: an agent file NAME that logs its arguments to $TMP/calls, then runs BODY.
sibling_stub() {
  printf '#!/usr/bin/env bash\necho "%s $*" >>"%s/calls"\n%s\n' "$1" "$TMP" "$2" >"$TMP/agent/$1"
  chmod +x "$TMP/agent/$1"
}

# base_backup_stubs SERVER_VERSION_NUM: backup-base's settings and stand-ins for a server of that version (e.g.
# 150018): pg_basebackup writes a small tar set with a real manifest (fake-base-backup; its major is that of
# $STUBS/tools-major when the file exists; `stub_fails pg_basebackup`, or `stub_fails incremental` for
# --incremental runs, makes it fail), pg_verifybackup and pg_waldump record their arguments (and fail with
# `stub_fails NAME`). Call after postgres_stubs.
base_backup_stubs() {
  local major=$(($1 / 10000)) tool
  mkdir -p "$TMP/base"
  setting BASE_DIR "$TMP/base"
  setting VERIFY_AFTER_BACKUP yes
  setting_array COMPRESS_ARGS
  sql_answer "SHOW server_version_num" "$1"
  # the space the set takes, and the WAL segment size
  sql_answer "*pg_database_size*" "1048576 16777216"
  cat >"$TMP/bin/pg_basebackup" <<STUB
#!/usr/bin/env bash
if [[ \$1 == --version ]]; then
  echo "pg_basebackup (PostgreSQL) \$(cat "$STUBS/tools-major" 2>/dev/null || echo $major).4"
  exit
fi
echo "pg_basebackup \$*" >>"$TMP/calls"
[[ ! -e "$STUBS/fails.pg_basebackup" ]] || exit 1
[[ " \$* " != *" --incremental="* || ! -e "$STUBS/fails.incremental" ]] ||
  { echo "pg_basebackup: error: WAL summaries are required on timeline 1 from 0/2000028" >&2; exit 1; }
for arg in "\$@"; do [[ \$arg != --pgdata=* ]] || dir=\${arg#--pgdata=}; done
"$BATS_TEST_DIRNAME/fake-base-backup" "\$dir" "$STUBS"
STUB
  for tool in pg_verifybackup pg_waldump; do
    cat >"$TMP/bin/$tool" <<STUB
#!/usr/bin/env bash
[[ \$1 != --version ]] || { echo "$tool (PostgreSQL) $major.4"; exit; }
echo "$tool \$*" >>"$TMP/calls"
[[ ! -e "$STUBS/fails.$tool" ]]
STUB
  done
  chmod +x "$TMP/bin/pg_basebackup" "$TMP/bin/pg_verifybackup" "$TMP/bin/pg_waldump"
}
# fake_base DIR ID END_EPOCH [MARK]: a base backup as backup-base leaves it (tars, manifest, metadata), whose
# data directory holds a file "marker" with MARK (default: the id).
fake_base() {
  local dir=$1/$2 src
  src=$(mktemp -d "$TMP/src.XXXXXX")
  mkdir -p "$dir" "$src/pg_wal"
  echo 15 >"$src/PG_VERSION"
  echo "${4:-$2}" >"$src/marker"
  echo "# the source's postgresql.auto.conf" >"$src/postgresql.auto.conf"
  tar -cf "$dir/base.tar" -C "$src" PG_VERSION marker postgresql.auto.conf
  head -c 1024 /dev/zero >"$src/pg_wal/000000010000000000000002"
  tar -cf "$dir/pg_wal.tar" -C "$src/pg_wal" 000000010000000000000002
  echo '{"PostgreSQL-Backup-Manifest-Version": 1}' >"$dir/backup_manifest"
  printf 'id=%s\nstart_wal=000000010000000000000002\ntimeline=1\nend_epoch=%s\n' "$2" "$3" >"$dir/drkit-backup.env"
  rm -rf -- "$src"
}

# hold_lock NAME: this test holds the verbs' lock NAME (as a running job would) on fd 7 until `exec 7>&-`.
hold_lock() {
  mkdir -p "$TMP/locks"
  exec 7>>"$TMP/locks/$1.lock"
  flock -n 7
}
