//! RFC 6962 Merkle trees: hashing, the stored-hash layout, the right border, and inclusion and
//! consistency proofs (RFC 6962 §2.1 / RFC 9162 §2.1; `docs/tiles-checkpoints-witnesses.md` §5).
//!
//! What this module is:
//! - the hash functions of RFC 6962 §2.1 ([`record_hash`], [`node_hash`], [`empty_root`]);
//! - the *stored hash index* layout of Go's `golang.org/x/mod/sumdb/tlog`: every complete
//!   subtree hash gets one `u64` slot, in the order in which appends complete them, so a store
//!   keeps about two hashes per record and never rewrites one ([`stored_hash_index`]);
//! - the single writer's in-memory right border ([`RightBorder`], spec §5.6), which turns an
//!   append into exactly the hashes a store must persist;
//! - proof generation over a [`HashReader`] (one `read_hashes` call of O(log n) indexes per
//!   proof or root) and proof verification, with the semantics of `transparency-dev/merkle`
//!   that the shared test vectors pin down.
//!
//! What it is not: no I/O, no async, no storage engine, no tile paths or tile encoding, no
//! checkpoints or signatures. Bytes in, values out; every input is bounds-checked, so nothing
//! here panics on bad sizes or indexes (a [`HashReader`] that breaks its contract is caught by
//! a `debug_assert!` in debug builds and by an error in release builds).
//!
//! The layout and function names follow Go's `sumdb/tlog` (`tlog.go`) and cloudflare/azul's
//! `tlog_core`; the code is our own.

use std::fmt;

use sha2::{Digest, Sha256};

/// Size in bytes of a SHA-256 hash, the only hash RFC 6962 logs use here.
pub const HASH_SIZE: usize = 32;

/// Largest tree size the storage-facing functions accept: 2^62 records.
///
/// Arithmetic: a tree of `n` records has `2n - popcount(n)` stored hashes ([`stored_hash_count`]),
/// so every stored-hash index of a tree of at most 2^63 records fits in a `u64`; 2^62 leaves a
/// factor of two of headroom, and no log will ever hold 4.6 * 10^18 entries.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// A SHA-256 hash: a leaf ("record") hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    /// The raw 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Lowercase hex, the form Rekor's JSON API uses. Through a fixed buffer: `hex::encode`
    /// builds its string a `char` at a time, which cost 2% of a write's CPU and 7% of a read's
    /// by index (an answer carries about twenty hashes in hex).
    #[must_use]
    pub fn to_hex(&self) -> String {
        let mut out = [0u8; 2 * HASH_SIZE];
        hex::encode_to_slice(self.0, &mut out).expect("the buffer holds two digits a byte");
        std::str::from_utf8(&out)
            .expect("hex digits are ASCII")
            .to_owned()
    }

    /// The hash held in `b`, or `None` unless `b` is exactly [`HASH_SIZE`] bytes long.
    #[must_use]
    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        <[u8; HASH_SIZE]>::try_from(b).ok().map(Hash)
    }

    /// Parses exactly 64 hex digits, in either case; anything else is `None`.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Hash> {
        let mut out = [0u8; HASH_SIZE];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Hash(out))
    }
}

/// Prints lowercase hex, so that test failures compare with Rekor's JSON at a glance.
impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Lowercase hex, like [`Hash::to_hex`].
impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Everything that can go wrong in this module. Messages are lowercase and name the offending
/// sizes and indexes; none of them carries secret material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A leaf index at or past the end of the tree.
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof asked "backwards".
    #[error("old size {old} is greater than new size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    /// A consistency proof from the empty tree: every tree extends it, so such a proof proves
    /// nothing, and `transparency-dev/merkle` (hence the shared vectors) rejects it.
    #[error("old size 0: a consistency proof from the empty tree is meaningless")]
    EmptyOldTree,
    /// A tree size above [`MAX_TREE_SIZE`], whose stored-hash indexes would not fit a `u64`.
    #[error("tree size {0} is above the maximum {max}", max = MAX_TREE_SIZE)]
    TreeTooLarge(u64),
    /// A proof with more or fewer hashes than the sizes and index call for.
    #[error("wrong proof size {got}, expected {want}")]
    WrongProofSize { got: usize, want: usize },
    /// The proof is well-formed but does not lead to the given root(s).
    #[error("root mismatch")]
    RootMismatch,
    /// [`RightBorder::from_stored`] was given the wrong number of hashes.
    #[error("right border of tree size {size} needs {want} hashes, got {got}")]
    WrongBorderSize { size: u64, want: usize, got: usize },
    /// A range that is not a subtree of the tree (draft-ietf-plants-merkle-tree-certs-02 §4.1):
    /// `start` not a multiple of `BIT_CEIL(end - start)`, or past the tree's end.
    #[error("[{start}, {end}) is not a subtree of the tree of size {size}")]
    InvalidSubtree { start: u64, end: u64, size: u64 },
    /// A [`HashReader`] broke its contract (release builds; debug builds assert instead).
    #[error("hash reader returned {got} hashes for {want} indexes")]
    WrongHashCount { want: usize, got: usize },
    /// A [`HashReader`] failed; the string is its own description of the failure.
    #[error("storage: {0}")]
    Storage(String),
}

/// `MTH({})`: the root of the empty tree, SHA-256 of the empty string (RFC 6962 §2.1).
#[must_use]
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The leaf hash of a record, `SHA-256(0x00 || data)` (RFC 6962 §2.1, spec §5.1). The 0x00
/// prefix keeps a leaf from ever being taken for an interior node (second-preimage defence).
#[must_use]
pub fn record_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// The hash of an interior node, `SHA-256(0x01 || left || right)` (RFC 6962 §2.1, spec §5.1).
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

// ---------------------------------------------------------------------------------------------
// Stored hash layout
// ---------------------------------------------------------------------------------------------

/// Where the hash of the complete subtree `(level, n)`, covering records
/// `[n * 2^level, (n + 1) * 2^level)`, is stored.
///
/// The layout is Go `sumdb/tlog`'s (a post-order numbering, as in Crosby–Wallach): hashes are
/// numbered in the order appends complete them. Appending record `r` stores its leaf hash and
/// then one new parent per trailing one bit of `r`, so the subtree ending at record
/// `last = (n + 1) * 2^level - 1` sits `level` slots after that record's leaf, which comes right
/// after the [`stored_hash_count`]`(last)` hashes stored before it. First slots:
/// `0:(0,0) 1:(0,1) 2:(1,0) 3:(0,2) 4:(0,3) 5:(1,1) 6:(2,0) 7:(0,4)`.
///
/// Valid for every node of a tree of at most 2^63 records (so for every tree this module
/// accepts, see [`MAX_TREE_SIZE`]); past that the result wraps and is meaningless, but the
/// function never panics.
#[must_use]
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    let last = n
        .wrapping_add(1)
        .wrapping_shl(u32::from(level))
        .wrapping_sub(1);
    stored_hash_count(last).wrapping_add(u64::from(level))
}

/// The inverse of [`stored_hash_index`]: the `(level, n)` of the node stored at `index`.
/// Defined (and panic-free) for every `u64`.
#[must_use]
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // Find the record r whose leaf is the last one stored at or before `index`: the largest r
    // with stored_hash_count(r) <= index. As stored_hash_count(r) = 2r - popcount(r) lies in
    // [2r - 64, 2r], r is at most 33 above index / 2, where the search starts. u128 keeps
    // 2(r + 1) from overflowing for indexes near u64::MAX.
    let count = |r: u64| 2 * u128::from(r) - u128::from(r.count_ones());
    let mut r = index / 2;
    while count(r + 1) <= u128::from(index) {
        r += 1;
    }
    // Appending r stored its leaf, then its parents at levels 1..=trailing_ones(r), so the
    // distance from r's leaf is the level (< 64), and the node is r's ancestor at that level.
    let level = (u128::from(index) - count(r)) as u8;
    (level, r >> level)
}

/// The number of hashes stored for a tree of `n` records: `2n - popcount(n)` (each record adds
/// `1 + trailing_ones(old size)`). Exact for `n <= 2^63`; wraps (without panicking) beyond.
#[must_use]
pub fn stored_hash_count(n: u64) -> u64 {
    n.wrapping_mul(2).wrapping_sub(u64::from(n.count_ones()))
}

// ---------------------------------------------------------------------------------------------
// Storage seam
// ---------------------------------------------------------------------------------------------

/// The one way this module reads a tree: stored hashes by [`stored_hash_index`].
///
/// Contract: on success the result has exactly `indexes.len()` hashes, the `i`-th being the
/// hash stored at `indexes[i]` (indexes may come in any order). A missing hash or a failing
/// store is reported as [`MerkleError::Storage`], never by returning fewer hashes. Callers in
/// this module ask once per root or proof, for O(log n) indexes, all of them below
/// [`stored_hash_count`] of the tree size in question, so a store may answer from a snapshot of
/// that size.
pub trait HashReader {
    /// Returns the hashes stored at `indexes`, in the same order.
    ///
    /// # Errors
    /// [`MerkleError::Storage`] when a hash is missing or the store fails.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

/// A slice as a store: the hash at stored index `i` is `self[i]` (what tests and benchmarks use).
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|pos| self.get(pos))
                    .copied()
                    .ok_or_else(|| {
                        MerkleError::Storage(format!(
                            "no stored hash at index {i} (have {})",
                            self.len()
                        ))
                    })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.as_slice().read_hashes(indexes)
    }
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        (**self).read_hashes(indexes)
    }
}

/// Reads `indexes` and enforces the [`HashReader`] contract at the seam.
fn read_exact(r: &(impl HashReader + ?Sized), indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    let hashes = r.read_hashes(indexes)?;
    debug_assert_eq!(
        hashes.len(),
        indexes.len(),
        "HashReader contract: one hash per requested index"
    );
    if hashes.len() != indexes.len() {
        return Err(MerkleError::WrongHashCount {
            want: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

fn check_tree_size(size: u64) -> Result<(), MerkleError> {
    if size > MAX_TREE_SIZE {
        return Err(MerkleError::TreeTooLarge(size));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ranges of records and their hashes
// ---------------------------------------------------------------------------------------------

/// A range of records `[lo, hi)`, with `hi > lo`, whose start is aligned: a multiple of the
/// largest power of two not above its length. Every range RFC 6962's recursions visit is
/// aligned (the left part of a split is a perfect subtree, the right part starts on its
/// boundary), and an aligned range is exactly tiled by one complete subtree per set bit of its
/// length, largest first, like the right border of a tree (spec §5.6).
type Range = (u64, u64);

/// `k` of RFC 6962 §2.1: the largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// Appends the stored-hash indexes of the complete subtrees that tile the aligned range
/// `[lo, hi)`, largest (leftmost) first.
fn push_tiling(lo: u64, hi: u64, out: &mut Vec<u64>) {
    let mut start = lo;
    let mut rest = hi - lo;
    while rest != 0 {
        let level = u64::BITS - 1 - rest.leading_zeros();
        debug_assert_eq!(start % (1 << level), 0, "unaligned range [{lo}, {hi})");
        out.push(stored_hash_index(level as u8, start >> level));
        start += 1 << level;
        rest &= !(1 << level);
    }
}

/// The MTH of a range from the hashes of its tiling subtrees, largest first: fold right to left,
/// `acc = last; acc = N(prev, acc)` (spec §5.6). The empty tiling gives [`empty_root`].
fn fold_tiling(hashes: &[Hash]) -> Hash {
    hashes
        .iter()
        .rev()
        .copied()
        .reduce(|acc, left| node_hash(&left, &acc))
        .unwrap_or_else(empty_root)
}

/// The MTH of each range, read with a single `read_hashes` call.
fn range_hashes(
    ranges: &[Range],
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    let mut indexes = Vec::new();
    let mut ends = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        push_tiling(lo, hi, &mut indexes);
        ends.push(indexes.len());
    }
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read_exact(r, &indexes)?;
    let mut start = 0;
    Ok(ends
        .iter()
        .map(|&end| {
            let h = fold_tiling(&hashes[start..end]);
            start = end;
            h
        })
        .collect())
}

/// The ranges whose MTHs make up RFC 6962's `PATH(index, D[0:size])` (spec §5.2), in proof order
/// (the leaf's sibling first). Needs `index < size`.
///
/// Unrolls the RFC recursion top-down and reverses. Only the first right-hand sibling range can
/// be incomplete; every range after it lies inside a perfect subtree, so the whole proof needs
/// at most about 2 log2(size) stored hashes.
fn inclusion_ranges(index: u64, size: u64) -> Vec<Range> {
    let (mut lo, mut hi) = (0, size);
    let mut out = Vec::new();
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            out.push((mid, hi));
            hi = mid;
        } else {
            out.push((lo, mid));
            lo = mid;
        }
    }
    out.reverse();
    out
}

/// The ranges whose MTHs make up RFC 6962's `PROOF(old, D[0:new])` =
/// `SUBPROOF(old, D[0:new], true)` (spec §5.4), in proof order. Needs `0 < old <= new`.
fn consistency_ranges(old: u64, new: u64) -> Vec<Range> {
    // Invariant: lo < old <= hi; `whole` is SUBPROOF's flag b, true while [lo, hi) still starts
    // at 0, i.e. while the subtree ending at `old` would be the old root the verifier knows.
    let (mut lo, mut hi, mut whole) = (0, new, true);
    let mut out = Vec::new();
    while old != hi {
        let mid = lo + split_point(hi - lo);
        if old <= mid {
            out.push((mid, hi));
            hi = mid;
        } else {
            out.push((lo, mid));
            lo = mid;
            whole = false;
        }
    }
    if !whole {
        out.push((lo, hi));
    }
    out.reverse();
    out
}

// ---------------------------------------------------------------------------------------------
// Roots and proofs over stored hashes
// ---------------------------------------------------------------------------------------------

/// `MTH(D[0:tree_size])` (RFC 6962 §2.1) from the `popcount(tree_size)` stored hashes of its
/// right border, read in one call; [`empty_root`] for 0 (without reading).
///
/// # Errors
/// [`MerkleError::TreeTooLarge`] above [`MAX_TREE_SIZE`]; reader failures.
pub fn tree_hash(tree_size: u64, r: &(impl HashReader + ?Sized)) -> Result<Hash, MerkleError> {
    check_tree_size(tree_size)?;
    if tree_size == 0 {
        return Ok(empty_root());
    }
    let hashes = read_exact(r, &RightBorder::stored_indexes(tree_size))?;
    Ok(fold_tiling(&hashes))
}

/// The inclusion proof of record `index` in the tree of `tree_size` records: RFC 6962 §2.1.1
/// `PATH(index, D[0:tree_size])` / RFC 9162 §2.1.3.1, leaf's sibling first (spec §5.2).
/// Reads O(log n) stored hashes in one call; empty for a one-record tree.
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`] unless `index < tree_size`;
/// [`MerkleError::TreeTooLarge`]; reader failures.
pub fn inclusion_proof(
    tree_size: u64,
    index: u64,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    check_tree_size(tree_size)?;
    range_hashes(&inclusion_ranges(index, tree_size), r)
}

/// The sizes a consistency proof can connect: `0 < old_size <= new_size` (a proof from the
/// empty tree proves nothing).
fn check_consistency_sizes(old_size: u64, new_size: u64) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    Ok(())
}

/// The consistency proof from the tree of `old_size` records to the tree of `new_size` records:
/// RFC 6962 §2.1.2 `PROOF(old_size, D[0:new_size])` / RFC 9162 §2.1.4.1 (spec §5.4). Empty when
/// the sizes are equal (without reading). Reads O(log n) stored hashes in one call.
///
/// # Errors
/// [`MerkleError::SizesOutOfOrder`] if `old_size > new_size`; [`MerkleError::EmptyOldTree`] for
/// `old_size == 0` (as [`verify_consistency`] would reject any answer);
/// [`MerkleError::TreeTooLarge`]; reader failures.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    check_consistency_sizes(old_size, new_size)?;
    check_tree_size(new_size)?;
    range_hashes(&consistency_ranges(old_size, new_size), r)
}

/// `bit_length(x)`: 0 for 0, else one more than the index of the highest set bit.
fn bit_length(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// Checks that `proof` proves record hash `leaf` at `index` in the tree of `tree_size` records
/// with root `root` (RFC 9162 §2.1.3.2, in the inner/border form of spec §5.3). Any `u64` sizes
/// are accepted; no storage is involved.
///
/// `inner = bit_length(index XOR (tree_size - 1))` levels lie below the point where the path to
/// `index` joins the tree's right border; their siblings come first and sit on either side.
/// Above it the path *is* the border, which has a (left) sibling exactly at the set bits of
/// `index >> inner`, so `border = popcount(index >> inner)`.
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`] unless `index < tree_size`; [`MerkleError::WrongProofSize`]
/// unless the proof has exactly `inner + border` hashes; [`MerkleError::RootMismatch`].
pub fn verify_inclusion(
    index: u64,
    tree_size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    let inner = bit_length(index ^ (tree_size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    let want = (inner + border) as usize;
    if proof.len() != want {
        return Err(MerkleError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    let (inner_part, border_part) = proof.split_at(inner as usize);
    let mut h = *leaf;
    for (level, p) in inner_part.iter().enumerate() {
        h = if (index >> level) & 1 == 0 {
            node_hash(&h, p)
        } else {
            node_hash(p, &h)
        };
    }
    for p in border_part {
        h = node_hash(p, &h);
    }
    if h != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` proves the tree of `old_size` records with root `old_root` is a prefix
/// of the tree of `new_size` records with root `new_root` (RFC 9162 §2.1.4.2, in the
/// inner/border form of spec §5.5).
///
/// Semantics are those of `transparency-dev/merkle`, which the shared vectors require:
/// `old_size > new_size` and `old_size == 0` are errors (the latter even for `new_size == 0`);
/// equal sizes need an empty proof and equal roots; otherwise the proof length must match
/// exactly. Any `u64` sizes are accepted.
///
/// The proof starts from the node `(shift, (old_size - 1) >> shift)`, `shift =
/// trailing_zeros(old_size)`: the largest complete subtree ending at record `old_size - 1`. It
/// is omitted when `old_size` is a power of two (it is then the old root itself). The rest is
/// that node's inclusion path in the new tree; the hashes to the left of the path rebuild the
/// old root, all of them rebuild the new one.
///
/// # Errors
/// [`MerkleError::SizesOutOfOrder`], [`MerkleError::EmptyOldTree`],
/// [`MerkleError::WrongProofSize`], [`MerkleError::RootMismatch`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), MerkleError> {
    let (h_old, h_new) = consistency_roots(old_size, new_size, proof, old_root)?;
    if h_old != *old_root || h_new != *new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The root of the tree of `old_size` records that a consistency `proof` to the tree of
/// `new_size` records with root `new_root` proves — so a verifier holding only the newer
/// signed root learns the older one. `None` when `old_size` is a power of two: the proof then
/// omits the old root (it is the proof's starting node, §5.5), and only [`verify_consistency`]
/// with a known old root can check it.
///
/// # Errors
/// As [`verify_consistency`]: [`MerkleError::RootMismatch`] when the proof does not lead to
/// `new_root`.
pub fn consistency_old_root(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    new_root: &Hash,
) -> Result<Option<Hash>, MerkleError> {
    check_consistency_sizes(old_size, new_size)?;
    if old_size == new_size {
        return verify_consistency(old_size, new_size, proof, new_root, new_root)
            .map(|()| Some(*new_root));
    }
    if old_size.is_power_of_two() {
        return Ok(None);
    }
    // The seed comes from the proof itself: the given old root is not read.
    let (h_old, h_new) = consistency_roots(old_size, new_size, proof, new_root)?;
    if h_new != *new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(Some(h_old))
}

/// The old and new roots a consistency proof leads to (the fold of [`verify_consistency`]).
/// `old_root` is read only as the starting node when `old_size` is a power of two.
fn consistency_roots(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
) -> Result<(Hash, Hash), MerkleError> {
    check_consistency_sizes(old_size, new_size)?;
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofSize {
                got: proof.len(),
                want: 0,
            });
        }
        return Ok((*old_root, *old_root));
    }
    // old_size < new_size from here on, so old_size - 1 and new_size - 1 differ at some bit at
    // or above `shift` (their low `shift` bits are all ones in old_size - 1): inner > 0.
    let shift = old_size.trailing_zeros();
    let inner_full = bit_length((old_size - 1) ^ (new_size - 1));
    let inner = inner_full - shift;
    let border = (old_size - 1)
        .checked_shr(inner_full)
        .unwrap_or(0)
        .count_ones();
    let start = usize::from(!old_size.is_power_of_two());
    let want = start + (inner + border) as usize;
    if proof.len() != want {
        return Err(MerkleError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    let (seed, path) = match proof.split_at(start) {
        ([first], rest) => (*first, rest),
        (_, rest) => (*old_root, rest),
    };
    let (inner_part, border_part) = path.split_at(inner as usize);
    let mask = (old_size - 1) >> shift;
    let (mut h_old, mut h_new) = (seed, seed);
    for (level, p) in inner_part.iter().enumerate() {
        if (mask >> level) & 1 == 1 {
            h_old = node_hash(p, &h_old);
            h_new = node_hash(p, &h_new);
        } else {
            // A right-hand sibling: records past old_size, part of the new tree only.
            h_new = node_hash(&h_new, p);
        }
    }
    for p in border_part {
        h_old = node_hash(p, &h_old);
        h_new = node_hash(p, &h_new);
    }
    Ok((h_old, h_new))
}

// ---------------------------------------------------------------------------------------------
// Subtrees (draft-ietf-plants-merkle-tree-certs-02 §4: what tlog-mirror's add-entries proves)
// ---------------------------------------------------------------------------------------------

/// Whether `[start, end)` is a subtree (draft-ietf-plants-merkle-tree-certs-02 §4.1): `start <=
/// end` and `start` a multiple of `BIT_CEIL(end - start)` (for a length above 2^63 that
/// power of two does not fit a `u64`, and only `start = 0` is a multiple of it).
#[must_use]
pub fn is_valid_subtree(start: u64, end: u64) -> bool {
    if start > end {
        return false;
    }
    match (end - start).checked_next_power_of_two() {
        Some(ceil) => start & (ceil - 1) == 0,
        None => start == 0,
    }
}

fn check_subtree(start: u64, end: u64, tree_size: u64) -> Result<(), MerkleError> {
    if !is_valid_subtree(start, end) || end > tree_size {
        return Err(MerkleError::InvalidSubtree {
            start,
            end,
            size: tree_size,
        });
    }
    check_tree_size(tree_size)
}

/// The ranges whose MTHs make up `SUBTREE_PROOF(start, end, D[0:size])` (draft §4.4.1), in
/// proof order. Needs a valid subtree with `start < end <= size`.
///
/// Unrolls `SUBTREE_SUBPROOF` top-down as [`consistency_ranges`] unrolls RFC 6962's `SUBPROOF`
/// (which it generalizes: `start = 0` gives the same ranges). `[s, end)` is the subtree still
/// to find inside the node `[lo, hi)`; `whole` is the flag `b`.
fn subtree_consistency_ranges(start: u64, end: u64, size: u64) -> Vec<Range> {
    let (mut s, mut lo, mut hi, mut whole) = (start, 0, size, true);
    let mut out = Vec::new();
    while (s, end) != (lo, hi) {
        let mid = lo + split_point(hi - lo);
        if end <= mid {
            out.push((mid, hi));
            hi = mid;
        } else if mid <= s {
            out.push((lo, mid));
            lo = mid;
        } else {
            // s < mid < end, so s = lo: the subtree's left part is the node [lo, mid), whose
            // hash the proof carries; its right part [mid, end) is proven from here on, and is
            // not the subtree the verifier holds the hash of.
            out.push((lo, mid));
            lo = mid;
            s = mid;
            whole = false;
        }
    }
    if !whole {
        out.push((lo, hi));
    }
    out.reverse();
    out
}

/// `SUBTREE_PROOF(start, end, D[0:tree_size])` (draft-ietf-plants-merkle-tree-certs-02 §4.4.1):
/// proves the subtree `[start, end)` consistent with the tree of `tree_size` records. Empty for
/// `start = end`; `PROOF(end, D_n)` for `start = 0`; `PATH(start, D_n)` for one record. Reads
/// O(log n) stored hashes in one call.
///
/// # Errors
/// [`MerkleError::InvalidSubtree`]; [`MerkleError::TreeTooLarge`]; reader failures.
pub fn subtree_consistency_proof(
    start: u64,
    end: u64,
    tree_size: u64,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    check_subtree(start, end, tree_size)?;
    if start == end {
        return Ok(Vec::new());
    }
    range_hashes(&subtree_consistency_ranges(start, end, tree_size), r)
}

/// Checks that `proof` proves the subtree `[start, end)` with hash `subtree_hash` consistent
/// with the tree of `tree_size` records with root `root`: the procedure of
/// draft-ietf-plants-merkle-tree-certs-02 §4.4.3, step by step (`fn`, `sn`, `tn` are the
/// positions of the subtree's first and last record and of the tree's last record at the
/// current level). Any `u64` sizes are accepted; no storage is involved.
///
/// # Errors
/// [`MerkleError::InvalidSubtree`]; [`MerkleError::TreeTooLarge`];
/// [`MerkleError::WrongProofSize`] unless the proof has exactly the hashes
/// [`subtree_consistency_proof`] gives; [`MerkleError::RootMismatch`].
pub fn verify_subtree_consistency(
    start: u64,
    end: u64,
    tree_size: u64,
    proof: &[Hash],
    subtree_hash: &Hash,
    root: &Hash,
) -> Result<(), MerkleError> {
    check_subtree(start, end, tree_size)?;
    let want = if start == end {
        0
    } else {
        subtree_consistency_ranges(start, end, tree_size).len()
    };
    if proof.len() != want {
        return Err(MerkleError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    if start == end {
        // Step 2: the empty subtree, whose hash is that of the empty string.
        return if *subtree_hash == empty_root() {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    let (mut f, mut s, mut t) = (start, end - 1, tree_size - 1);
    let shift = |f: &mut u64, s: &mut u64, t: &mut u64| {
        *f >>= 1;
        *s >>= 1;
        *t >>= 1;
    };
    if s == t {
        while f != s {
            shift(&mut f, &mut s, &mut t);
        }
    } else {
        while f != s && s & 1 == 1 {
            shift(&mut f, &mut s, &mut t);
        }
    }
    let mut rest = proof.iter();
    let (mut fr, mut sr) = if f == s {
        (*subtree_hash, *subtree_hash)
    } else {
        let first = rest.next().ok_or(MerkleError::RootMismatch)?;
        (*first, *first)
    };
    for c in rest {
        if t == 0 {
            return Err(MerkleError::RootMismatch);
        }
        if s & 1 == 1 || s == t {
            if f < s {
                fr = node_hash(c, &fr);
            }
            sr = node_hash(c, &sr);
            // s = t > 0 here when s is even, so a set bit is reached.
            while s & 1 == 0 {
                shift(&mut f, &mut s, &mut t);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        shift(&mut f, &mut s, &mut t);
    }
    if t != 0 || fr != *subtree_hash || sr != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Right border
// ---------------------------------------------------------------------------------------------

/// The right border ("compact range", spec §5.6) of a tree: the roots of the complete subtrees
/// that make up `[0, size)`, one per set bit of `size`, largest first.
///
/// The single writer keeps one in memory, so that appending a batch needs no reads: each
/// [`append`](Self::append) returns the newly completed stored hashes, which are exactly what a
/// store must persist for [`tree_hash`] and the proofs to work through a [`HashReader`]. At open
/// time it is rebuilt from O(log n) stored hashes ([`stored_indexes`](Self::stored_indexes),
/// [`from_stored`](Self::from_stored)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RightBorder {
    size: u64,
    /// One hash per set bit of `size`, highest bit (largest subtree) first.
    nodes: Vec<Hash>,
}

impl RightBorder {
    /// The border of the empty tree.
    #[must_use]
    pub fn empty() -> Self {
        RightBorder {
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// The stored-hash indexes of the border of a tree of `size` records, largest subtree
    /// first: one per set bit of `size` (none for 0). Meaningful up to [`MAX_TREE_SIZE`].
    #[must_use]
    pub fn stored_indexes(size: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity(size.count_ones() as usize);
        push_tiling(0, size, &mut out);
        out
    }

    /// Rebuilds the border of a tree of `size` records from the hashes stored at
    /// [`stored_indexes`](Self::stored_indexes)`(size)`, in that order.
    ///
    /// # Errors
    /// [`MerkleError::TreeTooLarge`]; [`MerkleError::WrongBorderSize`] unless there is exactly
    /// one hash per set bit of `size`.
    pub fn from_stored(size: u64, hashes: &[Hash]) -> Result<Self, MerkleError> {
        check_tree_size(size)?;
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(MerkleError::WrongBorderSize {
                size,
                want,
                got: hashes.len(),
            });
        }
        Ok(RightBorder {
            size,
            nodes: hashes.to_vec(),
        })
    }

    /// The number of records in the tree.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The border hashes, largest subtree first (what [`from_stored`](Self::from_stored) takes).
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.nodes
    }

    /// `MTH(D[0:size])`, folding the border right to left; [`empty_root`] for 0.
    #[must_use]
    pub fn root(&self) -> Hash {
        fold_tiling(&self.nodes)
    }

    /// Appends one record by its leaf hash ([`record_hash`]) and returns the newly completed
    /// stored hashes as `(stored_hash_index, hash)`, in increasing (consecutive) index order:
    /// the leaf, then one parent per trailing one bit of the old size — `1 +
    /// trailing_ones(old size)` in all, starting at [`stored_hash_count`]`(old size)`.
    ///
    /// # Panics
    /// Never in practice: a border starts at most at [`MAX_TREE_SIZE`], and only 2^63 further
    /// appends could overflow its size. Its one-node-per-set-bit invariant is kept by
    /// construction ([`from_stored`](Self::from_stored) checks the count).
    #[must_use = "the completed hashes must be persisted for tree_hash and proofs to work"]
    pub fn append(&mut self, leaf: Hash) -> Vec<(u64, Hash)> {
        let record = self.size;
        let mut out = Vec::with_capacity(1 + record.trailing_ones() as usize);
        out.push((stored_hash_index(0, record), leaf));
        let mut h = leaf;
        let mut level = 0u8;
        // Each trailing one of the old size is a complete subtree of the same height as the
        // one being carried: merge them (they are the rightmost border nodes).
        while (record >> level) & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                unreachable!("a border has one node per set bit of its size");
            };
            h = node_hash(&left, &h);
            level += 1;
            out.push((stored_hash_index(level, record >> level), h));
        }
        self.nodes.push(h);
        self.size += 1;
        out
    }
}

impl Default for RightBorder {
    fn default() -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_of_rfc6962() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Leaf 0 of the reference tree is the empty record.
        assert_eq!(
            record_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l0 = record_hash(b"");
        let l1 = record_hash(&[0x00]);
        assert_eq!(
            node_hash(&l0, &l1).to_hex(),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
        assert_ne!(node_hash(&l0, &l1), node_hash(&l1, &l0));
    }

    #[test]
    fn hash_encodings() {
        let hex_lower = "00ff10abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123";
        let h = Hash::from_hex(hex_lower).unwrap();
        assert_eq!(h.to_hex(), hex_lower);
        assert_eq!(format!("{h:?}"), hex_lower);
        assert_eq!(h.to_string(), hex_lower);
        assert_eq!(Hash::from_hex(&hex_lower.to_uppercase()), Some(h));
        assert_eq!(Hash::from_hex(&hex_lower[..62]), None);
        assert_eq!(Hash::from_hex(&format!("{hex_lower}00")), None);
        assert_eq!(Hash::from_hex(&hex_lower.replace('a', "g")), None);
        assert_eq!(Hash::from_hex(""), None);
        assert_eq!(Hash::from_slice(h.as_bytes()), Some(h));
        assert_eq!(Hash::from_slice(&[0; 31]), None);
        assert_eq!(Hash::from_slice(&[0; 33]), None);
        assert_eq!(Hash::from_slice(&[]), None);
    }

    proptest::proptest! {
        /// The fixed-buffer `to_hex` agrees with an independent lowercase encoding (the `hex`
        /// crate's `char`-at-a-time one it replaced) and parses back, for any 32 bytes.
        #[test]
        fn to_hex_is_lowercase_hex(bytes: [u8; HASH_SIZE]) {
            let h = Hash(bytes);
            proptest::prop_assert_eq!(h.to_hex(), hex::encode(bytes));
            proptest::prop_assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        }
    }

    #[test]
    fn stored_hash_layout_first_slots() {
        // Appending records 0..=7 stores, in order: (level, n) =
        let want: [(u8, u64); 15] = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
            (0, 5),
            (1, 2),
            (0, 6),
            (0, 7),
            (1, 3),
            (2, 1),
            (3, 0),
        ];
        for (i, &(level, n)) in want.iter().enumerate() {
            assert_eq!(stored_hash_index(level, n), i as u64, "({level}, {n})");
            assert_eq!(split_stored_hash_index(i as u64), (level, n), "index {i}");
        }
        let counts = [0, 1, 3, 4, 7, 8, 10, 11, 15];
        for (n, &c) in counts.iter().enumerate() {
            assert_eq!(stored_hash_count(n as u64), c, "size {n}");
        }
    }

    #[test]
    fn stored_hash_layout_roundtrip_and_density() {
        // Every index up to 2^16 splits into a node that maps back to it, and the nodes come
        // in completion order: each (level, n) is complete exactly when its slot is reached.
        for i in 0..(1u64 << 16) {
            let (level, n) = split_stored_hash_index(i);
            assert_eq!(stored_hash_index(level, n), i);
            let last_record = ((n + 1) << level) - 1;
            assert!(stored_hash_count(last_record) <= i && i < stored_hash_count(last_record + 1));
        }
    }

    #[test]
    fn stored_hash_layout_extremes_do_not_panic() {
        let top = stored_hash_count(MAX_TREE_SIZE);
        assert_eq!(top, 2 * MAX_TREE_SIZE - 1);
        let (level, n) = split_stored_hash_index(top - 1);
        assert_eq!((level, n), (62, 0));
        for i in [u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) - 1, top, top + 1] {
            let (level, n) = split_stored_hash_index(i);
            assert!(level < 64);
            let _ = stored_hash_index(level, n);
        }
        for level in [62, 63, 64, 200, 255] {
            let _ = stored_hash_index(level, u64::MAX);
        }
        let _ = stored_hash_count(u64::MAX);
        let _ = RightBorder::stored_indexes(u64::MAX);
    }

    #[test]
    fn ranges_follow_the_rfc_examples() {
        // Spec §5.2: PATH(5, D[8]) = leaf 4, node 1/3 (records 6..8), node 2/0 (records 0..4).
        assert_eq!(inclusion_ranges(5, 8), vec![(4, 5), (6, 8), (0, 4)]);
        assert_eq!(inclusion_ranges(0, 1), vec![]);
        // Spec §5.4: 2 -> 5 is [node (2..4), leaf 4]; 6 -> 8 is [(4..6) (6..8) (0..4)].
        assert_eq!(consistency_ranges(2, 5), vec![(2, 4), (4, 5)]);
        assert_eq!(consistency_ranges(6, 8), vec![(4, 6), (6, 8), (0, 4)]);
        assert_eq!(consistency_ranges(4, 4), vec![]);
        assert_eq!(consistency_ranges(3, 3), vec![]);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            MerkleError::IndexOutOfRange { index: 7, size: 7 }.to_string(),
            "index 7 is not below tree size 7"
        );
        assert_eq!(
            MerkleError::WrongProofSize { got: 3, want: 4 }.to_string(),
            "wrong proof size 3, expected 4"
        );
        assert_eq!(MerkleError::RootMismatch.to_string(), "root mismatch");
        assert_eq!(
            MerkleError::Storage("disk on fire".into()).to_string(),
            "storage: disk on fire"
        );
        assert_eq!(
            MerkleError::TreeTooLarge(u64::MAX).to_string(),
            format!("tree size {} is above the maximum {}", u64::MAX, 1u64 << 62)
        );
    }

    /// A reader that breaks the contract by dropping the last hash.
    struct Short(Vec<Hash>);
    impl HashReader for Short {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
            let mut v = self.0.read_hashes(indexes)?;
            v.pop();
            Ok(v)
        }
    }

    /// MTH over leaf hashes, straight from RFC 6962 §2.1: the independent reference.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// `SUBTREE_SUBPROOF` written as the draft's recursion over leaf hashes (§4.4.1).
    fn subtree_subproof(start: usize, end: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if start == 0 && end == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = split_point(n as u64) as usize;
        if end <= k {
            let mut p = subtree_subproof(start, end, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else if k <= start {
            let mut p = subtree_subproof(start - k, end - k, &d[k..], b);
            p.push(mth(&d[..k]));
            p
        } else {
            let mut p = subtree_subproof(0, end - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    #[test]
    fn subtree_proofs_of_every_subtree_of_small_trees() {
        for n in 1..=40u64 {
            let leaves: Vec<Hash> = (0..n).map(|i| record_hash(&i.to_le_bytes())).collect();
            let stored = small_store(n);
            let root = mth(&leaves);
            for start in 0..=n {
                for end in start..=n {
                    let proof = subtree_consistency_proof(start, end, n, &stored);
                    if !is_valid_subtree(start, end) {
                        assert!(matches!(proof, Err(MerkleError::InvalidSubtree { .. })));
                        continue;
                    }
                    let proof = proof.unwrap();
                    let (s, e) = (start as usize, end as usize);
                    let sub = mth(&leaves[s..e]);
                    if start < end {
                        assert_eq!(
                            proof,
                            subtree_subproof(s, e, &leaves, true),
                            "[{s},{e}) of {n}"
                        );
                    }
                    if start == 0 && end > 0 {
                        assert_eq!(proof, consistency_proof(end, n, &stored).unwrap());
                    }
                    if end == start + 1 {
                        assert_eq!(proof, inclusion_proof(n, start, &stored).unwrap());
                    }
                    verify_subtree_consistency(start, end, n, &proof, &sub, &root)
                        .unwrap_or_else(|e| panic!("[{s},{e}) of {n}: {e}"));
                    // Every mutation fails: each hash flipped, a hash dropped or added, another
                    // subtree hash, another root. (Not another tree size: like RFC 9162's, the
                    // proof does not authenticate the size, the signed checkpoint does.)
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i].0[0] ^= 1;
                        assert!(
                            verify_subtree_consistency(start, end, n, &bad, &sub, &root).is_err()
                        );
                        let mut short = proof.clone();
                        short.remove(i);
                        assert!(
                            verify_subtree_consistency(start, end, n, &short, &sub, &root).is_err()
                        );
                    }
                    let mut long = proof.clone();
                    long.push(root);
                    assert!(verify_subtree_consistency(start, end, n, &long, &sub, &root).is_err());
                    let mut other = sub;
                    other.0[31] ^= 1;
                    assert!(
                        verify_subtree_consistency(start, end, n, &proof, &other, &root).is_err()
                    );
                    let mut other_root = root;
                    other_root.0[31] ^= 1;
                    if start < end {
                        assert!(
                            verify_subtree_consistency(start, end, n, &proof, &sub, &other_root)
                                .is_err()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn subtree_proof_examples_of_the_draft() {
        // §4.4.2: [4, 8) in a tree of 14 is MTH(D[0:4]), MTH(D[8:14]); [8, 13) is
        // MTH({d[12]}), MTH({d[13]}), MTH(D[8:12]), MTH(D[0:8]).
        let leaves: Vec<Hash> = (0..14u64).map(|i| record_hash(&i.to_le_bytes())).collect();
        let stored = small_store(14);
        assert_eq!(
            subtree_consistency_proof(4, 8, 14, &stored).unwrap(),
            vec![mth(&leaves[0..4]), mth(&leaves[8..14])]
        );
        assert_eq!(
            subtree_consistency_proof(8, 13, 14, &stored).unwrap(),
            vec![
                leaves[12],
                leaves[13],
                mth(&leaves[8..12]),
                mth(&leaves[0..8])
            ]
        );
        assert!(!is_valid_subtree(7, 9));
        assert!(is_valid_subtree(0, u64::MAX));
        assert!(!is_valid_subtree(1, u64::MAX));
        assert!(is_valid_subtree(1 << 63, u64::MAX));
        assert!(is_valid_subtree(5, 5));
        assert_eq!(
            verify_subtree_consistency(0, 3, 2, &[], &leaves[0], &leaves[0]),
            Err(MerkleError::InvalidSubtree {
                start: 0,
                end: 3,
                size: 2
            })
        );
        assert!(verify_subtree_consistency(3, 3, 9, &[], &empty_root(), &leaves[0]).is_ok());
        assert!(verify_subtree_consistency(3, 3, 9, &[], &leaves[0], &leaves[0]).is_err());
    }

    fn small_store(n: u64) -> Vec<Hash> {
        let mut border = RightBorder::empty();
        let mut stored = Vec::new();
        for i in 0..n {
            stored.extend(
                border
                    .append(record_hash(&i.to_le_bytes()))
                    .into_iter()
                    .map(|(_, h)| h),
            );
        }
        stored
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "HashReader contract")]
    fn short_reader_is_caught_in_debug() {
        let _ = tree_hash(3, &Short(small_store(3)));
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn short_reader_is_an_error_in_release() {
        assert_eq!(
            tree_hash(3, &Short(small_store(3))),
            Err(MerkleError::WrongHashCount { want: 2, got: 1 })
        );
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        let stored = small_store(5);
        assert_eq!(
            inclusion_proof(5, 5, &stored),
            Err(MerkleError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            inclusion_proof(0, 0, &stored),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            inclusion_proof(u64::MAX, 0, &stored),
            Err(MerkleError::TreeTooLarge(u64::MAX))
        );
        assert_eq!(
            tree_hash(MAX_TREE_SIZE + 1, &stored),
            Err(MerkleError::TreeTooLarge(MAX_TREE_SIZE + 1))
        );
        assert_eq!(
            consistency_proof(1, u64::MAX, &stored),
            Err(MerkleError::TreeTooLarge(u64::MAX))
        );
        assert_eq!(
            consistency_proof(3, 2, &stored),
            Err(MerkleError::SizesOutOfOrder { old: 3, new: 2 })
        );
        assert_eq!(
            consistency_proof(0, 2, &stored),
            Err(MerkleError::EmptyOldTree)
        );
        assert_eq!(
            consistency_proof(0, 0, &stored),
            Err(MerkleError::EmptyOldTree)
        );
        assert_eq!(consistency_proof(4, 4, &stored), Ok(vec![]));
        // Past the stored data: the reader's error comes through.
        assert!(matches!(
            tree_hash(6, &stored),
            Err(MerkleError::Storage(_))
        ));
        assert_eq!(
            RightBorder::from_stored(u64::MAX, &[]),
            Err(MerkleError::TreeTooLarge(u64::MAX))
        );
        assert_eq!(
            RightBorder::from_stored(5, &[Hash::default()]),
            Err(MerkleError::WrongBorderSize {
                size: 5,
                want: 2,
                got: 1
            })
        );

        // Verification takes any u64 sizes.
        let h = Hash::default();
        let p = vec![h; 64];
        for (i, n) in [(u64::MAX - 1, u64::MAX), (0, u64::MAX), (1 << 63, u64::MAX)] {
            let e = verify_inclusion(i, n, &h, &p, &h).unwrap_err();
            assert!(matches!(
                e,
                MerkleError::WrongProofSize { .. } | MerkleError::RootMismatch
            ));
        }
        assert!(verify_inclusion(u64::MAX, u64::MAX, &h, &p, &h).is_err());
        for (m, n) in [
            (1, u64::MAX),
            (u64::MAX - 1, u64::MAX),
            (1 << 63, u64::MAX),
            (3, 1 << 63),
        ] {
            assert!(verify_consistency(m, n, &p, &h, &h).is_err());
            assert!(verify_consistency(m, n, &[], &h, &h).is_err());
        }
        assert!(verify_consistency(u64::MAX, u64::MAX, &[], &h, &h).is_ok());
    }

    #[test]
    fn right_border_append_persists_consecutive_slots() {
        let mut border = RightBorder::empty();
        assert_eq!(border.root(), empty_root());
        let mut next = 0;
        for i in 0..300u64 {
            let new = border.append(record_hash(&i.to_le_bytes()));
            assert_eq!(new.len() as u32, 1 + i.trailing_ones());
            for (k, &(index, _)) in new.iter().enumerate() {
                assert_eq!(index, next + k as u64);
            }
            next += new.len() as u64;
            assert_eq!(next, stored_hash_count(i + 1));
            assert_eq!(border.size(), i + 1);
            assert_eq!(border.hashes().len() as u32, (i + 1).count_ones());
        }
    }
}
