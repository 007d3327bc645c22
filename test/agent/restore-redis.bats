#!/usr/bin/env bats
# restore-redis: arguments, a missing snapshot, a missing or bad checksum and an RDB redis-check-rdb rejects
# (all refused before the server is touched), then a real restore with AOF on: the keys come back, AOF is on
# again and rewritten from them, the drop-in is left as it was, the previous data is kept aside.
load redis-helpers

setup() { redis_setup; }
teardown() { redis_teardown; }

# snapshot ID: a snapshot of the running server in REDIS_BACKUP_DIR, taken by backup-redis.
snapshot() { "$AGENT/backup-redis" 2>&1 | sed -n 's/.*snapshot \(dump_[0-9]\{8\}T[0-9]\{6\}Z\.rdb\):.*/\1/p'; }

@test "exactly one snapshot path is required (exit 2)" {
  run "$AGENT/restore-redis"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: restore-redis <dump_ID.rdb>"* ]]
  run "$AGENT/restore-redis" a.rdb b.rdb
  [ "$status" -eq 2 ]
  run "$AGENT/restore-redis" ""
  [ "$status" -eq 2 ]
}

@test "a snapshot that does not exist is refused" {
  run "$AGENT/restore-redis" "$TMP/backups/dump_20240101T000000Z.rdb"
  [ "$status" -eq 1 ]
  [[ $output == *"snapshot '$TMP/backups/dump_20240101T000000Z.rdb' does not exist"* ]]
}

@test "a snapshot without its checksum file is refused" {
  echo x >"$TMP/backups/dump_20240101T000000Z.rdb"
  run "$AGENT/restore-redis" "$TMP/backups/dump_20240101T000000Z.rdb"
  [ "$status" -eq 1 ]
  [[ $output == *"no checksum file $TMP/backups/dump_20240101T000000Z.rdb.sha256"* ]]
}

@test "a snapshot that does not match its checksum is refused and the data directory is untouched" {
  mkdir -p "$TMP/data"
  echo current >"$TMP/data/dump.rdb"
  echo x >"$TMP/backups/dump_20240101T000000Z.rdb"
  (cd "$TMP/backups" && sha256sum dump_20240101T000000Z.rdb >dump_20240101T000000Z.rdb.sha256)
  echo y >>"$TMP/backups/dump_20240101T000000Z.rdb"
  run "$AGENT/restore-redis" "$TMP/backups/dump_20240101T000000Z.rdb"
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/backups/dump_20240101T000000Z.rdb does not match its checksum"* ]]
  [[ $output != *"stopping the server"* ]]
  [ "$(cat "$TMP/data/dump.rdb")" = current ]
  [ -z "$(find "$TMP/data" -name 'before-restore-*')" ]
}

@test "a file that is not an RDB is refused even with a matching checksum" {
  echo "not an rdb" >"$TMP/backups/dump_20240101T000000Z.rdb"
  (cd "$TMP/backups" && sha256sum dump_20240101T000000Z.rdb >dump_20240101T000000Z.rdb.sha256)
  run "$AGENT/restore-redis" "$TMP/backups/dump_20240101T000000Z.rdb"
  [ "$status" -eq 1 ]
  [[ $output == *"redis-check-rdb rejects $TMP/backups/dump_20240101T000000Z.rdb"* ]]
}

@test "a bad REDIS_MANAGER or a missing setting is named before anything happens" {
  setting REDIS_MANAGER pm2
  run "$AGENT/restore-redis" "$TMP/backups/x.rdb"
  [ "$status" -eq 1 ]
  [[ $output == *"setting REDIS_MANAGER must be systemd or process, not 'pm2'"* ]]
  setting REDIS_MANAGER systemd
  run "$AGENT/restore-redis" "$TMP/backups/x.rdb"
  [ "$status" -eq 1 ]
  [[ $output == *"setting REDIS_UNIT is not set"* ]]
  setting REDIS_MANAGER process
  grep -v '^REDIS_DROP_IN=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/restore-redis" "$TMP/backups/x.rdb"
  [ "$status" -eq 1 ]
  [[ $output == *"setting REDIS_DROP_IN is not set"* ]]
}

@test "restores the keys with AOF on: AOF rewritten from them, drop-in unchanged, old data kept aside" {
  start_server
  fill 40
  cli HSET session:1 user ada >/dev/null
  snap=$(snapshot)
  [ -n "$snap" ]
  cli FLUSHALL >/dev/null
  cli SET written:after 1 >/dev/null
  drop_in_before=$(cat "$TMP/etc/drkit-testsvc.conf")
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  [ "$status" -eq 0 ]
  [[ $output == *"restored $snap: 41 keys; previous data in $TMP/data/before-restore-"* ]]
  [ "$(cli DBSIZE)" = 41 ]
  [ "$(cli HGET session:1 user)" = ada ]
  [ "$(cli EXISTS written:after)" = 0 ]
  [ "$(cli CONFIG GET appendonly | sed -n 2p)" = yes ]
  [ "$(cat "$TMP/etc/drkit-testsvc.conf")" = "$drop_in_before" ]
  aside=$(find "$TMP/data" -maxdepth 1 -name 'before-restore-*')
  [ -d "$aside/appendonlydir" ]
  # The AOF now holds the restored data: a restart, which loads the AOF, keeps the keys.
  "$AGENT/sandbox-redis" stop 2>/dev/null
  start_server
  [ "$(cli DBSIZE)" = 41 ]
}

@test "a restore that brings back another key count than the snapshot recorded fails" {
  start_server
  fill 5
  snap=$(snapshot)
  sed -i 's/^keys=5$/keys=6/' "$TMP/backups/${snap%.rdb}.meta"
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  [ "$status" -eq 1 ]
  [[ $output == *"restored 5 keys, the snapshot recorded 6"* ]]
}

@test "not enough space in the data directory: fails naming it and the bytes, the server and its data untouched" {
  start_server
  fill 5
  snap=$(snapshot)
  cli SET written:after 1 >/dev/null
  size=$(stat -c %s "$TMP/backups/$snap")
  free_space 10
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  [ "$status" -eq 1 ]
  # AOF is on: the RDB and the AOF rewritten from it.
  [[ $output == *"not enough space in $TMP/data for restoring $snap: needs about $((2 * size)) bytes"*", 10 bytes (10) are available; nothing was written"* ]]
  [[ $output != *"stopping the server"* ]]
  [ "$(cli DBSIZE)" = 6 ]
  [ -z "$(find "$TMP/data" -maxdepth 1 -name 'before-restore-*')" ]
  grep -qx "appendonly yes" "$TMP/etc/drkit-testsvc.conf"
}

@test "a restore killed with the drop-in at 'appendonly no': the next run puts it back and removes its leftovers" {
  start_server
  fill 7
  snap=$(snapshot)
  # What a run killed after switching AOF off leaves: the drop-in, a half-copied RDB, a temp drop-in, an empty
  # folder for the previous data.
  sed -i 's/^appendonly yes$/appendonly no/' "$TMP/etc/drkit-testsvc.conf"
  echo half >"$TMP/data/.drkit-restore.rdb"
  echo half >"$TMP/etc/.drkit-testsvc.conf.Ab12Cd"
  mkdir "$TMP/data/before-restore-20240101T000000Z.Xy12Zw"
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  [ "$status" -eq 0 ]
  [[ $output == *"set 'appendonly yes' in $TMP/etc/drkit-testsvc.conf again, as configured: a restore that did not finish had changed it"* ]]
  [[ $output == *"removed $TMP/etc/.drkit-testsvc.conf.Ab12Cd, left by an earlier run that did not finish"* ]]
  [[ $output == *"removed $TMP/data/.drkit-restore.rdb, left by an earlier run"* ]]
  grep -qx "appendonly yes" "$TMP/etc/drkit-testsvc.conf"
  [ ! -e "$TMP/etc/.drkit-testsvc.conf.Ab12Cd" ]
  [ ! -e "$TMP/data/before-restore-20240101T000000Z.Xy12Zw" ]
  [ "$(cli DBSIZE)" = 7 ]
  [ "$(cli CONFIG GET appendonly | sed -n 2p)" = yes ]
}

@test "two restores never overlap: a second one does not start, and leaves the first one's drop-in alone" {
  start_server
  snap=$(snapshot)
  sed -i 's/^appendonly yes$/appendonly no/' "$TMP/etc/drkit-testsvc.conf"
  exec 8>>"$TMP/data/.drkit-restore.lock"
  flock -n 8
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  exec 8>&-
  [ "$status" -eq 1 ]
  [[ $output == *"another run holds $TMP/data/.drkit-restore.lock"* ]]
  grep -qx "appendonly no" "$TMP/etc/drkit-testsvc.conf"
}

@test "a server that was killed (its pid file left behind) does not hold a restore up" {
  start_server
  fill 3
  snap=$(snapshot)
  kill -9 "$(cat "$TMP/run/redis.pid")"
  sleep 0.2
  [ -f "$TMP/run/redis.pid" ]
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  # A pid file whose process is gone is not a server that will not stop.
  [ "$status" -eq 0 ]
  [[ $output != *"did not stop"* ]]
  [ "$(cli DBSIZE)" = 3 ]
}

@test "a server that refuses the first SHUTDOWN (still starting) is asked again, not waited for in vain" {
  start_server
  fill 3
  snap=$(snapshot)
  # redis-cli as a server that is not listening yet sees it: the first SHUTDOWN is refused, later ones go through.
  cat >"$TMP/redis-cli" <<STUB
#!/usr/bin/env bash
if [[ " \$* " == *" SHUTDOWN "* && ! -e "$TMP/refused" ]]; then
  touch "$TMP/refused"
  echo "Could not connect to Redis at $TMP/run/redis.sock: Connection refused" >&2
  exit 1
fi
exec "$(command -v redis-cli)" "\$@"
STUB
  chmod +x "$TMP/redis-cli"
  setting REDIS_CLI "$TMP/redis-cli"
  SECONDS=0
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  [ "$status" -eq 0 ]
  [ -e "$TMP/refused" ]
  [[ $output != *"did not stop"* ]]
  [ "$SECONDS" -lt 8 ]
  [ "$(cli DBSIZE)" = 3 ]
}

@test "with no previous data to move aside (a killed restore had moved it) no empty folder is left" {
  start_server
  fill 4
  snap=$(snapshot)
  "$AGENT/sandbox-redis" stop 2>/dev/null
  mkdir "$TMP/data/before-restore-20240101T000000Z.Ab12Cd"
  mv "$TMP/data/dump.rdb" "$TMP/data/appendonlydir" "$TMP/data/before-restore-20240101T000000Z.Ab12Cd/"
  run "$AGENT/restore-redis" "$TMP/backups/$snap" 3>&-
  [ "$status" -eq 0 ]
  [[ $output == *"the data directory holds no previous data to move aside"* ]]
  [[ $output == *"restored $snap: 4 keys"* && $output != *"previous data in"* ]]
  [ "$(find "$TMP/data" -maxdepth 1 -name 'before-restore-*' | wc -l)" -eq 1 ]
  [ "$(cli DBSIZE)" = 4 ]
}
