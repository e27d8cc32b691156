# Sourced by every scenario (tests/e2e/scenarios/*.sh): reporting and the small steps
# they share. Each check prints one line, `ok TEXT` or `FAIL TEXT: WHY`; `finish` exits
# non-zero when any failed. Scenarios run with the variables of $E2E_STATE/env, KUBECONFIG
# (admin) and PATH (kubectl, helm) exported by scripts/e2e.sh test.
# shellcheck shell=bash
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "${E2E_REPO:?run through scripts/e2e.sh test}/tests/e2e/lib.sh"

# An image that exists on the node (imported by tests/e2e/node); without a node, pods are
# never started, so any name would do.
E2E_IMAGE=${E2E_IMAGE:-localhost/lameduck-demo:e2e}
failures=0
cleanup_namespaces=()

ok() { echo "ok $*"; }
fail() {
  echo "FAIL $1: $2"
  failures=$((failures + 1))
}

# expect TEXT ACTUAL WANTED: one check comparing two strings.
expect() {
  if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

# expect_match TEXT ACTUAL REGEX
expect_match() {
  if [[ $2 =~ $3 ]]; then ok "$1"; else fail "$1" "got '$2', want a match of /$3/"; fi
}

finish() {
  ((failures == 0))
  exit $?
}

on_exit() {
  if ((${#cleanup_namespaces[@]})); then
    kubectl delete namespace "${cleanup_namespaces[@]}" --wait=false --ignore-not-found >/dev/null 2>&1
  fi
}
trap on_exit EXIT

# new_ns NAME [LABEL=VALUE...]: a namespace, deleted when the scenario ends, ready for pods
# (its default ServiceAccount exists: the API server refuses pods before that).
new_ns() {
  local name=$1
  shift
  kubectl create namespace "$name" >/dev/null
  cleanup_namespaces+=("$name")
  [[ $# -eq 0 ]] || kubectl label namespace "$name" "$@" >/dev/null
  wait_until 60 "ServiceAccount default in $name" kubectl -n "$name" get serviceaccount default
}

# lameduck_caught_up: returns once lameduck has seen every namespace change made so far.
# Its watch delivers events in order, so a marker written last and seen means every
# earlier change was seen: annotate the marker namespace with a fresh sleep value and ask
# (dry-run) until a pod there gets it.
sync_seq=0
lameduck_caught_up() {
  local marker value
  marker=sync-$(basename "$0" .sh | tr -c 'a-z0-9\n' '-')
  kubectl get namespace "$marker" >/dev/null 2>&1 || new_ns "$marker"
  kubectl label --overwrite namespace "$marker" lameduck.dev/inject=enabled >/dev/null
  sync_seq=$((sync_seq + 1))
  value=$((1000 + RANDOM % 1000 + sync_seq))
  kubectl annotate --overwrite namespace "$marker" "lameduck.dev/sleep=$value" >/dev/null
  wait_until 60 "lameduck to see namespace changes" marker_has_sleep "$marker" "$value"
}
marker_has_sleep() {
  [[ $(pod_json "$1" marker --dry-run=server | jq -r '.spec.containers[0].lifecycle.preStop.sleep.seconds // .spec.containers[0].lifecycle.preStop.exec.command[1] // empty') == "$2" ]]
}

# pod_manifest NAME [ANNOTATIONS-JSON] [CONTAINERS...]: a Pod manifest (JSON is YAML);
# containers default to "app".
pod_manifest() {
  local name=$1 annotations=${2:-"{}"} containers=() c
  shift 2 || shift $#
  [[ $# -gt 0 ]] || set -- app
  for c in "$@"; do
    containers+=("{\"name\":\"$c\",\"image\":\"$E2E_IMAGE\",\"imagePullPolicy\":\"Never\"}")
  done
  local joined
  joined=$(
    IFS=,
    echo "${containers[*]}"
  )
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","annotations":%s},"spec":{"containers":[%s]}}\n' \
    "$name" "$annotations" "$joined"
}

# pod_json NS NAME [KUBECTL-CREATE-FLAGS...]: creates a one-container pod "app" and prints
# it as the API server returned it.
pod_json() {
  local ns=$1 name=$2
  shift 2
  pod_manifest "$name" "{}" app | kubectl -n "$ns" create -o json "$@" -f -
}

status_of() { # status_of JSON: the lameduck.dev/status annotation, or empty
  jq -r '.metadata.annotations["lameduck.dev/status"] // empty' <<<"$1"
}

# prestop_of JSON CONTAINER: the injected delay ("sleep N" / "exec N" / "none").
prestop_of() {
  jq -r --arg c "$2" '[.spec.containers[], (.spec.initContainers // [])[]] | map(select(.name == $c))[0].lifecycle.preStop
    | if . == null then "none"
      elif .sleep then "sleep \(.sleep.seconds)"
      elif .exec then "exec \(.exec.command | join(" "))"
      else "other" end' <<<"$1"
}

grace_of() { jq -r '.spec.terminationGracePeriodSeconds // "unset"' <<<"$1"; }
