#!/usr/bin/env bash
# Scenario 51: the demo app (stops accepting on SIGTERM, like most frameworks) rolled
# three times under constant load through its NodePort: without lameduck (a namespace it
# leaves alone) requests fail; with lameduck none does.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

scenario="demo app"
forget "$scenario"
new_ns s51-without lameduck.dev/inject=disabled
new_ns s51-with
demo_app demo | kubectl -n s51-without apply -f - >/dev/null
demo_app demo | kubectl -n s51-with apply -f - >/dev/null
for ns in s51-without s51-with; do
  kubectl -n "$ns" rollout status deployment/demo --timeout=180s >/dev/null ||
    fail "$scenario: the app comes up in $ns" "deployment/demo not available in 180 s"
done

plan=$(kubectl -n s51-with get pods -l app=demo -o jsonpath='{.items[0].spec.containers[0].lifecycle.preStop}')
expect_match "demo app: lameduck planned the pods in s51-with" "$plan" 'sleep'
plan=$(kubectl -n s51-without get pods -l app=demo -o jsonpath='{.items[0].spec.containers[0].lifecycle.preStop}')
expect "demo app: and left those in s51-without alone" "$plan" ""

# One at a time: the two runs share the node's CPU.
measure "$scenario" without s51-without demo
kubectl -n s51-without scale deployment demo --replicas=0 >/dev/null
measure "$scenario" with s51-with demo
compare "$scenario"
finish
