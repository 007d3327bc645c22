#!/usr/bin/env bats
# backup-redis: arguments, the lock, a server that does not answer, then against a real server: the checked
# snapshot with its checksum and key count, the bounded wait for BGSAVE, retention held back by off-site.
load redis-helpers

setup() { redis_setup; }
teardown() { redis_teardown; }

@test "unknown arguments and a bad --timeout are usage errors (exit 2)" {
  run "$AGENT/backup-redis" --now
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '--now' (usage: backup-redis [--timeout SECONDS])"* ]]
  run "$AGENT/backup-redis" --timeout
  [ "$status" -eq 2 ]
  [[ $output == *"--timeout needs a value"* ]]
  run "$AGENT/backup-redis" --timeout 3s
  [ "$status" -eq 2 ]
  [[ $output == *"--timeout must be whole seconds, got '3s'"* ]]
}

@test "missing settings are named" {
  for name in REDIS_BACKUP_DIR REDIS_TARGET REDIS_RETENTION_DAYS; do
    grep -v "^$name=" "$DRKIT_ENV" >"$TMP/env2"
    DRKIT_ENV=$TMP/env2 run "$AGENT/backup-redis"
    [ "$status" -eq 1 ]
    [[ $output == *"setting $name is not set"* ]]
  done
}

@test "a server that does not answer PING fails before anything is written" {
  run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"the server does not answer PING"* ]]
  [ -z "$(find "$TMP/backups" -name 'dump_*')" ]
}

@test "a second run while one holds the lock in REDIS_BACKUP_DIR does not start" {
  exec 8>>"$TMP/backups/.backup-redis.lock"
  flock -n 8
  run "$AGENT/backup-redis"
  exec 8>&-
  [ "$status" -eq 1 ]
  [[ $output == *"another run holds $TMP/backups/.backup-redis.lock"* ]]
}

@test "a snapshot: the RDB checked and stored with its checksum and the keys it holds" {
  start_server
  fill 25
  run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  [[ $output =~ snapshot\ dump_([0-9]{8}T[0-9]{6}Z)\.rdb:\ 25\ keys ]]
  id=${BASH_REMATCH[1]}
  cd "$TMP/backups"
  sha256sum --quiet -c "dump_$id.rdb.sha256"
  grep -qx keys=25 "dump_$id.meta"
  grep -qE '^lastsave=[0-9]+$' "dump_$id.meta"
  redis-check-rdb "dump_$id.rdb" >/dev/null
  [ -z "$(find . -name '.partial-*' -o -name '.dump_*')" ]
}

@test "a BGSAVE that does not finish in time fails instead of hanging" {
  start_server
  fill 50
  cli CONFIG SET rdb-key-save-delay 1000000 >/dev/null
  SECONDS=0
  run "$AGENT/backup-redis" --timeout 1
  cli CONFIG SET rdb-key-save-delay 0 >/dev/null
  [ "$status" -eq 1 ]
  [[ $output == *"BGSAVE did not finish within 1s (LASTSAVE is still "* ]]
  ((SECONDS < 15))
  [ -z "$(find "$TMP/backups" -name 'dump_*')" ]
}

@test "retention removes a snapshot past REDIS_RETENTION_DAYS, but never the newest" {
  start_server
  fill 3
  old=20200101T000000Z
  for ext in .rdb .rdb.sha256 .meta; do echo x >"$TMP/backups/dump_$old$ext"; done
  run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  [[ $output == *"removed snapshot dump_$old.rdb"* ]]
  [ -z "$(find "$TMP/backups" -name "dump_$old*")" ]
  [ "$(find "$TMP/backups" -name 'dump_*.rdb' | wc -l)" -eq 1 ]
}

@test "retention keeps an old snapshot until every object store confirmed it" {
  start_server
  fill 3
  old=20200101T000000Z
  for ext in .rdb .rdb.sha256 .meta; do echo x >"$TMP/backups/dump_$old$ext"; done
  setting_array OFFSITE_STORES site-a site-b
  setting OFFSITE_MARKS "$TMP/marks"
  mkdir -p "$TMP/marks/site-a/valkey"
  touch "$TMP/marks/site-a/valkey/$old"
  run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  [[ $output == *"keeping snapshot dump_$old.rdb: not yet confirmed off-site"* ]]
  [ -f "$TMP/backups/dump_$old.meta" ]
  mkdir -p "$TMP/marks/site-b/valkey"
  touch "$TMP/marks/site-b/valkey/$old"
  sleep 1
  run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  [[ $output == *"removed snapshot dump_$old.rdb"* ]]
  [ ! -e "$TMP/backups/dump_$old.rdb" ]
}

@test "not enough space for the copy: fails naming the directory and the bytes, nothing written" {
  start_server
  fill 20
  free_space 100
  run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output =~ "not enough space in $TMP/backups for snapshot dump_"[0-9]{8}T[0-9]{6}Z".rdb: needs about "[0-9]+" bytes" ]]
  [[ $output == *", 100 bytes (100) are available; nothing was written"* ]]
  [ -z "$(find "$TMP/backups" -name 'dump_*' -o -name '.partial-*' -o -name '.dump_*')" ]
}

@test "what a killed run left is removed by the next run: a partial copy, temp files, a snapshot without .meta" {
  start_server
  fill 4
  echo half >"$TMP/backups/.partial-20240101T000000Z.rdb"
  echo half >"$TMP/backups/.dump_20240101T000001Z.meta.Ab12Cd"
  echo x >"$TMP/backups/dump_20240101T000001Z.rdb"
  echo x >"$TMP/backups/dump_20240101T000001Z.rdb.sha256"
  echo x >"$TMP/backups/dump_20240101T000002Z.rdb.sha256"
  run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  [[ $output == *"removed $TMP/backups/.partial-20240101T000000Z.rdb, left by an earlier run that did not finish"* ]]
  [[ $output == *"removed the incomplete snapshot dump_20240101T000001Z.rdb (no dump_20240101T000001Z.meta)"* ]]
  [[ $output == *"removed the incomplete snapshot dump_20240101T000002Z.rdb"* ]]
  [ -z "$(find "$TMP/backups" -name '*20240101T00000*')" ]
  [ "$(find "$TMP/backups" -name 'dump_*.meta' | wc -l)" -eq 1 ]
}

@test "retention removes a snapshot's .meta first, so a killed run leaves it incomplete, never complete-looking" {
  start_server
  fill 2
  old=20200101T000000Z
  for ext in .rdb .rdb.sha256 .meta; do echo x >"$TMP/backups/dump_$old$ext"; done
  # rm records the order of its arguments, then removes them.
  mkdir -p "$TMP/rmbin"
  printf '#!/usr/bin/env bash\necho "rm $*" >>"%s/calls"\nexec /bin/rm "$@"\n' "$TMP" >"$TMP/rmbin/rm"
  chmod +x "$TMP/rmbin/rm"
  : >"$TMP/calls"
  PATH="$TMP/rmbin:$PATH" run "$AGENT/backup-redis"
  [ "$status" -eq 0 ]
  grep -q "^rm -f -- $TMP/backups/dump_$old.meta $TMP/backups/dump_$old.rdb.sha256 $TMP/backups/dump_$old.rdb$" \
    "$TMP/calls"
}
