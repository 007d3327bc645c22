# shellcheck shell=bash
# Shared setup of ship-offsite's and fetch-offsite's bats tests: two object stores (site-a, site-b) served by
# test/agent/fake-mc from folders, their 0600 credentials files, and a service's local backups.
load helpers

FAKE_MC=$BATS_TEST_DIRNAME/fake-mc
# shellcheck disable=SC2034 # used by the .bats files that load this one
SECRET_A=secret-of-a-$RANDOM BASE_ID=20240102T030405Z

offsite_setup() {
  agent_setup
  export FAKE_MC_ROOT=$TMP/store TMPDIR=$TMP/tmp
  mkdir -p "$FAKE_MC_ROOT/site_a/bucket-a" "$FAKE_MC_ROOT/site_b/bucket-b" "$TMPDIR" \
    "$TMP/base" "$TMP/logical" "$TMP/valkey" "$TMP/marks"
  : >"$FAKE_MC_ROOT/.calls"
  credentials a "http://drkit:$SECRET_A@127.0.0.1:9000"
  credentials b "http://drkit:secret-of-b@127.0.0.1:9001"
  setting_array OFFSITE_STORES site-a site-b
  setting_array OFFSITE_ALIASES site_a site_b
  setting_array OFFSITE_BUCKETS bucket-a bucket-b
  setting_array OFFSITE_CREDENTIALS "$TMP/creds-a" "$TMP/creds-b"
  setting OFFSITE_PREFIX svc/
  setting OFFSITE_MARKS "$TMP/marks"
  setting MC "$FAKE_MC"
  setting PG_OS_USER "$(id -un)"
  setting RETRY_ATTEMPTS 2
  setting RETRY_FIRST_DELAY 0
  setting BASE_DIR "$TMP/base"
  setting LOGICAL_DIR "$TMP/logical"
  setting REDIS_BACKUP_DIR "$TMP/valkey"
}

# credentials a|b URL: the store's credentials file, as drkit writes it.
credentials() {
  printf '# drkit: credentials of object store site-%s for mc; keep this file mode 0600\nMC_HOST_site_%s=%s\n' \
    "$1" "$1" "$2" >"$TMP/creds-$1"
  chmod 0600 "$TMP/creds-$1"
}

# make_base ID END_EPOCH [no-meta]: a base backup in BASE_DIR, complete unless no-meta.
make_base() {
  local dir=$TMP/base/$1
  mkdir -p "$dir"
  head -c 4096 /dev/urandom >"$dir/base.tar"
  head -c 1024 /dev/urandom >"$dir/pg_wal.tar"
  echo "{\"manifest\": \"$1\"}" >"$dir/backup_manifest"
  [[ ${3:-} == no-meta ]] || printf 'id=%s\nstart_wal=000000010000000000000002\nend_epoch=%s\n' "$1" "$2" >"$dir/drkit-backup.env"
}
make_wal() { head -c 16384 /dev/urandom >"$TMP/$1"; }

# object SITE KEY: the path of an object in the fake store (SITE a or b, KEY under the svc/ prefix).
object() { printf '%s/site_%s/bucket-%s/svc/%s' "$FAKE_MC_ROOT" "$1" "$1" "$2"; }
sha_of() { sha256sum -- "$1" | cut -d' ' -f1; }
# The mc calls made (arguments only, without the environment).
mc_calls() { sed 's/ | .*$//' "$FAKE_MC_ROOT/.calls"; }
# folder_names DIR: the names in DIR, dot files included, sorted, on one line.
folder_names() { find "$1" -mindepth 1 -printf '%f\n' | sort | paste -sd ' '; }
