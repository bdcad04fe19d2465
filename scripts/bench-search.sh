#!/usr/bin/env bash
# Indexing throughput and search latency on 10,000 generated FAQ entries and 1,000 queries,
# by keywords only and with the embedding model: `frontdesk bench search`.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
bash scripts/build.sh
"$CARGO_TARGET_DIR/debug/frontdesk" bench search "$@"
