#!/usr/bin/env bash
# Scenario 1: which namespaces get the plan, in cluster mode and in namespace mode; pods
# made by the ReplicaSet controller from a mutated template carry the template's plan.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
trap 'lameduck_configure "" >/dev/null; on_exit' EXIT

deployment() { # deployment NAME REPLICAS
  cat <<EOF
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"$1"},
 "spec":{"replicas":$2,"selector":{"matchLabels":{"app":"$1"}},
  "template":{"metadata":{"labels":{"app":"$1"}},
   "spec":{"containers":[
     {"name":"nginx","image":"$E2E_IMAGE","imagePullPolicy":"Never"},
     {"name":"app","image":"$E2E_IMAGE","imagePullPolicy":"Never"}]}}}}
EOF
}

# pods_of NS APP COUNT: waits for COUNT pods of the app and prints them as a JSON list.
pods_of() {
  wait_until 90 "$3 pods of $2" bash -c "[[ \$(kubectl -n $1 get pods -l app=$2 -o name | wc -l) -ge $3 ]]"
  kubectl -n "$1" get pods -l "app=$2" -o json
}

lameduck_configure "" >/dev/null
new_ns s1-plain
new_ns s1-off lameduck.dev/inject=disabled
lameduck_caught_up

# --- cluster mode (the chart's default) ---
pod=$(pod_manifest web '{}' nginx app | kubectl -n s1-plain create -o json -f -)
expect "cluster mode: a pod in an ordinary namespace gets a preStop per container" \
  "$(prestop_of "$pod" nginx), $(prestop_of "$pod" app)" "sleep 10, sleep 15"
expect "cluster mode: its grace period is raised to cover the plan" "$(grace_of "$pod")" 45
status=$(status_of "$pod")
expect_match "cluster mode: the stored pod carries the status record" "$status" '"preStop":\{"app"'

deployment web 2 | kubectl -n s1-plain create -f - >/dev/null
pods=$(pods_of s1-plain web 2)
expect "cluster mode: the ReplicaSet's pods get the same plan as a bare pod" \
  "$(jq -r '[.items[] | .metadata.annotations["lameduck.dev/status"]] | unique | join(" | ")' <<<"$pods")" "$status"

pod=$(pod_json s1-off p)
expect "a namespace labelled lameduck.dev/inject=disabled is left alone" \
  "$(status_of "$pod")/$(prestop_of "$pod" app)" "/none"
for ns in kube-system "$E2E_LAMEDUCK_NS"; do
  pod=$(pod_json "$ns" e2e-s1-probe --dry-run=server)
  expect "$ns is left alone" "$(status_of "$pod")/$(prestop_of "$pod" app)" "/none"
done

# --- targets=all: templates are mutated; their pods must not be planned a second time ---
lameduck_configure "targets=all" >/dev/null
deployment tmpl 2 | kubectl -n s1-plain create -f - >/dev/null
stored=$(kubectl -n s1-plain get deployment tmpl -o json)
tmpl_status=$(jq -r '.spec.template.metadata.annotations["lameduck.dev/status"] // empty' <<<"$stored")
expect_match "targets=all: the stored Deployment's template carries the plan" "$tmpl_status" '"nginx"'
pods=$(pods_of s1-plain tmpl 2)
expect "targets=all: pods made from the mutated template keep its status record (no second plan)" \
  "$(jq -r '[.items[] | .metadata.annotations["lameduck.dev/status"]] | unique | join(" | ")' <<<"$pods")" "$tmpl_status"
expect "targets=all: and the template's hooks and grace period, unchanged" \
  "$(jq -c '[.items[] | [.spec.terminationGracePeriodSeconds, [.spec.containers[].lifecycle]]] | unique' <<<"$pods")" \
  "$(jq -c '[[.spec.template.spec.terminationGracePeriodSeconds, [.spec.template.spec.containers[].lifecycle]]]' <<<"$stored")"

# --- namespace mode: only labelled namespaces ---
lameduck_configure "mode=namespace" >/dev/null
new_ns s1-optin lameduck.dev/inject=enabled
lameduck_caught_up
pod=$(pod_json s1-optin p)
expect "namespace mode: a namespace labelled lameduck.dev/inject=enabled gets the plan" "$(prestop_of "$pod" app)" "sleep 10"
pod=$(pod_json s1-plain p2)
expect "namespace mode: an unlabelled namespace is left alone" "$(status_of "$pod")/$(prestop_of "$pod" app)" "/none"
pod=$(pod_json s1-off p2)
expect "namespace mode: a disabled namespace is left alone" "$(status_of "$pod")/$(prestop_of "$pod" app)" "/none"
pod=$(pod_json kube-system e2e-s1-probe --dry-run=server)
expect "namespace mode: kube-system is left alone" "$(status_of "$pod")" ""

finish
