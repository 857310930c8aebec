#!/bin/sh
# Points cosign (v2.2+, v3) at the log's TUF repository (docs/tuf.md): `cosign initialize` with
# the mirror at <log URL>/tuf and a root version of it as the trusted root. Afterwards
# `cosign sign` / `cosign verify` read the log's trusted_root.json (and cosign v3 its
# signing_config.v0.2.json) from the mirror, refreshing them as the log rotates keys.
#
#   cosign-initialize.sh LOG_URL [ROOT_FILE]
#
# ROOT_FILE: the repository's 1.root.json (or a later version), taken out of band and checked.
# Without it the script fetches LOG_URL/tuf/1.root.json and prints its SHA-256, to compare with
# the one the log's operator published: trust on first use.
set -eu

url=${1:?usage: cosign-initialize.sh LOG_URL [ROOT_FILE]}
mirror="${url%/}/tuf"
root=${2:-}

# The mirror must answer before cosign is pointed at it.
curl -fsS -o /dev/null "$mirror/timestamp.json"

if [ -z "$root" ]; then
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    root="$dir/1.root.json"
    curl -fsS -o "$root" "$mirror/1.root.json"
    echo "fetched $mirror/1.root.json, SHA-256 $(sha256sum "$root" | cut -d' ' -f1):" \
        "compare it with the one published out of band" >&2
fi

cosign initialize --mirror "$mirror" --root "$root"
