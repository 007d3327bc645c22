#!/usr/bin/env bash
# Builds the Pulumi toolchain drkit's tests run against, from Go modules only (no prebuilt
# binary downloads), into a cache outside the repository:
#
#   $DRKIT_TOOLCHAIN_DIR (default ~/.cache/drkit-toolchain)
#     bin/      pulumi, pulumi-language-nodejs, pulumi-language-yaml, pulumi-resource-command, pulumi-resource-random,
#               pulumi-analyzer-policy(-nodejs), pulumi-resource-pulumi-nodejs  <- put on PATH
#     work/     generated wrapper Go modules, one per binary
#     stamps/   one file per binary recording what it was built from
#
# The resource plugins are also installed into the Pulumi plugin directory
# (${PULUMI_HOME:-~/.pulumi}/plugins) with `pulumi plugin install --file`, so the CLI never tries
# to download them. Versions live in versions.env. Idempotent: a binary is rebuilt only when its
# stamp differs (versions, our sources under src/, Go version), so a warm run takes seconds.
# Go's module and build caches are Go's defaults (GOMODCACHE, GOCACHE) and persist across runs.
#
# Usage: toolchain/build.sh    then: export PATH="$DRKIT_TOOLCHAIN_DIR/bin:$PATH" (printed last)
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=lib.sh
. "$here/lib.sh"

# Bump when the build recipe below changes in a way that should rebuild everything.
RECIPE=1

export GOFLAGS="-mod=mod -buildvcs=false"
export PULUMI_SKIP_UPDATE_CHECK=true

started=$SECONDS

for tool in go node npm sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is required but not on PATH"
done
open_cache .lock

# hash_src PATH...: a short hash of the files under the given paths (relative to toolchain/).
hash_src() {
	(cd "$here" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

SDK_VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

# --- pulumi: the CLI, github.com/pulumi/pulumi/pkg/v3 ./cmd/pulumi -----------------------------
build_pulumi() {
	local key="pulumi v$PULUMI_VERSION $GO_VERSION r$RECIPE" dir=$WORK/pulumi
	if up_to_date pulumi "$key"; then
		log "pulumi v$PULUMI_VERSION: up to date"
		return
	fi
	log "pulumi v$PULUMI_VERSION: building (first build takes several minutes)"
	new_module "$dir" drkit.local/toolchain/pulumi
	printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >"$dir/tools.go"
	local -a replaces
	as_array replaces "$(upstream_replaces github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION")"
	(cd "$dir" && go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" "${replaces[@]}")
	go_build "$dir" "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "-X $SDK_VERSION_VAR=v$PULUMI_VERSION"
	stamp pulumi "$key"
}

# --- pulumi-language-nodejs: our language host (src/), on github.com/pulumi/pulumi/sdk/v3 ---------
build_language_nodejs() {
	local name=pulumi-language-nodejs dir=$WORK/pulumi-language-nodejs key
	key="$name v$PULUMI_VERSION shlex:v$GOOGLE_SHLEX_VERSION src:$(hash_src "src/$name") $GO_VERSION r$RECIPE"
	if up_to_date "$name" "$key"; then
		log "$name v$PULUMI_VERSION: up to date"
		return
	fi
	log "$name v$PULUMI_VERSION: building"
	new_module "$dir" "drkit.local/toolchain/$name"
	cp "$here/src/$name"/*.go "$dir/"
	local -a replaces
	as_array replaces "$(upstream_replaces github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_VERSION")"
	(cd "$dir" && go mod edit -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
		-require="github.com/google/shlex@v$GOOGLE_SHLEX_VERSION" "${replaces[@]}")
	go_build "$dir" "$BIN/$name" . "-X $SDK_VERSION_VAR=v$PULUMI_VERSION"
	stamp "$name" "$key"
}

# --- pulumi-language-yaml: the Pulumi YAML language host, at the pulumi pkg/sdk its own go.mod names --------
build_language_yaml() {
	local name=pulumi-language-yaml dir=$WORK/pulumi-language-yaml
	local key="$name v$PULUMI_YAML_VERSION clipboard:v$CLIPBOARD_FORK_VERSION $GO_VERSION r$RECIPE"
	if up_to_date "$name" "$key"; then
		log "$name v$PULUMI_YAML_VERSION: up to date"
		return
	fi
	log "$name v$PULUMI_YAML_VERSION: building"
	new_module "$dir" "drkit.local/toolchain/$name"
	printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi-yaml/cmd/%s"\n' "$name" >"$dir/tools.go"
	(cd "$dir" && go mod edit -require="github.com/pulumi/pulumi-yaml@v$PULUMI_YAML_VERSION" \
		-replace="github.com/atotto/clipboard=github.com/tgummerer/clipboard@v$CLIPBOARD_FORK_VERSION")
	go_build "$dir" "$BIN/$name" "github.com/pulumi/pulumi-yaml/cmd/$name" \
		"-X github.com/pulumi/pulumi-yaml/pkg/version.Version=v$PULUMI_YAML_VERSION"
	stamp "$name" "$key"
}

# --- pulumi-resource-command: local.Command, local.run, remote.Command (src/), on pulumi-go-provider
build_command() {
	local name=pulumi-resource-command dir=$WORK/pulumi-resource-command key
	key="$name v$COMMAND_VERSION go-provider:v$PULUMI_GO_PROVIDER_VERSION pulumi:v$PULUMI_VERSION"
	key+=" src:$(hash_src "src/$name") $GO_VERSION r$RECIPE"
	if up_to_date "$name" "$key"; then
		log "$name v$COMMAND_VERSION: up to date"
		return
	fi
	log "$name v$COMMAND_VERSION: building"
	new_module "$dir" "drkit.local/toolchain/$name"
	cp -R "$here/src/$name/." "$dir/"
	local -a replaces
	as_array replaces "$(
		upstream_replaces github.com/pulumi/pulumi-go-provider "v$PULUMI_GO_PROVIDER_VERSION"
		upstream_replaces github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION"
	)"
	(cd "$dir" && go mod edit \
		-require="github.com/pulumi/pulumi-go-provider@v$PULUMI_GO_PROVIDER_VERSION" \
		-require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" \
		-require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
		"${replaces[@]}")
	go_build "$dir" "$BIN/$name" . "-X main.Version=$COMMAND_VERSION"
	stamp "$name" "$key"
}

# --- pulumi-resource-random: the Terraform random provider bridged like pulumi-random ------------
build_random() {
	local name=pulumi-resource-random dir=$WORK/pulumi-resource-random key
	local mod=drkit.local/toolchain/pulumi-resource-random shim=$TF_PROVIDER_RANDOM_MODULE/shim
	key="$name v$RANDOM_VERSION bridge:v$TF_BRIDGE_VERSION tf:v$TF_PROVIDER_RANDOM_VERSION"
	key+=" src:$(hash_src "src/$name") $GO_VERSION r$RECIPE"
	if up_to_date "$name" "$key"; then
		log "$name v$RANDOM_VERSION: up to date"
		return
	fi
	log "$name v$RANDOM_VERSION: building (Terraform random v$TF_PROVIDER_RANDOM_VERSION, bridge v$TF_BRIDGE_VERSION)"
	new_module "$dir" "$mod"
	cp -R "$here/src/$name/." "$dir/"
	# The shim is its own module under the Terraform provider's path so that it may import the
	# provider's internal package (as pulumi-random's provider/shim does).
	printf 'module %s\n\ngo %s\n\nrequire %s v%s\n' \
		"$shim" "$GO_LANG" "$TF_PROVIDER_RANDOM_MODULE" "$TF_PROVIDER_RANDOM_VERSION" >"$dir/shim/go.mod"
	# Stand-ins for the bridge's docs-example converters (see src/$name/stubs/README.md).
	local yaml=github.com/pulumi/pulumi-yaml dotnet=github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3
	printf 'module %s\n\ngo %s\n' "$yaml" "$GO_LANG" >"$dir/stubs/pulumi-yaml/go.mod"
	printf 'module %s\n\ngo %s\n' "$dotnet" "$GO_LANG" >"$dir/stubs/pulumi-language-dotnet/go.mod"
	local -a replaces
	as_array replaces "$(upstream_replaces github.com/pulumi/pulumi-terraform-bridge/v3 "v$TF_BRIDGE_VERSION")"
	(cd "$dir" && go mod edit \
		-require="github.com/pulumi/pulumi-terraform-bridge/v3@v$TF_BRIDGE_VERSION" \
		-require="$TF_PROVIDER_RANDOM_MODULE@v$TF_PROVIDER_RANDOM_VERSION" \
		-require="$shim@v0.0.0" -replace="$shim=./shim" \
		"${replaces[@]}" \
		-replace="$yaml=./stubs/pulumi-yaml" -replace="$dotnet=./stubs/pulumi-language-dotnet")
	local ldflags="-X $mod/provider.Version=$RANDOM_VERSION"
	# tfgen needs the provider package, which embeds tfgen's output: start from empty files.
	echo '{}' >"$dir/provider/schema.json"
	echo '{}' >"$dir/provider/bridge-metadata.json"
	go_build "$dir" "$dir/pulumi-tfgen-random" ./cmd/pulumi-tfgen-random "$ldflags"
	log "  generating schema.json and bridge-metadata.json (tfgen)"
	(cd "$dir" && ./pulumi-tfgen-random schema --out provider --skip-docs --skip-examples --quiet) >"$dir/tfgen.log" 2>&1 ||
		{ cat "$dir/tfgen.log" >&2; die "tfgen failed"; }
	[[ $(wc -c <"$dir/provider/schema.json") -gt 1000 ]] || die "tfgen produced no schema (see $dir/tfgen.log)"
	go_build "$dir" "$BIN/$name" ./cmd/pulumi-resource-random "$ldflags"
	stamp "$name" "$key"
}

# --- shell shims: policy packs and dynamic providers run through @pulumi/pulumi's scripts --------
install_shims() {
	local src
	for src in "$here"/src/shims/*; do
		install_file "$src" "$BIN/$(basename "$src")"
	done
	# Pulumi 3.2xx looks for pulumi-analyzer-policy-<runtime> when it has no language plugin.
	install_file "$here/src/shims/pulumi-analyzer-policy" "$BIN/pulumi-analyzer-policy-nodejs"
}

install_file() {
	if ! cmp -s "$1" "$2"; then
		log "installing $(basename "$2")"
		cp "$1" "$2.tmp" && chmod 0755 "$2.tmp" && mv -f "$2.tmp" "$2"
	fi
}

build_pulumi
build_language_nodejs
build_language_yaml
build_command
build_random
install_shims

plugin_install resource command "$COMMAND_VERSION"
plugin_install resource random "$RANDOM_VERSION"

log "pulumi version: $("$BIN/pulumi" version)"
"$BIN/pulumi" plugin ls
for b in pulumi-language-nodejs pulumi-language-yaml pulumi-resource-command pulumi-resource-random; do
	[[ -x $BIN/$b ]] || die "missing $BIN/$b"
done
log "done in $((SECONDS - started))s; add the toolchain to PATH with: export PATH=\"$BIN:\$PATH\""
echo "$BIN"
