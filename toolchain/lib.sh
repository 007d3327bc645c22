# shellcheck shell=bash
# Helpers shared by toolchain/build.sh, build-minio.sh and build-kubernetes.sh (sourced, not run).
# Callers run open_cache first: it sets the cache's folders, GO_VERSION and GO_LANG, which the rest use.

log() { printf '[%s] %s\n' "$(date '+%H:%M:%S')" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# up_to_date NAME KEY: true when bin/NAME exists and was built from KEY.
up_to_date() {
	[[ -x $BIN/$1 && -f $STAMPS/$1 && $(<"$STAMPS/$1") == "$2" ]]
}

# stamp NAME KEY: record what bin/NAME was built from.
stamp() { printf '%s\n' "$2" >"$STAMPS/$1"; }

# upstream_replaces MODULE VERSION: prints `go mod edit` flags repeating the replace directives
# of MODULE@VERSION's go.mod (replaces only apply in the main module, so a wrapper must repeat
# them). Local-path replaces of modules from the same repository (pulumi's `../sdk`) become that
# module at VERSION; other local-path replaces (test fixtures) are dropped.
upstream_replaces() {
	local mod=$1 ver=$2 gomod repo
	gomod=$(module_field "$mod" "$ver" GoMod)
	[[ -f $gomod ]] || die "could not download $mod@$ver"
	repo=$(cut -d/ -f1-3 <<<"$mod")
	awk '
		{ sub(/\/\/.*/, "") }
		/^replace[ \t]*\(/ { inblock = 1; next }
		inblock && /^[ \t]*\)/ { inblock = 0; next }
		/^replace[ \t]/ { sub(/^replace[ \t]+/, ""); print; next }
		inblock && NF { print }
	' "$gomod" | while read -r -a f; do
		local old=${f[0]} oldver="" new newver
		if [[ ${f[1]} == "=>" ]]; then
			new=${f[2]} newver=${f[3]:-}
		else
			oldver=${f[1]} new=${f[3]} newver=${f[4]:-}
		fi
		if [[ $new == .* || $new == /* ]]; then
			if [[ $old == "$repo"/* ]]; then
				printf -- '-replace=%s=%s@%s\n' "$old" "$old" "$ver"
			else
				log "  (dropping $mod's local replace $old => $new)" >&2
			fi
		else
			printf -- '-replace=%s%s=%s@%s\n' "$old" "${oldver:+@$oldver}" "$new" "$newver"
		fi
	done
}

# as_array NAME TEXT: split TEXT into the array NAME, one element per non-empty line.
as_array() {
	local -n arr=$1
	arr=()
	local line
	while IFS= read -r line; do
		[[ -n $line ]] && arr+=("$line")
	done <<<"$2"
	return 0
}

# new_module DIR MODULE: an empty wrapper module in DIR.
new_module() {
	rm -rf "$1"
	mkdir -p "$1"
	printf 'module %s\n\ngo %s\n' "$2" "$GO_LANG" >"$1/go.mod"
}

# go_build DIR OUT PACKAGE LDFLAGS: build PACKAGE inside wrapper module DIR to OUT (atomically).
go_build() {
	local dir=$1 out=$2 pkg=$3 ldflags=$4 t=$SECONDS
	log "  go build $pkg"
	(cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
	mv -f "$out.tmp" "$out"
	log "  built $(basename "$out") in $((SECONDS - t))s"
}

# plugin_install KIND NAME VERSION: register bin/pulumi-KIND-NAME with the CLI as NAME@VERSION.
plugin_install() {
	local kind=$1 name=$2 ver=$3 bin=$BIN/pulumi-$1-$2
	local dest=$PULUMI_PLUGIN_DIR/$kind-$name-v$ver/pulumi-$kind-$name
	if [[ -x $dest ]] && cmp -s "$bin" "$dest"; then
		log "plugin $kind $name v$ver: installed"
		return
	fi
	log "plugin $kind $name v$ver: pulumi plugin install --file $bin"
	"$BIN/pulumi" plugin install "$kind" "$name" "$ver" --file "$bin" --reinstall
}

# open_cache LOCK: the cache's folders (CACHE, BIN, WORK, STAMPS; PULUMI_PLUGIN_DIR), made if missing, and the
# cache's lock LOCK (a file in CACHE) taken for the rest of the script: one build per lock at a time; scripts that
# write different binaries take different locks. Sets GO_VERSION and GO_LANG.
open_cache() {
	CACHE=${DRKIT_TOOLCHAIN_DIR:-$HOME/.cache/drkit-toolchain}
	BIN=$CACHE/bin
	WORK=$CACHE/work
	STAMPS=$CACHE/stamps
	PULUMI_PLUGIN_DIR=${PULUMI_HOME:-$HOME/.pulumi}/plugins
	mkdir -p "$BIN" "$WORK" "$STAMPS"
	if command -v flock >/dev/null; then
		exec 9>"$CACHE/$1"
		flock 9
	fi
	GO_VERSION=$(go env GOVERSION)
	GO_LANG=${GO_VERSION#go}
	log "toolchain cache: $CACHE ($GO_VERSION, GOCACHE=$(go env GOCACHE))"
}

# module_field MODULE VERSION FIELD: FIELD ("Dir", "GoMod") of `go mod download -json` for MODULE@VERSION.
module_field() {
	go mod download -json "$1@$2" | sed -n "s/^[[:space:]]*\"$3\": \"\(.*\)\",\$/\1/p"
}
