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

# The upstream Go binaries of the e2e tier (Kubernetes, etcd, Helm; ~20 min of CPU the
# first time, seconds after) build in the background at low priority from here on: they
# fill the cores while the steps below wait on one core (linking, the lameduck crate
# itself, Python). The chart checks wait for Helm, the e2e tier for the rest.
prebuild_pid=
if [ "${LAMEDUCK_E2E:-1}" != 0 ] && command -v go >/dev/null; then
  mkdir -p target
  setsid nice -n 15 tests/e2e/build.sh >target/e2e-build.log 2>&1 &
  prebuild_pid=$!
  # A failed step must not leave `go build` running.
  trap 'kill -- -"$prebuild_pid" 2>/dev/null || true' EXIT
  echo "building the e2e tier's Go binaries in the background (target/e2e-build.log)"
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

step "dependency policy (deny.toml): licenses, banned crates, sources"
# Pinned so the policy means the same on every machine; installed once (~3 min cold).
deny_version=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
  cargo install cargo-deny --locked --version "$deny_version" --quiet
fi
# cargo-deny reads `cargo metadata` for every platform; fetch those crates first so the
# check itself needs no network (and never tries GitHub for an advisory database).
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources

step "unit, property and integration tests"
cargo test --locked --all-targets

step "YAML read as kubectl reads it: corpus against sigs.k8s.io/yaml (Go)"
tests/yaml-diff/check.sh

step "the README's measured tables are generated from docs/results/*.jsonl"
"$PYTHON" scripts/results-table.py docs/results/rollouts.jsonl --check README.md
"$PYTHON" scripts/admission-table.py docs/results/admission.jsonl --check README.md
"$PYTHON" scripts/waiter-cost.py --table docs/results/waiter-cost.jsonl --check README.md
"$PYTHON" scripts/perf-table.py docs/results/loadtest.jsonl --check README.md
"$PYTHON" scripts/bench-table.py table docs/results/benches.jsonl --check README.md

step "fixtures end to end: Python jsonpatch applies every patch, kubernetes-validate --strict accepts every result"
cargo build --locked --quiet
KUBERNETES_VERSIONS="1.30.0 1.34.0" "$PYTHON" scripts/check-fixtures.py

for extra in scripts/validate-offline.sh scripts/check-chart.sh; do
  if [ -x "$extra" ]; then
    step "$extra"
    "$extra"
  fi
done

# Fuzzing needs cargo-fuzz and a sanitizer build of its own (~10 min cold): opt in with
# LAMEDUCK_FUZZ=1, or run scripts/fuzz.sh. The property tests above check the same oracle
# (tests/api_rules) on generated reviews and random bytes.
if [ "${LAMEDUCK_FUZZ:-0}" = 1 ]; then
  step "fuzz smoke"
  scripts/fuzz.sh smoke
fi

# Skips with a message when no Docker daemon is reachable (.ci/run starts one if it can).
step "container image: docker build, run, answer"
scripts/docker-smoke.sh

# A real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
# built from source on first use (~/.cache/lameduck-e2e), lameduck as its chart
# configures it, and the scenarios in tests/e2e/scenarios. LAMEDUCK_E2E=0 skips it.
if [ "${LAMEDUCK_E2E:-1}" != 0 ]; then
  step "e2e: a real kube-apiserver calls lameduck (scripts/e2e.sh)"
  for tool in go openssl curl jq setsid; do
    command -v "$tool" >/dev/null || { echo "e2e needs $tool (.ci/run installs it)" >&2; exit 1; }
  done
  e2e_started=$SECONDS
  if [ -n "$prebuild_pid" ] && ! wait "$prebuild_pid"; then
    echo "the background build of the e2e binaries failed:" >&2
    tail -n 30 target/e2e-build.log >&2
    exit 1
  fi
  tests/e2e/build.sh >/dev/null
  echo "binaries ready after $((SECONDS - e2e_started))s"
  # Down even when a scenario fails or this script is interrupted.
  trap 'scripts/e2e.sh down' EXIT
  # The debug build made above: no second, release, build of lameduck for this tier.
  cargo build --locked --quiet
  LAMEDUCK=$PWD/target/debug/lameduck scripts/e2e.sh up >/dev/null
  scripts/e2e.sh test
  scripts/e2e.sh down
  trap - EXIT
  echo "e2e tier took $((SECONDS - e2e_started))s"
fi

step "all checks passed"
