#!/usr/bin/env bats
# ship-offsite: arguments, settings and credentials, the object layout, checksums confirmed by reading them
# back, markers, never overwriting, retries against an unreachable store; mc is test/agent/fake-mc.
load offsite-helpers

setup() { offsite_setup; }
teardown() { agent_teardown; }

@test "an unknown sub-command is a usage error (exit 2)" {
  run "$AGENT/ship-offsite" upload
  [ "$status" -eq 2 ]
  [[ $output == *"usage: ship-offsite base <id> | logical <id> | valkey <id> | pending | status"* ]]
  run "$AGENT/ship-offsite" wal "$TMP/seg" 000000010000000000000001
  [ "$status" -eq 2 ]
}

@test "base, logical and valkey refuse an id that is not a backup id (exit 2), before touching a store" {
  for kind in base logical valkey; do
    for id in ../etc 2024-01-01 20240102T030405 "20240102T030405Z/../x"; do
      run "$AGENT/ship-offsite" "$kind" "$id"
      [ "$status" -eq 2 ]
      [[ $output == *"usage: ship-offsite $kind <backup id YYYYMMDDTHHMMSSZ>"* ]]
    done
  done
  run "$AGENT/ship-offsite" base
  [ "$status" -eq 2 ]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

@test "extra arguments after pending or status are a usage error" {
  run "$AGENT/ship-offsite" pending now
  [ "$status" -eq 2 ]
  run "$AGENT/ship-offsite" status all
  [ "$status" -eq 2 ]
}

@test "a service without object stores has nothing to ship (exit 1)" {
  setting_array OFFSITE_STORES
  run "$AGENT/ship-offsite" pending
  [ "$status" -eq 1 ]
  [[ $output == *"service testsvc has no object stores"* ]]
}

@test "missing settings are named: MC, OFFSITE_MARKS, BASE_DIR" {
  for name in MC OFFSITE_MARKS BASE_DIR; do
    grep -v "^$name=" "$DRKIT_ENV" >"$TMP/env2"
    DRKIT_ENV=$TMP/env2 run "$AGENT/ship-offsite" base "$BASE_ID"
    [ "$status" -eq 1 ]
    [[ $output == *"setting $name is not set"* ]]
  done
}

@test "mc not installed fails naming its path" {
  make_base "$BASE_ID" 100
  setting MC "$TMP/no/mc"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"mc is not installed at $TMP/no/mc"* ]]
}

@test "a missing credentials file fails naming the store, and no marker is written" {
  make_base "$BASE_ID" 100
  rm "$TMP/creds-b"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the credentials of object store site-b ($TMP/creds-b)"* ]]
  [ -z "$(ls -A "$TMP/marks")" ]
}

@test "a credentials file without the alias's MC_HOST_ line fails naming the file" {
  echo "# nothing here" >"$TMP/creds-a"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/creds-a has no MC_HOST_site_a= line"* ]]
}

@test "base: every file lands under base/<id>/ on every store with its sha256, the metadata last, then a marker" {
  make_base "$BASE_ID" 100
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  [[ $output == *"base $BASE_ID confirmed on site-a (4 file(s))"* ]]
  [[ $output == *"base $BASE_ID confirmed on site-b (4 file(s))"* ]]
  for site in a b; do
    for f in base.tar pg_wal.tar backup_manifest drkit-backup.env; do
      cmp "$TMP/base/$BASE_ID/$f" "$(object "$site" "base/$BASE_ID/$f")"
      grep -qx "drkit-sha256=$(sha_of "$TMP/base/$BASE_ID/$f")" "$FAKE_MC_ROOT/.meta/site_$site/bucket-$site/svc/base/$BASE_ID/$f"
    done
    [ -f "$TMP/marks/site-$site/base/$BASE_ID" ]
    # The metadata file is the last upload to each store: it marks the set complete there.
    last=$(mc_calls | grep "^cp .*site_$site/" | tail -n1)
    [[ $last == *"/drkit-backup.env site_$site/bucket-$site/svc/base/$BASE_ID/drkit-backup.env" ]]
  done
}

@test "keys come from the credentials files into the environment, never onto mc's command line" {
  make_base "$BASE_ID" 100
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  grep -q "MC_HOST_site_a=http://drkit:$SECRET_A@127.0.0.1:9000" "$FAKE_MC_ROOT/.calls"
  [ "$(mc_calls | grep -c "$SECRET_A")" -eq 0 ]
}

@test "its private mc configuration directory is removed on exit, on success and on failure" {
  make_base "$BASE_ID" 100
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  credentials a "http://drkit:x@down:9000"
  rm -r "$TMP/marks"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [ -z "$(find "$TMPDIR" -maxdepth 1 -name 'drkit-mc.*')" ]
}

@test "a set already confirmed on a store is not uploaded again" {
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID"
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

@test "objects already there with the same sha256 are skipped, and the set is confirmed again" {
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID"
  rm -r "$TMP/marks"
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  [ "$(mc_calls | grep -c '^cp ')" -eq 0 ]
  [ -f "$TMP/marks/site-a/base/$BASE_ID" ]
}

@test "an object that differs is never overwritten: the set stays unconfirmed on that store only" {
  make_base "$BASE_ID" 100
  mkdir -p "$(dirname "$(object a "base/$BASE_ID/base.tar")")"
  echo other >"$(object a "base/$BASE_ID/base.tar")"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"svc/base/$BASE_ID/base.tar exists with sha256 "*"; refusing to overwrite it"* ]]
  [[ $output == *"base $BASE_ID is not confirmed on every object store; the local copy is kept"* ]]
  [ "$(cat "$(object a "base/$BASE_ID/base.tar")")" = other ]
  [ ! -e "$TMP/marks/site-a/base/$BASE_ID" ]
  [ -f "$TMP/marks/site-b/base/$BASE_ID" ]
}

@test "an incomplete base backup (no metadata) is not shipped" {
  make_base "$BASE_ID" 100 no-meta
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"no complete base backup $BASE_ID in $TMP/base"* ]]
  [ ! -e "$(object a "base/$BASE_ID/base.tar")" ]
}

@test "logical and valkey sets land under logical/ and valkey/, the file that marks them complete last" {
  id=20240105T000000Z
  echo dump >"$TMP/logical/app_$id.custom.dump"
  echo globals >"$TMP/logical/globals_$id.sql"
  for ext in .rdb .rdb.sha256 .meta; do echo "$ext" >"$TMP/valkey/dump_$id$ext"; done
  run "$AGENT/ship-offsite" logical "$id"
  [ "$status" -eq 0 ]
  [[ $output == *"logical $id confirmed on site-a (2 file(s))"* ]]
  run "$AGENT/ship-offsite" valkey "$id"
  [ "$status" -eq 0 ]
  [[ $output == *"valkey $id confirmed on site-b (3 file(s))"* ]]
  for f in "logical/app_$id.custom.dump" "logical/globals_$id.sql" "valkey/dump_$id.rdb" "valkey/dump_$id.meta"; do
    [ -f "$(object a "$f")" ]
  done
  [[ $(mc_calls | grep "^cp .*site_a/" | grep logical/ | tail -n1) == *"globals_$id.sql" ]]
  [[ $(mc_calls | grep "^cp .*site_a/" | grep valkey/ | tail -n1) == *"dump_$id.meta" ]]
}

@test "valkey: a snapshot without its metadata file is not complete" {
  echo rdb >"$TMP/valkey/dump_20240105T000000Z.rdb"
  run "$AGENT/ship-offsite" valkey 20240105T000000Z
  [ "$status" -eq 1 ]
  [[ $output == *"snapshot 20240105T000000Z is not complete"* ]]
}

@test "pending (and no argument, as the timer runs it) ships every complete set, then status lists them" {
  make_base "$BASE_ID" 100
  echo globals >"$TMP/logical/globals_20240105T000000Z.sql"
  for ext in .rdb .rdb.sha256 .meta; do echo x >"$TMP/valkey/dump_20240106T000000Z$ext"; done
  run "$AGENT/ship-offsite"
  [ "$status" -eq 0 ]
  [[ $output == *"every local backup is confirmed off-site"* ]]
  run "$AGENT/ship-offsite" status
  [ "$status" -eq 0 ]
  [[ $output == *"site-a base $BASE_ID confirmed 20"* ]]
  [[ $output == *"site-b logical 20240105T000000Z confirmed"* ]]
  [[ $output == *"site-b valkey 20240106T000000Z confirmed"* ]]
}

@test "pending fails while a set cannot be confirmed, and still ships the others" {
  make_base "$BASE_ID" 100
  echo dump >"$TMP/logical/app_20240105T000000Z.custom.dump" # no globals file yet: not complete
  run "$AGENT/ship-offsite" pending
  [ "$status" -eq 1 ]
  [[ $output == *"logical backup 20240105T000000Z is not complete"* ]]
  [[ $output == *"some backups are not confirmed off-site yet"* ]]
  [ -f "$TMP/marks/site-b/base/$BASE_ID" ]
}

@test "status reads the markers only: it works without mc" {
  mkdir -p "$TMP/marks/site-a/base"
  echo 2024-01-02T03:04:05Z >"$TMP/marks/site-a/base/$BASE_ID"
  setting MC "$TMP/no/mc"
  run "$AGENT/ship-offsite" status
  [ "$status" -eq 0 ]
  [ "$output" = "site-a base $BASE_ID confirmed 2024-01-02T03:04:05Z" ]
}

@test "started as root it runs as the PostgreSQL user: a set's link to a root-only file is not followed" {
  [ "$(id -u)" -eq 0 ]
  setting PG_OS_USER postgres
  make_base "$BASE_ID" 100
  echo "root-only-$RANDOM" >"$TMP/root-only"
  chmod 0600 "$TMP/root-only"
  mv "$TMP/base/$BASE_ID/drkit-backup.env" "$TMP/meta"
  ln -s "$TMP/root-only" "$TMP/base/$BASE_ID/drkit-backup.env"
  chown -R postgres "$TMP"
  chown -h root "$TMP/root-only"
  chmod 0600 "$TMP/creds-a" "$TMP/creds-b"
  dir=$TMP
  while [[ $dir != / ]]; do
    dir=$(dirname "$dir")
    chmod o+x "$dir"
  done
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  ! grep -rqF "$(cat "$TMP/root-only")" "$FAKE_MC_ROOT" || false
  [ ! -e "$TMP/marks/site-a/base/$BASE_ID" ]
  # the set as the backup job leaves it ships, and the marker folders are the PostgreSQL user's
  rm "$TMP/base/$BASE_ID/drkit-backup.env"
  mv "$TMP/meta" "$TMP/base/$BASE_ID/drkit-backup.env"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  [ "$(stat -c %U "$TMP/marks/site-a/base")" = postgres ]
  [ "$(stat -c %U "$TMP/marks/site-a/base/$BASE_ID")" = postgres ]
  [ "$(stat -c %a "$TMP/marks/site-a/base")" = 750 ]
}

@test "a store's own CA certificate is in mc's certs/CAs folder for every call; the other store has none" {
  make_base "$BASE_ID" 1700000000
  printf -- '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n' >"$TMP/ca-a.crt"
  setting_array OFFSITE_CA_FILES "$TMP/ca-a.crt" ""
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  [ -s "$FAKE_MC_ROOT/.cas" ]
  [ "$(sort -u "$FAKE_MC_ROOT/.cas")" = "site_a.crt $(sha_of "$TMP/ca-a.crt")" ]
}

@test "a store's CA certificate that cannot be read fails naming the store and the file, before any upload" {
  make_base "$BASE_ID" 1700000000
  setting_array OFFSITE_CA_FILES "" "$TMP/missing-ca.crt"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the CA certificate of object store site-b ($TMP/missing-ca.crt)"* ]]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

@test "one shipment at a time: a second run waits for the first, then finds the set confirmed and uploads nothing" {
  make_base "$BASE_ID" 100
  mkdir -p "$TMP/locks"
  exec 6>>"$TMP/locks/ship-offsite.lock"
  flock -n 6
  "$AGENT/ship-offsite" base "$BASE_ID" >"$TMP/waiting.log" 2>&1 6>&- &
  waiting=$!
  for _ in $(seq 1 50); do
    grep -q "waiting for the shipment another run is making" "$TMP/waiting.log" && break
    sleep 0.1
  done
  grep -q "waiting for the shipment another run is making ($TMP/locks/ship-offsite.lock)" "$TMP/waiting.log"
  # nothing was sent while the lock was held
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
  run "$AGENT/ship-offsite" status
  [ "$status" -eq 0 ]
  exec 6>&-
  wait "$waiting"
  [ -f "$TMP/marks/site-a/base/$BASE_ID" ]
  uploads=$(mc_calls | grep -c "^cp ")
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  [ "$(mc_calls | grep -c "^cp ")" -eq "$uploads" ]
}
