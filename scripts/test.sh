#!/usr/bin/env bash
# Runs every test and check. Installs what it needs (a Python venv in .venv) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "tools"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check \
  -r scripts/requirements-test.txt -r tests/chart/requirements.txt
export PYTHON="$PWD/.venv/bin/python"
export PATH="$PWD/.venv/bin:$PATH"

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

step "unit, property and integration tests"
cargo test --locked --all-targets

step "fixtures end to end: Python jsonpatch applies every patch, kubernetes-validate --strict accepts every result"
cargo build --locked --quiet
KUBERNETES_VERSIONS="1.30.0 1.34.0" "$PYTHON" scripts/check-fixtures.py

for extra in scripts/validate-offline.sh scripts/check-chart.sh; do
  if [ -x "$extra" ]; then
    step "$extra"
    "$extra"
  fi
done

if [ -x scripts/fuzz.sh ]; then
  step "fuzz smoke"
  scripts/fuzz.sh smoke
fi

# Skips with a message when no Docker daemon is reachable (.ci/run starts one if it can).
step "container image: docker build, run, answer"
scripts/docker-smoke.sh

step "all checks passed"
