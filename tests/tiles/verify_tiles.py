#!/usr/bin/env python3
"""An independent C2SP tlog-tiles client: Python 3 standard library only, sharing no code with
Arkivo. tests/tiles.rs runs it against a real server; it can be run by hand against any log:

    verify_tiles.py URL [--static-ct] [--checkpoint FILE] [--entry INDEX:BASE64_BODY]...
                    [--flip RESOURCE:OFFSET]...

It fetches URL/checkpoint (or reads the checkpoint from FILE, obtained elsewhere) and every tile and entry bundle of that tree size, then checks (spec:
c2sp.org/tlog-tiles, RFC 6962 section 2.1):

1. the root hash computed from the level-0 tiles alone equals the checkpoint's;
2. the root computed lazily from the highest tiles available (as a tile client does, with the
   levels between tile rows rehashed) equals it too;
3. every hash of a level-L tile (L >= 1) is the root of the full level-(L-1) tile below it;
4. every entry of every bundle hashes to the matching level-0 tile hash;
5. for each --entry: the bundle holds exactly that body at that index, and an inclusion proof
   built from the tiles verifies against the checkpoint's root (RFC 9162 section 2.1.3.2).

With --static-ct the log is a c2sp.org/static-ct-api CT log: its entries come as data tiles
(tile/data/<N>) of TileLeaf structures, each hashing as the RFC 6962 section 3.4 MerkleTreeLeaf
of its TimestampedEntry, whose leaf_index extension must be its index; an --entry body is the
TBSCertificate its PreCert holds.

The checkpoint's Ed25519 signature is not checked here (the standard library has no Ed25519);
the Rust test checks it. --flip XORs one byte of a fetched resource (e.g. tile/0/000:40) before
checking, so the caller can see a damaged tile being caught.

Prints "ok: ..." and exits 0, or prints "FAIL: ..." and exits 1.
"""

import argparse
import base64
import hashlib
import sys
import urllib.error
import urllib.request


class Failure(Exception):
    pass


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):
    """RFC 6962 MTH of a list of leaf hashes (the plain recursive definition)."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def index_path(n):
    """The <N> element of tlog-tiles: x001/x234/067."""
    groups = []
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join(["x%03d" % g for g in groups[:-1]] + ["%03d" % groups[-1]])


def resource(kind, n, width):
    path = "tile/%s/%s" % (kind, index_path(n))
    if width != 256:
        path += ".p/%d" % width
    return path


class Log:
    def __init__(self, base, flips):
        self.base = base.rstrip("/")
        self.flips = flips
        self.fetched = {}

    def get(self, path):
        if path not in self.fetched:
            url = "%s/%s" % (self.base, path)
            try:
                with urllib.request.urlopen(url, timeout=30) as res:
                    data = bytearray(res.read())
            except urllib.error.HTTPError as e:
                raise Failure("GET %s: HTTP %d %s" % (url, e.code, e.read()[:200]))
            for offset in self.flips.get(path, []):
                data[offset] ^= 0x01
            self.fetched[path] = bytes(data)
        return self.fetched[path]

    def open_checkpoint(self):
        text = self.get("checkpoint").decode("utf-8")
        body = text.split("\n\n")[0]
        lines = body.split("\n")
        if len(lines) < 3:
            raise Failure("checkpoint has fewer than three lines: %r" % text)
        self.origin = lines[0]
        self.size = int(lines[1])
        self.root = base64.b64decode(lines[2], validate=True)
        if len(self.root) != 32 or str(self.size) != lines[1]:
            raise Failure("malformed checkpoint: %r" % text)

    def width(self, level, n):
        """Width of tile n at level in the checkpoint's tree (0: no such tile)."""
        count = self.size >> (8 * level)
        if (n + 1) * 256 <= count:
            return 256
        if n * 256 < count:
            return count % 256
        return 0

    def tile(self, level, n):
        width = self.width(level, n)
        if width == 0:
            raise Failure("tile %d/%d is not in a tree of size %d" % (level, n, self.size))
        data = self.get(resource(level, n, width))
        if len(data) != 32 * width:
            raise Failure("%s is %d bytes" % (resource(level, n, width), len(data)))
        return [data[i : i + 32] for i in range(0, len(data), 32)]

    def data_tile(self, n):
        """The (MerkleTreeLeaf, TBSCertificate) of each TileLeaf of static-ct-api data tile n."""
        width = self.width(0, n)
        data = self.get(resource("data", n, width))
        entries, at = [], 0

        def take(k):
            nonlocal at
            if at + k > len(data):
                raise Failure("data tile %d is truncated" % n)
            at += k
            return data[at - k : at]

        def vector(k):
            return take(int.from_bytes(take(k), "big"))

        while at < len(data):
            start = at
            take(8)  # timestamp
            if take(2) != b"\x00\x01":
                raise Failure("entry %d of data tile %d is not a precert_entry" % (len(entries), n))
            take(32)  # issuer_key_hash
            tbs = vector(3)
            extensions = vector(2)
            timestamped_entry = data[start:at]
            index = n * 256 + len(entries)
            if extensions != b"\x00\x00\x05" + index.to_bytes(5, "big"):
                raise Failure("entry %d does not carry leaf_index %d" % (index, index))
            vector(3)  # pre_certificate
            if len(vector(2)) % 32:
                raise Failure("entry %d has a chain of partial fingerprints" % index)
            entries.append((b"\x00\x00" + timestamped_entry, tbs))
        if len(entries) != width:
            raise Failure("data tile %d has %d entries, not %d" % (n, len(entries), width))
        return entries

    def bundle(self, n):
        width = self.width(0, n)
        data = self.get(resource("entries", n, width))
        entries, at = [], 0
        while at < len(data):
            if at + 2 > len(data):
                raise Failure("bundle %d is truncated" % n)
            length = int.from_bytes(data[at : at + 2], "big")
            entry = data[at + 2 : at + 2 + length]
            if len(entry) != length:
                raise Failure("bundle %d is truncated" % n)
            entries.append(entry)
            at += 2 + length
        if len(entries) != width:
            raise Failure("bundle %d has %d entries, not %d" % (n, len(entries), width))
        return entries

    def node(self, height, x):
        """Hash of the complete node at (height, x), from the tile row at or below it."""
        level, rest = divmod(height, 8)
        first = x << rest
        hashes = self.tile(level, first // 256)[first % 256 : first % 256 + (1 << rest)]
        if len(hashes) != 1 << rest:
            raise Failure("node (%d, %d) is past its tile" % (height, x))
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def range_hash(self, lo, hi):
        """MTH of records [lo, hi), from whole nodes where the range is one."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self.node(n.bit_length() - 1, lo // n)
        k = 1
        while k * 2 < n:
            k *= 2
        return node_hash(self.range_hash(lo, lo + k), self.range_hash(lo + k, hi))

    def inclusion_path(self, m, lo, hi):
        """RFC 6962 PATH(m, D[lo:hi])."""
        n = hi - lo
        if n == 1:
            return []
        k = 1
        while k * 2 < n:
            k *= 2
        if m - lo < k:
            return self.inclusion_path(m, lo, lo + k) + [self.range_hash(lo + k, hi)]
        return self.inclusion_path(m, lo + k, hi) + [self.range_hash(lo, lo + k)]


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check(log, wanted, static_ct):
    log.open_checkpoint()
    size = log.size
    if size == 0:
        if log.root != hashlib.sha256(b"").digest():
            raise Failure("the empty tree's root is wrong")
        return "tree size 0"

    leaves = [h for n in range((size + 255) // 256) for h in log.tile(0, n)]
    if mth(leaves) != log.root:
        raise Failure("the root from the level-0 tiles is not the checkpoint's root")
    if log.range_hash(0, size) != log.root:
        raise Failure("the root from the tiles is not the checkpoint's root")

    level = 1
    while size >> (8 * level):
        count = size >> (8 * level)
        for n in range((count + 255) // 256):
            for i, h in enumerate(log.tile(level, n)):
                if h != mth(log.tile(level - 1, n * 256 + i)):
                    raise Failure("hash %d of tile %d/%d is not its full tile's root" % (i, level, n))
        level += 1

    leaves, bodies = [], []
    for n in range((size + 255) // 256):
        tile = log.tile(0, n)
        entries = log.data_tile(n) if static_ct else [(e, e) for e in log.bundle(n)]
        for i, (leaf, body) in enumerate(entries):
            if leaf_hash(leaf) != tile[i]:
                raise Failure("entry %d of bundle %d does not hash to tile 0/%d" % (i, n, n))
            leaves.append(leaf)
            bodies.append(body)

    for index, body in wanted:
        if index >= size or bodies[index] != body:
            raise Failure("entry %d is not the given body" % index)
        proof = log.inclusion_path(index, 0, size)
        if not verify_inclusion(index, size, leaf_hash(leaves[index]), proof, log.root):
            raise Failure("the inclusion proof of entry %d does not verify" % index)

    return "origin %s, tree size %d, root %s, %d tiles and bundles, %d entries included" % (
        log.origin,
        size,
        base64.b64encode(log.root).decode(),
        len(log.fetched) - 1,
        len(wanted),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--entry", action="append", default=[], metavar="INDEX:BASE64_BODY")
    ap.add_argument("--flip", action="append", default=[], metavar="RESOURCE:OFFSET")
    ap.add_argument("--static-ct", action="store_true")
    ap.add_argument("--checkpoint", metavar="FILE")
    args = ap.parse_args()
    wanted = []
    for e in args.entry:
        index, body = e.split(":", 1)
        wanted.append((int(index), base64.b64decode(body, validate=True)))
    flips = {}
    for f in args.flip:
        path, offset = f.rsplit(":", 1)
        flips.setdefault(path, []).append(int(offset))
    log = Log(args.url, flips)
    if args.checkpoint:
        with open(args.checkpoint, "rb") as f:
            log.fetched["checkpoint"] = f.read()
    try:
        print("ok: " + check(log, wanted, args.static_ct))
    except (Failure, ValueError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)


if __name__ == "__main__":
    main()
