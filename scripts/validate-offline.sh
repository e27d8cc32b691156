#!/usr/bin/env bash
# Runs `lameduck mutate` on manifests and validates every output document against the
# Kubernetes OpenAPI schemas with kubernetes-validate (PyPI) in strict mode, so a
# mutation that writes a field the API server would reject fails CI.
#
# Usage: scripts/validate-offline.sh [MANIFEST...]
#   (default: tests/golden/multi.yaml tests/golden/three-tier.yaml)
#
# Environment:
#   LAMEDUCK_BIN         the lameduck binary (default target/debug/lameduck)
#   KUBERNETES_VALIDATE  the kubernetes-validate executable, or
#   PYTHON               a Python that has kubernetes-validate installed
#                        (default: .venv/bin/kubernetes-validate, then $PATH)
#   KUBERNETES_VERSION   schema version (default 1.34.0)
#
# Exit status: 0 when every document validated; 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Relative paths given by the caller are relative to where the caller stands.
absolute() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

if [[ -n ${LAMEDUCK_BIN:-} ]]; then
    bin=$(absolute "$LAMEDUCK_BIN")
else
    bin=$root/target/debug/lameduck
fi
if [[ ! -x $bin ]]; then
    echo "validate-offline: $bin is not an executable (build it, or set LAMEDUCK_BIN)" >&2
    exit 1
fi

if [[ -n ${KUBERNETES_VALIDATE:-} ]]; then
    validate=("$KUBERNETES_VALIDATE")
elif [[ -n ${PYTHON:-} ]]; then
    validate=("$PYTHON" -m kubernetes_validate)
elif [[ -x $root/.venv/bin/kubernetes-validate ]]; then
    validate=("$root/.venv/bin/kubernetes-validate")
elif command -v kubernetes-validate >/dev/null; then
    validate=(kubernetes-validate)
else
    echo "validate-offline: kubernetes-validate not found; set KUBERNETES_VALIDATE or PYTHON" >&2
    echo "  (python3 -m venv .venv && .venv/bin/pip install kubernetes-validate)" >&2
    exit 1
fi
version=${KUBERNETES_VERSION:-1.34.0}

manifests=()
if (($# > 0)); then
    for manifest in "$@"; do
        manifests+=("$(absolute "$manifest")")
    done
else
    manifests=("$root/tests/golden/multi.yaml" "$root/tests/golden/three-tier.yaml")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
for manifest in "${manifests[@]}"; do
    out=$work/$(basename "$manifest").yaml
    "$bin" mutate -f "$manifest" >"$out"
    # `mutate` writes YAML documents separated by `---` lines at column 0.
    documents=$(($(grep -c '^---$' "$out" || true) + 1))
    if ! report=$("${validate[@]}" --strict --kubernetes-version "$version" "$out" 2>&1); then
        printf '%s\n' "$report" >&2
        echo "validate-offline: FAIL $manifest" >&2
        failed=1
        continue
    fi
    # kubernetes-validate only warns (exit 0) about a kind it has no schema for: count
    # the documents that really passed.
    passed=$(grep -c ' passed for resource ' <<<"$report" || true)
    if ((passed != documents)); then
        printf '%s\n' "$report" >&2
        echo "validate-offline: FAIL $manifest: $passed of $documents documents validated" >&2
        failed=1
        continue
    fi
    echo "validate-offline: ok $manifest (documents: $documents, Kubernetes $version)"
done
exit "$failed"
