#!/usr/bin/env bash
# E-mail intake benchmark: builds the release binary, starts a server with its SMTP listener
# on a fresh store, sends a corpus of realistic mail (mixed charsets, attachments, replies,
# HTML, auto-replies) from concurrent SMTP sessions with `ombuds bench mail`, several times,
# and prints each run plus the median and the server's peak resident memory.
#   scripts/bench-mail.sh                          # SQLite in a temporary directory
#   scripts/bench-mail.sh postgres://postgres@127.0.0.1/bench   # an (empty) PostgreSQL database
# Environment: CLIENTS (32), BENCH_SECONDS (10), RUNS (3), VERIFY_SENDERS (false: the corpus's
# domains are made up and a benchmark machine may have no DNS, so SPF/DKIM/DMARC checks are
# turned off and the script says so; true measures them, with whatever DNS the machine has).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p ombuds
bin=target/release/ombuds
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
db="${1:-sqlite://$tmp/ombuds.db}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(free_port)
smtp=$(free_port)
cat > "$tmp/ombuds.toml" <<TOML
database = "$db"
listen = "127.0.0.1:$http"
log = "warn"
[email]
addresses = ["support@bench.example"]
smtp_listen = "127.0.0.1:$smtp"
hostname = "mx.bench.example"
# the benchmark's senders write far more than a person would
sender_per_hour = 0
# all of them come from this one address
smtp_max_connections_per_ip = 1000
verify_senders = ${VERIFY_SENDERS:-false}
TOML
echo "sender checks (SPF/DKIM/DMARC): verify_senders = ${VERIFY_SENDERS:-false}" >&2
$bin --config "$tmp/ombuds.toml" serve >/dev/null &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done
results=()
for i in $(seq 1 "${RUNS:-3}"); do
  line=$($bin bench mail --smtp "127.0.0.1:$smtp" --to support@bench.example --clients "${CLIENTS:-32}" --seconds "${BENCH_SECONDS:-10}" --seed "$i" --json) || { echo "run $i refused messages: $line"; exit 1; }
  echo "run $i: $line"
  results+=("$line")
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys, statistics
runs = [json.loads(l) for l in sys.stdin]
med = lambda k: statistics.median(r[k] for r in runs)
rate, p50, p99, size = med("messages_per_s"), med("p50_ms"), med("p99_ms"), med("mean_bytes") / 1024
print(f"median of {len(runs)} runs: {rate:.0f} messages/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean message {size:.1f} KB")'
echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}')"
