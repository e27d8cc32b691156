#!/usr/bin/env bash
# Builds the upstream binaries the e2e tier runs, from source through the Go module proxy:
#   kubernetes  kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
#   etcd        etcd
#   helm        helm
#   webhook2    e2e-webhook2 (the harness's second mutating webhook)
#   traefik     traefik (the cluster's ingress controller)
# into $E2E_CACHE/bin (default ${XDG_CACHE_HOME:-$HOME/.cache}/lameduck-e2e/bin), with the
# Go module and build caches under $E2E_CACHE too. Each group is rebuilt only when its
# inputs change: the stamp next to the binaries records a hash of versions.sh and the
# group's go.mod, go.sum and sources.
#
#   tests/e2e/build.sh [GROUP...]     default: every group; prints the bin folder last
#
# E2E_KUBE_VERSION picks the Kubernetes minor (kube-version.sh): unset or 1.34 builds
# tests/e2e/kubernetes into bin/ as always; 1.37 builds tests/e2e/kubernetes-1.37 into
# $E2E_CACHE/bin-1.37 (the six Kubernetes binaries only; the other groups stay in bin/).
#
# Versions are pinned in versions.sh (1.37 in kube-version.sh); kubernetes/go.mod is
# generated from it (kubernetes/gen-go-mod.sh, kubernetes-1.37/gen-go-mod.sh), etcd/ and
# helm/ are updated with `go get` as the error says.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/versions.sh
source "$here/versions.sh"
# shellcheck source=tests/e2e/kube-version.sh
source "$here/kube-version.sh"

E2E_CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lameduck-e2e}
bin=$E2E_CACHE/bin
mkdir -p "$bin"
export GOMODCACHE=$E2E_CACHE/gomod GOCACHE=$E2E_CACHE/gocache
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local

say() { printf 'e2e-build: %s\n' "$*" >&2; }

inputs_hash() { # inputs_hash GROUP: what the binaries of GROUP are made from
  (cd "$here" && cat versions.sh && go version && find "$1" -type f | LC_ALL=C sort | xargs cat) |
    sha256sum | cut -d' ' -f1
}

fresh() { # fresh GROUP BINARY...: true when every binary exists and the stamp matches
  local group=$1 b
  shift
  for b in "$@"; do [[ -x $bin/$b ]] || return 1; done
  [[ -f $bin/.stamp-$group && $(cat "$bin/.stamp-$group") == "$(inputs_hash "$group")" ]]
}

build() { # build GROUP "BINARY..." GO-BUILD-ARGS...
  local group=$1 binaries=$2 started=$SECONDS
  shift 2
  # shellcheck disable=SC2086 # the binary list is a space-separated word list on purpose
  if fresh "$group" $binaries; then
    return 0
  fi
  say "building $group ($binaries)"
  (cd "$here/$group" && go build -trimpath -o "$bin/" "$@")
  inputs_hash "$group" >"$bin/.stamp-$group"
  say "built $group in $((SECONDS - started))s"
  exec 9>&-
}

kubernetes() {
  # The minor's own bin folder: build and fresh see this `bin` (bash's dynamic scope).
  local bin=$E2E_CACHE/$E2E_KUBE_BIN_DIR
  mkdir -p "$bin"
  pinned k8s.io/kubernetes "$K8S_VERSION" "$E2E_KUBE_GROUP"
  local major=${K8S_VERSION#v} minor date ldflags="-s -w" pkg
  minor=${major#*.}
  minor=${minor%%.*}
  major=${major%%.*}
  # The release date from the module proxy rather than now: same inputs, same binaries.
  date=$(cd "$here/$E2E_KUBE_GROUP" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
  # Unstamped binaries report v0.0.0, and lameduck reads the version. The module proxy
  # has no commit id; "archive" is what Kubernetes' own build says for a source tarball.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.gitCommit= -X $pkg.buildDate=$date"
  done
  # One invocation for all six so the packages they share are compiled once.
  build "$E2E_KUBE_GROUP" "kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl" \
    -ldflags "$ldflags" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
}

# pinned MODULE VERSION GROUP: the group's go.mod requires what versions.sh says.
pinned() {
  local have
  have=$(cd "$here/$3" && go list -m -f '{{.Version}}' "$1")
  if [[ $have != "$2" ]]; then
    say "tests/e2e/$3/go.mod has $1 $have, versions.sh says $2:"
    say "  (cd tests/e2e/$3 && go get $1@$2 && go mod tidy)"
    exit 1
  fi
}

etcd() {
  pinned go.etcd.io/etcd/server/v3 "$ETCD_VERSION" etcd
  build etcd "etcd" -ldflags "-s -w" .
}

helm() {
  pinned helm.sh/helm/v4 "$HELM_VERSION" helm
  build helm "helm" \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=archive" \
    helm.sh/helm/v4/cmd/helm
}

webhook2() {
  build webhook2 "e2e-webhook2" .
}

# Traefik is built from its own module as the main module (as from a source tarball), so
# that its go.mod's replace directives apply. Three things differ from upstream, all in
# tests/e2e/traefik: its nested module pkg/config/dynamic/ext (left out of the module zip,
# not on the proxy) is replaced by empty extension points; lego's list of DNS providers
# (ACME, unused here; several providers' SDKs are not on the proxy) by an empty one; and
# go-http-auth, which upstream takes from a fork the proxy does not serve, by its last
# release plus the two functions Traefik uses from the fork.
# module_dir MODULE@VERSION: where the module cache holds it (downloaded if need be).
module_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

traefik() {
  local started=$SECONDS src=$E2E_CACHE/src/traefik lego_version
  if fresh traefik traefik; then
    return 0
  fi
  say "building traefik $TRAEFIK_VERSION"
  rm -rf "$src" && mkdir -p "$src"
  cp -r "$(module_dir "github.com/traefik/traefik/v3@$TRAEFIK_VERSION")/." "$src/"
  chmod -R u+w "$src"
  lego_version=$(cd "$src" && go list -m -f '{{.Version}}' github.com/go-acme/lego/v5)
  cp -r "$(module_dir "github.com/go-acme/lego/v5@$lego_version")" "$src/_lego"
  chmod -R u+w "$src/_lego"
  cp "$here/traefik/dns_providers.go.stub" "$src/_lego/providers/dns/zz_gen_dns_providers.go"
  rm -rf "$src/pkg/config/dynamic/ext" && cp -r "$here/traefik/ext" "$src/pkg/config/dynamic/ext"
  cp -r "$(module_dir github.com/abbot/go-http-auth@v0.4.0)" "$src/_go-http-auth"
  chmod -R u+w "$src/_go-http-auth"
  # v0.4.0 has no go.mod: require what it imports at the versions Traefik already uses.
  printf 'module github.com/abbot/go-http-auth\n\ngo 1.21\n\nrequire (\n\tgolang.org/x/crypto %s\n\tgolang.org/x/net %s\n)\n' \
    "$(cd "$src" && go list -m -f '{{.Version}}' golang.org/x/crypto)" \
    "$(cd "$src" && go list -m -f '{{.Version}}' golang.org/x/net)" >"$src/_go-http-auth/go.mod"
  cp "$here/traefik/go-http-auth-fork.go.stub" "$src/_go-http-auth/zz_traefik_fork.go"
  (cd "$src" && go mod edit -replace=github.com/go-acme/lego/v5=./_lego \
    -replace=github.com/abbot/go-http-auth=./_go-http-auth &&
    GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath \
      -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
      -o "$bin/traefik" ./cmd/traefik)
  inputs_hash traefik >"$bin/.stamp-traefik"
  say "built traefik in $((SECONDS - started))s"
}

groups=("$@")
# Helm first: the chart checks need it long before the cluster needs the rest.
[[ ${#groups[@]} -gt 0 ]] || groups=(helm kubernetes etcd webhook2 traefik)
for g in "${groups[@]}"; do
  case $g in
    kubernetes | etcd | helm | webhook2 | traefik) "$g" ;;
    *) say "unknown group $g"; exit 2 ;;
  esac
done
echo "$bin"
