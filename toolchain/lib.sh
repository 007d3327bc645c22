# shellcheck shell=bash
# Helpers shared by toolchain/build.sh and toolchain/build-minio.sh (sourced, not run).
# Callers set STAMPS (the stamp directory) before using up_to_date or stamp.

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
	gomod=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
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
