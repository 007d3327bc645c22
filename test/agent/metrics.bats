#!/usr/bin/env bats
# Metrics: a job's result published at its exit (lib.sh's track_job: success and failure times, runs, failures,
# backup sizes with the one before), never failing the job when the directory cannot take it; and the collector
# (collect-metrics): arguments, settings, what it reads from the server and the archive, drkit_postgres_up 0
# when the server does not answer.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  mkdir -p "$TMP/etc" "$TMP/metrics" "$TMP/base" "$TMP/pgdata/pg_wal/archive_status"
  echo one >"$TMP/etc/a.conf"
  setting CONFIG_BACKUP_DIR "$TMP/config"
  setting_array CONFIG_FILES "$TMP/etc/a.conf"
  setting RETAIN_DAILY_DAYS 7
  setting RETAIN_WEEKLY_WEEKS 0
  setting RETAIN_MONTHS 0
  setting RETAIN_NEWEST 1
  setting METRICS_DIR "$TMP/metrics"
  setting METRICS_INTERVAL 5
  setting BASE_DIR "$TMP/base"
  setting WAL_DIR "$TMP/wal"
  setting PGDATA_DIR "$TMP/pgdata"
}
teardown() { agent_teardown; }

job_file() { echo "$TMP/metrics/drkit_testsvc_job_$1.prom"; }
value() { awk -v m="$2" 'index($0, m "{") == 1 { print $NF }' "$1"; }

@test "a successful job publishes its success, duration, size and type" {
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  file=$(job_file config)
  [ "$(stat -c %a "$file")" = 644 ]
  now=$(date +%s)
  success=$(value "$file" drkit_job_last_success_timestamp_seconds)
  ((now - success <= 5))
  [ "$(value "$file" drkit_job_last_failure_timestamp_seconds)" = 0 ]
  [ "$(value "$file" drkit_job_runs_total)" = 1 ]
  [ "$(value "$file" drkit_job_failures_total)" = 0 ]
  [ "$(value "$file" drkit_job_last_exit_code)" = 0 ]
  size=$(value "$file" drkit_backup_size_bytes)
  ((size > 0))
  [ "$(value "$file" drkit_backup_previous_size_bytes)" = "$size" ]
  grep -qx 'drkit_backup_info{service="testsvc",drkit_job="config",type="files"} 1' "$file"
  grep -q '^# TYPE drkit_job_runs_total counter$' "$file"
  # Nothing else is left in the directory (the temp file was renamed).
  [ "$(ls -A "$TMP/metrics")" = drkit_testsvc_job_config.prom ]
}

@test "a failure keeps the last success and its size, and counts the failure" {
  "$AGENT/backup-config"
  file=$(job_file config)
  success=$(value "$file" drkit_job_last_success_timestamp_seconds)
  size=$(value "$file" drkit_backup_size_bytes)
  rm "$TMP/etc/a.conf"
  run "$AGENT/backup-config"
  [ "$status" -eq 1 ]
  [ "$(value "$file" drkit_job_last_success_timestamp_seconds)" = "$success" ]
  failure=$(value "$file" drkit_job_last_failure_timestamp_seconds)
  ((failure >= success))
  [ "$(value "$file" drkit_job_runs_total)" = 2 ]
  [ "$(value "$file" drkit_job_failures_total)" = 1 ]
  [ "$(value "$file" drkit_job_last_exit_code)" = 1 ]
  [ "$(value "$file" drkit_backup_size_bytes)" = "$size" ]
}

@test "the next success records the size before it as the previous size" {
  "$AGENT/backup-config"
  file=$(job_file config)
  first=$(value "$file" drkit_backup_size_bytes)
  head -c 100000 /dev/zero >"$TMP/etc/a.conf"
  sleep 1
  "$AGENT/backup-config"
  [ "$(value "$file" drkit_backup_previous_size_bytes)" = "$first" ]
  second=$(value "$file" drkit_backup_size_bytes)
  ((second > first + 90000))
}

@test "a metrics directory that cannot be written is logged and does not fail the job" {
  setting METRICS_DIR "$TMP/missing"
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  [[ $output == *"WARNING: cannot publish metrics to $TMP/missing/drkit_testsvc_job_config.prom"* ]]
}

@test "without METRICS_DIR nothing is published" {
  setting METRICS_DIR ""
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  [ -z "$(ls -A "$TMP/metrics")" ]
}

@test "prune --dry-run records no run" {
  setting PG_BIN "$TMP/bin"
  setting PG_OS_USER root
  setting LOGICAL_DIR "$TMP/logical"
  setting WAL_DIR "$TMP/wal"
  mkdir -p "$TMP/logical" "$TMP/wal"
  run "$AGENT/prune" --dry-run
  [ "$status" -eq 0 ]
  [ ! -e "$(job_file prune)" ]
  run "$AGENT/prune"
  [ "$status" -eq 0 ]
  [ "$(value "$(job_file prune)" drkit_job_runs_total)" = 1 ]
}

collector_settings() {
  setting PG_BIN "$TMP/bin"
  setting PG_OS_USER root
  setting PGHOST "$TMP/socket"
  setting PGPORT 5432
  setting PGUSER postgres
  setting ARCHIVE_RECORD "$TMP/base/drkit-archive.env"
  setting_array REPL_STANDBY_NAMES replica_a replica_b
}

@test "collect-metrics: usage errors exit 2" {
  collector_settings
  run "$AGENT/collect-metrics"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: collect-metrics run | once | start | stop"* ]]
  run "$AGENT/collect-metrics" twice
  [ "$status" -eq 2 ]
  run "$AGENT/collect-metrics" once extra
  [ "$status" -eq 2 ]
}

@test "collect-metrics: missing or bad settings fail and name the setting" {
  collector_settings
  setting METRICS_INTERVAL 0
  run "$AGENT/collect-metrics" once
  [ "$status" -eq 1 ]
  [[ $output == *"setting METRICS_INTERVAL must be whole seconds, not '0'"* ]]
  setting METRICS_DIR ""
  run "$AGENT/collect-metrics" once
  [ "$status" -eq 1 ]
  [[ $output == *"setting METRICS_DIR is not set"* ]]
}

@test "collect-metrics once: archiving, replication, slots, the recovery window and the archive's age" {
  collector_settings
  sql_answer "*pg_stat_archiver*" "in_recovery 0 \narchived_total 42 \nfailed_total 3 \nlast_archived 1700000100 \n\
last_failed 1700000000 \nstreaming 1 replica_a\nlag_seconds 2 replica_a\nlag_bytes 8192 replica_a\n\
slot_active 1 drkit_replica_a\nslot_active 0 drkit_replica_b\nslot_retained_bytes 16777216 drkit_replica_b"
  touch -d @1700000300 "$TMP/pgdata/pg_wal/archive_status/000000010000000000000007.ready"
  touch -d @1700000200 "$TMP/pgdata/pg_wal/archive_status/000000010000000000000008.ready"
  touch "$TMP/pgdata/pg_wal/archive_status/000000010000000000000006.done"
  for id in 20260101T000000Z 20260102T000000Z; do
    mkdir -p "$TMP/base/$id"
    echo "start_epoch=$(date -u -d "${id:0:8} ${id:9:2}:${id:11:2}" +%s)" >"$TMP/base/$id/drkit-backup.env"
  done
  touch -d @1690000000 "$TMP/base/drkit-archive.env"
  before=$(date +%s)
  run "$AGENT/collect-metrics" once
  [ "$status" -eq 0 ]
  file=$TMP/metrics/drkit_testsvc_collector.prom
  l='service="testsvc"'
  grep -qx "drkit_postgres_up{$l} 1" "$file"
  grep -qx "drkit_postgres_in_recovery{$l} 0" "$file"
  grep -qx "drkit_archive_ready_segments{$l} 2" "$file"
  grep -qx "drkit_archive_oldest_ready_timestamp_seconds{$l} 1700000200" "$file"
  grep -qx "drkit_archive_archived_total{$l} 42" "$file"
  grep -qx "drkit_archive_failed_total{$l} 3" "$file"
  grep -qx "drkit_archive_last_archived_timestamp_seconds{$l} 1700000100" "$file"
  grep -qx "drkit_archive_last_failed_timestamp_seconds{$l} 1700000000" "$file"
  grep -qx "drkit_replication_streaming{$l,standby=\"replica_a\"} 1" "$file"
  grep -qx "drkit_replication_streaming{$l,standby=\"replica_b\"} 0" "$file"
  grep -qx "drkit_replication_lag_seconds{$l,standby=\"replica_a\"} 2" "$file"
  grep -qx "drkit_replication_lag_bytes{$l,standby=\"replica_a\"} 8192" "$file"
  grep -qx "drkit_replication_slot_active{$l,slot=\"drkit_replica_b\"} 0" "$file"
  grep -qx "drkit_replication_slot_retained_bytes{$l,slot=\"drkit_replica_b\"} 16777216" "$file"
  grep -qx "drkit_recovery_window_start_timestamp_seconds{$l} $(date -u -d '20260101 00:00' +%s)" "$file"
  grep -qx "drkit_archive_created_timestamp_seconds{$l} 1690000000" "$file"
  # the time of this run: between its start and now, however slow the machine is
  run=$(awk '/^drkit_collector_last_run_timestamp_seconds/ { print $NF }' "$file")
  ((run >= before && run <= $(date +%s)))
}

@test "collect-metrics once: gaps in the local archive are open until a newer base backup starts after them" {
  collector_settings
  sql_answer "*pg_stat_archiver*" "in_recovery 0 "
  mkdir -p "$TMP/wal" "$TMP/base/20260101T000000Z"
  echo "start_wal=000000010000000000000010" >"$TMP/base/20260101T000000Z/drkit-backup.env"
  {
    echo "2026-01-01T00:00:00Z 000000010000000000000008 000000010000000000000008 1 local archive full"
    echo "2026-01-02T00:00:00Z 000000010000000000000012 000000010000000000000013 2 local archive full"
  } >"$TMP/wal/drkit-gaps.log"
  run "$AGENT/collect-metrics" once
  [ "$status" -eq 0 ]
  grep -qx 'drkit_archive_gaps_open{service="testsvc"} 1' "$TMP/metrics/drkit_testsvc_collector.prom"
  mkdir -p "$TMP/base/20260103T000000Z"
  echo "start_wal=000000010000000000000020" >"$TMP/base/20260103T000000Z/drkit-backup.env"
  run "$AGENT/collect-metrics" once
  grep -qx 'drkit_archive_gaps_open{service="testsvc"} 0' "$TMP/metrics/drkit_testsvc_collector.prom"
}

@test "collect-metrics once: a standby publishes no replication series" {
  collector_settings
  sql_answer "*pg_stat_archiver*" "in_recovery 1 \narchived_total 0 \nfailed_total 0 \nlast_archived 0 \nlast_failed 0 "
  run "$AGENT/collect-metrics" once
  [ "$status" -eq 0 ]
  grep -qx 'drkit_postgres_in_recovery{service="testsvc"} 1' "$TMP/metrics/drkit_testsvc_collector.prom"
  grep -qx 'drkit_archive_oldest_ready_timestamp_seconds{service="testsvc"} 0' "$TMP/metrics/drkit_testsvc_collector.prom"
  ! grep -q drkit_replication_ "$TMP/metrics/drkit_testsvc_collector.prom" || false
}

@test "collect-metrics once: a server that does not answer is published as down, and the run fails" {
  collector_settings
  sql_fails "*pg_stat_archiver*"
  run "$AGENT/collect-metrics" once
  [ "$status" -eq 1 ]
  [[ $output == *"PostgreSQL did not answer"* ]]
  file=$TMP/metrics/drkit_testsvc_collector.prom
  grep -qx 'drkit_postgres_up{service="testsvc"} 0' "$file"
  grep -qx 'drkit_recovery_window_start_timestamp_seconds{service="testsvc"} 0' "$file"
  ! grep -q drkit_archive_last_archived "$file" || false
}

@test "collect-metrics start and stop run it in the background" {
  collector_settings
  sql_answer "*pg_stat_archiver*" "in_recovery 0 "
  run "$AGENT/collect-metrics" start
  [ "$status" -eq 0 ]
  pid=$(cat "$TMP/locks/collect-metrics.pid")
  kill -0 "$pid"
  for _ in {1..50}; do
    [[ -f $TMP/metrics/drkit_testsvc_collector.prom ]] && break
    sleep 0.1
  done
  [ -f "$TMP/metrics/drkit_testsvc_collector.prom" ]
  run "$AGENT/collect-metrics" stop
  [ "$status" -eq 0 ]
  ! kill -0 "$pid" 2>/dev/null || false
  [ ! -e "$TMP/locks/collect-metrics.pid" ]
}
