#!/usr/bin/env bash
# Makes sure a Redis answers at FRONTDESK_TEST_REDIS_URL's default, 127.0.0.1:6379: starts
# redis-server when it is installed but not running, and installs it from Debian's packages
# when it is missing and apt-get is available. The fault tests also start redis-server
# themselves, so the binary must be there even when some Redis already answers.
set -euo pipefail

ping() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && ping; then
  exit 0
fi
if ! command -v redis-server >/dev/null; then
  bash "$(dirname "$0")/apt-install.sh" redis-server
fi
echo "starting redis-server on 127.0.0.1:6379..." >&2
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2
for _ in $(seq 1 50); do
  ping && exit 0
  sleep 0.1
done
echo "error: redis-server did not start" >&2
exit 1
