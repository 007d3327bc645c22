#!/usr/bin/env bats
# guard-primary: arguments and settings, a standby's or a fenced data directory, then with psql stubbed per
# address: every standby in recovery (start), one promoted (fenced, refused, and refused again without asking),
# standbys that cannot be asked (asked again for GUARD_WAIT_SECONDS, then a warning and the start).
load helpers
load replication-stubs

setup() {
  agent_setup
  pg_stubs
  mkdir -p "$TMP/data"
  echo 15 >"$TMP/data/PG_VERSION"
  # replication-stubs' psql replaced by one that answers as a standby at PGHOST answers: connection refused while $STUBS/down.<host> exists, else the content of
  # $STUBS/answer.<host> (t or f); $STUBS/flip.<host>.<n> makes the n-th call and later ones answer f instead.
  cat >"$TMP/bin/psql" <<STUB
#!/usr/bin/env bash
q=\${*: -1}
printf 'psql host=%s port=%s user=%s db=%s passfile=%s sslmode=%s timeout=%s: %s\n' "\$PGHOST" "\$PGPORT" \
  "\$PGUSER" "\$PGDATABASE" "\$PGPASSFILE" "\$PGSSLMODE" "\$PGCONNECT_TIMEOUT" "\$q" >>"$TMP/calls"
n=\$(grep -c "host=\$PGHOST " "$TMP/calls")
if [[ -e "$STUBS/down.\$PGHOST" ]]; then
  echo "psql: error: connection to server at \"\$PGHOST\", port \$PGPORT failed: Connection refused" >&2
  exit 2
fi
[[ ! -e "$STUBS/warn" ]] || echo "WARNING:  database \"postgres\" has a collation version mismatch" >&2
for f in "$STUBS/flip.\$PGHOST".*; do
  [[ -e \$f && \$n -ge \${f##*.} ]] && { echo f; exit 0; }
done
cat "$STUBS/answer.\$PGHOST"
STUB
  chmod +x "$TMP/bin/psql"
  setting PGPORT 5432
  setting PGDATA_DIR "$TMP/data"
  setting REWIND_ROLE drkit_rewind
  setting REPL_PASS_FILE "$TMP/pgpass"
  setting_array GUARD_STANDBYS near far
  setting_array GUARD_ADDRESSES 10.0.0.2 10.0.0.3
  setting_array GUARD_PORTS 5432 5433
  echo t >"$STUBS/answer.10.0.0.2"
  echo t >"$STUBS/answer.10.0.0.3"
}
teardown() { agent_teardown; }
guard() { "$AGENT/guard-primary"; }
asked() { grep -c '^psql ' "$TMP/calls" || true; }

@test "an argument is a usage error (exit 2)" {
  run "$AGENT/guard-primary" now
  [ "$status" -eq 2 ]
  [[ $output == *"usage: guard-primary (no arguments)"* ]]
}

@test "a settings file without REWIND_ROLE fails naming the setting" {
  grep -v '^REWIND_ROLE=' "$DRKIT_ENV" >"$TMP/env2"
  DRKIT_ENV=$TMP/env2 run guard
  [ "$status" -eq 1 ]
  [[ $output == *"setting REWIND_ROLE is not set"* ]]
}

@test "standby lists of different lengths are refused" {
  setting_array GUARD_PORTS 5432
  run guard
  [ "$status" -eq 1 ]
  [[ $output == *"GUARD_STANDBYS, GUARD_ADDRESSES and GUARD_PORTS differ in length"* ]]
}

@test "a standby's data directory starts without a question" {
  touch "$TMP/data/standby.signal"
  echo f >"$STUBS/answer.10.0.0.3"
  run guard
  [ "$status" -eq 0 ]
  [ "$(asked)" -eq 0 ]
}

@test "a data directory fenced by fence-primary never starts as a primary, and nobody is asked" {
  echo "fenced by drkit's fence-primary at 2026-12-01T10:00:00Z on db1" >"$TMP/data/drkit.fenced"
  run guard
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/data is fenced (fenced by drkit's fence-primary at 2026-12-01T10:00:00Z on db1): it must not start as a primary"* ]]
  [[ $output == *"run pulumi up, which rewinds this server into its standby"* ]]
  [ "$(asked)" -eq 0 ]
}

@test "every standby in recovery: the primary starts; each was asked once as the rewind role" {
  run guard
  [ "$status" -eq 0 ]
  [[ $output == *"no standby was promoted (2 of 2 answered): $TMP/data starts as the primary"* ]]
  grep -qxF "psql host=10.0.0.2 port=5432 user=drkit_rewind db=postgres passfile=$TMP/pgpass sslmode=prefer timeout=3: SELECT pg_is_in_recovery()" "$TMP/calls"
  grep -qxF "psql host=10.0.0.3 port=5433 user=drkit_rewind db=postgres passfile=$TMP/pgpass sslmode=prefer timeout=3: SELECT pg_is_in_recovery()" "$TMP/calls"
  [ "$(asked)" -eq 2 ]
  [ ! -e "$TMP/data/drkit.fenced" ]
}

@test "a promoted standby: the data directory is marked fenced and the start refused, then refused without asking" {
  echo f >"$STUBS/answer.10.0.0.3"
  run guard
  [ "$status" -eq 1 ]
  [[ $output == *"standby far (10.0.0.3:5433) was promoted while this server was down: $TMP/data must not start as a second primary"* ]]
  [[ $output == *"name far the primary in the stack and run pulumi up"* ]]
  grep -qE "^fenced by drkit's guard-primary at [0-9T:-]+Z on .*: standby far \(10.0.0.3:5433\) was promoted$" \
    "$TMP/data/drkit.fenced"
  : >"$TMP/calls"
  echo t >"$STUBS/answer.10.0.0.3"
  run guard
  [ "$status" -eq 1 ]
  [[ $output == *"is fenced (fenced by drkit's guard-primary"* ]]
  [ "$(asked)" -eq 0 ]
}

@test "one standby answers, another cannot be asked: the primary starts at once, with a warning naming it" {
  down 10.0.0.2
  GUARD_WAIT_SECONDS=30 run guard
  [ "$status" -eq 0 ]
  [[ $output == *"WARNING: could not ask standby near (10.0.0.2:5432): connection to server at \"10.0.0.2\", port 5432 failed: Connection refused; it may have been promoted: starting anyway"* ]]
  [[ $output == *"(1 of 2 answered)"* ]]
  [ "$(asked)" -eq 2 ]
}

@test "no standby can be asked: asked again until GUARD_WAIT_SECONDS, then the start with a warning for each" {
  down 10.0.0.2
  down 10.0.0.3
  SECONDS=0
  GUARD_WAIT_SECONDS=2 run guard
  [ "$status" -eq 0 ]
  [[ $output == *"no standby answers yet; asking again for up to 2 s"* ]]
  [[ $output == *"WARNING: could not ask standby near (10.0.0.2:5432)"* ]]
  [[ $output == *"WARNING: could not ask standby far (10.0.0.3:5433)"* ]]
  [[ $output == *"(0 of 2 answered)"* ]]
  [ "$(asked)" -ge 4 ]
  [ "$SECONDS" -ge 2 ]
}

@test "a standby that comes up promoted during the wait stops the start" {
  down 10.0.0.2
  down 10.0.0.3
  (sleep 1.5 && rm -f "$STUBS/down.10.0.0.3") &
  echo f >"$STUBS/answer.10.0.0.3"
  GUARD_WAIT_SECONDS=20 run guard
  wait
  [ "$status" -eq 1 ]
  [[ $output == *"standby far (10.0.0.3:5433) was promoted while this server was down"* ]]
  [ -f "$TMP/data/drkit.fenced" ]
}

@test "an answer that is neither t nor f counts as not asked" {
  echo "maybe" >"$STUBS/answer.10.0.0.2"
  run guard
  [ "$status" -eq 0 ]
  [[ $output == *"could not ask standby near (10.0.0.2:5432): unexpected answer 'maybe'"* ]]
}

@test "without standbys on other hosts nothing is asked" {
  setting_array GUARD_STANDBYS
  setting_array GUARD_ADDRESSES
  setting_array GUARD_PORTS
  run guard
  [ "$status" -eq 0 ]
  [ "$(asked)" -eq 0 ]
}

@test "a warning the standby sends at login does not hide its answer: promoted still refuses the start" {
  touch "$STUBS/warn"
  echo f >"$STUBS/answer.10.0.0.3"
  run guard
  [ "$status" -eq 1 ]
  [[ $output == *"standby far (10.0.0.3:5433) was promoted while this server was down"* ]]
}
