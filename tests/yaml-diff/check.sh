#!/usr/bin/env bash
# Differential test of lameduck's YAML reading against sigs.k8s.io/yaml, which kubectl
# uses: converts every document of corpus.json to JSON with the Go library, fails if the
# result differs from the committed expected.json, then runs the Rust test that compares
# lameduck's reading with expected.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT
(cd "$here" && go run . <corpus.json >"$fresh")
if ! diff -u "$here/expected.json" "$fresh"; then
    echo "yaml-diff: sigs.k8s.io/yaml reads the corpus differently from expected.json" >&2
    echo "yaml-diff: if the change is expected, copy the new output over expected.json" >&2
    exit 1
fi
cd "$root"
cargo test --locked --test offline yaml_reads_as_kubectl_reads_it
