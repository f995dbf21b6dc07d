#!/usr/bin/env bash
# Intake benchmark: builds the release binary, starts a server on a fresh store, runs
# `ombuds bench intake` several times and prints each run plus the median, and the server's
# peak resident memory.
#   scripts/bench-intake.sh                      # SQLite in a temporary directory
#   scripts/bench-intake.sh postgres://postgres@127.0.0.1/bench   # an (empty) PostgreSQL database
# Environment: CLIENTS (32), BENCH_SECONDS (10), RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p ombuds
bin=target/release/ombuds
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
db="${1:-sqlite://$tmp/ombuds.db}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export OMBUDS_LOG=warn
token=$($bin --database "$db" token create --name bench --scope complaints:write --scope complaints:read | tail -n 1)
$bin --database "$db" serve --listen "127.0.0.1:$port" >/dev/null &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
results=()
for i in $(seq 1 "${RUNS:-3}"); do
  line=$($bin bench intake --url "http://127.0.0.1:$port" --token "$token" --clients "${CLIENTS:-32}" --seconds "${BENCH_SECONDS:-10}" --json)
  echo "run $i: $line"
  results+=("$line")
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys, statistics
runs = [json.loads(l) for l in sys.stdin]
med = lambda k: statistics.median(r[k] for r in runs)
rate, p50, p99 = med("registrations_per_s"), med("p50_ms"), med("p99_ms")
print(f"median of {len(runs)} runs: {rate:.0f} registrations/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")'
echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}')"
