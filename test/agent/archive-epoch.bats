#!/usr/bin/env bats
# Archive epochs: a service in epoch 2 archives under its own folder and prefix; the older epoch's backups and WAL
# stay readable. restore-pitr --epoch and fetch-offsite --epoch read epoch 1 (lib.sh's use_archive_epoch, from
# the ARCHIVE_OLDER_* settings); an epoch the service never had is a usage error. mc is test/agent/fake-mc.
load offsite-helpers
load postgres-stubs

setup() {
  offsite_setup
  postgres_stubs
  mkdir -p "$TMP/root/epoch-2/postgresql/base" "$TMP/root/epoch-2/wal" "$TMP/root/postgresql/base" "$TMP/root/wal" \
    "$TMP/data"
  setting BACKUP_ROOT "$TMP/root"
  setting BASE_DIR "$TMP/root/epoch-2/postgresql/base"
  setting WAL_DIR "$TMP/root/epoch-2/wal"
  setting OFFSITE_PREFIX svc/epoch-2/
  setting OFFSITE_MARKS "$TMP/root/epoch-2/.offsite"
  setting ARCHIVE_EPOCH 2
  setting ARCHIVE_RECORD "$TMP/root/epoch-2/drkit-archive.env"
  setting_array ARCHIVE_OLDER_EPOCHS 1
  setting_array ARCHIVE_OLDER_BASE_DIRS "$TMP/root/postgresql/base"
  setting_array ARCHIVE_OLDER_WAL_DIRS "$TMP/root/wal"
  setting_array ARCHIVE_OLDER_RECORDS "$TMP/root/drkit-archive.env"
  setting_array ARCHIVE_OLDER_PREFIXES svc/
  setting_array ARCHIVE_OLDER_MARKS "$TMP/root/.offsite"
  setting RTO_SECONDS 30
  echo "the new cluster" >"$TMP/data/PG_VERSION"
  # The old cluster's backup, in epoch 1's folder; epoch 2 has none yet.
  fake_base "$TMP/root/postgresql/base" 20240101T000000Z 1704067800 old-cluster
  sql_answer '*pg_is_in_recovery*' ended
  cat >"$TMP/bin/pg_controldata" <<STUB
#!/usr/bin/env bash
echo "Database system identifier:           7001"
STUB
  chmod +x "$TMP/bin/pg_controldata"
}
teardown() { agent_teardown; }

# old_wal NAME: a WAL object of epoch 1 in store a (under svc/wal/), with its sha256 recorded.
old_wal() {
  local file=$FAKE_MC_ROOT/site_a/bucket-a/svc/wal/$1 meta=$FAKE_MC_ROOT/.meta/site_a/bucket-a/svc/wal/$1
  mkdir -p "$(dirname -- "$file")" "$(dirname -- "$meta")"
  echo "WAL of the old cluster" >"$file"
  echo "drkit-sha256=$(sha_of "$file")" >"$meta"
}

@test "restore-pitr: the current epoch has no backup; --epoch 1 restores the old one with the old WAL" {
  run "$AGENT/restore-pitr"
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup"* ]]
  run "$AGENT/restore-pitr" --epoch 1
  [ "$status" -eq 0 ]
  [[ $output == *"restoring from archive epoch 1: $TMP/root/postgresql/base and $TMP/root/wal"* ]]
  [ "$(cat "$TMP/data/marker")" = old-cluster ]
  grep -qxF "restore_command = 'cp $TMP/root/wal/%f %p'" "$TMP/data/postgresql.auto.conf"
}

@test "restore-pitr: --epoch of the current epoch changes nothing; an epoch the service never had is refused" {
  fake_base "$TMP/root/epoch-2/postgresql/base" 20240201T000000Z 1706745600 new-cluster
  run "$AGENT/restore-pitr" --epoch 2
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = new-cluster ]
  grep -qxF "restore_command = 'cp $TMP/root/epoch-2/wal/%f %p'" "$TMP/data/postgresql.auto.conf"
  rm -rf "$TMP"/data.before-restore-*
  : >"$TMP/calls"
  for bad in 3 0 one; do
    run "$AGENT/restore-pitr" --epoch "$bad"
    [ "$status" -eq 2 ]
  done
  [[ $output == *"an archive epoch is a whole number from 1, not 'one'"* ]]
  run "$AGENT/restore-pitr" --epoch 3
  [[ $output == *"archive epoch 3 is neither the current one (2) nor an older one of this service (1)"* ]]
  ! grep -q '^pg_ctl' "$TMP/calls" || false
}

@test "restore-pitr --from-offsite --epoch 1: fetch-offsite is told the epoch, restore_command too" {
  agent_copy restore-pitr
  # fetch-offsite serving epoch 1's backup only when told --epoch 1; no WAL, no history files.
  sibling_stub fetch-offsite "[[ \" \$* \" == *' --epoch 1 '* ]] || exit 1
case \$1 in
  list-bases) echo '20240101T000000Z 1704067800 1 - -' ;;
  base) mkdir -p \"\$3\" && cp -- '$TMP/remote/20240101T000000Z'/* \"\$3\"/ ;;
  *) exit 1 ;;
esac"
  # Off-site only: the host's own copy is gone.
  mkdir -p "$TMP/remote"
  mv "$TMP/root/postgresql/base/20240101T000000Z" "$TMP/remote/"
  run "$AGENT/restore-pitr" --from-offsite --epoch 1
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/data/marker")" = old-cluster ]
  grep -qxF "fetch-offsite base 20240101T000000Z $TMP/root/.restore-staging/20240101T000000Z --epoch 1" "$TMP/calls"
  grep -qxF "restore_command = 'DRKIT_ENV=$DRKIT_ENV $TMP/agent/fetch-offsite wal %f %p --epoch 1 --prefetch $TMP/root/.restore-staging/prefetch'" \
    "$TMP/data/postgresql.auto.conf"
}

@test "fetch-offsite --epoch 1 reads WAL under epoch 1's prefix; the current epoch's prefix does not have it" {
  old_wal 000000010000000000000003
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/got"
  [ "$status" -eq 1 ]
  [ ! -e "$TMP/got" ]
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/got" --epoch 1
  [ "$status" -eq 0 ]
  [ "$(cat "$TMP/got")" = "WAL of the old cluster" ]
  mc_calls | grep -q ' site_a/bucket-a/svc/wal/000000010000000000000003$'
}

@test "fetch-offsite --epoch without a value or with an epoch the service never had is a usage error (exit 2)" {
  run "$AGENT/fetch-offsite" choose-base --epoch
  [ "$status" -eq 2 ]
  run "$AGENT/fetch-offsite" choose-base --epoch 7
  [ "$status" -eq 2 ]
  [[ $output == *"archive epoch 7 is neither the current one (2) nor an older one of this service (1)"* ]]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}
