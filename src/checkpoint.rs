//! Checkpoints (signed tree heads): the text of c2sp.org/tlog-checkpoint
//! (tiles-checkpoints-v2.md §2) and its two signed forms —
//!
//! - the **Rekor v1** checkpoint (rekor-v1-api.md §8): origin `<hostname> - <treeID>`, exactly
//!   one signature line named by the hostname, key hint = first 4 bytes of SHA-256 of the ECDSA
//!   key's SubjectPublicKeyInfo, ECDSA P-256 / SHA-256 / DER over the note text;
//! - the **C2SP** checkpoint: origin `<hostname>`, signed with the Ed25519 key under the origin
//!   as key name, with the standard signed-note key ID.
//!
//! Pure: no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::Verifier as _;

use crate::merkle::Hash;
use crate::note::{self, NoteError, NoteVerifier};
use crate::signer::{EcdsaVerifyingKey, LogKeys};

/// The body of a checkpoint: origin, tree size, root hash. No extension lines are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("the checkpoint is not signed by the expected key: {0}")]
    WrongKey(String),
    #[error("checkpoint origin {got:?} is not the expected {want:?}")]
    WrongOrigin { got: String, want: String },
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root.0)
        )
    }

    /// Parses a checkpoint note text (§2). Extension lines after the third are allowed and
    /// ignored (tlog-checkpoint permits them; we never write any).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |m: &str| CheckpointError::Malformed(m.to_owned());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("text does not end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(bad("fewer than three lines"));
        };
        if lines.any(str::is_empty) {
            return Err(bad("empty extension line"));
        }
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical_size)
            .ok_or_else(|| bad("tree size is not a decimal number without leading zeros"))?;
        let root = B64
            .decode(root)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| bad("root hash is not base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// Signs a Rekor v1 checkpoint with the log's ECDSA key (rekor-v1-api.md §8.1).
pub fn sign_v1(cp: &Checkpoint, hostname: &str, keys: &LogKeys) -> String {
    let text = cp.to_text();
    let sig = keys.ecdsa_sign(text.as_bytes());
    let hint = u32::from_be_bytes(keys.key_hint());
    format!("{text}\n{}", note::signature_line(hostname, hint, &sig))
}

/// Verifies a Rekor v1 checkpoint as the strictest clients do (§8.2): exactly one signature
/// line, named `hostname`, with the key hint of `key` and a valid ECDSA signature.
pub fn verify_v1(
    text: &str,
    key: &EcdsaVerifyingKey,
    hostname: &str,
) -> Result<Checkpoint, CheckpointError> {
    let n = note::parse(text.as_bytes())?;
    let [sig] = n.signatures.as_slice() else {
        return Err(CheckpointError::Malformed(format!(
            "{} signature lines, a v1 checkpoint has exactly one",
            n.signatures.len()
        )));
    };
    let spki = p256::pkcs8::EncodePublicKey::to_public_key_der(key)
        .map_err(|e| CheckpointError::WrongKey(e.to_string()))?;
    let log_id: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(spki.as_bytes()).into();
    let hint = u32::from_be_bytes([log_id[0], log_id[1], log_id[2], log_id[3]]);
    if sig.name != hostname || sig.key_id != hint {
        return Err(CheckpointError::WrongKey(format!(
            "signed by {} with key hint {:08x}",
            sig.name, sig.key_id
        )));
    }
    let valid = p256::ecdsa::Signature::from_der(&sig.signature)
        .is_ok_and(|s| key.verify(n.text.as_bytes(), &s).is_ok());
    if !valid {
        return Err(NoteError::InvalidSignature {
            name: sig.name.clone(),
            id: sig.key_id,
        }
        .into());
    }
    Checkpoint::parse(&n.text)
}

/// Signs a C2SP checkpoint with the log's Ed25519 key, key name = origin (§1–2).
pub fn sign_c2sp(cp: &Checkpoint, keys: &LogKeys) -> String {
    let text = cp.to_text();
    let sig = keys.ed25519_sign(text.as_bytes());
    let id = note::key_id(&cp.origin, note::ED25519, &keys.ed25519_public_key());
    format!("{text}\n{}", note::signature_line(&cp.origin, id, &sig))
}

/// Opens a C2SP checkpoint with the log's verifier (whose name is the origin); other signatures
/// (witness cosignatures) are ignored unless also given.
pub fn verify_c2sp(
    text: &str,
    log: &dyn NoteVerifier,
    cosigners: &[&dyn NoteVerifier],
) -> Result<Checkpoint, CheckpointError> {
    let mut verifiers = vec![log];
    verifiers.extend_from_slice(cosigners);
    let opened = note::open(text.as_bytes(), &verifiers)?;
    let signed_by_log = opened.verified.iter().any(|&i| {
        opened.note.signatures[i].name == log.name()
            && opened.note.signatures[i].key_id == log.key_id()
    });
    if !signed_by_log {
        return Err(CheckpointError::WrongKey("no signature by the log".into()));
    }
    let cp = Checkpoint::parse(&opened.note.text)?;
    if cp.origin != log.name() {
        return Err(CheckpointError::WrongOrigin {
            got: cp.origin,
            want: log.name().to_owned(),
        });
    }
    Ok(cp)
}
