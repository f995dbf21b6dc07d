#!/usr/bin/env bash
# Live-chat benchmark: builds the release binary, starts a server on a fresh store, opens
# CHATS chats (each a player's WebSocket, accepted by one of AGENTS agents' consoles), has every
# player write RATE messages a second, and measures player -> agent latency (the message is
# stored on the way), lost messages and the server's memory per open chat. Several runs, each
# on a fresh server, then the medians.
#   scripts/bench-chat.sh                      # SQLite in a temporary directory
#   scripts/bench-chat.sh postgres://postgres@127.0.0.1/bench   # an (empty) PostgreSQL database
# Environment: CHATS (1000), AGENTS (20), RATE (0.2), BENCH_SECONDS (20), RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p ombuds
bin=target/release/ombuds
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export OMBUDS_LOG=warn
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
results=()
for i in $(seq 1 "${RUNS:-3}"); do
  tmp=$(mktemp -d)
  db="${1:-sqlite://$tmp/ombuds.db}"
  port=$(free_port)
  token=$($bin --database "$db" token create --name "bench-$i" --scope admin | tail -n 1)
  $bin --database "$db" serve --listen "127.0.0.1:$port" >/dev/null &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  line=$($bin bench chat --url "http://127.0.0.1:$port" --token "$token" --chats "${CHATS:-1000}" --agents "${AGENTS:-20}" \
    --rate "${RATE:-0.2}" --seconds "${BENCH_SECONDS:-20}" --server-pid "$pid" --json)
  echo "run $i: $line"
  results+=("$line")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys, statistics
runs = [json.loads(l) for l in sys.stdin]
med = lambda k: statistics.median(r[k] for r in runs)
chats, lost = runs[0]["chats"], sum(r["lost"] for r in runs)
print("median of %d runs: %d open chats, %.0f messages/s, player -> agent p50 %.2f ms, p99 %.2f ms, max %.2f ms; ack p99 %.2f ms; lost %d; %.1f KiB server memory per open chat"
      % (len(runs), chats, med("messages_per_s"), med("p50_ms"), med("p99_ms"), med("max_ms"), med("ack_p99_ms"), lost, med("kb_per_chat")))'
