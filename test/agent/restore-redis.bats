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
