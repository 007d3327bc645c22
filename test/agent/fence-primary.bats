#!/usr/bin/env bats
# fence-primary: arguments, what it refuses (no cluster, a standby), then with pg_ctl/systemctl stubbed: the stop
# (fast, immediate when that hangs), the mask, the unarchived WAL archived, the marker, and a rerun.
load helpers
load replication-stubs

setup() {
  primary_setup
  mkdir -p "$TMP/primary/pg_wal/archive_status" "$TMP/agent" "$TMP/archive"
  echo 15 >"$TMP/primary/PG_VERSION"
  running "$TMP/primary"
  cp -- "$AGENT/lib.sh" "$AGENT/fence-primary" "$TMP/agent/"
  cat >"$TMP/agent/archive-wal" <<STUB
#!/usr/bin/env bash
echo "archive-wal \$*" >>"$TMP/calls"
STUB
  chmod +x "$TMP/agent/archive-wal"
}
teardown() { agent_teardown; }
fence() { "$TMP/agent/fence-primary"; }

@test "an argument is a usage error (exit 2), and nothing is stopped" {
  run "$TMP/agent/fence-primary" now
  [ "$status" -eq 2 ]
  [[ $output == *"usage: fence-primary (no arguments)"* ]]
  [ -f "$TMP/primary/postmaster.pid" ]
}

@test "a settings file without PGDATA_DIR fails naming the setting" {
  grep -v '^PGDATA_DIR=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run fence
  [ "$status" -eq 1 ]
  [[ $output == *"setting PGDATA_DIR is not set"* ]]
}

@test "a folder without a cluster is refused" {
  rm "$TMP/primary/PG_VERSION"
  run fence
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/primary holds no cluster: nothing to fence"* ]]
  [ ! -s "$TMP/calls" ]
}

@test "a standby is refused: only a primary is fenced" {
  touch "$TMP/primary/standby.signal"
  run fence
  [ "$status" -eq 1 ]
  [[ $output == *"is a standby (standby.signal), not a primary"* ]]
  [ -f "$TMP/primary/postmaster.pid" ]
}

@test "stops the server fast, archives what it had not archived, marks the data directory" {
  touch "$TMP/primary/pg_wal/000000010000000000000007"
  touch "$TMP/primary/pg_wal/archive_status/000000010000000000000007.ready"
  run fence
  [ "$status" -eq 0 ]
  grep -qF "pg_ctl -D $TMP/primary -m fast -w -t 60 stop" "$TMP/calls"
  ! grep -qF "immediate" "$TMP/calls" || false
  [ ! -f "$TMP/primary/postmaster.pid" ]
  grep -qF "archive-wal $TMP/primary/pg_wal/000000010000000000000007 000000010000000000000007" "$TMP/calls"
  [ -f "$TMP/primary/pg_wal/archive_status/000000010000000000000007.done" ]
  grep -qE "^fenced by drkit's fence-primary at [0-9T:-]+Z on " "$TMP/primary/drkit.fenced"
  [[ $output == *"fenced: $TMP/primary is stopped and marked $TMP/primary/drkit.fenced"* ]]
}

@test "a server that does not stop fast is stopped immediately; one that still runs is not called fenced" {
  touch "$STUBS/stop-fails"
  run fence
  [ "$status" -eq 1 ]
  grep -qF -- "-m immediate -w stop" "$TMP/calls"
  [[ $output == *"the fast stop did not finish within 60 s: stopping immediately"* ]]
  [[ $output == *"still runs: it is not fenced; do not promote a standby"* ]]
  [ ! -e "$TMP/primary/drkit.fenced" ]
}

@test "systemd: the unit is stopped and masked, so it starts neither by hand nor at boot" {
  systemd_stubs postgresql@15-main.service
  touch "$STUBS/active"
  rm "$TMP/primary/postmaster.pid"
  run fence
  [ "$status" -eq 0 ]
  grep -qxF "systemctl stop postgresql@15-main.service" "$TMP/calls"
  grep -qxF "systemctl mask postgresql@15-main.service" "$TMP/calls"
  [ "$(grep -n 'systemctl stop' "$TMP/calls" | head -n1 | cut -d: -f1)" -lt \
    "$(grep -n 'systemctl mask' "$TMP/calls" | cut -d: -f1)" ]
  [[ $output == *"is stopped, postgresql@15-main.service masked, and marked"* ]]
}

@test "systemd: a unit that cannot be masked fails the fence, with no marker" {
  systemd_stubs postgresql@15-main.service
  touch "$STUBS/mask-fails"
  rm "$TMP/primary/postmaster.pid"
  run fence
  [ "$status" -eq 1 ]
  [[ $output == *"cannot mask postgresql@15-main.service: the primary could start again"* ]]
  [ ! -e "$TMP/primary/drkit.fenced" ]
}

@test "a second run on a fenced server keeps the first marker and stops nothing" {
  fence
  marker=$(cat "$TMP/primary/drkit.fenced")
  : >"$TMP/calls"
  run fence
  [ "$status" -eq 0 ]
  ! grep -q "stop" "$TMP/calls" || false
  [ "$(cat "$TMP/primary/drkit.fenced")" = "$marker" ]
}
