//! Tests of the Merkle core (`arkivo_core::merkle`), four ways:
//!
//! 1. the vectors of `testdata/merkle` (its README, §1): every inclusion and
//!    consistency probe, and the 8-leaf reference tree (roots, node hashes, generated proofs);
//! 2. independent references: a naive recursive RFC 6962 implementation written here (MTH, PATH,
//!    SUBPROOF, plus verifiers that mirror those recursions) and `rs_merkle`, compared on every
//!    root, inclusion proof and consistency proof of every tree of 1..=100 records;
//! 3. every tree of up to 100 records: each proof verifies, and mutated proofs, hashes, indexes
//!    and sizes fail (or, for a changed index or size, succeed exactly when the naive verifier
//!    says the claim still holds);
//! 4. proptest: a real tree of about 2^17 records at random sizes, a sparse but genuine tree of
//!    up to 2^62 records, an arbitrary-hash store for proof structure, and the stored-hash
//!    layout.
//!
//! Debug-build SHA-256 costs about 4 µs per node hash here, so the exhaustive tests flip one
//! bit per hash (all bits for trees of up to 5 records); `every_bit_of_every_proof` does all
//! bits for all trees up to 100 and is `#[ignore]`d (run it with `--release -- --ignored`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arkivo_core::merkle::{
    HASH_SIZE, Hash, HashReader, MAX_TREE_SIZE, MerkleError, RightBorder, consistency_old_root,
    consistency_proof, empty_root, inclusion_proof, record_hash, split_stored_hash_index,
    stored_hash_count, stored_hash_index, tree_hash, verify_consistency, verify_inclusion,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde::Deserialize;
use sha2::{Digest, Sha256};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/merkle");

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The record of a test tree at `i` (distinct for every index).
fn leaf(i: u64) -> Hash {
    record_hash(&i.to_be_bytes())
}

/// Stored hashes of the tree of records `leaf(0..n)`, built only through `RightBorder::append`,
/// checking that appends hand out consecutive stored-hash indexes.
fn build_store(n: u64) -> Vec<Hash> {
    let mut border = RightBorder::empty();
    let mut stored = Vec::new();
    for i in 0..n {
        for (index, h) in border.append(leaf(i)) {
            assert_eq!(
                index,
                stored.len() as u64,
                "append {i} skipped or reused a slot"
            );
            stored.push(h);
        }
    }
    assert_eq!(stored.len() as u64, stored_hash_count(n));
    stored
}

/// The stored hashes a tree of `size` records has: reading past them must fail, so a proof or
/// root that touches a hash that is not yet complete at `size` is caught.
fn prefix(stored: &[Hash], size: u64) -> &[Hash] {
    &stored[..stored_hash_count(size) as usize]
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[bit / 8] ^= 1 << (bit % 8);
    out
}

fn flip_in(proof: &[Hash], j: usize, bit: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[j] = flip(&p[j], bit);
    p
}

fn unhex(s: &str) -> Hash {
    Hash::from_hex(s).unwrap_or_else(|| panic!("bad hex {s:?}"))
}

// ---------------------------------------------------------------------------------------------
// 1. Shared vectors
// ---------------------------------------------------------------------------------------------

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
}

/// Decodes a base64 field (`null` and `""` are the empty string). `None` when the value is not
/// exactly 32 bytes: the probe then asserts that such an input fails.
fn vector_hash(v: &Option<String>) -> Option<Hash> {
    let bytes = STANDARD
        .decode(v.as_deref().unwrap_or(""))
        .unwrap_or_else(|e| panic!("bad base64 {v:?}: {e}"));
    Hash::from_slice(&bytes)
}

fn vector_proof(v: &Option<Vec<String>>) -> Option<Vec<Hash>> {
    v.iter()
        .flatten()
        .map(|s| vector_hash(&Some(s.clone())))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InclusionProbe {
    leaf_idx: u64,
    tree_size: u64,
    root: Option<String>,
    leaf_hash: Option<String>,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConsistencyProbe {
    size1: u64,
    size2: u64,
    root1: Option<String>,
    root2: Option<String>,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// The one probe where upstream's untyped API accepts a root that is not 32 bytes: for equal
/// sizes `transparency-dev/merkle` only compares the two byte strings (here both are base64 of
/// `"don't care 2"`), so the probe expects success. Our `Hash` cannot hold 12 bytes, so such a
/// root is rejected before verification; the probe is checked in its typed form instead: equal
/// roots at equal sizes with an empty proof verify.
const UNTYPED_EQUAL_ROOTS: &str =
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

/// Runs every probe of one kind; returns (files, probes that failed, of which wrong-length).
fn run_vectors<P: for<'de> Deserialize<'de>>(
    kind: &str,
    run: impl Fn(&P) -> (Result<(), String>, bool, &str),
) -> (usize, usize, usize) {
    let mut files = Vec::new();
    json_files(&Path::new(TESTDATA).join(kind), &mut files);
    let (mut failed, mut wrong_length) = (0, 0);
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let probe: P =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (result, want_err, desc) = run(&probe);
        if path.ends_with(UNTYPED_EQUAL_ROOTS) {
            assert_eq!(
                result,
                Err("not 32 bytes".to_string()),
                "{}",
                path.display()
            );
            assert!(!want_err);
            let h = record_hash(b"don't care 2");
            assert_eq!(verify_consistency(1, 1, &[], &h, &h), Ok(()));
            continue;
        }
        assert_eq!(
            result.is_err(),
            want_err,
            "{}: {desc}: got {result:?}",
            path.display()
        );
        if let Err(e) = &result {
            failed += 1;
            wrong_length += usize::from(e == "not 32 bytes");
        }
    }
    (files.len(), failed, wrong_length)
}

#[test]
fn shared_inclusion_vectors() {
    let (files, failed, wrong_length) = run_vectors(
        "inclusion",
        |p: &InclusionProbe| -> (Result<(), String>, bool, &str) {
            let result = match (
                vector_hash(&p.leaf_hash),
                vector_hash(&p.root),
                vector_proof(&p.proof),
            ) {
                (Some(leaf), Some(root), Some(proof)) => {
                    verify_inclusion(p.leaf_idx, p.tree_size, &leaf, &proof, &root)
                        .map_err(|e| e.to_string())
                }
                _ => Err("not 32 bytes".to_string()),
            };
            (result, p.want_err, &p.desc)
        },
    );
    assert_eq!(files, 98, "inclusion probes read");
    // Both outcomes occur, and wrong-length inputs were mapped to failures, not skipped.
    assert!(failed > 0 && failed < files, "{failed} of {files} failed");
    assert!(wrong_length > 0);
}

#[test]
fn shared_consistency_vectors() {
    let (files, failed, wrong_length) = run_vectors(
        "consistency",
        |p: &ConsistencyProbe| -> (Result<(), String>, bool, &str) {
            let result = match (
                vector_hash(&p.root1),
                vector_hash(&p.root2),
                vector_proof(&p.proof),
            ) {
                (Some(r1), Some(r2), Some(proof)) => {
                    verify_consistency(p.size1, p.size2, &proof, &r1, &r2)
                        .map_err(|e| e.to_string())
                }
                _ => Err("not 32 bytes".to_string()),
            };
            (result, p.want_err, &p.desc)
        },
    );
    assert_eq!(files, 98, "consistency probes read");
    assert!(failed > 0 && failed < files, "{failed} of {files} failed");
    assert!(wrong_length > 0);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReferenceTree {
    leaf_inputs_hex: Vec<String>,
    node_hashes_by_level: Vec<Vec<String>>,
    root_hashes_by_size: Vec<String>,
    inclusion_proofs: Vec<RefInclusion>,
    consistency_proofs: Vec<RefConsistency>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefInclusion {
    leaf_index: u64,
    tree_size: u64,
    proof_hex: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefConsistency {
    size1: u64,
    size2: u64,
    proof_hex: Vec<String>,
}

#[test]
fn reference_tree_8() {
    let text = std::fs::read_to_string(Path::new(TESTDATA).join("reference-tree-8.json")).unwrap();
    let t: ReferenceTree = serde_json::from_str(&text).unwrap();
    assert_eq!(t.leaf_inputs_hex.len(), 8);
    assert_eq!(t.root_hashes_by_size.len(), 9);

    let mut border = RightBorder::empty();
    let mut stored = Vec::new();
    let mut leaves = Vec::new();
    for (n, input) in t.leaf_inputs_hex.iter().enumerate() {
        assert_eq!(
            border.root(),
            unhex(&t.root_hashes_by_size[n]),
            "border root, size {n}"
        );
        let leaf = record_hash(&hex::decode(input).unwrap());
        leaves.push(leaf);
        for (index, h) in border.append(leaf) {
            assert_eq!(index, stored.len() as u64);
            stored.push(h);
        }
    }
    assert_eq!(border.root(), unhex(&t.root_hashes_by_size[8]));
    for (n, root) in t.root_hashes_by_size.iter().enumerate() {
        let n = n as u64;
        assert_eq!(
            tree_hash(n, prefix(&stored, n)).unwrap(),
            unhex(root),
            "size {n}"
        );
    }
    // Every node hash sits at its stored-hash index.
    let mut nodes = 0;
    for (level, row) in t.node_hashes_by_level.iter().enumerate() {
        for (n, h) in row.iter().enumerate() {
            let index = stored_hash_index(level as u8, n as u64);
            assert_eq!(stored[index as usize], unhex(h), "node ({level}, {n})");
            nodes += 1;
        }
    }
    assert_eq!(nodes, 15);
    assert_eq!(
        t.node_hashes_by_level[0]
            .iter()
            .map(|h| unhex(h))
            .collect::<Vec<_>>(),
        leaves
    );

    assert_eq!(t.inclusion_proofs.len(), 5);
    for c in &t.inclusion_proofs {
        let want: Vec<Hash> = c.proof_hex.iter().map(|h| unhex(h)).collect();
        let got = inclusion_proof(c.tree_size, c.leaf_index, prefix(&stored, c.tree_size)).unwrap();
        assert_eq!(got, want, "inclusion {} in {}", c.leaf_index, c.tree_size);
        let root = unhex(&t.root_hashes_by_size[c.tree_size as usize]);
        verify_inclusion(
            c.leaf_index,
            c.tree_size,
            &leaves[c.leaf_index as usize],
            &got,
            &root,
        )
        .unwrap();
    }
    assert_eq!(t.consistency_proofs.len(), 5);
    for c in &t.consistency_proofs {
        let want: Vec<Hash> = c.proof_hex.iter().map(|h| unhex(h)).collect();
        let got = consistency_proof(c.size1, c.size2, prefix(&stored, c.size2)).unwrap();
        assert_eq!(got, want, "consistency {} -> {}", c.size1, c.size2);
        let r1 = unhex(&t.root_hashes_by_size[c.size1 as usize]);
        let r2 = unhex(&t.root_hashes_by_size[c.size2 as usize]);
        verify_consistency(c.size1, c.size2, &got, &r1, &r2).unwrap();
    }
    // RightBorder::from_stored agrees with the appended border.
    let rebuilt = RightBorder::from_stored(
        8,
        &stored.read_hashes(&RightBorder::stored_indexes(8)).unwrap(),
    )
    .unwrap();
    assert_eq!(rebuilt, border);
}

// ---------------------------------------------------------------------------------------------
// 2. Independent references
// ---------------------------------------------------------------------------------------------

/// RFC 6962 §2.1 written out as recursions over a list of leaf hashes, independent of the code
/// under test except for `node_hash`-free SHA-256 (it hashes on its own). `MTH` is memoised by
/// range, which changes nothing but the cost.
struct Naive {
    leaves: Vec<Hash>,
    memo: RefCell<HashMap<(usize, usize), Hash>>,
}

fn naive_node(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l.0);
    h.update(r.0);
    Hash(h.finalize().into())
}

/// The largest power of two strictly less than `n` (n >= 2), by counting.
fn naive_k(n: u64) -> u64 {
    let mut k = 1;
    while 2 * k < n {
        k *= 2;
    }
    k
}

impl Naive {
    fn new(n: u64) -> Self {
        Naive {
            leaves: (0..n).map(leaf).collect(),
            memo: RefCell::new(HashMap::new()),
        }
    }

    /// MTH(D[lo:hi]).
    fn mth(&self, lo: usize, hi: usize) -> Hash {
        if let Some(h) = self.memo.borrow().get(&(lo, hi)) {
            return *h;
        }
        let h = match hi - lo {
            0 => Hash(Sha256::digest([]).into()),
            1 => self.leaves[lo],
            n => {
                let k = naive_k(n as u64) as usize;
                naive_node(&self.mth(lo, lo + k), &self.mth(lo + k, hi))
            }
        };
        self.memo.borrow_mut().insert((lo, hi), h);
        h
    }

    /// PATH(m, D[lo:hi]), m relative to lo.
    fn path(&self, m: usize, lo: usize, hi: usize) -> Vec<Hash> {
        if hi - lo <= 1 {
            return Vec::new();
        }
        let k = naive_k((hi - lo) as u64) as usize;
        if m < k {
            let mut p = self.path(m, lo, lo + k);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.path(m - k, lo + k, hi);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    /// SUBPROOF(m, D[lo:hi], b), m relative to lo.
    fn subproof(&self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<Hash> {
        if m == hi - lo {
            return if b {
                Vec::new()
            } else {
                vec![self.mth(lo, hi)]
            };
        }
        let k = naive_k((hi - lo) as u64) as usize;
        if m <= k {
            let mut p = self.subproof(m, lo, lo + k, b);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.subproof(m - k, lo + k, hi, false);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    /// PROOF(m, D[n]).
    fn proof(&self, m: usize, n: usize) -> Vec<Hash> {
        self.subproof(m, 0, n, true)
    }
}

/// Verifies an inclusion proof by retracing PATH's recursion: the last proof hash is the
/// sibling at the top split, and so on down. Accepts iff the proof is used up exactly and the
/// recomputed root matches.
fn naive_verify_inclusion(m: u64, n: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    fn walk(m: u64, lo: u64, hi: u64, leaf: &Hash, rest: &mut &[Hash]) -> Option<Hash> {
        if hi - lo == 1 {
            return Some(*leaf);
        }
        let mid = lo + naive_k(hi - lo);
        let (sibling, front) = rest.split_last()?;
        *rest = front;
        Some(if m < mid {
            naive_node(&walk(m, lo, mid, leaf, rest)?, sibling)
        } else {
            naive_node(sibling, &walk(m, mid, hi, leaf, rest)?)
        })
    }
    if m >= n {
        return false;
    }
    let mut rest = proof;
    walk(m, 0, n, leaf, &mut rest) == Some(*root) && rest.is_empty()
}

/// Verifies a consistency proof by retracing SUBPROOF's recursion, computing both the hash of
/// the old part of each range and the hash of the whole range. Library semantics of the shared
/// vectors for the edge cases (old size 0 or above the new size fails; equal sizes need an
/// empty proof and equal roots).
fn naive_verify_consistency(m: u64, n: u64, proof: &[Hash], r1: &Hash, r2: &Hash) -> bool {
    fn walk(
        m: u64,
        lo: u64,
        hi: u64,
        whole: bool,
        r1: &Hash,
        rest: &mut &[Hash],
    ) -> Option<(Hash, Hash)> {
        if m == hi {
            if whole {
                return Some((*r1, *r1));
            }
            let (h, front) = rest.split_last()?;
            *rest = front;
            return Some((*h, *h));
        }
        let mid = lo + naive_k(hi - lo);
        let (sibling, front) = rest.split_last()?;
        *rest = front;
        Some(if m <= mid {
            let (old, new) = walk(m, lo, mid, whole, r1, rest)?;
            (old, naive_node(&new, sibling))
        } else {
            let (old, new) = walk(m, mid, hi, false, r1, rest)?;
            (naive_node(sibling, &old), naive_node(sibling, &new))
        })
    }
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && r1 == r2;
    }
    let mut rest = proof;
    walk(m, 0, n, true, r1, &mut rest) == Some((*r1, *r2)) && rest.is_empty()
}

#[derive(Clone)]
struct Rfc6962Hasher;

impl rs_merkle::Hasher for Rfc6962Hasher {
    type Hash = [u8; 32];

    /// Unused by the tree (leaves are given already hashed); plain SHA-256.
    fn hash(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    /// `SHA-256(0x01 || l || r)`; a lone right node is promoted unchanged, which builds the
    /// same left-full tree as RFC 6962.
    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => naive_node(&Hash(*left), &Hash(*r)).0,
            None => *left,
        }
    }
}

const REFERENCE_MAX: u64 = 100;

#[test]
fn agrees_with_naive_rfc6962_and_rs_merkle() {
    let naive = Naive::new(REFERENCE_MAX);
    let leaves: Vec<[u8; 32]> = naive.leaves.iter().map(|h| h.0).collect();
    let mut border = RightBorder::empty();
    let mut stored = Vec::new();
    assert_eq!(tree_hash(0, &stored).unwrap(), naive.mth(0, 0));
    let (mut inclusions, mut consistencies) = (0, 0);
    for n in 1..=REFERENCE_MAX {
        stored.extend(border.append(leaf(n - 1)).into_iter().map(|(_, h)| h));
        let store = prefix(&stored, n);
        let rs = rs_merkle::MerkleTree::<Rfc6962Hasher>::from_leaves(&leaves[..n as usize]);
        let root = naive.mth(0, n as usize);
        assert_eq!(tree_hash(n, store).unwrap(), root, "root of {n}");
        assert_eq!(border.root(), root, "border root of {n}");
        assert_eq!(rs.root(), Some(root.0), "rs_merkle root of {n}");
        for i in 0..n {
            let proof = inclusion_proof(n, i, store).unwrap();
            assert_eq!(
                proof,
                naive.path(i as usize, 0, n as usize),
                "PATH({i}, D[{n}])"
            );
            let rs_proof: Vec<Hash> = rs
                .proof(&[i as usize])
                .proof_hashes()
                .iter()
                .map(|h| Hash(*h))
                .collect();
            assert_eq!(proof, rs_proof, "rs_merkle proof of {i} in {n}");
            inclusions += 1;
        }
        for m in 1..=n {
            let proof = consistency_proof(m, n, store).unwrap();
            assert_eq!(
                proof,
                naive.proof(m as usize, n as usize),
                "PROOF({m}, D[{n}])"
            );
            consistencies += 1;
        }
    }
    assert_eq!(inclusions, 5050);
    assert_eq!(consistencies, 5050);
}

// ---------------------------------------------------------------------------------------------
// 3. Every small tree, with mutations
// ---------------------------------------------------------------------------------------------

/// How many bits of each hash a mutation test flips: all 256 for small trees (or on request),
/// else one, chosen to move around the hash as the case changes.
fn bits_to_flip(all: bool, seed: u64) -> Vec<usize> {
    if all {
        (0..HASH_SIZE * 8).collect()
    } else {
        vec![(seed.wrapping_mul(0x9e37_79b9) % 256) as usize]
    }
}

/// Counters that show the mutation tests exercised both outcomes.
#[derive(Default, Debug)]
struct Tally {
    proofs: usize,
    rejected: usize,
    /// Changed index or size that still verifies (the naive verifier agrees it holds).
    still_valid: usize,
}

fn check_inclusion_mutations(n_max: u64, all_bits_up_to: u64) -> Tally {
    let stored = build_store(n_max);
    let mut t = Tally::default();
    for n in 1..=n_max {
        let store = prefix(&stored, n);
        let root = tree_hash(n, store).unwrap();
        for i in 0..n {
            let l = leaf(i);
            let proof = inclusion_proof(n, i, store).unwrap();
            verify_inclusion(i, n, &l, &proof, &root).unwrap();
            assert!(naive_verify_inclusion(i, n, &l, &proof, &root));
            t.proofs += 1;
            let mut reject = |r: Result<(), MerkleError>, what: &str| {
                assert!(r.is_err(), "{what} accepted: index {i}, size {n}");
                t.rejected += 1;
            };
            let all = n <= all_bits_up_to;
            for j in 0..proof.len() {
                for bit in bits_to_flip(all, n * 131 + i * 7 + j as u64) {
                    let p = flip_in(&proof, j, bit);
                    reject(verify_inclusion(i, n, &l, &p, &root), "flipped proof");
                }
            }
            for bit in bits_to_flip(all, n * 17 + i) {
                reject(
                    verify_inclusion(i, n, &flip(&l, bit), &proof, &root),
                    "flipped leaf",
                );
                reject(
                    verify_inclusion(i, n, &l, &proof, &flip(&root, bit)),
                    "flipped root",
                );
            }
            // A proof of the wrong length is refused for its length, before any hashing.
            let want = proof.len();
            let mut wrong_length =
                vec![[&[l], &proof[..]].concat(), [&proof[..], &[root]].concat()];
            if !proof.is_empty() {
                wrong_length.extend([proof[1..].to_vec(), proof[..want - 1].to_vec()]);
            }
            for p in wrong_length {
                let got = p.len();
                let r = verify_inclusion(i, n, &l, &p, &root);
                assert_eq!(
                    r,
                    Err(MerkleError::WrongProofSize { got, want }),
                    "({i}, {n})"
                );
                reject(r, "wrong length");
            }
            if n > 1 {
                reject(verify_inclusion(i, n, &root, &proof, &root), "root as leaf");
            }
            // A neighbouring claim can hold with the same proof (e.g. record 0 in sizes 5 and
            // 6 has the same proof shape and root computation); our verifier must agree with
            // the naive one either way.
            let claims = [
                (i.wrapping_sub(1), n),
                (i + 1, n),
                (i, n - 1),
                (i, n + 1),
                (i ^ 1, n),
            ];
            for (i2, n2) in claims {
                if i2 == u64::MAX || (i2, n2) == (i, n) {
                    continue;
                }
                let ours = verify_inclusion(i2, n2, &l, &proof, &root).is_ok();
                let naive = naive_verify_inclusion(i2, n2, &l, &proof, &root);
                assert_eq!(ours, naive, "claim ({i2}, {n2}) from proof of ({i}, {n})");
                if ours {
                    t.still_valid += 1;
                } else {
                    t.rejected += 1;
                }
            }
        }
    }
    t
}

fn check_consistency_mutations(n_max: u64, all_bits_up_to: u64) -> Tally {
    let stored = build_store(n_max);
    let roots: Vec<Hash> = (0..=n_max)
        .map(|n| tree_hash(n, prefix(&stored, n)).unwrap())
        .collect();
    let mut t = Tally::default();
    for n in 1..=n_max {
        let store = prefix(&stored, n);
        let r2 = roots[n as usize];
        // From the empty tree and backwards: always errors, whatever the proof.
        assert_eq!(
            verify_consistency(0, n, &[], &roots[0], &r2),
            Err(MerkleError::EmptyOldTree)
        );
        assert!(verify_consistency(n + 1, n, &[], &r2, &r2).is_err());
        for m in 1..=n {
            let r1 = roots[m as usize];
            let proof = consistency_proof(m, n, store).unwrap();
            verify_consistency(m, n, &proof, &r1, &r2).unwrap();
            assert!(naive_verify_consistency(m, n, &proof, &r1, &r2));
            t.proofs += 1;
            let mut reject = |r: Result<(), MerkleError>, what: &str| {
                assert!(r.is_err(), "{what} accepted: {m} -> {n}");
                t.rejected += 1;
            };
            let all = n <= all_bits_up_to;
            for j in 0..proof.len() {
                for bit in bits_to_flip(all, n * 131 + m * 7 + j as u64) {
                    let p = flip_in(&proof, j, bit);
                    reject(verify_consistency(m, n, &p, &r1, &r2), "flipped proof");
                }
            }
            for bit in bits_to_flip(all, n * 17 + m) {
                reject(
                    verify_consistency(m, n, &proof, &flip(&r1, bit), &r2),
                    "flipped old root",
                );
                reject(
                    verify_consistency(m, n, &proof, &r1, &flip(&r2, bit)),
                    "flipped new root",
                );
            }
            let want = proof.len();
            let mut wrong_length = vec![[&[r1], &proof[..]].concat(), [&proof[..], &[r2]].concat()];
            if !proof.is_empty() {
                wrong_length.extend([proof[1..].to_vec(), proof[..want - 1].to_vec()]);
            }
            for p in wrong_length {
                let got = p.len();
                let r = verify_consistency(m, n, &p, &r1, &r2);
                assert_eq!(
                    r,
                    Err(MerkleError::WrongProofSize { got, want }),
                    "{m} -> {n}"
                );
                reject(r, "wrong length");
            }
            if m < n {
                reject(verify_consistency(m, n, &proof, &r2, &r1), "swapped roots");
            }
            let claims = [(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)];
            for (m2, n2) in claims {
                let ours = verify_consistency(m2, n2, &proof, &r1, &r2).is_ok();
                let naive = naive_verify_consistency(m2, n2, &proof, &r1, &r2);
                assert_eq!(ours, naive, "claim {m2} -> {n2} from proof of {m} -> {n}");
                if ours {
                    t.still_valid += 1;
                } else {
                    t.rejected += 1;
                }
            }
        }
    }
    t
}

#[test]
fn every_small_tree_inclusion() {
    let t = check_inclusion_mutations(REFERENCE_MAX, 5);
    assert_eq!(t.proofs, 5050);
    // Neighbouring claims that still hold exist but are rare; most mutations are rejected.
    assert!(t.still_valid > 0, "{t:?}");
    assert!(t.rejected > 15 * t.proofs, "{t:?}");
}

#[test]
fn every_small_tree_consistency() {
    let t = check_consistency_mutations(REFERENCE_MAX, 5);
    assert_eq!(t.proofs, 5050);
    assert!(t.still_valid > 0, "{t:?}");
    assert!(t.rejected > 12 * t.proofs, "{t:?}");
}

/// The old root a client learns from a consistency proof and a newer signed root: the naive
/// MTH for every non-power-of-two old size, nothing for powers of two (the proof omits it),
/// and an error once the proof or the new root is wrong.
#[test]
fn every_small_tree_old_root_from_consistency() {
    let naive = Naive::new(REFERENCE_MAX);
    for n in 1..=REFERENCE_MAX as usize {
        let new_root = naive.mth(0, n);
        for m in 1..=n {
            let proof = naive.proof(m, n);
            let got = consistency_old_root(m as u64, n as u64, &proof, &new_root).unwrap();
            if m == n || !m.is_power_of_two() {
                assert_eq!(got, Some(naive.mth(0, m)), "{m} -> {n}");
            } else {
                assert_eq!(got, None, "{m} -> {n}");
            }
            if m < n && !m.is_power_of_two() {
                let other = naive.mth(0, n - 1);
                assert!(consistency_old_root(m as u64, n as u64, &proof, &other).is_err());
                let mut bad = proof.clone();
                bad[0].0[0] ^= 1;
                assert!(consistency_old_root(m as u64, n as u64, &bad, &new_root).is_err());
            }
        }
    }
}

/// Every bit of every hash, for every tree up to 100 records (about 10^8 hashes: minutes in
/// a debug build, well under one in release).
#[test]
#[ignore = "slow in debug builds; run with cargo test --release -- --ignored"]
fn every_bit_of_every_proof() {
    assert_eq!(
        check_inclusion_mutations(REFERENCE_MAX, REFERENCE_MAX).proofs,
        5050
    );
    assert_eq!(
        check_consistency_mutations(REFERENCE_MAX, REFERENCE_MAX).proofs,
        5050
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Large sizes (proptest)
// ---------------------------------------------------------------------------------------------

/// A real tree, built once by appending, with a snapshot of its border every `SNAPSHOT_EVERY`
/// records so that "the border obtained by appending" at any size costs at most that many
/// appends. 2^17 + 4321 records: a non-power-of-two size with 17+ levels (debug SHA-256 makes
/// 2^20 cost several seconds).
const REAL_SIZE: u64 = (1 << 17) + 4321;
const SNAPSHOT_EVERY: u64 = 256;

struct RealTree {
    stored: Vec<Hash>,
    snapshots: Vec<RightBorder>,
}

fn real_tree() -> &'static RealTree {
    static TREE: OnceLock<RealTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut border = RightBorder::empty();
        let mut stored = Vec::with_capacity(stored_hash_count(REAL_SIZE) as usize);
        let mut snapshots = Vec::new();
        for i in 0..REAL_SIZE {
            if i % SNAPSHOT_EVERY == 0 {
                snapshots.push(border.clone());
            }
            stored.extend(border.append(leaf(i)).into_iter().map(|(_, h)| h));
        }
        assert_eq!(stored.len() as u64, stored_hash_count(REAL_SIZE));
        RealTree { stored, snapshots }
    })
}

impl RealTree {
    /// The border at `size`, by appending from the snapshot below it; the hashes each append
    /// completes must be the ones stored when the tree was built.
    fn border_by_appending(&self, size: u64) -> RightBorder {
        let mut b = self.snapshots[(size / SNAPSHOT_EVERY) as usize].clone();
        while b.size() < size {
            for (index, h) in b.append(leaf(b.size())) {
                assert_eq!(self.stored[index as usize], h, "stored hash {index}");
            }
        }
        b
    }
}

/// A store that counts its calls and remembers the largest index asked for.
struct Counting<R> {
    inner: R,
    calls: Cell<usize>,
    indexes: Cell<usize>,
    max_index: Cell<u64>,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Counting {
            inner,
            calls: Cell::new(0),
            indexes: Cell::new(0),
            max_index: Cell::new(0),
        }
    }

    /// Checks (and resets) the counters after one root or proof: a single read of at most
    /// `max_len` hashes, all of them complete in a tree of `size` records.
    fn check_one_read(&self, size: u64, max_len: usize) {
        assert_eq!(self.calls.replace(0), 1, "reads for size {size}");
        let n = self.indexes.replace(0);
        assert!(n <= max_len, "{n} hashes read for size {size}");
        let max = self.max_index.replace(0);
        assert!(
            max < stored_hash_count(size),
            "index {max} read for size {size}"
        );
    }
}

impl<R: HashReader> HashReader for Counting<R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.calls.set(self.calls.get() + 1);
        self.indexes.set(self.indexes.get() + indexes.len());
        let max = indexes.iter().copied().max().unwrap_or(0);
        self.max_index.set(self.max_index.get().max(max));
        // Every index must name a node that is complete somewhere: a split roundtrip.
        for &i in indexes {
            let (level, n) = split_stored_hash_index(i);
            assert_eq!(stored_hash_index(level, n), i);
        }
        self.inner.read_hashes(indexes)
    }
}

/// A genuine tree of any size up to `MAX_TREE_SIZE`: every record is `leaf(u64::MAX)` except a
/// few "special" indexes, which get `leaf(i)`. A subtree without special records is one of 63
/// precomputed perfect-tree hashes; one with special records is recomputed from its children,
/// so every stored hash is the true MTH of its range and proofs genuinely verify.
struct SparseTree {
    special: Vec<u64>,
    perfect: Vec<Hash>,
    memo: RefCell<HashMap<(u8, u64), Hash>>,
}

impl SparseTree {
    fn new(mut special: Vec<u64>) -> Self {
        special.sort_unstable();
        special.dedup();
        let mut perfect = vec![leaf(u64::MAX)];
        for l in 1..64 {
            let below = perfect[l - 1];
            perfect.push(naive_node(&below, &below));
        }
        SparseTree {
            special,
            perfect,
            memo: RefCell::new(HashMap::new()),
        }
    }

    fn node(&self, level: u8, n: u64) -> Hash {
        let lo = u128::from(n) << level;
        let hi = (u128::from(n) + 1) << level;
        let has_special = self
            .special
            .iter()
            .any(|&s| lo <= u128::from(s) && u128::from(s) < hi);
        if !has_special {
            return self.perfect[level as usize];
        }
        if level == 0 {
            return leaf(n);
        }
        if let Some(h) = self.memo.borrow().get(&(level, n)) {
            return *h;
        }
        let h = naive_node(
            &self.node(level - 1, 2 * n),
            &self.node(level - 1, 2 * n + 1),
        );
        self.memo.borrow_mut().insert((level, n), h);
        h
    }

    fn leaf_hash(&self, i: u64) -> Hash {
        self.node(0, i)
    }
}

impl HashReader for SparseTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        Ok(indexes
            .iter()
            .map(|&i| {
                let (level, n) = split_stored_hash_index(i);
                self.node(level, n)
            })
            .collect())
    }
}

/// Stored hash `i` is SHA-256 of `i`'s bytes: not a tree, but enough to check which hashes
/// proofs are built from and how many.
struct Arbitrary;

impl HashReader for Arbitrary {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        Ok(indexes
            .iter()
            .map(|i| Hash(Sha256::digest(i.to_be_bytes()).into()))
            .collect())
    }
}

/// A size and an index below it, biased towards powers of two and their neighbours.
fn size_and_index(max: u64) -> impl Strategy<Value = (u64, u64)> {
    let bits = 64 - max.leading_zeros();
    prop_oneof![
        1..=max,
        (1..bits, 0u64..3).prop_map(move |(b, d)| ((1u64 << b) - 1 + d).clamp(1, max)),
    ]
    .prop_flat_map(|n| (Just(n), prop_oneof![0..n, Just(0), Just(n - 1)]))
}

/// At most this many hashes are read for one proof or root of a tree of `size`.
fn read_bound(size: u64) -> usize {
    2 * (64 - size.leading_zeros() as usize) + 1
}

proptest! {
    // No failure persistence: a failing case is printed, not written next to the sources.
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn real_tree_proofs_verify((size, index) in size_and_index(REAL_SIZE), old_pick in any::<u64>()) {
        let tree = real_tree();
        let store = Counting::new(prefix(&tree.stored, size));
        let root = tree_hash(size, &store).unwrap();
        store.check_one_read(size, size.count_ones() as usize);

        let border = tree.border_by_appending(size);
        prop_assert_eq!(border.root(), root);
        let indexes = RightBorder::stored_indexes(size);
        let rebuilt = RightBorder::from_stored(size, &store.read_hashes(&indexes).unwrap()).unwrap();
        store.check_one_read(size, size.count_ones() as usize);
        prop_assert_eq!(&rebuilt, &border);

        let proof = inclusion_proof(size, index, &store).unwrap();
        if size > 1 {
            store.check_one_read(size, read_bound(size));
        }
        prop_assert_eq!(verify_inclusion(index, size, &leaf(index), &proof, &root), Ok(()));

        let old = 1 + old_pick % size;
        let old_root = tree_hash(old, &prefix(&tree.stored, old)).unwrap();
        let proof = consistency_proof(old, size, &store).unwrap();
        if old < size {
            store.check_one_read(size, read_bound(size));
        }
        prop_assert_eq!(verify_consistency(old, size, &proof, &old_root, &root), Ok(()));
    }

    #[test]
    fn sparse_tree_proofs_verify_up_to_2_62(
        (size, index) in size_and_index(MAX_TREE_SIZE),
        old_pick in any::<u64>(),
        others in prop::collection::vec(any::<u64>(), 0..4),
    ) {
        let old = 1 + old_pick % size;
        // Special records: the proven one, the ends of both trees, and a few random ones.
        let mut special: Vec<u64> = others.iter().map(|o| o % size).collect();
        special.extend([index, size - 1, old - 1, old.min(size - 1)]);
        let tree = Counting::new(SparseTree::new(special));
        let root = tree_hash(size, &tree).unwrap();
        tree.check_one_read(size, size.count_ones() as usize);
        let proof = inclusion_proof(size, index, &tree).unwrap();
        if size > 1 {
            tree.check_one_read(size, read_bound(size));
        }
        let l = tree.inner.leaf_hash(index);
        prop_assert_eq!(verify_inclusion(index, size, &l, &proof, &root), Ok(()));
        prop_assert!(verify_inclusion(index, size, &leaf(u64::MAX - 1), &proof, &root).is_err());

        let old_root = tree_hash(old, &tree).unwrap();
        tree.check_one_read(old, old.count_ones() as usize);
        let proof = consistency_proof(old, size, &tree).unwrap();
        if old < size {
            tree.check_one_read(size, read_bound(size));
            prop_assert!(verify_consistency(old, size, &proof, &root, &root).is_err());
        }
        prop_assert_eq!(verify_consistency(old, size, &proof, &old_root, &root), Ok(()));

        let border = RightBorder::from_stored(
            size,
            &tree.read_hashes(&RightBorder::stored_indexes(size)).unwrap(),
        ).unwrap();
        prop_assert_eq!(border.root(), root);
        prop_assert_eq!(border.size(), size);
    }

    #[test]
    fn arbitrary_store_proof_structure(
        (size, index) in size_and_index(MAX_TREE_SIZE),
        old_pick in any::<u64>(),
    ) {
        // Not a tree, so nothing verifies; but every proof must have the length the verifier
        // expects (so it fails on the root, not the length), come from one read of hashes
        // complete at `size`, and never read for a one-record tree.
        let store = Counting::new(Arbitrary);
        let root = tree_hash(size, &store).unwrap();
        store.check_one_read(size, size.count_ones() as usize);
        let proof = inclusion_proof(size, index, &store).unwrap();
        if size > 1 {
            store.check_one_read(size, read_bound(size));
        } else {
            prop_assert!(proof.is_empty());
            prop_assert_eq!(store.calls.get(), 0);
        }
        // The proof checks out only where the leaf is itself a border node (the last record
        // of an odd size): then the verifier folds exactly the stored hashes tree_hash folded.
        let l = Arbitrary.read_hashes(&[stored_hash_index(0, index)]).unwrap()[0];
        let want = if index == size - 1 && size % 2 == 1 { Ok(()) } else { Err(MerkleError::RootMismatch) };
        prop_assert_eq!(verify_inclusion(index, size, &l, &proof, &root), want);

        let old = 1 + old_pick % size;
        let proof = consistency_proof(old, size, &store).unwrap();
        if old < size {
            store.check_one_read(size, read_bound(size));
            prop_assert_eq!(
                verify_consistency(old, size, &proof, &root, &root),
                Err(MerkleError::RootMismatch)
            );
        } else {
            prop_assert!(proof.is_empty());
        }
    }

    #[test]
    fn stored_hash_index_roundtrip(level in 0u8..=62, pick in any::<u64>()) {
        // Any node of a tree of at most MAX_TREE_SIZE records.
        let n = pick % (MAX_TREE_SIZE >> level);
        let index = stored_hash_index(level, n);
        prop_assert_eq!(split_stored_hash_index(index), (level, n));
        // The node is stored by the append of its last record, after that record's leaf.
        let last = ((n + 1) << level) - 1;
        prop_assert_eq!(index, stored_hash_count(last) + u64::from(level));
        prop_assert!(index < stored_hash_count(last + 1));
    }

    #[test]
    fn split_stored_hash_index_roundtrip(index in 0..stored_hash_count(MAX_TREE_SIZE)) {
        let (level, n) = split_stored_hash_index(index);
        prop_assert!(level <= 62);
        prop_assert_eq!(stored_hash_index(level, n), index);
    }
}

#[test]
fn empty_tree_and_single_record() {
    let none: Vec<Hash> = Vec::new();
    assert_eq!(tree_hash(0, &none).unwrap(), empty_root());
    assert_eq!(RightBorder::empty().root(), empty_root());
    assert_eq!(RightBorder::stored_indexes(0), Vec::<u64>::new());
    let stored = build_store(1);
    assert_eq!(tree_hash(1, &stored).unwrap(), leaf(0));
    assert_eq!(inclusion_proof(1, 0, &stored).unwrap(), Vec::<Hash>::new());
    verify_inclusion(0, 1, &leaf(0), &[], &leaf(0)).unwrap();
    assert_eq!(
        verify_inclusion(0, 0, &leaf(0), &[], &empty_root()),
        Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        verify_consistency(0, 0, &[], &empty_root(), &empty_root()),
        Err(MerkleError::EmptyOldTree)
    );
}
