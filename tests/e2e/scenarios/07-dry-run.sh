#!/usr/bin/env bash
# Scenario 7: `kubectl create --dry-run=server` shows the plan and stores nothing.
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"

lameduck_configure "" >/dev/null
new_ns s7
lameduck_caught_up
pod=$(pod_manifest preview '{}' nginx app | kubectl -n s7 create --dry-run=server -o json -f -)
expect "dry-run=server shows the plan" "$(prestop_of "$pod" nginx), $(prestop_of "$pod" app), $(grace_of "$pod")" "sleep 10, sleep 15, 45"
expect_match "with its status record" "$(status_of "$pod")" '"graceSet":45'
expect "and stores nothing" "$(kubectl -n s7 get pods -o name | wc -l)" 0

finish
