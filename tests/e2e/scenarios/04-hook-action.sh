#!/usr/bin/env bash
# Scenario 4: with action auto (the chart's default), the native sleep hook only while
# every kubelet runs it; one node reporting kubelet 1.28 turns it into exec.
# lameduck reads the Nodes at start and every 5 minutes: it is restarted after each
# change rather than waited for.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
trap 'kubectl delete node -l e2e.lameduck.dev/fake=s4 --ignore-not-found >/dev/null 2>&1; lameduck_restart >/dev/null 2>&1; on_exit' EXIT

# fake_node NAME KUBELET-VERSION: a Node object nothing can be scheduled on, whose status
# reports that kubelet version (written through the status subresource, as a kubelet does).
fake_node() {
  kubectl create -f - >/dev/null <<EOF2
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","labels":{"e2e.lameduck.dev/fake":"s4"}},
 "spec":{"unschedulable":true,"taints":[{"key":"e2e.lameduck.dev/fake","effect":"NoSchedule"}]}}
EOF2
  kubectl patch node "$1" --subresource=status --type=merge \
    -p "{\"status\":{\"nodeInfo\":{\"kubeletVersion\":\"$2\"}}}" >/dev/null
}

lameduck_configure "" >/dev/null
new_ns s4
server=$(kubectl version -o json | jq -r .serverVersion.gitVersion)
# K8S_VERSION: the minor's pin (lib.sh reads versions.sh and kube-version.sh).
expect "the API server reports its stamped version" "$server" "$K8S_VERSION"

fake_node e2e-s4-new v1.34.4
lameduck_restart >/dev/null
pod=$(pod_json s4 new --dry-run=server)
expect "every kubelet at 1.34: the native sleep hook" "$(prestop_of "$pod" app)" "sleep 10"

fake_node e2e-s4-old v1.28.15
lameduck_restart >/dev/null
expect_match "lameduck names the old kubelet in /readyz" "$(lameduck_readyz | head -n 3)" "1\.28\.15.*e2e-s4-old"
err=$(mktemp)
pod=$(pod_manifest old '{}' app | kubectl -n s4 create --dry-run=server -o json -f - 2>"$err")
expect "one kubelet at 1.28: exec of sleep instead" "$(prestop_of "$pod" app)" "exec sleep 10"
expect_match "and a warning that the image needs a sleep binary" "$(cat "$err")" "^Warning: .*sleep"
rm -f "$err"

kubectl delete node e2e-s4-old >/dev/null
lameduck_restart >/dev/null
pod=$(pod_json s4 back --dry-run=server)
expect "the old node gone: native sleep again" "$(prestop_of "$pod" app)" "sleep 10"

finish
