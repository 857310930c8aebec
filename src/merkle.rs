//! RFC 6962 Merkle trees over SHA-256: hashing, the stored-hash layout, the right border, tree
//! hashes and inclusion/consistency proofs — generation and verification.
//!
//! Pure: no I/O, no async. Stored hashes are reached through one seam, [`HashReader`], keyed by
//! the post-order "stored hash index" of Go's `golang.org/x/mod/sumdb/tlog` (Crosby–Wallach):
//! the hash of the perfect subtree `(level, n)` — covering records `[n·2^level, (n+1)·2^level)` —
//! lives at [`stored_hash_index`]`(level, n)`, and appending record `n` stores exactly
//! `1 + trailing_ones(n)` new hashes. Every proof reads O(log n) stored hashes in one call.
//!
//! Not here: tiles, checkpoints, signatures, storage.
//!
//! References: RFC 6962 §2.1 (hashing, MTH, PATH, PROOF), RFC 9162 §2.1.3–2.1.4 (verification),
//! tiles-checkpoints-v2.md §5.

use sha2::{Digest, Sha256};

pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash: a record (leaf) hash, a node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Lowercase hex, as Rekor writes hashes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `None` unless `b` is exactly 32 bytes.
    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        b.try_into().ok().map(Hash)
    }

    /// Parses 64 hex digits of either case.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let mut out = [0u8; HASH_SIZE];
        hex::decode_to_slice(s, &mut out).ok().map(|()| Hash(out))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldSizeTooLarge { old: u64, new: u64 },
    #[error("a consistency proof from the empty tree is meaningless")]
    EmptyOldTree,
    #[error("wrong proof size {got}, expected {want}")]
    WrongProofSize { got: usize, want: usize },
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("tree size {0} is too large")]
    SizeTooLarge(u64),
    #[error("storage: {0}")]
    Storage(String),
}

/// SHA-256 of the empty string: the root of the empty tree (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The leaf hash of a record: `SHA-256(0x00 ‖ data)` (RFC 6962 §2.1). A Rekor entry's UUID.
pub fn record_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    Hash(h.finalize().into())
}

/// An interior node: `SHA-256(0x01 ‖ left ‖ right)` (RFC 6962 §2.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Largest tree size any function here accepts: stored-hash indexes of larger trees would not
/// fit in a u64 (a tree of 2^62 records stores fewer than 2^63 hashes).
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Where the hash of the perfect subtree `(level, n)` is stored.
///
/// Records are appended in order and each append stores its leaf hash followed by the hashes
/// of the subtrees it completes, so the index counts every hash stored before it.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    // The last record of the subtree is (n+1)·2^level − 1; its leaf hash is preceded by the
    // hashes of all earlier records, and the subtree's own hash follows `level` positions later.
    let last = ((n + 1) << level) - 1;
    let mut i = 0;
    let mut m = last;
    while m > 0 {
        i += m;
        m >>= 1;
    }
    i + u64::from(level)
}

/// Inverse of [`stored_hash_index`].
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // stored_hash_index(0, n) ≤ 2n, so the record that stored `index` is at least index/2.
    let mut n = index / 2;
    let mut at = stored_hash_index(0, n);
    loop {
        // Record n stores 1 + trailing_ones(n) hashes starting at `at`.
        let next = at + 1 + u64::from(n.trailing_ones());
        if next > index {
            break;
        }
        n += 1;
        at = next;
    }
    let level = u8::try_from(index - at).expect("a record stores at most 64 hashes");
    (level, n >> level)
}

/// How many hashes are stored for a tree of `n` records.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    stored_hash_index(0, n - 1) + 1 + u64::from((n - 1).trailing_ones())
}

/// The storage seam: the stored hashes at the given stored-hash indexes, in order.
///
/// Contract: on success the result has exactly `indexes.len()` hashes. Failures are reported as
/// [`MerkleError::Storage`].
pub trait HashReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

/// A slice of stored hashes, position = stored-hash index: the tests' and benchmarks' store.
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i).copied())
                    .ok_or_else(|| MerkleError::Storage(format!("stored hash {i} is missing")))
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.as_slice().read_hashes(indexes)
    }
}

fn read(r: &(impl HashReader + ?Sized), indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    let hashes = r.read_hashes(indexes)?;
    debug_assert_eq!(hashes.len(), indexes.len(), "HashReader broke its contract");
    if hashes.len() != indexes.len() {
        return Err(MerkleError::Storage(format!(
            "asked for {} hashes, got {}",
            indexes.len(),
            hashes.len()
        )));
    }
    Ok(hashes)
}

fn check_size(size: u64) -> Result<(), MerkleError> {
    if size > MAX_TREE_SIZE {
        return Err(MerkleError::SizeTooLarge(size));
    }
    Ok(())
}

/// The largest power of two strictly less than `n` (n ≥ 2): RFC 6962's split point `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Stored-hash indexes of the perfect subtrees that make up `[lo, hi)`, largest first.
/// `lo` must be aligned so that the decomposition is by the set bits of `hi − lo`.
fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let k = 1u64 << (63 - (hi - lo).leading_zeros());
        let level = u8::try_from(k.trailing_zeros()).expect("at most 63");
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// Folds the hashes read for `subtree_indexes(lo, hi)` into the MTH of `[lo, hi)`.
fn subtree_hash(lo: u64, hi: u64, hashes: &mut std::slice::Iter<'_, Hash>) -> Hash {
    let count = (hi - lo).count_ones() as usize;
    let parts: Vec<Hash> = hashes.take(count).copied().collect();
    let mut parts = parts.into_iter().rev();
    let last = parts.next().expect("a non-empty range has a subtree");
    parts.fold(last, |acc, left| node_hash(&left, &acc))
}

/// Reads the stored hashes of each `[lo, hi)` range and folds each into its tree hash, with
/// one call to the reader for all of them.
fn range_hashes(
    ranges: &[(u64, u64)],
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    let mut need = Vec::new();
    for &(lo, hi) in ranges {
        subtree_indexes(lo, hi, &mut need);
    }
    let hashes = read(r, &need)?;
    let mut hashes = hashes.iter();
    Ok(ranges
        .iter()
        .map(|&(lo, hi)| subtree_hash(lo, hi, &mut hashes))
        .collect())
}

/// The RFC 6962 tree hash (MTH) of the first `tree_size` records.
pub fn tree_hash(tree_size: u64, r: &(impl HashReader + ?Sized)) -> Result<Hash, MerkleError> {
    check_size(tree_size)?;
    if tree_size == 0 {
        return Ok(empty_root());
    }
    Ok(range_hashes(&[(0, tree_size)], r)?[0])
}

/// The ranges whose tree hashes make up RFC 6962 `PATH(m, D[lo:hi])`, leaf to root.
fn inclusion_ranges(lo: u64, hi: u64, m: u64, out: &mut Vec<(u64, u64)>) {
    if lo + 1 == hi {
        return;
    }
    let k = split(hi - lo);
    if m < lo + k {
        inclusion_ranges(lo, lo + k, m, out);
        out.push((lo + k, hi));
    } else {
        inclusion_ranges(lo + k, hi, m, out);
        out.push((lo, lo + k));
    }
}

/// The audit path of record `index` in the tree of `tree_size` records, leaf to root
/// (RFC 6962 §2.1.1 `PATH`).
pub fn inclusion_proof(
    tree_size: u64,
    index: u64,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    check_size(tree_size)?;
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    let mut ranges = Vec::new();
    inclusion_ranges(0, tree_size, index, &mut ranges);
    range_hashes(&ranges, r)
}

/// The ranges whose tree hashes make up RFC 6962 `SUBPROOF(m, D[lo:hi], lo == 0)`.
fn consistency_ranges(lo: u64, hi: u64, m: u64, out: &mut Vec<(u64, u64)>) {
    if m == hi {
        // The old tree's own hash is known to the verifier only when it is the whole old tree.
        if lo != 0 {
            out.push((lo, hi));
        }
        return;
    }
    let k = split(hi - lo);
    if m <= lo + k {
        consistency_ranges(lo, lo + k, m, out);
        out.push((lo + k, hi));
    } else {
        consistency_ranges(lo + k, hi, m, out);
        out.push((lo, lo + k));
    }
}

/// The consistency proof between the trees of `old_size` and `new_size` records
/// (RFC 6962 §2.1.2 `PROOF`); empty when the sizes are equal.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(MerkleError::OldSizeTooLarge {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    let mut ranges = Vec::new();
    consistency_ranges(0, new_size, old_size, &mut ranges);
    range_hashes(&ranges, r)
}

/// Number of bits needed to write `x` (0 for 0).
fn bit_length(x: u64) -> u32 {
    64 - x.leading_zeros()
}

fn expect_len(proof: &[Hash], want: usize) -> Result<(), MerkleError> {
    if proof.len() == want {
        Ok(())
    } else {
        Err(MerkleError::WrongProofSize {
            got: proof.len(),
            want,
        })
    }
}

/// Verifies that `leaf` is record `index` of the tree of `tree_size` records with root `root`
/// (RFC 9162 §2.1.3.2, in the inner/border form of tiles-checkpoints-v2.md §5.3). The proof
/// must have exactly the expected length.
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
    // `inner`: levels where the path to `index` and the path to the last record differ, so the
    // sibling may be on either side; above them every sibling is a complete left subtree.
    let inner = bit_length(index ^ (tree_size - 1));
    let border = (index >> inner).count_ones();
    expect_len(proof, (inner + border) as usize)?;
    let (inner_part, border_part) = proof.split_at(inner as usize);
    let mut r = *leaf;
    for (i, p) in inner_part.iter().enumerate() {
        r = if (index >> i) & 1 == 0 {
            node_hash(&r, p)
        } else {
            node_hash(p, &r)
        };
    }
    for p in border_part {
        r = node_hash(p, &r);
    }
    if r == *root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// Verifies that the tree of `new_size` records with root `new_root` extends the tree of
/// `old_size` records with root `old_root` (RFC 9162 §2.1.4.2, inner/border form of
/// tiles-checkpoints-v2.md §5.5). An old size of 0 is an error: a proof from the empty tree
/// proves nothing. Equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::OldSizeTooLarge {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    if old_size == new_size {
        expect_len(proof, 0)?;
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    let inner_full = bit_length((old_size - 1) ^ (new_size - 1));
    let border = ((old_size - 1) >> inner_full).count_ones();
    // The old tree's rightmost perfect subtree ends at old_size − 1; its height is `shift`.
    let shift = old_size.trailing_zeros();
    let inner = inner_full
        .checked_sub(shift)
        .expect("old_size < new_size: the paths split above the old subtree");
    // If old_size is a power of two the verifier knows that subtree's hash: it is old_root.
    let (seed, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(MerkleError::WrongProofSize { got: 0, want: 1 }),
        }
    };
    let start = proof.len() - rest.len();
    expect_len(proof, start + (inner + border) as usize)?;
    let mask = (old_size - 1) >> shift;
    let (inner_part, border_part) = rest.split_at(inner as usize);
    let (mut h1, mut h2) = (seed, seed);
    for (i, p) in inner_part.iter().enumerate() {
        if (mask >> i) & 1 == 1 {
            h1 = node_hash(p, &h1);
            h2 = node_hash(p, &h2);
        } else {
            // Right-hand siblings are not part of the old tree.
            h2 = node_hash(&h2, p);
        }
    }
    for p in border_part {
        h1 = node_hash(p, &h1);
        h2 = node_hash(p, &h2);
    }
    if h1 == *old_root && h2 == *new_root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// The right border ("compact range", tiles-checkpoints-v2.md §5.6): the roots of the perfect
/// subtrees that make up `[0, size)`, largest first — one per set bit of `size`. The single
/// writer keeps one in memory so that appending needs no reads; it is rebuilt at open time from
/// O(log n) stored hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RightBorder {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    nodes: Vec<(u8, Hash)>,
}

impl RightBorder {
    pub fn empty() -> Self {
        RightBorder {
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// Stored-hash indexes of the border of a tree of `size` records, largest subtree first.
    pub fn stored_indexes(size: u64) -> Vec<u64> {
        let mut need = Vec::new();
        if size <= MAX_TREE_SIZE {
            subtree_indexes(0, size, &mut need);
        }
        need
    }

    /// Rebuilds the border from the hashes read at [`RightBorder::stored_indexes`]`(size)`.
    pub fn from_stored(size: u64, hashes: &[Hash]) -> Result<Self, MerkleError> {
        check_size(size)?;
        expect_len(hashes, size.count_ones() as usize)?;
        let levels = (0..64u8).rev().filter(|l| (size >> l) & 1 == 1);
        Ok(RightBorder {
            size,
            nodes: levels.zip(hashes.iter().copied()).collect(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree hash of `[0, size)`: the border folded right to left.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        match nodes.next() {
            None => empty_root(),
            Some((_, last)) => nodes.fold(*last, |acc, (_, left)| node_hash(left, &acc)),
        }
    }

    /// Appends a record by its leaf hash. Returns the newly completed stored hashes as
    /// `(stored_hash_index, hash)` in increasing index order — the leaf hash, then each subtree
    /// the record completes (`1 + trailing_ones(old size)` of them): exactly what a store must
    /// persist for [`tree_hash`] and the proofs to work through a [`HashReader`].
    pub fn append(&mut self, leaf: Hash) -> Vec<(u64, Hash)> {
        let n = self.size;
        assert!(n < MAX_TREE_SIZE, "the tree is full");
        let mut new = vec![(stored_hash_index(0, n), leaf)];
        self.nodes.push((0, leaf));
        while let [.., (l1, left), (l2, right)] = self.nodes[..] {
            if l1 != l2 {
                break;
            }
            self.nodes.truncate(self.nodes.len() - 2);
            let level = l1 + 1;
            let h = node_hash(&left, &right);
            self.nodes.push((level, h));
            new.push((stored_hash_index(level, n >> level), h));
        }
        self.size += 1;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_hash_layout_matches_append_order() {
        // Appending records one by one must produce stored indexes 0, 1, 2, ... with no gaps,
        // and each must split back to the (level, n) it was computed from.
        let mut border = RightBorder::empty();
        let mut next = 0u64;
        for n in 0..2000u64 {
            for (i, _) in border.append(record_hash(&n.to_be_bytes())) {
                assert_eq!(i, next);
                let (level, k) = split_stored_hash_index(i);
                assert_eq!(stored_hash_index(level, k), i);
                next += 1;
            }
            assert_eq!(stored_hash_count(n + 1), next);
        }
    }

    #[test]
    fn hash_hex_roundtrip_and_length_checks() {
        let h = record_hash(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()), Some(h));
        assert_eq!(Hash::from_hex(&h.to_hex()[1..]), None);
        assert_eq!(Hash::from_slice(&[0; 31]), None);
        assert_eq!(format!("{h:?}"), h.to_hex());
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn out_of_range_inputs_are_errors_not_panics() {
        let hashes: Vec<Hash> = Vec::new();
        assert!(inclusion_proof(u64::MAX, 0, &hashes).is_err());
        assert!(inclusion_proof(3, 3, &hashes).is_err());
        assert!(consistency_proof(4, 3, &hashes).is_err());
        assert!(tree_hash(u64::MAX, &hashes).is_err());
        assert!(RightBorder::from_stored(u64::MAX, &[]).is_err());
        assert!(
            verify_inclusion(u64::MAX, u64::MAX, &Hash::default(), &[], &Hash::default()).is_err()
        );
        assert!(
            verify_consistency(
                u64::MAX - 1,
                u64::MAX,
                &[Hash::default()],
                &Hash::default(),
                &Hash::default()
            )
            .is_err()
        );
    }
}
