#!/usr/bin/env bash
# Helpers below are called through wait_until/check by name.
# shellcheck disable=SC2329
# Scenario 60: `lameduck audit` on a real cluster. Workloads created while the
# MutatingWebhookConfiguration is absent come out `unprotected`; after an annotation
# change on their namespace, workloads planned before it come out `stale`; after
# `kubectl rollout restart`, `protected`. Works with or without a node: the audit counts
# pods as the API server stores them, scheduled or not.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"

ns=s60
saved=$(mktemp)
webhook_deleted=0
manager=

# restore_webhook: puts the saved MutatingWebhookConfiguration back as it was (labels and
# Helm's ownership annotations included). When its owner wrote it with server-side apply
# (the harness's `e2e` field manager on the host, Helm 4 in the cluster), it is re-applied
# under that same manager, so that the owner's next apply still owns (and can drop) every
# field; `kubectl create` would hand them to another manager, and a later apply that
# switches clientConfig from url to service would leave both.
restore_webhook() {
  if ((webhook_deleted)); then
    if [[ -n $manager ]]; then
      kubectl apply --server-side --force-conflicts --field-manager="$manager" -f "$saved" >/dev/null
    else
      kubectl create -f "$saved" >/dev/null
    fi && webhook_deleted=0
  fi
}
trap 'restore_webhook; rm -f "$saved"; on_exit' EXIT

audit() { "${E2E_LAMEDUCK:-lameduck}" audit "$@"; }

# state_of KIND/NAME: the workload's state in `lameduck audit -n $ns`, or "missing".
state_of() {
  audit -n "$ns" -o json | jq -r --arg kind "${1%%/*}" --arg name "${1#*/}" \
    '[.items[] | select(.kind == $kind and .name == $name)][0].state // "missing"'
}
state_is() { [[ $(state_of "$1") == "$2" ]]; }

# pods_of KIND/NAME: "total protected stale unprotected" from the audit.
pods_of() {
  audit -n "$ns" -o json | jq -r --arg kind "${1%%/*}" --arg name "${1#*/}" \
    '[.items[] | select(.kind == $kind and .name == $name)][0].pods // {} | "\(.total) \(.protected) \(.stale) \(.unprotected)"'
}

# Whether a pod submitted now would be mutated (dry-run: nothing is stored).
webhook_mutates() { [[ $(prestop_of "$(pod_json "$ns" probe --dry-run=server)" app) != none ]]; }
webhook_absent() { [[ $(prestop_of "$(pod_json "$ns" probe --dry-run=server)" app) == none ]]; }

# deployment NAME: two replicas, Recreate (so a restart replaces every pod even when no
# node runs them and none ever becomes available).
deployment() {
  kubectl -n "$ns" create -f - >/dev/null <<EOF
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"$1"},
 "spec":{"replicas":2,"strategy":{"type":"Recreate"},"selector":{"matchLabels":{"app":"$1"}},
  "template":{"metadata":{"labels":{"app":"$1"}},
   "spec":{"containers":[{"name":"app","image":"$E2E_IMAGE","imagePullPolicy":"Never"}]}}}}
EOF
}
# live_pods NAME: pods of deployment NAME not being deleted.
live_pods() {
  kubectl -n "$ns" get pods -l "app=$1" -o json |
    jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length'
}
has_pods() { [[ $(live_pods "$1") == "$2" ]]; }

lameduck_configure "" >/dev/null
new_ns "$ns"
lameduck_caught_up

# --- the webhook configuration goes away ------------------------------------------------
mwc=$(kubectl get mutatingwebhookconfiguration -l "app.kubernetes.io/instance=$E2E_RELEASE" -o name)
if [[ -z $mwc ]]; then
  fail "the chart's MutatingWebhookConfiguration exists" "none labelled app.kubernetes.io/instance=$E2E_RELEASE"
  finish
fi
object=$(kubectl get "$mwc" -o json --show-managed-fields)
manager=$(jq -r '[.metadata.managedFields[]? | select(.operation == "Apply") | .manager][0] // empty' <<<"$object")
jq 'del(.metadata.resourceVersion, .metadata.uid, .metadata.creationTimestamp, .metadata.generation, .metadata.managedFields)' \
  <<<"$object" >"$saved"
kubectl delete "$mwc" >/dev/null && webhook_deleted=1
if wait_until 60 "the API server to stop calling lameduck" webhook_absent; then
  ok "without the webhook configuration, pods are admitted unmutated"
else
  fail "without the webhook configuration, pods are admitted unmutated" "a dry-run pod still got a preStop"
fi

deployment before
wait_until 60 "2 pods of deployment/before" has_pods before 2 ||
  fail "deployment/before has 2 pods" "$(live_pods before) pods"

restore_webhook
if wait_until 60 "the API server to call lameduck again" webhook_mutates; then
  ok "the webhook configuration is back and mutates again"
else
  fail "the webhook configuration is back and mutates again" "a dry-run pod got no preStop"
fi

deployment after
wait_until 60 "2 pods of deployment/after" has_pods after 2 ||
  fail "deployment/after has 2 pods" "$(live_pods after) pods"

# --- unprotected and protected ----------------------------------------------------------
expect "created while the webhook was absent: unprotected" "$(state_of Deployment/before)" unprotected
expect "its pods, by state (total protected stale unprotected)" "$(pods_of Deployment/before)" "2 0 0 2"
expect "created with the webhook in place: protected" "$(state_of Deployment/after)" protected
expect "its pods, by state (total protected stale unprotected)" "$(pods_of Deployment/after)" "2 2 0 0"

text=$(audit -n "$ns")
expect_match "the table names the fix" "$text" "fix: kubectl rollout restart deployment/before -n $ns"
audit -n "$ns" --strict >/dev/null
expect "--strict exits 2 when something is unprotected" "$?" 2

# --- a namespace annotation change: older plans are stale -------------------------------
kubectl annotate --overwrite namespace "$ns" lameduck.dev/sleep=20 >/dev/null
lameduck_caught_up # the server plans new pods with the new default from here on
expect "after a namespace annotation change, the protected workload is stale" "$(state_of Deployment/after)" stale
expect "and the unprotected one stays unprotected (the worse)" "$(state_of Deployment/before)" unprotected

# --- rollout restart: everything protected ----------------------------------------------
kubectl -n "$ns" rollout restart deployment/before deployment/after >/dev/null
for name in before after; do
  if wait_until 180 "deployment/$name to be protected" state_is "Deployment/$name" protected; then
    ok "after rollout restart, deployment/$name is protected"
  else
    fail "after rollout restart, deployment/$name is protected" "state $(state_of "Deployment/$name"), pods $(pods_of "Deployment/$name")"
  fi
done
# With a node, Recreate stops the old pods (through their preStop sleep) before it makes
# new ones: wait for a new pod rather than read whatever is there.
new_pod_prestop() {
  local pod
  pod=$(kubectl -n "$ns" get pods -l app=before -o json |
    jq -c '[.items[] | select(.metadata.deletionTimestamp == null)][0] // empty')
  [[ -n $pod ]] && prestop_of "$pod" app
}
new_pod_has_new_plan() { [[ $(new_pod_prestop) =~ ^(sleep 20|exec sleep 20)$ ]]; }
if wait_until 120 "a new pod of deployment/before" new_pod_has_new_plan; then
  ok "and its new pods carry the new plan"
else
  fail "and its new pods carry the new plan" "got '$(new_pod_prestop)', want sleep 20"
fi
audit -n "$ns" --strict >/dev/null
expect "--strict exits 0 when everything is protected" "$?" 0

finish
