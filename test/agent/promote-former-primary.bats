#!/usr/bin/env bats
# promote-former-primary: arguments, what it refuses (no cluster, a stopped server, a server still streaming from
# the promoted standby), then with pg_ctl/psql stubbed: the promotion, the standby settings reset one by one and
# the reload; a primary only has them reset; a failed promotion, reset or reload stops it.
load helpers
load replication-stubs

setup() {
  primary_setup
  echo 15 >"$TMP/primary/PG_VERSION"
  running "$TMP/primary"
  answer 5432 recovery t
  answer 5432 receiver waiting
  answer 5432 reload t
}
teardown() { agent_teardown; }
promote() { "$AGENT/promote-former-primary" "$@"; }
resets() { grep -c "ALTER SYSTEM RESET" "$TMP/calls" || true; }

@test "an unknown argument or --wait without seconds is a usage error (exit 2), before anything runs" {
  run promote --force
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '--force'; usage: promote-former-primary [--wait SECONDS]"* ]]
  run promote --wait soon
  [ "$status" -eq 2 ]
  [[ $output == *"--wait needs a number of seconds"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a folder without a cluster, or a stopped server, is refused" {
  rm "$TMP/primary/postmaster.pid"
  run promote
  [ "$status" -eq 1 ]
  [[ $output == *"the server ($TMP/primary) is not running: start it as the promoted standby's standby"* ]]
  rm "$TMP/primary/PG_VERSION"
  run promote
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/primary holds no cluster: nothing to promote"* ]]
  ! grep -q "promote\|ALTER SYSTEM" "$TMP/calls" || false
}

@test "a server still streaming from the promoted standby is not promoted: two primaries otherwise" {
  answer 5432 receiver streaming
  run promote --wait 1
  [ "$status" -eq 1 ]
  [[ $output == *"still streams from the promoted standby after 1 s: stop that one first"* ]]
  [[ $output == *"nothing was promoted"* ]]
  ! grep -q "pg_ctl .* promote" "$TMP/calls" || false
  [ "$(resets)" -eq 0 ]
}

@test "promotes, then resets each setting it held as a standby, then reloads" {
  run promote
  [ "$status" -eq 0 ]
  grep -qF "pg_ctl -D $TMP/primary -w -t 120 promote" "$TMP/calls"
  [ "$(resets)" -eq 16 ]
  for setting in primary_conninfo primary_slot_name port listen_addresses restore_command hot_standby \
    hot_standby_feedback wal_log_hints ssl ssl_cert_file ssl_key_file max_connections max_worker_processes \
    max_wal_senders max_prepared_transactions max_locks_per_transaction; do
    grep -q "ALTER SYSTEM RESET $setting\$" "$TMP/calls"
  done
  promoted=$(grep -n "promote" "$TMP/calls" | head -n1 | cut -d: -f1)
  first_reset=$(grep -n "ALTER SYSTEM RESET" "$TMP/calls" | head -n1 | cut -d: -f1)
  last_reset=$(grep -n "ALTER SYSTEM RESET" "$TMP/calls" | tail -n1 | cut -d: -f1)
  reload=$(grep -n "pg_reload_conf" "$TMP/calls" | cut -d: -f1)
  [ "$promoted" -lt "$first_reset" ]
  [ "$last_reset" -lt "$reload" ]
  [[ $output == *"the former primary is the primary again, on its own configuration (16 standby settings reset)"* ]]
}

@test "a server that stops streaming within --wait is promoted" {
  answer 5432 receiver streaming
  (sleep 1 && answer 5432 receiver waiting) &
  run promote --wait 10
  wait
  [ "$status" -eq 0 ]
  grep -q "pg_ctl .* promote" "$TMP/calls"
}

@test "a primary already is not promoted again: its standby settings are reset" {
  answer 5432 recovery f
  run promote
  [ "$status" -eq 0 ]
  [[ $output == *"is a primary already: resetting what it held as a standby"* ]]
  ! grep -q "pg_ctl .* promote" "$TMP/calls" || false
  [ "$(resets)" -eq 16 ]
}

@test "a failed promotion stops before any setting is reset" {
  touch "$STUBS/promote-fails"
  run promote
  [ "$status" -eq 1 ]
  [[ $output == *"promotion of $TMP/primary failed"* ]]
  [ "$(resets)" -eq 0 ]
}

@test "a reset that fails is named, and nothing is reloaded; a reload that fails fails the run" {
  fails 5432 reset "ERROR:  permission denied to set parameter"
  run promote
  [ "$status" -eq 1 ]
  [[ $output == *"ALTER SYSTEM RESET primary_conninfo failed"* ]]
  ! grep -q "pg_reload_conf" "$TMP/calls" || false
  rm "$STUBS/fail.5432.reset"
  answer 5432 reload f
  answer 5432 recovery f
  run promote
  [ "$status" -eq 1 ]
  [[ $output == *"the configuration was not reloaded"* ]]
}
