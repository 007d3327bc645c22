#!/usr/bin/env bats
# backup-config: the listed files copied into a dated set (files 0600, directories 0700, under their full
# path), nothing published when a file is missing, retention over the sets, arguments and settings, and its
# folder, which lies in one the PostgreSQL user owns: a link or a folder planted in its place is refused.
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

sets() { find "$TMP/config" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' '; }

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

@test "a second run while one holds the lock (in the job's own folder) fails" {
  mkdir -m 0700 "$TMP/config"
  exec 7>>"$TMP/config/config.lock"
  flock -n 7
  run "$AGENT/backup-config"
  exec 7>&-
  [ "$status" -eq 1 ]
  [[ $output == *"another run holds ./config.lock; not starting a second one"* ]]
  [ -z "$(sets)" ]
}

# backup_root_of_postgres: the sets' folder inside a folder the PostgreSQL user owns, as on a host. What that user
# can do there (rename root's folder, put a link or a folder of its own in its place) is done as root and handed
# to it with chown: the test's temp folders above may be closed to it.
backup_root_of_postgres() {
  install -d -m 0750 -o postgres "$TMP/backups"
  setting CONFIG_BACKUP_DIR "$TMP/backups/config"
  install -d -m 0700 "$TMP/elsewhere"
}

@test "a link the PostgreSQL user put in place of the folder is refused; nothing is written where it points" {
  backup_root_of_postgres
  ln -s "$TMP/elsewhere" "$TMP/backups/config"
  chown -h postgres "$TMP/backups/config"
  run "$AGENT/backup-config"
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/backups/config is a symbolic link, not this job's own folder: refusing to follow it"* ]]
  [ -z "$(ls -A "$TMP/elsewhere")" ]
}

@test "a folder the PostgreSQL user made in place of the job's own is refused" {
  backup_root_of_postgres
  install -d -m 0700 "$TMP/backups/config"
  mv "$TMP/backups/config" "$TMP/backups/renamed"
  install -d -m 0777 -o postgres "$TMP/backups/config"
  run "$AGENT/backup-config"
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/backups/config is not a folder of root's that only root can write (owner uid and mode: $(id -u postgres) drwxrwxrwx)"* ]]
  [ -z "$(ls -A "$TMP/backups/config")" ]
}

@test "the job's own folder, made by it, works inside a folder of the PostgreSQL user's; the lock folder is not used" {
  backup_root_of_postgres
  # a link planted where the lock used to be, to a file that must not come to exist
  mkdir -p "$TMP/locks"
  ln -s "$TMP/victim" "$TMP/locks/config.lock"
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  [ "$(stat -c '%U %a' "$TMP/backups/config")" = "root 700" ]
  [ "$(find "$TMP/backups/config" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 1 ]
  [ ! -e "$TMP/victim" ]
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
