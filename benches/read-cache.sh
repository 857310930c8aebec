#!/usr/bin/env bash
# The caching read tier of docs/performance.md: a log of N entries (default 100,000) built through
# the real write path, nginx in front of it with deploy/nginx.conf (its own config, cache and port
# under a temporary directory, as the current user), and 64 connections reading uniformly
# spread full level-0 hash tiles for 8 s — from the log directly, then through nginx once its
# cache holds them all. Also the entry reads by index (with proof and SET) through nginx, which
# it passes through uncached.
#   benches/read-cache.sh [ENTRIES]
set -euo pipefail
n=${1:-100000}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arkivo-target}"
cargo build --release --bins --examples --quiet
bin="$CARGO_TARGET_DIR/release"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$dir"' EXIT
port=$((4600 + RANDOM % 400))
front_port=$((port + 1000))
url="http://127.0.0.1:$port"
front="http://127.0.0.1:$front_port"

"$bin/arkivo" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>/dev/null &
until curl -s -o /dev/null "$url/readyz"; do sleep 0.05; done
# The load generator fails (status 1, its reason on stderr) on any transport error.
build=$("$bin/examples/loadgen" --url "$url" --count "$n" --seconds 1000000 --connections 128)
echo "build: $build"

sed -e "s#/var/cache/nginx/arkivo#$dir/cache#" -e "s#server 127.0.0.1:3000;#server 127.0.0.1:$port;#" \
  -e "s#listen 8080;#listen 127.0.0.1:$front_port;#" deploy/nginx.conf >"$dir/arkivo.conf"
cat >"$dir/nginx.conf" <<CONF
daemon off;
user $(id -un);
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  include $dir/arkivo.conf;
}
CONF
"$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
until curl -sf -o /dev/null "$front/api/v1/log"; do sleep 0.05; done

tiles="$bin/examples/loadgen --mode read-tile --connections 64"
out=$($tiles --url "$url" --seconds 8)
echo "tiles from the log: $out"
$tiles --url "$front" --seconds 8 >/dev/null # fills the cache
out=$($tiles --url "$front" --seconds 8)
echo "tiles through nginx, cached: $out"
out=$("$bin/examples/loadgen" --url "$front" --mode read-index --seconds 8 --connections 64)
echo "entries by index through nginx (not cached): $out"
