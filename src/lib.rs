//! Arkivo: a private, Rekor-compatible transparency log in one binary with an embedded RocksDB.
//!
//! Pure core: [`merkle`] (RFC 6962 trees and proofs), [`note`] and [`checkpoint`] (signed notes,
//! Rekor v1 and C2SP checkpoints), [`signer`] (the log's keys), [`entries`] (validation and
//! canonical bodies of `hashedrekord` and `dsse`, Rekor v1 and v2), [`wire`] (Rekor v1 JSON shapes),
//! [`proto`] (the Rekor v2 protobuf types and their JSON). I/O around
//! it: [`storage`] (RocksDB), [`sequencer`] (the single writer), [`api`] (HTTP), [`log`]
//! (creating and opening a data directory) and [`cli`].
//!
//! Specifications: `../shared/spec/rekor-v1-api.md`, `../shared/spec/tiles-checkpoints-v2.md`.

pub mod api;
pub mod auth;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod entries;
pub mod fsck;
pub mod limits;
pub mod log;
pub mod merkle;
pub mod note;
pub mod proto;
pub mod sequencer;
pub mod signer;
pub mod storage;
pub mod wire;
