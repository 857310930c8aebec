//! C2SP signed notes (c2sp.org/signed-note; tiles-checkpoints-witnesses.md §1): parsing, formatting,
//! signing and verifying; Ed25519 keys (type 0x01), timestamped Ed25519 cosignatures (type 0x04,
//! c2sp.org/tlog-cosignature v1, §3.1), verifier keys ("vkeys") and Go `sumdb/note` private keys.
//!
//! Pure: text in, values out; no clock, no I/O. Not here: what the text of a checkpoint means
//! (see [`crate::checkpoint`]), and the Rekor v1 checkpoint signature, whose key hint is not a
//! signed-note key ID (see [`crate::checkpoint::verify_v1`]).
//!
//! Strictness, in the order [`parse`] checks it: at most [`MAX_NOTE_BYTES`]; valid UTF-8; no ASCII
//! control character (0x00–0x1F, 0x7F) other than `\n` (so CRLF is refused); the note text is
//! everything up to and including the newline before the **last** blank line; the signature block
//! is at least one line, each `— <name> <base64>\n`, nothing after the last one; at most
//! [`MAX_NOTE_SIGNATURES`] lines; names non-empty, without Unicode whitespace or `+`; base64 is
//! standard, padded and canonical; each blob at least 5 bytes (4-byte key ID + signature).
//! Go's `note.Open` accepts the same notes except that it also lets DEL (0x7F) through and
//! tolerates non-zero trailing bits in base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::limits::{MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES};

/// Signature type of Ed25519 note signatures (§1.2).
pub const ED25519: u8 = 0x01;
/// Signature type of timestamped Ed25519 cosignatures (tlog-cosignature v1, §3.1).
pub const COSIGNATURE_V1: u8 = 0x04;

/// The start of every signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Length of a cosignature v1 signature after the key ID: u64 timestamp ‖ 64-byte Ed25519.
const COSIGNATURE_LEN: usize = 8 + 64;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The bytes are not a well-formed signed note (or a note to be signed is not well formed).
    #[error("malformed note: {0}")]
    Malformed(String),
    /// A known (name, key ID) pair signed, but the signature does not verify: the whole note is
    /// rejected (§1.1).
    #[error("invalid signature by {name} (key ID {id:08x})")]
    InvalidSignature { name: String, id: u32 },
    /// No signature of a known key: the note is not trusted.
    #[error("no known key signed the note")]
    UnverifiedNote,
    /// A vkey, private key string or key name that cannot be used.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// A signer failed (never for the in-memory signers of this module).
    #[error("signing failed: {0}")]
    Signing(String),
}

fn malformed(m: &str) -> NoteError {
    NoteError::Malformed(m.to_owned())
}

fn bad_key(m: &str) -> NoteError {
    NoteError::MalformedKey(m.to_owned())
}

/// One signature line: key name, key ID and the algorithm-specific signature bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    /// The blob after the 4-byte key ID.
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Everything up to and including the newline before the separating blank line: the bytes
    /// every signature covers.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// The full 32-byte key hash `SHA-256(name ‖ 0x0A ‖ type ‖ key)` (§1.2): what Rekor v2 reports
/// as `logId.keyId`.
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

/// Whether `name` may be a key name: non-empty, no Unicode whitespace, no `+` (§1.1).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// An ASCII control character other than `\n` (DEL included).
fn is_forbidden_control(c: char) -> bool {
    (c.is_ascii_control() && c != '\n') || c == '\u{7f}'
}

/// Parses a signed note (§1.1) without verifying any signature. See the module doc for the rules.
///
/// # Errors
///
/// [`NoteError::Malformed`] naming the first rule broken.
pub fn parse(note: &[u8]) -> Result<Note, NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(malformed("note too large"));
    }
    let note = std::str::from_utf8(note).map_err(|_| malformed("not UTF-8"))?;
    if note.contains(is_forbidden_control) {
        return Err(malformed("control character"));
    }
    // The separator is the last blank line: a signature block has none.
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, block) = (&note[..=split], &note[split + 2..]);
    let block = block
        .strip_suffix('\n')
        .ok_or_else(|| malformed("no signature line ending with a newline"))?;
    // Count before allocating or decoding anything.
    if block.split('\n').count() > MAX_NOTE_SIGNATURES {
        return Err(malformed("too many signature lines"));
    }
    let signatures = block
        .split('\n')
        .map(parse_signature_line)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| malformed("signature line does not start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| malformed("signature line has no signature"))?;
    if !is_valid_name(name) {
        return Err(malformed("invalid key name"));
    }
    let blob = B64
        .decode(b64)
        .map_err(|_| malformed("signature is not canonical base64"))?;
    let Some((id, signature)) = blob.split_first_chunk::<4>() else {
        return Err(malformed("signature shorter than 5 bytes"));
    };
    if signature.is_empty() {
        return Err(malformed("signature shorter than 5 bytes"));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes(*id),
        signature: signature.to_vec(),
    })
}

/// Formats one signature line `— name base64(key ID ‖ signature)\n`. Does not validate `name`.
pub fn signature_line(name: &str, key_id: u32, signature: &[u8]) -> String {
    let mut blob = Vec::with_capacity(4 + signature.len());
    blob.extend_from_slice(&key_id.to_be_bytes());
    blob.extend_from_slice(signature);
    format!("{SIG_PREFIX}{name} {}\n", B64.encode(blob))
}

/// Checks that `text` can be the text of a note: non-empty, ends with `\n`, no forbidden control
/// character.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(malformed("note text does not end with a newline"));
    }
    if text.contains(is_forbidden_control) {
        return Err(malformed("control character in note text"));
    }
    Ok(())
}

/// Formats a note: text, blank line, one line per signature. The result is exactly what
/// [`parse`] accepts and gives back as `note`.
///
/// # Errors
///
/// [`NoteError::Malformed`] if the note could not be parsed back: bad text, no signature, too
/// many signatures, an invalid key name, an empty signature, or more than [`MAX_NOTE_BYTES`].
pub fn format(note: &Note) -> Result<String, NoteError> {
    check_text(&note.text)?;
    if note.signatures.is_empty() {
        return Err(malformed("a note needs at least one signature"));
    }
    if note.signatures.len() > MAX_NOTE_SIGNATURES {
        return Err(malformed("too many signatures"));
    }
    let mut out = format!("{}\n", note.text);
    for s in &note.signatures {
        if !is_valid_name(&s.name) {
            return Err(malformed("invalid key name"));
        }
        if s.signature.is_empty() {
            return Err(malformed("empty signature"));
        }
        out.push_str(&signature_line(&s.name, s.key_id, &s.signature));
    }
    if out.len() > MAX_NOTE_BYTES {
        return Err(malformed("note too large"));
    }
    Ok(out)
}

/// Something that signs note texts under one (name, key ID) pair.
pub trait NoteSigner {
    fn name(&self) -> &str;
    fn key_id(&self) -> u32;
    /// The signature (without the key ID) over the note `text`.
    ///
    /// # Errors
    ///
    /// Whatever the key's backend reports; the signers of this module never fail.
    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, NoteError>;
}

/// Something that verifies signatures of one (name, key ID) pair.
pub trait NoteVerifier {
    fn name(&self) -> &str;
    fn key_id(&self) -> u32;
    /// Whether `signature` (without the key ID) is valid over the note `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// Signs `text` with every signer, in order: text, blank line, one signature line per signer.
///
/// # Errors
///
/// [`NoteError::Malformed`] as for [`format`] (bad text, no or too many signers, a signer name
/// that is not a valid key name); a signer's own error.
pub fn sign(text: &str, signers: &[&dyn NoteSigner]) -> Result<String, NoteError> {
    check_text(text)?;
    let signatures = signers
        .iter()
        .map(|s| {
            Ok(NoteSignature {
                name: s.name().to_owned(),
                key_id: s.key_id(),
                signature: s.sign(text.as_bytes())?,
            })
        })
        .collect::<Result<Vec<_>, NoteError>>()?;
    format(&Note {
        text: text.to_owned(),
        signatures,
    })
}

/// A note whose signatures were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    pub note: Note,
    /// Indexes into `note.signatures` of the lines that verified with a known key, in order, one
    /// per (name, key ID) pair (a repeated line of the same key is checked but listed once).
    pub verified: Vec<usize>,
}

impl VerifiedNote {
    /// The note text the signatures cover.
    pub fn text(&self) -> &str {
        &self.note.text
    }

    /// The signatures that verified with a known key.
    pub fn verified_signatures(&self) -> impl Iterator<Item = &NoteSignature> {
        self.verified.iter().map(|&i| &self.note.signatures[i])
    }

    /// The signatures of unknown (name, key ID) pairs, which were ignored.
    pub fn unverified_signatures(&self) -> impl Iterator<Item = &NoteSignature> {
        self.note
            .signatures
            .iter()
            .filter(|s| !self.is_signed_by(&s.name, s.key_id))
    }

    /// Whether a line of this (name, key ID) pair verified.
    pub fn is_signed_by(&self, name: &str, key_id: u32) -> bool {
        self.verified_signatures()
            .any(|s| s.name == name && s.key_id == key_id)
    }
}

/// Parses and verifies a note with the normative rules of §1.1: lines of unknown (name, key ID)
/// pairs are ignored, even if the name or the ID alone matches a known key; a line of a known
/// pair whose signature fails rejects the note; at least one known signature must verify.
///
/// # Errors
///
/// [`NoteError::Malformed`] from [`parse`], [`NoteError::InvalidSignature`] for the first bad
/// signature of a known key, [`NoteError::UnverifiedNote`] when no known key signed.
pub fn open(note: &[u8], verifiers: &[&dyn NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let note = parse(note)?;
    let mut verified: Vec<usize> = Vec::new();
    for (i, sig) in note.signatures.iter().enumerate() {
        let Some(v) = verifiers
            .iter()
            .find(|v| v.name() == sig.name && v.key_id() == sig.key_id)
        else {
            continue;
        };
        if !v.verify(note.text.as_bytes(), &sig.signature) {
            return Err(NoteError::InvalidSignature {
                name: sig.name.clone(),
                id: sig.key_id,
            });
        }
        let repeated = verified.iter().any(|&j| {
            note.signatures[j].name == sig.name && note.signatures[j].key_id == sig.key_id
        });
        if !repeated {
            verified.push(i);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::UnverifiedNote);
    }
    Ok(VerifiedNote { note, verified })
}

/// Formats a vkey `name+hex8+base64(type ‖ key)` (§1.3).
fn format_vkey(name: &str, id: u32, sig_type: u8, key: &[u8]) -> String {
    let mut raw = Vec::with_capacity(1 + key.len());
    raw.push(sig_type);
    raw.extend_from_slice(key);
    format!("{name}+{id:08x}+{}", B64.encode(raw))
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(bad_key("invalid key name"))
    }
}

/// An Ed25519 note verifier (type 0x01).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// The verifier of `key` under the key name `name` (not validated: an invalid name simply
    /// never matches a parsed signature line).
    pub fn new(name: &str, key: VerifyingKey) -> Self {
        Ed25519Verifier {
            name: name.to_owned(),
            id: key_id(name, ED25519, key.as_bytes()),
            key,
        }
    }

    /// The vkey `name+hex8+base64(0x01 ‖ key)` (§1.3).
    pub fn vkey(&self) -> String {
        format_vkey(&self.name, self.id, ED25519, self.key.as_bytes())
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The full key hash (Rekor v2's `logId.keyId` when this is a log's key).
    pub fn key_hash(&self) -> [u8; 32] {
        key_hash(&self.name, ED25519, self.key.as_bytes())
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

/// An Ed25519 note signer (type 0x01). `Debug` shows the name and key ID, never the key.
#[derive(Clone)]
pub struct Ed25519Signer {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl Ed25519Signer {
    /// # Errors
    ///
    /// [`NoteError::MalformedKey`] if `name` is not a valid key name.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Ed25519Signer {
            name: name.to_owned(),
            id: key_id(name, ED25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses a Go `sumdb/note` private key string (see [`parse_go_private_key`]).
    ///
    /// # Errors
    ///
    /// As [`parse_go_private_key`].
    pub fn from_go_private_key(skey: &str) -> Result<Self, NoteError> {
        let (name, key) = parse_go_private_key(skey)?;
        Self::new(&name, key)
    }

    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier::new(&self.name, self.key.verifying_key())
    }

    /// The vkey of this key (§1.3).
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, NoteError> {
        Ok(self.key.sign(text).to_bytes().to_vec())
    }
}

/// The message a cosignature v1 signs: `"cosignature/v1\ntime <ts>\n" ‖ text`.
fn cosigned_message(timestamp: u64, text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// A timestamped Ed25519 cosignature verifier (type 0x04, tlog-cosignature v1): the signature
/// is `u64 BE timestamp ‖ Ed25519 over "cosignature/v1\ntime <ts>\n" ‖ text`, exactly 72 bytes,
/// with a timestamp below 2^63.
#[derive(Clone, Debug, PartialEq, Eq)]
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

    /// The timestamp of a cosignature, if `signature` has the cosignature v1 layout (72 bytes,
    /// timestamp below 2^63). Says nothing about validity: see [`Self::verify_timestamp`].
    pub fn timestamp(signature: &[u8]) -> Option<u64> {
        if signature.len() != COSIGNATURE_LEN {
            return None;
        }
        let ts = u64::from_be_bytes(*signature.first_chunk::<8>()?);
        (ts < 1 << 63).then_some(ts)
    }

    /// The timestamp the cosigner vouched for, if `signature` is its valid cosignature of `text`.
    pub fn verify_timestamp(&self, text: &[u8], signature: &[u8]) -> Option<u64> {
        let ts = Self::timestamp(signature)?;
        let sig = Signature::from_slice(&signature[8..]).ok()?;
        self.key
            .verify(&cosigned_message(ts, text), &sig)
            .is_ok()
            .then_some(ts)
    }

    /// The vkey `name+hex8+base64(0x04 ‖ key)`.
    pub fn vkey(&self) -> String {
        format_vkey(&self.name, self.id, COSIGNATURE_V1, self.key.as_bytes())
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        self.verify_timestamp(text, signature).is_some()
    }
}

/// A timestamped Ed25519 cosigner (type 0x04): what a witness signs with. The module has no
/// clock, so the timestamp (POSIX seconds) is part of the signer; set it before each signing.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    id: u32,
    key: SigningKey,
    timestamp: u64,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// # Errors
    ///
    /// [`NoteError::MalformedKey`] if `name` is not a valid key name or `timestamp` ≥ 2^63.
    pub fn new(name: &str, key: SigningKey, timestamp: u64) -> Result<Self, NoteError> {
        check_name(name)?;
        let mut c = Cosigner {
            name: name.to_owned(),
            id: key_id(name, COSIGNATURE_V1, key.verifying_key().as_bytes()),
            key,
            timestamp: 0,
        };
        c.set_timestamp(timestamp)?;
        Ok(c)
    }

    /// # Errors
    ///
    /// [`NoteError::MalformedKey`] if `timestamp` ≥ 2^63.
    pub fn set_timestamp(&mut self, timestamp: u64) -> Result<(), NoteError> {
        if timestamp >= 1 << 63 {
            return Err(bad_key("cosignature timestamp must be below 2^63"));
        }
        self.timestamp = timestamp;
        Ok(())
    }

    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier::new(&self.name, self.key.verifying_key())
    }

    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }
}

impl NoteSigner for Cosigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, NoteError> {
        let sig = self.key.sign(&cosigned_message(self.timestamp, text));
        let mut out = Vec::with_capacity(COSIGNATURE_LEN);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

/// A verifier parsed from a vkey (§1.3): Ed25519 (0x01) or cosignature (0x04).
#[derive(Clone, Debug, PartialEq, Eq)]
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

    /// The vkey string (canonical: lowercase hex key ID).
    pub fn vkey(&self) -> String {
        match self {
            VKey::Ed25519(v) => v.vkey(),
            VKey::Cosignature(v) => v.vkey(),
        }
    }
}

/// Parses 8 hex digits (either case, as Go does) into a key ID.
fn parse_hex_id(id: &str) -> Result<u32, NoteError> {
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_key("key ID is not 8 hex digits"));
    }
    u32::from_str_radix(id, 16).map_err(|_| bad_key("key ID is not 8 hex digits"))
}

/// Parses a vkey `name+hex8+base64(type ‖ key)` (§1.3), splitting on `+` at most twice (base64
/// may contain `+`) and checking that the key ID matches the key. Types 0x01 and 0x04 only.
///
/// # Errors
///
/// [`NoteError::MalformedKey`].
pub fn parse_vkey(vkey: &str) -> Result<VKey, NoteError> {
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_key("expected name+id+key"));
    };
    check_name(name)?;
    let id = parse_hex_id(id)?;
    let raw = B64.decode(key).map_err(|_| bad_key("key is not base64"))?;
    let (&sig_type, key) = raw.split_first().ok_or_else(|| bad_key("empty key"))?;
    let key: [u8; 32] = key.try_into().map_err(|_| bad_key("key is not 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| bad_key("invalid Ed25519 key"))?;
    let v = match sig_type {
        ED25519 => VKey::Ed25519(Ed25519Verifier::new(name, key)),
        COSIGNATURE_V1 => VKey::Cosignature(CosignatureVerifier::new(name, key)),
        other => return Err(bad_key(&format!("unsupported key type 0x{other:02x}"))),
    };
    if v.verifier().key_id() != id {
        return Err(bad_key("key ID does not match the key"));
    }
    Ok(v)
}

/// Parses a Go `sumdb/note` private key `PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)` (§1.3),
/// checking that the key ID matches the key. Returns the key name and the Ed25519 key.
///
/// # Errors
///
/// [`NoteError::MalformedKey`] (the message never contains key material).
pub fn parse_go_private_key(skey: &str) -> Result<(String, SigningKey), NoteError> {
    let mut parts = skey.splitn(5, '+');
    let (Some("PRIVATE"), Some("KEY"), Some(name), Some(id), Some(key)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad_key("expected PRIVATE+KEY+name+id+key"));
    };
    check_name(name)?;
    let id = parse_hex_id(id)?;
    let raw = pkcs8::der::zeroize::Zeroizing::new(
        B64.decode(key).map_err(|_| bad_key("key is not base64"))?,
    );
    let seed: &[u8; 32] = match raw.split_first() {
        Some((&ED25519, seed)) => seed
            .try_into()
            .map_err(|_| bad_key("seed is not 32 bytes"))?,
        _ => return Err(bad_key("not an Ed25519 private key")),
    };
    let key = SigningKey::from_bytes(seed);
    if key_id(name, ED25519, key.verifying_key().as_bytes()) != id {
        return Err(bad_key("key ID does not match the key"));
    }
    Ok((name.to_owned(), key))
}

/// Signs `text` with plain Ed25519 keys given as (name, key) pairs: a shorthand for [`sign`]
/// with [`Ed25519Signer`]s.
///
/// # Panics
///
/// If `text` is not a valid note text (empty, no final newline, control characters) or a name
/// is not a valid key name: both are programming errors of the caller.
pub fn sign_ed25519(text: &str, signers: &[(&str, &SigningKey)]) -> String {
    let signers: Vec<Ed25519Signer> = signers
        .iter()
        .map(|(name, key)| Ed25519Signer::new(name, (*key).clone()).expect("valid key name"))
        .collect();
    let dyns: Vec<&dyn NoteSigner> = signers.iter().map(|s| s as &dyn NoteSigner).collect();
    sign(text, &dyns).expect("a valid note text")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn parse_splits_at_the_last_blank_line() {
        let s = Ed25519Signer::new("a.example/log", key(1)).unwrap();
        let text = "first\n\nsecond\n\n\nthird\n";
        let signed = sign(text, &[&s]).unwrap();
        let n = parse(signed.as_bytes()).unwrap();
        assert_eq!(n.text, text);
        assert_eq!(n.signatures.len(), 1);
        assert_eq!(format(&n).unwrap(), signed);
        let o = open(signed.as_bytes(), &[&s.verifier()]).unwrap();
        assert_eq!(o.text(), text);
        // A blank line between signature lines makes the first one part of the text.
        let sig = B64.encode([0u8; 5]);
        let n = parse(format!("t\n\n\u{2014} n {sig}\n\n\u{2014} m {sig}\n").as_bytes()).unwrap();
        assert_eq!(n.text, format!("t\n\n\u{2014} n {sig}\n"));
        assert_eq!(n.signatures.len(), 1);
        assert_eq!(n.signatures[0].name, "m");
        // A text that is a lone newline is still a text.
        let lone = sign("\n", &[&s]).unwrap();
        assert_eq!(parse(lone.as_bytes()).unwrap().text, "\n");
    }

    #[test]
    fn parse_rejects_malformed_lines() {
        let sig = B64.encode([0u8; 5]);
        let ok = format!("t\n\n\u{2014} n {sig}\n");
        assert!(parse(ok.as_bytes()).is_ok());
        for bad in [
            format!("t\n\n\u{2014} n {}\n", B64.encode([0u8; 4])), // 4 bytes
            "t\n\n\u{2014} n \n".to_owned(),                       // empty blob
            format!("t\n\n\u{2014} {sig}\n"),                      // no name
            format!("t\n\n\u{2014}  n {sig}\n"),                   // empty name
            format!("t\n\n\u{2014} n+1 {sig}\n"),                  // '+'
            format!("t\n\n\u{2014} n\u{a0}x {sig}\n"),             // Unicode whitespace
            format!("t\n\n- n {sig}\n"),                           // hyphen, not em dash
            format!("t\n\n\u{2014}n {sig}\n"),                     // no space
            format!("t\n\n\u{2014} n {sig} \n"),                   // trailing space
            format!("t\n\n\u{2014} n {}\n", &sig[..sig.len() - 1]), // bad padding
            "t\n\n\u{2014} n AAAAAAB=\n".to_owned(),               // non-canonical bits
            format!("t\r\n\n\u{2014} n {sig}\n"),                  // CR
            format!("t\x7f\n\n\u{2014} n {sig}\n"),                // DEL
            format!("t\n\n\u{2014} n {sig}\n\n"),                  // blank line at end
            format!("t\n\n\u{2014} n {sig}\nx\n"),                 // trailing junk line
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(NoteError::Malformed(_))),
                "{bad:?}"
            );
        }
        // A non-ASCII, non-control character is fine anywhere in the text.
        assert!(parse(format!("\u{85}é—\n\n\u{2014} n {sig}\n").as_bytes()).is_ok());
    }

    #[test]
    fn size_and_count_limits() {
        let sig = B64.encode([0u8; 5]);
        let line = format!("\u{2014} n {sig}\n");
        assert!(parse(format!("t\n\n{}", line.repeat(MAX_NOTE_SIGNATURES)).as_bytes()).is_ok());
        assert!(
            parse(format!("t\n\n{}", line.repeat(MAX_NOTE_SIGNATURES + 1)).as_bytes()).is_err()
        );
        let big = format!("{}\n\n{line}", "x".repeat(MAX_NOTE_BYTES));
        assert_eq!(parse(big.as_bytes()), Err(malformed("note too large")));
        let s = Ed25519Signer::new("n", key(1)).unwrap();
        let many: Vec<&dyn NoteSigner> = vec![&s; MAX_NOTE_SIGNATURES + 1];
        assert!(sign("t\n", &many).is_err());
        assert!(sign("t\n", &many[..MAX_NOTE_SIGNATURES]).is_ok());
        assert!(sign(&format!("{}\n", "x".repeat(MAX_NOTE_BYTES)), &[&s]).is_err());
    }

    #[test]
    fn sign_refuses_what_parse_would_refuse() {
        let s = Ed25519Signer::new("n", key(1)).unwrap();
        for bad in ["", "no newline", "cr\r\n", "nul\0\n"] {
            assert!(sign(bad, &[&s]).is_err(), "{bad:?}");
        }
        assert!(sign("t\n", &[]).is_err(), "no signature");
        for name in ["", "a b", "a+b", "a\tb"] {
            assert!(Ed25519Signer::new(name, key(1)).is_err(), "{name:?}");
            assert!(Cosigner::new(name, key(1), 0).is_err(), "{name:?}");
        }
    }

    #[test]
    fn open_follows_the_normative_rules() {
        let a = Ed25519Signer::new("a", key(1)).unwrap();
        let b = Ed25519Signer::new("b", key(2)).unwrap();
        let signed = sign("t\n", &[&a, &b]).unwrap();
        let (va, vb) = (a.verifier(), b.verifier());
        assert_eq!(open(signed.as_bytes(), &[&va]).unwrap().verified, vec![0]);
        assert_eq!(
            open(signed.as_bytes(), &[&vb, &va]).unwrap().verified,
            vec![0, 1]
        );
        assert_eq!(open(signed.as_bytes(), &[]), Err(NoteError::UnverifiedNote));
        // Same name, other key: a different key ID, so ignored, not failed.
        let other = Ed25519Verifier::new("a", key(3).verifying_key());
        assert_eq!(
            open(signed.as_bytes(), &[&other]),
            Err(NoteError::UnverifiedNote)
        );
        // Same name and ID but a wrong key (an impostor verifier): the note is rejected.
        struct Liar;
        impl NoteVerifier for Liar {
            fn name(&self) -> &str {
                "b"
            }
            fn key_id(&self) -> u32 {
                key_id("b", ED25519, key(2).verifying_key().as_bytes())
            }
            fn verify(&self, _: &[u8], _: &[u8]) -> bool {
                false
            }
        }
        assert_eq!(
            open(signed.as_bytes(), &[&va, &Liar]),
            Err(NoteError::InvalidSignature {
                name: "b".into(),
                id: vb.key_id()
            })
        );
        // A repeated line of one key is listed once.
        let twice = sign("t\n", &[&a, &a]).unwrap();
        let o = open(twice.as_bytes(), &[&va]).unwrap();
        assert_eq!(o.verified, vec![0]);
        assert_eq!(o.unverified_signatures().count(), 0);
        assert!(o.is_signed_by("a", va.key_id()));
    }

    #[test]
    fn cosigner_roundtrip_and_timestamp_bounds() {
        let mut c = Cosigner::new("w", key(9), 1_767_225_600).unwrap();
        let v = c.verifier();
        let sig = c.sign(b"t\n").unwrap();
        assert_eq!(sig.len(), 72);
        assert_eq!(v.verify_timestamp(b"t\n", &sig), Some(1_767_225_600));
        assert_eq!(v.verify_timestamp(b"u\n", &sig), None);
        assert!(c.set_timestamp(1 << 63).is_err());
        c.set_timestamp((1 << 63) - 1).unwrap();
        assert!(v.verify(b"t\n", &c.sign(b"t\n").unwrap()));
        // A valid Ed25519 signature over a timestamp of 2^63 or more is still refused.
        for ts in [1u64 << 63, u64::MAX] {
            let mut forged = ts.to_be_bytes().to_vec();
            forged.extend_from_slice(&key(9).sign(&cosigned_message(ts, b"t\n")).to_bytes());
            assert!(!v.verify(b"t\n", &forged), "{ts}");
        }
        let ts = (1u64 << 63) - 1;
        let mut edge = ts.to_be_bytes().to_vec();
        edge.extend_from_slice(&key(9).sign(&cosigned_message(ts, b"t\n")).to_bytes());
        assert_eq!(v.verify_timestamp(b"t\n", &edge), Some(ts));
        // Too long or too short: not a cosignature.
        let mut long = sig.clone();
        long.push(0);
        assert!(!v.verify(b"t\n", &long));
        assert!(!v.verify(b"t\n", &sig[..71]));
        // An Ed25519 (0x01) key of the same name and key material has another key ID.
        assert_ne!(
            v.key_id(),
            Ed25519Signer::new("w", key(9)).unwrap().key_id()
        );
        assert!(matches!(parse_vkey(&v.vkey()).unwrap(), VKey::Cosignature(p) if p == v));
    }

    #[test]
    fn vkeys_and_private_keys_are_checked() {
        let s = Ed25519Signer::new("n.example/x", key(4)).unwrap();
        let vkey = s.vkey();
        assert_eq!(parse_vkey(&vkey).unwrap(), VKey::Ed25519(s.verifier()));
        let (name, id, b64) = {
            let mut p = vkey.splitn(3, '+');
            (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
        };
        assert!(parse_vkey(&format!("{name}+{}+{b64}", id.to_uppercase())).is_ok());
        let other_id = format!("{:08x}", s.key_id() ^ 1);
        for bad in [
            format!("{name}+{other_id}+{b64}"),
            format!("other+{id}+{b64}"),
            format!("{name}+{id}"),
            format!("{name}+{}+{b64}", &id[1..]),
            format!("{name}+-{}+{b64}", &id[1..]),
            format!("{name}+{id}+{}", &b64[..b64.len() - 4]),
            format!(
                "{name}+{id}+{}",
                B64.encode([[2u8].as_slice(), &[0; 32]].concat())
            ),
            format!("a b+{id}+{b64}"),
        ] {
            assert!(parse_vkey(&bad).is_err(), "{bad}");
        }
        let seed = [[ED25519].as_slice(), &[4; 32]].concat();
        let skey = format!("PRIVATE+KEY+{name}+{id}+{}", B64.encode(&seed));
        let (n, k) = parse_go_private_key(&skey).unwrap();
        assert_eq!((n.as_str(), k.to_bytes()), (name, [4; 32]));
        assert_eq!(
            Ed25519Signer::from_go_private_key(&skey).unwrap().vkey(),
            vkey
        );
        for bad in [
            skey.replacen("PRIVATE", "PUBLIC", 1),
            format!("PRIVATE+KEY+{name}+{other_id}+{}", B64.encode(&seed)),
            format!("PRIVATE+KEY+{name}+{id}+{}", B64.encode(&seed[..32])),
            format!(
                "PRIVATE+KEY+{name}+{id}+{}",
                B64.encode([[4u8].as_slice(), &[4; 32]].concat())
            ),
        ] {
            let e = parse_go_private_key(&bad).unwrap_err();
            assert!(matches!(e, NoteError::MalformedKey(_)));
            assert!(!e.to_string().contains(&B64.encode(&seed)));
        }
        // Debug never shows key material.
        let shown = format!("{s:?} {:?}", Cosigner::new("w", key(4), 0).unwrap());
        assert!(
            shown.contains("n.example/x") && !shown.contains("[4, 4"),
            "{shown}"
        );
    }
}
