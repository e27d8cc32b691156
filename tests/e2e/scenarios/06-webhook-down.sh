#!/usr/bin/env bash
# Scenario 6: lameduck gone. The chart's failurePolicy Ignore admits pods unmutated, the
# API server's webhook metrics show the failed calls, and once lameduck is back new pods
# get the plan again.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
trap 'lameduck_ready >/dev/null 2>&1 || lameduck_start >/dev/null 2>&1; on_exit' EXIT

# rejections: the API server's count of lameduck calls that failed and were ignored.
rejections() {
  kubectl get --raw /metrics | awk '
    /^apiserver_admission_webhook_rejection_count\{/ && /name="mutate.lameduck.dev"/ && /rejection_code="0"/ { n += $NF }
    /^apiserver_admission_webhook_fail_open_count\{/ && /name="mutate.lameduck.dev"/ { f += $NF }
    END { printf "%d %d\n", n, f }'
}

lameduck_configure "" >/dev/null
new_ns s6
lameduck_caught_up
read -r rejected_before failed_open_before < <(rejections)

lameduck_stop >/dev/null
pod=$(pod_json s6 while-down)
expect "lameduck stopped: the pod is still created, unmutated" "$(kubectl -n s6 get pod while-down -o name)/$(prestop_of "$pod" app)" "pod/while-down/none"
read -r rejected_after failed_open_after < <(rejections)
if ((failed_open_after > failed_open_before)); then
  ok "the API server's apiserver_admission_webhook_fail_open_count shows lameduck's absence ($failed_open_before -> $failed_open_after)"
else
  fail "the API server's metrics show lameduck's absence" \
    "fail_open_count $failed_open_before -> $failed_open_after, rejection_count $rejected_before -> $rejected_after"
fi

lameduck_start >/dev/null
pod=$(pod_json s6 after)
expect "lameduck back: new pods get the plan" "$(prestop_of "$pod" app)" "sleep 10"

finish
