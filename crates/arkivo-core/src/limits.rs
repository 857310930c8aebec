//! Every bound Arkivo puts on its input, in one place.
//!
//! A transparency log accepts bytes from anyone who may write, and it must never be taken down or
//! made to do unbounded work by them. Each constant below caps one dimension of one input; the
//! handlers and parsers cite these constants rather than literals, so that this file is the
//! complete list an operator or reviewer has to read.

/// Largest HTTP request body accepted on any route (32 MiB, the size upstream Rekor's own test
/// deployment uses). DSSE envelopes carry whole attestations (SBOMs can be megabytes), but only
/// their hashes are stored, so the cost of a large body is transient.
pub const MAX_REQUEST_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Largest body of the public read POSTs (`/api/v1/log/entries/retrieve`,
/// `/api/v1/index/retrieve`): at most [`MAX_RETRIEVE_ITEMS`] UUIDs, indexes or proposed entries
/// (a key or certificate chain each, [`MAX_PUBLIC_KEY_BYTES`]), or one search term. Anyone may
/// send these, so they get far less than a write.
pub const MAX_QUERY_BODY_BYTES: usize = 1024 * 1024;
/// A request body must arrive at this average rate, after [`BODY_GRACE`]: a body read holds a
/// request-in-flight slot, so one stalled or trickled body must not hold it for the whole
/// request timeout (which still bounds the whole request). A stalled body is cut off after the
/// grace; a 1 MiB query may take 21 s.
pub const MIN_BODY_BYTES_PER_SECOND: u64 = 64 * 1024;
/// How long a request body may take before [`MIN_BODY_BYTES_PER_SECOND`] counts.
pub const BODY_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Deepest JSON nesting accepted in a request. serde_json refuses more than 128 levels on its own;
/// the entry shapes we accept nest at most 6 deep, so anything deeper is hostile.
pub const MAX_JSON_DEPTH: usize = 64;

/// Largest canonical body of an entry: what a C2SP entry bundle can carry, whose entries have a
/// 16-bit length (tiles-checkpoints-witnesses.md §4.5). Real entries are a few KiB at most; a larger
/// one (a huge certificate, say) is refused when written rather than left unservable as tiles.
pub const MAX_CANONICAL_BODY_BYTES: usize = crate::tiles::MAX_BUNDLE_ENTRY_BYTES;

/// Largest decoded PEM document given as a public key or verifier: a chain of
/// [`MAX_CERT_CHAIN_LEN`] certificates of a few KiB each.
pub const MAX_PUBLIC_KEY_BYTES: usize = 64 * 1024;

/// Most certificates in a chain given as a verifier (rekor-v1-api.md §5.1: "chain, max 10").
pub const MAX_CERT_CHAIN_LEN: usize = 10;

/// Largest signature accepted: an RSA-8192 signature is 1,024 bytes; ECDSA P-521 DER is at most
/// 139 bytes.
pub const MAX_SIGNATURE_BYTES: usize = 2048;

/// Most signatures in one DSSE envelope. Every signature costs a verification; rekor-tiles capped
/// signatures × verifiers to close an amplification attack (STYLE.md §4), and real envelopes carry one.
pub const MAX_DSSE_SIGNATURES: usize = 8;

/// Most verifiers in one `dsse` proposed entry (same reasoning as [`MAX_DSSE_SIGNATURES`]).
pub const MAX_DSSE_VERIFIERS: usize = 8;

/// Largest decoded DSSE envelope (the `envelope` string of a `dsse` proposed entry).
pub const MAX_DSSE_ENVELOPE_BYTES: usize = MAX_REQUEST_BODY_BYTES;

/// Largest decoded `data.content` of a `rekord` proposed entry: the data travels whole in the
/// request (as base64, so at most three quarters of [`MAX_REQUEST_BODY_BYTES`] fits) and only its
/// SHA-256 is stored.
pub const MAX_REKORD_DATA_BYTES: usize = MAX_REQUEST_BODY_BYTES;

/// Most items across `entryUUIDs`, `logIndexes` and `entries` of one retrieve request
/// (rekor-v1-api.md §3.4).
pub const MAX_RETRIEVE_ITEMS: usize = 10;

/// Most signature verifications the proposed entries of one retrieve request may cost (a chain's
/// certificate signatures included): the route needs no token, and without a bound ten dsse
/// entries of 8 keys × 8 signatures (RSA-8192 at worst) cost seconds of CPU. Ten hashedrekord
/// entries with a leaf-and-intermediate chain each fit.
pub const MAX_RETRIEVE_VERIFICATIONS: usize = 32;

/// Largest signed note (checkpoint) accepted from outside, and most signature lines in it
/// (tiles-checkpoints-witnesses.md §1.1: accept at least 16; Go caps at 100).
pub const MAX_NOTE_BYTES: usize = 1024 * 1024;
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// Most log indexes one search-index key returns (`POST /api/v1/index/retrieve`), oldest first.
/// A CI key that signs every build can match millions of entries; 10,000 entry IDs is ~0.9 MB.
pub const MAX_SEARCH_RESULTS: usize = 10_000;

/// Largest RSA modulus, in bits, of any key Arkivo verifies with (hashedrekord's algorithm policy
/// then only allows 2048, 3072 and 4096 bits; DSSE verifiers have no policy, so this is their
/// cap). RSA-8192 is also the largest aws-lc-rs verifies.
pub const MAX_RSA_KEY_BITS: usize = 8192;

/// Most `<alg>:<digest>` search-index keys taken from the in-toto statement of one DSSE entry
/// (subjects, then SLSA materials; rekor-v1-api.md §10.1). Upstream has no cap; further digests
/// are left unindexed (the entry is still accepted), so one statement cannot flood the index:
/// with keys of at most 135 bytes (`sha512:` and 128 hex digits), about 35 KiB of keys.
pub const MAX_INTOTO_INDEX_KEYS: usize = 256;

/// Most open client connections; further connections are closed at once. Each costs a file
/// descriptor and a little memory, and 4,096 is far above what the write path needs (64–256
/// connections saturate it, see docs/performance.md). One client (IP address, IPv6 /64) may hold
/// an eighth of them, and the last sixteenth are kept for clients holding fewer than four
/// (`ratelimit::ClientSlots`).
pub const MAX_CONNECTIONS: usize = 4096;

/// Longest a client may take to send a request's headers (a slow-loris defence). The body and
/// the rest of the request are bounded by the request timeout (`api::REQUEST_TIMEOUT`).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Most requests being handled at once, over all connections, by default (`max_requests_in_flight`
/// in the config); further requests get 503 with `Retry-After` at once instead of queueing
/// (tower's load shedding). Writes spend most of their
/// time waiting for a commit, so this is far above what saturates the CPU (see "Performance").
/// Shared among clients like [`MAX_CONNECTIONS`].
pub const MAX_REQUESTS_IN_FLIGHT: usize = 2048;

/// Most clients the per-client rate limiter remembers (about 50 bytes each). Clients that have
/// their whole burst back are forgotten first; see `ratelimit::RateLimiter::check`.
pub const MAX_RATE_LIMITED_CLIENTS: usize = 100_000;

/// Most consistency-proof lines in a tlog-witness `add-checkpoint` request (tiles-checkpoints-witnesses.md
/// §3.2: a client "MUST NOT send more than 63"). It is also the longest proof between trees of at
/// most `merkle::MAX_TREE_SIZE` = 2^62 records: at most one seed hash, plus one hash per level.
pub const MAX_WITNESS_PROOF_HASHES: usize = 63;

/// Largest `add-checkpoint` request body a witness reads: the old size line (`old ` + at most 20
/// digits + newline = 25 bytes), [`MAX_WITNESS_PROOF_HASHES`] lines of 44 base64 characters and a
/// newline, the blank line, and a checkpoint note of at most [`MAX_NOTE_BYTES`]. About 1 MiB.
pub const MAX_ADD_CHECKPOINT_BYTES: usize = 25 + MAX_WITNESS_PROOF_HASHES * 45 + 1 + MAX_NOTE_BYTES;

/// Largest `add-checkpoint` answer the log reads from a witness (its cosignature lines, or the
/// size of a 409). An Ed25519 cosignature line is about 150 bytes and an ML-DSA-44 one about
/// 3.3 kB, so 64 KiB leaves room for many keys while a hostile witness cannot make the log buffer
/// more.
pub const MAX_WITNESS_RESPONSE_BYTES: usize = 64 * 1024;

/// Longest OIDC ID token accepted (`POST /api/v2/signingCert`). Real ones are 1–3 KB; GitHub's,
/// with every claim, under 4 KB.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// Most keys read from an issuer's JWKS; issuers publish a handful.
pub const MAX_JWKS_KEYS: usize = 100;

/// Largest OIDC discovery document or JWKS fetched from an issuer.
pub const MAX_OIDC_DOCUMENT_BYTES: usize = 1024 * 1024;
