#!/usr/bin/env bats
# shipper: arguments, intake of archive-wal's queue entries, batches confirmed by reading checksums back, never
# overwriting, one store failing without holding back the other, time bounds on every call, the backlog cap and
# its gap record, the state file; mc is test/agent/fake-mc.
load offsite-helpers

setup() {
  offsite_setup
  mkdir -p "$TMP/wal"
  setting WAL_DIR "$TMP/wal"
  setting PG_OS_USER "$(id -un)"
  setting OFFSITE_CALL_TIMEOUT 60
}
teardown() {
  [[ ! -f $TMP/marks/shipper.pid ]] || kill "$(cat "$TMP/marks/shipper.pid")" 2>/dev/null || true
  # fake hashes that were never stopped
  [[ ! -f $TMP/hasher-pids ]] || xargs kill 2>/dev/null <"$TMP/hasher-pids" || true
  agent_teardown
}

# archived N...: WAL segments 00000001000000000000000N archived and queued, as archive-wal leaves them.
archived() {
  local n name
  for n in "$@"; do
    name=$(printf '0000000100000000000000%02X' "$n")
    head -c 16384 /dev/urandom >"$TMP/wal/$name"
    : >"$TMP/wal/.to-ship.$name"
  done
}
seg() { printf '0000000100000000000000%02X' "$1"; }
# fake_openssl BODY: an openssl first on the PATH of `PATH=$TMP/bin:$PATH run ...`, a bash script running BODY.
fake_openssl() {
  mkdir -p "$TMP/bin"
  printf '#!/usr/bin/env bash\n%s\n' "$1" >"$TMP/bin/openssl"
  chmod +x "$TMP/bin/openssl"
}

@test "usage: one of run, once, start, stop, status (exit 2)" {
  run "$AGENT/shipper"
  [ "$status" -eq 2 ]
  [[ $output == *"usage: shipper run | once | start | stop | status"* ]]
  run "$AGENT/shipper" ship
  [ "$status" -eq 2 ]
  run "$AGENT/shipper" once extra
  [ "$status" -eq 2 ]
}

@test "a service without object stores has nothing to ship (exit 1)" {
  setting_array OFFSITE_STORES
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"service testsvc has no object stores"* ]]
}

@test "once: every queued file lands at wal/<name> on every store, confirmed; the queues are empty" {
  archived 1 2 3
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  [[ $output == *"every archived WAL file is confirmed off-site"* ]]
  for n in 1 2 3; do
    cmp "$TMP/wal/$(seg "$n")" "$(object a "wal/$(seg "$n")")"
    cmp "$TMP/wal/$(seg "$n")" "$(object b "wal/$(seg "$n")")"
  done
  [ -z "$(find "$TMP/wal" -name '.to-ship.*')" ]
  [ -z "$(ls -A "$TMP/marks/site-a/wal-queue")" ]
  [ -z "$(ls -A "$TMP/marks/site-b/wal-queue")" ]
  # the local archive is untouched
  [ "$(find "$TMP/wal" -type f | wc -l)" -eq 3 ]
}

@test "a batch costs three mc calls per store whatever its size: list, one upload, one read-back" {
  archived 1 2 3 4 5 6
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  [ "$(mc_calls | grep -c 'site_a/')" -eq 3 ]
  [ "$(mc_calls | grep -c '^cp .*site_a/bucket-a/svc/wal/$')" -eq 1 ]
  mc_calls | grep -q '^cp --quiet --checksum SHA256 --disable-multipart --max-workers 4 '
}

@test "the store's SHA256 checksum is read back and compared (a corrupted upload is not confirmed)" {
  archived 1
  # the store reports a checksum other than the one of the file sent
  printf '#!/usr/bin/env bash\nif [[ $1 == cp ]]; then "%s" "$@"; echo "checksum=%s=" >"%s"; exit 0; fi\n%s\n' \
    "$FAKE_MC" "$(printf 'A%.0s' {1..43})" "$FAKE_MC_ROOT/.meta/site_a/bucket-a/svc/wal/$(seg 1)" \
    "exec \"$FAKE_MC\" \"\$@\"" \
    >"$TMP/corrupting-mc"
  chmod +x "$TMP/corrupting-mc"
  setting MC "$TMP/corrupting-mc"
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"reads back sha256"*"after the upload, expected $(sha_of "$TMP/wal/$(seg 1)")"* ]]
  [ -f "$TMP/marks/site-a/wal-queue/$(seg 1)" ]
}

@test "files the store lacks are hashed while mc uploads them; only those it holds are hashed before" {
  archived 1
  "$AGENT/shipper" once
  archived 2 3
  : >"$TMP/wal/.to-ship.$(seg 1)"
  # openssl notes whether mc's upload had started when it was asked; a hash of the files to upload waits for it
  # (a minute at most), so a hash run before the upload shows up as "before"
  fake_openssl "files=(\"\${@:5}\")
if [[ \$* == *$(seg 2)* ]]; then for _ in \$(seq 1200); do [[ -e $TMP/cp-started ]] && break; sleep 0.05; done; fi
if [[ -e $TMP/cp-started ]]; then when=during; else when=before; fi
echo \"\$when \${files[*]##*/}\" >>\"$TMP/hashed\"
exec /usr/bin/openssl \"\$@\""
  printf '#!/usr/bin/env bash\nif [[ $1 == cp ]]; then : >%s; fi\nexec "%s" "$@"\n' "$TMP/cp-started" "$FAKE_MC" \
    >"$TMP/marking-mc"
  chmod +x "$TMP/marking-mc"
  setting MC "$TMP/marking-mc"
  PATH=$TMP/bin:$PATH run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  # site-a's pass (site-b's follows: its upload marker is already there)
  [ "$(head -n 2 "$TMP/hashed")" = "before $(seg 1)
during $(seg 2) $(seg 3)" ]
  [ "$(wc -l <"$TMP/hashed")" -eq 4 ]
  [ -z "$(ls -A "$TMP/marks/site-a/wal-queue")" ]
  [ "$(sha_of "$(object a "wal/$(seg 3)")")" = "$(sha_of "$TMP/wal/$(seg 3)")" ]
}

@test "an upload whose local hash fails is not confirmed: its entry stays and the log says why" {
  archived 1
  fake_openssl 'echo "read error" >&2; exit 1'
  # bounded (generously: bats runs slowly on a loaded machine): a pass that confirmed nothing and reported no
  # failure would retry the batch forever
  PATH=$TMP/bin:$PATH run timeout 300 "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"reads back sha256 "*" after the upload, expected a hash of the file that could not be read"* ]]
  [ -f "$TMP/marks/site-a/wal-queue/$(seg 1)" ]
}

@test "a file the store holds that cannot be hashed is a failure that says so, not a refusal to overwrite" {
  archived 1
  "$AGENT/shipper" once
  : >"$TMP/wal/.to-ship.$(seg 1)"
  fake_openssl 'echo "read error" >&2; exit 1'
  PATH=$TMP/bin:$PATH run timeout 300 "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"$TMP/wal/$(seg 1) could not be hashed to compare it with the object site-a already holds"* ]]
  [[ $output != *"refusing to overwrite"* ]]
  [ -f "$TMP/marks/site-a/wal-queue/$(seg 1)" ]
}

@test "when the upload fails, the hash beside it is stopped with it" {
  archived 1
  # a hash that never ends by itself (it notes its pid, which exec keeps), and a store that refuses the upload
  fake_openssl "echo \$\$ >>\"$TMP/hasher-pids\"; exec sleep 3600"
  printf '#!/usr/bin/env bash\nif [[ $1 == cp ]]; then echo "connection refused" >&2; exit 1; fi\nexec "%s" "$@"\n' \
    "$FAKE_MC" >"$TMP/refusing-mc"
  chmod +x "$TMP/refusing-mc"
  setting MC "$TMP/refusing-mc"
  setting RETRY_ATTEMPTS 1
  # a pass that waited for the hash would be cut by the timeout (status 124)
  PATH=$TMP/bin:$PATH run timeout 300 "$AGENT/shipper" once
  [ "$status" -eq 1 ] || { echo "status $status: $output"; false; }
  [[ $output == *"connection refused"* ]]
  # one hash per store, each gone
  [ "$(wc -l <"$TMP/hasher-pids")" -eq 2 ]
  # gone, or dead and not yet reaped (a zombie, where the machine's first process reaps late)
  while read -r pid; do
    [[ ! -e /proc/$pid ]] || [[ $(cut -d' ' -f3 "/proc/$pid/stat") == Z ]]
  done <"$TMP/hasher-pids"
  [ -f "$TMP/marks/site-a/wal-queue/$(seg 1)" ]
}

@test "an object already there with the same content counts as shipped, without an upload" {
  archived 1
  "$AGENT/shipper" once
  : >"$FAKE_MC_ROOT/.calls"
  : >"$TMP/wal/.to-ship.$(seg 1)"
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  ! mc_calls | grep -q '^cp ' || false
  [ -z "$(ls -A "$TMP/marks/site-a/wal-queue")" ]
}

@test "an object there with different content is never overwritten; the entry stays and the error says why" {
  archived 1
  mkdir -p "$(dirname "$(object a "wal/$(seg 1)")")"
  echo "another cluster" >"$(object a "wal/$(seg 1)")"
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"refusing to overwrite it (does the location hold another cluster's archive?)"* ]]
  [ "$(cat "$(object a "wal/$(seg 1)")")" = "another cluster" ]
  [ -f "$TMP/marks/site-a/wal-queue/$(seg 1)" ]
  # the other store is not held back
  cmp "$TMP/wal/$(seg 1)" "$(object b "wal/$(seg 1)")"
  [ ! -e "$TMP/marks/site-b/wal-queue/$(seg 1)" ]
}

@test "a store that is down keeps its entries and its failure in the state; the other store is shipped" {
  archived 1 2
  credentials b "http://drkit:secret-of-b@down:9001"
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [ -f "$(object a "wal/$(seg 2)")" ]
  [ -f "$TMP/marks/site-b/wal-queue/$(seg 1)" ]
  [ -f "$TMP/marks/site-b/wal-queue/$(seg 2)" ]
  grep -qx 'backlog_files=2' "$TMP/marks/site-b/shipper.state"
  grep -qx 'consecutive_failures=1' "$TMP/marks/site-b/shipper.state"
  grep -q '^last_error=.*connection' "$TMP/marks/site-b/shipper.state"
  grep -qx 'backlog_files=0' "$TMP/marks/site-a/shipper.state"
  grep -qx "last_confirmed_wal=$(seg 2)" "$TMP/marks/site-a/shipper.state"
  # back up: the backlog ships
  credentials b "http://drkit:secret-of-b@127.0.0.1:9001"
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  cmp "$TMP/wal/$(seg 1)" "$(object b "wal/$(seg 1)")"
}

@test "a store that never answers is given up within the call's time bound, not after mc's own wait" {
  archived 1
  setting_array OFFSITE_STORES site-b
  setting_array OFFSITE_ALIASES site_b
  setting_array OFFSITE_BUCKETS bucket-b
  setting_array OFFSITE_CREDENTIALS "$TMP/creds-b"
  setting OFFSITE_CALL_TIMEOUT 2
  credentials b "http://drkit:secret-of-b@hang:9001"
  start=$SECONDS
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"mc ls gave no answer within 2s (timed out)"* ]]
  # the stand-in never answers within 300 s; two bounded attempts end long before
  ((SECONDS - start < 150))
  [ -f "$TMP/marks/site-b/wal-queue/$(seg 1)" ]
}

@test "a store refusing the host's clock says so, and keeps the entries" {
  archived 1
  credentials b "http://drkit:secret-of-b@skewed:9001"
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"refused the request because this host's clock"*"differs too much from its own"* ]]
  [ -f "$TMP/marks/site-b/wal-queue/$(seg 1)" ]
}

@test "over the backlog cap the oldest entries are given up down to half the cap, loudly, and recorded" {
  archived 1 2 3 4 5 6 7 8
  setting OFFSITE_MAX_BACKLOG_BYTES $((4 * 16384))
  credentials b "http://drkit:secret-of-b@down:9001"
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"OFF-SITE CONTINUITY LOST on site-b"*"giving up 6 file(s) from $(seg 1) to $(seg 6)"* ]]
  grep -E "^[0-9TZ:-]+ $(seg 1) $(seg 6) 6 backlog over 65536 bytes$" "$TMP/marks/site-b/gaps.log"
  [ "$(ls "$TMP/marks/site-b/wal-queue")" = "$(printf '%s\n' "$(seg 7)" "$(seg 8)")" ]
  # the files stay in the local archive; site-a, under its cap, got everything
  [ "$(find "$TMP/wal" -type f -name '0*' | wc -l)" -eq 8 ]
  [ -f "$(object a "wal/$(seg 1)")" ]
  run "$AGENT/shipper" status
  [[ $output == *"site-b: gap since "*": $(seg 1) to $(seg 6) (6 file(s), backlog over 65536 bytes): OPEN until"* ]]
  # a base backup starting after the gap, confirmed on site-b, closes it
  setting BASE_DIR "$TMP/base"
  mkdir -p "$TMP/base/20240102T000000Z" "$TMP/marks/site-b/base"
  printf 'start_wal=%s\n' "$(seg 7)" >"$TMP/base/20240102T000000Z/drkit-backup.env"
  : >"$TMP/marks/site-b/base/20240102T000000Z"
  run "$AGENT/shipper" status
  [[ $output == *"$(seg 1) to $(seg 6) (6 file(s), backlog over 65536 bytes): closed by base backup 2024"* ]]
}

@test "a queued file no longer in the archive is reported lost off-site and recorded, not retried forever" {
  archived 1 2
  rm "$TMP/wal/$(seg 1)"
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  [[ $output == *"$(seg 1) is queued for site-a but no longer in $TMP/wal; it is lost off-site"* ]]
  grep -q " $(seg 1) $(seg 1) 1 removed locally before shipping" "$TMP/marks/site-a/gaps.log"
}

@test "status reads the state files only (no mc, no credentials)" {
  archived 1
  "$AGENT/shipper" once
  setting MC /nonexistent
  rm "$TMP/creds-a"
  run "$AGENT/shipper" status
  [ "$status" -eq 0 ]
  [[ $output == *"site-a: backlog 0 file(s) (0 bytes), lag 0s, last confirmed $(seg 1), failures 0"* ]]
}

@test "start runs the loop in the background and ships what arrives; stop ends it" {
  setting SHIPPER_POLL_SECONDS 0.2
  run "$AGENT/shipper" start
  [ "$status" -eq 0 ]
  pid=$(cat "$TMP/marks/shipper.pid")
  kill -0 "$pid"
  run "$AGENT/shipper" start
  [[ $output == *"already runs (pid $pid)"* ]]
  archived 1
  for _ in $(seq 1 50); do
    [[ -f $(object b "wal/$(seg 1)") && -z $(ls -A "$TMP/marks/site-b/wal-queue") ]] && break
    sleep 0.2
  done
  cmp "$TMP/wal/$(seg 1)" "$(object b "wal/$(seg 1)")"
  run "$AGENT/shipper" stop
  [ "$status" -eq 0 ]
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  ! kill -0 "$pid" 2>/dev/null || false
}

@test "a checksum read-back that fails is a failed batch, never an upload over objects already there" {
  archived 1 2
  "$AGENT/shipper" once
  : >"$TMP/wal/.to-ship.$(seg 1)"
  : >"$TMP/wal/.to-ship.$(seg 2)"
  printf '#!/usr/bin/env bash\nif [[ $1 == stat ]]; then echo "stat: connection reset" >&2; exit 1; fi\n%s\n' \
    "exec \"$FAKE_MC\" \"\$@\"" >"$TMP/no-stat-mc"
  chmod +x "$TMP/no-stat-mc"
  setting MC "$TMP/no-stat-mc"
  setting RETRY_ATTEMPTS 1
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"connection reset"* ]]
  ! mc_calls | grep -q '^cp ' || false
  [ -f "$TMP/marks/site-a/wal-queue/$(seg 1)" ]
  [ -f "$TMP/marks/site-a/wal-queue/$(seg 2)" ]
}

@test "while the queues stay empty, the state is rewritten every SHIPPER_IDLE_STATE_SECONDS, not every poll" {
  setting SHIPPER_POLL_SECONDS 0.2
  # whole seconds: a rewrite due 3 s after the first write comes at least 2 s after it, past the check below
  setting SHIPPER_IDLE_STATE_SECONDS 3
  "$AGENT/shipper" start
  # both stores' first passes done (each asks its store once), so no call below is theirs
  for _ in $(seq 1 50); do
    [[ -f $TMP/marks/site-a/shipper.state && -f $TMP/marks/site-b/shipper.state ]] && break
    sleep 0.1
  done
  first=$(sed -n 's/^updated_epoch=//p' "$TMP/marks/site-a/shipper.state")
  : >"$FAKE_MC_ROOT/.calls"
  sleep 1
  [ "$(sed -n 's/^updated_epoch=//p' "$TMP/marks/site-a/shipper.state")" = "$first" ]
  [ ! -s "$FAKE_MC_ROOT/.calls" ]
  # Due 3 s after the first write; a loaded host may run the loop late, so allow up to 15 s.
  for _ in $(seq 1 75); do
    (($(sed -n 's/^updated_epoch=//p' "$TMP/marks/site-a/shipper.state") > first)) && break
    sleep 0.2
  done
  "$AGENT/shipper" stop
  [ "$(sed -n 's/^updated_epoch=//p' "$TMP/marks/site-a/shipper.state")" -gt "$first" ]
}

@test "on a fresh volume (no marker folder, no lock folder yet) start makes them and runs" {
  rm -rf "$TMP/marks" "$TMP/locks"
  setting SHIPPER_POLL_SECONDS 0.2
  run "$AGENT/shipper" start
  [ "$status" -eq 0 ]
  archived 1
  for _ in $(seq 1 50); do [[ -f $(object a "wal/$(seg 1)") ]] && break; sleep 0.2; done
  "$AGENT/shipper" stop
  cmp "$TMP/wal/$(seg 1)" "$(object a "wal/$(seg 1)")"
  [ -f "$TMP/marks/shipper.log" ]
}

@test "run as a container's first process (PID 1 of its namespace) ends on SIGTERM" {
  setting SHIPPER_POLL_SECONDS 0.2
  unshare --pid --fork "$AGENT/shipper" run 2>"$TMP/run.log" &
  outer=$!
  inner=
  # up to 30 s for the loop to start (its handler is set by then), on a loaded machine too
  for _ in $(seq 1 300); do
    inner=$(pgrep -P "$outer" || true)
    [[ -n $inner ]] && grep -q "shipping" "$TMP/run.log" && break
    sleep 0.1
  done
  [ -n "$inner" ]
  grep -q "shipping" "$TMP/run.log"
  kill -TERM "$inner"
  for _ in $(seq 1 50); do kill -0 "$outer" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$outer" 2>/dev/null || false
}

@test "once: an upload the store rejects mid-batch is tried again from a fresh listing, and the pass succeeds" {
  archived 1 2
  # the first cp is rejected after one file landed (as a signature mismatch under load did), the next ones pass
  printf '#!/usr/bin/env bash\nif [[ $1 == cp && ! -e %s ]]; then : >%s; "%s" cp --quiet --checksum SHA256 -- "%s" "%s"\n' \
    "$TMP/rejected-once" "$TMP/rejected-once" "$FAKE_MC" "$TMP/wal/$(seg 1)" "site_a/bucket-a/svc/wal/" >"$TMP/flaky-mc"
  printf 'echo "mc: <ERROR> The request signature we calculated does not match" >&2; exit 1; fi\n%s\n' \
    "exec \"$FAKE_MC\" \"\$@\"" >>"$TMP/flaky-mc"
  chmod +x "$TMP/flaky-mc"
  setting MC "$TMP/flaky-mc"
  : >"$FAKE_MC_ROOT/.calls"
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  [[ $output == *"shipping to site-a failed (attempt 1 of 2)"* ]]
  cmp "$TMP/wal/$(seg 1)" "$(object a "wal/$(seg 1)")"
  cmp "$TMP/wal/$(seg 2)" "$(object a "wal/$(seg 2)")"
  [ -z "$(ls -A "$TMP/marks/site-a/wal-queue")" ]
  # the retry uploaded to site-a only what had not landed
  [ "$(mc_calls | grep "^cp .*site_a/" | grep -c "$(seg 1)")" -eq 1 ]
}

@test "two shippers never run at once (the lock)" {
  mkdir -p "$TMP/locks"
  exec 8>>"$TMP/locks/shipper.lock"
  flock -n 8
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  [[ $output == *"another run holds $TMP/locks/shipper.lock"* ]]
}

@test "with METRICS_DIR, each store's backlog, oldest unshipped time, failures and gaps are published" {
  mkdir -p "$TMP/metrics"
  setting METRICS_DIR "$TMP/metrics"
  archived 1 2
  credentials b "http://drkit:secret-of-b@down:9001"
  started=$(date +%s)
  run "$AGENT/shipper" once
  [ "$status" -eq 1 ]
  file=$TMP/metrics/drkit_testsvc_offsite.prom
  a='service="testsvc",store="site-a"' b='service="testsvc",store="site-b"'
  grep -qx "drkit_offsite_backlog_files{$a} 0" "$file"
  grep -qx "drkit_offsite_backlog_files{$b} 2" "$file"
  grep -qx "drkit_offsite_oldest_unshipped_timestamp_seconds{$a} 0" "$file"
  oldest=$(awk -v m="drkit_offsite_oldest_unshipped_timestamp_seconds{$b}" '$1 == m { print $2 }' "$file")
  ((oldest > 0))
  grep -qx "drkit_offsite_consecutive_failures{$b} 1" "$file"
  grep -qx "drkit_offsite_gaps_open{$b} 0" "$file"
  confirmed=$(awk -v m="drkit_offsite_last_confirmed_timestamp_seconds{$a}" '$1 == m { print $2 }' "$file")
  ((confirmed >= started && confirmed <= $(date +%s)))
  grep -q '^# TYPE drkit_offsite_backlog_bytes gauge$' "$file"
  # A recorded gap that no base backup closed is open.
  printf '%s %s %s 1 cap\n' "$(date -u +%FT%TZ)" "$(seg 1)" "$(seg 1)" >>"$TMP/marks/site-b/gaps.log"
  credentials b "http://drkit:secret-of-b@127.0.0.1:9001"
  run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  grep -qx "drkit_offsite_backlog_files{$b} 0" "$file"
  grep -qx "drkit_offsite_gaps_open{$b} 1" "$file"
  grep -qx "drkit_offsite_consecutive_failures{$b} 0" "$file"
}

@test "mc's config folder of a killed run (its process gone) is removed by the next run; a live one's stays" {
  archived 1
  mkdir -p "$TMP/tmp/drkit-mc.999999999.dead" "$TMP/tmp/drkit-mc.$$.alive" "$TMP/tmp/drkit-mc.oldname"
  TMPDIR=$TMP/tmp run "$AGENT/shipper" once
  [ "$status" -eq 0 ]
  [ ! -e "$TMP/tmp/drkit-mc.999999999.dead" ]
  [ -d "$TMP/tmp/drkit-mc.$$.alive" ]
  [ -d "$TMP/tmp/drkit-mc.oldname" ]
  # Its own folder is gone once it ends.
  [ "$(find "$TMP/tmp" -maxdepth 1 -name 'drkit-mc.*' | wc -l)" -eq 2 ]
}
