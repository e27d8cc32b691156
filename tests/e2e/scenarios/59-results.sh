#!/usr/bin/env bash
# Scenario 59: the traffic matrix as one table (also in $E2E_STATE/results.md), made by
# scripts/results-table.py from the JSON lines the rounds wrote. `E2E_RESULTS_OUT=FILE`
# copies those lines there (docs/results/rollouts.jsonl is the README's source).
# shellcheck source=tests/e2e/check.sh
source "$E2E_REPO/tests/e2e/check.sh"
# shellcheck source=tests/e2e/rollout/lib.sh
source "$E2E_REPO/tests/e2e/rollout/lib.sh"
skip_without_node

if [[ -s $RESULTS_JSON ]]; then
  python3 "$E2E_REPO/scripts/results-table.py" "$RESULTS_JSON" | tee "$RESULTS_MD"
  ok "results: table written to $RESULTS_MD"
  if [[ -n ${E2E_RESULTS_OUT:-} ]]; then
    cp "$RESULTS_JSON" "$E2E_RESULTS_OUT"
    ok "results: copied to $E2E_RESULTS_OUT"
  fi
else
  echo "skip results: nothing measured (run the traffic scenarios first)"
fi
finish
