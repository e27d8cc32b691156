#!/usr/bin/env bash
# Scenario 2: annotations on pods, containers and namespaces; a bad value is a warning
# kubectl prints, never a refused pod.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"

new_ns s2
lameduck_caught_up

pod=$(pod_manifest sleep20 '{"lameduck.dev/sleep":"20"}' app | kubectl -n s2 create -o json -f -)
expect "pod annotation lameduck.dev/sleep sets the delay" "$(prestop_of "$pod" app)" "sleep 20"

pod=$(pod_manifest shutdown60 '{"lameduck.dev/shutdown":"1m"}' app | kubectl -n s2 create -o json -f -)
expect "pod annotation lameduck.dev/shutdown raises the grace period to sleep + shutdown" "$(grace_of "$pod")" 70

pod=$(pod_manifest percontainer '{"lameduck.dev/app.sleep":"7","lameduck.dev/sidecar.role":"skip"}' app sidecar |
  kubectl -n s2 create -o json -f -)
expect "per-container annotations: app.sleep is used as given, sidecar.role=skip gets no hook" \
  "$(prestop_of "$pod" app), $(prestop_of "$pod" sidecar)" "sleep 7, none"

pod=$(pod_manifest optout '{"lameduck.dev/inject":"false"}' app | kubectl -n s2 create -o json -f -)
expect "lameduck.dev/inject: \"false\" skips the pod" "$(status_of "$pod")/$(prestop_of "$pod" app)" "/none"

# Namespace defaults arrive through lameduck's watch: shortly, not at once.
kubectl annotate namespace s2 lameduck.dev/sleep=33 >/dev/null
started=$SECONDS
# shellcheck disable=SC2016 # expanded by the inner bash
if wait_until 30 "the namespace default" bash -c \
  '[[ $(kubectl -n s2 create --dry-run=server -o jsonpath="{.spec.containers[0].lifecycle.preStop.sleep.seconds}" -f - <<<"$1") == 33 ]]' \
  _ "$(pod_manifest probe '{}' app)"; then
  ok "a namespace annotation becomes the default for its pods (seen after $((SECONDS - started))s)"
else
  fail "a namespace annotation becomes the default for its pods" "not applied within 30s"
fi
pod=$(pod_manifest podwins '{"lameduck.dev/sleep":"4"}' app | kubectl -n s2 create -o json -f -)
expect "a pod annotation beats the namespace default" "$(prestop_of "$pod" app)" "sleep 4"
kubectl annotate namespace s2 lameduck.dev/sleep- >/dev/null

# A bad value: kubectl prints the webhook's warning and the pod is stored all the same.
err=$(mktemp)
pod=$(pod_manifest banana '{"lameduck.dev/sleep":"banana"}' app | kubectl -n s2 create -o json -f - 2>"$err")
expect_match "a bad annotation comes back as a warning kubectl prints" "$(cat "$err")" "^Warning: .*lameduck.dev/sleep"
expect "and the pod is created, with the default delay" "$(prestop_of "$pod" app)" "sleep 10"
rm -f "$err"

finish
