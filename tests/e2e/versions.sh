# shellcheck shell=bash disable=SC2034 # sourced: the variables are used by the sourcing script
# Pinned upstream versions for the e2e tier. Sourced by tests/e2e/build.sh; changing a
# line here rebuilds the binaries (the stamp in the cache folder records what was built).
K8S_VERSION=v1.34.4    # k8s.io/kubernetes: the newest 1.34 patch on the module proxy
ETCD_VERSION=v3.6.16   # go.etcd.io/etcd/server/v3 (tests/e2e/etcd/go.mod must require it)
HELM_VERSION=v4.3.2    # helm.sh/helm/v4 (tests/e2e/helm/go.mod must require it)
TRAEFIK_VERSION=v3.7.13 # github.com/traefik/traefik/v3: the ingress controller (tests/e2e/traefik)
