#!/usr/bin/env bash
# Scenario 56: a slow data plane, as large clusters and cloud load balancers have. Runs
# only on a cluster brought up slow (else it skips):
#   E2E_KUBE_PROXY_MIN_SYNC=15s E2E_INGRESS_THROTTLE=15s scripts/e2e.sh up
# kube-proxy then applies endpoint changes at most every 15 s and Traefik at most every
# 15 s: both keep routing to a deleted pod for up to 15 s. The demo app rolled without
# lameduck, with the fixed sleep (10 s: too short here) and with `wait` (held while
# traffic still arrives, up to 30 s). Arm A (new connections) is what the waiter sees;
# arm C (the ingress's kept-alive upstream connections) is measured on its own rollouts,
# because new connections from A would keep the waiter holding for C too.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node
if [[ ${E2E_KUBE_PROXY_MIN_SYNC:-1s} == 1s && ${E2E_INGRESS_THROTTLE:-2s} == 2s ]]; then
  echo "skip $(basename "$0"): the data plane is fast (E2E_KUBE_PROXY_MIN_SYNC=15s E2E_INGRESS_THROTTLE=15s scripts/e2e.sh up)"
  exit 0
fi

# The data plane forgets a pod up to 15 s after it is gone.
ROLLOUT_TAIL=16s
deploy_without_with_wait s56 demo_app demo
variant without s56-without
variant "with (sleep 10)" s56-with
variant "with wait" s56-wait

slow="slow data plane (kube-proxy $E2E_KUBE_PROXY_MIN_SYNC, ingress $E2E_INGRESS_THROTTLE)"
arms=()
arm A nodeport new 40 / "NodePort, new connection per request"
measure "demo app, $slow" demo
arms=()
arm C ingress pool 40 / "ingress, keep-alive client"
measure "demo app, $slow, ingress only" demo

for s in "demo app, $slow" "demo app, $slow, ingress only"; do
  for v in without "with (sleep 10)" "with wait"; do
    expect_rounds "$s" "$v" "$([[ $v == without ]] && echo no || echo yes)"
  done
done
expect_failures "demo app, $slow" without A "kube-proxy keeps routing to the deleted pod"
report_arm "demo app, $slow" "with (sleep 10)" A
expect_clean "demo app, $slow" "with wait" A
report_arm "demo app, $slow, ingress only" without C
report_arm "demo app, $slow, ingress only" "with (sleep 10)" C
# The ingress sends on upstream connections it opened before the deletion: the
# waiter sees their bytes (sock_diag) and holds until Traefik has let go.
expect_clean "demo app, $slow, ingress only" "with wait" C
report_linger "demo app, $slow" "with wait"
report_linger "demo app, $slow, ingress only" "with wait"
finish
