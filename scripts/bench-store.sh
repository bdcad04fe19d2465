#!/usr/bin/env bash
# Store benchmark: append and load latency (median, p99) and appends per second with 32
# clients, for the embedded store and Redis, with redis-benchmark on the same Redis as the
# baseline (its keys go to database 15, flushed afterwards). Prints one table.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
bash scripts/ensure-redis.sh
cargo run -q -p frontdesk-store --example store_bench -- "${1:-redis://127.0.0.1:6379}"
