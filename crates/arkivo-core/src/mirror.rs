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
//! A mirror that also serves the log's Rekor v1 reads needs what the tiles do not carry: each
//! entry's integrated time and signed entry timestamp (SET), read from the log's v1 API and
//! checked by [`verify_v1_entry`] against the entry the mirror verified in its tiles.
//!
//! Bytes and sizes in, values out: no I/O.

use std::cell::RefCell;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::merkle::{self, Hash, HashReader, MerkleError};
use crate::signer::{self, EcdsaVerifyingKey};
use crate::tiles::{self, TILE_HEIGHT, TILE_WIDTH, Tile};
use crate::wire::LogEntry;

/// What a mirror stores of a log's v1 answer for one entry, besides the body it has from the
/// tiles: when the log integrated it, and the log's SET over it (rekor-v1-api.md §4, DER).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Entry {
    pub integrated_time: i64,
    pub set: Vec<u8>,
}

/// Checks the log's v1 answer `entry` (`{"<entry ID>": {...}}`, §4) for its entry `index`, whose
/// canonical `body` the mirror verified in the log's tiles against a signed checkpoint: the
/// answer is for that index, carries exactly that body (as the standard base64 the SET signs,
/// so that the mirror re-serves the same bytes), names the leaf in its entry ID and the log by
/// the key's log ID, and its SET verifies with the log's ECDSA key over
/// `{body, integratedTime, logID, logIndex}` (§4). Returns what the mirror stores; the answer's
/// inclusion proof and checkpoint are the log's current ones and are not kept.
///
/// # Errors
/// A message naming the first check that failed.
pub fn verify_v1_entry(
    key: &EcdsaVerifyingKey,
    index: u64,
    body: &[u8],
    entry: &LogEntry,
) -> Result<V1Entry, String> {
    let mut members = entry.iter();
    let (Some((id, e)), None) = (members.next(), members.next()) else {
        return Err(format!(
            "the answer for entry {index} has {} members, not one",
            entry.len()
        ));
    };
    if e.log_index != index {
        return Err(format!(
            "asked for entry {index}, the log answered entry {}",
            e.log_index
        ));
    }
    if e.body != B64.encode(body) {
        return Err(format!(
            "the log's v1 body of entry {index} is not the entry in its tiles"
        ));
    }
    let leaf = merkle::record_hash(body).to_hex();
    if id.len() != 80 || id[16..] != leaf {
        return Err(format!(
            "the entry ID {id:?} of entry {index} does not name its leaf hash {leaf}"
        ));
    }
    let log_id = hex::encode(signer::ecdsa_log_id(key));
    if e.log_id != log_id {
        return Err(format!(
            "entry {index} names log {}, not the log's key {log_id}",
            e.log_id
        ));
    }
    let set = B64
        .decode(&e.verification.signed_entry_timestamp)
        .map_err(|_| format!("the SET of entry {index} is not base64"))?;
    if !signer::verify_set(key, &e.body, e.integrated_time, &log_id, index, &set) {
        return Err(format!(
            "the SET of entry {index} does not verify with the log's key"
        ));
    }
    Ok(V1Entry {
        integrated_time: e.integrated_time,
        set,
    })
}

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

    /// A v1 answer signed with real keys verifies; each member mutated does not.
    #[test]
    fn v1_entries_verify_and_mutations_do_not() {
        use crate::wire::{InclusionProof, LogEntryBody, Verification};
        let keys = crate::signer::LogKeys::generate();
        let key = *keys.ecdsa_verifying_key();
        let body = br#"{"kind":"test"}"#.to_vec();
        let (index, time) = (7u64, 1_700_000_000i64);
        let body_b64 = B64.encode(&body);
        let log_id = keys.log_id_hex();
        let set = keys.ecdsa_sign(&signer::set_payload(&body_b64, time, &log_id, index));
        let id = format!("{:016x}{}", 42, merkle::record_hash(&body).to_hex());
        let answer = |id: &str, e: LogEntryBody| LogEntry::from([(id.to_owned(), e)]);
        let good = LogEntryBody {
            body: body_b64,
            integrated_time: time,
            log_id,
            log_index: index,
            verification: Verification {
                inclusion_proof: InclusionProof {
                    checkpoint: String::new(),
                    hashes: vec![],
                    log_index: index,
                    root_hash: String::new(),
                    tree_size: 8,
                },
                signed_entry_timestamp: B64.encode(&set),
            },
        };
        assert_eq!(
            verify_v1_entry(&key, index, &body, &answer(&id, good.clone())),
            Ok(V1Entry {
                integrated_time: time,
                set: set.clone()
            })
        );
        let mut bad = vec![
            answer(
                &id,
                LogEntryBody {
                    integrated_time: time + 1,
                    ..good.clone()
                },
            ),
            answer(
                &id,
                LogEntryBody {
                    log_index: index + 1,
                    ..good.clone()
                },
            ),
            answer(
                &id,
                LogEntryBody {
                    body: B64.encode(b"other"),
                    ..good.clone()
                },
            ),
            answer(
                &id,
                LogEntryBody {
                    log_id: "00".repeat(32),
                    ..good.clone()
                },
            ),
            answer(&id.replace(&id[70..72], "zz"), good.clone()),
        ];
        let mut flipped = set.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let mut e = good.clone();
        e.verification.signed_entry_timestamp = B64.encode(&flipped);
        bad.push(answer(&id, e));
        let mut two = answer(&id, good.clone());
        two.insert("0".repeat(80), good.clone());
        bad.push(two);
        for (i, a) in bad.iter().enumerate() {
            assert!(
                verify_v1_entry(&key, index, &body, a).is_err(),
                "mutation {i}"
            );
        }
        // The right answer for another body, or another key, does not verify either.
        assert!(verify_v1_entry(&key, index, b"x", &answer(&id, good.clone())).is_err());
        let other = *crate::signer::LogKeys::generate().ecdsa_verifying_key();
        assert!(verify_v1_entry(&other, index, &body, &answer(&id, good)).is_err());
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
