//! The Merkle core, tested four ways: the shared transparency-dev vectors, two independent
//! references (a naive RFC 6962 implementation written here from the RFC's definitions, and
//! rs_merkle), exhaustive small trees with every single-bit mutation, and property tests up to
//! 2^40 records.

use std::path::{Path, PathBuf};

use arkivo::merkle::{
    self, Hash, HashReader, MerkleError, RightBorder, node_hash, record_hash,
    split_stored_hash_index, stored_hash_index,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/merkle")
}

// ---------------------------------------------------------------------------------------------
// A naive RFC 6962 §2.1 reference: MTH, PATH and PROOF exactly as the RFC defines them.

fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n == 1 {
        return vec![];
    }
    let k = largest_power_of_two_below(n);
    let (mut p, other) = if m < k {
        (path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    p.push(other);
    p
}

fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { vec![] } else { vec![mth(leaves)] };
    }
    let k = largest_power_of_two_below(n);
    let (mut p, other) = if m <= k {
        (subproof(m, &leaves[..k], b), mth(&leaves[k..]))
    } else {
        (subproof(m - k, &leaves[k..], false), mth(&leaves[..k]))
    };
    p.push(other);
    p
}

// ---------------------------------------------------------------------------------------------
// rs_merkle with an RFC 6962 hasher: leaves given pre-hashed, a lone right node promoted.

#[derive(Clone)]
struct Rfc6962;

impl rs_merkle::Hasher for Rfc6962 {
    type Hash = [u8; 32];
    fn hash(data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }
    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => node_hash(&Hash(*left), &Hash(*r)).0,
            None => *left,
        }
    }
}

/// A tree built the way the server builds it: appended through the right border, with every
/// stored hash kept in a Vec (position = stored-hash index).
struct Tree {
    leaves: Vec<Hash>,
    stored: Vec<Hash>,
    border: RightBorder,
}

impl Tree {
    fn new() -> Self {
        Tree {
            leaves: vec![],
            stored: vec![],
            border: RightBorder::empty(),
        }
    }
    fn with_size(n: u64) -> Self {
        let mut t = Tree::new();
        for i in 0..n {
            t.append(record_hash(&i.to_be_bytes()));
        }
        t
    }
    fn append(&mut self, leaf: Hash) {
        for (i, h) in self.border.append(leaf) {
            assert_eq!(
                i as usize,
                self.stored.len(),
                "stored hashes are appended in order"
            );
            self.stored.push(h);
        }
        self.leaves.push(leaf);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Shared vectors (transparency-dev/merkle testdata).

fn b64(v: &serde_json::Value) -> Vec<u8> {
    v.as_str()
        .map(|s| B64.decode(s).unwrap())
        .unwrap_or_default()
}

/// A vector value as a hash. Some probes use placeholders that are not 32 bytes ("don't care");
/// those stand for "not a hash of this tree": they are mapped to a value no real tree produces
/// (the hash of the placeholder) so that two equal placeholders still compare equal, as they do
/// in upstream's byte comparison of roots at equal sizes, and anything else fails.
fn hash_of(v: &serde_json::Value) -> Hash {
    let bytes = b64(v);
    Hash::from_slice(&bytes).unwrap_or_else(|| {
        use sha2::Digest;
        Hash(sha2::Sha256::digest([b"placeholder:".as_slice(), &bytes].concat()).into())
    })
}

fn proof_of(v: &serde_json::Value) -> Vec<Hash> {
    v.as_array()
        .map(|a| a.iter().map(hash_of).collect())
        .unwrap_or_default()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(json_files(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let files = json_files(&vectors_dir().join("inclusion"));
    assert_eq!(files.len(), 98, "all inclusion probes are read");
    for f in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        // A value that is not 32 bytes (placeholders such as "don't care") cannot verify.
        // A leaf hash or root that is not 32 bytes is no hash: the probe must fail.
        let strict = |k: &str| Hash::from_slice(&b64(&v[k]));
        let result = match (strict("leafHash"), strict("root")) {
            (Some(leaf), Some(root)) => merkle::verify_inclusion(
                v["leafIdx"].as_u64().unwrap(),
                v["treeSize"].as_u64().unwrap(),
                &leaf,
                &proof_of(&v["proof"]),
                &root,
            ),
            _ => Err(MerkleError::RootMismatch),
        };
        assert_eq!(
            result.is_err(),
            v["wantErr"].as_bool().unwrap(),
            "{}: {}",
            f.display(),
            v["desc"]
        );
    }
}

#[test]
fn transparency_dev_consistency_vectors() {
    let files = json_files(&vectors_dir().join("consistency"));
    assert_eq!(files.len(), 98, "all consistency probes are read");
    for f in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let result = merkle::verify_consistency(
            v["size1"].as_u64().unwrap(),
            v["size2"].as_u64().unwrap(),
            &proof_of(&v["proof"]),
            &hash_of(&v["root1"]),
            &hash_of(&v["root2"]),
        );
        assert_eq!(
            result.is_err(),
            v["wantErr"].as_bool().unwrap(),
            "{}: {}",
            f.display(),
            v["desc"]
        );
    }
}

#[test]
fn reference_tree_8_roots_and_generated_proofs() {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(vectors_dir().join("reference-tree-8.json")).unwrap(),
    )
    .unwrap();
    let text = v.to_string();
    let leaves = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let mut tree = Tree::new();
    let root_at = |t: &Tree| merkle::tree_hash(t.leaves.len() as u64, &t.stored).unwrap();
    let roots = v["rootHashesBySize"]
        .as_array()
        .unwrap_or_else(|| panic!("rootHashesBySize: {text:.300}"));
    let expect_root = |n: usize| -> Hash {
        let r = &roots[n];
        let s = r
            .as_str()
            .or_else(|| r["root"].as_str())
            .or_else(|| r["hash"].as_str())
            .unwrap();
        Hash::from_hex(s)
            .or_else(|| Hash::from_slice(&B64.decode(s).unwrap()))
            .unwrap()
    };
    assert_eq!(root_at(&tree), expect_root(0));
    for (n, hex_leaf) in leaves.iter().enumerate() {
        tree.append(record_hash(&hex::decode(hex_leaf).unwrap()));
        assert_eq!(root_at(&tree), expect_root(n + 1), "root of size {}", n + 1);
        assert_eq!(tree.border.root(), expect_root(n + 1));
    }
    let parse_proof = |p: &serde_json::Value| -> Vec<Hash> {
        p.as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let s = h.as_str().unwrap();
                Hash::from_hex(s)
                    .or_else(|| Hash::from_slice(&B64.decode(s).unwrap()))
                    .unwrap()
            })
            .collect()
    };
    for (level, nodes) in v["nodeHashesByLevel"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (n, h) in nodes.as_array().unwrap().iter().enumerate() {
            let stored = merkle::stored_hash_index(level as u8, n as u64);
            assert_eq!(
                tree.stored[stored as usize].to_hex(),
                h.as_str().unwrap(),
                "node ({level}, {n})"
            );
        }
    }
    let mut checked = 0;
    for p in v["inclusionProofs"].as_array().unwrap() {
        let (index, size) = (
            p["leafIndex"].as_u64().or(p["leafIdx"].as_u64()).unwrap(),
            p["treeSize"].as_u64().unwrap(),
        );
        let got = merkle::inclusion_proof(size, index, &tree.stored).unwrap();
        assert_eq!(
            got,
            parse_proof(&p["proofHex"]),
            "inclusion {index} in {size}"
        );
        checked += 1;
    }
    for p in v["consistencyProofs"].as_array().unwrap() {
        let (m, n) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
        let got = merkle::consistency_proof(m, n, &tree.stored).unwrap();
        assert_eq!(got, parse_proof(&p["proofHex"]), "consistency {m} -> {n}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} proofs in the vector file");
}

// ---------------------------------------------------------------------------------------------
// 2. Independent references, every tree up to 100 records.

#[test]
fn agrees_with_naive_reference_and_rs_merkle_up_to_100() {
    let mut tree = Tree::new();
    for n in 1..=100u64 {
        tree.append(record_hash(format!("leaf {n}").as_bytes()));
        let leaves = &tree.leaves;
        let naive_root = mth(leaves);
        let raw: Vec<[u8; 32]> = leaves.iter().map(|h| h.0).collect();
        let rs = rs_merkle::MerkleTree::<Rfc6962>::from_leaves(&raw);
        assert_eq!(
            merkle::tree_hash(n, &tree.stored).unwrap(),
            naive_root,
            "size {n}"
        );
        assert_eq!(tree.border.root(), naive_root);
        assert_eq!(rs.root(), Some(naive_root.0), "rs_merkle root at size {n}");
        for m in 0..n {
            let proof = merkle::inclusion_proof(n, m, &tree.stored).unwrap();
            assert_eq!(proof, path(m as usize, leaves), "PATH({m}, {n})");
            let rs_proof: Vec<Hash> = rs
                .proof(&[m as usize])
                .proof_hashes()
                .iter()
                .map(|h| Hash(*h))
                .collect();
            assert_eq!(proof, rs_proof, "rs_merkle proof ({m}, {n})");
            merkle::verify_inclusion(m, n, &leaves[m as usize], &proof, &naive_root).unwrap();
        }
        for m in 1..=n {
            let proof = merkle::consistency_proof(m, n, &tree.stored).unwrap();
            assert_eq!(proof, subproof(m as usize, leaves, true), "PROOF({m}, {n})");
            merkle::verify_consistency(m, n, &proof, &mth(&leaves[..m as usize]), &naive_root)
                .unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Exhaustive small cases and mutations that must fail.

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut m = *h;
    m.0[bit / 8] ^= 1 << (bit % 8);
    m
}

/// Every way a proof can be damaged: each hash with one bit flipped (every bit, or one bit per
/// hash when `all_bits` is false), a hash dropped, a hash added, two hashes swapped.
fn mutations(proof: &[Hash], all_bits: bool) -> Vec<Vec<Hash>> {
    let mut out = vec![];
    for i in 0..proof.len() {
        let bits: Vec<usize> = if all_bits {
            (0..256).collect()
        } else {
            vec![(i * 37) % 256]
        };
        for bit in bits {
            let mut p = proof.to_vec();
            p[i] = flip(&p[i], bit);
            out.push(p);
        }
        let mut shorter = proof.to_vec();
        shorter.remove(i);
        out.push(shorter);
        if i + 1 < proof.len() && proof[i] != proof[i + 1] {
            let mut swapped = proof.to_vec();
            swapped.swap(i, i + 1);
            out.push(swapped);
        }
    }
    let mut longer = proof.to_vec();
    longer.push(Hash([7; 32]));
    out.push(longer);
    let mut prefixed = proof.to_vec();
    prefixed.insert(0, Hash([7; 32]));
    out.push(prefixed);
    out
}

#[test]
fn every_mutation_of_every_small_proof_is_rejected() {
    let tree = Tree::with_size(100);
    for n in 1..=100u64 {
        let all_bits = n <= 24;
        let root = merkle::tree_hash(n, &tree.stored).unwrap();
        for m in 0..n {
            let leaf = tree.leaves[m as usize];
            let proof = merkle::inclusion_proof(n, m, &tree.stored).unwrap();
            merkle::verify_inclusion(m, n, &leaf, &proof, &root).unwrap();
            for bad in mutations(&proof, all_bits) {
                assert!(
                    merkle::verify_inclusion(m, n, &leaf, &bad, &root).is_err(),
                    "({m}, {n}) {bad:?}"
                );
            }
            assert!(
                merkle::verify_inclusion(m, n, &flip(&leaf, m as usize), &proof, &root).is_err()
            );
            assert!(
                merkle::verify_inclusion(m, n, &leaf, &proof, &flip(&root, m as usize)).is_err()
            );
            for (mm, nn) in [(m + 1, n), (m.wrapping_sub(1), n), (m, n + 1), (m, n - 1)] {
                if (mm, nn) != (m, n) && mm < nn {
                    // Another position can only verify if the tree shape gives the same path.
                    let other = merkle::verify_inclusion(mm, nn, &leaf, &proof, &root);
                    let same_leaf_elsewhere =
                        mm < tree.leaves.len() as u64 && tree.leaves[mm as usize] == leaf;
                    assert!(
                        other.is_err() || same_leaf_elsewhere,
                        "({m}, {n}) verified as ({mm}, {nn})"
                    );
                }
            }
        }
        for m in 1..n {
            let old = merkle::tree_hash(m, &tree.stored).unwrap();
            let proof = merkle::consistency_proof(m, n, &tree.stored).unwrap();
            merkle::verify_consistency(m, n, &proof, &old, &root).unwrap();
            for bad in mutations(&proof, all_bits) {
                assert!(
                    merkle::verify_consistency(m, n, &bad, &old, &root).is_err(),
                    "({m} -> {n}) {bad:?}"
                );
            }
            assert!(merkle::verify_consistency(m, n, &proof, &flip(&old, 3), &root).is_err());
            assert!(merkle::verify_consistency(m, n, &proof, &old, &flip(&root, 5)).is_err());
            assert!(merkle::verify_consistency(m, n, &proof, &root, &old).is_err());
            assert!(
                merkle::verify_consistency(m + 1, n, &proof, &old, &root).is_err() || m + 1 == n
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Property tests.

/// A store of a tree whose records all have the same leaf hash: every stored hash of level `l`
/// is then the same value f(l), so trees of any size up to 2^40 are real RFC 6962 trees that
/// need no storage. Proof shapes (lengths, sides, ephemeral nodes) are fully exercised.
struct UniformTree {
    by_level: Vec<Hash>,
}

impl UniformTree {
    fn new(leaf: Hash) -> Self {
        let mut by_level = vec![leaf];
        for l in 0..63 {
            let h = by_level[l];
            by_level.push(node_hash(&h, &h));
        }
        UniformTree { by_level }
    }
}

impl HashReader for UniformTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        Ok(indexes
            .iter()
            .map(|&i| self.by_level[split_stored_hash_index(i).0 as usize])
            .collect())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn proofs_at_sizes_up_to_2_pow_40(size in 1u64..=(1 << 40), a in any::<u64>(), b in any::<u64>(), bit in 0usize..256) {
        let tree = UniformTree::new(record_hash(b"same"));
        let root = merkle::tree_hash(size, &tree).unwrap();
        let index = a % size;
        let proof = merkle::inclusion_proof(size, index, &tree).unwrap();
        prop_assert!(proof.len() <= 41);
        merkle::verify_inclusion(index, size, &tree.by_level[0], &proof, &root).unwrap();
        if let Some(first) = proof.first() {
            let mut bad = proof.clone();
            bad[0] = flip(first, bit);
            prop_assert!(merkle::verify_inclusion(index, size, &tree.by_level[0], &bad, &root).is_err());
        }
        let old = 1 + b % size;
        let old_root = merkle::tree_hash(old, &tree).unwrap();
        let proof = merkle::consistency_proof(old, size, &tree).unwrap();
        merkle::verify_consistency(old, size, &proof, &old_root, &root).unwrap();
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let last = bad.len() - 1;
            bad[last] = flip(&bad[last], bit);
            prop_assert!(merkle::verify_consistency(old, size, &bad, &old_root, &root).is_err());
        }
        // The border of any size is read from exactly one hash per set bit.
        let border = RightBorder::from_stored(size, &tree.read_hashes(&RightBorder::stored_indexes(size)).unwrap()).unwrap();
        prop_assert_eq!(border.root(), root);
    }

    #[test]
    fn real_trees_grow_consistently(sizes in proptest::collection::vec(1u64..600, 1..6)) {
        let mut tree = Tree::new();
        let mut heads = vec![];
        for (batch, grow) in sizes.iter().enumerate() {
            for i in 0..*grow {
                tree.append(record_hash(format!("{batch}/{i}").as_bytes()));
            }
            let n = tree.leaves.len() as u64;
            heads.push((n, merkle::tree_hash(n, &tree.stored).unwrap()));
        }
        let (n, root) = *heads.last().unwrap();
        prop_assert_eq!(root, mth(&tree.leaves));
        let border = RightBorder::from_stored(n, &tree.stored.read_hashes(&RightBorder::stored_indexes(n)).unwrap()).unwrap();
        prop_assert_eq!(&border, &tree.border);
        for (m, old_root) in &heads {
            let proof = merkle::consistency_proof(*m, n, &tree.stored).unwrap();
            merkle::verify_consistency(*m, n, &proof, old_root, &root).unwrap();
        }
    }

    #[test]
    fn stored_hash_index_roundtrips(level in 0u8..40, n in 0u64..(1 << 20)) {
        prop_assert_eq!(split_stored_hash_index(stored_hash_index(level, n)), (level, n));
    }
}
