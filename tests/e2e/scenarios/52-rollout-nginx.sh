#!/usr/bin/env bash
# Scenario 52: nginx in front of the app in one pod (the background write-up's case).
# Without lameduck both get their stop signal at once: the app closes while nginx still
# proxies to it (502) and nginx closes while clients still arrive. With lameduck, nginx
# stops first, after endpoints are gone, and the app after it: no failure.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

scenario="nginx + app"
forget "$scenario"
new_ns s52-without lameduck.dev/inject=disabled
new_ns s52-with
nginx_app web | kubectl -n s52-without apply -f - >/dev/null
nginx_app web | kubectl -n s52-with apply -f - >/dev/null
for ns in s52-without s52-with; do
  kubectl -n "$ns" rollout status deployment/web --timeout=180s >/dev/null ||
    fail "$scenario: the app comes up in $ns" "deployment/web not available in 180 s"
done

pod=$(kubectl -n s52-with get pods -l app=web -o json | jq '.items[0]')
expect "nginx + app: lameduck stops nginx before the app" \
  "$(jq -r '[.spec.containers[] | "\(.name)=\(.lifecycle.preStop.sleep.seconds // .lifecycle.preStop.exec.command[1] // "none")"] | join(" ")' <<<"$pod")" \
  "nginx=10 app=15"

measure "$scenario" without s52-without web
kubectl -n s52-without scale deployment web --replicas=0 >/dev/null
measure "$scenario" with s52-with web
compare "$scenario"
finish
