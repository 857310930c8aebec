//! Arkivo's server: the I/O around the pure core ([`arkivo_core`]).
//!
//! The life of an entry: [`api`] (HTTP: Rekor v1 and v2, tiles) validates it with
//! `arkivo_core::entries` and hands the canonical body to the [`sequencer`] (the single writer),
//! which commits each batch to [`storage`] (RocksDB) atomically and durably, extends the
//! `arkivo_core::merkle` tree and signs the new checkpoint.
//!
//! Around it: [`log`] and [`datadir`] (a log's identity; creating and opening a data directory),
//! [`shards`] (frozen trees and the active one), [`backup`] (backups while serving, restores),
//! [`witness`] (`arkivo witness`, and the log's client of its witnesses), [`mirror`] (`arkivo
//! mirror`, a verified copy of a log), [`fsck`] (`verify-log`),
//! [`auth`] and [`ratelimit`] (who may write, how fast), [`ca`] (the certificate authority's keys
//! and its OIDC issuers), [`keyfile`] (private key files), [`metrics`], [`config`], [`logging`], and [`cli`]
//! (the server's commands; [`serve`] is `arkivo serve`).
//!
//! The `rocksdb` feature (on by default) brings RocksDB and what needs it (the data directory,
//! backups, the witness server, the commands); without it the rest builds alone, which the fuzz
//! targets in `fuzz/` use to avoid RocksDB's C++ build.

pub mod api;
pub mod auth;
#[cfg(feature = "rocksdb")]
pub mod backup;
#[cfg(feature = "rocksdb")]
pub mod bulk;
pub mod ca;
#[cfg(feature = "rocksdb")]
pub mod cli;
pub mod config;
#[cfg(feature = "rocksdb")]
pub mod copy;
pub mod ct;
#[cfg(feature = "rocksdb")]
pub mod datadir;
pub mod fsck;
pub mod keyfile;
#[cfg(feature = "rocksdb")]
pub mod leader;
pub mod log;
pub mod logging;
pub mod metrics;
#[cfg(feature = "rocksdb")]
pub mod mirror;
pub mod ratelimit;
pub mod sequencer;
#[cfg(feature = "rocksdb")]
pub mod serve;
pub mod shards;
pub mod storage;
pub mod tuf;
pub mod witness;
