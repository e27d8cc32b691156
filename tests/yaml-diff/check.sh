#!/usr/bin/env bash
# Differential test of lameduck's YAML reading against sigs.k8s.io/yaml, which kubectl
# uses: converts every document of corpus.json to JSON with the Go library, fails if the
# result differs from the committed expected.json, then runs the Rust test that compares
# lameduck's reading with expected.json. Then the same on generated input: random
# Kubernetes-like objects written by kubectl's emitter and others (generate.go), read by
# both; YAML_DIFF_SEED and YAML_DIFF_COUNT change the seed (1) and the count (2500
# objects, each written four ways).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fresh="$(mktemp)"
generated="$(mktemp)"
trap 'rm -f "$fresh" "$generated"' EXIT
(cd "$here" && go run . <corpus.json >"$fresh")
if ! diff -u "$here/expected.json" "$fresh"; then
    echo "yaml-diff: sigs.k8s.io/yaml reads the corpus differently from expected.json" >&2
    echo "yaml-diff: if the change is expected, copy the new output over expected.json" >&2
    exit 1
fi
seed="${YAML_DIFF_SEED:-1}"
count="${YAML_DIFF_COUNT:-2500}"
echo "yaml-diff: generating $count objects (seed $seed)"
(cd "$here" && go run . generate -seed "$seed" -count "$count" >"$generated")
cd "$root"
cargo test --locked --test offline -- --exact yaml_reads_as_kubectl_reads_it
LAMEDUCK_YAML_GENERATED="$generated" cargo test --locked --test offline \
    generated_yaml_reads_as_kubectl_reads_it -- --nocapture
