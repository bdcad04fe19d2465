#!/usr/bin/env bash
# Fetches the model if absent, builds, and serves the demo on http://127.0.0.1:8080/
# (embedded store in ./data, the demo knowledge base indexed at start). Extra arguments go to
# `frontdesk serve`, for example `--listen 0.0.0.0:8080` or `--store redis`.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
bash scripts/fetch-model.sh
exec cargo run --bin frontdesk -- serve --kb knowledge-base "$@"
