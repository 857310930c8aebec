//! Arkivo's pure core: what a transparency log and its verifiers compute, with no I/O of its
//! own — bytes in, values or errors out. No tokio, no RocksDB, no HTTP: an admission webhook or
//! a policy engine can embed it to verify bundles and proofs offline.
//!
//! - [`merkle`]: RFC 6962 trees, stored hashes, inclusion and consistency proofs.
//! - [`note`] and [`checkpoint`]: signed notes, Rekor v1 and C2SP checkpoints.
//! - [`signer`]: the log's keys, signed entry timestamps.
//! - [`entries`]: validation and canonical bodies of `hashedrekord` and `dsse`, Rekor v1 and v2.
//! - [`tiles`]: C2SP tlog-tiles paths, tile contents, entry bundles.
//! - [`wire`]: the Rekor v1 JSON shapes; [`proto`]: the Rekor v2 protobuf types and their JSON.
//! - [`witness`]: the tlog-witness wire format and a witness's decision.
//! - [`ca`]: the certificate authority: Fulcio's request and answer shapes, OIDC ID tokens
//!   verified against a JWKS, the identity a token names, the certificates.
//! - [`tsa`]: the RFC 3161 timestamp authority: requests, signed responses, token verification.
//! - [`limits`]: every bound Arkivo puts on its input; [`durable`]: atomic file replacement, the
//!   one file-system helper both the server and the client need.
//!
//! Formats: `docs/rekor-v1-api.md` and `docs/tiles-checkpoints-witnesses.md` in the repository.

pub mod ca;
pub mod checkpoint;
pub mod ct;
pub mod durable;
pub mod entries;
pub mod limits;
pub mod merkle;
pub mod mirror;
pub mod note;
pub mod proto;
pub mod signer;
pub mod tiles;
pub mod tsa;
pub mod wire;
pub mod witness;
