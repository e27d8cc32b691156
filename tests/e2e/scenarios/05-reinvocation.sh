#!/usr/bin/env bash
# Scenario 5: a second mutating webhook, called after lameduck, adds a container. The
# chart's reinvocationPolicy IfNeeded makes the API server call lameduck again, so the
# stored pod's plan covers the added container too.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# Webhooks are called in the order of their configurations' names: "zz-" sorts after
# the chart's "lameduck".
mwc=zz-e2e-webhook2
trap 'kubectl delete mutatingwebhookconfiguration $mwc --ignore-not-found >/dev/null 2>&1; stop_proc e2e-webhook2; on_exit' EXIT

lameduck_configure "" >/dev/null
new_ns s5 e2e.lameduck.dev/webhook2=on
lameduck_caught_up

start_proc e2e-webhook2 "$E2E_BIN/e2e-webhook2" --listen "127.0.0.1:$E2E_WEBHOOK2_PORT" \
  --tls-cert "$E2E_STATE/pki/webhook2.crt" --tls-key "$E2E_STATE/pki/webhook2.key"
wait_until 30 "e2e-webhook2" curl -fsS --cacert "$E2E_LAMEDUCK_CA_CRT" "https://127.0.0.1:$E2E_WEBHOOK2_PORT/healthz"
kubectl create -f - >/dev/null <<EOF
{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration",
 "metadata":{"name":"$mwc"},
 "webhooks":[{"name":"add-container.e2e.lameduck.dev","admissionReviewVersions":["v1"],"sideEffects":"None",
   "failurePolicy":"Fail","reinvocationPolicy":"Never","timeoutSeconds":5,
   "clientConfig":{"url":"https://127.0.0.1:$E2E_WEBHOOK2_PORT/mutate","caBundle":"$(base64 -w0 "$E2E_LAMEDUCK_CA_CRT")"},
   "namespaceSelector":{"matchLabels":{"e2e.lameduck.dev/webhook2":"on"}},
   "rules":[{"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"operations":["CREATE"],"scope":"Namespaced"}]}]}
EOF
# The API server picks up a new configuration through its informer: wait until it calls it.
# shellcheck disable=SC2016 # expanded by the inner bash
wait_until 60 "the API server to call e2e-webhook2" bash -c \
  '[[ $(kubectl -n s5 create --dry-run=server -o json -f - <<<"$1" | jq ".spec.containers | length") == 2 ]]' \
  _ "$(pod_manifest probe '{}' app)"

pod=$(pod_manifest web '{}' nginx app | kubectl -n s5 create -o json -f -)
expect "the second webhook's container is in the stored pod" \
  "$(jq -r '[.spec.containers[].name] | join(",")' <<<"$pod")" "nginx,app,added-by-webhook2"
expect "lameduck, called again, planned it too" "$(prestop_of "$pod" added-by-webhook2)" "sleep 15"
expect_match "the status record covers it" "$(status_of "$pod")" '"added-by-webhook2":\{"action":"sleep"'
expect "and the others keep their plan" "$(prestop_of "$pod" nginx), $(prestop_of "$pod" app)" "sleep 10, sleep 15"

finish
