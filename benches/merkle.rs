//! Merkle core: integrating a batch, and generating and verifying proofs at tree sizes from
//! 2^10 to 2^40 over a synthetic hash reader (a tree whose records all hash alike, so that any
//! size is a real RFC 6962 tree without storage).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use arkivo_core::merkle::{self, Hash, HashReader, MerkleError, RightBorder, node_hash};

struct UniformTree {
    by_level: Vec<Hash>,
}

impl UniformTree {
    fn new() -> Self {
        let mut by_level = vec![merkle::record_hash(b"record")];
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
            .map(|&i| self.by_level[merkle::split_stored_hash_index(i).0 as usize])
            .collect())
    }
}

fn integrate(c: &mut Criterion) {
    let tree = UniformTree::new();
    // A batch of 256 canonical bodies of a typical hashedrekord size (~560 bytes).
    let bodies: Vec<Vec<u8>> = (0..256).map(|i| format!("{i:0560}").into_bytes()).collect();
    let size = 1u64 << 30;
    let border = RightBorder::from_stored(
        size,
        &tree
            .read_hashes(&RightBorder::stored_indexes(size))
            .unwrap(),
    )
    .unwrap();
    c.bench_function("integrate 256 entries at 2^30", |b| {
        b.iter(|| {
            let mut border = border.clone();
            let mut stored = Vec::with_capacity(512);
            for body in &bodies {
                stored.extend(border.append(merkle::record_hash(body)));
            }
            black_box((border.root(), stored))
        });
    });
}

fn proofs(c: &mut Criterion) {
    let tree = UniformTree::new();
    let leaf = tree.by_level[0];
    let mut g = c.benchmark_group("proofs");
    for log2 in [10u32, 20, 30, 40] {
        let size = (1u64 << log2) + 12345;
        let index = size / 3;
        let old = size / 2 + 1;
        let root = merkle::tree_hash(size, &tree).unwrap();
        let old_root = merkle::tree_hash(old, &tree).unwrap();
        let inclusion = merkle::inclusion_proof(size, index, &tree).unwrap();
        let consistency = merkle::consistency_proof(old, size, &tree).unwrap();
        g.bench_with_input(
            BenchmarkId::new("inclusion proof", format!("2^{log2}")),
            &size,
            |b, &n| {
                b.iter(|| merkle::inclusion_proof(n, index, &tree).unwrap());
            },
        );
        g.bench_with_input(
            BenchmarkId::new("verify inclusion", format!("2^{log2}")),
            &size,
            |b, &n| {
                b.iter(|| merkle::verify_inclusion(index, n, &leaf, &inclusion, &root).unwrap());
            },
        );
        g.bench_with_input(
            BenchmarkId::new("consistency proof", format!("2^{log2}")),
            &size,
            |b, &n| {
                b.iter(|| merkle::consistency_proof(old, n, &tree).unwrap());
            },
        );
        g.bench_with_input(
            BenchmarkId::new("verify consistency", format!("2^{log2}")),
            &size,
            |b, &n| {
                b.iter(|| {
                    merkle::verify_consistency(old, n, &consistency, &old_root, &root).unwrap()
                });
            },
        );
    }
    g.finish();
}

criterion_group!(benches, integrate, proofs);
criterion_main!(benches);
