//! C2SP signed notes (c2sp.org/signed-note; tiles-checkpoints-v2.md §1): parsing, signing and
//! verifying, Ed25519 keys (type 0x01), timestamped Ed25519 cosignatures (type 0x04,
//! c2sp.org/tlog-cosignature, §3.1) and verifier keys ("vkeys").
//!
//! Pure: text in, values out. Not here: what the text of a checkpoint means (see
//! [`crate::checkpoint`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::limits::{MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES};

/// Signature type of Ed25519 note signatures.
pub const ED25519: u8 = 0x01;
/// Signature type of timestamped Ed25519 cosignatures (tlog-cosignature).
pub const COSIGNATURE_V1: u8 = 0x04;

const EM_DASH_SPACE: &str = "\u{2014} ";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("invalid signature by {name} (key ID {id:08x})")]
    InvalidSignature { name: String, id: u32 },
    #[error("no known key signed the note")]
    UnverifiedNote,
    #[error("malformed verifier key: {0}")]
    MalformedKey(String),
}

/// One signature line: key name, key ID and the algorithm-specific signature bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Everything up to and including the newline before the separating blank line.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// The full 32-byte key hash `SHA-256(name ‖ 0x0A ‖ type ‖ key)` (§1.2): Rekor v2's log ID.
pub fn key_hash(name: &str, sig_type: u8, key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(key);
    h.finalize().into()
}

/// The note key ID: the first 4 bytes of [`key_hash`], big-endian.
pub fn key_id(name: &str, sig_type: u8, key: &[u8]) -> u32 {
    let h = key_hash(name, sig_type, key);
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// Parses a signed note (§1.1) without verifying it.
pub fn parse(note: &[u8]) -> Result<Note, NoteError> {
    let bad = |m: &str| NoteError::Malformed(m.to_owned());
    if note.len() > MAX_NOTE_BYTES {
        return Err(bad("note too large"));
    }
    let note = std::str::from_utf8(note).map_err(|_| bad("not UTF-8"))?;
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad("control character"));
    }
    // The separator is the last blank line: the signature block has none.
    let split = note.rfind("\n\n").ok_or_else(|| bad("no blank line"))?;
    let (text, block) = (&note[..=split], &note[split + 2..]);
    if !block.ends_with('\n') {
        return Err(bad("signature block does not end with a newline"));
    }
    let lines: Vec<&str> = block[..block.len() - 1].split('\n').collect();
    if lines.len() > MAX_NOTE_SIGNATURES {
        return Err(bad("too many signatures"));
    }
    let mut signatures = Vec::with_capacity(lines.len());
    for line in lines {
        let rest = line
            .strip_prefix(EM_DASH_SPACE)
            .ok_or_else(|| bad("signature line does not start with an em dash"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad("signature line has no signature"))?;
        if !valid_name(name) {
            return Err(bad("invalid key name"));
        }
        let blob = B64
            .decode(b64)
            .map_err(|_| bad("signature is not base64"))?;
        if blob.len() < 5 {
            return Err(bad("signature too short"));
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]),
            signature: blob[4..].to_vec(),
        });
    }
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

/// Formats one signature line.
pub fn signature_line(name: &str, key_id: u32, signature: &[u8]) -> String {
    let mut blob = key_id.to_be_bytes().to_vec();
    blob.extend_from_slice(signature);
    format!("{EM_DASH_SPACE}{name} {}\n", B64.encode(blob))
}

/// Something that verifies signatures of one (name, key ID) pair.
pub trait NoteVerifier {
    fn name(&self) -> &str;
    fn key_id(&self) -> u32;
    /// Whether `signature` (without the key ID) is valid over the note `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// A note whose signatures were checked: the indexes of `note.signatures` that verified.
#[derive(Clone, Debug)]
pub struct VerifiedNote {
    pub note: Note,
    pub verified: Vec<usize>,
}

/// Parses and verifies a note (§1.1): signatures of unknown (name, key ID) pairs are ignored; a
/// known pair whose signature fails rejects the note; at least one known signature must verify.
pub fn open(note: &[u8], verifiers: &[&dyn NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let note = parse(note)?;
    let mut verified = Vec::new();
    for (i, sig) in note.signatures.iter().enumerate() {
        let known = verifiers
            .iter()
            .find(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        if let Some(v) = known {
            if !v.verify(note.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    id: sig.key_id,
                });
            }
            verified.push(i);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::UnverifiedNote);
    }
    Ok(VerifiedNote { note, verified })
}

/// An Ed25519 note key (type 0x01).
#[derive(Clone, Debug)]
pub struct Ed25519Verifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    pub fn new(name: &str, key: VerifyingKey) -> Self {
        Ed25519Verifier {
            name: name.to_owned(),
            id: key_id(name, ED25519, key.as_bytes()),
            key,
        }
    }

    /// The vkey `name+hex8+base64(0x01 ‖ key)` (§1.3).
    pub fn vkey(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).is_ok_and(|s| self.key.verify(text, &s).is_ok())
    }
}

/// A timestamped Ed25519 cosignature key (type 0x04, tlog-cosignature v1): the signature is
/// `u64 BE timestamp ‖ Ed25519 over "cosignature/v1\ntime <ts>\n" ‖ text`.
#[derive(Clone, Debug)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Self {
        CosignatureVerifier {
            name: name.to_owned(),
            id: key_id(name, COSIGNATURE_V1, key.as_bytes()),
            key,
        }
    }

    /// The cosignature's timestamp, if `signature` has the cosignature layout.
    pub fn timestamp(signature: &[u8]) -> Option<u64> {
        let ts: [u8; 8] = signature.get(..8)?.try_into().ok()?;
        Some(u64::from_be_bytes(ts))
    }
}

fn cosigned_message(timestamp: u64, text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let (Some(ts), Some(sig)) = (Self::timestamp(signature), signature.get(8..)) else {
            return false;
        };
        sig.len() == 64
            && Signature::from_slice(sig)
                .is_ok_and(|s| self.key.verify(&cosigned_message(ts, text), &s).is_ok())
    }
}

/// A verifier parsed from a vkey (§1.3): Ed25519 (0x01) or cosignature (0x04).
pub enum VKey {
    Ed25519(Ed25519Verifier),
    Cosignature(CosignatureVerifier),
}

impl VKey {
    pub fn verifier(&self) -> &dyn NoteVerifier {
        match self {
            VKey::Ed25519(v) => v,
            VKey::Cosignature(v) => v,
        }
    }
}

/// Parses a vkey, checking that its key ID matches the key.
pub fn parse_vkey(vkey: &str) -> Result<VKey, NoteError> {
    let bad = |m: &str| NoteError::MalformedKey(m.to_owned());
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+id+key"));
    };
    if !valid_name(name) || id.len() != 8 {
        return Err(bad("invalid name or key ID"));
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| bad("key ID is not hex"))?;
    let raw = B64.decode(key).map_err(|_| bad("key is not base64"))?;
    let (&sig_type, key) = raw.split_first().ok_or_else(|| bad("empty key"))?;
    let key: [u8; 32] = key.try_into().map_err(|_| bad("key is not 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("invalid Ed25519 key"))?;
    let v = match sig_type {
        ED25519 => VKey::Ed25519(Ed25519Verifier::new(name, key)),
        COSIGNATURE_V1 => VKey::Cosignature(CosignatureVerifier::new(name, key)),
        other => return Err(bad(&format!("unsupported key type 0x{other:02x}"))),
    };
    if v.verifier().key_id() != id {
        return Err(bad("key ID does not match the key"));
    }
    Ok(v)
}

/// Parses a Go `sumdb/note` private key `PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)`.
pub fn parse_go_private_key(skey: &str) -> Result<(String, SigningKey), NoteError> {
    let bad = |m: &str| NoteError::MalformedKey(m.to_owned());
    let rest = skey
        .strip_prefix("PRIVATE+KEY+")
        .ok_or_else(|| bad("no PRIVATE+KEY+ prefix"))?;
    let mut parts = rest.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+id+key"));
    };
    let raw = B64.decode(key).map_err(|_| bad("key is not base64"))?;
    let seed: [u8; 32] = match raw.split_first() {
        Some((&ED25519, seed)) => seed.try_into().map_err(|_| bad("seed is not 32 bytes"))?,
        _ => return Err(bad("not an Ed25519 key")),
    };
    let key = SigningKey::from_bytes(&seed);
    let want = format!(
        "{:08x}",
        key_id(name, ED25519, key.verifying_key().as_bytes())
    );
    if !valid_name(name) || id != want {
        return Err(bad("key ID does not match the key"));
    }
    Ok((name.to_owned(), key))
}

/// Signs `text` (which must end with a newline) with Ed25519 keys: text, blank line, one
/// signature line per key.
pub fn sign_ed25519(text: &str, signers: &[(&str, &SigningKey)]) -> String {
    use ed25519_dalek::Signer as _;
    debug_assert!(text.ends_with('\n'));
    let mut out = format!("{text}\n");
    for (name, key) in signers {
        let sig = key.sign(text.as_bytes()).to_bytes();
        out.push_str(&signature_line(
            name,
            key_id(name, ED25519, key.verifying_key().as_bytes()),
            &sig,
        ));
    }
    out
}
