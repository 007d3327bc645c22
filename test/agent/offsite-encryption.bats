#!/usr/bin/env bats
# Client-side encryption of off-site copies with age (OFFSITE_AGE_RECIPIENTS): ship-offsite and the shipper store
# only age files, with the sha256 of what is stored and of the plaintext; an upload interrupted after the store
# got it is recognised without the plaintext being encrypted again; fetch-offsite opens them only with
# --identity, checks the plaintext against its recorded sha256, and says what is missing or wrong. mc is
# test/agent/fake-mc.
load offsite-helpers

setup() {
  offsite_setup
  mkdir -p "$TMP/wal"
  setting WAL_DIR "$TMP/wal"
  setting OFFSITE_CALL_TIMEOUT 60
  age-keygen -o "$TMP/identity" 2>/dev/null
  age-keygen -y "$TMP/identity" >"$TMP/recipients"
  age-keygen -o "$TMP/other-identity" 2>/dev/null
  setting OFFSITE_AGE_RECIPIENTS "$TMP/recipients"
}
teardown() { agent_teardown; }

is_age() { [ "$(head -c 21 "$1")" = "age-encryption.org/v1" ]; }
meta_of() { cat "$FAKE_MC_ROOT/.meta/site_$1/bucket-$1/svc/$2"; }
# queued NAME: a WAL file archived (a copy kept at $TMP/NAME) and queued for the shipper.
queued() {
  make_wal "$1"
  cp "$TMP/$1" "$TMP/wal/$1"
  : >"$TMP/wal/.to-ship.$1"
}

@test "ship-offsite stores every file of a set as an age file, with the stored and the plaintext sha256" {
  make_base "$BASE_ID" 100
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  for f in base.tar pg_wal.tar backup_manifest drkit-backup.env; do
    is_age "$(object a "base/$BASE_ID/$f")"
    ! cmp -s "$TMP/base/$BASE_ID/$f" "$(object a "base/$BASE_ID/$f")" || false
    meta_of a "base/$BASE_ID/$f" | grep -qx "drkit-sha256=$(sha_of "$(object a "base/$BASE_ID/$f")")"
    meta_of a "base/$BASE_ID/$f" | grep -qx "drkit-plain-sha256=$(sha_of "$TMP/base/$BASE_ID/$f")"
    age --decrypt -i "$TMP/identity" "$(object a "base/$BASE_ID/$f")" | cmp - "$TMP/base/$BASE_ID/$f"
  done
  # The encrypted copies made for the uploads are gone.
  [ -z "$(find "$TMP/marks" -name '.sealing.*')" ]
}

@test "a set shipped again is recognised by its plaintext sha256: nothing is uploaded twice" {
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  rm -r "$TMP/marks/site-a/base" "$TMP/marks/site-b/base"
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 0 ]
  ! mc_calls | grep -q '^cp ' || false
  [ -e "$TMP/marks/site-a/base/$BASE_ID" ]
}

@test "an object there with another plaintext is never overwritten" {
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  rm -r "$TMP/marks/site-a/base" "$TMP/marks/site-b/base"
  echo changed >>"$TMP/base/$BASE_ID/backup_manifest"
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"base/$BASE_ID/backup_manifest exists with sha256"*"refusing to overwrite it"* ]]
}

@test "unreadable recipients or no age: nothing is uploaded and the error names the cause" {
  make_base "$BASE_ID" 100
  chmod 000 "$TMP/recipients"
  if [[ $(id -u) -eq 0 ]]; then setting OFFSITE_AGE_RECIPIENTS "$TMP/none"; fi
  run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the age recipients"* ]]
  [ ! -e "$(object a "base/$BASE_ID/base.tar")" ]
  chmod 644 "$TMP/recipients"
  setting OFFSITE_AGE_RECIPIENTS "$TMP/recipients"
  # Every command of the machine but age.
  mkdir -p "$TMP/noage"
  ln -s /usr/bin/* "$TMP/noage/"
  rm "$TMP/noage/age"
  PATH=$TMP/noage:/usr/sbin run "$AGENT/ship-offsite" base "$BASE_ID"
  [ "$status" -eq 1 ]
  [[ $output == *"age is not installed"* ]]
}

@test "the shipper uploads sealed WAL and forgets each sealed copy once its store holds it" {
  queued 000000010000000000000003
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  for site in a b; do
    is_age "$(object "$site" wal/000000010000000000000003)"
    age --decrypt -i "$TMP/identity" "$(object "$site" wal/000000010000000000000003)" |
      cmp - "$TMP/000000010000000000000003"
    [ -z "$(ls -A "$TMP/marks/site-$site/sealed")" ]
  done
}

@test "a sealed copy the store got before a crash is confirmed on the next pass, not encrypted again" {
  queued 000000010000000000000003
  # A pass that stops after site-a's upload: the object is there, the entry and the sealed copy are kept.
  setting_array OFFSITE_STORES site-a
  setting_array OFFSITE_ALIASES site_a
  setting_array OFFSITE_BUCKETS bucket-a
  setting_array OFFSITE_CREDENTIALS "$TMP/creds-a"
  "$AGENT/shipper" once 2>/dev/null
  mkdir -p "$TMP/marks/site-a/sealed"
  cp "$(object a wal/000000010000000000000003)" "$TMP/marks/site-a/sealed/000000010000000000000003"
  : >"$TMP/marks/site-a/wal-queue/000000010000000000000003"
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  ! mc_calls | grep -q '^cp ' || false
  [ ! -e "$TMP/marks/site-a/wal-queue/000000010000000000000003" ]
  [ ! -e "$TMP/marks/site-a/sealed/000000010000000000000003" ]
}

@test "without --identity: an encrypted WAL file aborts recovery (126), a base backup fails; each says why" {
  queued 000000010000000000000003
  "$AGENT/shipper" once 2>/dev/null
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/RECOVERYXLOG"
  [ "$status" -eq 126 ]
  [[ $output == *"wal/000000010000000000000003 is encrypted with age: give the identity that opens it"* ]]
  [[ $output == *"(--identity FILE)"* ]]
  [ ! -e "$TMP/RECOVERYXLOG" ]
  [ -z "$(find "$TMP" -maxdepth 1 -name 'RECOVERYXLOG.*')" ]
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  run "$AGENT/fetch-offsite" list-bases
  [ "$status" -eq 1 ]
  [[ $output == *"is encrypted with age"* ]]
  [[ $output == *"cannot read drkit-backup.env of base backup $BASE_ID on site-a"* ]]
}

@test "fetch-offsite with --identity: WAL, a whole base backup and the catalogue come back as they were" {
  queued 000000010000000000000003
  "$AGENT/shipper" once 2>/dev/null
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/RECOVERYXLOG" --identity "$TMP/identity"
  [ "$status" -eq 0 ]
  cmp "$TMP/000000010000000000000003" "$TMP/RECOVERYXLOG"
  run "$AGENT/fetch-offsite" list-bases --identity "$TMP/identity"
  [ "$status" -eq 0 ]
  [ "$output" = "$BASE_ID 100 - - -" ]
  run "$AGENT/fetch-offsite" base "$BASE_ID" "$TMP/staging/$BASE_ID" --identity "$TMP/identity" --store site-b
  [ "$status" -eq 0 ]
  diff -r "$TMP/base/$BASE_ID" "$TMP/staging/$BASE_ID"
}

@test "fetch-offsite: an identity that does not open the objects fails naming it (126 for WAL)" {
  queued 000000010000000000000003
  "$AGENT/shipper" once 2>/dev/null
  run "$AGENT/fetch-offsite" wal 000000010000000000000003 "$TMP/RECOVERYXLOG" --identity "$TMP/other-identity"
  [ "$status" -eq 126 ]
  [[ $output == *"cannot decrypt site_a/bucket-a/svc/wal/000000010000000000000003 with the identity in"* ]]
  [[ $output == *"$TMP/other-identity: no identity matched any of the recipients"* ]]
  [ -z "$(find "$TMP" -maxdepth 1 -name 'RECOVERYXLOG*')" ]
}

@test "fetch-offsite: content that decrypts to another plaintext than the one recorded is refused" {
  make_base "$BASE_ID" 100
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  # Whoever can write the bucket (not read it: they hold no identity) swaps in another file for the recipients.
  obj=$(object a "base/$BASE_ID/backup_manifest")
  echo '{"manifest": "forged"}' | age -R "$TMP/recipients" -o "$obj"
  sed -i "s/^drkit-sha256=.*/drkit-sha256=$(sha_of "$obj")/" \
    "$FAKE_MC_ROOT/.meta/site_a/bucket-a/svc/base/$BASE_ID/backup_manifest"
  run "$AGENT/fetch-offsite" base "$BASE_ID" "$TMP/staging" --identity "$TMP/identity"
  [ "$status" -eq 1 ]
  recorded=$(sha_of "$TMP/base/$BASE_ID/backup_manifest")
  [[ $output == *"base/$BASE_ID/backup_manifest decrypts to content with sha256"*"recorded $recorded"* ]]
  [ ! -e "$TMP/staging/backup_manifest" ]
}

@test "--identity must name a readable age identity; the value is checked before any store is asked" {
  run "$AGENT/fetch-offsite" list-bases --identity "$TMP/missing"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot read the age identity $TMP/missing"* ]]
  run "$AGENT/fetch-offsite" list-bases --identity "$TMP/recipients"
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/recipients holds no age identity"* ]]
  run "$AGENT/fetch-offsite" list-bases --identity
  [ "$status" -eq 2 ]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

# config_setup: a service with two config files, as backup-config backs them up.
config_setup() {
  mkdir -p "$TMP/etc/svc"
  echo "DB_PASSWORD=s3cret-$RANDOM" >"$TMP/etc/svc/svc.env"
  echo "port = 5432" >"$TMP/etc/svc/main.conf"
  setting CONFIG_BACKUP_DIR "$TMP/config"
  setting_array CONFIG_FILES "$TMP/etc/svc/svc.env" "$TMP/etc/svc/main.conf"
  setting LOCK_DIR "$TMP/locks"
  setting RETAIN_DAILY_DAYS 7
  setting RETAIN_WEEKLY_WEEKS 0
  setting RETAIN_MONTHS 0
  setting RETAIN_NEWEST 1
}
config_id() { find "$TMP/config" -mindepth 1 -maxdepth 1 -name '2*' -printf '%f\n' | sort | tail -n1; }

@test "backup-config sends each set, sealed, to every store; fetch-offsite config gives the files back" {
  config_setup
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  id=$(config_id)
  for site in a b; do
    obj=$(object "$site" "config/config_$id.tar.age")
    is_age "$obj"
    ! grep -q s3cret "$obj" || false
    [ -e "$TMP/config/.offsite/site-$site/$id" ]
  done
  [[ $output == *"config $id confirmed on site-a"* && $output == *"config $id confirmed on site-b"* ]]
  # Confirmed everywhere: no sealed copy is kept.
  [ ! -e "$TMP/config/.offsite/config_$id.tar" ]
  run "$AGENT/fetch-offsite" list-configs --store site-b
  [ "$status" -eq 0 ]
  [ "$output" = "$id" ]
  run "$AGENT/fetch-offsite" config "$id" "$TMP/restored.tar" --identity "$TMP/identity"
  [ "$status" -eq 0 ]
  mkdir "$TMP/restored"
  tar -xf "$TMP/restored.tar" -C "$TMP/restored"
  cmp "$TMP/etc/svc/svc.env" "$TMP/restored$TMP/etc/svc/svc.env"
  cmp "$TMP/etc/svc/main.conf" "$TMP/restored$TMP/etc/svc/main.conf"
  run "$AGENT/fetch-offsite" config "$id" "$TMP/again.tar"
  [ "$status" -eq 1 ]
  [[ $output == *"is encrypted with age: give the identity"* ]]
}

@test "backup-config: a store that is down fails the job and keeps the set; the next run sends only what is missing" {
  config_setup
  credentials b "http://drkit:secret-of-b@down:9001"
  run "$AGENT/backup-config"
  [ "$status" -eq 1 ]
  [[ $output == *"some config sets are not on every object store yet"* ]]
  id=$(config_id)
  [ -e "$TMP/config/.offsite/site-a/$id" ]
  [ ! -e "$TMP/config/.offsite/site-b/$id" ]
  [ -f "$TMP/config/.offsite/config_$id.tar" ]
  credentials b "http://drkit:secret-of-b@127.0.0.1:9001"
  sleep 1
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  [ -e "$TMP/config/.offsite/site-b/$id" ]
  is_age "$(object b "config/config_$id.tar.age")"
  # site-a already had the first set: only site-b was sent one, and both got the new set.
  [ "$(mc_calls | grep -c "^cp .*site_a/bucket-a/svc/config/config_$id.tar.age")" -eq 0 ]
  [ "$(mc_calls | grep -c "^cp .*site_b/bucket-b/svc/config/config_$id.tar.age")" -eq 1 ]
}

@test "backup-config without encryption keeps its sets on the host: secrets never leave in clear" {
  config_setup
  grep -v '^OFFSITE_AGE_RECIPIENTS=' "$DRKIT_ENV" >"$TMP/env2"
  mv "$TMP/env2" "$DRKIT_ENV"
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  [ -z "$(find "$FAKE_MC_ROOT" -path '*config*' -type f)" ]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

@test "backup-config: retention keeps a set past its time until every store has it, then drops it and its markers" {
  config_setup
  mkdir -p "$TMP/config/20200101T000000Z/etc"
  echo old >"$TMP/config/20200101T000000Z/etc/old.conf"
  credentials b "http://drkit:secret-of-b@down:9001"
  run "$AGENT/backup-config"
  [ "$status" -eq 1 ]
  [[ $output == *"keeping config backup 20200101T000000Z past its retention: not on every object store yet"* ]]
  [ -d "$TMP/config/20200101T000000Z" ]
  credentials b "http://drkit:secret-of-b@127.0.0.1:9001"
  run "$AGENT/backup-config"
  [ "$status" -eq 0 ]
  is_age "$(object b config/config_20200101T000000Z.tar.age)"
  [[ $output == *"removed config backup 20200101T000000Z"* ]]
  [ ! -e "$TMP/config/20200101T000000Z" ]
  [ -z "$(find "$TMP/config/.offsite" -name '*20200101T000000Z*')" ]
}

@test "no process shows a store's secret key while the shipper and ship-offsite run" {
  queued 000000010000000000000003
  make_base "$BASE_ID" 100
  export FAKE_MC_PS=yes
  "$AGENT/shipper" once 2>/dev/null
  "$AGENT/ship-offsite" base "$BASE_ID" 2>/dev/null
  grep -q "shipper once" "$FAKE_MC_ROOT/.ps"
  grep -q "ship-offsite base $BASE_ID" "$FAKE_MC_ROOT/.ps"
  ! grep -qF "$SECRET_A" "$FAKE_MC_ROOT/.ps" || false
  # The key did reach mc, through its environment.
  grep -qF "MC_HOST_site_a=http://drkit:$SECRET_A@" "$FAKE_MC_ROOT/.calls"
}

# logical_set ID: a complete logical backup (two databases and the globals); valkey_set ID: a complete snapshot.
logical_set() {
  echo "dump of app $1" >"$TMP/logical/app_$1.custom.dump"
  echo "dump of audit $1" >"$TMP/logical/audit_$1.custom.dump"
  echo "globals $1" >"$TMP/logical/globals_$1.sql"
}
valkey_set() { for ext in .rdb .rdb.sha256 .meta; do echo "$ext of $1" >"$TMP/valkey/dump_$1$ext"; done; }

@test "logical dumps and Valkey snapshots come back from the store with the identity, newest first" {
  logical_set 20261201T010000Z
  logical_set 20261202T010000Z
  valkey_set 20261202T020000Z
  for id in 20261201T010000Z 20261202T010000Z; do "$AGENT/ship-offsite" logical "$id" 2>/dev/null; done
  "$AGENT/ship-offsite" valkey 20261202T020000Z 2>/dev/null
  is_age "$(object a logical/app_20261202T010000Z.custom.dump)"
  run "$AGENT/fetch-offsite" list-logical
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf '%s\n' 20261202T010000Z 20261201T010000Z)" ]
  run "$AGENT/fetch-offsite" list-valkey --store site-b
  [ "$output" = 20261202T020000Z ]
  # as root, the files go to the user restore-logical runs as
  setting PG_OS_USER postgres
  run "$AGENT/fetch-offsite" logical 20261201T010000Z "$TMP/got" --identity "$TMP/identity"
  [ "$status" -eq 0 ]
  [[ $output == *"fetched logical backup 20261201T010000Z (3 files) from site-a into $TMP/got (owned by postgres)"* ]]
  [ "$(stat -c %U "$TMP/got" "$TMP/got/globals_20261201T010000Z.sql" | sort -u)" = postgres ]
  for f in app_20261201T010000Z.custom.dump audit_20261201T010000Z.custom.dump globals_20261201T010000Z.sql; do
    cmp "$TMP/logical/$f" "$TMP/got/$f"
  done
  [ "$(ls "$TMP/got" | wc -l)" -eq 3 ]
  run "$AGENT/fetch-offsite" valkey 20261202T020000Z "$TMP/snap" --identity "$TMP/identity" --store site-b
  [ "$status" -eq 0 ]
  diff -r "$TMP/valkey" "$TMP/snap"
}

@test "logical and valkey: no identity, a set the store lacks, a set without its last file: each fails saying why" {
  logical_set 20261201T010000Z
  "$AGENT/ship-offsite" logical 20261201T010000Z 2>/dev/null
  run "$AGENT/fetch-offsite" logical 20261201T010000Z "$TMP/got"
  [ "$status" -eq 1 ]
  [[ $output == *"is encrypted with age: give the identity that opens it (--identity FILE)"* ]]
  # what the failed fetch wrote is taken back, the folder it made too
  [ ! -e "$TMP/got" ]
  mkdir "$TMP/mine"
  run "$AGENT/fetch-offsite" logical 20261201T010000Z "$TMP/mine"
  [ "$status" -eq 1 ]
  [ -d "$TMP/mine" ] && [ -z "$(ls -A "$TMP/mine")" ]
  run "$AGENT/fetch-offsite" valkey 20261201T010000Z "$TMP/snap" --identity "$TMP/identity"
  [ "$status" -eq 1 ]
  [[ $output == *"valkey backup 20261201T010000Z on site-a is missing or incomplete (no dump_20261201T010000Z.meta)"* ]]
  [ ! -e "$TMP/snap" ]
  rm "$(object a logical/globals_20261201T010000Z.sql)"
  run "$AGENT/fetch-offsite" logical 20261201T010000Z "$TMP/got2" --identity "$TMP/identity"
  [ "$status" -eq 1 ]
  [[ $output == *"(no globals_20261201T010000Z.sql)"* ]]
  run "$AGENT/fetch-offsite" list-logical
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}

@test "logical and valkey: an id that is not a backup id, or a missing folder, is a usage error (exit 2)" {
  run "$AGENT/fetch-offsite" logical ../../etc "$TMP/got"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: fetch-offsite logical <id> <dir>"* ]]
  run "$AGENT/fetch-offsite" valkey 20261201T010000Z
  [ "$status" -eq 2 ]
  run "$AGENT/fetch-offsite" list-valkey now
  [ "$status" -eq 2 ]
  [[ $output == *"usage: fetch-offsite list-valkey (no other arguments)"* ]]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
}

@test "wal --prefetch: encrypted segments are opened with the identity as they arrive; without it recovery aborts (126)" {
  for n in 1 2 3; do queued "00000001000000000000000$n"; done
  "$AGENT/shipper" once 2>/dev/null
  run "$AGENT/fetch-offsite" wal 000000010000000000000001 "$TMP/r1" --prefetch "$TMP/ahead"
  [ "$status" -eq 126 ]
  [[ $output == *"svc/wal/000000010000000000000001 is encrypted with age: give the identity that opens it"* ]]
  [ ! -e "$TMP/r1" ]
  for n in 1 2 3; do
    run "$AGENT/fetch-offsite" wal "00000001000000000000000$n" "$TMP/r$n" --prefetch "$TMP/ahead" \
      --identity "$TMP/identity"
    [ "$status" -eq 0 ]
    cmp "$TMP/00000001000000000000000$n" "$TMP/r$n"
  done
  # nothing encrypted or half-done is left in the folder: the two newest segments recovery was given, decrypted,
  # and the name of the newest
  [ "$(folder_names "$TMP/ahead")" = ".newest 000000010000000000000002 000000010000000000000003" ]
  cmp "$TMP/000000010000000000000003" "$TMP/ahead/000000010000000000000003"
}
