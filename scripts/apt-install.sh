#!/usr/bin/env bash
# Installs the given Debian packages with apt-get, quietly; prints apt's output only when it
# fails. Used by the ensure-* scripts for what a fresh machine lacks. Waits up to five minutes
# for another apt-get to finish (a test run and a benchmark build may install at once).
set -euo pipefail

(($#)) || exit 0
if ! command -v apt-get >/dev/null; then
  echo "error: $* missing and apt-get is not available; install them first" >&2
  exit 1
fi
echo "installing $*..." >&2
log=$(mktemp)
wait_lock=(-o DPkg::Lock::Timeout=300)
if ! (apt-get "${wait_lock[@]}" update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get "${wait_lock[@]}" install -y -qq --no-install-recommends "$@") >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
