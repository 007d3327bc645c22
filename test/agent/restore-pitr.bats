#!/usr/bin/env bats
# restore-pitr: arguments (a malformed --target-time, --target-timeline, --timeout, --action, --backup), a running
# primary left alone without --force, the choice of base backup by the target time and by the timeline's path
# (synthetic history files), then with pg_ctl/psql stubbed: the old data directory moved aside, the backup
# extracted, the recovery settings written, the old data directory's unarchived WAL copied for a restore to the
# end, synchronous_standby_names cleared when no standby streams, the wait bounded by the timeout (the server
# not asked while recovery.signal is there and the postmaster lives), and
# --from-offsite through fetch-offsite.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  mkdir -p "$TMP/base" "$TMP/wal" "$TMP/data" "$TMP/root"
  setting BASE_DIR "$TMP/base"
  setting WAL_DIR "$TMP/wal"
  setting BACKUP_ROOT "$TMP/root"
  setting RTO_SECONDS 30
  echo "the old cluster" >"$TMP/data/PG_VERSION"
  running "$TMP/data"
  # Finished 2024-01-01 00:10 and 2024-01-02 00:10 UTC.
  fake_base "$TMP/base" 20240101T000000Z 1704067800 first
  fake_base "$TMP/base" 20240102T000000Z 1704154200 second
  # The running server is a primary; recovery (the wait loop's query) ends at once.
  sql_answer 'SELECT pg_is_in_recovery()' f
  sql_answer '*pg_is_in_recovery*' ended
  # pg_controldata: the system identifier a data directory's file "sysid" holds.
  cat >"$TMP/bin/pg_controldata" <<STUB
#!/usr/bin/env bash
echo "pg_controldata \$*" >>"$TMP/calls"
[[ -f \$2/sysid ]] || exit 1
echo "Database system identifier:           \$(cat "\$2/sysid")"
STUB
  chmod +x "$TMP/bin/pg_controldata"
}
teardown() { agent_teardown; }

aside() { find "$TMP" -maxdepth 1 -name 'data.before-restore-*'; }
untouched() {
  [ "$(cat "$TMP/data/PG_VERSION")" = "the old cluster" ]
  [ -f "$TMP/data/postmaster.pid" ]
  [ -z "$(aside)" ]
  ! grep -q '^pg_ctl .* stop' "$TMP/calls" || false
}
conf() { grep -qxF "$1" "$TMP/data/postgresql.auto.conf"; }

# tl_base ID END_EPOCH TIMELINE START_LSN END_LSN [SYSID]: a base backup taken on TIMELINE from START_LSN,
# consistent at END_LSN, whose data directory has "marker" (the id) and "sysid" (default 7001).
tl_base() {
  local dir=$TMP/base/$1 src start_wal
  src=$(mktemp -d "$TMP/src.XXXXXX")
  mkdir -p "$dir" "$src/pg_wal"
  start_wal=$(printf '%08X%08X%08X' "$3" "$((16#${4%/*}))" "$((16#${4#*/} / 16777216))")
  echo 15 >"$src/PG_VERSION"
  echo "$1" >"$src/marker"
  echo "${6:-7001}" >"$src/sysid"
  echo "# the source's postgresql.auto.conf" >"$src/postgresql.auto.conf"
  tar -cf "$dir/base.tar" -C "$src" PG_VERSION marker sysid postgresql.auto.conf
  echo "from the backup" >"$src/pg_wal/$start_wal"
  tar -cf "$dir/pg_wal.tar" -C "$src/pg_wal" "$start_wal"
  echo '{"PostgreSQL-Backup-Manifest-Version": 1}' >"$dir/backup_manifest"
  printf 'id=%s\nstart_wal=%s\ntimeline=%s\nstart_lsn=%s\nend_lsn=%s\nend_epoch=%s\n' \
    "$1" "$start_wal" "$3" "$4" "$5" "$2" >"$dir/drkit-backup.env"
  rm -rf -- "$src"
}
# history TIMELINE LINE...: timeline TIMELINE's history file in the archive, one "<parent> <switch LSN>" per LINE.
history() {
  local file
  file=$TMP/wal/$(printf '%08X.history' "$1")
  shift
  printf '%s\tno recovery target specified\n' "$@" >"$file"
}
# Timeline 1 branched to 2 at 0/5000000, and 2 to 3 at 0/8000000; backups on each side of the switches.
timelines() {
  rm -rf "$TMP/base"/*
  history 2 "1	0/5000000"
  history 3 "1	0/5000000" "2	0/8000000"
  tl_base 20240101T000000Z 1704067800 1 0/2000028 0/2000100 # TL1, before the switch to 2
  tl_base 20240102T000000Z 1704154200 1 0/4FFFF00 0/5000100 # TL1, consistent only after the switch
  tl_base 20240103T000000Z 1704240600 1 0/9000028 0/9000100 # TL1 after the switch: the abandoned branch
  tl_base 20240104T000000Z 1704327000 2 0/6000028 0/6000100 # TL2, before the switch to 3
  tl_base 20240105T000000Z 1704413400 2 0/9000028 0/9000100 # TL2 after the switch to 3
}

@test "restores the newest backup that finished before the target, to the target" {
  run "$AGENT/restore-pitr" --force --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = first ]
  [ -f "$TMP/data/pg_wal/000000010000000000000002" ]
  [ -f "$TMP/data/recovery.signal" ]
  conf "restore_command = 'cp $TMP/wal/%f %p'"
  conf "recovery_target_time = '2024-01-02 00:05:00+00'"
  conf "recovery_target_action = 'promote'"
  conf "recovery_target_timeline = '1'"
  old=$(aside)
  [ "$(cat "$old/PG_VERSION")" = "the old cluster" ]
  [[ $output == *"moved the old data directory aside to $old"* ]]
  [[ $output == *"restoring base backup 20240101T000000Z (timeline 1), then WAL (cp $TMP/wal/%f %p) along timeline 1"\
" (the newest) to 2024-01-02 00:05:00+00"* ]]
  grep -q "^pg_ctl -D $TMP/data -m fast -w stop" "$TMP/calls"
  grep -q "^pg_ctl -D $TMP/data -l $TMP/log/postgresql.log -W start" "$TMP/calls"
  grep -q "ALTER SYSTEM RESET restore_command ; ALTER SYSTEM RESET recovery_target_time" "$TMP/calls"
  grep -q "ALTER SYSTEM RESET recovery_target_timeline" "$TMP/calls"
  [[ $output == *"recovery ended after"* ]]
}

# segment_sized_base [START_LSN END_LSN]: the only backup, which records the segment size (16 MiB); by default it
# starts in the last segment of WAL file 0 (0/FFFFFF28) and is consistent in the first of file 1 (1/00000100).
segment_sized_base() {
  rm -rf "$TMP/base"/*
  tl_base 20240101T000000Z 1704067800 1 "${1:-0/FFFFFF28}" "${2:-1/00000100}"
  echo "wal_segment_bytes=16777216" >>"$TMP/base/20240101T000000Z/drkit-backup.env"
}

@test "the backup's WAL all in the archive: its pg_wal.tar is not extracted; one segment missing: it is" {
  segment_sized_base
  echo archived >"$TMP/wal/0000000100000000000000FF"
  echo archived >"$TMP/wal/000000010000000100000000"
  run "$AGENT/restore-pitr" --force --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 0 ]
  [[ $output == *"base backup 20240101T000000Z: the WAL it needs is in $TMP/wal, so its pg_wal.tar is not"\
" extracted"* ]]
  [ -d "$TMP/data/pg_wal" ]
  [ -z "$(ls -A "$TMP/data/pg_wal")" ]
  [ "$(cat "$TMP/data/marker")" = 20240101T000000Z ]
  conf "restore_command = 'cp $TMP/wal/%f %p'"

  # the segment holding the end is not archived yet: the backup's own copies are extracted
  rm "$TMP/wal/000000010000000100000000"
  run "$AGENT/restore-pitr" --force --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 0 ]
  [[ $output != *"pg_wal.tar is not extracted"* ]]
  [ "$(cat "$TMP/data/pg_wal/0000000100000000000000FF")" = "from the backup" ]
}

@test "the backup's WAL in the archive at LSNs past 2^63 bytes: its pg_wal.tar is not extracted either" {
  segment_sized_base 7FFFFFFF/FFFFFF28 80000000/00000100
  echo archived >"$TMP/wal/000000017FFFFFFF000000FF"
  echo archived >"$TMP/wal/000000018000000000000000"
  run "$AGENT/restore-pitr" --force --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 0 ]
  [[ $output == *"pg_wal.tar is not extracted"* ]]
  [ -z "$(ls -A "$TMP/data/pg_wal")" ]
}

@test "without the segment size recorded, or from the object store, the backup's pg_wal.tar is extracted" {
  segment_sized_base
  sed -i '/^wal_segment_bytes=/d' "$TMP/base/20240101T000000Z/drkit-backup.env"
  echo archived >"$TMP/wal/0000000100000000000000FF"
  echo archived >"$TMP/wal/000000010000000100000000"
  run "$AGENT/restore-pitr" --force --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/pg_wal/0000000100000000000000FF")" = "from the backup" ]

  # off-site, the host's archive is not what recovery reads: it is not consulted
  segment_sized_base
  offsite_stub
  mkdir -p "$TMP/remote/base"
  mv "$TMP/base/20240101T000000Z" "$TMP/remote/base/"
  run "$AGENT/restore-pitr" --force --from-offsite --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = 20240101T000000Z ]
  [ "$(cat "$TMP/data/pg_wal/0000000100000000000000FF")" = "from the backup" ]
}

@test "a running primary is not stopped without --force: the data directory and the flag are named" {
  run "$AGENT/restore-pitr" --target-time "2024-01-02 00:05:00+00"
  [ "$status" -eq 1 ]
  [[ $output == *"PostgreSQL runs as a primary on $TMP/data (port 5432); restore-pitr would stop it and move that"\
" data directory aside. Stop it yourself first, or run restore-pitr again with --force"* ]]
  untouched
  # A server that does not answer may be a primary too.
  sed -i '1d' "$STUBS/answers"
  sql_fails 'SELECT pg_is_in_recovery()'
  run "$AGENT/restore-pitr"
  [ "$status" -eq 1 ]
  [[ $output == *"runs as a primary on $TMP/data"* ]]
  untouched
}

@test "a server in recovery is no primary: it is stopped without --force; a stopped one needs nothing" {
  sed -i '1d' "$STUBS/answers"
  sed -i '1i answer\tSELECT pg_is_in_recovery()\tt' "$STUBS/answers"
  run "$AGENT/restore-pitr"
  [ "$status" -eq 0 ]
  grep -q "^pg_ctl -D $TMP/data -m fast -w stop" "$TMP/calls"
  rm -rf "$TMP/data" && mkdir "$TMP/data"
  run "$AGENT/restore-pitr"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
}

@test "without a target the newest complete backup is restored to the end of the archive" {
  fake_base "$TMP/base" 20240103T000000Z 1704240600 incomplete
  rm "$TMP/base/20240103T000000Z/drkit-backup.env"
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
  ! grep -q '^recovery_target_time =' "$TMP/data/postgresql.auto.conf" || false
  [[ $output == *"to the end of the archive"* ]]
}

@test "--backup and --action pause: that backup, and the recovery settings stay for the operator" {
  run "$AGENT/restore-pitr" --force --backup 20240102T000000Z --action pause --target-time "2024-01-05 10:00:00Z"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
  conf "recovery_target_action = 'pause'"
  grep -q "pg_is_wal_replay_paused" "$TMP/calls"
  ! grep -q "ALTER SYSTEM RESET" "$TMP/calls" || false
}

@test "no backup finished before the target: fails before touching the server" {
  run "$AGENT/restore-pitr" --force --target-time "2023-12-31 23:00:00+00"
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup in $TMP/base finished before 2023-12-31 23:00:00+00"* ]]
  untouched
}

@test "latest: the newest timeline in the archive, from the newest backup on its path" {
  timelines
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(cat "$TMP/data/marker")" = 20240104T000000Z ]
  conf "recovery_target_timeline = '3'"
  [[ $output == *"restoring base backup 20240104T000000Z (timeline 2)"*"along timeline 3 (the newest)"* ]]
  # With a target time before that backup ended, the newest one before it on the path: on timeline 1 before
  # the first switch (the one consistent only after the switch does not count).
  rm -rf "$TMP/data" && mkdir "$TMP/data"
  run "$AGENT/restore-pitr" --target-time "2024-01-04 00:00:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = 20240101T000000Z ]
  conf "recovery_target_timeline = '3'"
}

@test "--target-timeline N: the newest backup on N's path; 1 is the first timeline, with no history file" {
  timelines
  run "$AGENT/restore-pitr" --force --target-timeline 2
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = 20240105T000000Z ]
  conf "recovery_target_timeline = '2'"
  rm -rf "$TMP/data" && mkdir "$TMP/data"
  run "$AGENT/restore-pitr" --target-timeline 1
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = 20240103T000000Z ]
  conf "recovery_target_timeline = '1'"
  [[ $output == *"along timeline 1 to the end of the archive"* ]]
}

@test "--target-timeline current: the newest backup whatever its timeline, recovered along its own" {
  timelines
  run "$AGENT/restore-pitr" --force --target-timeline current --target-time "2024-01-03 12:00:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = 20240103T000000Z ]
  conf "recovery_target_timeline = 'current'"
  [[ $output == *"along timeline 1 (the backup's)"* ]]
}

@test "a timeline the archive does not know fails before touching the server" {
  timelines
  run "$AGENT/restore-pitr" --force --target-timeline 4
  [ "$status" -eq 1 ]
  [[ $output == *"timeline 4 is not in the archive: $TMP/wal has no history file 00000004.history"* ]]
  untouched
}

@test "no backup on the timeline's path: fails naming the backups left out" {
  timelines
  rm -rf "$TMP/base/20240101T000000Z" "$TMP/base/20240104T000000Z"
  run "$AGENT/restore-pitr" --force --target-timeline 3 --target-time "2024-01-04 12:00:00+00"
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup in $TMP/base finished before 2024-01-04 12:00:00+00 on the path to"\
" timeline 3 (not on it: 20240103T000000Z (timeline 1) 20240102T000000Z (timeline 1))"* ]]
  untouched
}

@test "--backup off the timeline's path is refused" {
  timelines
  run "$AGENT/restore-pitr" --force --backup 20240105T000000Z
  [ "$status" -eq 1 ]
  [[ $output == *"base backup 20240105T000000Z (timeline 2, from 0/9000028) is not on the path to timeline 3"* ]]
  untouched
  run "$AGENT/restore-pitr" --force --backup 20240105T000000Z --target-timeline 2
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = 20240105T000000Z ]
}

@test "the chain logic: a backup reaches a timeline when taken on it, or on an ancestor before the branch left" {
  history 2 "1	0/5000000"
  history 3 "1	0/5000000" "2	0/8000000"
  history 5 "1	0/5000000" "3	1/0"
  reaches() { bash -c '. "$1/lib.sh"; shift; reaches_timeline "$@"' _ "$AGENT" "$TMP/wal" "$@"; }
  refuses() {
    if reaches "$@"; then
      echo "a backup on timeline $2 from $3 reaches timeline $1" >&2
      return 1
    fi
  }
  reaches 3 3 X
  reaches 3 1 0/2000028 0/2000100
  reaches 3 1 0/4FFFFFF 0/5000000 # consistent exactly at the switch
  refuses 3 1 0/4FFFFFF 0/5000001
  refuses 3 1 0/5000000
  reaches 3 2 0/7000000 -
  refuses 3 2 0/8000028 0/8000100
  reaches 5 3 0/FFFFFFFF
  refuses 5 3 1/0
  refuses 5 2 0/6000000 # 2 is no ancestor of 5
  refuses 2 3 0/1000000 # a later timeline never is
  refuses 4 1 0/1000000 # no history file for 4
  refuses 3 1 garbage
  run bash -c '. "$1/lib.sh"; lsn_number 1/0; lsn_number 0/FF; lsn_number A/B0000028; history_name 26' _ "$AGENT"
  [ "$output" = "4294967296
255
45902463016
0000001A.history" ]
  newest() { bash -c '. "$1/lib.sh"; exists() { [[ -f $1/$2 ]]; }; newest_timeline "$3" exists "$2"' _ "$AGENT" "$TMP/wal" "$1"; }
  [ "$(newest 1)" = 3 ]
  [ "$(newest 3)" = 3 ]
  [ "$(newest 5)" = 5 ]
  # An archive that answers yes to every history file is not believed.
  run bash -c '. "$1/lib.sh"; newest_timeline 1 true' _ "$AGENT"
  [ "$status" -eq 1 ]
  [[ $output == *"more than 1000 timelines above timeline 1 in the archive: not believable"* ]]
}

@test "to the end: the old data directory's WAL the archive lacks is copied into the new pg_wal" {
  rm -rf "$TMP/base"/*
  tl_base 20240101T000000Z 1704067800 1 0/3000028 0/3000100
  echo 7001 >"$TMP/data/sysid"
  mkdir -p "$TMP/data/pg_wal/archive_status"
  for seg in 000000010000000000000002 000000010000000000000003 000000010000000000000004 \
    000000010000000000000005; do
    echo "live $seg" >"$TMP/data/pg_wal/$seg"
  done
  echo "archived" >"$TMP/wal/000000010000000000000004"
  echo "1	0/1000000	x" >"$TMP/data/pg_wal/00000001.history" # harmless: not a WAL file of timeline 1
  touch "$TMP/data/pg_wal/archive_status/000000010000000000000004.done"
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 0 ]
  # 2: before the backup; 4: archived. 3 (in the backup too) and 5 come from the live directory.
  [ ! -e "$TMP/data/pg_wal/000000010000000000000002" ]
  [ "$(cat "$TMP/data/pg_wal/000000010000000000000003")" = "live 000000010000000000000003" ]
  [ ! -e "$TMP/data/pg_wal/000000010000000000000004" ]
  [ "$(cat "$TMP/data/pg_wal/000000010000000000000005")" = "live 000000010000000000000005" ]
  [ -f "$TMP/data/pg_wal/00000001.history" ]
  [ -z "$(find "$TMP/data/pg_wal" -name '.*copy')" ]
  [[ $output == *"replaying the old data directory's unarchived tail: 3 WAL file(s), "*", copied from $(aside)/pg_wal"* ]]
  # The old directory keeps its files.
  [ "$(cat "$(aside)/pg_wal/000000010000000000000005")" = "live 000000010000000000000005" ]
}

@test "the tail is not copied with a target time, from another cluster, or from another timeline" {
  rm -rf "$TMP/base"/*
  tl_base 20240101T000000Z 1704067800 1 0/3000028 0/3000100
  mkdir -p "$TMP/data/pg_wal"
  echo "live" >"$TMP/data/pg_wal/000000010000000000000005"
  echo 7001 >"$TMP/data/sysid"
  run "$AGENT/restore-pitr" --force --target-time "2024-01-05 00:00:00+00"
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/data/pg_wal/000000010000000000000005" ]
  [[ $output != *"unarchived tail"* ]]

  rm -rf "$TMP/data" && mv "$(aside)" "$TMP/data"
  echo 7002 >"$TMP/data/sysid"
  run "$AGENT/restore-pitr"
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/data/pg_wal/000000010000000000000005" ]
  [[ $output == *"the old data directory is not the restored cluster (system identifier 7002, the backup's 7001):"\
" its WAL is not replayed"* ]]

  rm -rf "$TMP/data" && mv "$(aside)" "$TMP/data"
  echo 7001 >"$TMP/data/sysid"
  echo "live" >"$TMP/data/pg_wal/000000020000000000000006"
  run "$AGENT/restore-pitr"
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/data/pg_wal/000000020000000000000006" ]
  [[ $output == *"the old data directory's WAL is on timeline 2, the restore follows timeline 1: not replayed"* ]]
}

# sync_names VALUE: synchronous_standby_names as the restored server shows it, then where recovery stopped: after a
# promotion on the second and third lines of the call that resets the recovery settings and reloads, after a pause
# on the first and second.
sync_names() {
  sql_answer 'ALTER SYSTEM RESET restore_command*SELECT pg_reload_conf() ; SHOW synchronous_standby_names ; SELECT*' \
    "t\n$1\n2026-01-02 03:04:05+00 (timeline 2)"
  sql_answer 'SHOW synchronous_standby_names ; SELECT*' "$1\n2026-01-02 03:04:05+00 (timeline 2)"
}

@test "synchronous_standby_names is cleared, loudly, when no standby streams from the restored server" {
  sync_names 'FIRST 1 ("replica_a")'
  sql_answer '*FROM pg_stat_replication*' 0
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 0 ]
  grep -qF "ALTER SYSTEM SET synchronous_standby_names = '' ; SELECT pg_reload_conf()" "$TMP/calls"
  [[ $output == *"WARNING: synchronous_standby_names was 'FIRST 1 (\"replica_a\")' and no standby streams from the"\
" restored server"*"ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();"* ]]
  # where recovery stopped comes from the same call
  [[ $output == *"recovery ended after "*"s at 2026-01-02 03:04:05+00 (timeline 2)"* ]]
  [ "$(grep -c "pg_last_xact_replay_timestamp" "$TMP/calls")" -eq 1 ]
}

@test "after a pause the standby names are read on their own, and cleared the same way" {
  sync_names 'FIRST 1 ("replica_a")'
  sql_answer '*FROM pg_stat_replication*' 0
  run "$AGENT/restore-pitr" --force --action pause
  [ "$status" -eq 0 ]
  ! grep -q "ALTER SYSTEM RESET restore_command" "$TMP/calls" || false
  grep -qF "ALTER SYSTEM SET synchronous_standby_names = '' ; SELECT pg_reload_conf()" "$TMP/calls"
}

@test "synchronous_standby_names is left alone when empty or when a synchronous standby streams" {
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 0 ]
  ! grep -q "ALTER SYSTEM SET synchronous_standby_names" "$TMP/calls" || false
  rm -rf "$TMP/data" && mkdir "$TMP/data"
  sync_names 'FIRST 1 ("replica_a")'
  sql_answer '*FROM pg_stat_replication*' 1
  run "$AGENT/restore-pitr"
  [ "$status" -eq 0 ]
  ! grep -q "ALTER SYSTEM SET synchronous_standby_names" "$TMP/calls" || false
  [[ $output != *WARNING* ]]
}

@test "recovery that does not end within the timeout fails naming the old data directory" {
  sed -i '/pg_is_in_recovery/d' "$STUBS/answers"
  sql_answer '*pg_is_in_recovery*' recovering
  run "$AGENT/restore-pitr" --force --timeout 1
  [ "$status" -eq 1 ]
  [[ $output == *"recovery did not end within 1s; PostgreSQL is still replaying, see $TMP/log/postgresql.log."* ]]
  [[ $output == *"The old data directory is at $(aside)"* ]]
}

# live_postmaster: a live process stands for the postmaster pg_ctl start leaves (its id in $TMP/live.pid).
live_postmaster() {
  sleep 60 3>&- &
  echo "$!" >"$TMP/live.pid"
  cp "$TMP/live.pid" "$STUBS/start.pid"
}
end_live_postmaster() { kill "$(cat "$TMP/live.pid")" 2>/dev/null || true; }
# pidfile STATUS: the live postmaster's postmaster.pid as PostgreSQL writes it, STATUS on its 8th line ("standby"
# while it replays without accepting connections, "ready" once it accepts them).
pidfile() {
  printf '%s\n' "$(cat "$TMP/live.pid")" "$TMP/data" 1700000000 5432 /tmp '*' '  1234  5678' "$1" \
    >"$TMP/data/postmaster.pid.new" && mv "$TMP/data/postmaster.pid.new" "$TMP/data/postmaster.pid"
}
# until_server_started: waits (5 s at most) until restore-pitr has written recovery.signal and pg_ctl start its
# postmaster.pid.
until_server_started() {
  for _ in $(seq 100); do [[ ! -e $TMP/data/recovery.signal || ! -e $TMP/data/postmaster.pid ]] || break; sleep 0.05; done
}
# questions before|after MARK: how often the wait loop asked the server before, or from, the line MARK in the calls.
questions() {
  if [[ $1 == before ]]; then sed -n "/$2/q;p" "$TMP/calls"; else sed -n "/$2/,\$p" "$TMP/calls"; fi |
    grep -c "CASE WHEN pg_is_in_recovery" || true
}

@test "while recovery.signal is there and the postmaster lives, the server is not asked; once it goes, it is" {
  live_postmaster
  # PostgreSQL removes recovery.signal when recovery ends; the removal is logged among the calls.
  (
    until_server_started
    sleep 0.5
    echo "recovery.signal removed" >>"$TMP/calls"
    rm -f -- "$TMP/data/recovery.signal"
  ) 3>&- &
  run "$AGENT/restore-pitr" --force --timeout 30
  end_live_postmaster
  [ "$status" -eq 0 ]
  grep -q "recovery.signal removed" "$TMP/calls"
  [ "$(questions before "recovery.signal removed")" -eq 0 ]
  [ "$(questions after "recovery.signal removed")" -ge 1 ]
  [[ $output == *"recovery ended after"* ]]
}

@test "a live postmaster's status line says when recovery has ended: the server is asked once, after ready" {
  live_postmaster
  (
    until_server_started
    pidfile "standby   "
    rm -f -- "$TMP/data/recovery.signal"
    sleep 0.5
    echo "postmaster ready" >>"$TMP/calls"
    pidfile "ready     "
  ) 3>&- &
  run "$AGENT/restore-pitr" --force --timeout 30
  end_live_postmaster
  [ "$status" -eq 0 ]
  grep -q "postmaster ready" "$TMP/calls"
  [ "$(questions before "postmaster ready")" -eq 0 ]
  [ "$(questions after "postmaster ready")" -eq 1 ]
  # the recovery settings are reset after it, in one call
  sed -n '/postmaster ready/,$p' "$TMP/calls" | grep -q "ALTER SYSTEM RESET restore_command"
  [[ $output == *"recovery ended after"* ]]
}

@test "a hot standby's postmaster says ready while it replays: not asked until recovery.signal goes" {
  live_postmaster
  (
    until_server_started
    pidfile "ready     "
    sleep 0.5
    echo "recovery.signal removed" >>"$TMP/calls"
    rm -f -- "$TMP/data/recovery.signal"
  ) 3>&- &
  run "$AGENT/restore-pitr" --force --timeout 30
  end_live_postmaster
  [ "$status" -eq 0 ]
  grep -q "recovery.signal removed" "$TMP/calls"
  [ "$(questions before "recovery.signal removed")" -eq 0 ]
  [ "$(questions after "recovery.signal removed")" -eq 1 ]
}

@test "a live postmaster that keeps recovery.signal is waited for until the timeout, never asked" {
  live_postmaster
  # the deadline counts whole seconds from before the stop: 3 leaves at least 2 to the wait
  run "$AGENT/restore-pitr" --force --timeout 3
  end_live_postmaster
  [ "$status" -eq 1 ]
  [[ $output == *"recovery did not end within 3s; PostgreSQL is still replaying"* ]]
  [ "$(questions before "no such line")" -eq 0 ]
}

@test "a server that refuses the reset of the recovery settings after its recovery fails the restore" {
  sql_fails 'ALTER SYSTEM RESET restore_command*'
  run "$AGENT/restore-pitr" --force --timeout 30
  [ "$status" -eq 1 ]
  [[ $output == *"recovery ended, but the server did not take the reset of the recovery settings; see"* ]]
  [[ $output == *"The old data directory is at $(aside)"* ]]
  [[ $output != *"recovery ended after"* ]]
}

@test "a server that stops during recovery fails at once, naming its log and the old data directory" {
  stub_fails start
  sed -i '/pg_is_in_recovery/d' "$STUBS/answers"
  sql_fails '*pg_is_in_recovery*'
  run "$AGENT/restore-pitr" --force --timeout 30
  [ "$status" -eq 1 ]
  [[ $output == *"PostgreSQL stopped during recovery"*"see $TMP/log/postgresql.log"* ]]
  [[ $output == *"The old data directory is at $(aside)"* ]]
}

# offsite_stub: fetch-offsite beside a copy of restore-pitr, serving $TMP/remote/base/<id>/ and
# $TMP/remote/wal/<name> (a missing file: exit 1; $TMP/remote/down: exit 126; with $TMP/remote/slow, the fetch of a
# segment runs `tail -f` on that file, which never ends).
offsite_stub() {
  agent_copy restore-pitr
  sibling_stub fetch-offsite "remote='$TMP/remote'
case \$1 in
  list-bases)
    for meta in \$(ls -r \"\$remote\"/base/*/drkit-backup.env); do
      get() { sed -n \"s/^\$1=//p\" \"\$meta\"; }
      echo \"\$(get id) \$(get end_epoch) \$(get timeline) \$(get start_lsn) \$(get end_lsn)\"
    done ;;
  base) mkdir -p \"\$3\" && cp -- \"\$remote/base/\$2\"/* \"\$3\"/ ;;
  wal)
    [[ ! -e \$remote/down ]] || exit 126
    [[ ! -e \$remote/slow || \$2 == *.history ]] || tail -f \"\$remote/slow\"
    [[ -f \$remote/wal/\$2 ]] || exit 1
    cp -- \"\$remote/wal/\$2\" \"\$3\" ;;
esac"
  setting_array OFFSITE_STORES site-a site-b
  mkdir -p "$TMP/remote/wal"
}

@test "--from-offsite fetches the base backup and restores WAL through fetch-offsite" {
  offsite_stub
  mkdir -p "$TMP/remote/base"
  mv "$TMP/base/20240102T000000Z" "$TMP/remote/base/"
  rm -rf "$TMP/base"
  run "$AGENT/restore-pitr" --force --from-offsite --store site-b --target-time "2024-01-05 10:00:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
  grep -qxF "fetch-offsite list-bases --store site-b" "$TMP/calls"
  grep -qxF "fetch-offsite base 20240102T000000Z $TMP/root/.restore-staging/20240102T000000Z --store site-b" \
    "$TMP/calls"
  conf "restore_command = 'DRKIT_ENV=$DRKIT_ENV $TMP/agent/fetch-offsite wal %f %p --store site-b --prefetch $TMP/root/.restore-staging/prefetch'"
  [ ! -e "$TMP/root/.restore-staging" ]
}

@test "--from-offsite: the first segment comes into the prefetch folder while the base backup is extracted" {
  offsite_stub
  mkdir -p "$TMP/remote/base"
  mv "$TMP/base/20240102T000000Z" "$TMP/remote/base/"
  echo "segment 2" >"$TMP/remote/wal/000000010000000000000002"
  run "$AGENT/restore-pitr" --force --from-offsite --target-time "2024-01-05 10:00:00+00"
  [ "$status" -eq 0 ]
  staging=$TMP/root/.restore-staging
  grep -qxF "fetch-offsite wal 000000010000000000000002 $staging/warm-000000010000000000000002 --prefetch $staging/prefetch" \
    "$TMP/calls"
  # before the server starts, and no failure to log
  [ "$(grep -n "fetch-offsite wal 000000010000000000000002" "$TMP/calls" | cut -d: -f1)" -lt \
    "$(grep -n "^pg_ctl .* start" "$TMP/calls" | cut -d: -f1)" ]
  [[ $output != *"ahead failed"* ]]

  # a failure is logged, and recovery fetches the segment itself
  rm "$TMP/remote/wal/000000010000000000000002"
  run "$AGENT/restore-pitr" --force --from-offsite --target-time "2024-01-05 10:00:00+00"
  [ "$status" -eq 0 ]
  [[ $output == *"fetching WAL 000000010000000000000002 ahead failed (exit 1; recovery fetches it itself)"* ]]
}

@test "--from-offsite: a restore that fails while WAL is fetched ahead stops that fetch and what it started" {
  offsite_stub
  mkdir -p "$TMP/remote/base"
  mv "$TMP/base/20240102T000000Z" "$TMP/remote/base/"
  echo "not a tar" >"$TMP/remote/base/20240102T000000Z/base.tar"
  # the download of the first segment never ends (a child of the fetch that outlives it unless it is stopped too)
  : >"$TMP/remote/slow"
  run "$AGENT/restore-pitr" --force --from-offsite --target-time "2024-01-05 10:00:00+00"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot extract"* ]]
  for _ in $(seq 50); do pgrep -f "tail -f $TMP/remote/slow" >/dev/null || break; sleep 0.1; done
  ! pgrep -f "tail -f $TMP/remote/slow" || false
  [ ! -e "$TMP/root/.restore-staging" ]
}

# incremental_chain: the newest backup (second) becomes a PostgreSQL 17 incremental one built on first, and
# pg_combinebackup a stand-in that records its arguments and writes the newest input's files as the result.
incremental_chain() {
  printf 'server_version=170004\nparent=20240101T000000Z\nfull=20240101T000000Z\ntype=incremental\n' \
    >>"$TMP/base/20240102T000000Z/drkit-backup.env"
  cat >"$TMP/bin/pg_combinebackup" <<STUB
#!/usr/bin/env bash
[[ \$1 != --version ]] || { echo "pg_combinebackup (PostgreSQL) 17.4"; exit; }
echo "pg_combinebackup \$*" >>"$TMP/calls"
out=\${1#--output=}
[[ -z \$(ls -A "\$out") ]] || { echo "pg_combinebackup: error: \$out is not empty" >&2; exit 1; }
cp -r -- "\${@: -1}"/. "\$out"/
STUB
  chmod +x "$TMP/bin/pg_combinebackup"
}

@test "an incremental backup is combined with its chain, full backup first, and its WAL extracted" {
  incremental_chain
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 0 ]
  chain=$TMP/root/.restore-chain
  # the backups record no checksum type (a manifest without files): pg_combinebackup's default
  grep -qxF "pg_combinebackup --output=$TMP/data --manifest-checksums=CRC32C -- $chain/20240101T000000Z\
 $chain/20240102T000000Z" "$TMP/calls"
  [ "$(cat "$TMP/data/marker")" = second ]
  [ -f "$TMP/data/pg_wal/000000010000000000000002" ]
  [ -f "$TMP/data/recovery.signal" ]
  [[ $output == *"combining base backup 20240102T000000Z with the backups it builds on (20240101T000000Z"\
" 20240102T000000Z) by pg_combinebackup"* ]]
  [ ! -e "$chain" ]
}

@test "an incremental backup without its parent or without pg_combinebackup fails before the server is touched" {
  incremental_chain
  rm "$TMP/bin/pg_combinebackup"
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/bin/pg_combinebackup is missing: install the PostgreSQL 17 programs"* ]]
  untouched
  rm -r "$TMP/base/20240101T000000Z"
  run "$AGENT/restore-pitr" --force --backup 20240102T000000Z
  [ "$status" -eq 1 ]
  [[ $output == *"base backup 20240101T000000Z, the parent of incremental backup 20240102T000000Z, is not"* ]]
  untouched
}

@test "an incremental backup with a broken chain is passed over for the newest whole one; no room for a chain fails" {
  incremental_chain
  fake_base "$TMP/base" 20240103T000000Z 1704240600 third
  printf 'server_version=170004\nparent=20240102T000000Z\nfull=20240101T000000Z\ntype=incremental\n' \
    >>"$TMP/base/20240103T000000Z/drkit-backup.env"
  # the chain's full backup and the newest backup's manifest both keep their sizes
  echo '{"Files": [{ "Path": "base/1", "Size": 4096 }]}' >"$TMP/base/20240101T000000Z/backup_manifest"
  free_space 1024
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 1 ]
  [[ $output == *"not enough space in $TMP/root for the backups of the chain of 20240103T000000Z"* ]]
  untouched
  rm "$TMP/base/20240102T000000Z/drkit-backup.env"
  rm "$TMP/base/20240101T000000Z/drkit-backup.env"
  fake_base "$TMP/base" 20231231T000000Z 1703981400 oldest
  run "$AGENT/restore-pitr" --force
  [ "$status" -eq 0 ]
  [[ $output == *"passing over base backup 20240103T000000Z: a backup it builds on is gone"* ]]
  [ "$(cat "$TMP/data/marker")" = oldest ]
}

@test "--from-offsite fetches an incremental backup with every backup it builds on" {
  incremental_chain
  offsite_stub
  mv "$TMP/base" "$TMP/remote/base"
  run "$AGENT/restore-pitr" --force --from-offsite --target-time "2024-01-05 10:00:00+00"
  [ "$status" -eq 0 ]
  staging=$TMP/root/.restore-staging
  grep -qxF "fetch-offsite base 20240102T000000Z $staging/20240102T000000Z" "$TMP/calls"
  grep -qxF "fetch-offsite base 20240101T000000Z $staging/20240101T000000Z" "$TMP/calls"
  grep -q "^pg_combinebackup --output=$TMP/data --manifest-checksums=CRC32C -- .*/20240101T000000Z .*/20240102T" \
    "$TMP/calls"
  [ "$(cat "$TMP/data/marker")" = second ]
  [ ! -e "$staging" ]
}

@test "--from-offsite --identity: the identity goes, as a copy only the PostgreSQL user reads, to every fetch" {
  offsite_stub
  mkdir -p "$TMP/remote/base"
  mv "$TMP/base/20240102T000000Z" "$TMP/remote/base/"
  age-keygen -o "$TMP/identity" 2>/dev/null
  # The stub keeps a copy of what it is given, with its mode, to show what restore_command would read.
  sed -i "2i all=\"\$*\"; id=\${all##*--identity }; id=\${id%% *}
    2i stat -c %a \$id >$TMP/identity-mode; cp \$id $TMP/identity-seen" "$TMP/agent/fetch-offsite"
  run "$AGENT/restore-pitr" --force --from-offsite --identity "$TMP/identity" --target-time "2024-01-05 10:00:00+00"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = second ]
  staged=$TMP/root/.restore-staging/identity
  grep -qxF "fetch-offsite list-bases --identity $staged" "$TMP/calls"
  grep -qxF "fetch-offsite base 20240102T000000Z $TMP/root/.restore-staging/20240102T000000Z --identity $staged" \
    "$TMP/calls"
  conf "restore_command = 'DRKIT_ENV=$DRKIT_ENV $TMP/agent/fetch-offsite wal %f %p --identity $staged --prefetch $TMP/root/.restore-staging/prefetch'"
  cmp "$TMP/identity" "$TMP/identity-seen"
  [ "$(cat "$TMP/identity-mode")" = 600 ]
  # Removed with the staging folder once the restore is done.
  [ ! -e "$TMP/root/.restore-staging" ]
}

@test "--identity goes with --from-offsite and must name a readable age identity; nothing is touched" {
  age-keygen -o "$TMP/identity" 2>/dev/null
  run "$AGENT/restore-pitr" --identity "$TMP/identity"
  [ "$status" -eq 2 ]
  [[ $output == *"--identity goes with --from-offsite"* ]]
  setting_array OFFSITE_STORES site-a
  run "$AGENT/restore-pitr" --force --from-offsite --identity "$TMP/nothing"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the age identity $TMP/nothing"* ]]
  untouched
}

@test "--from-offsite follows the newest timeline in the store, its history files fetched from there" {
  offsite_stub
  timelines
  mkdir -p "$TMP/remote/base"
  mv "$TMP/base"/* "$TMP/remote/base/"
  mv "$TMP/wal"/*.history "$TMP/remote/wal/"
  run "$AGENT/restore-pitr" --force --from-offsite
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = 20240104T000000Z ]
  conf "recovery_target_timeline = '3'"
  grep -qxF "fetch-offsite wal 00000003.history $TMP/root/.restore-staging/history/00000003.history" "$TMP/calls"
  grep -qxF "fetch-offsite wal 00000004.history $TMP/root/.restore-staging/history/00000004.history" "$TMP/calls"
  [ ! -e "$TMP/root/.restore-staging" ]
}

@test "--from-offsite: a history file counts only once fetched, not on a bare success" {
  offsite_stub
  # wal exits 0 for every name and writes nothing
  sibling_stub fetch-offsite "case \$1 in
  list-bases) echo '20240102T000000Z 1704154200 1 - -' ;;
  base) mkdir -p \"\$3\" && cp -- '$TMP/base/20240102T000000Z'/* \"\$3\"/ ;;
esac"
  run "$AGENT/restore-pitr" --force --from-offsite
  [ "$status" -eq 0 ]
  conf "recovery_target_timeline = '1'"
}

@test "--from-offsite: a store that cannot be read while looking for history files fails, untouched" {
  offsite_stub
  timelines
  mkdir -p "$TMP/remote/base"
  mv "$TMP/base"/* "$TMP/remote/base/"
  touch "$TMP/remote/down"
  run "$AGENT/restore-pitr" --force --from-offsite
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read 00000003.history from the object store (fetch-offsite exit 126)"* ]]
  untouched
  [ ! -e "$TMP/root/.restore-staging" ]
}

@test "--from-offsite fails when fetch-offsite cannot list the base backups" {
  agent_copy restore-pitr
  sibling_stub fetch-offsite "exit 1"
  setting_array OFFSITE_STORES site-a
  run "$AGENT/restore-pitr" --force --from-offsite
  [ "$status" -eq 1 ]
  [[ $output == *"cannot list the base backups in the object store"* ]]
  untouched
}

@test "--from-offsite without object stores fails" {
  run "$AGENT/restore-pitr" --from-offsite
  [ "$status" -eq 1 ]
  [[ $output == *"--from-offsite: this service has no off-site targets"* ]]
  untouched
}

@test "a malformed --target-time is a usage error (exit 2) before anything is touched" {
  for bad in "yesterday; rm -rf /" "2024-01-02" "2024-01-02 00:05:00 +00" "'2024-01-02 00:05:00'"; do
    run "$AGENT/restore-pitr" --target-time "$bad"
    [ "$status" -eq 2 ]
    [[ $output == *"--target-time must look like '2026-02-16 14:30:00+00', got '$bad'"* ]]
  done
  run "$AGENT/restore-pitr" --target-time "2024-02-30 00:00:00+00"
  [ "$status" -eq 2 ]
  [[ $output == *"cannot read --target-time '2024-02-30 00:00:00+00'"* ]]
  run "$AGENT/restore-pitr" --target-time
  [ "$status" -eq 2 ]
  [[ $output == *"--target-time needs a value"* ]]
  untouched
}

@test "a malformed --target-timeline is a usage error (exit 2) before anything is touched" {
  for bad in 0 -1 two 1.5 "2 " 0x2 99999999999 4294967296 newest; do
    run "$AGENT/restore-pitr" --force --target-timeline "$bad"
    [ "$status" -eq 2 ]
    [[ $output == *"--target-timeline must be a timeline number, latest or current, got '$bad'"* ]]
  done
  run "$AGENT/restore-pitr" --force --target-timeline
  [ "$status" -eq 2 ]
  [[ $output == *"--target-timeline needs a value"* ]]
  untouched
}

@test "a --timeout that is not whole seconds is a usage error (exit 2)" {
  run "$AGENT/restore-pitr" --timeout 1h
  [ "$status" -eq 2 ]
  [[ $output == *"--timeout must be whole seconds, got '1h'"* ]]
  untouched
}

@test "--action other than promote or pause, a malformed --backup, --store alone: usage errors (exit 2)" {
  run "$AGENT/restore-pitr" --action shutdown
  [ "$status" -eq 2 ]
  [[ $output == *"--action must be promote or pause, got 'shutdown'"* ]]
  run "$AGENT/restore-pitr" --backup latest
  [ "$status" -eq 2 ]
  [[ $output == *"--backup must be a backup id"* ]]
  run "$AGENT/restore-pitr" --store site-a
  [ "$status" -eq 2 ]
  [[ $output == *"--store goes with --from-offsite"* ]]
  setting_array OFFSITE_STORES site-a
  run "$AGENT/restore-pitr" --from-offsite --store
  [ "$status" -eq 2 ]
  [[ $output == *"--store needs a value"* ]]
  run "$AGENT/restore-pitr" --now
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '--now' (usage: restore-pitr"* ]]
  untouched
}

@test "--backup naming a backup that is not complete fails" {
  rm "$TMP/base/20240102T000000Z/drkit-backup.env"
  run "$AGENT/restore-pitr" --force --backup 20240102T000000Z
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup 20240102T000000Z in $TMP/base"* ]]
  untouched
}

@test "a second restore while one holds the lock fails" {
  hold_lock restore
  run "$AGENT/restore-pitr" --force
  exec 7>&-
  [ "$status" -eq 1 ]
  [[ $output == *"not starting a second one"* ]]
  untouched
}

@test "a settings file without PG_MANAGER fails naming it" {
  grep -v '^PG_MANAGER=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/restore-pitr"
  [ "$status" -eq 1 ]
  [[ $output == *"setting PG_MANAGER is not set"* ]]
  untouched
}
