#!/usr/bin/env bash
# CI entry point for the chart, manifests/ and the shell scripts. Installs nothing:
# run scripts/install-chart-tools.sh first, or point these at your own tools.
#
#   PYTHON               Python with helm-python-sdk, PyYAML, pytest, jsonschema
#                        (default .venv/chart-tools/bin/python)
#   KUBERNETES_VALIDATE  kubernetes-validate   (default: next to PYTHON, then PATH)
#   YAMLLINT, SHELLCHECK yamllint, shellcheck  (default: next to PYTHON, then PATH)
#   HELM                 the Helm CLI that renders and lints, per Kubernetes version
#                        (default: the real Helm v4 that tests/e2e/build.sh builds from
#                        source; any Helm 3.15+ works too, e.g. to check with Helm 3)
#   KUBE_VERSIONS        versions to validate against (default "1.30.0 1.34.0")
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

PYTHON=${PYTHON:-"$repo/.venv/chart-tools/bin/python"}
tool() { # tool NAME: next to PYTHON, else on PATH
  local beside
  beside="$(dirname "$PYTHON")/$1"
  if [[ -x $beside ]]; then echo "$beside"; else command -v "$1" || echo "$1"; fi
}
KUBERNETES_VALIDATE=${KUBERNETES_VALIDATE:-$(tool kubernetes-validate)}
YAMLLINT=${YAMLLINT:-$(tool yamllint)}
SHELLCHECK=${SHELLCHECK:-$(tool shellcheck)}
KUBE_VERSIONS=${KUBE_VERSIONS:-"1.30.0 1.34.0"}
if [[ -z ${HELM:-} ]]; then
  HELM="$("$repo/tests/e2e/build.sh" helm)/helm"
fi
export PYTHON HELM

for bin in "$PYTHON" "$KUBERNETES_VALIDATE" "$YAMLLINT" "$SHELLCHECK" ${HELM:+"$HELM"}; do
  if ! command -v "$bin" >/dev/null; then
    echo "check-chart: $bin not found; run scripts/install-chart-tools.sh" >&2
    exit 2
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }
render() { "$PYTHON" tests/chart/helmrender.py "$@"; }

# Every combination users can pick: mode x targets x certificate mode.
combos=()
for mode in cluster namespace; do
  for targets in pods all; do
    for certs in helm cert-manager existing; do
      set_args="mode=$mode,targets=$targets,certs.mode=$certs"
      [[ $certs == existing ]] && set_args+=",certs.existing.secretName=my-tls,certs.existing.caBundle=Zm9v"
      combos+=("$set_args")
    done
  done
done
combos+=("metrics.serviceMonitor.enabled=true,createNamespace=true,certs.certManager.issuerRef.name=corp,certs.mode=cert-manager")

step "values.schema.json is a valid schema and accepts values.yaml"
"$PYTHON" - <<'PY'
import json, yaml, jsonschema
schema = json.load(open("charts/lameduck/values.schema.json"))
jsonschema.Draft7Validator.check_schema(schema)
jsonschema.validate(yaml.safe_load(open("charts/lameduck/values.yaml")), schema)
PY

step "helm lint --strict"
for kube in $KUBE_VERSIONS; do
  render lint --kube-version "$kube"
done
for combo in "${combos[@]}"; do
  render lint --kube-version "${KUBE_VERSIONS%% *}" --set "$combo"
done

step "render ${#combos[@]} combinations"
mkdir -p "$work/rendered"
n=0
for kube in $KUBE_VERSIONS; do
  for combo in "${combos[@]}"; do
    n=$((n + 1))
    render template --set "$combo" --kube-version "$kube" -o "$work/rendered/$n.yaml"
  done
  [[ -n ${HELM:-} ]] || break # the SDK has one Kubernetes version: render once
done

step "manifests/ is up to date with the chart"
scripts/render-manifests.sh "$work/manifests"
if ! diff -ru -x README.md manifests "$work/manifests"; then
  echo "manifests/ differs from the chart: run scripts/render-manifests.sh and commit" >&2
  exit 1
fi

step "kubernetes-validate --strict ($KUBE_VERSIONS)"
mapfile -t manifests < <(find manifests -name '*.yaml' | sort)
render split --out "$work/objects" "$work"/rendered/*.yaml "${manifests[@]}"
for kube in $KUBE_VERSIONS; do
  "$KUBERNETES_VALIDATE" --strict --quiet --kubernetes-version "$kube" "$work"/objects/*.yaml
  echo "  $kube: $(find "$work/objects" -name '*.yaml' | wc -l) objects valid"
done

step "yamllint"
"$YAMLLINT" --strict -c tests/chart/yamllint.yaml manifests charts/lameduck/Chart.yaml \
  charts/lameduck/values.yaml tests/chart/yamllint.yaml

step "shellcheck"
"$SHELLCHECK" -x scripts/*.sh certs/*.sh tests/e2e/*.sh tests/e2e/*/*.sh

step "chart tests"
"$PYTHON" -m pytest -q -p no:cacheprovider tests/chart

step "all chart checks passed"
