#!/usr/bin/env bash
# Runs every fuzz target in fuzz/fuzz_targets (client frames, multipart uploads, tokens, each
# document parser) with libFuzzer for a set time each, and prints per target the executions,
# their speed and how it ended. Seeds come from fuzz/seeds (the tests' documents and frames);
# the corpus grows in fuzz/corpus, crashes land in fuzz/artifacts. Not part of the test
# command: fuzzing is long. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail

cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="${FRONTDESK_FUZZ_TARGET_DIR:-$HOME/.cache/frontdesk/fuzz-target}"
# cargo fuzz passes flags only nightly compilers take; this lets the one stable toolchain
# here accept them.
export RUSTC_BOOTSTRAP=1

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(client_frame multipart token config markdown html csv json text pdf privacy)
fi

cd fuzz
# No sanitizer (it would instrument candle and tantivy too, for little more here: the code is
# safe Rust); debug assertions on, so overflows panic. libFuzzer still stops at a panic, a run
# over 1 s or a process over 256 MB.
flags=(--sanitizer none --debug-assertions --release)
cargo fuzz build "${flags[@]}" >&2

printf '%-14s %12s %10s %8s  %s\n' target executions "exec/s" corpus outcome
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  status=0
  cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=1 -rss_limit_mb=256 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  # -a: the log may hold an input's bytes; a missing figure is reported as `?`.
  runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  speed=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  files=$(find "corpus/$target" -type f | wc -l)
  if [[ $status -eq 0 ]]; then
    outcome="no crash, no timeout over 1 s, no process over 256 MB"
  else
    outcome="FAILED ($(grep -am1 -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+' "$log" || echo "exit $status")); see fuzz/artifacts/$target"
    cp "$log" "artifacts-$target.log" 2>/dev/null || true
  fi
  printf '%-14s %12s %10s %8s  %s\n' "$target" "${runs:-?}" "${speed:-?}" "$files" "$outcome"
  rm -f "$log"
done
