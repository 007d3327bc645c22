#!/usr/bin/env bats
# backup-config: the listed files copied into a dated set (files 0600, directories 0700, under their full
# path), nothing published when a file is missing, retention over the sets, arguments and settings.
load helpers
load postgres-stubs

setup() {
  agent_setup
  mkdir -p "$TMP/etc/svc/tls"
  echo "DB_PASSWORD=s3cret" >"$TMP/etc/svc/svc.env"
  chmod 0644 "$TMP/etc/svc/svc.env"
  echo KEY >"$TMP/etc/svc/tls/key.pem"
  setting CONFIG_BACKUP_DIR "$TMP/config"
  setting_array CONFIG_FILES "$TMP/etc/svc/svc.env" "$TMP/etc/svc/tls/key.pem"
  setting RETAIN_DAILY_DAYS 7
  setting RETAIN_WEEKLY_WEEKS 0
  setting RETAIN_MONTHS 0
  setting RETAIN_NEWEST 1
}
teardown() { agent_teardown; }

sets() { find "$TMP/config" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '; }

@test "copies every file into a dated set, files 0600 and directories 0700" {
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  set=$(sets)
  set=${set% }
  [[ $set =~ ^[0-9]{8}T[0-9]{6}Z$ ]]
  copy=$TMP/config/$set$TMP/etc/svc/svc.env
  [ "$(cat "$copy")" = "DB_PASSWORD=s3cret" ]
  [ "$(stat -c %a "$copy")" = 600 ]
  [ "$(stat -c %a "$TMP/config/$set$TMP/etc/svc/tls/key.pem")" = 600 ]
  [ "$(stat -c %a "$TMP/config/$set$TMP/etc/svc/tls")" = 700 ]
  [ "$(stat -c %a "$TMP/config/$set$TMP")" = 700 ]
  [ "$(stat -c %a "$TMP/config")" = 700 ]
  [[ $output == *"copied 2 file(s) to $TMP/config/$set"* ]]
}

@test "a missing file fails and publishes nothing" {
  rm "$TMP/etc/svc/tls/key.pem"
  run "$AGENT/backup-config"
  [ "$status" -eq 1 ]
  [[ $output == *"config file $TMP/etc/svc/tls/key.pem does not exist"* ]]
  [ -z "$(sets)" ]
}

@test "retention removes old sets, keeps recent ones and leaves other names alone" {
  recent=$(date -u -d '2 days ago' +%Y%m%dT%H%M%SZ)
  mkdir -p "$TMP/config/20200101T000000Z/etc" "$TMP/config/20200102T000000Z" "$TMP/config/$recent" "$TMP/config/notes"
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/config/20200101T000000Z" ]
  [ ! -e "$TMP/config/20200102T000000Z" ]
  [ -d "$TMP/config/$recent" ]
  [ -d "$TMP/config/notes" ]
  [[ $output == *"removed config backup 20200101T000000Z"* ]]
  [ "$(sets | wc -w)" -eq 3 ]
}

@test "the retention settings are read: a long monthly window keeps an old set" {
  setting RETAIN_MONTHS 1000
  mkdir -p "$TMP/config/20200101T000000Z"
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  [ -d "$TMP/config/20200101T000000Z" ]
}

@test "a second run while one holds the lock fails" {
  hold_lock config
  run "$AGENT/backup-config"
  exec 7>&-
  [ "$status" -eq 1 ]
  [[ $output == *"not starting a second one"* ]]
  [ ! -e "$TMP/config" ]
}

@test "any argument is a usage error (exit 2)" {
  run "$AGENT/backup-config" now
  [ "$status" -eq 2 ]
  [[ $output == *"usage: backup-config (no arguments)"* ]]
  [ ! -e "$TMP/config" ]
}

@test "a settings file without CONFIG_FILES fails naming it" {
  grep -v '^CONFIG_FILES=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run "$AGENT/backup-config"
  [ "$status" -eq 1 ]
  [[ $output == *"setting CONFIG_FILES is not set as a list"* ]]
}
