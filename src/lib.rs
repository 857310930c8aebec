//! Arkivo: a private, Rekor-compatible transparency log in one binary with an embedded RocksDB.
//!
//! Pure core: [`merkle`] (RFC 6962 trees and proofs), [`note`] and [`checkpoint`] (signed notes,
//! Rekor v1 and C2SP checkpoints), [`signer`] (the log's keys), [`entries`] (validation and
//! canonical bodies of `hashedrekord` and `dsse`, Rekor v1 and v2), [`tiles`] (C2SP tlog-tiles
//! paths, tile contents, entry bundles), [`wire`] (Rekor v1 JSON shapes), [`proto`] (the Rekor v2
//! protobuf types and their JSON). I/O around
//! it: [`storage`] (RocksDB), [`sequencer`] (the single writer), [`api`] (HTTP), [`metrics`]
//! (what `/metrics` reports), [`log`] and [`datadir`] (a log's identity; creating and opening a
//! data directory), [`backup`] (backups while serving, restores), [`witness`] (`arkivo witness`,
//! and the log's client of its witnesses) and [`cli`].
//!
//! The `rocksdb` feature (on by default) brings RocksDB and what needs it (the data directory,
//! the witness server, the command line); without it the rest builds alone, which the fuzz
//! targets in `fuzz/` use to avoid RocksDB's C++ build.
//!
//! Specifications: `../shared/spec/rekor-v1-api.md`, `../shared/spec/tiles-checkpoints-v2.md`.

pub mod api;
pub mod auth;
#[cfg(feature = "rocksdb")]
pub mod backup;
pub mod checkpoint;
#[cfg(feature = "rocksdb")]
pub mod cli;
pub mod client;
pub mod config;
#[cfg(feature = "rocksdb")]
pub mod datadir;
pub mod durable;
pub mod entries;
pub mod fsck;
pub mod limits;
pub mod log;
pub mod merkle;
pub mod metrics;
pub mod note;
pub mod proto;
pub mod ratelimit;
pub mod sequencer;
pub mod shards;
pub mod signer;
pub mod storage;
pub mod tiles;
pub mod wire;
pub mod witness;
