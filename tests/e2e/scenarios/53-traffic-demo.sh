#!/usr/bin/env bash
# Scenario 53: the demo app (stops accepting on SIGTERM, like most frameworks), 3
# replicas, rolled under the traffic matrix's arms A–D:
#   A  NodePort (kube-proxy), a new connection per request
#   B  NodePort, a pool of 16 keep-alive connections
#   C  the ingress (Traefik: its own upstream pool to the pods), keep-alive client
#   D  the ingress, HTTP/2 from the client (h2c)
# in four namespaces: one lameduck leaves alone (without), one it plans (with: the fixed
# sleep), one whose pods ask for `lameduck.dev/action: wait` (held until their traffic
# stops: at least 2 s, at most 30 s), and a negative control it plans with
# `lameduck.dev/sleep: "0"`, which must fail again. A, C and D run at once on the same
# rollouts; B on rollouts of its own, because its kept-alive connections stay pinned to
# their pod through kube-proxy's conntrack until the app closes them: its traffic to an
# old pod never stops by itself, so `wait` holds that pod until max, and measured with
# the others it would hold their pods too.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

scenario="demo app"
deploy_without_with_wait s53 demo_app demo
new_ns s53-control
deploy s53-control demo_app demo "" '{"lameduck.dev/sleep": "0"}'

expect_match "demo app: lameduck planned the pods in s53-with" \
  "$(kubectl -n s53-with get pods -l app=demo -o jsonpath='{.items[0].spec.containers[0].lifecycle.preStop}')" 'sleep'
expect "demo app: and left those in s53-without alone" \
  "$(kubectl -n s53-without get pods -l app=demo -o jsonpath='{.items[0].spec.containers[0].lifecycle.preStop}')" ""
spec=$(kubectl -n s53-wait get pods -l app=demo -o json | jq '.items[0].spec')
expect "demo app: with action wait, the pod runs lameduck's waiter after the app, and its hook calls it" \
  "$(jq -r '[.containers[].name] | join(",")' <<<"$spec") $(jq -r '(.initContainers // []) | length' <<<"$spec") $(jq -r '.containers[0].lifecycle.preStop.httpGet.path' <<<"$spec")" \
  "app,lameduck-waiter 0 /release?after=0"

variant without s53-without
variant with s53-with
variant "with wait" s53-wait
variant "control (sleep 0)" s53-control
arm A nodeport new 40 / "NodePort, new connection per request"
arm C ingress pool 40 / "ingress, keep-alive client"
arm D ingress h2c 40 / "ingress, HTTP/2 (h2c)"
measure "$scenario" demo

# The same pods, and pods that ask to be held by new connections only
# (`lameduck.dev/wait-on: connections`), which is what such clients need.
pinned="demo app, kept-alive clients pinned through kube-proxy"
new_ns s53-wait-conn
deploy s53-wait-conn demo_app demo "" '{"lameduck.dev/action": "wait", "lameduck.dev/wait-on": "connections"}'
expect "demo app: with wait-on connections, the waiter is told so" \
  "$(kubectl -n s53-wait-conn get pods -l app=demo -o json |
    jq -r '.items[0].spec.containers[] | select(.name == "lameduck-waiter") | .args | map(select(startswith("--wait-on"))) | join(",")')" \
  "--wait-on=connections"
arms=()
variants=()
variant without s53-without
variant with s53-with
variant "with wait" s53-wait
variant "with wait on connections" s53-wait-conn
arm B nodeport pool 40 / "NodePort, 16 keep-alive connections"
ROLLOUT_ROUNDS=2 measure "$pinned" demo

expect_rounds "$scenario" without no
expect_rounds "$scenario" with yes 10
expect_rounds "$scenario" "with wait" yes
expect_rounds "$scenario" "control (sleep 0)" any
for a in A C D; do expect_clean "$scenario" with "$a"; done
# wait sees new connections (A) and, through sock_diag's byte counters, requests on the
# connections the ingress already holds (C, D). Through the ingress a rare 502 remains at
# the moment an old pod gets SIGTERM, though its waiter had seen no request for 1.5 s
# (2 of 2,390 in one run of three, before the probe-slot fix; DESIGN.md): cured, not
# promised clean until the matrix shows it.
expect_clean "$scenario" "with wait" A
for a in C D; do expect_cured "$scenario" "with wait" "$a" without; done
expect_rounds "$pinned" without no
expect_rounds "$pinned" with yes 10
expect_rounds "$pinned" "with wait" yes
expect_clean "$pinned" with B
expect_rounds "$pinned" "with wait on connections" yes
expect_clean "$pinned" "with wait" B
expect_clean "$pinned" "with wait on connections" B
report_arm "$pinned" without B
expect_failures "$scenario" without A "SIGTERM while kube-proxy still routes new connections"
expect_failures "$scenario" without C "SIGTERM while the ingress still routes to the pod"
report_arm "$scenario" without D
expect_failures "$scenario" "control (sleep 0)" A "lameduck with sleep 0 is no cure: the harness sees the race"
expect_failures "$scenario" "control (sleep 0)" C "lameduck with sleep 0 is no cure: the harness sees the race"
report_linger "$scenario" with
report_linger "$scenario" "with wait"
report_linger "$pinned" "with wait"
report_linger "$pinned" "with wait on connections"
finish
