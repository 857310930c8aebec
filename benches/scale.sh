#!/usr/bin/env bash
# Scaling figures of docs/performance.md: builds a log of N entries through the real write path with
# the load generator, restarts the server, and measures start-up time, reads by index (entries
# with inclusion proof and SET, 64 connections, and the server's CPU time per read), writes
# after the restart, peak resident memory and disk bytes against the canonical bodies' bytes.
# The build signs its entries while it runs (--stream: 10^7 pre-signed entries would not fit in
# memory); the measured writes after the restart are pre-signed.
# With --bulk, the log is built without HTTP instead: the load generator prints the entries and
# `arkivo bulk-load` appends them through the same validation and sequencer in commits of 50,000,
# then `arkivo verify-log` checks the result (how 10^7 and 10^8 logs are built).
# With a DIR, the log is kept there, and a log already built there is measured again without
# being rebuilt (so a long build can run apart from the measurements).
#   benches/scale.sh [--bulk] 1000000 [DIR]
set -euo pipefail
bulk=false
if [[ ${1:-} == --bulk ]]; then
  bulk=true
  shift
fi
n=${1:?usage: benches/scale.sh [--bulk] ENTRIES [DIR]}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arkivo-target}"
cargo build --release --bins --examples --quiet
bin="$CARGO_TARGET_DIR/release"
port=$((4100 + RANDOM % 500))
url="http://127.0.0.1:$port"
if [[ -n ${2:-} ]]; then
  dir=$2
  trap 'kill $(jobs -p) 2>/dev/null' EXIT
else
  dir=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
fi

if [[ ! -d $dir/data ]] && $bulk; then
  "$bin/examples/loadgen" --mode print --count "$n" |
    "$bin/arkivo" bulk-load --data-dir "$dir/data" --hostname "127.0.0.1:$port" -
  "$bin/arkivo" verify-log --data-dir "$dir/data"
elif [[ ! -d $dir/data ]]; then
  "$bin/arkivo" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>/dev/null &
  until curl -s -o /dev/null "$url/readyz"; do sleep 0.05; done
  # The load generator fails (status 1, its reason on stderr) on any transport error.
  build=$("$bin/examples/loadgen" --url "$url" --count "$n" --stream --seconds 1000000 --connections 128)
  echo "build: $build"
  kill -TERM %1
  wait %1 || true
fi

start=$(date +%s.%N)
"$bin/arkivo" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>/dev/null &
until curl -s -o /dev/null "$url/api/v1/log"; do sleep 0.005; done
echo "start-up seconds: $(echo "$(date +%s.%N) - $start" | bc)"
body=$(curl -s "$url/api/v1/log/entries?logIndex=0" |
  python3 -c 'import base64,json,sys; print(len(base64.b64decode(next(iter(json.load(sys.stdin).values()))["body"])))')
echo "canonical body bytes: $body"
# The server's CPU time per read as well: on a machine shared with other work, the rate follows
# the CPU the server gets, the CPU per read much less.
cpu() { awk '{print $14 + $15}' "/proc/$(jobs -p %1)/stat"; }
cpu0=$(cpu)
reads=$("$bin/examples/loadgen" --url "$url" --mode read-index --seconds 8 --connections 64)
cpu1=$(cpu)
echo "reads: $reads"
answered=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$reads")
echo "server CPU per read: $(((cpu1 - cpu0) * 1000000 / $(getconf CLK_TCK) / answered)) us"
# Proof latency without queueing: one connection, one request at a time.
out=$("$bin/examples/loadgen" --url "$url" --mode read-index --seconds 5 --connections 1)
echo "read latency: $out"
out=$("$bin/examples/loadgen" --url "$url" --count 100000 --seconds 1000000 --connections 128)
echo "writes after restart: $out"
grep VmHWM "/proc/$(jobs -p %1)/status"
size=$(curl -s "$url/api/v1/log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["treeSize"])')
kill -TERM %1
wait %1 || true
bytes=$(du -sb "$dir/data/db" | cut -f1)
echo "disk bytes: $bytes for $size entries: $((bytes / size)) per entry"
