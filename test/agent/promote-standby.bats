#!/usr/bin/env bats
# promote-standby: arguments, the standby's own settings file, then with pg_ctl/psql stubbed: it refuses a
# standby that still streams from a live primary (after --wait), reports the data-loss window, promotes,
# checkpoints, and warns about synchronous standby names.
load helpers
load replication-stubs

setup() {
  agent_setup
  pg_stubs
  setting PGPORT 5433
  setting PGDATA_DIR "$TMP/replica"
  setting STANDBY replica
  setting STANDBY_SYNCHRONOUS yes
  setting REPL_PRIMARY_ADDRESS 10.0.0.1
  setting REPL_PRIMARY_PORT 5432
  mkdir -p "$TMP/replica"
  running "$TMP/replica"
  answer 5433 recovery t
  answer 5433 receiver waiting
  answer 5433 received 0/3000060
  answer 5433 last_commit "2024-05-01 10:00:00.123+00"
}
teardown() { agent_teardown; }

@test "no argument is a usage error (exit 2)" {
  run "$AGENT/promote-standby"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: promote-standby <standby name> [--wait SECONDS]"* ]]
}

@test "a bad name, an unknown option or --wait without seconds is a usage error, before anything runs" {
  run "$AGENT/promote-standby" ../x
  [ "$status" -eq 2 ]
  [[ $output == *"'../x' is not a standby name"* ]]
  run "$AGENT/promote-standby" replica --force
  [ "$status" -eq 2 ]
  [[ $output == *"unknown argument '--force'"* ]]
  run "$AGENT/promote-standby" replica --wait soon
  [ "$status" -eq 2 ]
  [[ $output == *"--wait needs a number of seconds"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "without DRKIT_ENV it reads standby-<name>.env beside the agent" {
  mkdir "$TMP/agent"
  cp "$AGENT/lib.sh" "$AGENT/promote-standby" "$TMP/agent/"
  run env -u DRKIT_ENV "$TMP/agent/promote-standby" replica
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the settings file $TMP/agent/standby-replica.env"* ]]
}

@test "a name that is not the settings file's standby is refused" {
  run "$AGENT/promote-standby" other
  [ "$status" -eq 1 ]
  [[ $output == *"is for standby 'replica', not 'other'"* ]]
}

@test "a standby that is not running, or not in recovery, is refused" {
  rm "$TMP/replica/postmaster.pid"
  run "$AGENT/promote-standby" replica
  [ "$status" -eq 1 ]
  [[ $output == *"standby replica ($TMP/replica) is not running"* ]]
  running "$TMP/replica"
  answer 5433 recovery f
  run "$AGENT/promote-standby" replica
  [ "$status" -eq 1 ]
  [[ $output == *"replica is not in recovery: it is a primary already"* ]]
  ! grep -q promote "$TMP/calls" || false
}

@test "a standby still streaming from the primary is not promoted: the primary is alive" {
  answer 5433 receiver streaming
  run "$AGENT/promote-standby" replica --wait 1
  [ "$status" -eq 1 ]
  [[ $output == *"still streams from the primary at 10.0.0.1:5432 after 1 s: the primary is alive"* ]]
  [[ $output == *"Fence it first"* ]]
  ! grep -q "pg_ctl.* promote" "$TMP/calls" || false
}

@test "promotes a synchronous standby: no loss for acknowledged commits, a checkpoint after the promotion" {
  answer 5433 timeline 2
  answer 5433 sync_names 'FIRST 1 ("main")'
  run "$AGENT/promote-standby" replica
  [ "$status" -eq 0 ]
  [[ $output == *"data-loss window: none for acknowledged commits: replica is synchronous"* ]]
  [[ $output == *"(received up to 0/3000060)"* ]]
  grep -qF "pg_ctl -D $TMP/replica -w -t 120 promote" "$TMP/calls"
  promoted=$(grep -n " promote" "$TMP/calls" | cut -d: -f1)
  [ "$promoted" -lt "$(grep -n "options=-c synchronous_commit=local via=-c: CHECKPOINT" "$TMP/calls" | cut -d: -f1)" ]
  [[ $output == *"promoted replica to primary on timeline 2 in "*" ms"* ]]
  [[ $output == *"WARNING: synchronous_standby_names is 'FIRST 1 (\"main\")': commits wait until"* ]]
}

@test "an asynchronous standby's report names what it received and its last commit" {
  setting STANDBY_SYNCHRONOUS no
  run "$AGENT/promote-standby" replica
  [ "$status" -eq 0 ]
  [[ $output == *"replica is asynchronous; it received WAL up to 0/3000060"* ]]
  [[ $output == *"its last replayed commit is from 2024-05-01 10:00:00.123+00"* ]]
  ! [[ $output == *WARNING* ]] || false
}

@test "a failed promotion fails the run" {
  touch "$STUBS/promote-fails"
  run "$AGENT/promote-standby" replica
  [ "$status" -eq 1 ]
  [[ $output == *"promotion of replica failed"* ]]
  ! grep -q CHECKPOINT "$TMP/calls" || false
}
