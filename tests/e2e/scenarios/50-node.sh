#!/usr/bin/env bash
# Helpers below are called through wait_until/check by name.
# shellcheck disable=SC2329
# Scenario 50: the node. Registered from the same build as the control plane, Ready, pods
# run on it and reach the API server through the Service `kubernetes`; an image this
# machine lacks fails here (containerd sends every pull to a closed port on 127.0.0.1);
# pod and service addresses route to the node's bridge, never off the machine.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

node=${E2E_NODE_NAME:-e2e-node}
nodejson=$(kubectl get node "$node" -o json)
expect "node: $node is Ready" \
  "$(jq -r '.status.conditions[] | select(.type == "Ready") | .status' <<<"$nodejson")" True
expect "node: the kubelet reports the control plane's version (lameduck reads it)" \
  "$(jq -r .status.nodeInfo.kubeletVersion <<<"$nodejson")" \
  "$(kubectl version -o json | jq -r .serverVersion.gitVersion)"
expect_match "node: the runtime is Debian's containerd" \
  "$(jq -r .status.nodeInfo.containerRuntimeVersion <<<"$nodejson")" '^containerd://1\.'

addresses=$(kubectl -n default get endpointslices -l kubernetes.io/service-name=kubernetes \
  -o jsonpath='{.items[*].endpoints[*].addresses[*]}')
expect "node: the Service kubernetes points at the node's address (pods reach the API there)" \
  "$addresses" "$(jq -r '.status.addresses[] | select(.type == "InternalIP") | .address' <<<"$nodejson")"
expect "node: lameduck runs in the cluster and is ready (it talks to the API from a pod)" \
  "$(kubectl -n "$E2E_LAMEDUCK_NS" get deployment "$E2E_RELEASE" -o jsonpath='{.status.readyReplicas}')" 2

# No pull leaves the machine: a missing image fails against the closed port.
new_ns s50-node
kubectl -n s50-node run missing --image=docker.io/library/lameduck-e2e-missing:1 \
  --image-pull-policy=IfNotPresent --restart=Never >/dev/null
pulled() {
  kubectl -n s50-node get events --field-selector involvedObject.name=missing -o json |
    jq -e '[.items[] | select(.reason == "Failed")] | length > 0' >/dev/null
}
wait_until 120 "the pull of the missing image to fail" pulled
message=$(kubectl -n s50-node get events --field-selector involvedObject.name=missing -o json |
  jq -r '[.items[] | select(.reason == "Failed") | .message] | first')
expect_match "node: a pull is refused on this machine (closed port on 127.0.0.1)" "$message" \
  "127\.0\.0\.1:${E2E_NODE_DEAD_PORT:-9}.*(connection refused|refused)"

# Routes (ip route get asks the kernel; it sends nothing).
for address in "$(cut -d. -f1-2 <<<"$E2E_POD_CIDR").0.77" "$(cut -d. -f1-2 <<<"$E2E_SERVICE_CIDR").0.77"; do
  expect_match "node: $address routes to the node's bridge" "$(ip route get "$address" | head -1)" \
    " dev ${E2E_NODE_BRIDGE:-ldk0} "
done

# The ingress: a plain Ingress (no class: the default IngressClass is Traefik's) to a
# plain Service in a new namespace is served at $INGRESS_URL within seconds.
new_ns s50-ingress
kubectl -n s50-ingress create deployment echo --image=localhost/lameduck-demo:e2e --port=8080 >/dev/null
kubectl -n s50-ingress patch deployment echo --type=json \
  -p '[{"op":"add","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"Never"}]' >/dev/null
kubectl -n s50-ingress expose deployment echo --port=80 --target-port=8080 >/dev/null
kubectl -n s50-ingress create ingress echo --rule='echo.s50-ingress.test/*=echo:80' >/dev/null
kubectl -n s50-ingress rollout status deployment/echo --timeout=120s >/dev/null
expect "ingress: the API server gave the Ingress the default class" \
  "$(kubectl -n s50-ingress get ingress echo -o jsonpath='{.spec.ingressClassName}')" traefik
served() { [[ $(curl -s --max-time 2 -H 'Host: echo.s50-ingress.test' "$INGRESS_URL/") == ok\ echo-* ]]; }
if wait_until 30 "the Ingress to be served" served; then
  ok "ingress: a new Ingress is served at $INGRESS_URL (Host echo.s50-ingress.test)"
else
  fail "ingress: a new Ingress is served at $INGRESS_URL" "$(curl -s -w ' (%{http_code})' --max-time 2 -H 'Host: echo.s50-ingress.test' "$INGRESS_URL/")"
fi

# No CAP_SYS_RESOURCE here: every node daemon keeps oom_score_adj 0.
for proc in kubelet kube-proxy containerd; do
  expect "node: $proc runs with oom_score_adj 0" "$(cat "/proc/$(cat "$E2E_STATE/pids/$proc")/oom_score_adj")" 0
done
finish
