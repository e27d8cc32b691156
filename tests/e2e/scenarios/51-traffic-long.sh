#!/usr/bin/env bash
# e2e: background (it takes minutes of waiting: the next traffic scenarios run beside it)
# Scenario 51 (arm E): long requests. The app needs up to 15 s to finish its requests
# after SIGTERM (terminationGracePeriodSeconds: 15, its own budget); clients keep a pool
# of keep-alive connections and POST /work?ms=12000, so requests are in flight when
# SIGTERM comes: a kept-alive connection still reaches its old pod through kube-proxy
# (conntrack) during the whole preStop. A POST, because Go's client (like most) silently
# retries a GET whose reused connection was cut, which would hide the cut. The app drains
# politely (--on-sigterm=polite: `Connection: close` on every answer after SIGTERM, idle
# connections closed only once none is in flight), so what this arm measures is the grace
# period alone: with Go's Shutdown, which closes idle connections at SIGTERM, a POST sent
# onto one at that instant reads EOF whatever the grace (the app's race; see the README).
# Three variants:
#   nothing       no hook: SIGTERM at once; in-flight requests finish within the budget
#   hand-written  preStop sleep 10 and the grace left at 15: SIGKILL 5 s after SIGTERM
#                 cuts the requests still running (the usual mistake: the grace period
#                 counts from the start of preStop, not from SIGTERM)
#   lameduck      sleep 10 and the grace raised to 25 (sleep + the app's budget): none cut
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

scenario="long requests"
# Its own beacon port: this scenario may run beside another one.
E2E_BEACON_PORT=$((E2E_BEACON_PORT + 1))
new_ns s51-nothing lameduck.dev/inject=disabled
new_ns s51-hand lameduck.dev/inject=disabled
new_ns s51-lameduck
export REPLICAS=2 DEMO_ON_SIGTERM=polite
deploy s51-nothing demo_app slow "      terminationGracePeriodSeconds: 15"
deploy s51-hand demo_app slow "      terminationGracePeriodSeconds: 15" "" \
  "          lifecycle: {preStop: {sleep: {seconds: 10}}}"
deploy s51-lameduck demo_app slow "      terminationGracePeriodSeconds: 15"
expect "long requests: lameduck raised the grace period to cover sleep + the app's budget" \
  "$(kubectl -n s51-lameduck get pods -l app=slow -o jsonpath='{.items[0].spec.terminationGracePeriodSeconds}')" 25

variant nothing s51-nothing
variant "hand-written sleep 10" s51-hand
variant lameduck s51-lameduck
arm E nodeport pool 4 "/work?ms=12000" "NodePort, keep-alive, 12 s POSTs" 100 20s POST
measure "$scenario" slow

expect_rounds "$scenario" nothing no
expect_rounds "$scenario" "hand-written sleep 10" no 10
expect_rounds "$scenario" lameduck yes 10
expect_clean "$scenario" lameduck E
expect_failures "$scenario" "hand-written sleep 10" E "SIGKILL 5 s after SIGTERM cuts requests in flight"
report_arm "$scenario" nothing E
finish
