#!/usr/bin/env bash
# Runs every test: fetches the model if absent, makes sure Redis is up, then `cargo test`
# over the whole workspace (unit tests, the store conformance suite on both backends, and the
# end-to-end tests with the real model). `.ci/run` calls this.
set -euo pipefail

cd "$(dirname "$0")/.."
# Compiled dependencies live outside the clone so every clone and CI run reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
export FRONTDESK_TEST_REDIS_URL="${FRONTDESK_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

bash scripts/fetch-model.sh
bash scripts/ensure-redis.sh

started=$(date +%s)
cargo test --workspace --no-fail-fast "$@"
echo "tests finished in $(( $(date +%s) - started )) s"
