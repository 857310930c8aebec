//! Certificate Transparency, the pure part (RFC 6962; c2sp.org/static-ct-api;
//! docs/sigstore-services.md §5): the log's leaves as static-ct-api stores them ([`TileLeaf`]), the
//! signed certificate timestamps embedded in the CA's certificates ([`Sct`],
//! [`SignedCertificateTimestampList`]) and the checkpoint's RFC 6962 note signature
//! ([`Rfc6962NoteSigner`], [`Rfc6962NoteVerifier`]).
//!
//! Every structure here is a TLS presentation-language structure (RFC 8446 §3): big-endian
//! integers, vectors prefixed with their length in as many bytes as their maximum needs.

use der::oid::ObjectIdentifier;
use p256::ecdsa::VerifyingKey as EcdsaVerifyingKey;
use p256::ecdsa::signature::Verifier as _;
use sha2::{Digest, Sha256};

use crate::checkpoint::Checkpoint;
use crate::merkle::{self, Hash};
use crate::note::{NoteError, NoteSigner, NoteVerifier};
use crate::signer::LogKeys;

/// The precertificate poison extension (RFC 6962 §3.1): critical, its value ASN.1 NULL.
pub const POISON_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.3");
/// The embedded SCT list extension (RFC 6962 §3.3).
pub const SCT_LIST_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// `LogEntryType.precert_entry` (RFC 6962 §3.1): the only kind this log holds.
const PRECERT_ENTRY: u16 = 1;
/// `ExtensionType.leaf_index` (static-ct-api "SCT Extension").
const LEAF_INDEX: u8 = 0;
/// `HashAlgorithm.sha256` and `SignatureAlgorithm.ecdsa` (RFC 5246 §7.4.1.4.1).
const SHA256_ECDSA: [u8; 2] = [4, 3];
/// Signature type of an RFC 6962 note signature (static-ct-api "Checkpoints").
pub const RFC6962_NOTE_SIGNATURE: u8 = 0x05;
/// The largest leaf index a `uint40` holds.
pub const MAX_LEAF_INDEX: u64 = (1 << 40) - 1;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CtError {
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: String },
}

fn malformed(what: &'static str, why: impl Into<String>) -> CtError {
    CtError::Malformed {
        what,
        why: why.into(),
    }
}

/// Reads TLS structures front to back.
struct Reader<'a> {
    what: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Reader { what, rest: bytes }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CtError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or_else(|| malformed(self.what, "truncated"))?;
        self.rest = tail;
        Ok(head)
    }

    fn uint(&mut self, width: usize) -> Result<u64, CtError> {
        Ok(self
            .bytes(width)?
            .iter()
            .fold(0, |n, &b| (n << 8) | u64::from(b)))
    }

    /// A vector with a `width`-byte length prefix.
    fn vector(&mut self, width: usize) -> Result<&'a [u8], CtError> {
        let len = self.uint(width)?;
        self.bytes(usize::try_from(len).map_err(|_| malformed(self.what, "too long"))?)
    }

    fn end(&self) -> Result<(), CtError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(malformed(self.what, "trailing bytes"))
        }
    }
}

/// Appends a vector with a `width`-byte length prefix.
///
/// # Panics
///
/// If `data` is too long for the prefix: callers bound what they encode.
fn put_vector(out: &mut Vec<u8>, width: usize, data: &[u8]) {
    let len = u64::try_from(data.len()).expect("a length fits in u64");
    assert!(
        width == 8 || len >> (8 * width) == 0,
        "a TLS vector of {len} bytes does not fit a {width}-byte length"
    );
    out.extend_from_slice(&len.to_be_bytes()[8 - width..]);
    out.extend_from_slice(data);
}

/// `CtExtensions` holding only the `leaf_index` extension (static-ct-api: 8 bytes in all
/// once its own 2-byte length is counted).
///
/// # Panics
///
/// If `index` exceeds [`MAX_LEAF_INDEX`] (a `uint40`); the log refuses to grow that far.
#[must_use]
pub fn leaf_index_extensions(index: u64) -> Vec<u8> {
    assert!(index <= MAX_LEAF_INDEX, "leaf index {index} exceeds uint40");
    let mut out = vec![LEAF_INDEX];
    put_vector(&mut out, 2, &index.to_be_bytes()[3..]);
    out
}

/// The `leaf_index` of `CtExtensions`: exactly one such extension, with 5 bytes of data; other
/// extensions are ignored, as static-ct-api lets clients do, but no type may appear twice.
///
/// # Errors
///
/// [`CtError::Malformed`] naming what is wrong.
pub fn parse_leaf_index(extensions: &[u8]) -> Result<u64, CtError> {
    let mut r = Reader::new("CtExtensions", extensions);
    let mut seen = [false; 256];
    let mut index = None;
    while !r.rest.is_empty() {
        let ty = r.bytes(1)?[0];
        let data = r.vector(2)?;
        if std::mem::replace(&mut seen[usize::from(ty)], true) {
            return Err(malformed("CtExtensions", format!("extension {ty} twice")));
        }
        if ty == LEAF_INDEX {
            let mut d = Reader::new("leaf_index extension", data);
            index = Some(d.uint(5)?);
            d.end()?;
        }
    }
    index.ok_or_else(|| malformed("CtExtensions", "no leaf_index extension"))
}

/// One entry of the log as a data tile holds it (static-ct-api "Log entries"): a precertificate
/// entry, since the log holds only what its own CA issues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileLeaf {
    /// Milliseconds since the Unix epoch: the SCT's timestamp.
    pub timestamp: u64,
    /// `PreCert.issuer_key_hash`: SHA-256 of the issuer's SubjectPublicKeyInfo (RFC 6962 §3.2).
    pub issuer_key_hash: [u8; 32],
    /// `PreCert.tbs_certificate`: the precertificate's TBSCertificate without the poison
    /// extension, DER.
    pub tbs_certificate: Vec<u8>,
    /// `TimestampedEntry.extensions`: for this log, the `leaf_index` extension.
    pub extensions: Vec<u8>,
    /// The precertificate as logged (RFC 6962 §3.1 `pre_certificate`), DER.
    pub pre_certificate: Vec<u8>,
    /// SHA-256 of each issuer certificate, issuer first (`precertificate_chain`).
    pub certificate_chain: Vec<[u8; 32]>,
}

impl TileLeaf {
    /// `TimestampedEntry` (RFC 6962 §3.4) of a precertificate entry.
    fn timestamped_entry(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&PRECERT_ENTRY.to_be_bytes());
        out.extend_from_slice(&self.issuer_key_hash);
        put_vector(out, 3, &self.tbs_certificate);
        put_vector(out, 2, &self.extensions);
    }

    /// The Merkle leaf hash of the entry: `MerkleTreeLeaf` (RFC 6962 §3.4: version v1, leaf type
    /// timestamped_entry, the `TimestampedEntry`) hashed as a leaf (§2.1).
    #[must_use]
    pub fn leaf_hash(&self) -> Hash {
        let mut leaf = vec![0, 0];
        self.timestamped_entry(&mut leaf);
        merkle::record_hash(&leaf)
    }

    /// What the SCT signs (RFC 6962 §3.2 `digitally-signed struct`): version v1, signature type
    /// certificate_timestamp, then the `TimestampedEntry`'s fields.
    #[must_use]
    pub fn sct_signed_data(&self) -> Vec<u8> {
        let mut out = vec![0, 0];
        self.timestamped_entry(&mut out);
        out
    }

    /// The `TileLeaf` bytes of a data tile.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.timestamped_entry(&mut out);
        put_vector(&mut out, 3, &self.pre_certificate);
        put_vector(&mut out, 2, &self.certificate_chain.concat());
        out
    }

    /// Parses the leaves of a data tile, in order.
    ///
    /// # Errors
    ///
    /// [`CtError::Malformed`]: a truncated leaf, an entry type other than precert_entry (the
    /// only one this log writes), a chain that is not whole fingerprints.
    pub fn parse_data_tile(bytes: &[u8]) -> Result<Vec<TileLeaf>, CtError> {
        let mut r = Reader::new("TileLeaf", bytes);
        let mut leaves = Vec::new();
        while !r.rest.is_empty() {
            let timestamp = r.uint(8)?;
            if r.uint(2)? != u64::from(PRECERT_ENTRY) {
                return Err(malformed("TileLeaf", "not a precert_entry"));
            }
            let issuer_key_hash = r.bytes(32)?.try_into().expect("32 bytes");
            let tbs_certificate = r.vector(3)?.to_vec();
            let extensions = r.vector(2)?.to_vec();
            let pre_certificate = r.vector(3)?.to_vec();
            let chain = r.vector(2)?;
            let (fingerprints, []) = chain.as_chunks::<32>() else {
                return Err(malformed("TileLeaf", "a chain of partial fingerprints"));
            };
            leaves.push(TileLeaf {
                timestamp,
                issuer_key_hash,
                tbs_certificate,
                extensions,
                pre_certificate,
                certificate_chain: fingerprints.to_vec(),
            });
        }
        Ok(leaves)
    }
}

/// A `SignedCertificateTimestamp` (RFC 6962 §3.2), version v1, signed with ECDSA P-256 and
/// SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sct {
    /// The log's ID: SHA-256 of its key's SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    pub timestamp: u64,
    pub extensions: Vec<u8>,
    /// ASN.1 DER `ECDSA-Sig-Value`.
    pub signature: Vec<u8>,
}

impl Sct {
    /// Signs the SCT of `leaf` with the log's ECDSA key.
    #[must_use]
    pub fn sign(leaf: &TileLeaf, keys: &LogKeys) -> Sct {
        Sct {
            log_id: keys.log_id(),
            timestamp: leaf.timestamp,
            extensions: leaf.extensions.clone(),
            signature: keys.ecdsa_sign(&leaf.sct_signed_data()),
        }
    }

    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&self.log_id);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        put_vector(&mut out, 2, &self.extensions);
        out.extend_from_slice(&SHA256_ECDSA);
        put_vector(&mut out, 2, &self.signature);
        out
    }

    /// # Errors
    ///
    /// [`CtError::Malformed`]: truncated, trailing bytes, another version or algorithm.
    pub fn parse(bytes: &[u8]) -> Result<Sct, CtError> {
        let mut r = Reader::new("SignedCertificateTimestamp", bytes);
        if r.uint(1)? != 0 {
            return Err(malformed("SignedCertificateTimestamp", "not version v1"));
        }
        let log_id = r.bytes(32)?.try_into().expect("32 bytes");
        let timestamp = r.uint(8)?;
        let extensions = r.vector(2)?.to_vec();
        if r.bytes(2)? != SHA256_ECDSA {
            return Err(malformed(
                "SignedCertificateTimestamp",
                "not signed with ECDSA and SHA-256",
            ));
        }
        let signature = r.vector(2)?.to_vec();
        r.end()?;
        Ok(Sct {
            log_id,
            timestamp,
            extensions,
            signature,
        })
    }

    /// Whether the SCT is `key`'s valid signature over `leaf` (its timestamp and extensions
    /// being the SCT's).
    #[must_use]
    pub fn verify(&self, leaf: &TileLeaf, key: &EcdsaVerifyingKey) -> bool {
        let signed = TileLeaf {
            timestamp: self.timestamp,
            extensions: self.extensions.clone(),
            ..leaf.clone()
        };
        p256::ecdsa::Signature::from_der(&self.signature)
            .is_ok_and(|s| key.verify(&signed.sct_signed_data(), &s).is_ok())
    }
}

/// `SignedCertificateTimestampList` (RFC 6962 §3.3): the TLS encoding embedded, as an OCTET
/// STRING, in the certificate's SCT list extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCertificateTimestampList(pub Vec<Sct>);

impl SignedCertificateTimestampList {
    /// # Panics
    ///
    /// If the list is empty (`<1..2^16-1>`): a certificate is issued with its one SCT.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        assert!(!self.0.is_empty(), "an SCT list holds at least one SCT");
        let mut list = Vec::new();
        for sct in &self.0 {
            put_vector(&mut list, 2, &sct.encode());
        }
        let mut out = Vec::new();
        put_vector(&mut out, 2, &list);
        out
    }

    /// # Errors
    ///
    /// [`CtError::Malformed`]: a bad length, an empty list or SCT, a malformed SCT.
    pub fn parse(bytes: &[u8]) -> Result<Self, CtError> {
        let mut r = Reader::new("SignedCertificateTimestampList", bytes);
        let mut list = Reader::new("SignedCertificateTimestampList", r.vector(2)?);
        r.end()?;
        let mut scts = Vec::new();
        while !list.rest.is_empty() {
            let sct = list.vector(2)?;
            scts.push(Sct::parse(sct)?);
        }
        if scts.is_empty() {
            return Err(malformed("SignedCertificateTimestampList", "empty"));
        }
        Ok(SignedCertificateTimestampList(scts))
    }
}

/// What a tree head's signature signs (RFC 6962 §3.5 `TreeHeadSignature`): version v1,
/// signature type tree_hash, timestamp, tree size, root.
fn tree_head_signature_input(timestamp: u64, size: u64, root: &Hash) -> Vec<u8> {
    let mut out = vec![0, 1];
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&root.0);
    out
}

/// The note key ID of an RFC 6962 key named `name` (static-ct-api "Checkpoints"): the first
/// four bytes of SHA-256(name ‖ 0x0A ‖ 0x05 ‖ log ID).
#[must_use]
pub fn rfc6962_key_id(name: &str, log_id: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', RFC6962_NOTE_SIGNATURE]);
    h.update(log_id);
    u32::from_be_bytes(h.finalize()[..4].try_into().expect("4 bytes"))
}

/// Signs a checkpoint's note text with an `RFC6962NoteSignature` (static-ct-api): the timestamp,
/// then the `TreeHeadSignature`'s `digitally-signed` value over the checkpoint's size and root.
pub struct Rfc6962NoteSigner<'a> {
    pub name: &'a str,
    pub keys: &'a LogKeys,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

impl NoteSigner for Rfc6962NoteSigner<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn key_id(&self) -> u32 {
        rfc6962_key_id(self.name, &self.keys.log_id())
    }

    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, NoteError> {
        let cp = std::str::from_utf8(text)
            .ok()
            .and_then(|t| Checkpoint::parse(t).ok())
            .ok_or_else(|| NoteError::Signing("the note is not a checkpoint".into()))?;
        let signature = self.keys.ecdsa_sign(&tree_head_signature_input(
            self.timestamp,
            cp.size,
            &cp.root,
        ));
        let mut out = self.timestamp.to_be_bytes().to_vec();
        out.extend_from_slice(&SHA256_ECDSA);
        put_vector(&mut out, 2, &signature);
        Ok(out)
    }
}

/// Verifies [`Rfc6962NoteSigner`]'s signatures with the log's ECDSA P-256 key.
pub struct Rfc6962NoteVerifier {
    name: String,
    key_id: u32,
    key: EcdsaVerifyingKey,
}

impl Rfc6962NoteVerifier {
    /// The verifier of the log whose key is `key`, its checkpoints' origin `name`.
    #[must_use]
    pub fn new(name: &str, key: EcdsaVerifyingKey) -> Self {
        let log_id = crate::signer::ecdsa_log_id(&key);
        Rfc6962NoteVerifier {
            name: name.to_owned(),
            key_id: rfc6962_key_id(name, &log_id),
            key,
        }
    }

    /// The timestamp of a signature this verifier accepts over `text`, if it does.
    #[must_use]
    pub fn verify_timestamp(&self, text: &[u8], signature: &[u8]) -> Option<u64> {
        let cp = Checkpoint::parse(std::str::from_utf8(text).ok()?).ok()?;
        let mut r = Reader::new("RFC6962NoteSignature", signature);
        let timestamp = r.uint(8).ok()?;
        if r.bytes(2).ok()? != SHA256_ECDSA {
            return None;
        }
        let der = r.vector(2).ok()?;
        r.end().ok()?;
        let signature = p256::ecdsa::Signature::from_der(der).ok()?;
        self.key
            .verify(
                &tree_head_signature_input(timestamp, cp.size, &cp.root),
                &signature,
            )
            .is_ok()
            .then_some(timestamp)
    }
}

impl NoteVerifier for Rfc6962NoteVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        self.verify_timestamp(text, signature).is_some()
    }
}

/// Signs the checkpoint of a static-ct-api log: the RFC 6962 note signature clients of the
/// log's key verify, then the log's Ed25519 signature under the same name, which witnesses
/// (c2sp.org/tlog-witness) verify — static-ct-api lets a checkpoint carry other signatures of
/// the log.
///
/// # Panics
///
/// If the origin is not a valid key name or checkpoint origin: it is checked when the log is
/// created.
#[must_use]
pub fn sign_checkpoint(cp: &Checkpoint, keys: &LogKeys, timestamp: u64) -> String {
    let rfc6962 = Rfc6962NoteSigner {
        name: &cp.origin,
        keys,
        timestamp,
    };
    let ed25519 = keys
        .ed25519_note_signer(&cp.origin)
        .expect("the origin is a valid key name");
    crate::checkpoint::sign_note(cp, &[&rfc6962, &ed25519])
        .expect("the origin makes a valid checkpoint")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf(index: u64) -> TileLeaf {
        TileLeaf {
            timestamp: 1_700_000_000_123,
            issuer_key_hash: [7; 32],
            tbs_certificate: vec![0x30, 0x03, 0x02, 0x01, 0x05],
            extensions: leaf_index_extensions(index),
            pre_certificate: vec![0x30, 0x00],
            certificate_chain: vec![[1; 32], [2; 32]],
        }
    }

    #[test]
    fn the_leaf_index_extension_is_eight_bytes_with_its_length() {
        let ext = leaf_index_extensions(0x01_0203_0405);
        assert_eq!(ext, [0, 0, 5, 1, 2, 3, 4, 5]);
        assert_eq!(parse_leaf_index(&ext), Ok(0x01_0203_0405));
        assert_eq!(
            parse_leaf_index(&leaf_index_extensions(MAX_LEAF_INDEX)),
            Ok(MAX_LEAF_INDEX)
        );
    }

    #[test]
    fn a_leaf_index_extension_twice_short_or_missing_is_refused() {
        let mut twice = leaf_index_extensions(1);
        twice.extend(leaf_index_extensions(2));
        assert!(parse_leaf_index(&twice).is_err());
        assert!(parse_leaf_index(&[0, 0, 4, 1, 2, 3, 4]).is_err());
        assert!(parse_leaf_index(&[]).is_err());
        // An unknown extension beside it is ignored.
        let mut other = vec![9, 0, 1, 0xff];
        other.extend(leaf_index_extensions(3));
        assert_eq!(parse_leaf_index(&other), Ok(3));
    }

    /// The `TimestampedEntry` of RFC 6962 §3.4 byte by byte, for a small entry.
    #[test]
    fn the_leaf_hash_is_of_the_merkle_tree_leaf() {
        let l = leaf(5);
        let mut expected = vec![0, 0];
        expected.extend_from_slice(&1_700_000_000_123u64.to_be_bytes());
        expected.extend_from_slice(&[0, 1]);
        expected.extend_from_slice(&[7; 32]);
        expected.extend_from_slice(&[0, 0, 5, 0x30, 0x03, 0x02, 0x01, 0x05]);
        expected.extend_from_slice(&[0, 8, 0, 0, 5, 0, 0, 0, 0, 5]);
        assert_eq!(l.leaf_hash(), merkle::record_hash(&expected));
        assert_eq!(l.sct_signed_data(), expected);
    }

    #[test]
    fn an_sct_verifies_and_a_mutated_one_does_not() {
        let keys = LogKeys::generate();
        let l = leaf(42);
        let sct = Sct::sign(&l, &keys);
        let key = keys.ecdsa_verifying_key();
        assert!(sct.verify(&l, key));
        let list = SignedCertificateTimestampList(vec![sct.clone()]);
        assert_eq!(
            SignedCertificateTimestampList::parse(&list.encode()),
            Ok(list.clone())
        );
        let mut later = sct.clone();
        later.timestamp += 1;
        assert!(!later.verify(&l, key));
        let mut moved = sct.clone();
        moved.extensions = leaf_index_extensions(43);
        assert!(!moved.verify(&l, key));
        let other = TileLeaf {
            tbs_certificate: vec![0x30, 0x00],
            ..l.clone()
        };
        assert!(!sct.verify(&other, key));
        assert!(!sct.verify(&l, LogKeys::generate().ecdsa_verifying_key()));
    }

    #[test]
    fn malformed_sct_lists_are_refused() {
        let keys = LogKeys::generate();
        let bytes = SignedCertificateTimestampList(vec![Sct::sign(&leaf(1), &keys)]).encode();
        for n in 0..bytes.len() {
            assert!(
                SignedCertificateTimestampList::parse(&bytes[..n]).is_err(),
                "{n}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(SignedCertificateTimestampList::parse(&trailing).is_err());
        assert!(SignedCertificateTimestampList::parse(&[0, 0]).is_err());
        let mut v2 = bytes;
        v2[4] = 1; // the SCT's version
        assert!(SignedCertificateTimestampList::parse(&v2).is_err());
    }

    #[test]
    fn the_checkpoint_verifies_with_the_rfc6962_key_and_the_ed25519_key() {
        let keys = LogKeys::generate();
        let cp = Checkpoint {
            origin: "log.example/ct".into(),
            size: 3,
            root: merkle::record_hash(b"x"),
        };
        let note = sign_checkpoint(&cp, &keys, 1234);
        let rfc6962 = Rfc6962NoteVerifier::new(&cp.origin, *keys.ecdsa_verifying_key());
        let opened = crate::note::open(note.as_bytes(), &[&rfc6962]).unwrap();
        assert_eq!(Checkpoint::parse(opened.text()), Ok(cp.clone()));
        let sig = crate::note::parse(note.as_bytes()).unwrap().signatures[0].clone();
        assert_eq!(
            rfc6962.verify_timestamp(opened.text().as_bytes(), &sig.signature),
            Some(1234)
        );
        let ed = keys.ed25519_verifier(&cp.origin);
        assert!(crate::note::open(note.as_bytes(), &[&ed]).is_ok());
        // Another size under the same signature does not verify.
        let forged = note.replacen("\n3\n", "\n4\n", 1);
        assert!(crate::note::open(forged.as_bytes(), &[&rfc6962]).is_err());
    }

    proptest! {
        #[test]
        fn tile_leaves_round_trip(
            leaves in prop::collection::vec(
                (any::<u64>(), any::<[u8; 32]>(), prop::collection::vec(any::<u8>(), 0..64),
                 0..=MAX_LEAF_INDEX, prop::collection::vec(any::<u8>(), 0..64),
                 prop::collection::vec(any::<[u8; 32]>(), 0..3)),
                0..4)
        ) {
            let leaves: Vec<TileLeaf> = leaves.into_iter().map(|(t, k, tbs, i, pre, chain)| TileLeaf {
                timestamp: t,
                issuer_key_hash: k,
                tbs_certificate: tbs,
                extensions: leaf_index_extensions(i),
                pre_certificate: pre,
                certificate_chain: chain,
            }).collect();
            let tile: Vec<u8> = leaves.iter().flat_map(TileLeaf::encode).collect();
            prop_assert_eq!(TileLeaf::parse_data_tile(&tile), Ok(leaves));
        }

        #[test]
        fn sct_lists_round_trip(
            scts in prop::collection::vec(
                (any::<[u8; 32]>(), any::<u64>(), prop::collection::vec(any::<u8>(), 0..16),
                 prop::collection::vec(any::<u8>(), 0..80)),
                1..4)
        ) {
            let list = SignedCertificateTimestampList(scts.into_iter().map(|(log_id, timestamp, extensions, signature)| Sct {
                log_id, timestamp, extensions, signature,
            }).collect());
            prop_assert_eq!(SignedCertificateTimestampList::parse(&list.encode()), Ok(list));
        }
    }
}
