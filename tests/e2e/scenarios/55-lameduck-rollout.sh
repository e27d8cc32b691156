#!/usr/bin/env bash
# Helpers below are called through wait_until/check by name.
# shellcheck disable=SC2329
# Scenario 55: lameduck's own rolling update (`kubectl rollout restart`) while pods are
# created in a loop: every pod created during it carries the plan, and the API server
# counts no failed call to the webhook. lameduck practises what it injects.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

ns=$E2E_LAMEDUCK_NS deploy=$E2E_RELEASE
selector=$(kubectl -n "$ns" get deployment "$deploy" -o json |
  jq -r '.spec.selector.matchLabels | to_entries | map("\(.key)=\(.value)") | join(",")')
replicas=$(kubectl -n "$ns" get deployment "$deploy" -o jsonpath='{.spec.replicas}')
webhooks=$(kubectl get mutatingwebhookconfigurations -o json |
  jq -r '[.items[].webhooks[].name | select(test("lameduck"))] | join("|")')

# metric NAME-REGEX: the sum of the API server's samples for lameduck's webhooks.
metric() {
  kubectl get --raw /metrics | grep -E "^($1)\{" | grep -E "name=\"($webhooks)\"" |
    awk '{s += $NF} END {printf "%d\n", s}'
}
failed_before=$(metric 'apiserver_admission_webhook_fail_open_count|apiserver_admission_webhook_rejection_count')
calls_before=$(metric apiserver_admission_webhook_request_total)

new_ns s55-pods
# The pods stay Pending (no node matches): only admission matters here.
pod() {
  cat <<JSON
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},
 "spec":{"nodeSelector":{"e2e.lameduck.dev/none":"none"},
  "containers":[{"name":"app","image":"localhost/lameduck-demo:e2e","imagePullPolicy":"Never"}]}}
JSON
}
old_gone() {
  [[ $(kubectl -n "$ns" get pods -l "$selector" -o json |
    jq '(.items | length) as $n | [.items[] | select(.metadata.deletionTimestamp == null)] | length == $n') == true &&
    $(kubectl -n "$ns" get pods -l "$selector" -o name | wc -l) -eq $replicas ]]
}
kubectl -n "$ns" rollout restart "deployment/$deploy" >/dev/null
(kubectl -n "$ns" rollout status "deployment/$deploy" --timeout=300s >/dev/null &&
  wait_until 300 "lameduck's old pods to be gone" old_gone) &
rollout=$!
created=0
while kill -0 "$rollout" 2>/dev/null; do
  pod "p$created" | kubectl -n s55-pods create -f - >/dev/null && created=$((created + 1))
  # Pacing (about 4 pods a second), not waiting for anything.
  sleep 0.25
done
wait "$rollout" || fail "lameduck's rollout completes" "rollout status or old pods timed out"

pods=$(kubectl -n s55-pods get pods -o json)
planned=$(jq '[.items[] | select(.metadata.annotations["lameduck.dev/status"] != null
  and .spec.containers[0].lifecycle.preStop != null)] | length' <<<"$pods")
if ((created > 10)); then
  ok "lameduck rollout: $created pods created during it"
else
  fail "lameduck rollout: pods created during it" "only $created"
fi
expect "lameduck rollout: every pod created during it carries the plan" "$planned of $created" "$created of $created"
failed_after=$(metric 'apiserver_admission_webhook_fail_open_count|apiserver_admission_webhook_rejection_count')
calls_after=$(metric apiserver_admission_webhook_request_total)
expect "lameduck rollout: the API server counts no failed webhook call" "$((failed_after - failed_before))" 0
if ((calls_after - calls_before >= created)); then
  ok "lameduck rollout: the API server counted $((calls_after - calls_before)) calls to lameduck"
else
  fail "lameduck rollout: the API server counted the calls" "$((calls_after - calls_before)) calls for $created pods"
fi
finish
