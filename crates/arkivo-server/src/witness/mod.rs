//! Witnessing (c2sp.org/tlog-witness and c2sp.org/tlog-cosignature; tiles-checkpoints-witnesses.md §3):
//! both sides of the `add-checkpoint` protocol.
//!
//! The wire format and the witness's decision are pure: `arkivo_core::witness`.
//! - [`store`] and [`server`]: `arkivo witness`, a witness that persists, per log origin, the
//!   latest checkpoint it cosigned and refuses any checkpoint inconsistent with it.
//! - [`client`]: the log's side, asking its configured witnesses to cosign each new checkpoint
//!   in the background and keeping the cosigned checkpoint that `GET /checkpoint` serves.

pub mod client;
#[cfg(feature = "rocksdb")]
pub mod server;
#[cfg(feature = "rocksdb")]
pub mod store;
