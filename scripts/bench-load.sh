#!/usr/bin/env bash
# Load test: starts `frontdesk serve` (embedded store, the demo knowledge base, answer mode
# auto unless FRONTDESK_ANSWER_MODE says otherwise) on a free port, then runs the load generator:
# 64 visitors asking 4 questions each, three rounds, then 10,000 idle connections.
# Arguments go to the load generator (for example --visitors 16 --idle 0).
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
bash scripts/fetch-model.sh
cargo build -q --workspace --bins --tests
ulimit -n "$(ulimit -Hn)"

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$data/frontdesk.toml" <<TOML
sockets_per_ip_burst = 20000
messages_per_conversation_burst = 100
TOML
"$CARGO_TARGET_DIR/debug/frontdesk" serve --listen "127.0.0.1:$port" --data-dir "$data" \
  --kb knowledge-base --config "$data/frontdesk.toml" 2> "$data/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
"$CARGO_TARGET_DIR/debug/loadgen" --addr "127.0.0.1:$port" --pid "$server" \
  --visitors 64 --questions 4 --rounds 3 --idle 10000 "$@"
