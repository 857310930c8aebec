#!/usr/bin/env bash
# Reproduces the load figures of docs/performance.md: write throughput and
# latency against batch size and batch age, the same-run ratio to the machine's ECDSA P-256
# verification ceiling, and read throughput. Each line is the load generator's JSON report; a
# run with a transport error fails (status 1, the reason on stderr), and the script with it.
#   benches/load-matrix.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arkivo-target}"
target="$CARGO_TARGET_DIR"
cargo build --release --bins --examples --quiet
loadgen="$target/release/examples/loadgen"

for batch in 64 256 1024; do
  for age in 0 1 5; do
    "$loadgen" --seconds 8 --connections 64 --max-batch "$batch" --max-batch-age-ms "$age"
  done
done
"$loadgen" --seconds 10 --connections 128 --ceiling
"$loadgen" --seconds 10 --connections 32
for mode in read-index read-proof read-info; do
  "$loadgen" --mode "$mode" --seconds 8 --connections 64 --fill 10000
done
