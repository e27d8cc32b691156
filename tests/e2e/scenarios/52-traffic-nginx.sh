#!/usr/bin/env bash
# e2e: background (it runs beside the demo app's matrix)
# Scenario 52: nginx in front of the app in one pod (the background write-up's case),
# through the NodePort (A) and through the ingress with keep-alive (F). Without lameduck
# both containers get SIGTERM at once: the app closes while nginx still proxies to it
# (502) and nginx closes while clients still arrive. With lameduck, nginx stops first,
# after the endpoints are gone, and the app after it: no failure. With
# `lameduck.dev/action: wait`, nginx is released when the pod is quiet and the app a
# stagger (5 s) after it.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

scenario="nginx + app"
# Its own beacon port: it runs beside the demo app's scenario.
E2E_BEACON_PORT=$((E2E_BEACON_PORT + 3))
deploy_without_with_wait s52 nginx_app web

pod=$(kubectl -n s52-with get pods -l app=web -o json | jq '.items[0]')
expect "nginx + app: lameduck stops nginx before the app" \
  "$(jq -r '[.spec.containers[] | "\(.name)=\(.lifecycle.preStop.sleep.seconds // .lifecycle.preStop.exec.command[1] // "none")"] | join(" ")' <<<"$pod")" \
  "nginx=10 app=15"
expect "nginx + app: with action wait, nginx is released first and the app a stagger after; the waiter last, no hook" \
  "$(kubectl -n s52-wait get pods -l app=web -o json |
    jq -r '[.items[0].spec.containers[] | "\(.name)=\(.lifecycle.preStop.httpGet.path // "none")"] | join(" ")')" \
  "nginx=/release?after=0 app=/release?after=5 lameduck-waiter=none"

variant without s52-without
variant with s52-with
variant "with wait" s52-wait
arm A nodeport new 50 / "NodePort, new connection per request"
arm F ingress pool 50 / "ingress, keep-alive client"
measure "$scenario" web

expect_rounds "$scenario" without no
expect_rounds "$scenario" with yes 15
expect_clean "$scenario" with A
expect_clean "$scenario" with F
expect_rounds "$scenario" "with wait" yes
expect_clean "$scenario" "with wait" A
# Through the ingress: cured, not promised clean (scenario 53 says why).
expect_cured "$scenario" "with wait" F without
report_linger "$scenario" with
report_linger "$scenario" "with wait"
expect_failures "$scenario" without A "nginx and the app stop while kube-proxy still routes to them"
report_arm "$scenario" without F
finish
