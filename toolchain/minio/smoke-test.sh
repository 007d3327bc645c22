#!/usr/bin/env bash
# Smoke test for the minio and mc binaries built by toolchain/build-minio.sh. Starts two
# single-drive MinIO servers (A and B) on free loopback ports, each with its own temporary data
# directory, certs directory and root credentials, and with mc's configuration in a temporary
# MC_CONFIG_DIR (nothing is written to ~/.mc or ~/.minio). Then, with mc:
#   - a bucket with object locking (which turns versioning on), a default GOVERNANCE retention,
#     an ILM expiry rule read back, and an object put, read back and shown to be locked;
#   - bucket replication from A to B (versioning on both sides), an object written on A read on B,
#     and one written while B is down replicated once B is back.
# Stops both servers and removes the temporary directory on exit, pass or fail.
#
# Usage: toolchain/minio/smoke-test.sh     (DRKIT_TOOLCHAIN_DIR as for build-minio.sh)
set -euo pipefail
shopt -s inherit_errexit

BIN=${DRKIT_TOOLCHAIN_DIR:-$HOME/.cache/drkit-toolchain}/bin
export PATH="$BIN:$PATH"
for b in minio mc; do
	[[ -x $BIN/$b ]] || { echo "missing $BIN/$b: run toolchain/build-minio.sh first" >&2; exit 1; }
done

started=$SECONDS
log() { printf '[%s] %s\n' "$(date '+%H:%M:%S')" "$*"; }
die() { log "FAIL: $*" >&2; exit 1; }
# run CMD...: echo an mc command, then run it.
run() { printf '  $ %s\n' "$*"; "$@"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/drkit-minio-smoke.XXXXXX")
export MC_CONFIG_DIR=$tmp/mc MC_DISABLE_PAGER=1 MC_NO_COLOR=1

declare -A pid=() port=() console=() user=() pass=()
stop_server() {
	if [[ -n ${pid[$1]:-} ]]; then
		kill "${pid[$1]}" 2>/dev/null || true
		wait "${pid[$1]}" 2>/dev/null || true
		pid[$1]=""
	fi
}
cleanup() {
	local s
	for s in "${!pid[@]}"; do stop_server "$s"; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# free_port: a loopback TCP port nothing listens on and not handed out before by this script.
used_ports=" "
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		[[ $used_ports == *" $p "* ]] && continue
		if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# start_server NAME: start (or restart, same ports and data) server NAME; wait until it is ready.
start_server() {
	local s=$1
	if [[ -z ${port[$s]:-} ]]; then
		port[$s]=$(free_port) console[$s]=$(free_port)
		user[$s]=admin-$s pass[$s]=secret-$s-$RANDOM$RANDOM
		mkdir -p "$tmp/$s/data" "$tmp/$s/certs"
	fi
	# HOME: minio always creates its (deprecated) config dir, ~/.minio, even with --certs-dir.
	HOME=$tmp/$s MINIO_ROOT_USER=${user[$s]} MINIO_ROOT_PASSWORD=${pass[$s]} MINIO_UPDATE=off \
		minio server --quiet --certs-dir "$tmp/$s/certs" \
		--address "127.0.0.1:${port[$s]}" --console-address "127.0.0.1:${console[$s]}" \
		"$tmp/$s/data" >>"$tmp/$s.log" 2>&1 &
	pid[$s]=$!
	mc alias set "$s" "http://127.0.0.1:${port[$s]}" "${user[$s]}" "${pass[$s]}" --api S3v4 >/dev/null
	local i
	for i in $(seq 1 60); do
		mc ready "$s" >/dev/null 2>&1 && break
		kill -0 "${pid[$s]}" 2>/dev/null || { cat "$tmp/$s.log" >&2; die "server $s exited"; }
		sleep 0.5
	done
	((i < 60)) || die "server $s not ready after 30s"
	log "server $s: http://127.0.0.1:${port[$s]} (console ${console[$s]}, pid ${pid[$s]})"
}

# wait_for SECONDS CMD...: retry CMD (quietly) once a second until it succeeds.
wait_for() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}

log "minio: $(minio --version | head -n1)"
log "mc: $(mc --version | head -n1)"
start_server a
start_server b

log "object lock + versioning + ILM on a/locked"
run mc mb --with-lock a/locked # object locking can only be chosen at creation; it enables versioning
run mc version info a/locked
mc version info a/locked --json | grep -q '"status": *"Enabled"' || die "versioning not enabled"
run mc retention set --default GOVERNANCE 1d a/locked
run mc retention info --default a/locked
run mc ilm rule add --expire-days 30 --prefix logs/ a/locked
run mc ilm rule ls a/locked
run mc ilm export a/locked
mc ilm export a/locked | grep -q '"Days":30' || die "ILM rule not read back"

log "put / get"
echo "hello from drkit" >"$tmp/hello.txt"
run mc put "$tmp/hello.txt" a/locked/logs/hello.txt
run mc get a/locked/logs/hello.txt "$tmp/got.txt"
cmp "$tmp/hello.txt" "$tmp/got.txt" || die "object read back differs"
run mc retention info a/locked/logs/hello.txt
vid=$(mc stat --json a/locked/logs/hello.txt | sed -n 's/.*"versionID": *"\([^"]*\)".*/\1/p')
[[ -n $vid ]] || die "no version ID for a/locked/logs/hello.txt"
printf '  $ mc rm --version-id %s a/locked/logs/hello.txt   (must be refused)\n' "$vid"
if mc rm --version-id "$vid" a/locked/logs/hello.txt; then
	die "deleting a locked object version succeeded"
fi

log "replication a/src -> b/dst"
run mc mb a/src
run mc mb b/dst
run mc version enable a/src # replication needs versioning on both buckets
run mc version enable b/dst
remote="http://${user[b]}:${pass[b]}@127.0.0.1:${port[b]}/dst"
printf '  $ mc replicate add a/src --remote-bucket %s --priority 1\n' "${remote/:${pass[b]}@/:***@}"
mc replicate add a/src --remote-bucket "$remote" --priority 1
run mc replicate ls a/src
echo "replicated" >"$tmp/r.txt"
run mc put "$tmp/r.txt" a/src/r.txt
wait_for 30 mc stat b/dst/r.txt || die "a/src/r.txt did not appear on b/dst"
run mc cat b/dst/r.txt
mc stat a/src/r.txt | grep 'Replication Status'
mc stat b/dst/r.txt | grep 'Replication Status'

log "replication while b is down"
stop_server b
echo "written while b was down" >"$tmp/late.txt"
run mc put "$tmp/late.txt" a/src/late.txt
mc stat a/src/late.txt | grep 'Replication Status'
start_server b
t=$SECONDS
wait_for 120 mc stat b/dst/late.txt || die "a/src/late.txt did not reach b/dst within 120s of b's restart"
log "  replicated $((SECONDS - t))s after b came back"
run mc cat b/dst/late.txt

log "PASS in $((SECONDS - started))s"
