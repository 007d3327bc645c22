#!/usr/bin/env bats
# apply-settings: arguments; with pg_ctl/psql stubbed: nothing to do while the server is down, a rejected
# configuration, archive_timeout checked against ARCHIVE_TIMEOUT (not with --removed), and a restart only when
# a setting is pending one.
load helpers
load postgres-stubs

setup() {
  agent_setup
  postgres_stubs
  mkdir -p "$TMP/data"
  running "$TMP/data"
  setting ARCHIVE_DROP_IN "$TMP/conf.d/90-drkit-testsvc-archiving.conf"
  setting ARCHIVE_TIMEOUT 96
  sql_answer "*pg_conf_load_time() >*" t
  sql_answer "*SELECT pg_conf_load_time()*" "2024-01-02 03:04:05+00"
  sql_answer "*name = 'archive_timeout'*" 96
  sql_answer "SHOW archive_mode" on
  sql_answer "SHOW archive_timeout" 96s
}
teardown() { agent_teardown; }

@test "reloads, and does not restart when no setting needs it" {
  run "$AGENT/apply-settings"
  [ "$status" -eq 0 ]
  grep -q "SELECT pg_reload_conf()" "$TMP/calls"
  ! grep -q "^pg_ctl .* restart" "$TMP/calls" || false
  [[ $output == *"reloaded; no setting needs a restart"* ]]
  [[ $output == *"archive_mode=on archive_timeout=96s"* ]]
}

@test "restarts when a changed setting is pending a restart" {
  sql_answer "*WHERE pending_restart*" "archive_mode"
  run "$AGENT/apply-settings"
  [ "$status" -eq 0 ]
  [[ $output == *"restarting PostgreSQL: changed setting(s) archive_mode take effect only on restart"* ]]
  grep -q "^pg_ctl -D $TMP/data -l $TMP/log/postgresql.log -m fast -w restart" "$TMP/calls"
}

@test "an archive_timeout other than ARCHIVE_TIMEOUT after the reload fails, naming the drop-in" {
  setting ARCHIVE_TIMEOUT 60
  run "$AGENT/apply-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"after a reload archive_timeout is 96, expected 60: is $TMP/conf.d/90-drkit-testsvc-archiving.conf"* ]]
  [[ $output == *"in an include_dir of postgresql.conf?"* ]]
  ! grep -q "^pg_ctl .* restart" "$TMP/calls" || false
}

@test "--removed reloads without expecting the drop-in's values" {
  setting ARCHIVE_TIMEOUT 60
  run "$AGENT/apply-settings" --removed
  [ "$status" -eq 0 ]
  [[ $output == *"reloaded; no setting needs a restart"* ]]
}

@test "a configuration PostgreSQL rejects fails before reloading" {
  sql_answer "*FROM pg_file_settings*" "/etc/pg/conf.d/90.conf:3: syntax error"
  run "$AGENT/apply-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"PostgreSQL rejects its configuration: /etc/pg/conf.d/90.conf:3: syntax error"* ]]
  ! grep -q "pg_reload_conf" "$TMP/calls" || false
}

@test "with the server down there is nothing to apply" {
  rm "$TMP/data/postmaster.pid"
  run "$AGENT/apply-settings"
  [ "$status" -eq 0 ]
  [[ $output == *"not running; $TMP/conf.d/90-drkit-testsvc-archiving.conf takes effect when it starts"* ]]
  ! grep -q "^psql" "$TMP/calls" || false
}

@test "other arguments are usage errors (exit 2)" {
  run "$AGENT/apply-settings" --restart
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '--restart' (usage: apply-settings [--removed])"* ]]
  run "$AGENT/apply-settings" --removed extra
  [ "$status" -eq 2 ]
  [ ! -s "$TMP/calls" ]
}

@test "an unknown PG_MANAGER fails naming the setting" {
  setting PG_MANAGER supervisord
  run "$AGENT/apply-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"setting PG_MANAGER must be systemd"*"not 'supervisord'"* ]]
}

@test "a settings file without ARCHIVE_TIMEOUT fails naming it" {
  grep -v '^ARCHIVE_TIMEOUT=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/apply-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"setting ARCHIVE_TIMEOUT is not set"* ]]
}
