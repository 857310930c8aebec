//! The Arkivo client: keys, signing and verifying blobs, and queries of a Rekor v1 log.
//!
//! The interfaces other parts build on (image signing builds on these; keep them stable):
//!
//! - [`keys::SigningKey`]: [`keys::SigningKey::load`] reads arkivo's, cosign's and plain
//!   PKCS#8/SEC1 PEM key files (password from `ARKIVO_PASSWORD`/`COSIGN_PASSWORD` or a prompt);
//!   `algorithm()`, `public_key_pem()`, `sign(msg)` (what `hashedrekord` verifies: ECDSA P-256
//!   SHA-256 DER, or Ed25519ph), `sign_digest(digest)`, `sign_dsse(pae)`.
//!   [`keys::load_public_key`] reads a public key file.
//! - [`rekor::RekorClient`]: `new(url)`, `create_hashedrekord`, `create_dsse`, `get_by_index`,
//!   `get_by_uuid`, `search_index`, `log_info`, `consistency_proof`, `public_key`,
//!   `trusted_root`; errors are [`rekor::ClientError`] (status and the log's message).
//! - [`LogEntry`]: a v1 entry response (entry ID, body, integrated time, log ID, log index,
//!   inclusion proof with checkpoint, SET); [`LogEntry::rekor_bundle`] gives cosign's Rekor
//!   bundle annotation ([`rekor::RekorBundle`]).
//! - [`verify::verify_log_entry`]: offline SET, checkpoint and inclusion checks against
//!   [`trust::TrustedLog`]s (a log key, or a trusted root's logs);
//!   [`verify::verify_hashedrekord`] and [`verify::verify_dsse`] tie a body to an artifact or
//!   an envelope;
//!   [`verify::verify_rekor_bundle`] checks cosign's annotation (SET only);
//!   [`verify::verify_consistency`] checks a later checkpoint against an earlier one.
//! - [`bundle::Bundle`]: Sigstore bundle v0.3 JSON, key-signed or keyless (a certificate).
//! - Keyless: [`fulcio::certify`] gets an ephemeral key certified for an OIDC identity;
//!   [`identity::verify_certificate`] checks a certificate against a trusted root's CAs and an
//!   identity policy; [`trust::certificate_trust`] reads the CAs.
//!
//! Container images: [`oci`] (registry access), [`cosign`] (cosign's storage layouts as
//! values), [`dsse`] (DSSE envelopes and the verification of DSSE bundles) and [`image`] (sign,
//! attest and verify images). [`signing`] (who signs, which log records it; in-toto statements
//! signed and recorded) and [`rekor_v2`] (a signature timestamped and recorded in a Rekor v2
//! log) serve the image and blob commands alike.
//!
//! [`commands`] implements the `arkivo` subcommands on top, one module each (and documents
//! their exit codes); [`cli`] lists them;
//! [`monitor`] follows a log, checking each checkpoint's consistency with the last one.
//! Nothing here touches the server: the client depends only on the pure core
//! ([`arkivo_core::entries`], [`arkivo_core::merkle`], [`arkivo_core::checkpoint`],
//! [`arkivo_core::signer`]'s SET check, [`arkivo_core::wire`]).

pub mod bundle;
pub mod cli;
pub mod commands;
pub mod cosign;
pub mod dsse;
pub mod fulcio;
pub mod identity;
pub mod image;
pub mod keys;
pub mod monitor;
pub mod oci;
pub mod rekor;
pub mod rekor_v2;
pub mod signing;
pub mod trust;
pub mod verify;

pub use rekor::LogEntry;
