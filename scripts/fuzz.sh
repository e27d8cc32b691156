#!/usr/bin/env bash
# Runs lameduck's cargo-fuzz targets.
#
#   scripts/fuzz.sh smoke            each target briefly (about a minute in all): CI
#   scripts/fuzz.sh run [SECONDS]    each target for SECONDS (default 600)
#   scripts/fuzz.sh run SECONDS TARGET...
#   scripts/fuzz.sh build            build the targets only
#
# Uses a nightly toolchain when one is installed, else stable with RUSTC_BOOTSTRAP=1.
# Installs cargo-fuzz when missing. Runs niced, one worker per target, so it can share a
# machine. Corpora live in fuzz/corpus/<target> (git-ignored) and start from the committed
# seeds in fuzz/seeds/<target>; crashes land in fuzz/artifacts/<target>.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/fuzz"
targets=(review annotations)

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    # cargo-fuzz needs -Z flags; stable accepts them with RUSTC_BOOTSTRAP.
    export RUSTC_BOOTSTRAP=1 CARGO_CACHE_RUSTC_INFO=0
fi

# fuzz SUBCOMMAND ARGS...: `--fuzz-dir` must precede the `--` that starts libFuzzer's flags.
fuzz() {
    local subcommand=$1
    shift
    nice -n 19 cargo "${toolchain[@]}" fuzz "$subcommand" --fuzz-dir "$fuzz_dir" "$@"
}

build() {
    (cd "$root" && fuzz build --release --debug-assertions)
}

# run_target TARGET SECONDS [libFuzzer flags...]
run_target() {
    local target=$1 seconds=$2
    shift 2
    local corpus="$fuzz_dir/corpus/$target" artifacts="$fuzz_dir/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    echo "fuzz.sh: $target for ${seconds}s" >&2
    # libFuzzer reports every new coverage point; keep that in a log and show the
    # summary, or the end of the log when something was found.
    local log="$artifacts/last-run.log"
    if ! (cd "$root" && fuzz run --release --debug-assertions "$target" \
        "$corpus" "$fuzz_dir/seeds/$target" -- \
        -max_total_time="$seconds" -workers=1 -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$artifacts/" -print_final_stats=1 "$@") \
        >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz.sh: $target FAILED; full log: $log" >&2
        return 1
    fi
    grep -E '^(Done |stat::number_of_executed_units|stat::peak_rss_mb)' "$log" >&2 || tail -n 5 "$log" >&2
}

command=${1:-smoke}
shift || true
case "$command" in
    build)
        build
        ;;
    smoke)
        build
        run_target review 40
        run_target annotations 20
        ;;
    run)
        seconds=${1:-600}
        shift || true
        if (($# > 0)); then
            targets=("$@")
        fi
        build
        for target in "${targets[@]}"; do
            run_target "$target" "$seconds"
        done
        ;;
    *)
        usage
        ;;
esac
