//! C2SP tlog-tiles (tiles-checkpoints-witnesses.md §4):
//!
//! 1. every vector of `testdata/tiles/tile-paths.json`, and malformed paths refused;
//! 2. the real Sunlight tiles of `testdata/tiles/sunlight-mirror-300`: they parse, rebuild the
//!    checkpoint's root and every root and proof of `expected.json`, their cosigned checkpoint
//!    verifies, their entry bundles hash to the level-0 tiles, and a flipped bit is caught;
//! 3. a real server with 600 entries (full and partial tiles at level 0, a partial tile at
//!    level 1): an independent Python client (`tests/tiles/verify_tiles.py`, stdlib only)
//!    verifies the tree and inclusion of entries from the served tiles and catches damaged ones;
//!    on the Rust side the root from tiles equals `/api/v1/log`'s, the checkpoint's Ed25519
//!    signature verifies with the vkey the server prints (the log's key), bundles hold the v1 API's bodies, and partial tiles
//!    of an earlier size are still served;
//! 4. status codes and headers: 404 beyond the published tree, 400 for malformed paths, cache
//!    and content-type headers, the empty tree; and, through the router over the in-memory
//!    store, that a batch in the store but not published shows in no tile or bundle;
//! 5. validators and conditional requests (`ETag`, `Last-Modified`, 304), and the shipped
//!    `deploy/nginx.conf` on a real nginx in front of a real server: what it caches, what it never
//!    does, and the Python client's whole verification served from its cache with the server
//!    stopped (the checkpoint given to the client, as fetched before).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::merkle::{self, Hash, RightBorder};
use arkivo_core::note;
use arkivo_core::signer::LogKeys;
use arkivo_core::tiles::{self, Tile, TileError, TilePath, TileSet};
use arkivo_server::api::{AppState, service};
use arkivo_server::log::create_log;
use arkivo_server::sequencer::{self, SequencerConfig};
use arkivo_server::storage::memory::MemoryStore;
use arkivo_server::storage::{LogStore, NewEntry};
use common::verify_tiles_py;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tiles");

fn json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(Path::new(TESTDATA).join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn b64_hash(s: &str) -> Hash {
    Hash::from_slice(&B64.decode(s).unwrap()).unwrap()
}

fn tile(level: u8, index: u64, width: u16) -> Tile {
    Tile::new(level, index, width).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Paths
// ---------------------------------------------------------------------------------------------

#[test]
fn tile_path_vectors() {
    let v = json("tile-paths.json");
    for case in v["indexEncoding"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap();
        let element = case["path"].as_str().unwrap();
        assert_eq!(tiles::encode_index(n), element, "{n}");
        for (path, want) in [
            (
                format!("tile/0/{element}"),
                TilePath::Hashes(tile(0, n, 256)),
            ),
            (
                format!("tile/5/{element}.p/9"),
                TilePath::Hashes(tile(5, n, 9)),
            ),
            (
                format!("tile/entries/{element}"),
                TilePath::Entries(tile(0, n, 256)),
            ),
        ] {
            assert_eq!(TilePath::parse(&path), Ok(want), "{path}");
            assert_eq!(want.to_string(), path);
        }
    }
    for case in v["examplePaths"].as_array().unwrap() {
        let path = case["path"].as_str().unwrap();
        let parsed = TilePath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(parsed.to_string(), path, "{}", case["desc"]);
    }
    let spot = [
        (
            "tile/0/x001/x234/067",
            TilePath::Hashes(tile(0, 1_234_067, 256)),
        ),
        (
            "tile/0/x001/x234/067.p/12",
            TilePath::Hashes(tile(0, 1_234_067, 12)),
        ),
        ("tile/entries/003", TilePath::Entries(tile(0, 3, 256))),
        // static-ct-api's data tiles.
        ("tile/data/x001/002.p/7", TilePath::Data(tile(0, 1002, 7))),
        (
            "tile/entries/x001/000.p/255",
            TilePath::Entries(tile(0, 1000, 255)),
        ),
        ("tile/2/000.p/1", TilePath::Hashes(tile(2, 0, 1))),
    ];
    for (path, want) in spot {
        assert_eq!(TilePath::parse(path), Ok(want), "{path}");
    }
    for case in v["tilesForTreeSize"].as_array().unwrap() {
        let size = case["treeSize"].as_u64().unwrap();
        let levels = case["levels"].as_array().unwrap();
        for (level, want) in levels.iter().enumerate() {
            let level = level as u8;
            assert_eq!(want["level"].as_u64(), Some(u64::from(level)));
            let count = tiles::level_hash_count(size, level);
            assert_eq!(count / 256, want["fullTiles"].as_u64().unwrap(), "{size}");
            assert_eq!(
                count % 256,
                want["partialWidth"].as_u64().unwrap(),
                "{size}"
            );
            // The tree holds exactly those tiles: the last full one, the partial one, no wider.
            let full = count / 256;
            if full > 0 {
                assert!(tile(level, full - 1, 256).is_in_tree(size));
            }
            assert!(!tile(level, full, 256).is_in_tree(size));
            let partial = (count % 256) as u16;
            if partial > 0 {
                assert!(tile(level, full, partial).is_in_tree(size));
                assert!(!tile(level, full, partial + 1).is_in_tree(size));
            }
        }
        // Levels stop where the count reaches 0.
        assert_eq!(
            tiles::level_hash_count(size, levels.len() as u8),
            0,
            "{size}"
        );
    }
}

#[test]
fn malformed_tile_paths_are_refused() {
    let bad = [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "/tile/0/000",
        "Tile/0/000",
        "tiles/0/000",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/255/000",
        "tile/-1/000",
        "tile/+1/000",
        "tile/ 0/000",
        "tile/a/000",
        "tile/entry/000",
        "tile/0/0",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/-01",
        "tile/0/+01",
        "tile/0/0a0",
        "tile/0/0 1",
        "tile/0/１２３",
        "tile/0/x001",
        "tile/0/001/000",
        "tile/0/x001/x000",
        "tile/0/X001/000",
        "tile/0/x000/001",
        "tile/0/x000/x001/000",
        "tile/0/x01/000",
        "tile/0/x0001/000",
        "tile/0/x1000/000",
        "tile/0//000",
        "tile//000",
        "tile/0/000/",
        "tile/0/000.p",
        "tile/0/000.p/",
        "tile/0/000.p/0",
        "tile/0/000.p/00",
        "tile/0/000.p/012",
        "tile/0/000.p/256",
        "tile/0/000.p/1000",
        "tile/0/000.p/-1",
        "tile/0/000.p/1 ",
        "tile/0/000.P/1",
        "tile/0/000.q/1",
        "tile/0/000.p/1/2",
        "tile/0/000.p/1.p/1",
        "tile/0/x001.p/000",
        "tile/0/000?x=1",
        "tile/0/%30%30%30",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x999/x999/x999/x999/x999/x999/999",
        "tile/0/x001/x001/x001/x001/x001/x001/x001/001",
        "tile/entries/000.p/256",
        "tile/entries/000.p/0",
        "tile/entries/x000/000",
        "tile/entries/",
        "tile/entries",
        "tile/entries/0/000",
    ];
    for path in bad {
        match TilePath::parse(path) {
            Err(TileError::MalformedPath(reason)) => assert!(!reason.is_empty()),
            other => panic!("{path:?} gave {other:?}"),
        }
    }
    // Each error says which rule was broken.
    let msg = |p: &str| TilePath::parse(p).unwrap_err().to_string();
    assert_eq!(
        msg("tile/0/000.p/256"),
        "malformed tile path: the width is not 1..255 without leading zeros"
    );
    assert_eq!(
        msg("tile/0/x000/001"),
        "malformed tile path: the index has a leading x000"
    );
    assert_eq!(
        msg("tile/64/000"),
        "malformed tile path: the level is not entries, data or 0..63 without leading zeros"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Real Sunlight tiles
// ---------------------------------------------------------------------------------------------

/// The files of `sunlight-mirror-300`, parsed from their own paths.
fn sunlight_file(path: &str) -> (TilePath, Vec<u8>) {
    let parsed = TilePath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(parsed.to_string(), path);
    let data = std::fs::read(Path::new(TESTDATA).join("sunlight-mirror-300").join(path)).unwrap();
    (parsed, data)
}

fn sunlight_tiles() -> TileSet {
    let mut set = TileSet::new();
    for path in ["tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1"] {
        let (parsed, data) = sunlight_file(path);
        assert!(matches!(parsed, TilePath::Hashes(_)));
        set.insert(parsed.tile(), &data).unwrap();
    }
    set
}

#[test]
fn sunlight_tiles_rebuild_the_checkpoint_and_proofs() {
    let expected = json("sunlight-mirror-300/expected.json");
    let text = std::fs::read_to_string(Path::new(TESTDATA).join("sunlight-mirror-300/checkpoint"))
        .unwrap();

    // The checkpoint carries only a cosignature (type 0x04) by the mirror, whose vkey is in
    // mirror.v0.json: verify it, then read the tree it commits to.
    let mirror = json("sunlight-mirror-300/mirror.v0.json");
    let vkey = note::parse_vkey(mirror["verifier_keys"][0].as_str().unwrap()).unwrap();
    let opened = note::open(text.as_bytes(), &[vkey.verifier()]).unwrap();
    let cp = Checkpoint::parse(opened.text()).unwrap();
    assert_eq!(cp.origin, "rome2026h1.example.org");
    assert_eq!(cp.size, 300);
    assert_eq!(
        cp.root,
        b64_hash(expected["rootHashBase64"].as_str().unwrap())
    );

    let set = sunlight_tiles();
    assert_eq!(merkle::tree_hash(300, &set), Ok(cp.root));
    for (size, root) in expected["rootsBySize"].as_object().unwrap() {
        let size: u64 = size.parse().unwrap();
        assert_eq!(
            merkle::tree_hash(size, &set),
            Ok(b64_hash(root.as_str().unwrap())),
            "size {size}"
        );
    }
    for p in expected["inclusionProofs"].as_array().unwrap() {
        let (index, size) = (
            p["leafIndex"].as_u64().unwrap(),
            p["treeSize"].as_u64().unwrap(),
        );
        let want: Vec<Hash> = p["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| b64_hash(h.as_str().unwrap()))
            .collect();
        let proof = merkle::inclusion_proof(size, index, &set).unwrap();
        assert_eq!(proof, want, "inclusion of {index} in {size}");
        let leaf = b64_hash(p["leafHashBase64"].as_str().unwrap());
        assert_eq!(
            leaf,
            merkle::record_hash(format!("record {index}").as_bytes())
        );
        let root = merkle::tree_hash(size, &set).unwrap();
        merkle::verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
    }
    for p in expected["consistencyProofs"].as_array().unwrap() {
        let (old, new) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
        let want: Vec<Hash> = p["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| b64_hash(h.as_str().unwrap()))
            .collect();
        assert_eq!(merkle::consistency_proof(old, new, &set).unwrap(), want);
    }

    // The level-1 tile's one hash is the root of the full level-0 tile below it.
    let (_, level0) = sunlight_file("tile/0/000");
    let (_, level1) = sunlight_file("tile/1/000.p/1");
    let mut border = RightBorder::empty();
    for h in tiles::decode_tile(&level0, 256).unwrap() {
        let _ = border.append(h);
    }
    assert_eq!(tiles::encode_tile(&[border.root()]), level1);
}

#[test]
fn sunlight_entry_bundles_hash_to_the_level_0_tiles() {
    for (bundle, hashes, first) in [
        ("tile/entries/000", "tile/0/000", 0u64),
        ("tile/entries/001.p/44", "tile/0/001.p/44", 256),
    ] {
        let (bundle_path, data) = sunlight_file(bundle);
        let (hash_path, tile_data) = sunlight_file(hashes);
        assert_eq!(bundle_path.tile(), hash_path.tile());
        let width = hash_path.tile().width();
        let entries = tiles::decode_entry_bundle(&data).unwrap();
        let leaves = tiles::decode_tile(&tile_data, width).unwrap();
        assert_eq!(entries.len(), usize::from(width));
        for (i, (entry, leaf)) in entries.iter().zip(&leaves).enumerate() {
            assert_eq!(*entry, format!("record {}", first + i as u64).as_bytes());
            assert_eq!(merkle::record_hash(entry), *leaf, "{bundle} entry {i}");
        }
        // Our encoder gives the same bytes.
        assert_eq!(
            tiles::encode_entry_bundle(first, entries.iter().copied()).unwrap(),
            data
        );
    }
}

#[test]
fn a_flipped_bit_in_a_sunlight_tile_is_caught() {
    let root = merkle::tree_hash(300, &sunlight_tiles()).unwrap();
    // (damaged file, byte, entry whose proof goes through the damage, whether the root changes).
    // A tile client reads records 0..255 through the level-1 tile, so damage in tile/0/000
    // leaves the root alone; it shows in every proof through that tile.
    for (path, offset, entry, root_changes) in [
        ("tile/0/000", 0usize, 100u64, false),
        ("tile/0/000", 8191, 100, false),
        ("tile/0/001.p/44", 4 * 32 + 3, 262, true),
        ("tile/0/001.p/44", 43 * 32, 262, true),
        ("tile/1/000.p/1", 31, 262, true),
    ] {
        let mut set = TileSet::new();
        for p in ["tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1"] {
            let (parsed, mut data) = sunlight_file(p);
            if p == path {
                data[offset] ^= 0x80;
            }
            set.insert(parsed.tile(), &data).unwrap();
        }
        let damaged_root = merkle::tree_hash(300, &set).unwrap();
        assert_eq!(damaged_root != root, root_changes, "{path}:{offset}");
        let leaf = merkle::record_hash(format!("record {entry}").as_bytes());
        let proof = merkle::inclusion_proof(300, entry, &set).unwrap();
        assert!(
            merkle::verify_inclusion(entry, 300, &leaf, &proof, &root).is_err(),
            "{path}:{offset}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A real server
// ---------------------------------------------------------------------------------------------

struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Fetched {
    let res = client.get(url).send().await.unwrap();
    Fetched {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

/// Posts one entry per artifact and returns the canonical bodies the v1 API answered with.
async fn post_entries(
    client: &reqwest::Client,
    base: &str,
    signer: &common::EntrySigner,
    artifacts: std::ops::Range<u64>,
) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    for n in artifacts {
        let res = client
            .post(format!("{base}/api/v1/log/entries"))
            .json(&signer.hashedrekord(format!("tiled artifact {n}").as_bytes()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let entry: serde_json::Value = res.json().await.unwrap();
        let (_, e) = entry.as_object().unwrap().iter().next().unwrap();
        out.push((
            e["logIndex"].as_u64().unwrap(),
            B64.decode(e["body"].as_str().unwrap()).unwrap(),
        ));
    }
    out
}

/// The C2SP vkey the server printed at start: what its operator hands to mirrors and witnesses.
fn printed_vkey(server: &common::TestServer) -> String {
    let stderr = server.stderr();
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("C2SP checkpoint verifier key (Ed25519; /checkpoint): "))
        .unwrap_or_else(|| panic!("no vkey in the server's output:\n{stderr}"))
        .to_owned()
}

/// Fetches `/checkpoint` and verifies it with the printed vkey.
async fn verified_checkpoint(client: &reqwest::Client, server: &common::TestServer) -> Checkpoint {
    let res = fetch(client, &format!("{}/checkpoint", server.base_url())).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(res.header("cache-control"), "public, max-age=2");
    let text = String::from_utf8(res.body).unwrap();
    let vkey = note::parse_vkey(&printed_vkey(server)).unwrap();
    checkpoint::verify_c2sp(&text, vkey.verifier(), &[]).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn served_tiles_verify_with_an_independent_client() {
    let server = common::TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let signer = common::EntrySigner::new();

    // Size 300: one full level-0 tile, tile/0/001.p/44 and tile/1/000.p/1.
    let mut bodies = post_entries(&client, &base, &signer, 0..300).await;
    let cp300 = verified_checkpoint(&client, &server).await;
    assert_eq!(cp300.size, 300);
    let partial300 = fetch(&client, &format!("{base}/tile/0/001.p/44")).await;
    assert_eq!(partial300.status, 200);
    assert_eq!(partial300.body.len(), 44 * 32);

    // Size 600: tile/0/000 and 001 full, tile/0/002.p/88, tile/1/000.p/2.
    bodies.extend(post_entries(&client, &base, &signer, 300..600).await);
    assert!(
        bodies
            .iter()
            .enumerate()
            .all(|(i, (index, _))| *index == i as u64)
    );
    let cp = verified_checkpoint(&client, &server).await;
    assert_eq!(cp.size, 600);
    // The printed vkey is the log's Ed25519 key under its origin, the test server's hostname.
    let keys = server.data_dir().join("keys");
    let read = |name: &str| std::fs::read_to_string(keys.join(name)).unwrap();
    let log_keys =
        LogKeys::from_pkcs8_pem(&read("log-ecdsa-p256.pem"), &read("log-ed25519.pem")).unwrap();
    let origin = format!("127.0.0.1:{}", server.port());
    assert_eq!(cp.origin, origin);
    assert_eq!(
        printed_vkey(&server),
        log_keys.ed25519_verifier(&origin).vkey()
    );
    let info: serde_json::Value = common::get_json(&client, format!("{base}/api/v1/log")).await;
    assert_eq!(info["treeSize"], 600);
    assert_eq!(info["rootHash"].as_str(), Some(cp.root.to_hex().as_str()));

    // Rust side: every tile of the tree, with its headers; the root and proofs from them.
    let mut set = TileSet::new();
    let hash_tiles = [
        tile(0, 0, 256),
        tile(0, 1, 256),
        tile(0, 2, 88),
        tile(1, 0, 2),
    ];
    for t in hash_tiles {
        let path = TilePath::Hashes(t);
        let res = fetch(&client, &format!("{base}/{path}")).await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.header("content-type"), "application/octet-stream");
        let cache = if t.is_full() {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=60"
        };
        assert_eq!(res.header("cache-control"), cache, "{path}");
        set.insert(t, &res.body).unwrap();
    }
    assert_eq!(merkle::tree_hash(600, &set), Ok(cp.root));
    assert_eq!(merkle::tree_hash(300, &set), Ok(cp300.root));
    let consistency = merkle::consistency_proof(300, 600, &set).unwrap();
    merkle::verify_consistency(300, 600, &consistency, &cp300.root, &cp.root).unwrap();

    // The partial tile of the earlier checkpoint is still served (tlog-tiles: "Logs MUST serve
    // partial tiles corresponding to tree sizes for which a checkpoint was produced"), and is
    // the prefix of the full tile that replaced it.
    let again = fetch(&client, &format!("{base}/tile/0/001.p/44")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, partial300.body);
    let full = fetch(&client, &format!("{base}/tile/0/001")).await;
    assert_eq!(full.body[..44 * 32], partial300.body[..]);

    // Entry bundles hold exactly the bodies the v1 API answered with, hashing to the tiles.
    let mut from_bundles = Vec::new();
    for t in [tile(0, 0, 256), tile(0, 1, 256), tile(0, 2, 88)] {
        let path = TilePath::Entries(t);
        let res = fetch(&client, &format!("{base}/{path}")).await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.header("content-type"), "application/octet-stream");
        let entries = tiles::decode_entry_bundle(&res.body).unwrap();
        assert_eq!(entries.len(), usize::from(t.width()), "{path}");
        from_bundles.extend(entries.into_iter().map(<[u8]>::to_vec));
    }
    assert_eq!(from_bundles.len(), 600);
    for (i, body) in from_bundles.iter().enumerate() {
        assert_eq!(*body, bodies[i].1, "entry {i}");
        let index = merkle::stored_hash_index(0, i as u64);
        assert_eq!(
            merkle::record_hash(body),
            merkle::HashReader::read_hashes(&set, &[index]).unwrap()[0]
        );
    }

    // Inclusion proofs built from tiles verify, and equal the v1 API's.
    let sample = [0u64, 1, 255, 256, 299, 300, 511, 512, 599];
    for &i in &sample {
        let proof = merkle::inclusion_proof(600, i, &set).unwrap();
        let leaf = merkle::record_hash(&bodies[i as usize].1);
        merkle::verify_inclusion(i, 600, &leaf, &proof, &cp.root).unwrap();
        let v1: serde_json::Value =
            common::get_json(&client, format!("{base}/api/v1/log/entries?logIndex={i}")).await;
        let (_, e) = v1.as_object().unwrap().iter().next().unwrap();
        let hashes: Vec<String> = proof.iter().map(Hash::to_hex).collect();
        assert_eq!(
            e["verification"]["inclusionProof"]["hashes"],
            serde_json::json!(hashes),
            "entry {i}"
        );
        assert_eq!(
            B64.decode(e["body"].as_str().unwrap()).unwrap(),
            bodies[i as usize].1
        );
    }

    // A damaged tile fails on the Rust side too.
    let mut damaged = TileSet::new();
    for t in hash_tiles {
        let mut data = fetch(&client, &format!("{base}/{}", TilePath::Hashes(t)))
            .await
            .body;
        if t == tile(0, 2, 88) {
            data[50 * 32] ^= 1;
        }
        damaged.insert(t, &data).unwrap();
    }
    assert_ne!(merkle::tree_hash(600, &damaged), Ok(cp.root));
    let proof = merkle::inclusion_proof(600, 560, &damaged).unwrap();
    let leaf = merkle::record_hash(&bodies[560].1);
    assert!(merkle::verify_inclusion(560, 600, &leaf, &proof, &cp.root).is_err());

    // The independent Python client.
    let entries: Vec<String> = sample
        .iter()
        .flat_map(|&i| {
            [
                "--entry".to_owned(),
                format!("{i}:{}", B64.encode(&bodies[i as usize].1)),
            ]
        })
        .collect();
    let (ok, out) = verify_tiles_py(&base, &entries);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "tree size 600, root {}",
            B64.encode(cp.root.as_bytes())
        )),
        "{out}"
    );
    assert!(out.contains("9 entries included"), "{out}");

    // ... which refuses a body the log does not hold at that index,
    let (ok, out) = verify_tiles_py(
        &base,
        &["--entry".into(), format!("7:{}", B64.encode(&bodies[8].1))],
    );
    assert!(!ok && out.contains("FAIL: entry 7"), "{out}");
    // ... and any flipped bit in a tile or bundle.
    for flip in [
        "tile/0/000:0",
        "tile/0/001:8191",
        "tile/0/002.p/88:1000",
        "tile/1/000.p/2:40",
        "tile/entries/000:100",
        "tile/entries/002.p/88:2",
    ] {
        let (ok, out) = verify_tiles_py(&base, &["--flip".into(), flip.into()]);
        assert!(!ok && out.starts_with("FAIL: "), "{flip}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tile_routes_answer_404_beyond_the_tree_and_400_for_bad_paths() {
    let server = common::TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();

    // The empty tree: a checkpoint of size 0 and no tiles at all ("Empty tiles MUST NOT be
    // served").
    let cp = verified_checkpoint(&client, &server).await;
    assert_eq!((cp.size, cp.root), (0, merkle::empty_root()));
    for path in ["tile/0/000.p/1", "tile/entries/000.p/1"] {
        assert_eq!(fetch(&client, &format!("{base}/{path}")).await.status, 404);
    }

    let bodies = post_entries(&client, &base, &common::EntrySigner::new(), 0..3).await;
    assert_eq!(verified_checkpoint(&client, &server).await.size, 3);

    // Within the tree: the partial tile of width 3 and every narrower one.
    for width in 1..=3u16 {
        let res = fetch(&client, &format!("{base}/tile/0/000.p/{width}")).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.body.len(), 32 * usize::from(width));
        assert_eq!(res.header("cache-control"), "public, max-age=60");
        let res = fetch(&client, &format!("{base}/tile/entries/000.p/{width}")).await;
        assert_eq!(res.status, 200);
        let entries = tiles::decode_entry_bundle(&res.body).unwrap();
        let want: Vec<&[u8]> = bodies[..usize::from(width)]
            .iter()
            .map(|(_, b)| b.as_slice())
            .collect();
        assert_eq!(entries, want);
    }
    let head = client
        .head(format!("{base}/tile/0/000.p/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    // Beyond it: 404 with a message, never cached.
    for path in [
        "tile/0/000.p/4",
        "tile/0/000",
        "tile/0/001.p/1",
        "tile/1/000.p/1",
        "tile/7/000.p/1",
        "tile/63/x018/x446/x744/x073/x709/x551/615.p/255",
        "tile/entries/000.p/4",
        "tile/entries/000",
        "tile/entries/x018/x446/x744/x073/x709/x551/615",
    ] {
        let res = fetch(&client, &format!("{base}/{path}")).await;
        assert_eq!(res.status, 404, "{path}");
        assert_eq!(res.header("cache-control"), "no-store", "{path}");
        let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(
            body["message"],
            format!("{path} is beyond the published tree of size 3")
        );
    }

    // Malformed: 400 with the broken rule, never cached.
    for path in [
        "tile/00/000",
        "tile/64/000",
        "tile/0/0",
        "tile/0/x001",
        "tile/0/x000/001",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/03",
        "tile/0/000.p/",
        "tile/0/%30%30%30",
        "tile/0//000",
        "tile/entries/000.p/256",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
    ] {
        let res = fetch(&client, &format!("{base}/{path}")).await;
        assert_eq!(res.status, 400, "{path}");
        assert_eq!(res.header("cache-control"), "no-store", "{path}");
        let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("malformed tile path: "),
            "{path}: {message}"
        );
    }

    // Browsers may read the tiles from other origins (Sunlight's README recommends it).
    let res = client
        .get(format!("{base}/tile/0/000.p/3"))
        .header("Origin", "https://monitor.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tiles_show_only_the_published_tree() {
    use tower::ServiceExt;

    let store = Arc::new(MemoryStore::new());
    let identity = Arc::new(create_log(store.as_ref(), "log.test", LogKeys::generate()).unwrap());
    let active = sequencer::Shard {
        store: store.clone(),
        identity: identity.clone(),
    };
    let (sequencer, _thread) =
        sequencer::start(active, Vec::new(), SequencerConfig::default()).unwrap();
    let state = AppState::new(sequencer.clone(), "http://log.test".into());
    let get = |path: &str| {
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let svc = service(state.clone());
        async move {
            let res = svc.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, body.to_vec())
        }
    };
    let entry = |n: u8| {
        let body = format!("{{\"entry\":{n}}}").into_bytes();
        NewEntry {
            leaf_hash: merkle::record_hash(&body),
            index_keys: vec![],
            body,
        }
    };
    for n in 0..2 {
        sequencer.submit(entry(n)).await.unwrap();
    }
    // The third batch reaches the store, but its commit reports failure: never published.
    store.faults.fail_commits.store(true, Ordering::SeqCst);
    store
        .faults
        .commit_applies_then_fails
        .store(true, Ordering::SeqCst);
    assert!(sequencer.submit(entry(2)).await.is_err());
    assert_eq!(store.head().unwrap().size, 3);

    let (status, text) = get("/checkpoint").await;
    assert_eq!(status, 200);
    let verifier = identity.keys.ed25519_verifier("log.test");
    let cp = checkpoint::verify_c2sp(std::str::from_utf8(&text).unwrap(), &verifier, &[]).unwrap();
    assert_eq!(cp.size, 2);
    assert_eq!(get("/tile/0/000.p/3").await.0, 404);
    assert_eq!(get("/tile/entries/000.p/3").await.0, 404);
    let (status, data) = get("/tile/0/000.p/2").await;
    assert_eq!(status, 200);
    let mut set = TileSet::new();
    set.insert(tile(0, 0, 2), &data).unwrap();
    assert_eq!(merkle::tree_hash(2, &set), Ok(cp.root));
    let (status, bundle) = get("/tile/entries/000.p/2").await;
    assert_eq!(status, 200);
    let entries = tiles::decode_entry_bundle(&bundle).unwrap();
    assert_eq!(
        entries,
        [entry(0).body.as_slice(), entry(1).body.as_slice()]
    );
}

/// Every checkpoint and tile has one path (tlog-tiles): a tree ID spelt `+<id>` or `0<id>`, or a
/// trailing slash, names nothing, so no cache keeps a second copy of an immutable tile.
#[tokio::test(flavor = "multi_thread")]
async fn non_canonical_paths_are_not_served() {
    let server = common::TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    post_entries(&client, &base, &common::EntrySigner::new(), 0..1).await;
    let info = common::get_json(&client, format!("{base}/api/v1/log")).await;
    let id = info["treeID"].as_str().unwrap();
    for path in [
        format!("shards/{id}/checkpoint"),
        format!("shards/{id}/tile/0/000.p/1"),
        "tile/0/000.p/1".into(),
        "checkpoint".into(),
    ] {
        assert_eq!(
            fetch(&client, &format!("{base}/{path}")).await.status,
            200,
            "{path}"
        );
    }
    for (path, status) in [
        (format!("shards/+{id}/checkpoint"), 404),
        (format!("shards/0{id}/checkpoint"), 404),
        (format!("shards/+{id}/tile/0/000.p/1"), 404),
        (format!("shards/0{id}/tile/entries/000.p/1"), 404),
        (format!("shards/{id}/checkpoint/"), 404),
        ("checkpoint/".into(), 404),
        ("cosigned-checkpoint".into(), 404),
        // A malformed tile path, with the rule it breaks.
        ("tile/0/000.p/1/".into(), 400),
        ("tile/entries/000.p/1/".into(), 400),
        (format!("shards/{id}/tile/0/000.p/1/"), 400),
    ] {
        let res = fetch(&client, &format!("{base}/{path}")).await;
        assert_eq!(res.status, status, "{path}");
        assert_ne!(res.header("cache-control"), "public, max-age=60", "{path}");
        assert!(!res.header("cache-control").contains("immutable"), "{path}");
    }
    // The API keeps tolerating a trailing slash (sigstore-python).
    assert_eq!(
        fetch(&client, &format!("{base}/api/v1/log/")).await.status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// 5. A caching read tier
// ---------------------------------------------------------------------------------------------

/// A request with one extra header.
async fn fetch_with(client: &reqwest::Client, url: &str, name: &str, value: &str) -> Fetched {
    let res = client.get(url).header(name, value).send().await.unwrap();
    Fetched {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

/// nginx with the shipped `deploy/nginx.conf`, its addresses and cache directory replaced, under
/// a temporary directory of its own as the current user: independent of any system nginx.
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstream_port: u16) -> Nginx {
        let mut last = String::new();
        for _ in 0..3 {
            match Nginx::try_start(upstream_port) {
                Ok(nginx) => return nginx,
                Err(e) if e.contains("in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{last}");
    }

    fn try_start(upstream_port: u16) -> Result<Nginx, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"),
        )
        .unwrap();
        let mut site = shipped;
        let cache = dir.path().join("cache");
        for (from, to) in [
            ("/var/cache/nginx/arkivo", common::path(&cache).to_owned()),
            (
                "server 127.0.0.1:3000;",
                format!("server 127.0.0.1:{upstream_port};"),
            ),
            ("listen 8080;", format!("listen 127.0.0.1:{port};")),
        ] {
            assert!(site.contains(from), "deploy/nginx.conf has no {from:?}");
            site = site.replace(from, &to);
        }
        let d = common::path(dir.path());
        std::fs::write(dir.path().join("arkivo.conf"), site).unwrap();
        // The main context a distribution's nginx.conf would give, with every path that nginx
        // writes under the temporary directory, and one process that the test can kill.
        let main = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log notice;\n\
             events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/arkivo.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let child = Command::new(nginx_program())
            .args([
                "-p",
                d,
                "-c",
                &format!("{d}/nginx.conf"),
                "-e",
                &format!("{d}/error.log"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nginx");
        let mut nginx = Nginx { child, port, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(nginx);
            }
            let log =
                std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
            if nginx.child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
                return Err(format!("nginx did not start:\n{log}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx from the PATH or where Debian installs it; a test that needs it fails without it
/// (scripts/setup installs it).
fn nginx_program() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .expect("nginx is not installed: scripts/setup installs it")
}

#[tokio::test(flavor = "multi_thread")]
async fn cacheable_reads_have_validators_and_answer_conditional_requests() {
    let server = common::TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    post_entries(&client, &base, &common::EntrySigner::new(), 0..300).await;
    let integrated: serde_json::Value =
        common::get_json(&client, format!("{base}/api/v1/log/entries?logIndex=299")).await;
    let (_, e) = integrated.as_object().unwrap().iter().next().unwrap();
    let last_time = e["integratedTime"].as_i64().unwrap();
    let http_date = |unix: i64| {
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix as u64))
    };

    for (path, cache) in [
        ("tile/0/000", "public, max-age=31536000, immutable"),
        ("tile/entries/000", "public, max-age=31536000, immutable"),
        ("tile/0/001.p/44", "public, max-age=60"),
        ("tile/1/000.p/1", "public, max-age=60"),
        ("checkpoint", "public, max-age=2"),
    ] {
        let url = format!("{base}/{path}");
        let full = fetch(&client, &url).await;
        assert_eq!(full.status, 200, "{path}");
        assert_eq!(full.header("cache-control"), cache, "{path}");
        // A strong ETag: 128 bits of the SHA-256 of the bytes, in quotes.
        let etag = full.header("etag").to_owned();
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&full.body);
        assert_eq!(
            etag,
            format!("\"{}\"", hex::encode(&digest[..16])),
            "{path}"
        );

        let again = fetch_with(&client, &url, "if-none-match", &etag).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}");
        assert_eq!(again.header("etag"), etag, "{path}");
        assert_eq!(again.header("cache-control"), cache, "{path}");
        let weak = fetch_with(&client, &url, "if-none-match", &format!("W/{etag}")).await;
        assert_eq!(weak.status, 304, "{path}");
        let other = fetch_with(&client, &url, "if-none-match", "\"0\"").await;
        assert_eq!((other.status, &other.body), (200, &full.body), "{path}");

        if path == "checkpoint" {
            // It changes with cosignatures, not only with the tree: no date to compare with.
            assert_eq!(full.header("last-modified"), "", "{path}");
            continue;
        }
        // A tile was last modified when the last record it covers was integrated: entry 299
        // for tile/0/001.p/44.
        let modified = full.header("last-modified").to_owned();
        if path == "tile/0/001.p/44" {
            assert_eq!(modified, http_date(last_time), "{path}");
        }
        let since = fetch_with(&client, &url, "if-modified-since", &modified).await;
        assert_eq!(since.status, 304, "{path}");
        let before = fetch_with(&client, &url, "if-modified-since", &http_date(1_000)).await;
        assert_eq!(before.status, 200, "{path}");
        assert_eq!(before.body, full.body, "{path}");
    }

    // Errors and the v1 API get no validators and are never 304.
    let beyond = fetch_with(&client, &format!("{base}/tile/0/002"), "if-none-match", "*").await;
    assert_eq!((beyond.status, beyond.header("etag")), (404, ""));
    let info = fetch_with(&client, &format!("{base}/api/v1/log"), "if-none-match", "*").await;
    assert_eq!((info.status, info.header("etag")), (200, ""));
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_serves_the_tile_client_from_its_cache() {
    let mut server = common::TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let bodies = post_entries(&client, &base, &common::EntrySigner::new(), 0..300).await;
    let nginx = Nginx::start(server.port());
    let front = nginx.base_url();

    // A full tile: fetched from the log once, then from the cache, the same bytes.
    let direct = fetch(&client, &format!("{base}/tile/0/000")).await;
    let first = fetch(&client, &format!("{front}/tile/0/000")).await;
    let second = fetch(&client, &format!("{front}/tile/0/000")).await;
    assert_eq!(first.header("x-cache-status"), "MISS");
    assert_eq!(second.header("x-cache-status"), "HIT");
    assert_eq!((first.status, &first.body), (200, &direct.body));
    assert_eq!((second.status, &second.body), (200, &direct.body));
    assert_eq!(second.header("etag"), direct.header("etag"));

    // What the log says must not be stored never is: the v1 API, errors.
    for path in ["api/v1/log", "api/v1/log/entries?logIndex=5", "tile/0/002"] {
        for _ in 0..2 {
            let res = fetch(&client, &format!("{front}/{path}")).await;
            assert_ne!(res.header("x-cache-status"), "HIT", "{path}");
        }
    }
    // Writes pass through.
    let signer = common::EntrySigner::new();
    let res = client
        .post(format!("{front}/api/v1/log/entries"))
        .json(&signer.hashedrekord(b"written through the cache"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_ne!(
        res.headers().get("x-cache-status").map(|v| v.as_bytes()),
        Some(&b"HIT"[..])
    );

    // The whole verification through the cache, with the checkpoint it read kept aside.
    let checkpoint = fetch(&client, &format!("{front}/checkpoint")).await;
    assert_eq!(checkpoint.status, 200);
    let checkpoint_file = nginx.dir.path().join("checkpoint");
    std::fs::write(&checkpoint_file, &checkpoint.body).unwrap();
    let mut args = vec![
        "--checkpoint".to_owned(),
        common::path(&checkpoint_file).to_owned(),
    ];
    for i in [0usize, 255, 256, 299] {
        args.push("--entry".into());
        args.push(format!("{i}:{}", B64.encode(&bodies[i].1)));
    }
    let (ok, warm) = verify_tiles_py(&front, &args);
    assert!(ok, "{warm}");
    assert!(warm.contains("tree size 301"), "{warm}");

    // The log stopped: the same verification is served by the cache alone.
    server.kill();
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port())).is_err());
    let (ok, cached) = verify_tiles_py(&front, &args);
    assert!(ok, "{cached}");
    assert_eq!(cached, warm);
}
