#!/usr/bin/env bash
# Builds the MinIO server (`minio`) and client (`mc`) from Go modules only (no prebuilt binary
# downloads), into the same cache as toolchain/build.sh:
#
#   $DRKIT_TOOLCHAIN_DIR (default ~/.cache/drkit-toolchain)
#     bin/      minio, mc                              <- put on PATH
#     work/     generated wrapper Go modules (minio/, mc/)
#     stamps/   one file per binary recording what it was built from
#
# Idempotent: a binary is rebuilt only when its stamp differs (version, Go version, recipe), so a
# warm run takes well under a second. A fresh build takes several minutes on 2 cores (minio is by
# far the larger of the two). Go's module and build caches are Go's defaults and persist.
#
# Usage: toolchain/build-minio.sh    then: export PATH="$DRKIT_TOOLCHAIN_DIR/bin:$PATH"
set -euo pipefail
shopt -s inherit_errexit

# --- pinned versions ------------------------------------------------------------------------------
# Neither repository has semver tags (releases are tagged RELEASE.<time>, which Go ignores), so both
# are pinned as Go pseudo-versions: v0.0.0-<commit time UTC>-<12-char commit hash>. The proxy
# available here serves only some commits (others, and queries by branch or bare hash, get 403);
# check a candidate with `go mod download -json MODULE@PSEUDO-VERSION`.
#
# github.com/minio/minio: the proxy's @latest and the last commit of the repository, which is now
# in maintenance mode (2026-02-12, README-only changes after 2025-10-24's last code fixes). It is
# newer than the last RELEASE tag (RELEASE.2025-10-15T17-29-55Z, whose commit the proxy refuses).
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# github.com/minio/mc: the newest commit on master (2025-11-06, after RELEASE.2025-08-13T08-35-41Z).
# The proxy's @latest is stale (a 2025-03-13 commit); this newer pseudo-version is served.
MC_VERSION=v0.0.0-20251106162529-77f82e18b540

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

# Bump when the build recipe below changes in a way that should rebuild everything.
RECIPE=1

export GOFLAGS="-mod=mod -buildvcs=false"
# Both upstream Makefiles build static binaries with CGO_ENABLED=0 and -tags kqueue.
export CGO_ENABLED=0
BUILD_TAGS=kqueue

started=$SECONDS

command -v go >/dev/null || die "go is required but not on PATH (try PATH=/usr/local/go/bin:\$PATH)"
# a lock of its own: a long MinIO build does not hold up toolchain/build.sh
open_cache .lock-minio

# version_ldflags MODULE PSEUDO-VERSION: the -X flags upstream's buildscripts/gen-ldflags.go sets
# for a `make` build of a commit: Version = commit time (RFC 3339), ReleaseTag =
# DEVELOPMENT.<time>, CommitID/ShortCommitID = the commit hash (only its 12-char prefix is known).
version_ldflags() {
	local pkg=$1/cmd ver=$2 ts hash t
	[[ $ver =~ ^v0\.0\.0-([0-9]{14})-([0-9a-f]{12})$ ]] || die "$1: $ver is not a pseudo-version"
	ts=${BASH_REMATCH[1]} hash=${BASH_REMATCH[2]}
	t="${ts:0:4}-${ts:4:2}-${ts:6:2}T${ts:8:2}:${ts:10:2}:${ts:12:2}Z"
	printf -- '-X %s.Version=%s -X %s.ReleaseTag=DEVELOPMENT.%s -X %s.CommitID=%s -X %s.ShortCommitID=%s -X %s.CopyrightYear=%s' \
		"$pkg" "$t" "$pkg" "${t//:/-}" "$pkg" "$hash" "$pkg" "$hash" "$pkg" "${ts:0:4}"
}

# build_main NAME MODULE VERSION: build MODULE's main package (the module root) at VERSION into
# bin/NAME, through a wrapper module work/NAME that requires it and repeats its replaces.
build_main() {
	local name=$1 mod=$2 ver=$3 dir=$WORK/$1 key t
	key="$name $mod@$ver tags:$BUILD_TAGS cgo:$CGO_ENABLED $GO_VERSION r$RECIPE"
	if up_to_date "$name" "$key"; then
		log "$name $ver: up to date"
		return
	fi
	log "$name $ver: building (first build takes several minutes)"
	rm -rf "$dir"
	mkdir -p "$dir"
	printf 'module drkit.local/toolchain/%s\n\ngo %s\n' "$name" "$GO_LANG" >"$dir/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$mod" >"$dir/tools.go"
	local -a replaces
	as_array replaces "$(upstream_replaces "$mod" "$ver")"
	(cd "$dir" && go mod edit -require="$mod@$ver" "${replaces[@]}")
	t=$SECONDS
	log "  go build $mod"
	(cd "$dir" && go build -trimpath -tags "$BUILD_TAGS" \
		-ldflags "-s -w $(version_ldflags "$mod" "$ver")" -o "$BIN/$name.tmp" "$mod")
	mv -f "$BIN/$name.tmp" "$BIN/$name"
	log "  built $name in $((SECONDS - t))s"
	stamp "$name" "$key"
}

build_main minio github.com/minio/minio "$MINIO_VERSION"
build_main mc github.com/minio/mc "$MC_VERSION"

log "minio: $("$BIN/minio" --version | head -n1)"
log "mc: $("$BIN/mc" --version | head -n1)"
log "done in $((SECONDS - started))s; add the toolchain to PATH with: export PATH=\"$BIN:\$PATH\""
echo "$BIN"
