#!/usr/bin/env bash
# Installs what the deployment and browser tests drive, when it is missing: nginx (the
# WebSocket-aware proxy of the failover test), docker-compose (checks the compose file; no
# Docker engine is needed), Debian's Chromium, and playwright-core (which drives that Chromium;
# no browser download) from the npm registry into tests/browser/node_modules.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v chromium >/dev/null || missing+=(chromium)
bash "$here/apt-install.sh" "${missing[@]}"

if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  echo "installing playwright-core..." >&2
  (cd tests/browser && npm ci --silent --no-audit --no-fund) >&2
fi
