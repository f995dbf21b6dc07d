#!/usr/bin/env bash
# Upload memory benchmark (issue 16, item 7): the server's resident memory while 20 players'
# browsers post maximum-size replies at once to /track/{ref}/reply, and while 20 strangers
# without a pass post the same bodies. Runs a separate server process and drives it with curl
# over HTTP, so the figure is the server's own (VmHWM, VmRSS from /proc).
#   scripts/bench-uploads.sh [BINARY]     # default: builds and uses target/release/ombuds
# Environment: UPLOADS (20), FILE_MB (9: three files a reply, under the 30 MiB request limit).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p ombuds
  bin=${CARGO_TARGET_DIR:-target}/release/ombuds
fi
n=${UPLOADS:-20}
mb=${FILE_MB:-9}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OMBUDS_LOG=warn "$bin" --database "sqlite://$tmp/ombuds.db" serve --listen "127.0.0.1:$port" >"$tmp/serve.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
mem() { awk '/VmHWM|VmRSS/ {printf "%s %d MB  ", $1, $2/1024}' "/proc/$pid/status"; echo; }

# A player files on the portal: the browser keeps a pass for the complaint.
jar="$tmp/jar"
curl -s -c "$jar" -b "$jar" "$base/portal?lang=en" -o /dev/null
csrf=$(awk '$6 == "ombuds_csrf" {print $7}' "$jar")
loc=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$base/portal" \
  --data-urlencode "csrf=$csrf" --data-urlencode "name=Bench" --data-urlencode "email=bench@example.com" \
  --data-urlencode "subject=Upload" --data-urlencode "description=Screenshots follow")
ref=${loc##*ref=}
[ -n "$ref" ] || { echo "the portal did not file a complaint"; exit 1; }
for i in 1 2 3; do head -c $((mb * 1024 * 1024)) /dev/zero | tr '\0' 'a' > "$tmp/f$i.txt"; done
echo "complaint $ref; $n concurrent replies of 3 x $mb MB"
echo -n "idle:            "; mem

post() { # post JAR: one maximum-size reply; prints the status
  curl -s -o /dev/null -w '%{http_code}\n' -b "$1" "$base/track/$ref/reply" \
    -F "csrf=$csrf" -F "text=Screenshots" -F "files=@$tmp/f1.txt" -F "files=@$tmp/f2.txt" -F "files=@$tmp/f3.txt" || echo "000"
}
empty="$tmp/empty"; printf '# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tombuds_csrf\t%s\n' "$csrf" > "$empty"
for _ in $(seq 1 "$n"); do post "$empty" >> "$tmp/strangers" & done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
echo -n "$n strangers:     "; mem
echo "  statuses: $(sort "$tmp/strangers" | uniq -c | tr '\n' ' ')"
for _ in $(seq 1 "$n"); do post "$jar" >> "$tmp/players" & done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
echo -n "$n players:       "; mem
echo "  statuses: $(sort "$tmp/players" | uniq -c | tr '\n' ' ')"
