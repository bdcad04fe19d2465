#!/usr/bin/env bash
# The fast check tier: formatting, clippy on every target with warnings as errors, and the unit
# tests of core and the gateway on the test doubles (the gateway's handlers through its router,
# no model, no sockets). A couple of minutes once dependencies are built; scripts/test.sh runs
# it first, so CI fails on a lint before the long tests start.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"

started=$(date +%s)
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --quiet -p frontdesk-core -p frontdesk-gateway
echo "checks passed in $(( $(date +%s) - started )) s"
