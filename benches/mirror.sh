#!/usr/bin/env bash
# Mirror figures of docs/performance.md: builds a log of N entries through the real write path
# with the load generator, then starts `arkivo mirror` on an empty data directory and times its
# catch-up (entries/s, from its start to its checkpoint reaching N); then writes at RATE entries/s
# for SECONDS while sampling the lag (the log's tree size minus the mirror's, once a second);
# then the Rekor v1 read rate (entries by index, with inclusion proofs) from the mirror and from
# the log, 10 s each. The mirror runs with --log-key, so it also copies each entry's integrated
# time and SET (read from the log's v1 API) and the log's v1 checkpoints.
#   benches/mirror.sh [N=200000] [RATE=1000] [SECONDS=30]
set -euo pipefail
n=${1:-200000}
rate=${2:-1000}
seconds=${3:-30}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arkivo-target}"
cargo build --release --bins --examples --quiet
bin="$CARGO_TARGET_DIR/release"
port=$((4100 + RANDOM % 500))
mport=$((port + 500))
url="http://127.0.0.1:$port"
murl="http://127.0.0.1:$mport"
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$dir"' EXIT

"$bin/arkivo" serve --data-dir "$dir/log" --listen "127.0.0.1:$port" 2>"$dir/log.err" &
until curl -s -o /dev/null "$url/readyz"; do sleep 0.05; done
vkey=$(sed -n 's/^C2SP checkpoint verifier key (Ed25519; \/checkpoint): //p' "$dir/log.err")
# The load generator fails (status 1, its reason on stderr) on any transport error.
build=$("$bin/examples/loadgen" --url "$url" --count "$n" --stream --seconds 1000000 --connections 128)
echo "build: $build"
size() { curl -s "$1/checkpoint" | sed -n 2p; }
echo "log size: $(size "$url")"

curl -s "$url/api/v1/log/publicKey" >"$dir/log-key.pem"
start=$(date +%s.%N)
"$bin/arkivo" mirror --log "$url" --vkey "$vkey" --data-dir "$dir/mirror" \
  --listen "127.0.0.1:$mport" --poll-ms 100 --log-key "$dir/log-key.pem" 2>"$dir/mirror.err" &
until [[ "$(size "$murl" 2>/dev/null)" == "$(size "$url")" ]]; do sleep 0.05; done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
echo "catch-up: $n entries in $elapsed s: $(echo "$n / $elapsed" | bc) entries/s"
echo "mirror disk bytes: $(du -sb "$dir/mirror" | cut -f1), log disk bytes: $(du -sb "$dir/log" | cut -f1)"

"$bin/examples/loadgen" --url "$url" --stream --rate "$rate" --seconds "$seconds" \
  --count $((rate * seconds)) --connections 64 >"$dir/load.out" &
load=$!
samples=()
while kill -0 $load 2>/dev/null; do
  l=$(size "$url"); m=$(size "$murl")
  [[ -n $l && -n $m ]] && samples+=($((l - m)))
  sleep 1
done
wait $load
echo "load: $(cat "$dir/load.out")"
printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {
  printf "lag (entries, sampled each second, %d samples): median %d, p95 %d, max %d\n",
    NR, a[int((NR+1)/2)], a[int(NR*0.95+0.5)], a[NR]}'
for where in "$murl" "$url"; do
  reads=$("$bin/examples/loadgen" --url "$where" --mode read-index --seconds 10 --connections 32)
  echo "v1 reads by index from $([[ $where == "$murl" ]] && echo mirror || echo log): $reads"
done
