# shellcheck shell=bash disable=SC2034 # sourced: the variables are used by the sourcing script
# Which Kubernetes minor the e2e tier builds and runs: E2E_KUBE_VERSION (default 1.34).
# Sourced after versions.sh by tests/e2e/build.sh, tests/e2e/lib.sh and the go.mod
# generators. It sets
#   E2E_KUBE_VERSION  the minor, e.g. 1.37
#   K8S_VERSION       the k8s.io/kubernetes version of that minor
#   E2E_KUBE_GROUP    the folder under tests/e2e holding its go.mod (build.sh's group)
#   E2E_KUBE_BIN_DIR  the folder under $E2E_CACHE its six binaries go to
# The default minor is versions.sh's K8S_VERSION, built from tests/e2e/kubernetes into
# bin/ next to etcd, helm and the rest. Another minor is pinned here, built from
# tests/e2e/kubernetes-<minor> (kubernetes-<minor>/gen-go-mod.sh writes its go.mod) into
# bin-<minor>/; etcd, helm, traefik and e2e-webhook2 stay in bin/ for every minor.
# versions.sh and tests/e2e/kubernetes/ are left as they were so that the stamps of the
# 1.34 binaries already built stay valid.
K8S_VERSION_1_37=v1.37.2 # k8s.io/kubernetes: the newest 1.37 patch on the module proxy

E2E_KUBE_VERSION=${E2E_KUBE_VERSION:-1.34}
case $E2E_KUBE_VERSION in
  1.34)
    E2E_KUBE_GROUP=kubernetes
    E2E_KUBE_BIN_DIR=bin
    ;;
  1.37)
    K8S_VERSION=$K8S_VERSION_1_37
    E2E_KUBE_GROUP=kubernetes-$E2E_KUBE_VERSION
    E2E_KUBE_BIN_DIR=bin-$E2E_KUBE_VERSION
    ;;
  *)
    printf 'e2e: E2E_KUBE_VERSION=%s: not a minor this tier builds (1.34, 1.37)\n' "$E2E_KUBE_VERSION" >&2
    return 2
    ;;
esac
if [[ $K8S_VERSION != "v$E2E_KUBE_VERSION".* ]]; then
  printf 'e2e: E2E_KUBE_VERSION=%s but K8S_VERSION=%s\n' "$E2E_KUBE_VERSION" "$K8S_VERSION" >&2
  return 2
fi
