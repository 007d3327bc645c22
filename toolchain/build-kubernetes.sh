#!/usr/bin/env bash
# Builds what the tests against a real Kubernetes API server need, from Go modules only, into the same cache
# as toolchain/build.sh:
#
#   $DRKIT_TOOLCHAIN_DIR (default ~/.cache/drkit-toolchain)
#     bin/      pulumi-resource-kubernetes, kube-apiserver, kube-controller-manager, etcd, local-kms
#     work/     the wrapper modules (and the provider's module, copied to add its generated files)
#     stamps/   one file per binary recording what it was built from
#
# pulumi-resource-kubernetes is also installed as the CLI's kubernetes plugin at the npm package's version.
# Versions live in versions.env. Idempotent: a binary is rebuilt only when its stamp differs, so a warm run takes
# seconds; the first run takes about 10 minutes on 2 cores (the provider and the API server are most of it) and
# up to 5 GB of memory.
#
# Usage: toolchain/build-kubernetes.sh    (after toolchain/build.sh, whose pulumi installs the plugin)
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
export CGO_ENABLED=0
export PULUMI_SKIP_UPDATE_CHECK=true

started=$SECONDS
for tool in go node; do
	command -v "$tool" >/dev/null || die "$tool is required but not on PATH"
done
open_cache .lock-kubernetes
[[ -x $BIN/pulumi ]] || die "$BIN/pulumi is missing: run toolchain/build.sh first"

# module_dir MODULE VERSION: where the module cache holds MODULE@VERSION (downloaded if needed).
module_dir() {
	local dir
	dir=$(module_field "$1" "$2" Dir)
	[[ -d $dir ]] || die "could not download $1@$2"
	printf '%s\n' "$dir"
}

# --- pulumi-resource-kubernetes -----------------------------------------------------------------------------
# The provider's main embeds schema-embed.json and terraform-mapping-embed.json, which its Makefile generates
# and the module zip leaves out: they are made from the shipped schema.json (with the version set) and
# terraform-mapping.json, compacted, in a copy of the module. The module's one replace points at ../sdk (the
# repository's checkout); the copy drops it and takes the sdk/v4 its go.mod requires from the proxy.
build_kubernetes_provider() {
	local name=pulumi-resource-kubernetes mod=github.com/pulumi/pulumi-kubernetes/provider/v4
	local ver=v$KUBERNETES_PROVIDER_MODULE_VERSION dir=$WORK/pulumi-resource-kubernetes src key
	key="$name v$KUBERNETES_PROVIDER_VERSION $mod@$ver $GO_VERSION r$RECIPE"
	if up_to_date "$name" "$key"; then
		log "$name v$KUBERNETES_PROVIDER_VERSION: up to date"
		return
	fi
	log "$name v$KUBERNETES_PROVIDER_VERSION: building $mod@$ver (about 6 minutes the first time)"
	src=$(module_dir "$mod" "$ver")
	# a copy an interrupted run left may still hold files as read-only as the module cache's
	[[ ! -d $dir ]] || chmod -R u+w "$dir"
	rm -rf "$dir"
	cp -R "$src" "$dir"
	chmod -R u+w "$dir"
	(cd "$dir" && go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4)
	(cd "$dir/cmd/$name" && VERSION=$KUBERNETES_PROVIDER_VERSION node -e '
		const fs = require("fs");
		const schema = JSON.parse(fs.readFileSync("schema.json", "utf8"));
		schema.version = process.env.VERSION;
		fs.writeFileSync("schema-embed.json", JSON.stringify(schema));
		fs.writeFileSync("terraform-mapping-embed.json", JSON.stringify(JSON.parse(fs.readFileSync("terraform-mapping.json", "utf8"))));
	')
	go_build "$dir" "$BIN/$name" "./cmd/$name" "-X $mod/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION"
	stamp "$name" "$key"
}

# --- kube-apiserver, kube-controller-manager ------------------------------------------------------------------
# k8s.io/kubernetes replaces each k8s.io/<staging module> with its own staging/ folder, which the module zip
# leaves out: the wrapper replaces each with the published v0.<minor>.<patch> of that module instead.
build_kubernetes_servers() {
	local mod=k8s.io/kubernetes ver=v$KUBERNETES_VERSION dir=$WORK/kubernetes key staging name
	staging=v0.${KUBERNETES_VERSION#*.}
	key="kubernetes $mod@$ver staging:$staging $GO_VERSION r$RECIPE"
	if up_to_date kube-apiserver "$key" && up_to_date kube-controller-manager "$key"; then
		log "kube-apiserver, kube-controller-manager $ver: up to date"
		return
	fi
	log "kube-apiserver, kube-controller-manager $ver: building (about 3 minutes the first time)"
	local gomod
	gomod="$(module_dir "$mod" "$ver")/go.mod"
	new_module "$dir" drkit.local/toolchain/kubernetes
	printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "%s/cmd/kube-apiserver"\n\t_ "%s/cmd/kube-controller-manager"\n)\n' \
		"$mod" "$mod" >"$dir/tools.go"
	local -a replaces=()
	while read -r old; do
		replaces+=("-replace=$old=$old@$staging")
	done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod")
	[[ ${#replaces[@]} -gt 10 ]] || die "no staging modules found in $gomod"
	(cd "$dir" && go mod edit -require="$mod@$ver" "${replaces[@]}")
	local minor=${KUBERNETES_VERSION#*.}
	minor=${minor%%.*}
	local v=k8s.io/component-base/version ldflags
	ldflags="-X $v.gitVersion=$ver -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
	ldflags+=" -X $v.buildDate=1970-01-01T00:00:00Z"
	for name in kube-apiserver kube-controller-manager; do
		go_build "$dir" "$BIN/$name" "$mod/cmd/$name" "$ldflags"
		stamp "$name" "$key"
	done
}

# build_module_main NAME MODULE VERSION LDFLAGS: MODULE's main package (its root) into bin/NAME through a wrapper
# module that repeats MODULE's replaces (local ones dropped: see upstream_replaces).
build_module_main() {
	local name=$1 mod=$2 ver=$3 ldflags=$4 dir=$WORK/$1 key
	key="$name $mod@$ver $GO_VERSION r$RECIPE"
	if up_to_date "$name" "$key"; then
		log "$name $ver: up to date"
		return
	fi
	log "$name $ver: building"
	new_module "$dir" "drkit.local/toolchain/$name"
	printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$mod" >"$dir/tools.go"
	local -a replaces
	as_array replaces "$(upstream_replaces "$mod" "$ver")"
	(cd "$dir" && go mod edit -require="$mod@$ver" "${replaces[@]}")
	go_build "$dir" "$BIN/$name" "$mod" "$ldflags"
	stamp "$name" "$key"
}

build_module_main etcd go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" ""
build_module_main local-kms github.com/nsmithuk/local-kms "v$LOCAL_KMS_VERSION" ""
build_kubernetes_servers
build_kubernetes_provider

plugin_install resource kubernetes "$KUBERNETES_PROVIDER_VERSION"

log "kube-apiserver: $("$BIN/kube-apiserver" --version)"
log "etcd: $("$BIN/etcd" --version | head -n 1)"
log "done in $((SECONDS - started))s"
