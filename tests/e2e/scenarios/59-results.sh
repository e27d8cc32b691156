#!/usr/bin/env bash
# Scenario 59: the rollout measurements as one table (also in $E2E_STATE/results.md).
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

if [[ -s $RESULTS_JSON ]]; then
  results_table
  ok "results: table written to $RESULTS_MD"
else
  echo "skip results: nothing measured (run 51/52 first)"
fi
finish
