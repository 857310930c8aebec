//! The tlog-witness wire format and a witness's decision (c2sp.org/tlog-witness,
//! tiles-checkpoints-witnesses.md §3.2), shared by `arkivo witness` and the log's witness client.
//!
//! Pure: bytes and stored state in, values or refusals out; no clock, no I/O. A witness answers
//! an `add-checkpoint` request in two steps, so that only the second needs its stored state (and
//! the store's lock, since the compare-and-update must be atomic):
//!
//! 1. [`verify_request`]: parse the body strictly ([`AddCheckpoint::parse`]), find the log by the
//!    checkpoint's origin, verify the log's signature;
//! 2. [`decide`]: given the latest checkpoint the witness cosigned for that origin, either the
//!    witness's new state or the refusal, in the order of the spec's table.
//!
//! The log's side uses [`AddCheckpoint::to_body`], [`parse_size_body`] and
//! [`verify_cosignature`].

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{self, Checkpoint, CheckpointError, parse_tree_size};
use crate::limits::{MAX_ADD_CHECKPOINT_BYTES, MAX_WITNESS_PROOF_HASHES};
use crate::merkle::{self, Hash, MerkleError};
use crate::note::{
    self, CosignatureVerifier, Cosigner, Ed25519Verifier, NoteError, NoteSigner, NoteVerifier, VKey,
};

/// The `Content-Type` of a 409 answer, whose body is the witness's latest cosigned size (§3.2).
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why a witness refuses an `add-checkpoint` request; each maps to the status code of §3.2.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the body breaks the wire format, or the old size is past the checkpoint's size.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 404: the witness does not witness a log of this origin.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: no valid signature of the log's key, or a line of its key that fails to verify.
    #[error("the checkpoint is not validly signed by its log: {0}")]
    BadSignature(String),
    /// 409: the old size is not the size of the latest checkpoint the witness cosigned; the
    /// answer's body is `latest` (a client without state learns the witness's size this way).
    #[error("old size {old} is not the latest cosigned tree size {latest}")]
    OldSizeMismatch { old: u64, latest: u64 },
    /// 422: the checkpoint is not consistent with the witness's latest one (a bad proof, a
    /// non-empty proof from size 0, another root at the same size, or a bad empty tree).
    #[error("inconsistent checkpoint: {0}")]
    Inconsistent(String),
}

impl Refusal {
    /// The HTTP status code of §3.2's table (HEAD wording: another root at the same size is 422).
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::BadSignature(_) => 403,
            Refusal::UnknownOrigin(_) => 404,
            Refusal::OldSizeMismatch { .. } => 409,
            Refusal::Inconsistent(_) => 422,
        }
    }
}

fn malformed(m: &str) -> Refusal {
    Refusal::Malformed(m.to_owned())
}

/// The body of `POST <submission prefix>/add-checkpoint` (§3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness holds (0 if none).
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size; empty when `old_size` is 0.
    pub proof: Vec<Hash>,
    /// The new checkpoint, a complete signed note (it may carry several signatures).
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// Parses a request body strictly: at most [`MAX_ADD_CHECKPOINT_BYTES`]; a first line
    /// `old <size>` (decimal, no sign or leading zeros); at most [`MAX_WITNESS_PROOF_HASHES`]
    /// lines, each canonical padded base64 of a 32-byte hash; an empty line; then the checkpoint
    /// note, UTF-8 (its own rules are checked by [`verify_request`]). Every line ends with `\n`
    /// alone, so CRLF is refused.
    ///
    /// # Errors
    ///
    /// [`Refusal::Malformed`] naming the first rule broken.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Refusal> {
        if body.len() > MAX_ADD_CHECKPOINT_BYTES {
            return Err(malformed("request body too large"));
        }
        let mut rest = body;
        let old_size = next_line(&mut rest)
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_tree_size)
            .ok_or_else(|| malformed("the first line is not \"old <tree size>\""))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest)
                .ok_or_else(|| malformed("no empty line before the checkpoint"))?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_WITNESS_PROOF_HASHES {
                return Err(malformed("more than 63 consistency proof lines"));
            }
            let hash = B64
                .decode(line)
                .ok()
                .and_then(|b| Hash::from_slice(&b))
                .ok_or_else(|| {
                    malformed("a consistency proof line is not base64 of a 32-byte hash")
                })?;
            proof.push(hash);
        }
        let checkpoint = String::from_utf8(rest.to_vec())
            .map_err(|_| malformed("the checkpoint is not UTF-8"))?;
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint,
        })
    }

    /// The request body: what [`AddCheckpoint::parse`] reads back.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&B64.encode(hash.as_bytes()));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }
}

/// Takes the next `\n`-terminated line (without its newline) off the front of `rest`.
fn next_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = rest.iter().position(|&b| b == b'\n')?;
    let line = &rest[..end];
    *rest = &rest[end + 1..];
    Some(line)
}

/// The body of a 409 answer: the witness's latest cosigned size and a newline (§3.2).
pub fn size_body(size: u64) -> String {
    format!("{size}\n")
}

/// Reads a 409 answer's body back (see [`size_body`]).
pub fn parse_size_body(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body)
        .ok()?
        .strip_suffix('\n')
        .and_then(parse_tree_size)
}

/// The logs a witness cosigns, by origin. Each is given by the vkey of its Ed25519 checkpoint
/// key (type 0x01, the only log key type witnesses take: §1.2, tlog-tiles §4.2), and the vkey's
/// name is the log's origin (§2: the log's key name SHOULD be the origin; witnesses identify a
/// log by its origin line).
#[derive(Clone, Debug, Default)]
pub struct KnownLogs(BTreeMap<String, Ed25519Verifier>);

impl KnownLogs {
    /// # Errors
    ///
    /// [`NoteError::MalformedKey`] naming the vkey that does not parse, is not an Ed25519 key,
    /// or repeats an origin.
    pub fn from_vkeys<S: AsRef<str>>(vkeys: &[S]) -> Result<KnownLogs, NoteError> {
        let mut logs = BTreeMap::new();
        for vkey in vkeys {
            let vkey = vkey.as_ref();
            let bad = |why: &str| NoteError::MalformedKey(format!("log vkey {vkey:?}: {why}"));
            let verifier = match note::parse_vkey(vkey).map_err(|e| bad(&e.to_string()))? {
                VKey::Ed25519(v) => v,
                VKey::Cosignature(_) => {
                    return Err(bad(
                        "a cosigner's key (type 0x04), not a log's Ed25519 key (type 0x01)",
                    ));
                }
            };
            let origin = verifier.name().to_owned();
            if logs.insert(origin, verifier).is_some() {
                return Err(bad("a second key for the same origin"));
            }
        }
        Ok(KnownLogs(logs))
    }

    pub fn get(&self, origin: &str) -> Option<&Ed25519Verifier> {
        self.0.get(origin)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The configured vkeys, by origin.
    pub fn vkeys(&self) -> impl Iterator<Item = String> + '_ {
        self.0.values().map(Ed25519Verifier::vkey)
    }
}

/// An `add-checkpoint` request whose checkpoint is signed by a known log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: Checkpoint,
    /// The checkpoint's note text: what the log signed and what a cosignature covers.
    pub text: String,
    /// The checkpoint note as received.
    pub note: String,
}

/// Step 1 of §3.2: parses the request and verifies the checkpoint's signature by the log of its
/// origin (lines of other keys are ignored; a line of the log's key that fails rejects it).
///
/// # Errors
///
/// [`Refusal::Malformed`] (400) for a bad body, note or checkpoint text;
/// [`Refusal::UnknownOrigin`] (404); [`Refusal::BadSignature`] (403).
pub fn verify_request(body: &[u8], logs: &KnownLogs) -> Result<VerifiedRequest, Refusal> {
    let request = AddCheckpoint::parse(body)?;
    // The origin is needed to pick the key, so the note is parsed once before it is verified.
    let parsed = note::parse(request.checkpoint.as_bytes())
        .map_err(|e| Refusal::Malformed(format!("checkpoint: {e}")))?;
    let origin = Checkpoint::parse(&parsed.text)
        .map_err(|e| Refusal::Malformed(format!("checkpoint: {e}")))?
        .origin;
    let log = logs.get(&origin).ok_or(Refusal::UnknownOrigin(origin))?;
    let opened = checkpoint::open_c2sp(&request.checkpoint, log, &[])
        .map_err(|e| Refusal::BadSignature(e.to_string()))?;
    Ok(VerifiedRequest {
        old_size: request.old_size,
        proof: request.proof,
        checkpoint: opened.checkpoint,
        text: opened.note.note.text,
        note: request.checkpoint,
    })
}

/// What a witness keeps per origin: the latest checkpoint it cosigned (§3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witnessed {
    pub size: u64,
    pub root: Hash,
    /// The checkpoint note as the log sent it (kept as evidence, and for monitors).
    pub checkpoint: String,
}

/// Step 2 of §3.2: given the latest checkpoint the witness cosigned for the request's origin
/// (`None` if it never cosigned one), the state to persist before cosigning, or the refusal.
/// Checks in the spec's order: old size past the checkpoint (400); old size other than the
/// latest cosigned size (409); a size-0 checkpoint whose root is not the empty tree's (422);
/// a proof from size 0 that is not empty, or one that does not verify from the stored root —
/// including another root at the same size (422).
///
/// This is what makes a witness useful: the new size is never below the stored one (old size =
/// stored size ≤ new size), and a checkpoint is cosigned only if it extends the stored tree, so
/// a witness that has seen tree A at size n refuses every tree B of size ≥ n that does not
/// contain A.
///
/// # Errors
///
/// [`Refusal::Malformed`], [`Refusal::OldSizeMismatch`], [`Refusal::Inconsistent`].
pub fn decide(request: &VerifiedRequest, latest: Option<&Witnessed>) -> Result<Witnessed, Refusal> {
    let (old, new) = (request.old_size, &request.checkpoint);
    if old > new.size {
        return Err(Refusal::Malformed(format!(
            "old size {old} is past the checkpoint's tree size {}",
            new.size
        )));
    }
    let latest_size = latest.map_or(0, |w| w.size);
    if old != latest_size {
        return Err(Refusal::OldSizeMismatch {
            old,
            latest: latest_size,
        });
    }
    if new.size == 0 && new.root != merkle::empty_root() {
        return Err(Refusal::Inconsistent(
            "a checkpoint of tree size 0 must have the empty tree's root".into(),
        ));
    }
    // `old` equals the stored size, so there is a stored checkpoint to extend iff `old > 0`.
    match latest.filter(|_| old > 0) {
        // Every tree extends the empty one (§3.2: "the proof MUST be empty if the old size is
        // zero"; a proof from size 0 is meaningless, §5.5).
        None => {
            if !request.proof.is_empty() {
                return Err(Refusal::Inconsistent(
                    "the consistency proof from old size 0 must be empty".into(),
                ));
            }
        }
        Some(stored) => {
            merkle::verify_consistency(old, new.size, &request.proof, &stored.root, &new.root)
                .map_err(|e| {
                    Refusal::Inconsistent(match e {
                        MerkleError::RootMismatch if old == new.size => format!(
                            "tree size {old} was cosigned with another root: the log forked"
                        ),
                        e => format!(
                            "the consistency proof from tree size {old} to {} does not verify \
                             against the cosigned root: {e}",
                            new.size
                        ),
                    })
                })?;
        }
    }
    Ok(Witnessed {
        size: new.size,
        root: new.root,
        checkpoint: request.note.clone(),
    })
}

/// A witness's answer: its cosignature line (cosignature/v1, §3.1) over the checkpoint `text`,
/// made at `timestamp` (POSIX seconds; §3.2 wants it non-zero, so 0 is raised to 1).
///
/// # Errors
///
/// [`NoteError::MalformedKey`] for a timestamp of 2^63 or more.
pub fn cosign(cosigner: &Cosigner, timestamp: u64, text: &str) -> Result<String, NoteError> {
    let mut cosigner = cosigner.clone();
    cosigner.set_timestamp(timestamp.max(1))?;
    let signature = cosigner.sign(text.as_bytes())?;
    Ok(note::signature_line(
        cosigner.name(),
        cosigner.key_id(),
        &signature,
    ))
}

/// A witness's cosignature that verified over exactly the submitted checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// The signature line, ready to append to the checkpoint note.
    pub line: String,
    pub timestamp: u64,
}

/// The log's check of a witness's 200 answer (§3.2): appends the answer's lines to the
/// submitted `checkpoint` note and opens the result with the log's and the witness's keys.
/// Lines of other keys are ignored; a line of the witness's key that fails, an answer that
/// changes the note text (a blank line, anything but signature lines), no line of the witness,
/// or a zero timestamp are refused.
///
/// # Errors
///
/// [`CheckpointError`] naming the problem.
pub fn verify_cosignature(
    checkpoint: &str,
    answer: &[u8],
    log: &Ed25519Verifier,
    witness: &CosignatureVerifier,
) -> Result<Cosignature, CheckpointError> {
    let bad = |m: &str| CheckpointError::Malformed(format!("witness answer: {m}"));
    let answer = std::str::from_utf8(answer).map_err(|_| bad("not UTF-8"))?;
    if answer.is_empty() {
        return Err(bad("no cosignature line"));
    }
    let submitted = note::parse(checkpoint.as_bytes())?;
    let opened = checkpoint::open_c2sp(&format!("{checkpoint}{answer}"), log, &[witness])?;
    if opened.note.text() != submitted.text {
        return Err(bad("not a list of signature lines"));
    }
    let signature = opened
        .note
        .verified_signatures()
        .find(|s| s.name == witness.name() && s.key_id == witness.key_id())
        .ok_or_else(|| {
            CheckpointError::WrongKey(format!("no cosignature by the witness {}", witness.name()))
        })?;
    let timestamp = CosignatureVerifier::timestamp(&signature.signature)
        .filter(|&t| t != 0)
        .ok_or_else(|| bad("a cosignature with timestamp 0"))?;
    Ok(Cosignature {
        line: note::signature_line(&signature.name, signature.key_id, &signature.signature),
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use sha2::{Digest, Sha256};

    use crate::note::{Ed25519Signer, NoteSigner};

    fn log_signer(seed: u8) -> Ed25519Signer {
        Ed25519Signer::new("log.test", SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    fn logs() -> KnownLogs {
        KnownLogs::from_vkeys(&[log_signer(1).vkey()]).unwrap()
    }

    /// The leaf hashes of the test tree: leaf `i` is the byte `i`.
    fn leaves(size: u64) -> Vec<Hash> {
        (0..size).map(|i| merkle::record_hash(&[i as u8])).collect()
    }

    fn root(size: u64) -> Hash {
        merkle::tree_hash(size, &stored_hashes(&leaves(size))).unwrap()
    }

    fn signed(size: u64, root: Hash, signer: &Ed25519Signer) -> String {
        let cp = Checkpoint {
            origin: "log.test".into(),
            size,
            root,
        };
        checkpoint::sign_note(&cp, &[signer]).unwrap()
    }

    fn request(old: u64, proof: Vec<Hash>, size: u64, root: Hash) -> Vec<u8> {
        AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: signed(size, root, &log_signer(1)),
        }
        .to_body()
        .into_bytes()
    }

    fn verified(body: &[u8]) -> VerifiedRequest {
        verify_request(body, &logs()).unwrap()
    }

    fn proof(old: u64, new: u64) -> Vec<Hash> {
        merkle::consistency_proof(old, new, &stored_hashes(&leaves(new))).unwrap()
    }

    /// The stored hashes of a tree, in stored-hash-index order.
    fn stored_hashes(leaves: &[Hash]) -> Vec<Hash> {
        let mut border = merkle::RightBorder::empty();
        leaves
            .iter()
            .flat_map(|leaf| border.append(*leaf).into_iter().map(|(_, h)| h))
            .collect()
    }

    #[test]
    fn request_roundtrip_and_strict_parse() {
        let body = request(3, proof(3, 7), 7, root(7));
        let parsed = AddCheckpoint::parse(&body).unwrap();
        assert_eq!(parsed.old_size, 3);
        assert_eq!(parsed.proof, proof(3, 7));
        assert_eq!(parsed.to_body().as_bytes(), body.as_slice());
        let cp = signed(7, root(7), &log_signer(1));
        let h = B64.encode([0u8; 32]);
        for bad in [
            String::new(),
            "old 3".into(),
            format!("old 03\n\n{cp}"),
            format!("old -1\n\n{cp}"),
            format!("old +1\n\n{cp}"),
            format!("old  1\n\n{cp}"),
            format!("Old 1\n\n{cp}"),
            format!("old 18446744073709551616\n\n{cp}"),
            format!("old 1\r\n\n{cp}"),
            format!("old 1\n{h}\r\n\n{cp}"),
            format!("old 1\n{h} \n\n{cp}"),
            format!("old 1\n{}\n\n{cp}", B64.encode([0u8; 31])),
            format!("old 1\n{}\n\n{cp}", &h[..43]),
            format!("old 1\n{}\n\n{cp}", hex::encode([0u8; 32])),
            format!("old 1\n{h}\n"),
            format!("old 1\n{h}"),
            format!("old 1\n{}\n{cp}", format!("{h}\n").repeat(64)),
        ] {
            assert!(
                matches!(
                    AddCheckpoint::parse(bad.as_bytes()),
                    Err(Refusal::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        let max = format!("old 1\n{}\n{cp}", format!("{h}\n").repeat(63));
        assert_eq!(
            AddCheckpoint::parse(max.as_bytes()).unwrap().proof.len(),
            63
        );
        let mut non_utf8 = b"old 0\n\n".to_vec();
        non_utf8.extend_from_slice(&[0xff, b'\n']);
        assert!(AddCheckpoint::parse(&non_utf8).is_err());
        let huge = vec![b'a'; MAX_ADD_CHECKPOINT_BYTES + 1];
        assert_eq!(
            AddCheckpoint::parse(&huge),
            Err(malformed("request body too large"))
        );
    }

    #[test]
    fn size_bodies() {
        assert_eq!(size_body(42), "42\n");
        assert_eq!(parse_size_body(b"42\n"), Some(42));
        assert_eq!(parse_size_body(b"0\n"), Some(0));
        for bad in [&b"42"[..], b"042\n", b"4 2\n", b"\n", b"42\n\n", b"-1\n"] {
            assert_eq!(parse_size_body(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn verify_request_maps_to_404_403_400() {
        let ok = request(0, vec![], 7, root(7));
        assert_eq!(verified(&ok).checkpoint.size, 7);
        // Another origin: 404, even when signed by a key of that name.
        let other = Ed25519Signer::new("other.test", SigningKey::from_bytes(&[1; 32])).unwrap();
        let cp = checkpoint::sign_note(
            &Checkpoint {
                origin: "other.test".into(),
                size: 1,
                root: root(1),
            },
            &[&other],
        )
        .unwrap();
        let body = format!("old 0\n\n{cp}");
        assert_eq!(
            verify_request(body.as_bytes(), &logs())
                .unwrap_err()
                .status(),
            404
        );
        // The right origin signed by another key (another key ID): no known signature, 403.
        let forged = format!("old 0\n\n{}", signed(7, root(7), &log_signer(2)));
        assert_eq!(
            verify_request(forged.as_bytes(), &logs())
                .unwrap_err()
                .status(),
            403
        );
        // The right key, a broken signature: 403.
        let mut tampered = String::from_utf8(ok.clone()).unwrap();
        let at = tampered.len() - 10;
        let c = if &tampered[at..=at] == "A" { "B" } else { "A" };
        tampered.replace_range(at..=at, c);
        assert_eq!(
            verify_request(tampered.as_bytes(), &logs())
                .unwrap_err()
                .status(),
            403
        );
        // A known signature plus an unknown cosignature: accepted, the extra line ignored.
        let w = Cosigner::new("w.test", SigningKey::from_bytes(&[9; 32]), 5).unwrap();
        let text = Checkpoint {
            origin: "log.test".into(),
            size: 7,
            root: root(7),
        }
        .to_text();
        let both = format!(
            "old 0\n\n{}",
            note::sign(&text, &[&log_signer(1), &w]).unwrap()
        );
        assert_eq!(verified(both.as_bytes()).text, text);
        // A checkpoint whose text is not a checkpoint, or not a note at all: 400.
        let not_cp = note::sign("just text\n", &[&log_signer(1)]).unwrap();
        for body in [format!("old 0\n\n{not_cp}"), "old 0\n\nnot a note\n".into()] {
            assert_eq!(
                verify_request(body.as_bytes(), &logs())
                    .unwrap_err()
                    .status(),
                400
            );
        }
    }

    fn stored(size: u64, root: Hash) -> Witnessed {
        Witnessed {
            size,
            root,
            checkpoint: String::new(),
        }
    }

    #[test]
    fn decide_follows_the_spec_table() {
        let status = |old, proof, size, root, latest: Option<&Witnessed>| {
            decide(&verified(&request(old, proof, size, root)), latest).map_err(|e| e.status())
        };
        let at5 = stored(5, root(5));
        // First contact: old 0, empty proof, any size.
        assert_eq!(status(0, vec![], 5, root(5), None).unwrap().size, 5);
        assert_eq!(status(0, vec![], 0, root(0), None).unwrap().size, 0);
        // Growth with a good proof; the same checkpoint again.
        assert_eq!(
            status(5, proof(5, 9), 9, root(9), Some(&at5)),
            Ok(stored_with(9))
        );
        assert_eq!(status(5, vec![], 5, root(5), Some(&at5)).unwrap().size, 5);
        // 400: old past the new size, checked before the stored size.
        assert_eq!(status(9, vec![], 5, root(5), Some(&at5)), Err(400));
        // 409: old is not the stored size (a client without state, or a rollback attempt).
        assert_eq!(status(0, vec![], 9, root(9), Some(&at5)), Err(409));
        assert_eq!(status(3, proof(3, 9), 9, root(9), Some(&at5)), Err(409));
        assert_eq!(status(3, proof(3, 4), 4, root(4), Some(&at5)), Err(409));
        assert_eq!(status(1, vec![], 1, root(1), None), Err(409));
        // 422: a bad empty tree, a proof from 0, a bad proof, a fork at the same size.
        assert_eq!(status(0, vec![], 0, root(1), None), Err(422));
        assert_eq!(status(0, proof(1, 3), 3, root(3), None), Err(422));
        assert_eq!(status(5, proof(4, 9), 9, root(9), Some(&at5)), Err(422));
        assert_eq!(status(5, proof(5, 9), 9, root(8), Some(&at5)), Err(422));
        assert_eq!(status(5, vec![], 5, root(6), Some(&at5)), Err(422));
        // A forked stored tree: the real tree's proof does not start from the stored root.
        let forked = stored(5, root(6));
        assert_eq!(status(5, proof(5, 9), 9, root(9), Some(&forked)), Err(422));
        let e = decide(&verified(&request(5, vec![], 5, root(6))), Some(&at5)).unwrap_err();
        assert!(e.to_string().contains("forked"), "{e}");
        // The 409 carries the stored size.
        assert_eq!(
            decide(&verified(&request(0, vec![], 9, root(9))), Some(&at5)),
            Err(Refusal::OldSizeMismatch { old: 0, latest: 5 })
        );
    }

    fn stored_with(size: u64) -> Witnessed {
        Witnessed {
            size,
            root: root(size),
            checkpoint: signed(size, root(size), &log_signer(1)),
        }
    }

    #[test]
    fn known_logs_take_ed25519_vkeys_only() {
        let log = log_signer(1);
        let w = Cosigner::new("w.test", SigningKey::from_bytes(&[9; 32]), 0).unwrap();
        assert_eq!(
            KnownLogs::from_vkeys(&[log.vkey()])
                .unwrap()
                .vkeys()
                .collect::<Vec<_>>(),
            [log.vkey()]
        );
        for bad in [
            vec![w.vkey()],
            vec![log.vkey(), log_signer(2).vkey()],
            vec!["log.test+00000000+AAAA".into()],
        ] {
            assert!(KnownLogs::from_vkeys(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cosign_then_verify() {
        let log = log_signer(1);
        let w = Cosigner::new("w.test", SigningKey::from_bytes(&[9; 32]), 0).unwrap();
        let cp = signed(7, root(7), &log);
        let text = note::parse(cp.as_bytes()).unwrap().text;
        let line = cosign(&w, 1_767_225_600, &text).unwrap();
        let got = verify_cosignature(&cp, line.as_bytes(), &log.verifier(), &w.verifier()).unwrap();
        assert_eq!(got.timestamp, 1_767_225_600);
        assert_eq!(got.line, line);
        // Timestamp 0 is raised to 1 (§3.2: non-zero).
        let line0 = cosign(&w, 0, &text).unwrap();
        let t = verify_cosignature(&cp, line0.as_bytes(), &log.verifier(), &w.verifier());
        assert_eq!(t.unwrap().timestamp, 1);
        // Extra lines of other keys are ignored.
        let other = Cosigner::new("x.test", SigningKey::from_bytes(&[8; 32]), 3).unwrap();
        let two = format!("{}{line}", cosign(&other, 3, &text).unwrap());
        assert_eq!(
            verify_cosignature(&cp, two.as_bytes(), &log.verifier(), &w.verifier())
                .unwrap()
                .line,
            line
        );
        // Refused: a cosignature of another checkpoint, another witness only, junk, a blank
        // line, nothing.
        let other_text = note::parse(signed(8, root(8), &log).as_bytes())
            .unwrap()
            .text;
        let wrong = cosign(&w, 5, &other_text).unwrap();
        for bad in [
            wrong,
            cosign(&other, 3, &text).unwrap(),
            "not a signature\n".into(),
            format!("\n{line}"),
            String::new(),
            line.trim_end().to_owned(),
        ] {
            assert!(
                verify_cosignature(&cp, bad.as_bytes(), &log.verifier(), &w.verifier()).is_err(),
                "{bad:?}"
            );
        }
        // A witness's line over the right text with timestamp 0 is refused.
        let key = SigningKey::from_bytes(&[9; 32]);
        let mut msg = b"cosignature/v1\ntime 0\n".to_vec();
        msg.extend_from_slice(text.as_bytes());
        let mut sig = 0u64.to_be_bytes().to_vec();
        sig.extend_from_slice(&ed25519_dalek::Signer::sign(&key, &msg).to_bytes());
        let zero = note::signature_line("w.test", w.key_id(), &sig);
        assert!(verify_cosignature(&cp, zero.as_bytes(), &log.verifier(), &w.verifier()).is_err());
    }

    /// The constructed vectors of `testdata/signed-note/constructed-checkpoint-and-witness.json`
    /// (tiles-checkpoints-witnesses.md §3.2): the request parses and its proof verifies, and our
    /// cosigner reproduces the response line byte for byte.
    #[test]
    fn constructed_witness_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/signed-note/constructed-checkpoint-and-witness.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            panic!("the test vectors are missing: {path}");
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        let logs = KnownLogs::from_vkeys(&[v["log"]["vkey"].as_str().unwrap()]).unwrap();
        let body = s("addCheckpointRequestBody");
        let request = verify_request(body.as_bytes(), &logs).unwrap();
        assert_eq!((request.old_size, request.checkpoint.size), (6, 8));
        assert_eq!(request.note, s("checkpointSize8"));
        assert_eq!(
            AddCheckpoint::parse(body.as_bytes()).unwrap().to_body(),
            body
        );
        let at6 = verify_request(
            format!("old 0\n\n{}", s("checkpointSize6")).as_bytes(),
            &logs,
        )
        .unwrap();
        let state = decide(&at6, None).unwrap();
        assert_eq!(decide(&request, Some(&state)).unwrap().size, 8);

        let seed: [u8; 32] = Sha256::digest(b"tiles-checkpoints-v2 example witness key").into();
        let name = v["witness"]["name"].as_str().unwrap();
        let cosigner = Cosigner::new(name, SigningKey::from_bytes(&seed), 0).unwrap();
        assert_eq!(cosigner.vkey(), v["witness"]["vkey"].as_str().unwrap());
        let ts = v["cosignatureTimestamp"].as_u64().unwrap();
        let line = cosign(&cosigner, ts, &request.text).unwrap();
        assert_eq!(line, s("addCheckpointResponseBody"));
        let log = logs.get("log.example.internal/tlog1").unwrap();
        let got = verify_cosignature(
            &s("checkpointSize8"),
            line.as_bytes(),
            log,
            &cosigner.verifier(),
        )
        .unwrap();
        assert_eq!(
            format!("{}{}", s("checkpointSize8"), got.line),
            s("cosignedCheckpointSize8")
        );
    }
}
