#!/usr/bin/env bash
# Fetches the model if absent, builds, and serves the demo on http://127.0.0.1:8080/
# (embedded store in ./data, the demo knowledge base indexed at start). Extra arguments go to
# `frontdesk serve`, for example `--listen 0.0.0.0:8080` or `--store redis`.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
bash scripts/build.sh
# Development keys for the consoles (/console, /admin); production keys belong, hashed, in the
# config file (docs/api.md).
export FRONTDESK_AGENT_KEY="${FRONTDESK_AGENT_KEY:-dev-agent-key-0123456789}"
export FRONTDESK_ADMIN_KEY="${FRONTDESK_ADMIN_KEY:-dev-admin-key-0123456789}"
exec "$CARGO_TARGET_DIR/debug/frontdesk" serve --kb knowledge-base "$@"
