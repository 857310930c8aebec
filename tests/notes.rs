//! Signed notes, checkpoints, log keys and SETs (`note`, `checkpoint`, `signer`), four ways:
//!
//! 1. the vectors of `testdata/signed-note/` and `testdata/rekor-v2/`: C2SP's example, Go's
//!    `sumdb/note` tests, constructed checkpoints and a witness cosignature, a real Rekor v2
//!    response and staging bundles with real witness cosignatures;
//! 2. the Rekor v1 worked example of rekor-v1-api.md §8.3 and §13;
//! 3. mutations that must fail: every single-byte change, wrong keys and names, extra lines;
//! 4. property tests: round trips, and parsers that never panic.

use arkivo_core::checkpoint::{self, Checkpoint, CheckpointError};
use arkivo_core::merkle::Hash;
use arkivo_core::note::{
    self, CosignatureVerifier, Cosigner, Ed25519Signer, Ed25519Verifier, NoteError, NoteSigner,
    NoteVerifier, VKey,
};
use arkivo_core::signer::{self, LogKeys};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use p256::pkcs8::DecodePublicKey;
use proptest::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{TESTDATA}{path}"))
        .unwrap_or_else(|e| panic!("{TESTDATA}{path}: {e}"))
}

fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string"))
}

fn b64(v: &Value) -> Vec<u8> {
    B64.decode(s(v)).unwrap()
}

fn vkey(text: &str) -> VKey {
    note::parse_vkey(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// RFC 6962 leaf hash, computed here so that these tests do not depend on `merkle`.
fn leaf_hash(data: &[u8]) -> Hash {
    Hash(
        Sha256::new()
            .chain_update([0])
            .chain_update(data)
            .finalize()
            .into(),
    )
}

/// `v` with byte `i` XORed with `delta`.
fn flip(v: &[u8], i: usize, delta: u8) -> Vec<u8> {
    let mut m = v.to_vec();
    m[i] ^= delta;
    m
}

/// `check` accepts `signed`, and refuses it after any single-byte change (each byte XORed with
/// 0x01 — a neighbouring character, `\n` → VT — and 0x80 — broken UTF-8, another em dash
/// byte), without its final newline, with CRLF line ends, and with one more line at the end.
/// (0x20 would add case changes at the cost of as many slow debug-build verifications.)
fn assert_every_byte_matters(signed: &str, check: impl Fn(&[u8]) -> bool) {
    let bytes = signed.as_bytes();
    assert!(check(bytes), "the unmodified note must pass");
    for i in 0..bytes.len() {
        for delta in [0x01, 0x80] {
            let m = flip(bytes, i, delta);
            assert!(
                !check(&m),
                "byte {i} ^ {delta:#04x} still passes: {:?}",
                String::from_utf8_lossy(&m)
            );
        }
    }
    assert!(!check(&bytes[..bytes.len() - 1]), "missing final newline");
    assert!(!check(signed.replace('\n', "\r\n").as_bytes()), "CRLF");
    assert!(
        !check(format!("{signed}\n").as_bytes()),
        "trailing blank line"
    );
    assert!(!check(format!("{signed}x\n").as_bytes()), "trailing line");
}

// ---------------------------------------------------------------------------------------------
// 1. Shared vectors

#[test]
fn c2sp_signed_note_example() {
    let v = json("signed-note/c2sp-signed-note-example.json");
    let key = vkey(s(&v["vkey"]));
    assert_eq!(key.vkey(), s(&v["vkey"]), "vkeys re-encode identically");
    assert!(matches!(key, VKey::Ed25519(_)));
    assert_eq!(key.verifier().name(), s(&v["keyName"]));
    let pk = b64(&v["publicKeyBase64"]);
    let id = note::key_id(s(&v["keyName"]), note::ED25519, &pk);
    assert_eq!(format!("{id:08x}"), s(&v["keyIdHex"]));
    assert_eq!(key.verifier().key_id(), id);

    let opened = note::open(s(&v["signedNote"]).as_bytes(), &[key.verifier()]).unwrap();
    assert_eq!(opened.text(), s(&v["noteText"]));
    assert_eq!(opened.verified, vec![0]);
    assert_eq!(note::format(&opened.note).unwrap(), s(&v["signedNote"]));
    assert_every_byte_matters(s(&v["signedNote"]), |b| {
        note::open(b, &[key.verifier()]).is_ok_and(|o| o.text() == s(&v["noteText"]))
    });
}

#[test]
fn go_sumdb_keys_reencode_and_signing_is_byte_exact() {
    let v = json("signed-note/go-sumdb-note.json");
    let mut skeys = 0;
    for (name, k) in v["keys"].as_object().unwrap() {
        let parsed = vkey(s(&k["vkey"]));
        assert_eq!(parsed.vkey(), s(&k["vkey"]));
        assert_eq!(parsed.verifier().name(), name);
        if let Some(skey) = k["skey"].as_str() {
            let signer = Ed25519Signer::from_go_private_key(skey).unwrap();
            assert_eq!(signer.name(), name);
            assert_eq!(signer.vkey(), s(&k["vkey"]), "{name}: skey → vkey");
            assert_eq!(VKey::Ed25519(signer.verifier()), parsed);
            skeys += 1;
        }
    }
    assert_eq!(skeys, 2);

    let text = s(&v["noteText"]);
    let peter = Ed25519Signer::from_go_private_key(s(&v["keys"]["PeterNeumann"]["skey"])).unwrap();
    assert_eq!(note::sign(text, &[&peter]).unwrap(), s(&v["signedByPeter"]));
    let (name, key) = note::parse_go_private_key(s(&v["keys"]["PeterNeumann"]["skey"])).unwrap();
    assert_eq!(
        note::sign_ed25519(text, &[(&name, &key)]),
        s(&v["signedByPeter"])
    );
    assert_every_byte_matters(s(&v["signedByPeter"]), |b| {
        note::open(b, &[&peter.verifier()]).is_ok()
    });
}

#[test]
fn go_sumdb_expectations() {
    let v = json("signed-note/go-sumdb-note.json");
    let text = s(&v["noteText"]);
    let peter = vkey(s(&v["keys"]["PeterNeumann"]["vkey"]));
    let enoch = vkey(s(&v["keys"]["EnochRoot"]["vkey"]));
    let both = s(&v["signedByPeterAndEnoch"]).as_bytes();

    // One known key: Peter verified, Enoch ignored (unverified).
    let o = note::open(both, &[peter.verifier()]).unwrap();
    let names = |it: &mut dyn Iterator<Item = &note::NoteSignature>| {
        it.map(|s| format!("{} {:08x}", s.name, s.key_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&mut o.verified_signatures()),
        ["PeterNeumann c74f20a3"]
    );
    assert_eq!(
        names(&mut o.unverified_signatures()),
        ["EnochRoot af0cfe78"]
    );
    assert_eq!(o.text(), text);
    // Two known keys: both verified, in either order of the verifiers.
    for vs in [
        [peter.verifier(), enoch.verifier()],
        [enoch.verifier(), peter.verifier()],
    ] {
        assert_eq!(note::open(both, &vs).unwrap().verified, vec![0, 1]);
    }
    // No known key.
    assert_eq!(note::open(both, &[]), Err(NoteError::UnverifiedNote));
    // Only a same-named key with another ID: still unknown, still unverified.
    let impostor = Ed25519Verifier::new(
        "PeterNeumann",
        ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key(),
    );
    assert_eq!(
        note::open(both, &[&impostor]),
        Err(NoteError::UnverifiedNote)
    );

    // 100 signature lines are accepted, 101 are malformed.
    let sig_line = &s(&v["signedByPeter"])[text.len() + 1..];
    for (n, ok) in [(16, true), (100, true), (101, false)] {
        let many = format!("{text}\n{}", sig_line.repeat(n));
        let r = note::open(many.as_bytes(), &[peter.verifier()]);
        assert_eq!(r.is_ok(), ok, "{n} lines: {r:?}");
        if !ok {
            assert!(matches!(r, Err(NoteError::Malformed(_))));
        }
    }

    // A verified signature altered: the whole note is rejected, with the key named.
    let signed = s(&v["signedByPeter"]);
    let blob_start = signed.rfind(' ').unwrap() + 1;
    let mut blob = B64.decode(signed[blob_start..].trim_end()).unwrap();
    blob[20] ^= 1;
    let altered = format!("{}{}\n", &signed[..blob_start], B64.encode(&blob));
    assert_eq!(
        note::open(altered.as_bytes(), &[peter.verifier()]),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            id: 0xc74f20a3
        })
    );
    // ... even when another known key signed validly.
    let with_enoch = format!(
        "{altered}{}",
        &s(&v["signedByPeterAndEnoch"])[signed.len()..]
    );
    assert!(matches!(
        note::open(with_enoch.as_bytes(), &[peter.verifier(), enoch.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));

    let malformed = v["malformedNotes"].as_array().unwrap();
    assert_eq!(malformed.len(), 6);
    for m in malformed {
        for r in [
            note::parse(s(&m["note"]).as_bytes()).map(|_| ()),
            note::open(s(&m["note"]).as_bytes(), &[peter.verifier()]).map(|_| ()),
        ] {
            assert!(matches!(r, Err(NoteError::Malformed(_))), "{}", m["desc"]);
        }
    }
    let mut invalid_utf8 = vec![0xff];
    invalid_utf8.extend_from_slice(signed.as_bytes());
    assert!(matches!(
        note::open(&invalid_utf8, &[peter.verifier()]),
        Err(NoteError::Malformed(_))
    ));

    // The old Go tree note has a checkpoint's shape.
    let tree = &v["goTreeNote"];
    let cp = Checkpoint::parse(s(&tree["text"])).unwrap();
    assert_eq!(cp.origin, "go.sum database tree");
    assert_eq!(cp.size, tree["treeSize"].as_u64().unwrap());
    assert_eq!(cp.root, leaf_hash(b"hello world"));
    assert_eq!(cp.to_text(), s(&tree["text"]));
}

#[test]
fn key_id_vectors() {
    let v = json("signed-note/key-ids.json");
    let vectors = v["vectors"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for k in vectors {
        let algorithm = s(&k["algorithm"]);
        let id = s(&k["keyIdHex"]);
        match algorithm {
            "Ed25519" => {
                let raw = b64(&k["publicKeyRawBase64"]);
                let name = s(&k["keyName"]);
                let full = note::key_hash(name, note::ED25519, &raw);
                assert_eq!(B64.encode(full), s(&k["fullKeyHashBase64"]), "{name}");
                assert_eq!(hex::encode(&full[..4]), id);
                assert_eq!(
                    format!("{:08x}", note::key_id(name, note::ED25519, &raw)),
                    id
                );
                if let Some(spki) = k.get("publicKeySpkiDerBase64") {
                    let key = ed25519_dalek::VerifyingKey::from_public_key_der(&b64(spki)).unwrap();
                    assert_eq!(key.as_bytes()[..], raw[..]);
                }
                if let Some(text) = k["vkey"].as_str() {
                    assert_eq!(format!("{:08x}", vkey(text).verifier().key_id()), id);
                }
            }
            "ECDSA-P256" => {
                let spki = b64(&k["publicKeySpkiDerBase64"]);
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
                assert_eq!(
                    signer::ecdsa_log_id(&key).to_vec(),
                    b64(&k["fullKeyHashBase64"])
                );
                assert_eq!(format!("{:08x}", checkpoint::v1_key_hint(&key)), id);
            }
            "Ed25519 cosignature/v1" => {
                let parsed = vkey(s(&k["vkey"]));
                let VKey::Cosignature(c) = &parsed else {
                    panic!("{parsed:?} is not a cosignature key")
                };
                assert_eq!(format!("{:08x}", c.key_id()), id);
                assert_eq!(c.name(), s(&k["keyName"]));
                let raw = c.public_key().as_bytes();
                assert_eq!(
                    note::key_id(c.name(), note::COSIGNATURE_V1, raw),
                    c.key_id()
                );
            }
            other => panic!("unexpected algorithm {other}"),
        }
        seen.insert(algorithm);
    }
    assert_eq!(seen.len(), 3, "every algorithm was checked: {seen:?}");
}

fn seed_key(label: &str) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&Sha256::digest(label).into())
}

#[test]
fn constructed_checkpoints_sign_byte_for_byte() {
    let v = json("signed-note/constructed-checkpoint-and-witness.json");
    let log = Ed25519Signer::from_go_private_key(s(&v["log"]["skey"])).unwrap();
    assert_eq!(log.name(), s(&v["log"]["origin"]));
    assert_eq!(log.vkey(), s(&v["log"]["vkey"]));
    assert_eq!(
        log.verifier().public_key().as_bytes()[..],
        b64(&v["log"]["publicKeyBase64"])
    );
    assert_eq!(
        log.verifier().key_hash().to_vec(),
        b64(&v["log"]["fullKeyHashBase64"])
    );
    // The seed derivation the file documents gives the same key.
    let derived =
        Ed25519Signer::new(log.name(), seed_key("tiles-checkpoints-v2 example log key")).unwrap();
    assert_eq!(derived.vkey(), log.vkey());

    let verifier = vkey(s(&v["log"]["vkey"]));
    let roots = [
        (
            "checkpointSize6",
            6,
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        ),
        (
            "checkpointSize8",
            8,
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ),
        (
            "emptyTreeCheckpoint",
            0,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ];
    for (name, size, root) in roots {
        let signed = s(&v[name]);
        let cp = Checkpoint {
            origin: log.name().to_owned(),
            size,
            root: Hash::from_slice(&hex::decode(root).unwrap()).unwrap(),
        };
        assert_eq!(
            checkpoint::sign_note(&cp, &[&log]).unwrap(),
            signed,
            "{name}"
        );
        assert_eq!(
            checkpoint::verify_c2sp(signed, verifier.verifier(), &[]).unwrap(),
            cp,
            "{name}"
        );
    }
}

#[test]
fn constructed_witness_cosignature() {
    let v = json("signed-note/constructed-checkpoint-and-witness.json");
    let log = vkey(s(&v["log"]["vkey"]));
    let witness = vkey(s(&v["witness"]["vkey"]));
    let VKey::Cosignature(wv) = &witness else {
        panic!("the witness key has type 0x04")
    };
    assert_eq!(format!("{:08x}", wv.key_id()), s(&v["witness"]["keyIdHex"]));
    let ts = v["cosignatureTimestamp"].as_u64().unwrap();
    assert_eq!(ts, 1_767_225_600);
    let cp8 = s(&v["checkpointSize8"]);
    let text8 = note::parse(cp8.as_bytes()).unwrap().text;

    // The add-checkpoint response: one cosignature line over the size-8 checkpoint.
    let response = s(&v["addCheckpointResponseBody"]);
    let line = note::parse(format!("{text8}\n{response}").as_bytes()).unwrap();
    let [sig] = line.signatures.as_slice() else {
        panic!("one line")
    };
    assert_eq!((sig.name.as_str(), sig.key_id), (wv.name(), wv.key_id()));
    assert_eq!(sig.signature.len(), 72);
    assert_eq!(CosignatureVerifier::timestamp(&sig.signature), Some(ts));
    assert_eq!(
        wv.verify_timestamp(text8.as_bytes(), &sig.signature),
        Some(ts)
    );
    assert_eq!(wv.verify_timestamp(b"other\n", &sig.signature), None);
    // Independently: plain Ed25519 over the documented message.
    let msg = s(&v["cosignatureSignedMessage"]);
    assert_eq!(msg, format!("cosignature/v1\ntime {ts}\n{text8}"));
    let raw = ed25519_dalek::Signature::from_slice(&sig.signature[8..]).unwrap();
    wv.public_key().verify_strict(msg.as_bytes(), &raw).unwrap();

    // Our cosigner, with the documented seed, reproduces the line.
    let cosigner = Cosigner::new(
        s(&v["witness"]["name"]),
        seed_key("tiles-checkpoints-v2 example witness key"),
        ts,
    )
    .unwrap();
    assert_eq!(cosigner.vkey(), s(&v["witness"]["vkey"]));
    assert_eq!(
        note::signature_line(
            cosigner.name(),
            cosigner.key_id(),
            &cosigner.sign(text8.as_bytes()).unwrap()
        ),
        response
    );

    // The cosigned note: both keys known → both reported, with the timestamp.
    let cosigned = s(&v["cosignedCheckpointSize8"]);
    assert_eq!(format!("{cp8}{response}"), cosigned);
    let o = checkpoint::open_c2sp(cosigned, log.verifier(), &[witness.verifier()]).unwrap();
    assert_eq!(o.note.verified, vec![0, 1]);
    assert_eq!(o.checkpoint.size, 8);
    let cosig = o
        .note
        .verified_signatures()
        .find(|s| s.name == wv.name())
        .unwrap();
    assert_eq!(
        wv.verify_timestamp(o.note.text().as_bytes(), &cosig.signature),
        Some(ts)
    );
    // Only the log known: the cosignature is ignored. Only the witness: no log signature.
    let o = checkpoint::open_c2sp(cosigned, log.verifier(), &[]).unwrap();
    assert_eq!(o.note.verified, vec![0]);
    assert_eq!(o.note.unverified_signatures().count(), 1);
    assert!(matches!(
        checkpoint::verify_c2sp(cosigned, witness.verifier(), &[]),
        Err(CheckpointError::WrongKey(_) | CheckpointError::WrongOrigin { .. })
    ));
    // The witness as the only verifier of a note: fine for the note layer.
    assert_eq!(
        note::open(cosigned.as_bytes(), &[witness.verifier()])
            .unwrap()
            .verified,
        vec![1]
    );
    // Every byte of the cosigned note matters when both keys are known.
    assert_every_byte_matters(cosigned, |b| {
        std::str::from_utf8(b).is_ok_and(|t| {
            checkpoint::open_c2sp(t, log.verifier(), &[witness.verifier()])
                .is_ok_and(|o| o.note.verified.len() == 2)
        })
    });
}

#[test]
fn rekor_v2_example_response() {
    let v = json("rekor-v2/clients-md-example-response.json");
    let envelope = s(&v["inclusionProof"]["checkpoint"]["envelope"]);
    let log = vkey("rekor-local+d80b4420+AURLycjWRo1+gdwwCLg9wU4PayMFdNBmPF4ORVPiBQ1E");
    let cp = checkpoint::verify_c2sp(envelope, log.verifier(), &[]).unwrap();
    assert_eq!(cp.origin, "rekor-local");
    assert_eq!(
        (cp.size, cp.root),
        (1, leaf_hash(&b64(&v["canonicalizedBody"])))
    );

    let key =
        ed25519_dalek::SigningKey::from_pkcs8_pem(&read("rekor-v2/test-key/ed25519-priv-key.pem"))
            .unwrap();
    let public = ed25519_dalek::VerifyingKey::from_public_key_pem(&read(
        "rekor-v2/test-key/ed25519-pub-key.pem",
    ))
    .unwrap();
    assert_eq!(key.verifying_key(), public);
    let signer = Ed25519Signer::new("rekor-local", key.clone()).unwrap();
    assert_eq!(checkpoint::sign_note(&cp, &[&signer]).unwrap(), envelope);
    assert_eq!(
        B64.encode(note::key_hash(
            "rekor-local",
            note::ED25519,
            public.as_bytes()
        )),
        s(&v["logId"]["keyId"])
    );

    // The same through LogKeys: the C2SP checkpoint, its key ID, the PEM round trip.
    let keys =
        LogKeys::from_keys(p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap(), key).unwrap();
    assert_eq!(checkpoint::sign_c2sp(&cp, &keys), envelope);
    assert_eq!(
        B64.encode(keys.checkpoint_key_id("rekor-local")),
        s(&v["logId"]["keyId"])
    );
    assert_eq!(keys.ed25519_verifier("rekor-local").vkey(), log.vkey());
    assert_eq!(
        keys.ed25519_public_pem(),
        read("rekor-v2/test-key/ed25519-pub-key.pem")
    );
    let again =
        LogKeys::from_pkcs8_pem(&keys.ecdsa_pkcs8_pem(), &keys.ed25519_pkcs8_pem()).unwrap();
    assert_eq!(checkpoint::sign_c2sp(&cp, &again), envelope);
}

#[test]
fn rekor_v2_conformance_bundles_and_staging_witnesses() {
    let vkeys: Vec<VKey> = read("rekor-v2/vkeys.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(vkey)
        .collect();
    assert_eq!(vkeys.len(), 5);
    let expected = json("rekor-v2/expected.json");
    let mut cosignatures_checked = 0;
    for case in [
        "rekor2-happy-path",
        "rekor2-dsse-happy-path",
        "rekor2-checkpoint-cosigned",
    ] {
        let exp = &expected["cases"][case];
        let bundle = json(&format!("rekor-v2/conformance/{case}/bundle.sigstore.json"));
        let root = json(&format!("rekor-v2/conformance/{case}/trusted_root.json"));
        let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
        let envelope = s(&entry["inclusionProof"]["checkpoint"]["envelope"]);
        let origin = s(&exp["origin"]);

        // Every log of the trusted root: its logId is the key hash of its key.
        let mut log = None;
        for t in root["tlogs"].as_array().unwrap() {
            let spki = b64(&t["publicKey"]["rawBytes"]);
            let host = s(&t["baseUrl"]).strip_prefix("https://").unwrap();
            let key_id = match s(&t["publicKey"]["keyDetails"]) {
                "PKIX_ED25519" => {
                    let key = ed25519_dalek::VerifyingKey::from_public_key_der(&spki).unwrap();
                    if host == origin {
                        log = Some(Ed25519Verifier::new(host, key));
                    }
                    note::key_hash(host, note::ED25519, key.as_bytes())
                }
                "PKIX_ECDSA_P256_SHA_256" => signer::ecdsa_log_id(
                    &p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap(),
                ),
                other => panic!("{other}"),
            };
            assert_eq!(B64.encode(key_id), s(&t["logId"]["keyId"]), "{case} {host}");
        }
        let log = log.unwrap_or_else(|| panic!("{case}: no trusted log for {origin}"));
        assert_eq!(B64.encode(log.key_hash()), s(&entry["logId"]["keyId"]));
        assert_eq!(B64.encode(log.key_hash()), s(&exp["logIdBase64"]));
        // The vkeys.txt entry of the log, where there is one, is the same key.
        if let Some(k) = vkeys.iter().find(|k| k.verifier().name() == origin) {
            assert_eq!(k, &VKey::Ed25519(log.clone()));
        }
        let witnesses: Vec<&dyn NoteVerifier> = vkeys
            .iter()
            .map(VKey::verifier)
            .filter(|v| v.name() != origin)
            .collect();

        let o = checkpoint::open_c2sp(envelope, &log, &witnesses).unwrap();
        assert_eq!(o.checkpoint.size, exp["treeSize"].as_u64().unwrap());
        assert_eq!(
            B64.encode(o.checkpoint.root.as_bytes()),
            s(&exp["rootHashBase64"])
        );
        assert_eq!(
            B64.encode(leaf_hash(&b64(&entry["canonicalizedBody"])).as_bytes()),
            s(&exp["leafHashBase64"])
        );
        // Every expected line: known keys verified (cosignatures with their timestamp), the
        // unknown witness ignored.
        let lines = exp["signatureLines"].as_array().unwrap();
        assert_eq!(o.note.note.signatures.len(), lines.len());
        for (line, sig) in lines.iter().zip(&o.note.note.signatures) {
            assert_eq!(sig.name, s(&line["keyName"]));
            assert_eq!(format!("{:08x}", sig.key_id), s(&line["keyIdHex"]));
            assert_eq!(
                sig.signature.len() + 4,
                line["sigBytes"].as_u64().unwrap() as usize
            );
            let known = vkeys.iter().find(|k| k.verifier().name() == sig.name);
            assert_eq!(
                o.note.is_signed_by(&sig.name, sig.key_id),
                known.is_some() || sig.name == origin,
                "{case} {}",
                sig.name
            );
            if let Some(ts) = line.get("cosignatureTimestamp") {
                assert_eq!(CosignatureVerifier::timestamp(&sig.signature), ts.as_u64());
                if let Some(VKey::Cosignature(c)) = known {
                    assert_eq!(
                        c.verify_timestamp(o.note.text().as_bytes(), &sig.signature),
                        ts.as_u64()
                    );
                    cosignatures_checked += 1;
                    // A known witness's broken cosignature rejects the checkpoint; unknown,
                    // the same bytes are ignored.
                    let broken = envelope.replacen(
                        &B64.encode([sig.key_id.to_be_bytes().as_slice(), &sig.signature].concat()),
                        &B64.encode(
                            [
                                sig.key_id.to_be_bytes().as_slice(),
                                &flip(&sig.signature, 40, 1),
                            ]
                            .concat(),
                        ),
                        1,
                    );
                    assert_ne!(broken, envelope);
                    assert!(matches!(
                        checkpoint::verify_c2sp(&broken, &log, &witnesses),
                        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
                    ));
                    assert!(checkpoint::verify_c2sp(&broken, &log, &[]).is_ok());
                }
            }
        }
        if case == "rekor2-checkpoint-cosigned" {
            let ignored: Vec<_> = o.note.unverified_signatures().map(|s| &s.name).collect();
            assert_eq!(ignored, ["witness.example"]);
        }
    }
    assert_eq!(cosignatures_checked, 3, "the three staging witnesses");
}

// ---------------------------------------------------------------------------------------------
// 2. Rekor v1 worked example (rekor-v1-api.md §8.3, §13)

const V1_LOG_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7dERsk+qqpuY3a7Vfn37Ds57FwA9
IWsvGyHHnwcKwUwwRXRiVqsIpBHyVnJPn5Fh3jjXDJCf76aVKu1TluV3NA==
-----END PUBLIC KEY-----
";
const V1_CHECKPOINT: &str = "rekor.example.internal - 4630381577432197617\n3\nguPRkdhNtU+hquwJqf1C5KDa2G3hUwcvH6u2+RBaD9o=\n\n\u{2014} rekor.example.internal GGSglzBFAiEA10NwypB1leS4i6WFuOBe56AN/GESAClraW9ZmIKkgYgCIDkEh5MRKN/mN9uzmhmHLgEx4UDSs2nqcZi4DLdvO2TN\n";
const V1_HOST: &str = "rekor.example.internal";
const V1_LOG_ID: &str = "1864a097552ec77315f83334a9f02f9ed3e3e2183afc3660c768e6f9ac1fb7e9";
/// The canonical body of §13 (557 bytes), base64.
const V1_BODY: &str = "eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiaGFzaGVkcmVrb3JkIiwic3BlYyI6eyJkYXRhIjp7Imhhc2giOnsiYWxnb3JpdGhtIjoic2hhMjU2IiwidmFsdWUiOiJhNDFmNWFmZWRkYTNlODI2YWE4ZDBjMDhmMmYxZWJkZGExNjg5M2EwMzcwYjFkZjJjZWJmYzg3ZDY4ZTFlYTkxIn19LCJzaWduYXR1cmUiOnsiY29udGVudCI6Ik1FWUNJUUN4eThBSGhLa1p2aGRVMVQ1NzVVNlRjbXZZeGc3NGE3MitmazhjTDZHWDVRSWhBTWh0YTNCQmQ1dWVoVkk3bzAyY2Izd20xQUFtOFpua3A1ZDBWaWJ6S0ZSZiIsInB1YmxpY0tleSI6eyJjb250ZW50IjoiTFMwdExTMUNSVWRKVGlCUVZVSk1TVU1nUzBWWkxTMHRMUzBLVFVacmQwVjNXVWhMYjFwSmVtb3dRMEZSV1VsTGIxcEplbW93UkVGUlkwUlJaMEZGWTJFMU4xRmFVVmhxTkVRemFrUm9VSEJqV0d0dlQweHZiRTVPVUFwaWEwZFBTQzlGT1ZoVlpXcFJlRTgwU0dKbk5FRXZhVUZHS3psQllYaFBRbkJYTVRFMk5qZE5VMGRqVDNaS2RVdzBiaXN5VVVwU1RraFJQVDBLTFMwdExTMUZUa1FnVUZWQ1RFbERJRXRGV1MwdExTMHRDZz09In19fX0=";
const V1_SET: &str = "MEQCIB9D3OlYBU5e9na7M6VMf1iPt1Br+UAMrhgiE6eq9D41AiBPp1//jv7qxoK91Zll7apmyU4zsQ8eC4pCjFmxMzR/Tg==";

#[test]
fn rekor_v1_worked_example() {
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(V1_LOG_KEY).unwrap();
    assert_eq!(hex::encode(signer::ecdsa_log_id(&key)), V1_LOG_ID);
    assert_eq!(checkpoint::v1_key_hint(&key), 0x1864a097);

    let cp = checkpoint::verify_v1(V1_CHECKPOINT, &key, V1_HOST).unwrap();
    assert_eq!(cp.origin, "rekor.example.internal - 4630381577432197617");
    assert_eq!(cp.size, 3);
    assert_eq!(
        hex::encode(cp.root.as_bytes()),
        "82e3d191d84db54fa1aaec09a9fd42e4a0dad86de153072f1fabb6f9105a0fda"
    );
    assert_eq!(cp.to_text().len(), 92, "the signed bytes");
    let n = note::parse(V1_CHECKPOINT.as_bytes()).unwrap();
    assert_eq!(n.signatures[0].key_id, 0x1864a097);
    assert_eq!(n.signatures[0].signature.len(), 71);

    // Another hostname, another key, or the C2SP key-ID rule: refused.
    assert!(matches!(
        checkpoint::verify_v1(V1_CHECKPOINT, &key, "other.internal"),
        Err(CheckpointError::WrongKey(_))
    ));
    let other = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
    assert!(matches!(
        checkpoint::verify_v1(V1_CHECKPOINT, other.verifying_key(), V1_HOST),
        Err(CheckpointError::WrongKey(_))
    ));
    assert_every_byte_matters(V1_CHECKPOINT, |b| {
        std::str::from_utf8(b).is_ok_and(|t| checkpoint::verify_v1(t, &key, V1_HOST).is_ok())
    });

    // The SET of the entry at virtual index 2 verifies over the JCS payload, and over nothing
    // else.
    let body = B64.decode(V1_BODY).unwrap();
    assert_eq!(body.len(), 557);
    assert_eq!(
        hex::encode(leaf_hash(&body).as_bytes()),
        "7c830c08cf173c28109c7fb9caa2814d1978fd06b9813d47a51096fa5f12ec09"
    );
    let payload = signer::set_payload(V1_BODY, 1_767_225_600, V1_LOG_ID, 2);
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        format!(
            r#"{{"body":"{V1_BODY}","integratedTime":1767225600,"logID":"{V1_LOG_ID}","logIndex":2}}"#
        )
    );
    let set = B64.decode(V1_SET).unwrap();
    assert!(signer::verify_set(
        &key,
        V1_BODY,
        1_767_225_600,
        V1_LOG_ID,
        2,
        &set
    ));
    for (body, t, id, index) in [
        (V1_BODY, 1_767_225_601, V1_LOG_ID, 2),
        (V1_BODY, 1_767_225_600, V1_LOG_ID, 3),
        (V1_BODY, 1_767_225_600, &V1_LOG_ID.to_uppercase(), 2),
        (&V1_BODY[4..], 1_767_225_600, V1_LOG_ID, 2),
    ] {
        assert!(!signer::verify_set(&key, body, t, id, index, &set));
    }
    for i in 0..set.len() {
        assert!(!signer::verify_set(
            &key,
            V1_BODY,
            1_767_225_600,
            V1_LOG_ID,
            2,
            &flip(&set, i, 1)
        ));
    }
    assert!(!signer::verify_set(
        other.verifying_key(),
        V1_BODY,
        1_767_225_600,
        V1_LOG_ID,
        2,
        &set
    ));
}

// ---------------------------------------------------------------------------------------------
// 3. Our own signatures: layout, round trips, mutations

fn fixed_keys() -> LogKeys {
    LogKeys::from_keys(
        p256::ecdsa::SigningKey::from_slice(&Sha256::digest("notes test ecdsa")).unwrap(),
        seed_key("notes test ed25519"),
    )
    .unwrap()
}

#[test]
fn our_v1_checkpoints_have_the_exact_layout_and_every_byte_matters() {
    let keys = fixed_keys();
    let vk = keys.ecdsa_verifying_key();
    let root = leaf_hash(b"root");
    let cp = Checkpoint {
        origin: "log.test:3000 - 42".into(),
        size: 1234,
        root,
    };
    let signed = checkpoint::sign_v1(&cp, "log.test:3000", &keys);
    // text, blank line, "— log.test:3000 " base64(hint ‖ DER), newline; nothing else.
    let head = format!(
        "log.test:3000 - 42\n1234\n{}\n\n\u{2014} log.test:3000 ",
        B64.encode(root.as_bytes())
    );
    let blob_b64 = signed
        .strip_prefix(&head)
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{signed:?}"));
    let blob = B64.decode(blob_b64).unwrap();
    assert_eq!(blob[..4], keys.key_hint());
    assert_eq!(keys.key_hint(), keys.log_id()[..4]);
    let der = p256::ecdsa::Signature::from_der(&blob[4..]).unwrap();
    p256::ecdsa::signature::Verifier::verify(vk, cp.to_text().as_bytes(), &der).unwrap();
    assert_eq!(
        checkpoint::verify_v1(&signed, vk, "log.test:3000").unwrap(),
        cp
    );

    assert_every_byte_matters(&signed, |b| {
        std::str::from_utf8(b)
            .is_ok_and(|t| checkpoint::verify_v1(t, vk, "log.test:3000").is_ok_and(|c| c == cp))
    });
    // A second signature line, even an identical valid one, is refused.
    let line = &signed[signed.find("\n\n").unwrap() + 2..];
    let twice = format!("{signed}{line}");
    assert!(matches!(
        checkpoint::verify_v1(&twice, vk, "log.test:3000"),
        Err(CheckpointError::Malformed(_))
    ));
    // Another key; the name of the full origin; a C2SP-style key ID.
    let other = LogKeys::generate();
    assert!(checkpoint::verify_v1(&signed, other.ecdsa_verifying_key(), "log.test:3000").is_err());
    assert!(checkpoint::verify_v1(&signed, vk, "log.test").is_err());
    let renamed = checkpoint::sign_v1(&cp, "log.test:3001", &keys);
    assert!(checkpoint::verify_v1(&renamed, vk, "log.test:3000").is_err());
    // The origin must be "<hostname> - <tree ID>".
    for origin in [
        "log.test:3000",
        "log.test:3000 - ",
        "log.test:3000 - 4x",
        "other - 42",
    ] {
        let cp = Checkpoint {
            origin: origin.into(),
            ..cp.clone()
        };
        let signed = checkpoint::sign_v1(&cp, "log.test:3000", &keys);
        assert!(
            matches!(
                checkpoint::verify_v1(&signed, vk, "log.test:3000"),
                Err(CheckpointError::WrongOrigin { .. })
            ),
            "{origin}"
        );
    }
    // ECDSA is randomised: two signatures differ, both verify.
    let again = checkpoint::sign_v1(&cp, "log.test:3000", &keys);
    assert_ne!(again, signed);
    assert!(checkpoint::verify_v1(&again, vk, "log.test:3000").is_ok());
}

#[test]
fn our_c2sp_checkpoints_roundtrip_and_every_byte_matters() {
    let keys = fixed_keys();
    let cp = Checkpoint {
        origin: "log.test:3000".into(),
        size: 7,
        root: leaf_hash(b"root"),
    };
    let signed = checkpoint::sign_c2sp(&cp, &keys);
    let signer = keys.ed25519_note_signer("log.test:3000").unwrap();
    assert_eq!(note::sign(&cp.to_text(), &[&signer]).unwrap(), signed);
    let verifier = keys.ed25519_verifier("log.test:3000");
    assert_eq!(verifier.key_hash(), keys.checkpoint_key_id("log.test:3000"));
    assert_eq!(
        checkpoint::verify_c2sp(&signed, &verifier, &[]).unwrap(),
        cp
    );
    assert_every_byte_matters(&signed, |b| {
        std::str::from_utf8(b)
            .is_ok_and(|t| checkpoint::verify_c2sp(t, &verifier, &[]).is_ok_and(|c| c == cp))
    });
    // The vkey parses back to the same verifier.
    assert_eq!(vkey(&verifier.vkey()), VKey::Ed25519(verifier.clone()));
    // Wrong key, wrong name, origin not the key name.
    let other = LogKeys::generate().ed25519_verifier("log.test:3000");
    assert!(checkpoint::verify_c2sp(&signed, &other, &[]).is_err());
    let renamed = keys.ed25519_verifier("log.test:3001");
    assert!(checkpoint::verify_c2sp(&signed, &renamed, &[]).is_err());
    let mismatched =
        checkpoint::sign_note(&cp, &[&keys.ed25519_note_signer("elsewhere").unwrap()]).unwrap();
    assert!(matches!(
        checkpoint::verify_c2sp(&mismatched, &keys.ed25519_verifier("elsewhere"), &[]),
        Err(CheckpointError::WrongOrigin { .. })
    ));

    // A witness cosigns; a checkpoint with both lines opens with both keys, or with the log's.
    let witness = Cosigner::new("witness.test/w", seed_key("witness"), 1_800_000_000).unwrap();
    let cosigned = format!(
        "{signed}{}",
        note::signature_line(
            witness.name(),
            witness.key_id(),
            &witness.sign(cp.to_text().as_bytes()).unwrap()
        )
    );
    let wv = witness.verifier();
    let o = checkpoint::open_c2sp(&cosigned, &verifier, &[&wv]).unwrap();
    assert_eq!(o.note.verified, vec![0, 1]);
    assert_eq!(
        note::sign(&cp.to_text(), &[&signer, &witness]).unwrap(),
        cosigned
    );
    // (Every byte of a cosigned checkpoint: see constructed_witness_cosignature.)
}

#[test]
fn ed25519_signatures_of_a_wrong_type_do_not_pass_as_cosignatures() {
    // A plain Ed25519 key and a cosigner sharing key material have different key IDs, so one's
    // line never verifies as the other's.
    let k = seed_key("shared");
    let plain = Ed25519Signer::new("w", k.clone()).unwrap();
    let cosigner = Cosigner::new("w", k, 5).unwrap();
    let by_plain = note::sign("t\n", &[&plain]).unwrap();
    assert_eq!(
        note::open(by_plain.as_bytes(), &[&cosigner.verifier()]),
        Err(NoteError::UnverifiedNote)
    );
    // A cosignature line's bytes under the plain key's ID: a bad signature of a known key.
    let sig = cosigner.sign(b"t\n").unwrap();
    let forged = format!("t\n\n{}", note::signature_line("w", plain.key_id(), &sig));
    assert!(matches!(
        note::open(forged.as_bytes(), &[&plain.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// 4. Properties

fn origin_strategy() -> impl Strategy<Value = String> {
    // Valid key names (no whitespace, no '+'), including non-ASCII.
    "[a-zA-Z0-9./:_~é\u{2014}-]{1,60}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn checkpoint_text_roundtrips(
        origin in "[^\\x00-\\x1f\\x7f]{1,60}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
    ) {
        let cp = Checkpoint { origin, size, root: Hash(root) };
        let text = cp.to_text();
        prop_assert_eq!(Checkpoint::parse(&text), Ok(cp.clone()));
        prop_assert_eq!(Checkpoint::parse(&format!("{text}ext\n")), Ok(cp));
    }

    #[test]
    fn signed_checkpoints_roundtrip(
        origin in origin_strategy(),
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        seed in any::<[u8; 32]>(),
    ) {
        let cp = Checkpoint { origin, size, root: Hash(root) };
        let signer = Ed25519Signer::new(&cp.origin, ed25519_dalek::SigningKey::from_bytes(&seed)).unwrap();
        let signed = checkpoint::sign_note(&cp, &[&signer]).unwrap();
        prop_assert_eq!(checkpoint::verify_c2sp(&signed, &signer.verifier(), &[]), Ok(cp.clone()));
        let parsed = vkey(&signer.vkey());
        prop_assert_eq!(parsed.verifier().key_id(), signer.key_id());
        let n = note::parse(signed.as_bytes()).unwrap();
        prop_assert_eq!(note::format(&n).unwrap(), signed);
    }

    #[test]
    fn parsers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = note::parse(&bytes);
        if let Ok(t) = std::str::from_utf8(&bytes) {
            let _ = Checkpoint::parse(t);
            let _ = note::parse_vkey(t);
            let _ = note::parse_go_private_key(t);
        }
    }

    #[test]
    fn parsers_never_panic_on_note_shaped_text(
        lines in proptest::collection::vec("(\u{2014} )?[a-zA-Z0-9+/= \u{2014}\u{a0}]{0,40}", 0..8),
        blank in any::<bool>(),
    ) {
        let mut t = lines.join("\n");
        if blank { t.insert(t.find('\n').unwrap_or(0), '\n'); }
        t.push('\n');
        let _ = note::parse(t.as_bytes());
        let _ = note::open(t.as_bytes(), &[]);
        let _ = Checkpoint::parse(&t);
        let keys_unused: [&dyn NoteVerifier; 0] = [];
        let _ = checkpoint::verify_c2sp(&t, &Ed25519Verifier::new("a", seed_key("a").verifying_key()), &keys_unused);
    }
}
