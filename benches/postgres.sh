#!/usr/bin/env bash
# The PostgreSQL figures of docs/performance.md: durable writes/s and latency through one
# `arkivo serve --storage postgres://…` on three PostgreSQL nodes on this machine (a primary and
# two standbys, commits acknowledged by one of them), with the load generator at max_batch 256
# and 1,024 (256 and 512 connections: a batch fills only with as many requests in flight, and
# one client address may open 512). The nodes and the server are started as the
# tests start them (tests/common/pg.rs, tests/postgres_chaos.rs `write_throughput`) and removed
# afterwards. Each run also prints the CPU per write of the server (its /proc/PID/stat) and of all
# processes of the three nodes, and the primary's WAL bytes per entry (pg_current_wal_lsn()
# deltas). A transport error in either run (none is expected: nothing is killed) fails the script.
#   benches/postgres.sh [SECONDS]
# The takeover times after kills come from the chaos test:
#   cargo test --release -p arkivo --test postgres_chaos -- --nocapture
set -euo pipefail
seconds=${1:-10}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arkivo-target}"
cargo build --release --bins --examples --quiet
ARKIVO_BENCH_SECONDS="$seconds" cargo test --release --quiet -p arkivo --test postgres_chaos -- \
  --ignored --exact write_throughput --nocapture
