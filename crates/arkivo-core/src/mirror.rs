//! What a mirror (c2sp.org/tlog-mirror) decides about a log's checkpoint before it copies
//! anything: which hash tiles hold the consistency proof from the tree it holds, and whether
//! the log's checkpoint extends that tree, is a stale view of it, or proves a fork.
//!
//! A mirror that follows a log through its tiles (tlog-mirror "A mirror MAY additionally
//! implement other update processes") holds a verified tree of size `m` with root `r`. For a
//! newer signed checkpoint `(n, R)` it reads the consistency proof `m → n` from the log's hash
//! tiles ([`consistency_proof_tiles`]) and classifies it ([`classify`]). Tiles come from the
//! network, so a proof that fails is not yet evidence: only a proof that *does* lead to the
//! signed root `R` (so its hashes are the log's own, RFC 9162 §2.1.4.2) but to an old root other
//! than `r` proves that the log forked. Anything else is data that does not verify, refused
//! without blaming the log.
//!
//! Bytes and sizes in, values out: no I/O.

use std::cell::RefCell;

use crate::merkle::{self, Hash, HashReader, MerkleError};
use crate::tiles::{self, TILE_HEIGHT, TILE_WIDTH, Tile};

/// The hash tiles of the tree of `new_size` records that hold every stored hash the consistency
/// proof from `old_size` to `new_size` reads (tlog-tiles §4.8), each at its width in that tree
/// (a partial tile at the right edge), without duplicates; for an old size that is a power of
/// two, also the tile of the old root (the node the proof starts from and omits). Empty for
/// equal sizes.
///
/// # Errors
/// As [`merkle::consistency_proof`]: sizes out of order, an empty old tree, a tree too large.
pub fn consistency_proof_tiles(old_size: u64, new_size: u64) -> Result<Vec<Tile>, MerkleError> {
    // Which hashes a proof reads depends on the sizes only, so a dry run over a reader that
    // records the indexes (and returns placeholders) names them.
    let recorder = Recorder::default();
    merkle::consistency_proof(old_size, new_size, &recorder)?;
    if old_size.is_power_of_two() && old_size < new_size {
        // The proof omits its starting node, the old root: [`classify`] needs the log's.
        merkle::tree_hash(old_size, &recorder)?;
    }
    let mut out: Vec<Tile> = Vec::new();
    for index in recorder.0.into_inner() {
        let tile = tile_of(index, new_size)?;
        if !out.contains(&tile) {
            out.push(tile);
        }
    }
    Ok(out)
}

/// The tile of the tree of `tree_size` records whose level-`8·L` hashes compute the stored hash
/// `index` (tiles::TileSet reads a node at height `h` from the `2^(h mod 8)` hashes below it at
/// level `8·floor(h/8)`, all in one tile).
fn tile_of(index: u64, tree_size: u64) -> Result<Tile, MerkleError> {
    let (height, x) = merkle::split_stored_hash_index(index);
    let level = height / TILE_HEIGHT;
    let first = x << (height % TILE_HEIGHT);
    let tile_index = first / u64::from(TILE_WIDTH);
    let count = tiles::level_hash_count(tree_size, level) - tile_index * u64::from(TILE_WIDTH);
    let width = u16::try_from(count.min(u64::from(TILE_WIDTH))).unwrap_or(TILE_WIDTH);
    Tile::new(level, tile_index, width).map_err(|e| MerkleError::Storage(e.to_string()))
}

/// A [`HashReader`] that notes what is read.
#[derive(Default)]
struct Recorder(RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash([0; 32]); indexes.len()])
    }
}

/// What a log's checkpoint `(new_size, new_root)` is to a mirror holding `(old_size, old_root)`,
/// `old_size <= new_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// The proof verifies: the log's tree extends the mirror's.
    Extends,
    /// The proof leads to the signed new root, so its hashes are the log's, but from another
    /// old root (or the sizes are equal and the roots differ): the log signed two trees that do
    /// not extend one another. `log_old_root` is the log's root at the old size, when the proof
    /// carries it (not when the old size is a power of two: the proof then starts from it).
    Forked { log_old_root: Option<Hash> },
    /// The proof does not lead to the signed root: bad data (a damaged or forged tile), which
    /// says nothing about the log.
    Unverified(MerkleError),
}

/// Classifies the consistency `proof` from the mirror's tree `(old_size, old_root)` to the log's
/// signed `(new_size, new_root)`. For an old size that is a power of two the proof's starting
/// node is the old root itself; `log_old_root` is then the log's hash of that node (read from
/// the same tiles), tried when the mirror's root does not verify: if it leads to the signed root
/// where the mirror's did not, the log forked.
#[must_use]
pub fn classify(
    old_size: u64,
    old_root: &Hash,
    new_size: u64,
    new_root: &Hash,
    proof: &[Hash],
    log_old_root: Option<&Hash>,
) -> Consistency {
    if old_size == 0 {
        // Every tree extends the empty one.
        return Consistency::Extends;
    }
    if old_size == new_size {
        return if old_root == new_root && proof.is_empty() {
            Consistency::Extends
        } else if proof.is_empty() {
            Consistency::Forked {
                log_old_root: Some(*new_root),
            }
        } else {
            Consistency::Unverified(MerkleError::WrongProofSize {
                got: proof.len(),
                want: 0,
            })
        };
    }
    match merkle::verify_consistency(old_size, new_size, proof, old_root, new_root) {
        Ok(()) => Consistency::Extends,
        Err(e) => match merkle::consistency_old_root(old_size, new_size, proof, new_root) {
            // The proof's hashes lead to the signed root: they are the log's.
            Ok(Some(log_root)) => Consistency::Forked {
                log_old_root: Some(log_root),
            },
            Ok(None) => match log_old_root {
                Some(log_root)
                    if log_root != old_root
                        && merkle::verify_consistency(
                            old_size, new_size, proof, log_root, new_root,
                        )
                        .is_ok() =>
                {
                    Consistency::Forked {
                        log_old_root: Some(*log_root),
                    }
                }
                _ => Consistency::Unverified(e),
            },
            Err(e) => Consistency::Unverified(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::RightBorder;
    use crate::tiles::{TilePath, TileSet, encode_tile};

    /// A tree of `n` records `i.to_be_bytes()`, and every stored hash as the tiles of it.
    fn tree(n: u64, salt: u8) -> (RightBorder, Vec<(u64, Hash)>) {
        let mut border = RightBorder::empty();
        let mut stored = Vec::new();
        for i in 0..n {
            let mut record = i.to_be_bytes().to_vec();
            record.push(salt);
            stored.extend(border.append(merkle::record_hash(&record)));
        }
        (border, stored)
    }

    struct Stored(std::collections::HashMap<u64, Hash>);

    impl HashReader for Stored {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
            indexes
                .iter()
                .map(|i| {
                    self.0
                        .get(i)
                        .copied()
                        .ok_or(MerkleError::Storage("".into()))
                })
                .collect()
        }
    }

    /// The tile `t` of a tree, from its stored hashes.
    fn tile_bytes(stored: &Stored, t: Tile, size: u64) -> Vec<u8> {
        let hashes = stored
            .read_hashes(&t.stored_hash_indexes(size).unwrap())
            .unwrap();
        encode_tile(&hashes)
    }

    /// Exhaustively for small trees: the named tiles alone give the proof, and it classifies as
    /// extending; the same proof against another tree's root (same sizes) is a fork when the
    /// proof carries the old root, and one hash flipped is never a fork.
    #[test]
    fn proofs_from_the_named_tiles_classify() {
        for new in 1..=300u64 {
            let (border, stored) = tree(new, 0);
            let stored = Stored(stored.into_iter().collect());
            for old in [1, 2, 3, 7, 8, 100, 255, 256, 257, 299]
                .into_iter()
                .filter(|&o| o <= new)
            {
                let mut set = TileSet::new();
                for t in consistency_proof_tiles(old, new).unwrap() {
                    assert!(t.is_in_tree(new), "{}", TilePath::Hashes(t));
                    set.insert(t, &tile_bytes(&stored, t, new)).unwrap();
                }
                let proof = merkle::consistency_proof(old, new, &set).unwrap();
                let old_root = merkle::tree_hash(old, &stored).unwrap();
                let root = border.root();
                assert_eq!(
                    classify(old, &old_root, new, &root, &proof, None),
                    Consistency::Extends
                );
                let (other, _) = tree(old, 1);
                let forked = classify(old, &other.root(), new, &root, &proof, Some(&old_root));
                assert_eq!(
                    forked,
                    Consistency::Forked {
                        log_old_root: Some(old_root)
                    },
                    "{old} {new}"
                );
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0].0[0] ^= 1;
                    assert!(
                        matches!(
                            classify(old, &old_root, new, &root, &bad, Some(&old_root)),
                            Consistency::Unverified(_)
                        ),
                        "{old} {new} {first:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn equal_sizes_and_the_empty_tree() {
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        assert_eq!(classify(0, &a, 5, &b, &[], None), Consistency::Extends);
        assert_eq!(classify(5, &a, 5, &a, &[], None), Consistency::Extends);
        assert_eq!(
            classify(5, &a, 5, &b, &[], None),
            Consistency::Forked {
                log_old_root: Some(b)
            }
        );
        assert!(consistency_proof_tiles(5, 5).unwrap().is_empty());
        assert!(consistency_proof_tiles(6, 5).is_err());
    }
}
