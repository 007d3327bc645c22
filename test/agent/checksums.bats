#!/usr/bin/env bats
# lib.sh's sha256_files and sha256_of: sha256sum's output, computed by OpenSSL where it is installed and by
# sha256sum where it is not; a file that cannot be read fails either way.
load helpers

setup() {
  agent_setup
  printf 'first\n' >"$TMP/a"
  head -c 3000000 /dev/urandom >"$TMP/b"
}
teardown() { agent_teardown; }

# lib FUNCTION ARGS...: one of lib.sh's functions, in $TMP.
lib() { (cd "$TMP" && bash -c '. "$1"; "${@:2}"' lib "$AGENT/lib.sh" "$@"); }
# without_openssl FUNCTION ARGS...: lib with a PATH of every program in /usr/bin and /bin but openssl.
without_openssl() {
  local program
  if [[ ! -d $TMP/path ]]; then
    mkdir -p "$TMP/path"
    for program in /usr/bin/* /bin/*; do
      [[ ${program##*/} == openssl || -e $TMP/path/${program##*/} ]] || ln -s "$program" "$TMP/path/"
    done
  fi
  local PATH=$TMP/path
  ! command -v openssl || return 99
  lib "$@"
}

@test "sha256_files prints what sha256sum prints, by OpenSSL when it is installed" {
  # openssl as a spy that records its call and runs the real one
  mkdir -p "$TMP/spy"
  printf '#!/bin/sh\necho "$*" >>"%s/openssl-calls"\nexec %s "$@"\n' "$TMP" "$(command -v openssl)" >"$TMP/spy/openssl"
  chmod +x "$TMP/spy/openssl"
  expected=$(cd "$TMP" && sha256sum -- a b)
  PATH=$TMP/spy:$PATH run lib sha256_files a b
  [ "$status" -eq 0 ]
  [ "$output" = "$expected" ]
  grep -qx -- "dgst -sha256 -r -- a b" "$TMP/openssl-calls"
  run lib sha256_of b
  [ "$output  b" = "${expected##*$'\n'}" ]
}

@test "without OpenSSL sha256sum computes the same" {
  expected=$(cd "$TMP" && sha256sum -- a b)
  run without_openssl sha256_files a b
  [ "$status" -eq 0 ]
  [ "$output" = "$expected" ]
}

@test "a file that cannot be read fails, with OpenSSL and without" {
  run lib sha256_of missing
  [ "$status" -ne 0 ]
  ! grep -qE '^[0-9a-f]{64}$' <<<"$output" || false
  run lib sha256_files a missing
  [ "$status" -ne 0 ]
  run without_openssl sha256_of missing
  [ "$status" -eq 1 ]
}
