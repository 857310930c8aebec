//! Checkpoints (signed tree heads): the text of c2sp.org/tlog-checkpoint
//! (tiles-checkpoints-witnesses.md §2) and its two signed forms —
//!
//! - the **C2SP** checkpoint: origin `<hostname>` (or a configured origin), signed with the log's
//!   Ed25519 key under the origin as key name, with the standard signed-note key ID; witnesses
//!   add cosignature lines ([`sign_c2sp`], [`verify_c2sp`], [`open_c2sp`]);
//! - the **Rekor v1** checkpoint (rekor-v1-api.md §8): origin `<hostname> - <treeID>`, exactly
//!   one signature line named by the hostname alone, whose 4-byte "key hint" is the first 4 bytes
//!   of SHA-256 of the ECDSA key's SubjectPublicKeyInfo (the log ID) — *not* a signed-note key
//!   ID — followed by an ECDSA P-256 / SHA-256 / DER signature over the note text
//!   ([`sign_v1`], [`verify_v1`]).
//!
//! Extension lines: we never write any. [`Checkpoint::parse`] tolerates them (tlog-checkpoint
//! allows them, and Rekor before v1.3.5 wrote a `Timestamp:` line) but does not keep them: they
//! stay in the verified note's text, which is what the signatures cover.
//!
//! Pure: no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::Verifier as _;

use crate::merkle::Hash;
use crate::note::{self, NoteError, NoteSigner, NoteVerifier, VerifiedNote};
use crate::signer::{EcdsaVerifyingKey, LogKeys};

/// The body of a checkpoint: origin, tree size, root hash.
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

fn malformed(m: &str) -> CheckpointError {
    CheckpointError::Malformed(m.to_owned())
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`, no extension lines. Only meaningful for an
    /// origin that [`Checkpoint::parse`] accepts (non-empty, one line, no control characters).
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root.as_bytes())
        )
    }

    /// Parses a checkpoint note text (§2): at least three lines, each non-empty and ending with
    /// `\n`; a non-empty origin; the size in decimal without sign or leading zeros (`0` for the
    /// empty tree) that fits a u64; the root as canonical padded base64 of exactly 32 bytes; no
    /// control characters. Extension lines after the third are allowed and ignored.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Malformed`] naming the first rule broken.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("text does not end with a newline"))?;
        if body.contains(|c: char| c.is_ascii_control() && c != '\n') {
            return Err(malformed("control character"));
        }
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(malformed("fewer than three lines"));
        };
        if origin.is_empty() {
            return Err(malformed("empty origin"));
        }
        if lines.any(str::is_empty) {
            return Err(malformed("empty extension line"));
        }
        let size = parse_tree_size(size)
            .ok_or_else(|| malformed("tree size is not a decimal u64 without leading zeros"))?;
        let root = B64
            .decode(root)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| malformed("root hash is not base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// The tree ID (decimal) of a Rekor v1 checkpoint, whose origin is `<hostname> - <treeID>`
    /// (rekor-v1-api.md §8; [`verify_v1`] checks it): what tells a log's shards apart.
    pub fn v1_tree_id(&self) -> Option<&str> {
        self.origin
            .rsplit_once(" - ")
            .map(|(_, id)| id)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Parses a tree size as checkpoints (§2) and the witness protocol (§3.2: the `old` line, the
/// `text/x.tlog.size` body) write it: ASCII decimal without sign or leading zeros (`0` for the
/// empty tree), fitting a u64.
pub fn parse_tree_size(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    s.parse::<u64>().ok().filter(|_| canonical)
}

/// The Rekor v1 key hint of an ECDSA P-256 key: the first 4 bytes of SHA-256 of its DER
/// SubjectPublicKeyInfo, read big-endian.
pub fn v1_key_hint(key: &EcdsaVerifyingKey) -> u32 {
    let log_id = crate::signer::ecdsa_log_id(key);
    u32::from_be_bytes([log_id[0], log_id[1], log_id[2], log_id[3]])
}

/// Signs a Rekor v1 checkpoint with the log's ECDSA key (rekor-v1-api.md §8.1): the text, a
/// blank line and `— <hostname> base64(key hint ‖ DER signature)\n`. `cp.origin` should be
/// `<hostname> - <treeID>` ([`verify_v1`] insists on it).
pub fn sign_v1(cp: &Checkpoint, hostname: &str, keys: &LogKeys) -> String {
    let text = cp.to_text();
    let sig = keys.ecdsa_sign(text.as_bytes());
    let hint = u32::from_be_bytes(keys.key_hint());
    format!("{text}\n{}", note::signature_line(hostname, hint, &sig))
}

/// Verifies a Rekor v1 checkpoint as the strictest clients do (§8.2): a well-formed note with
/// exactly one signature line, named `hostname`, carrying the key hint of `key` and a valid
/// ECDSA P-256 / SHA-256 DER signature over the note text; the origin must be
/// `<hostname> - <decimal tree ID>`.
///
/// # Errors
///
/// [`CheckpointError::Note`] for a malformed note or a bad signature,
/// [`CheckpointError::Malformed`] for a second signature line or a bad checkpoint text,
/// [`CheckpointError::WrongKey`] for another name or key hint, [`CheckpointError::WrongOrigin`].
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
    let hint = v1_key_hint(key);
    if sig.name != hostname || sig.key_id != hint {
        return Err(CheckpointError::WrongKey(format!(
            "signed by {} with key hint {:08x}, expected {hostname} with {hint:08x}",
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
    let cp = Checkpoint::parse(&n.text)?;
    let tree_id = cp
        .origin
        .strip_prefix(hostname)
        .and_then(|rest| rest.strip_prefix(" - "));
    if !tree_id.is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())) {
        return Err(CheckpointError::WrongOrigin {
            got: cp.origin,
            want: format!("{hostname} - <tree ID>"),
        });
    }
    Ok(cp)
}

/// Signs a C2SP checkpoint with the given signers (the log's key first, then any others), with
/// [`note::sign`].
///
/// # Errors
///
/// [`NoteError`] from [`note::sign`]: an origin that makes an invalid note text, an invalid key
/// name, a signer's error.
pub fn sign_note(cp: &Checkpoint, signers: &[&dyn NoteSigner]) -> Result<String, NoteError> {
    if Checkpoint::parse(&cp.to_text()).as_ref() != Ok(cp) {
        return Err(NoteError::Malformed(
            "the origin does not make a checkpoint text".into(),
        ));
    }
    note::sign(&cp.to_text(), signers)
}

/// Signs a C2SP checkpoint with the log's Ed25519 key, key name = origin (§1–2).
///
/// # Panics
///
/// If the origin is not a valid key name or checkpoint origin (empty, whitespace, `+`, control
/// characters): the log's origin is checked when the log is created.
pub fn sign_c2sp(cp: &Checkpoint, keys: &LogKeys) -> String {
    let signer = keys
        .ed25519_note_signer(&cp.origin)
        .expect("the origin is a valid key name");
    sign_note(cp, &[&signer]).expect("the origin makes a valid checkpoint")
}

/// A C2SP checkpoint opened with [`open_c2sp`]: the checkpoint and the verified note (which
/// signatures verified, including cosignatures, and which were ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: VerifiedNote,
}

/// Opens a C2SP checkpoint: the note must verify (§1.1 rules) with `log` and `cosigners` as
/// the known keys, carry a valid signature by `log`, and have the log's key name as origin.
/// Signatures of other keys are ignored; a bad signature of a known cosigner rejects the note.
///
/// # Errors
///
/// [`CheckpointError::Note`], [`CheckpointError::WrongKey`] when the log did not sign,
/// [`CheckpointError::Malformed`], [`CheckpointError::WrongOrigin`].
pub fn open_c2sp(
    text: &str,
    log: &dyn NoteVerifier,
    cosigners: &[&dyn NoteVerifier],
) -> Result<OpenedCheckpoint, CheckpointError> {
    let mut verifiers = Vec::with_capacity(1 + cosigners.len());
    verifiers.push(log);
    verifiers.extend_from_slice(cosigners);
    let opened = note::open(text.as_bytes(), &verifiers)?;
    if !opened.is_signed_by(log.name(), log.key_id()) {
        return Err(CheckpointError::WrongKey("no signature by the log".into()));
    }
    let checkpoint = Checkpoint::parse(opened.text())?;
    if checkpoint.origin != log.name() {
        return Err(CheckpointError::WrongOrigin {
            got: checkpoint.origin,
            want: log.name().to_owned(),
        });
    }
    Ok(OpenedCheckpoint {
        checkpoint,
        note: opened,
    })
}

/// [`open_c2sp`], keeping only the checkpoint.
///
/// # Errors
///
/// As [`open_c2sp`].
pub fn verify_c2sp(
    text: &str,
    log: &dyn NoteVerifier,
    cosigners: &[&dyn NoteVerifier],
) -> Result<Checkpoint, CheckpointError> {
    open_c2sp(text, log, cosigners).map(|o| o.checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(origin: &str, size: u64) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root: Hash([7; 32]),
        }
    }

    #[test]
    fn text_layout_and_strict_parse() {
        let c = cp("log.test", 10);
        let root = B64.encode([7u8; 32]);
        assert_eq!(c.to_text(), format!("log.test\n10\n{root}\n"));
        assert_eq!(Checkpoint::parse(&c.to_text()), Ok(c));
        for bad in [
            format!("o\n01\n{root}\n"),
            format!("o\n00\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n 1\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\r\n1\n{root}\n"),
            format!("o\n1\n{}\n", B64.encode([0u8; 31])),
            format!("o\n1\n{}\n", B64.encode([0u8; 33])),
            format!("o\n1\n{}\n", hex::encode([0u8; 32])),
            format!("o\n1\n{}\n", root.trim_end_matches('=')),
            "o\n1\n".to_owned(),
            String::new(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        let with_ext = format!("o\n0\n{root}\nTimestamp: 1\nother\n");
        assert_eq!(Checkpoint::parse(&with_ext).unwrap().size, 0);
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
    }

    #[test]
    fn v1_tree_ids() {
        assert_eq!(cp("log.test - 42", 1).v1_tree_id(), Some("42"));
        assert_eq!(cp("a - b - 7", 1).v1_tree_id(), Some("7"));
        for origin in ["log.test", "log.test - ", "log.test - 4x", "log.test-42"] {
            assert_eq!(cp(origin, 1).v1_tree_id(), None, "{origin:?}");
        }
    }

    #[test]
    fn sign_note_refuses_origins_that_do_not_roundtrip() {
        let s =
            note::Ed25519Signer::new("n", ed25519_dalek::SigningKey::from_bytes(&[1; 32])).unwrap();
        for origin in ["", "a\nb", "a\rb"] {
            assert!(sign_note(&cp(origin, 1), &[&s]).is_err(), "{origin:?}");
        }
        assert!(sign_note(&cp("n", 1), &[&s]).is_ok());
    }
}
