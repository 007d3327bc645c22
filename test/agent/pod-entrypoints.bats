#!/usr/bin/env bats
# pod-primary, pod-standby-clone, pod-standby, pod-backup and pod-restore (the Kubernetes pods' commands):
# arguments, settings and their refusal paths; PostgreSQL's tools are stubs that record they were called.
load helpers

setup() {
  agent_setup
  mkdir -p "$TMP/bin" "$TMP/data/pgdata" "$TMP/secrets" "$TMP/run" "$TMP/backups"
  for tool in initdb postgres pg_basebackup pg_controldata psql pg_isready; do
    # shellcheck disable=SC2016 # expanded by the stub
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n[ "${STUB_FAIL:-}" != %s ] || exit 2\n' "$tool" "$TMP" "$tool" \
      >"$TMP/bin/$tool"
    chmod +x "$TMP/bin/$tool"
  done
  # pg_basebackup makes the folder it is given, as the real one does.
  # shellcheck disable=SC2016 # expanded by the stub
  {
    printf '#!/bin/sh\necho "pg_basebackup $*" >>"%s/calls"\n' "$TMP"
    printf 'for a; do case $a in --pgdata=*) mkdir -p "${a#*=}" ;; esac; done\n'
  } >"$TMP/bin/pg_basebackup"
  printf 'Superuser0123456789' >"$TMP/secrets/superuser-password"
  printf 'Replication0123456789' >"$TMP/secrets/replication-password"
  setting PG_BIN "$TMP/bin"
  setting PG_OS_USER "$(id -un)"
  setting PGHOST "$TMP/run"
  setting PGPORT 5432
  setting PGUSER postgres
  setting PGDATA_DIR "$TMP/data/pgdata"
  setting POD_CONFIG_FILE "$TMP/postgresql.conf"
  setting POD_RUN_DIR "$TMP/run"
  setting POD_SECRETS_DIR "$TMP/secrets"
  setting PGPASSFILE "$TMP/run/pgpass"
  setting PG_START_TIMEOUT 5
  setting REPL_ROLE drkit_replicator
  setting REPL_PRIMARY_ADDRESS primary.example
  setting POD_SLOT_PREFIX drkit_standby_
  setting BASE_DIR "$TMP/backups/base"
  setting WAL_DIR "$TMP/backups/wal"
  setting_array PG_DATABASES app
  setting_array REPL_SLOTS drkit_standby_0
}
teardown() { agent_teardown; }

@test "the pods' commands take no stray arguments (exit 2)" {
  for verb in pod-primary pod-standby pod-backup; do
    run "$AGENT/$verb" extra
    [ "$status" -eq 2 ]
    [[ $output == *"usage: $verb (no arguments)"* ]]
  done
  run "$AGENT/pod-standby-clone"
  [ "$status" -eq 2 ]
  run "$AGENT/pod-standby-clone" standby-x
  [ "$status" -eq 2 ]
  [[ $output == *"cannot tell this pod's ordinal from its name standby-x"* ]]
  [ ! -e "$TMP/calls" ]
}

@test "a missing setting is named (exit 1)" {
  sed -i '/^POD_CONFIG_FILE=/d' "$DRKIT_ENV"
  run "$AGENT/pod-primary"
  [ "$status" -eq 1 ]
  [[ $output == *"setting POD_CONFIG_FILE is not set"* ]]
}

@test "pod-primary refuses a standby's volume, an unfinished recovery and a non-empty volume without a cluster" {
  touch "$TMP/data/pgdata/standby.signal"
  run "$AGENT/pod-primary"
  [ "$status" -eq 1 ]
  [[ $output == *"holds a standby (standby.signal); refusing to run it as the primary"* ]]
  mv "$TMP/data/pgdata/standby.signal" "$TMP/data/pgdata/recovery.signal"
  run "$AGENT/pod-primary"
  [[ $output == *"holds an unfinished recovery (recovery.signal)"* ]]
  mv "$TMP/data/pgdata/recovery.signal" "$TMP/data/pgdata/stray"
  run "$AGENT/pod-primary"
  [ "$status" -eq 1 ]
  [[ $output == *"is not empty but holds no cluster; refusing to initdb over it"* ]]
  [ ! -e "$TMP/calls" ]
}

@test "pod-primary and pod-standby refuse while another process holds the volume's lock" {
  flock "$TMP/data/.drkit-server.lock" sleep 5 &
  sleep 0.3
  for verb in pod-primary pod-standby; do
    run "$AGENT/$verb"
    [ "$status" -eq 1 ]
    [[ $output == *"another server or a restore job is using $TMP/data"* ]]
  done
  kill %1 || true
}

@test "pod-primary refuses a password that is not a long alphanumeric one" {
  printf 'short' >"$TMP/secrets/superuser-password"
  run "$AGENT/pod-primary"
  [ "$status" -eq 1 ]
  [[ $output == *"secret key superuser-password must be an alphanumeric password of 16 or more characters"* ]]
}

@test "pod-standby refuses a volume without a clone, or without standby.signal (a second primary)" {
  run "$AGENT/pod-standby"
  [ "$status" -eq 1 ]
  [[ $output == *"holds no clone"* ]]
  echo 15 >"$TMP/data/pgdata/PG_VERSION"
  run "$AGENT/pod-standby"
  [ "$status" -eq 1 ]
  [[ $output == *"has no standby.signal; refusing to start what would be a second primary"* ]]
  [ ! -e "$TMP/calls" ]
}

@test "pod-standby builds the pgpass file (mode 0600) and runs postgres on the clone" {
  echo 15 >"$TMP/data/pgdata/PG_VERSION"
  touch "$TMP/data/pgdata/standby.signal"
  run "$AGENT/pod-standby"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/run/pgpass")" = "*:*:*:drkit_replicator:Replication0123456789" ]
  [ "$(stat -c %a "$TMP/run/pgpass")" = 600 ]
  grep -q "^postgres -D $TMP/data/pgdata -c config_file=$TMP/postgresql.conf -c port=5432" "$TMP/calls"
}

@test "pod-standby-clone clones through its ordinal's slot with -R, and keeps a clone when the primary is away" {
  run "$AGENT/pod-standby-clone" billing-standby-1
  [ "$status" -eq 0 ]
  grep -q -- "--slot=drkit_standby_1 --write-recovery-conf" "$TMP/calls"
  [ -d "$TMP/data/pgdata" ]
  echo 15 >"$TMP/data/pgdata/PG_VERSION"
  : >"$TMP/calls"
  STUB_FAIL=psql run "$AGENT/pod-standby-clone" billing-standby-1
  [ "$status" -eq 0 ]
  [[ $output == *"the primary is unreachable; keeping the clone"* ]]
  run grep -q pg_basebackup "$TMP/calls"
  [ "$status" -eq 1 ]
}

@test "pod-restore refuses without the Job's request, or with one the settings do not carry (a stale ConfigMap)" {
  setting RESTORE_REQUEST "latest@end-of-archive"
  setting RESULTS_DIR "$TMP/backups/results"
  run "$AGENT/pod-restore"
  [ "$status" -eq 2 ]
  [[ $output == *"DRKIT_RESTORE_REQUEST"* ]]
  DRKIT_RESTORE_REQUEST=other run "$AGENT/pod-restore"
  [ "$status" -eq 1 ]
  [[ $output == *"this script restores latest@end-of-archive but the job asks for other"* ]]
  grep -q '"result":"failed"' "$TMP/backups/results/last-restore"
  DRKIT_RESTORE_REQUEST=latest@end-of-archive run "$AGENT/pod-restore" --now
  [ "$status" -eq 2 ]
}

# A copy of the agent whose verbs pod-backup runs are stubs recording their arguments.
stub_backup_verbs() {
  cp -r "$AGENT" "$TMP/agent"
  for verb in backup-base shipper ship-offsite prune; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/verbs"\n' "$verb" "$TMP" >"$TMP/agent/$verb"
  done
  setting LOCK_DIR "$TMP/locks"
}

@test "pod-backup: the backup, one shipper pass, the pending sets, then prune; the Deployment's shipper takes the WAL" {
  stub_backup_verbs
  setting_array OFFSITE_STORES offsite
  run "$TMP/agent/pod-backup"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/verbs")" = "$(printf 'backup-base \nshipper once\nship-offsite pending\nprune ')" ]
  [ "$(stat -c %a "$TMP/run/pgpass")" = 600 ]
  : >"$TMP/verbs"
  setting SHIPPER_SERVICE yes
  run "$TMP/agent/pod-backup"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/verbs")" = "$(printf 'backup-base \nship-offsite pending\nprune ')" ]
}

@test "pod-backup without a store drains the queue archive-wal left, and ships nothing" {
  stub_backup_verbs
  mkdir -p "$TMP/backups/wal"
  : >"$TMP/backups/wal/.to-ship.000000010000000000000001"
  : >"$TMP/backups/wal/000000010000000000000001"
  run "$TMP/agent/pod-backup"
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/verbs")" = "$(printf 'backup-base \nprune ')" ]
  [ ! -e "$TMP/backups/wal/.to-ship.000000010000000000000001" ]
  [ -f "$TMP/backups/wal/000000010000000000000001" ]
}

@test "pod-backup stops at a failed backup: nothing shipped, nothing pruned" {
  stub_backup_verbs
  setting_array OFFSITE_STORES offsite
  printf '#!/bin/sh\necho "backup-base" >>"%s/verbs"\nexit 1\n' "$TMP" >"$TMP/agent/backup-base"
  run "$TMP/agent/pod-backup"
  [ "$status" -ne 0 ]
  [ "$(cat "$TMP/verbs")" = "backup-base" ]
}
