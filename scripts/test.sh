#!/usr/bin/env bash
# Runs every test: the fast check tier (scripts/check.sh), then makes sure Redis is up, installs the tools the deployment and browser tests
# drive (nginx, docker-compose, Chromium, playwright-core), builds (scripts/build.sh: the
# models, the build's system packages, every target), then `cargo test` over the whole
# workspace (unit tests, the store conformance suite on both backends, the engines with the
# real model, and the end-to-end tests). `.ci/run` calls this.
set -euo pipefail

cd "$(dirname "$0")/.."
# Compiled dependencies live outside the clone so every clone and CI run reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
export FRONTDESK_TEST_REDIS_URL="${FRONTDESK_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

bash scripts/ensure-redis.sh
bash scripts/ensure-tools.sh
# The official openai Python client (the OpenAI-compatible API's test) and schemathesis (the
# API contract's test), in a virtual environment kept beside the build cache.
venv="${FRONTDESK_TEST_VENV:-$HOME/.cache/frontdesk/venv}"
if ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "openai==3.57.0"
fi
if [[ ! -x "$venv/bin/st" ]]; then
  "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi
export FRONTDESK_TEST_PYTHON="$venv/bin/python"

started=$(date +%s)
# The fast tier first (format, clippy, unit tests on the doubles): a lint fails CI in minutes.
bash scripts/check.sh
# The models, then every binary and test target in one feature set (the failover test runs
# the `frontdesk` binary itself), so `cargo test` below reuses every artefact.
bash scripts/build.sh
# A second model, with another chat template and vocabulary, for the engine tests.
bash scripts/fetch-model.sh --model gemma3-270m
cargo test --workspace --no-fail-fast "$@"
echo "tests finished in $(( $(date +%s) - started )) s"
