#!/usr/bin/env bash
# Installs what the deployment and browser tests drive, when it is missing: nginx (the
# WebSocket-aware proxy of the failover test), docker-compose (checks the compose file; no
# Docker engine is needed), Debian's Chromium, and playwright-core (which drives that Chromium;
# no browser download) from the npm registry into tests/browser/node_modules.
set -euo pipefail

cd "$(dirname "$0")/.."

missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v chromium >/dev/null || missing+=(chromium)
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "error: ${missing[*]} missing and apt-get is not available" >&2
    exit 1
  fi
  echo "installing ${missing[*]}..." >&2
  log=$(mktemp)
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  rm -f "$log"
fi

if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  echo "installing playwright-core..." >&2
  (cd tests/browser && npm ci --silent --no-audit --no-fund) >&2
fi
