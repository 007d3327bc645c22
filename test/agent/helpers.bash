# shellcheck shell=bash
# Shared setup of the agent's bats tests: a temporary directory, a settings file in it (DRKIT_ENV) and the
# path of the agent. Tests append the settings they need with `setting NAME VALUE` / `setting_array NAME V...`.
# shellcheck disable=SC2034 # AGENT and STUB_PID are used by the .bats files that load this one
AGENT=$(cd -- "$BATS_TEST_DIRNAME/../../agent" && pwd)
# The process id the stand-in servers write into postmaster.pid: above the kernel's limit on process ids (2^22),
# so no process has it. A real one would make a stand-in look alive to `kill -0`, or get its signals.
STUB_PID=4194305

agent_setup() {
  TMP=$(mktemp -d)
  export DRKIT_ENV=$TMP/drkit.env
  {
    echo "SERVICE=testsvc"
    echo "LOCK_DIR=$TMP/locks"
    echo "OFFSITE_STORES=()"
  } >"$DRKIT_ENV"
}
agent_teardown() { rm -rf -- "$TMP"; }

setting() { printf '%s=%q\n' "$1" "$2" >>"$DRKIT_ENV"; }
setting_array() {
  local name=$1
  shift
  printf '%s=(' "$name" >>"$DRKIT_ENV"
  [[ $# -eq 0 ]] || printf '%q ' "$@" >>"$DRKIT_ENV"
  printf ')\n' >>"$DRKIT_ENV"
}
# free_space BYTES: from here on the verbs see BYTES available on every filesystem (a stand-in df first in
# PATH), as on a full disk.
free_space() {
  mkdir -p "$TMP/fakebin"
  printf '#!/usr/bin/env bash\nprintf "Avail\\n%s\\n"\n' "$1" >"$TMP/fakebin/df"
  chmod +x "$TMP/fakebin/df"
  export PATH="$TMP/fakebin:$PATH"
}
