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
//! A mirror that is sent the log (tlog-mirror push mode, "add-entries") reads the request's
//! header ([`AddEntriesHeader::parse`]) and then its canonical sequence of entry packages
//! ([`entry_packages`], [`EntryPackage::parse`]), each authenticated by a subtree consistency
//! proof against the pending checkpoint ([`EntryPackage::verify`]) before it is stored.
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
    // `get`, not an index: the ID is the log's bytes, and need not be ASCII.
    if id.len() != 80 || id.get(16..) != Some(leaf.as_str()) {
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

/// The `Content-Type` of add-entries' 409 and 202 answers (tlog-mirror "add-entries").
pub const MIRROR_INFO_CONTENT_TYPE: &str = "text/x.tlog.mirror-info";

/// Entries per package, aligned at its multiples (tlog-mirror: "aligned at multiples of 256",
/// one entry bundle each, tlog-tiles §4.5).
pub const PACKAGE_WIDTH: u64 = TILE_WIDTH as u64;

/// The most hashes a package's subtree consistency proof may have (tlog-mirror: `num_hashes`
/// "MUST be at most 63").
pub const MAX_PACKAGE_PROOF_HASHES: usize = 63;

/// Why an add-entries body does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed add-entries request: {0}")]
pub struct Malformed(pub String);

/// The fixed part of an add-entries body (tlog-mirror "Request Body").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddEntriesHeader {
    /// The log's origin line.
    pub log_origin: String,
    pub upload_start: u64,
    /// The tree size of the pending checkpoint the packages are proven against.
    pub upload_end: u64,
    /// The mirror's opaque value from an earlier answer, or empty.
    pub ticket: Vec<u8>,
}

/// Reads `n` bytes at `*at` and advances past them; `None` if `buf` ends first.
fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = at.checked_add(n)?;
    let got = buf.get(*at..end)?;
    *at = end;
    Some(got)
}

fn take_u16(buf: &[u8], at: &mut usize) -> Option<usize> {
    take(buf, at, 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
}

fn take_u64(buf: &[u8], at: &mut usize) -> Option<u64> {
    take(buf, at, 8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

impl AddEntriesHeader {
    /// Parses the header at the start of `buf` (the body read so far): `Ok(None)` while it is
    /// incomplete, else the header and its length in bytes. A body streams in, so the header is
    /// known (and its sizes checked) before the packages arrive.
    ///
    /// # Errors
    /// [`Malformed`]: an origin that is not UTF-8; `upload_start > upload_end`.
    pub fn parse(buf: &[u8]) -> Result<Option<(AddEntriesHeader, usize)>, Malformed> {
        let mut at = 0;
        let parsed = (|| {
            let origin_len = take_u16(buf, &mut at)?;
            let origin = take(buf, &mut at, origin_len)?;
            let upload_start = take_u64(buf, &mut at)?;
            let upload_end = take_u64(buf, &mut at)?;
            let ticket_len = take_u16(buf, &mut at)?;
            let ticket = take(buf, &mut at, ticket_len)?;
            Some((origin, upload_start, upload_end, ticket))
        })();
        let Some((origin, upload_start, upload_end, ticket)) = parsed else {
            return Ok(None);
        };
        let log_origin = std::str::from_utf8(origin)
            .map_err(|_| Malformed("log_origin is not UTF-8".into()))?
            .to_owned();
        if upload_start > upload_end {
            return Err(Malformed(format!(
                "upload_start {upload_start} is past upload_end {upload_end}"
            )));
        }
        Ok(Some((
            AddEntriesHeader {
                log_origin,
                upload_start,
                upload_end,
                ticket: ticket.to_vec(),
            },
            at,
        )))
    }
}

/// One package of the canonical sequence: the entries `[start, end)`, proven as part of the
/// subtree `[subtree_start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageRange {
    pub subtree_start: u64,
    pub start: u64,
    pub end: u64,
}

/// The canonical sequence of entry packages of `[upload_start, upload_end)` (tlog-mirror
/// "Request Body"): package `i` holds `[max(upload_start, rounded_start + 256 i),
/// min(upload_end, rounded_start + 256 (i + 1)))`; empty when the two are equal.
pub fn entry_packages(upload_start: u64, upload_end: u64) -> impl Iterator<Item = PackageRange> {
    let rounded_start = upload_start - upload_start % PACKAGE_WIDTH;
    let count = if upload_start >= upload_end {
        0
    } else {
        upload_end.div_ceil(PACKAGE_WIDTH) - rounded_start / PACKAGE_WIDTH
    };
    (0..count).map(move |i| {
        let subtree_start = rounded_start + i * PACKAGE_WIDTH;
        PackageRange {
            subtree_start,
            start: upload_start.max(subtree_start),
            // Saturating: the last package of a range ending near u64::MAX would overflow.
            end: upload_end.min(subtree_start.saturating_add(PACKAGE_WIDTH)),
        }
    })
}

/// An entry package as received: its entries and its subtree consistency proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPackage {
    pub entries: Vec<Vec<u8>>,
    pub proof: Vec<Hash>,
}

impl EntryPackage {
    /// Parses the package of `range` at the start of `buf`: `Ok(None)` while it is incomplete,
    /// else the package and its length in bytes.
    ///
    /// # Errors
    /// [`Malformed`]: more than [`MAX_PACKAGE_PROOF_HASHES`] hashes.
    pub fn parse(
        buf: &[u8],
        range: PackageRange,
    ) -> Result<Option<(EntryPackage, usize)>, Malformed> {
        let mut at = 0;
        let count = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
        let mut entries = Vec::with_capacity(count.min(TILE_WIDTH.into()));
        for _ in 0..count {
            let Some(len) = take_u16(buf, &mut at) else {
                return Ok(None);
            };
            let Some(entry) = take(buf, &mut at, len) else {
                return Ok(None);
            };
            entries.push(entry.to_vec());
        }
        let Some(&[num_hashes]) = take(buf, &mut at, 1) else {
            return Ok(None);
        };
        let num_hashes = usize::from(num_hashes);
        if num_hashes > MAX_PACKAGE_PROOF_HASHES {
            return Err(Malformed(format!(
                "the package of [{}, {}) has num_hashes {num_hashes}, more than \
                 {MAX_PACKAGE_PROOF_HASHES}",
                range.start, range.end
            )));
        }
        let Some(hashes) = take(buf, &mut at, num_hashes * merkle::HASH_SIZE) else {
            return Ok(None);
        };
        let proof = hashes
            .chunks_exact(merkle::HASH_SIZE)
            .map(|h| Hash::from_slice(h).expect("32 bytes"))
            .collect();
        Ok(Some((EntryPackage { entries, proof }, at)))
    }

    /// Authenticates the package of `range` (tlog-mirror "Processing"): the subtree hash of
    /// `[subtree_start, end)` from `held` (the record hashes of `[subtree_start, start)`, which
    /// the mirror already has) and the received entries, then its subtree consistency proof
    /// against the pending checkpoint `(tree_size, root)`. Returns the entries' record hashes.
    ///
    /// # Errors
    /// [`MerkleError`] when the proof does not verify.
    pub fn verify(
        &self,
        range: PackageRange,
        held: &[Hash],
        tree_size: u64,
        root: &Hash,
    ) -> Result<Vec<Hash>, MerkleError> {
        let leaves: Vec<Hash> = self
            .entries
            .iter()
            .map(|e| merkle::record_hash(e))
            .collect();
        // The subtree is a tree of its own (draft-ietf-plants-merkle-tree-certs-02 §4.1).
        let mut subtree = merkle::RightBorder::empty();
        for leaf in held.iter().chain(&leaves) {
            // Only the subtree's root is needed here; the mirror stores the hashes of its own
            // tree when it commits the entries.
            let _ = subtree.append(*leaf);
        }
        merkle::verify_subtree_consistency(
            range.subtree_start,
            range.end,
            tree_size,
            &self.proof,
            &subtree.root(),
            root,
        )?;
        Ok(leaves)
    }
}

/// The body of add-entries' 409 and 202 answers (tlog-mirror "Processing"): a valid pending
/// checkpoint's tree size, the next entry, the ticket in base64, each on its own line.
pub fn mirror_info_body(pending_size: u64, next_entry: u64, ticket: &[u8]) -> String {
    format!("{pending_size}\n{next_entry}\n{}\n", B64.encode(ticket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::RightBorder;
    use crate::tiles::{TilePath, TileSet, encode_tile};

    /// An add-entries body as a sender writes it (tlog-mirror "Request Body"), for the
    /// entries `records[upload_start..upload_end]` of the tree of `records.len()` records.
    fn add_entries_body(records: &[Vec<u8>], upload_start: u64, upload_end: u64) -> Vec<u8> {
        let stored = stored_of(records);
        let mut body = Vec::new();
        body.extend(3u16.to_be_bytes());
        body.extend(b"log");
        body.extend(upload_start.to_be_bytes());
        body.extend(upload_end.to_be_bytes());
        body.extend(1u16.to_be_bytes());
        body.push(7);
        for p in entry_packages(upload_start, upload_end) {
            for r in &records[p.start as usize..p.end as usize] {
                body.extend(u16::try_from(r.len()).unwrap().to_be_bytes());
                body.extend(r);
            }
            let proof =
                merkle::subtree_consistency_proof(p.subtree_start, p.end, upload_end, &stored)
                    .unwrap();
            body.push(u8::try_from(proof.len()).unwrap());
            for h in proof {
                body.extend(h.as_bytes());
            }
        }
        body
    }

    fn stored_of(records: &[Vec<u8>]) -> Vec<Hash> {
        let mut border = RightBorder::empty();
        let mut stored = Vec::new();
        for r in records {
            stored.extend(
                border
                    .append(merkle::record_hash(r))
                    .into_iter()
                    .map(|(_, h)| h),
            );
        }
        stored
    }

    #[test]
    fn the_canonical_sequence_of_packages() {
        assert_eq!(entry_packages(5, 5).count(), 0);
        assert_eq!(entry_packages(0, 0).count(), 0);
        let p: Vec<_> = entry_packages(300, 1000)
            .map(|p| (p.subtree_start, p.start, p.end))
            .collect();
        assert_eq!(p, [(256, 300, 512), (512, 512, 768), (768, 768, 1000)]);
        let p: Vec<_> = entry_packages(0, 256)
            .map(|p| (p.subtree_start, p.start, p.end))
            .collect();
        assert_eq!(p, [(0, 0, 256)]);
        let p: Vec<_> = entry_packages(10, 20)
            .map(|p| (p.subtree_start, p.start, p.end))
            .collect();
        assert_eq!(p, [(0, 10, 20)]);
        // The last at the very top of u64 (found by the fuzz target): no package end overflows.
        for (a, b) in [
            (0, 1),
            (255, 257),
            (256, 513),
            (1, u64::from(u16::MAX) * 3),
            (u64::MAX - 64, u64::MAX),
            (u64::MAX - 300, u64::MAX),
        ] {
            let all: Vec<_> = entry_packages(a, b).collect();
            assert_eq!(all.first().unwrap().start, a);
            assert_eq!(all.last().unwrap().end, b);
            for w in all.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(w[1].subtree_start, w[1].start);
            }
            for p in &all {
                assert!(merkle::is_valid_subtree(p.subtree_start, p.end));
            }
        }
    }

    /// Reads a whole body as a mirror does: the header, then each package in turn, each
    /// verified with the held record hashes before it.
    fn receive(body: &[u8], records: &[Vec<u8>], next: u64, root: &Hash) -> Result<u64, String> {
        let (h, mut at) = AddEntriesHeader::parse(body).unwrap().unwrap();
        assert_eq!(
            (h.log_origin.as_str(), h.ticket.as_slice()),
            ("log", &[7u8][..])
        );
        let mut held: Vec<Hash> = records[..next as usize]
            .iter()
            .map(|r| merkle::record_hash(r))
            .collect();
        for p in entry_packages(h.upload_start, h.upload_end) {
            let (package, len) = EntryPackage::parse(&body[at..], p)
                .map_err(|e| e.to_string())?
                .ok_or("truncated")?;
            at += len;
            let before = &held[p.subtree_start as usize..p.start as usize];
            let leaves = package
                .verify(p, before, h.upload_end, root)
                .map_err(|e| e.to_string())?;
            held.truncate(p.start as usize);
            held.extend(leaves);
        }
        assert_eq!(at, body.len());
        Ok(held.len() as u64)
    }

    #[test]
    fn add_entries_bodies_verify_and_mutations_do_not() {
        let records: Vec<Vec<u8>> = (0..700u32)
            .map(|i| format!("entry {i}").into_bytes())
            .collect();
        let root = merkle::tree_hash(700, &stored_of(&records)).unwrap();
        for (start, end, next) in [
            (0, 700, 0),
            (300, 700, 300),
            (300, 700, 512),
            (256, 700, 400),
            (699, 700, 699),
        ] {
            let body = add_entries_body(&records, start, end);
            assert_eq!(receive(&body, &records, next, &root), Ok(end));
            // Every prefix of the body is incomplete, never an error.
            for cut in (0..body.len()).step_by(97) {
                let (h, at) = match AddEntriesHeader::parse(&body[..cut]).unwrap() {
                    Some(x) => x,
                    None => continue,
                };
                let first = entry_packages(h.upload_start, h.upload_end).next().unwrap();
                let whole = EntryPackage::parse(&body[at..], first).unwrap().unwrap().1;
                if cut < at + whole {
                    assert_eq!(EntryPackage::parse(&body[at..cut], first), Ok(None));
                }
            }
        }
        // A changed entry, a changed proof hash, another root: 422's cases.
        let body = add_entries_body(&records, 0, 700);
        let (_, at) = AddEntriesHeader::parse(&body).unwrap().unwrap();
        let mut bad = body.clone();
        bad[at + 2] ^= 1;
        assert!(receive(&bad, &records, 0, &root).is_err());
        let mut bad = body.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(receive(&bad, &records, 0, &root).is_err());
        let mut other = root;
        other.0[0] ^= 1;
        assert!(receive(&body, &records, 0, &other).is_err());
        // The entries of another tree of the same size (a fork) do not verify.
        let mut forked = records.clone();
        forked[650] = b"forked".to_vec();
        assert!(receive(&add_entries_body(&forked, 0, 700), &records, 0, &root).is_err());
    }

    #[test]
    fn malformed_add_entries_parts() {
        let mut h = vec![0, 1, 0xff];
        h.extend(0u64.to_be_bytes());
        h.extend(0u64.to_be_bytes());
        h.extend([0, 0]);
        assert!(AddEntriesHeader::parse(&h).is_err());
        let mut h = vec![0, 1, b'l'];
        h.extend(5u64.to_be_bytes());
        h.extend(4u64.to_be_bytes());
        h.extend([0, 0]);
        assert!(AddEntriesHeader::parse(&h).is_err());
        assert_eq!(AddEntriesHeader::parse(&h[..h.len() - 1]), Ok(None));
        let range = PackageRange {
            subtree_start: 0,
            start: 0,
            end: 1,
        };
        assert!(EntryPackage::parse(&[0, 0, 64], range).is_err());
        let mut p = vec![0, 1, b'x', 63];
        p.extend([0; 63 * 32]);
        let (package, len) = EntryPackage::parse(&p, range).unwrap().unwrap();
        assert_eq!(
            (package.entries, package.proof.len(), len),
            (vec![b"x".to_vec()], 63, p.len())
        );
        assert_eq!(mirror_info_body(10, 4, b""), "10\n4\n\n");
        assert_eq!(mirror_info_body(10, 4, b"\x01"), "10\n4\nAQ==\n");
    }

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
            // 80 bytes with a two-byte character across byte 16 (found by the fuzz target).
            answer(&format!("{}Ξ{}", &id[..15], &id[17..]), good.clone()),
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
