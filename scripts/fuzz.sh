#!/usr/bin/env bash
# Fuzzes the model crate's front doors with cargo-fuzz, benchmark-style: a fixed time per target,
# then executions and crashes per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 600 seconds each, every target)
#
# Targets (fuzz/fuzz_targets/*.rs, all calling hardwire_model::fuzz_entry): gguf, safetensors,
# safetensors_index, config_json. Seeds are written by the project's own writers
# (model/examples/fuzz_seeds.rs); the corpus grows in fuzz/corpus/TARGET (not committed). Every
# crash, out-of-memory or timeout input is copied to model/tests/fuzz_regressions/TARGET/, which
# `cargo test -p hardwire-model --test fuzz_regressions` replays; commit those files with the fix.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler for libFuzzer. On a stable
# toolchain RUSTC_BOOTSTRAP=1 lets libfuzzer-sys use its nightly flags; the sanitizer is off
# (`-s none`), so findings are panics, aborts, allocations over the RSS limit and timeouts.
set -euo pipefail

seconds=${1:-600}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(gguf safetensors safetensors_index config_json)
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
export RUSTC_BOOTSTRAP=1
# Inputs larger than this are cut; the seeds are 0.3 to 5 kB.
max_len=16384

cargo fuzz build -s none --fuzz-dir fuzz
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cargo run -q -p hardwire-model --example fuzz_seeds -- "$seeds" >/dev/null

printf '%-18s %8s %12s %8s %8s\n' target seconds executions exec/s crashes
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    artifacts=fuzz/artifacts/$t
    regressions=model/tests/fuzz_regressions/$t
    log=fuzz/logs/$t.log
    mkdir -p "$corpus" "$artifacts" "$regressions" fuzz/logs
    cp "$seeds/$t"/* "$corpus"/
    : >"$log"
    start=$(date +%s)
    execs=0
    fuzzed=0
    crashes=0
    # libFuzzer stops at its first crash: record it and go on for the rest of the time.
    while :; do
        left=$((seconds - ($(date +%s) - start)))
        [ "$left" -gt 0 ] || break
        before=$(find "$artifacts" -type f | wc -l)
        cargo fuzz run -s none --fuzz-dir fuzz "$t" "$corpus" -- \
            -max_total_time="$left" -max_len="$max_len" -timeout=10 \
            -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log.run" 2>&1 || true
        cat "$log.run" >>"$log"
        n=$(grep -a 'stat::number_of_executed_units' "$log.run" | tail -1 | awk '{print $2}')
        s=$(grep -a '^Done [0-9]* runs in' "$log.run" | tail -1 | awk '{print $5}')
        rm -f "$log.run"
        execs=$((execs + ${n:-0}))
        fuzzed=$((fuzzed + ${s:-0}))
        after=$(find "$artifacts" -type f | wc -l)
        if [ "$after" -eq "$before" ]; then
            break
        fi
        crashes=$((crashes + after - before))
        for f in "$artifacts"/*; do
            cp -n "$f" "$regressions/$(basename "$f")"
        done
    done
    # Seconds libFuzzer ran (waits for the cargo build lock and restarts excluded).
    printf '%-18s %8d %12d %8d %8d\n' "$t" "$fuzzed" "$execs" $((execs / (fuzzed > 0 ? fuzzed : 1))) "$crashes"
done
echo "logs in fuzz/logs/; crash inputs (if any) copied to model/tests/fuzz_regressions/"
