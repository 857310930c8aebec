#!/usr/bin/env bash
# The soak run of docs/performance.md ("Soak"): durable writes at a steady rate (half
# the measured write capacity by default) for 30 minutes against one server, with a line a minute
# giving that minute's rate, p50/p99 latency and the server's resident memory (and what of it
# RocksDB holds); then
# `arkivo verify-log` over the result. Entries are signed while the run goes on (--stream).
#   benches/soak.sh [RATE] [SECONDS]
set -euo pipefail
rate=${1:-5500}
seconds=${2:-1800}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arkivo-target}"
cargo build --release --bins --examples --quiet
bin="$CARGO_TARGET_DIR/release"
dir=$(mktemp -d)
port=$((4600 + RANDOM % 500))
url="http://127.0.0.1:$port"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

"$bin/arkivo" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>/dev/null &
until curl -s -o /dev/null "$url/api/v1/log"; do sleep 0.05; done
# RocksDB's memory by use, once a minute (arkivo_storage_memory_bytes, in MiB).
while sleep 60; do
  curl -s "$url/metrics" | awk -v t="$(date +%T)" '/^arkivo_storage_memory_bytes/ {
    split($1, a, "\""); m = m sprintf(" %s=%.0f", a[2], $2 / 1048576) } END { print t " rocksdb MiB:" m }'
done &
"$bin/examples/loadgen" --url "$url" --stream --count $((rate * seconds + rate)) --rate "$rate" \
  --seconds "$seconds" --connections 64 --report-every 60 --server-pid "$(jobs -p %1)"
kill %2
kill -TERM %1
wait %1 || true
"$bin/arkivo" verify-log --data-dir "$dir/data"
