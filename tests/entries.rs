//! Tests of `arkivo_core::entries` (rekor-v1-api.md §3.1, §5, §6, §7, §10.1, §13): the worked
//! examples byte for byte, every key type signed here with RustCrypto, certificates and chains
//! from `tests/fixtures/entries/` (see its README), every refusal with its variant and message,
//! and property tests that no input panics.

mod common;

use arkivo_core::entries::{self, CanonicalEntry, EntryError, Kind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE, URL_SAFE_NO_PAD};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rand_core::OsRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};

// ------------------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/entries/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const ARTIFACT: &[u8] = b"hello, rekor\n";

fn digest(alg: &str, data: &[u8]) -> Vec<u8> {
    match alg {
        "sha256" => Sha256::digest(data).to_vec(),
        "sha384" => Sha384::digest(data).to_vec(),
        "sha512" => Sha512::digest(data).to_vec(),
        _ => unreachable!(),
    }
}

/// A signing key of any type Rekor verifies.
enum Signer {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
    Ed25519(ed25519_dalek::SigningKey),
}

impl Signer {
    fn p256() -> Signer {
        Signer::P256(p256::ecdsa::SigningKey::random(&mut OsRng))
    }
    fn p384() -> Signer {
        Signer::P384(p384::ecdsa::SigningKey::random(&mut OsRng))
    }
    fn p521() -> Signer {
        Signer::P521(p521::ecdsa::SigningKey::random(&mut OsRng))
    }
    /// RSA keys come from fixtures: generating them in a debug build takes too long.
    fn rsa(bits: usize) -> Signer {
        let pem = fixture(&format!("rsa{bits}.key"));
        Signer::Rsa(Box::new(rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()))
    }
    fn ed25519() -> Signer {
        Signer::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    fn public_pem(&self) -> String {
        let lf = LineEnding::LF;
        match self {
            Signer::P256(k) => k.verifying_key().to_public_key_pem(lf).unwrap(),
            Signer::P384(k) => k.verifying_key().to_public_key_pem(lf).unwrap(),
            Signer::P521(k) => {
                let point = p521::ecdsa::VerifyingKey::from(k).to_encoded_point(false);
                p521::PublicKey::from_sec1_bytes(point.as_bytes())
                    .unwrap()
                    .to_public_key_pem(lf)
                    .unwrap()
            }
            Signer::Rsa(k) => k.to_public_key().to_public_key_pem(lf).unwrap(),
            Signer::Ed25519(k) => k.verifying_key().to_public_key_pem(lf).unwrap(),
        }
    }

    /// Signs a given digest as hashedrekord clients do (ECDSA DER, RSA PKCS#1 v1.5, Ed25519ph).
    fn sign_digest(&self, alg: &str, d: &[u8]) -> Vec<u8> {
        self.sign_digest_fmt(alg, d, false)
    }

    /// ECDSA as raw IEEE P1363 `r ‖ s`.
    fn sign_digest_raw(&self, alg: &str, d: &[u8]) -> Vec<u8> {
        self.sign_digest_fmt(alg, d, true)
    }

    fn sign_digest_fmt(&self, alg: &str, d: &[u8], raw: bool) -> Vec<u8> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        macro_rules! ecdsa {
            ($k:expr, $sig:ty, $d:expr) => {{
                let s: $sig = $k.sign_prehash($d).unwrap();
                if raw {
                    s.to_bytes().to_vec()
                } else {
                    s.to_der().as_bytes().to_vec()
                }
            }};
        }
        match self {
            Signer::P256(k) => ecdsa!(k, p256::ecdsa::Signature, d),
            Signer::P384(k) => ecdsa!(k, p384::ecdsa::Signature, d),
            Signer::P521(k) => {
                // RustCrypto wants at least 33 bytes of prehash for P-521; a left-padded digest
                // is the same integer, which is what ECDSA signs.
                let mut padded = vec![0u8; 66usize.saturating_sub(d.len())];
                padded.extend_from_slice(d);
                ecdsa!(
                    k,
                    p521::ecdsa::Signature,
                    if d.len() < 33 { &padded } else { d }
                )
            }
            Signer::Rsa(k) => {
                let scheme = match alg {
                    "sha256" => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    "sha384" => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    _ => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                k.sign(scheme, d).unwrap()
            }
            Signer::Ed25519(_) => panic!("Ed25519ph signs a message: use sign_ed25519ph"),
        }
    }

    /// Ed25519ph over `msg` (RFC 8032, empty context); the client sends SHA-512(msg).
    fn sign_ed25519ph(&self, msg: &[u8]) -> Vec<u8> {
        let Signer::Ed25519(k) = self else {
            panic!("not Ed25519")
        };
        k.sign_prehashed(Sha512::new_with_prefix(msg), None)
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    /// A DSSE signature over PAE bytes: SHA-256 for ECDSA and RSA, pure Ed25519.
    fn sign_dsse(&self, pae: &[u8]) -> Vec<u8> {
        match self {
            Signer::Ed25519(k) => ed25519_dalek::Signer::sign(k, pae).to_bytes().to_vec(),
            other => other.sign_digest("sha256", &Sha256::digest(pae)),
        }
    }
}

fn hashedrekord(alg: &str, value: &str, sig_b64: &str, pem_b64: &str) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": alg, "value": value}},
            "signature": {"content": sig_b64, "publicKey": {"content": pem_b64}}
        }
    })
}

/// A valid hashedrekord request for ARTIFACT signed by `signer` with digest `alg`.
fn signed(signer: &Signer, alg: &str) -> Value {
    let d = digest(alg, ARTIFACT);
    let sig = match signer {
        Signer::Ed25519(_) => signer.sign_ed25519ph(ARTIFACT),
        _ => signer.sign_digest(alg, &d),
    };
    hashedrekord(
        alg,
        &hex::encode(&d),
        &B64.encode(sig),
        &B64.encode(signer.public_pem()),
    )
}

fn invalid(result: Result<CanonicalEntry, EntryError>) -> String {
    match result {
        Err(e @ EntryError::Invalid(_)) => {
            assert_eq!((e.status(), e.code()), (400, 400));
            e.to_string()
        }
        other => panic!("expected EntryError::Invalid, got {other:?}"),
    }
}

const SIG_INVALID_ECDSA: &str = "error processing entry: verifying signature: invalid signature when validating ASN.1 encoded signature";
const SIG_INVALID_RSA: &str =
    "error processing entry: verifying signature: crypto/rsa: verification error";
const SIG_INVALID_ED25519PH: &str = "error processing entry: verifying signature: failed to verify signature: ed25519: invalid signature";
const NOT_ALLOWED: &str = "error processing entry: entry algorithms are not allowed";

/// RFC 8785 canonical form of a JSON value without numbers (an independent implementation).
fn jcs(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut members: Vec<(&String, &Value)> = m.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            let inner: Vec<String> = members
                .into_iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), jcs(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(jcs).collect::<Vec<_>>().join(",")),
        Value::String(s) => serde_json::to_string(s).unwrap(),
        other => panic!("canonical bodies carry no {other}"),
    }
}

/// Every invariant of an accepted entry: JCS body, leaf hash, keys normalised and re-derivable.
fn check_entry(e: &CanonicalEntry) {
    let parsed: Value = serde_json::from_slice(&e.body).unwrap();
    assert_eq!(
        jcs(&parsed).as_bytes(),
        e.body.as_slice(),
        "body is not JCS"
    );
    let mut leaf = Sha256::new();
    leaf.update([0u8]);
    leaf.update(&e.body);
    assert_eq!(e.leaf_hash.0, <[u8; 32]>::from(leaf.finalize()));
    let mut sorted = e.index_keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, e.index_keys);
    assert!(e.index_keys.iter().all(|k| k.to_lowercase() == *k));
    let rederived = entries::index_keys_of_body(&e.body).unwrap();
    if matches!(e.kind, Kind::HashedRekord | Kind::Rekord) {
        assert_eq!(rederived, e.index_keys);
    } else {
        assert!(rederived.iter().all(|k| e.index_keys.contains(k)));
    }
    assert_eq!(entries::kind_of_body(&e.body).unwrap().0, e.kind);
}

// ------------------------------------------------------------------------------------------------
// Worked examples (§13, §13.1)

const EXAMPLE_PEM_B64: &str = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFY2E1N1FaUVhqNEQzakRoUHBjWGtvT0xvbE5OUApia0dPSC9FOVhVZWpReE80SGJnNEEvaUFGKzlBYXhPQnBXMTE2NjdNU0djT3ZKdUw0bisyUUpSTkhRPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg==";
const EXAMPLE_SIG_B64: &str = "MEYCIQCxy8AHhKkZvhdU1T575U6TcmvYxg74a72+fk8cL6GX5QIhAMhta3BBd5uehVI7o02cb3wm1AAm8Znkp5d0VibzKFRf";
const EXAMPLE_DIGEST: &str = "a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91";

const EXAMPLE_REQUEST: &str = r#"{
  "apiVersion": "0.0.1",
  "kind": "hashedrekord",
  "spec": {
    "data": {"hash": {"algorithm": "sha256",
                      "value": "a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91"}},
    "signature": {
      "content": "MEYCIQCxy8AHhKkZvhdU1T575U6TcmvYxg74a72+fk8cL6GX5QIhAMhta3BBd5uehVI7o02cb3wm1AAm8Znkp5d0VibzKFRf",
      "publicKey": {"content": "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFY2E1N1FaUVhqNEQzakRoUHBjWGtvT0xvbE5OUApia0dPSC9FOVhVZWpReE80SGJnNEEvaUFGKzlBYXhPQnBXMTE2NjdNU0djT3ZKdUw0bisyUUpSTkhRPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg=="}
    }
  }
}"#;

const EXAMPLE_BODY: &str = r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91"}},"signature":{"content":"MEYCIQCxy8AHhKkZvhdU1T575U6TcmvYxg74a72+fk8cL6GX5QIhAMhta3BBd5uehVI7o02cb3wm1AAm8Znkp5d0VibzKFRf","publicKey":{"content":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFY2E1N1FaUVhqNEQzakRoUHBjWGtvT0xvbE5OUApia0dPSC9FOVhVZWpReE80SGJnNEEvaUFGKzlBYXhPQnBXMTE2NjdNU0djT3ZKdUw0bisyUUpSTkhRPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg=="}}}}"#;

#[test]
fn worked_example_hashedrekord() {
    let e = entries::canonicalize_bytes(EXAMPLE_REQUEST.as_bytes()).unwrap();
    assert_eq!(e.kind, Kind::HashedRekord);
    assert_eq!(e.kind.as_str(), "hashedrekord");
    assert_eq!(e.body.len(), 557);
    assert_eq!(std::str::from_utf8(&e.body).unwrap(), EXAMPLE_BODY);
    assert_eq!(
        hex::encode(e.leaf_hash.0),
        "7c830c08cf173c28109c7fb9caa2814d1978fd06b9813d47a51096fa5f12ec09"
    );
    assert_eq!(
        e.index_keys,
        [
            "cd9c0ceb045142a7579892b4b5dd7d6ca5fa836534a1aaf92aed6ab5eb04d3b6",
            "sha256:a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91",
            "spki:sha256:599b8a1745abbe6c77f8854d2d6a1b3353dfa5260838dd9cf5c7b31d1aafc163",
        ]
    );
    // The parsed-value entry point agrees; the search key of §10.2 is the first key.
    let v: Value = serde_json::from_str(EXAMPLE_REQUEST).unwrap();
    assert_eq!(entries::canonicalize(&v).unwrap(), e);
    let pem = B64.decode(EXAMPLE_PEM_B64).unwrap();
    assert_eq!(
        entries::public_key_index_keys(&pem).unwrap()[1],
        e.index_keys[0]
    );
    check_entry(&e);
    // The stored body is itself a valid request, giving the same entry.
    assert_eq!(entries::canonicalize_bytes(&e.body).unwrap(), e);
}

#[test]
fn worked_example_member_order_and_unknown_members_do_not_matter() {
    let v = json!({
        "spec": {
            "signature": {"publicKey": {"content": EXAMPLE_PEM_B64, "extra": 1},
                          "content": EXAMPLE_SIG_B64, "format": "x509"},
            "data": {"content": "aGVsbG8=", "hash": {"value": EXAMPLE_DIGEST, "algorithm": "sha256"}},
            "other": [1, 2]
        },
        "kind": "hashedrekord",
        "apiVersion": "0.0.1",
        "unknownTopLevel": true
    });
    let e = entries::canonicalize(&v).unwrap();
    assert_eq!(std::str::from_utf8(&e.body).unwrap(), EXAMPLE_BODY);
}

const DSSE_ENVELOPE: &str = r#"{"payloadType":"application/vnd.in-toto+json","payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJzdWJqZWN0IjpbeyJuYW1lIjoiYS50eHQiLCJkaWdlc3QiOnsic2hhMjU2IjoiYTQxZjVhZmVkZGEzZTgyNmFhOGQwYzA4ZjJmMWViZGRhMTY4OTNhMDM3MGIxZGYyY2ViZmM4N2Q2OGUxZWE5MSJ9fV0sInByZWRpY2F0ZVR5cGUiOiJodHRwczovL2V4YW1wbGUuY29tL3AvdjEiLCJwcmVkaWNhdGUiOnt9fQ==","signatures":[{"keyid":"","sig":"MEQCIDnqlYDTcgOJmfxemh+AZA3uxJ/vT19VxGv8wtFPz8EWAiB3yzvX9zl0v7Pg09CfTL4q7kFFJxry+1OfBbwiQkmIgA=="}]}"#;
const DSSE_VERIFIER: &str = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFeVFvWU1nL0V0T0NKVmZ6c250WXJSTlB5c2VoOApTbW1Wc1lEMUhRRkVEZ2JnZzdiL2JJUWIyVkJhdFpobWxjUElaNlR0NWJiOVVBNUlqZmhkbUFHWFN3PT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg==";
const DSSE_BODY: &str = r#"{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"1ef43385ea8017e8c73a43ad89f3993f8c41e726f3ae5ae46761e9b82f7fb99b"},"payloadHash":{"algorithm":"sha256","value":"a5e35191bd2a941575037223e313721b51c1e219c38ef3f8d3c2bb87ae5bd5a2"},"signatures":[{"signature":"MEQCIDnqlYDTcgOJmfxemh+AZA3uxJ/vT19VxGv8wtFPz8EWAiB3yzvX9zl0v7Pg09CfTL4q7kFFJxry+1OfBbwiQkmIgA==","verifier":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFeVFvWU1nL0V0T0NKVmZ6c250WXJSTlB5c2VoOApTbW1Wc1lEMUhRRkVEZ2JnZzdiL2JJUWIyVkJhdFpobWxjUElaNlR0NWJiOVVBNUlqZmhkbUFHWFN3PT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg=="}]}}"#;

fn dsse(envelope: &str, verifiers: &[String]) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope, "verifiers": verifiers}}
    })
}

#[test]
fn worked_example_dsse() {
    let e = entries::canonicalize(&dsse(DSSE_ENVELOPE, &[DSSE_VERIFIER.into()])).unwrap();
    assert_eq!(e.kind, Kind::Dsse);
    assert_eq!(e.kind.as_str(), "dsse");
    assert_eq!(std::str::from_utf8(&e.body).unwrap(), DSSE_BODY);
    assert_eq!(
        hex::encode(e.leaf_hash.0),
        "38019e93efb2b5f00b10f94caab8342a10e739c2d79ea797fd75f14013f8200a"
    );
    assert_eq!(
        e.index_keys,
        [
            "sha256:1ef43385ea8017e8c73a43ad89f3993f8c41e726f3ae5ae46761e9b82f7fb99b",
            "sha256:a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91",
            "sha256:a5e35191bd2a941575037223e313721b51c1e219c38ef3f8d3c2bb87ae5bd5a2",
            "sha256:fb870f7cd776d9e740126fcd35a28701d507642c26d6b7f79b4a24d64650940d",
            "spki:sha256:d247ff2f83137c77fe4480517d07f2561878953024d11b7b59ee4c449817282f",
        ]
    );
    check_entry(&e);
    // Without the envelope, the in-toto subject key cannot be re-derived from the body.
    assert_eq!(entries::index_keys_of_body(&e.body).unwrap().len(), 4);
}

#[test]
fn dsse_envelope_hash_covers_the_exact_envelope_bytes() {
    let spaced = DSSE_ENVELOPE.replacen("{\"payloadType\"", "{ \"payloadType\"", 1);
    let a = entries::canonicalize(&dsse(DSSE_ENVELOPE, &[DSSE_VERIFIER.into()])).unwrap();
    let b = entries::canonicalize(&dsse(&spaced, &[DSSE_VERIFIER.into()])).unwrap();
    assert_ne!(a.leaf_hash, b.leaf_hash);
    let hash = hex::encode(Sha256::digest(spaced.as_bytes()));
    assert!(b.index_keys.contains(&format!("sha256:{hash}")));
}

// ------------------------------------------------------------------------------------------------
// hashedrekord: every key type

#[test]
fn every_key_type_is_accepted() {
    let cases: Vec<(&str, Signer, &str)> = vec![
        ("P-256", Signer::p256(), "sha256"),
        ("P-384", Signer::p384(), "sha384"),
        ("P-521", Signer::p521(), "sha512"),
        ("RSA-2048", Signer::rsa(2048), "sha256"),
        ("RSA-3072", Signer::rsa(3072), "sha256"),
        ("RSA-4096", Signer::rsa(4096), "sha256"),
        ("Ed25519ph", Signer::ed25519(), "sha512"),
    ];
    for (name, signer, alg) in cases {
        let request = signed(&signer, alg);
        let e = entries::canonicalize(&request).unwrap_or_else(|err| panic!("{name}: {err}"));
        check_entry(&e);
        let body: Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(
            body["spec"]["signature"], request["spec"]["signature"],
            "{name}"
        );
        assert_eq!(body["spec"]["data"], request["spec"]["data"], "{name}");
        let key_hash = hex::encode(Sha256::digest(signer.public_pem().as_bytes()));
        let hash_key = format!("{alg}:{}", hex::encode(digest(alg, ARTIFACT)));
        let key = spki_key(&signer.public_pem());
        assert_eq!(e.index_keys, [key_hash, hash_key, key], "{name}");
    }
}

#[test]
fn ecdsa_raw_signatures_are_accepted_and_stored_as_given() {
    for (signer, alg) in [
        (Signer::p256(), "sha256"),
        (Signer::p384(), "sha384"),
        (Signer::p521(), "sha512"),
    ] {
        let d = digest(alg, ARTIFACT);
        let raw = signer.sign_digest_raw(alg, &d);
        let request = hashedrekord(
            alg,
            &hex::encode(&d),
            &B64.encode(&raw),
            &B64.encode(signer.public_pem()),
        );
        let e = entries::canonicalize(&request).unwrap();
        let body: Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(body["spec"]["signature"]["content"], B64.encode(&raw));
        // Odd lengths and bit flips in raw form fail.
        let mut flipped = raw.clone();
        flipped[5] ^= 1;
        for bad in [flipped, raw[..raw.len() - 1].to_vec()] {
            let request = hashedrekord(
                alg,
                &hex::encode(&d),
                &B64.encode(&bad),
                &B64.encode(signer.public_pem()),
            );
            assert_eq!(invalid(entries::canonicalize(&request)), SIG_INVALID_ECDSA);
        }
    }
}

#[test]
fn policy_rejects_disallowed_pairs_after_a_valid_signature() {
    let cases: Vec<(&str, Signer, &str)> = vec![
        ("P-384+sha256", Signer::p384(), "sha256"),
        ("P-384+sha512", Signer::p384(), "sha512"),
        ("P-256+sha384", Signer::p256(), "sha384"),
        ("P-256+sha512", Signer::p256(), "sha512"),
        ("P-521+sha256", Signer::p521(), "sha256"),
        ("RSA-2048+sha512", Signer::rsa(2048), "sha512"),
        ("RSA-2048+sha384", Signer::rsa(2048), "sha384"),
        ("RSA-1024+sha256", Signer::rsa(1024), "sha256"),
    ];
    for (name, signer, alg) in cases {
        let request = signed(&signer, alg);
        assert_eq!(
            invalid(entries::canonicalize(&request)),
            NOT_ALLOWED,
            "{name}"
        );
        // The signature check comes first: with a wrong digest the error is the signature's.
        let mut wrong = request.clone();
        let other = hex::encode(digest(alg, b"something else"));
        wrong["spec"]["data"]["hash"]["value"] = other.into();
        let msg = invalid(entries::canonicalize(&wrong));
        assert!(
            msg.starts_with("error processing entry: verifying signature: "),
            "{name}: {msg}"
        );
    }
}

#[test]
fn ed25519_requires_sha512() {
    let signer = Signer::ed25519();
    for (alg, go) in [("sha256", "SHA-256"), ("sha384", "SHA-384")] {
        let d = digest(alg, ARTIFACT);
        let request = hashedrekord(
            alg,
            &hex::encode(&d),
            &B64.encode([7u8; 64]),
            &B64.encode(signer.public_pem()),
        );
        assert_eq!(
            invalid(entries::canonicalize(&request)),
            format!(
                "error processing entry: verifying signature: unsupported hash algorithm: \"{go}\" not in [SHA-512]"
            )
        );
    }
    // Pure Ed25519 over the artifact is not Ed25519ph.
    let Signer::Ed25519(k) = &signer else {
        unreachable!()
    };
    let pure = ed25519_dalek::Signer::sign(k, ARTIFACT).to_bytes();
    let d = digest("sha512", ARTIFACT);
    let request = hashedrekord(
        "sha512",
        &hex::encode(&d),
        &B64.encode(pure),
        &B64.encode(signer.public_pem()),
    );
    assert_eq!(
        invalid(entries::canonicalize(&request)),
        SIG_INVALID_ED25519PH
    );
}

#[test]
fn wrong_signatures_and_digests_are_rejected() {
    let cases: Vec<(&str, Signer, &str, &str)> = vec![
        ("P-256", Signer::p256(), "sha256", SIG_INVALID_ECDSA),
        ("P-384", Signer::p384(), "sha384", SIG_INVALID_ECDSA),
        ("P-521", Signer::p521(), "sha512", SIG_INVALID_ECDSA),
        ("RSA-2048", Signer::rsa(2048), "sha256", SIG_INVALID_RSA),
        ("RSA-4096", Signer::rsa(4096), "sha256", SIG_INVALID_RSA),
        (
            "Ed25519ph",
            Signer::ed25519(),
            "sha512",
            SIG_INVALID_ED25519PH,
        ),
    ];
    for (name, signer, alg, expected) in cases {
        let good = signed(&signer, alg);
        assert!(entries::canonicalize(&good).is_ok(), "{name}");
        let sig = B64
            .decode(good["spec"]["signature"]["content"].as_str().unwrap())
            .unwrap();
        let value = good["spec"]["data"]["hash"]["value"]
            .as_str()
            .unwrap()
            .to_owned();

        // Every single-bit flip of the signature's first, middle and last bytes.
        for pos in [0, sig.len() / 2, sig.len() - 1] {
            for bit in 0..8 {
                let mut bad = sig.clone();
                bad[pos] ^= 1 << bit;
                let mut r = good.clone();
                r["spec"]["signature"]["content"] = B64.encode(&bad).into();
                assert_eq!(
                    invalid(entries::canonicalize(&r)),
                    expected,
                    "{name} byte {pos} bit {bit}"
                );
            }
        }
        // A digest off by one bit.
        let mut d = hex::decode(&value).unwrap();
        d[0] ^= 0x80;
        let mut r = good.clone();
        r["spec"]["data"]["hash"]["value"] = hex::encode(&d).into();
        assert_eq!(
            invalid(entries::canonicalize(&r)),
            expected,
            "{name} digest"
        );
        // Someone else's key.
        let other = match &signer {
            Signer::P256(_) => Signer::p256(),
            Signer::P384(_) => Signer::p384(),
            Signer::P521(_) => Signer::p521(),
            Signer::Rsa(_) => Signer::rsa(3072),
            Signer::Ed25519(_) => Signer::ed25519(),
        };
        let mut r = good.clone();
        r["spec"]["signature"]["publicKey"]["content"] = B64.encode(other.public_pem()).into();
        assert_eq!(
            invalid(entries::canonicalize(&r)),
            expected,
            "{name} other key"
        );
        // An empty or truncated signature.
        let mut r = good.clone();
        r["spec"]["signature"]["content"] = B64.encode(&sig[..sig.len() - 1]).into();
        assert_eq!(
            invalid(entries::canonicalize(&r)),
            expected,
            "{name} truncated"
        );
    }
}

#[test]
fn rsa_pss_signatures_are_rejected() {
    let Signer::Rsa(key) = Signer::rsa(2048) else {
        unreachable!()
    };
    let d = digest("sha256", ARTIFACT);
    let pss = key
        .sign_with_rng(&mut OsRng, rsa::Pss::new::<Sha256>(), &d)
        .unwrap();
    let pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let request = hashedrekord(
        "sha256",
        &hex::encode(&d),
        &B64.encode(pss),
        &B64.encode(pem),
    );
    assert_eq!(invalid(entries::canonicalize(&request)), SIG_INVALID_RSA);
}

#[test]
fn hash_values_are_checked_and_preserved() {
    let signer = Signer::p256();
    let good = signed(&signer, "sha256");
    let value = good["spec"]["data"]["hash"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [&value[..62], &format!("{value}00"), ""] {
        let mut r = good.clone();
        r["spec"]["data"]["hash"]["value"] = bad.into();
        assert_eq!(
            invalid(entries::canonicalize(&r)),
            "error processing entry: invalid value for hash"
        );
    }
    let mut r = good.clone();
    r["spec"]["data"]["hash"]["value"] = format!("g{}", &value[1..]).into();
    assert_eq!(
        invalid(entries::canonicalize(&r)),
        "error processing entry: encoding/hex: invalid byte: U+0067 'g'"
    );
    // A sha384-long value declared as sha256 is the wrong length.
    let mut r = good.clone();
    r["spec"]["data"]["hash"]["value"] = hex::encode(digest("sha384", ARTIFACT)).into();
    assert_eq!(
        invalid(entries::canonicalize(&r)),
        "error processing entry: invalid value for hash"
    );
    // Upper case is accepted, kept in the body, and lower-cased in the index key.
    let mut r = good.clone();
    r["spec"]["data"]["hash"]["value"] = value.to_uppercase().into();
    let e = entries::canonicalize(&r).unwrap();
    let body: Value = serde_json::from_slice(&e.body).unwrap();
    assert_eq!(body["spec"]["data"]["hash"]["value"], value.to_uppercase());
    assert!(e.index_keys.contains(&format!("sha256:{value}")));
    check_entry(&e);
    // Unknown algorithm.
    let mut r = good.clone();
    r["spec"]["data"]["hash"]["algorithm"] = "sha1".into();
    assert_eq!(
        invalid(entries::canonicalize(&r)),
        "error processing entry: data.hash.algorithm in body should be one of [sha256 sha384 sha512]"
    );
    let mut r = good.clone();
    r["spec"]["data"]["hash"]["algorithm"] = "SHA256".into();
    assert!(invalid(entries::canonicalize(&r)).contains("should be one of"));
}

#[test]
fn missing_spec_members_are_rejected() {
    let good = signed(&Signer::p256(), "sha256");
    type Mutation = fn(&mut Value);
    let cases: [(&str, Mutation); 8] = [
        ("signature in body is required", |v| {
            v["spec"].as_object_mut().unwrap().remove("signature");
        }),
        ("data in body is required", |v| {
            v["spec"].as_object_mut().unwrap().remove("data");
        }),
        ("missing hash", |v| {
            v["spec"]["data"].as_object_mut().unwrap().remove("hash");
        }),
        ("data.hash.algorithm in body is required", |v| {
            v["spec"]["data"]["hash"]
                .as_object_mut()
                .unwrap()
                .remove("algorithm");
        }),
        ("data.hash.value in body is required", |v| {
            v["spec"]["data"]["hash"]
                .as_object_mut()
                .unwrap()
                .remove("value");
        }),
        ("missing public key", |v| {
            v["spec"]["signature"]
                .as_object_mut()
                .unwrap()
                .remove("publicKey");
        }),
        (
            "verifying signature: X509 signature has not been initialized",
            |v| {
                v["spec"]["signature"]["content"] = "".into();
            },
        ),
        ("spec in body must be of type object", |v| {
            v["spec"] = json!([1]);
        }),
    ];
    for (msg, mutate) in cases {
        let mut r = good.clone();
        mutate(&mut r);
        assert_eq!(
            invalid(entries::canonicalize(&r)),
            format!("error processing entry: {msg}")
        );
    }
    let mut r = good.clone();
    r["spec"]["signature"]["publicKey"]["content"] = "".into();
    assert_eq!(
        invalid(entries::canonicalize(&r)),
        "error processing entry: invalid public key: failure decoding PEM"
    );
    let mut r = good.clone();
    r["spec"]["signature"]["content"] = json!(12);
    assert!(invalid(entries::canonicalize(&r)).contains("must be of type string"));
}

// ------------------------------------------------------------------------------------------------
// Top level: JSON, kind, apiVersion

#[test]
fn malformed_json_is_malformed() {
    for bad in [
        &b""[..],
        b"{",
        b"not json",
        b"{\"kind\":\"hashedrekord\",}",
        b"\xff\xfe",
        b"{} {}",
    ] {
        let e = entries::canonicalize_bytes(bad).unwrap_err();
        assert!(matches!(e, EntryError::Malformed(_)), "{bad:?}: {e:?}");
        assert_eq!((e.status(), e.code()), (400, 400));
        assert!(
            e.to_string()
                .starts_with("parsing proposedEntry body from \"\" failed, because ")
        );
    }
    for not_object in ["[]", "1", "\"hashedrekord\"", "null", "true"] {
        let e = entries::canonicalize_bytes(not_object.as_bytes()).unwrap_err();
        assert!(matches!(e, EntryError::Malformed(_)), "{not_object}: {e:?}");
    }
    let e =
        entries::canonicalize_bytes(br#"{"kind":5,"apiVersion":"0.0.1","spec":{}}"#).unwrap_err();
    assert!(matches!(e, EntryError::Malformed(_)));
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| {
        format!(
            r#"{{"kind":"hashedrekord","x":{}1{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let limit = arkivo_core::limits::MAX_JSON_DEPTH;
    let e = entries::canonicalize_bytes(deep(limit).as_bytes()).unwrap_err();
    assert!(matches!(e, EntryError::Malformed(_)));
    assert!(e.to_string().contains("nested deeper"), "{e}");
    // Just inside the limit, the document parses (and then fails for its missing apiVersion).
    let e = entries::canonicalize_bytes(deep(limit - 1).as_bytes()).unwrap_err();
    assert_eq!(e, EntryError::MissingApiVersion);
    // Far beyond any parser's recursion limit: still a clean error.
    let e = entries::canonicalize_bytes(deep(1_000_000).as_bytes()).unwrap_err();
    assert!(matches!(e, EntryError::Malformed(_)));
}

#[test]
fn kind_and_api_version_errors() {
    let spec = json!({});
    let e = entries::canonicalize(&json!({"apiVersion": "0.0.1", "spec": spec})).unwrap_err();
    assert_eq!(e, EntryError::MissingKind);
    assert_eq!(
        (e.status(), e.code(), e.to_string().as_str()),
        (422, 602, "kind in body is required")
    );
    assert_eq!(
        entries::canonicalize(&json!({"kind": "", "spec": {}})).unwrap_err(),
        EntryError::MissingKind
    );
    assert_eq!(
        entries::canonicalize(&json!({"kind": null})).unwrap_err(),
        EntryError::MissingKind
    );

    let e = entries::canonicalize(&json!({"kind": "foo", "apiVersion": "0.0.1", "spec": {}}))
        .unwrap_err();
    assert_eq!(e, EntryError::UnknownKind("foo".into()));
    assert_eq!((e.status(), e.code()), (422, 422));
    assert_eq!(e.to_string(), "invalid kind value: \"foo\"");
    // Kinds are case-sensitive.
    assert!(matches!(
        entries::canonicalize(&json!({"kind": "HashedRekord", "apiVersion": "0.0.1", "spec": {}})),
        Err(EntryError::UnknownKind(_))
    ));

    for other in ["alpine", "cose", "helm", "jar", "rfc3161", "rpm", "tuf"] {
        let e = entries::canonicalize(&json!({"kind": other, "apiVersion": "0.0.1", "spec": {}}))
            .unwrap_err();
        assert_eq!(e, EntryError::KindNotEnabled(other.into()));
        assert_eq!((e.status(), e.code()), (400, 400));
        assert_eq!(
            e.to_string(),
            format!(
                "error processing entry: entry kind '{other}' is not enabled for submission on this server"
            )
        );
    }

    let e = entries::canonicalize(&json!({"kind": "hashedrekord", "spec": {}})).unwrap_err();
    assert_eq!(e, EntryError::MissingApiVersion);
    assert_eq!(
        (e.status(), e.code(), e.to_string().as_str()),
        (422, 602, "apiVersion in body is required")
    );

    let e = entries::canonicalize(&json!({"kind": "hashedrekord", "apiVersion": "v1", "spec": {}}))
        .unwrap_err();
    assert!(matches!(e, EntryError::InvalidApiVersion(_)));
    assert_eq!((e.status(), e.code()), (422, 605));
    assert!(
        e.to_string()
            .starts_with("apiVersion in body should match '^(0|[1-9]")
    );

    let e =
        entries::canonicalize(&json!({"kind": "hashedrekord", "apiVersion": "0.0.1"})).unwrap_err();
    assert_eq!(e, EntryError::MissingSpec);
    assert_eq!((e.status(), e.code()), (422, 602));

    for kind in ["hashedrekord", "dsse"] {
        let e = entries::canonicalize(&json!({"kind": kind, "apiVersion": "0.0.2", "spec": {}}))
            .unwrap_err();
        assert_eq!(
            e,
            EntryError::UnsupportedVersion {
                kind: kind.into(),
                version: "0.0.2".into()
            }
        );
        assert_eq!((e.status(), e.code()), (400, 400));
        assert_eq!(
            e.to_string(),
            format!(
                "error processing entry: {kind} implementation for version '0.0.2' not found: unable to locate entry for version 0.0.2"
            )
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Base64 and PEM input rules (§5.1)

#[test]
fn base64_input_rules() {
    let signer = Signer::p256();
    let good = signed(&signer, "sha256");
    let reference = entries::canonicalize(&good).unwrap();
    let sig_b64 = good["spec"]["signature"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let pem_b64 = good["spec"]["signature"]["publicKey"]["content"]
        .as_str()
        .unwrap()
        .to_owned();

    // CR/LF anywhere are ignored, and vanish from the canonical body.
    let wrapped = |s: &str| {
        s.as_bytes()
            .chunks(10)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n")
            + "\n"
    };
    let mut r = good.clone();
    r["spec"]["signature"]["content"] = wrapped(&sig_b64).into();
    r["spec"]["signature"]["publicKey"]["content"] = wrapped(&pem_b64).into();
    assert_eq!(entries::canonicalize(&r).unwrap(), reference);

    // URL-safe and unpadded input is refused, with Go's byte offset.
    let sig = B64.decode(&sig_b64).unwrap();
    let url = URL_SAFE.encode(&sig);
    let expected_at = url.find(['-', '_']);
    let mut r = good.clone();
    r["spec"]["signature"]["content"] = url.clone().into();
    if let Some(at) = expected_at {
        assert_eq!(
            invalid(entries::canonicalize(&r)),
            format!(
                "error processing entry: failed parsing base64 data for signature content: illegal base64 data at input byte {at}"
            )
        );
    }
    let mut r = good.clone();
    r["spec"]["signature"]["content"] = "MEUCIQ-_".into();
    assert_eq!(
        invalid(entries::canonicalize(&r)),
        "error processing entry: failed parsing base64 data for signature content: illegal base64 data at input byte 6"
    );
    let unpadded = URL_SAFE_NO_PAD.encode(b"12345");
    let mut r = good.clone();
    r["spec"]["signature"]["content"] = unpadded.into();
    assert_eq!(
        invalid(entries::canonicalize(&r)),
        "error processing entry: failed parsing base64 data for signature content: illegal base64 data at input byte 4"
    );
    let mut r = good.clone();
    r["spec"]["signature"]["publicKey"]["content"] = format!("{pem_b64}=").into();
    assert!(invalid(entries::canonicalize(&r)).starts_with(
        "error processing entry: failed parsing base64 data for public key content: illegal base64 data at input byte"
    ));
    let mut r = good.clone();
    r["spec"]["signature"]["publicKey"]["content"] = pem_b64.replace('=', "").into();
    assert!(
        invalid(entries::canonicalize(&r))
            .contains("failed parsing base64 data for public key content")
    );

    // Oversized signatures are refused before verification.
    let mut r = good.clone();
    r["spec"]["signature"]["content"] = B64
        .encode(vec![1u8; arkivo_core::limits::MAX_SIGNATURE_BYTES + 1])
        .into();
    assert!(invalid(entries::canonicalize(&r)).contains("larger than"));
}

fn with_pem(good: &Value, pem: &str) -> Value {
    let mut r = good.clone();
    r["spec"]["signature"]["publicKey"]["content"] = B64.encode(pem).into();
    r
}

#[test]
fn pem_input_rules() {
    let signer = Signer::p256();
    let good = signed(&signer, "sha256");
    let reference = entries::canonicalize(&good).unwrap();
    let pem = signer.public_pem();

    // Whitespace around the block, CRLF line ends and non-64 line wrapping are accepted and
    // re-encoded canonically.
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let rewrapped = format!(
        "-----BEGIN PUBLIC KEY-----\r\n{}\r\n{}\r\n-----END PUBLIC KEY-----\r\n",
        &der_b64[..76],
        &der_b64[76..]
    );
    for variant in [
        format!("\n\n  {pem}\n\n"),
        pem.replace('\n', "\r\n"),
        rewrapped,
        pem.trim_end().to_owned(),
    ] {
        assert_eq!(
            entries::canonicalize(&with_pem(&good, &variant)).unwrap(),
            reference,
            "{variant:?}"
        );
    }

    let garbage = invalid(entries::canonicalize(&with_pem(&good, "garbage")));
    assert_eq!(
        garbage,
        "error processing entry: invalid public key: failure decoding PEM"
    );
    for broken in [
        pem.replace("-----END PUBLIC KEY-----", ""),
        pem.replace("MFkw", "M!kw"),
        format!("junk {pem}"),
        format!("{pem}junk"),
        pem.replacen(
            "-----BEGIN PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\n\n",
            1,
        ),
    ] {
        assert_eq!(
            invalid(entries::canonicalize(&with_pem(&good, &broken))),
            "error processing entry: invalid public key: failure decoding PEM",
            "{broken:?}"
        );
    }

    // Two keys are not a certificate chain.
    let two = format!("{pem}{}", Signer::p256().public_pem());
    assert_eq!(
        invalid(entries::canonicalize(&with_pem(&good, &two))),
        "error processing entry: invalid public key: cannot handle type PUBLIC KEY in a certificate chain"
    );
    // A private key is refused.
    assert_eq!(
        invalid(entries::canonicalize(&with_pem(
            &good,
            &fixture("leaf.key")
        ))),
        "error processing entry: invalid public key: cannot handle type PRIVATE KEY"
    );
    // A PUBLIC KEY block whose DER is not a key.
    let not_a_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(
        invalid(entries::canonicalize(&with_pem(&good, not_a_key)))
            .contains("x509: failed to parse public key")
    );
    // A certificate where a key was labelled.
    let cert_der: String = fixture("selfsigned.pem")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mislabelled = format!("-----BEGIN PUBLIC KEY-----\n{cert_der}\n-----END PUBLIC KEY-----\n");
    assert!(
        invalid(entries::canonicalize(&with_pem(&good, &mislabelled)))
            .contains("x509: failed to parse public key")
    );
    // Oversized PEM documents.
    let huge = "A".repeat(arkivo_core::limits::MAX_PUBLIC_KEY_BYTES + 1);
    assert!(invalid(entries::canonicalize(&with_pem(&good, &huge))).contains("larger than"));
}

#[test]
fn unsupported_keys_are_rejected() {
    // An X25519 key (OID 1.3.101.110) and a P-224 key, as SPKI PEM.
    let x25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEAHBlzbdfXzJqtGkpTV9lJ4sIvd6tdUhSvv7Bs+5xXkyk=\n-----END PUBLIC KEY-----\n";
    let p224 = "-----BEGIN PUBLIC KEY-----\nME4wEAYHKoZIzj0CAQYFK4EEACEDOgAEAe2NqH4ZX3fHdI8Hpnmo3Bdh/NgtEcWoh0wi/4zZU3bYq4U1g6Gxs7XeRzZT4WGNaGM/BxvGJAY=\n-----END PUBLIC KEY-----\n";
    let good = signed(&Signer::p256(), "sha256");
    assert!(
        invalid(entries::canonicalize(&with_pem(&good, x25519)))
            .contains("unknown public key algorithm")
    );
    assert!(
        invalid(entries::canonicalize(&with_pem(&good, p224)))
            .contains("unsupported elliptic curve")
    );
}

// ------------------------------------------------------------------------------------------------
// Certificates and chains

fn p256_from_fixture(name: &str) -> Signer {
    Signer::P256(p256::ecdsa::SigningKey::from_pkcs8_pem(&fixture(name)).unwrap())
}

fn signed_with_pem(signer: &Signer, pem: &str) -> Value {
    let mut r = signed(signer, "sha256");
    r["spec"]["signature"]["publicKey"]["content"] = B64.encode(pem).into();
    r
}

#[test]
fn self_signed_certificate_and_its_sans() {
    let signer = p256_from_fixture("selfsigned.key");
    let cert = fixture("selfsigned.pem");
    let e = entries::canonicalize(&signed_with_pem(&signer, &cert)).unwrap();
    check_entry(&e);
    let body: Value = serde_json::from_slice(&e.body).unwrap();
    let stored = B64
        .decode(
            body["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(stored).unwrap(),
        cert,
        "OpenSSL's PEM layout is already canonical"
    );
    let mut expected = vec![
        hex::encode(Sha256::digest(cert.as_bytes())),
        "build.example.com".to_owned(),
        "alice@example.com".to_owned(),
        "192.0.2.7".to_owned(),
        "2001:db8::1".to_owned(),
        "https://github.com/example/repo/.github/workflows/ci.yml@refs/heads/main".to_owned(),
        "bob!oidc.example".to_owned(),
        format!("sha256:{}", hex::encode(digest("sha256", ARTIFACT))),
        spki_key(&signer.public_pem()),
    ];
    expected.sort();
    assert_eq!(e.index_keys, expected);
    // The search key of a certificate is the hash of its canonical PEM.
    assert_eq!(
        entries::public_key_index_keys(format!("\n{cert}\n").as_bytes()).unwrap()[1],
        hex::encode(Sha256::digest(cert.as_bytes()))
    );
    // Another key's signature does not verify against the certificate.
    assert_eq!(
        invalid(entries::canonicalize(&signed_with_pem(
            &Signer::p256(),
            &cert
        ))),
        SIG_INVALID_ECDSA
    );
}

/// `spki:sha256:` and the hex SHA-256 of a PEM public key's DER: the index key of the key itself.
fn spki_key(public_pem: &str) -> String {
    let der = pem_der(public_pem);
    format!("spki:sha256:{}", hex::encode(Sha256::digest(der)))
}

fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(b64).unwrap()
}

/// A key wrapped in a (self-signed) certificate is indexed, and searched for, as the same key:
/// hashedrekord and dsse, bare or in the certificate, and whichever form the search gives.
#[test]
fn a_key_is_indexed_as_itself_bare_or_in_a_certificate() {
    let signer = p256_from_fixture("selfsigned.key");
    let (bare, cert) = (signer.public_pem(), fixture("selfsigned.pem"));
    let key = spki_key(&bare);
    let bare_entry = entries::canonicalize(&signed(&signer, "sha256")).unwrap();
    let cert_entry = entries::canonicalize(&signed_with_pem(&signer, &cert)).unwrap();
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;
    let envelope = json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": B64.encode(statement),
        "signatures": [{"sig": B64.encode(signer.sign_dsse(&entries::dsse::pae(
            "application/vnd.in-toto+json", statement)))}],
    })
    .to_string();
    let dsse_entry = entries::canonicalize(&dsse(&envelope, &[B64.encode(&cert)])).unwrap();
    for e in [&bare_entry, &cert_entry, &dsse_entry] {
        assert!(e.index_keys.contains(&key), "{:?}", e.index_keys);
        // Re-derived from the stored body too (the monitor's and verify-log's view).
        assert!(entries::index_keys_of_body(&e.body).unwrap().contains(&key));
    }
    for pem in [&bare, &cert] {
        let [first, pem_hash] = entries::public_key_index_keys(pem.as_bytes()).unwrap();
        assert_eq!(first, key);
        assert_eq!(pem_hash, hex::encode(Sha256::digest(pem.as_bytes())));
    }
}

#[test]
fn ed25519_certificate() {
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&fixture("ed25519.key")).unwrap();
    let signer = Signer::Ed25519(key);
    let mut r = signed(&signer, "sha512");
    r["spec"]["signature"]["publicKey"]["content"] = B64.encode(fixture("ed25519.pem")).into();
    let e = entries::canonicalize(&r).unwrap();
    assert!(e.index_keys.contains(&"dave@example.net".to_owned()));
    check_entry(&e);
}

#[test]
fn certificate_chains() {
    let signer = p256_from_fixture("leaf.key");
    let (leaf, inter, root, other) = (
        fixture("leaf.pem"),
        fixture("intermediate.pem"),
        fixture("root.pem"),
        fixture("otherroot.pem"),
    );
    let chain = format!("{leaf}{inter}{root}");
    let e = entries::canonicalize(&signed_with_pem(&signer, &chain)).unwrap();
    check_entry(&e);
    assert!(e.index_keys.contains(&"carol@example.org".to_owned()));
    assert!(
        e.index_keys
            .contains(&hex::encode(Sha256::digest(chain.as_bytes())))
    );
    // The leaf alone is not checked against anything.
    assert!(entries::canonicalize(&signed_with_pem(&signer, &leaf)).is_ok());
    // Leaf and intermediate: the intermediate is then the root.
    assert!(entries::canonicalize(&signed_with_pem(&signer, &format!("{leaf}{inter}"))).is_ok());

    let unknown = "error processing entry: verifying signature: x509: certificate signed by unknown authority";
    // A root with the right name but the wrong key.
    let msg = invalid(entries::canonicalize(&signed_with_pem(
        &signer,
        &format!("{leaf}{inter}{other}"),
    )));
    assert!(msg.starts_with(unknown), "{msg}");
    // A missing intermediate: the names do not chain.
    let msg = invalid(entries::canonicalize(&signed_with_pem(
        &signer,
        &format!("{leaf}{root}"),
    )));
    assert_eq!(msg, unknown);
    // A reversed chain, a foreign certificate in the middle.
    for bad in [
        format!("{root}{inter}{leaf}"),
        format!("{leaf}{inter}{leaf}{root}"),
    ] {
        let msg = invalid(entries::canonicalize(&signed_with_pem(&signer, &bad)));
        assert!(
            msg.starts_with("error processing entry: verifying signature: x509: "),
            "{msg}"
        );
    }
    // An issuer that is not a CA, and an issuer that had expired when the leaf was issued.
    let prefix = "error processing entry: verifying signature: x509: ";
    for (certs, why) in [
        (
            ["leaf-of-noca.pem", "noca.pem", "root.pem"],
            "certificate is not authorized to sign other certificates",
        ),
        (
            ["leaf-of-expired.pem", "expired.pem", "root.pem"],
            "certificate has expired or is not yet valid",
        ),
    ] {
        let pem: String = certs.iter().map(|c| fixture(c)).collect();
        let msg = invalid(entries::canonicalize(&signed_with_pem(&signer, &pem)));
        assert_eq!(msg, format!("{prefix}{why}"));
        // The same leaf alone is accepted: single certificates are not checked.
        assert!(entries::canonicalize(&signed_with_pem(&signer, &fixture(certs[0]))).is_ok());
    }
    // A chain's signature is still checked against the leaf key.
    assert_eq!(
        invalid(entries::canonicalize(&signed_with_pem(
            &Signer::p256(),
            &chain
        ))),
        SIG_INVALID_ECDSA
    );
    // At most 10 certificates.
    let eleven = format!("{leaf}{}", inter.repeat(9)) + &root;
    assert_eq!(
        invalid(entries::canonicalize(&signed_with_pem(&signer, &eleven))),
        "error processing entry: invalid public key: more than 10 certificates in chain"
    );
    // A certificate chain mixed with a key.
    let mixed = format!("{leaf}{}", Signer::p256().public_pem());
    assert!(
        invalid(entries::canonicalize(&signed_with_pem(&signer, &mixed)))
            .contains("cannot handle type PUBLIC KEY")
    );
    // A non-CA certificate cannot issue.
    let self_signed = fixture("selfsigned.pem");
    let msg = invalid(entries::canonicalize(&signed_with_pem(
        &signer,
        &format!("{leaf}{self_signed}"),
    )));
    assert!(msg.contains("x509: "), "{msg}");
}

// ------------------------------------------------------------------------------------------------
// dsse

struct Dsse {
    payload_type: String,
    payload: Vec<u8>,
}

impl Dsse {
    fn statement() -> Dsse {
        let payload = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a.txt", "digest": {"sha256": EXAMPLE_DIGEST, "SHA512": "AB".repeat(64), "gitCommit": "c0ffee"}}],
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "predicate": {"materials": [{"uri": "git+https://x", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}]}
        });
        Dsse {
            payload_type: "application/vnd.in-toto+json".into(),
            payload: payload.to_string().into_bytes(),
        }
    }

    fn pae(&self) -> Vec<u8> {
        entries::dsse::pae(&self.payload_type, &self.payload)
    }

    fn envelope(&self, sigs: &[String]) -> String {
        json!({
            "payloadType": self.payload_type,
            "payload": B64.encode(&self.payload),
            "signatures": sigs.iter().map(|s| json!({"keyid": "", "sig": s})).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

fn verifier(s: &Signer) -> String {
    B64.encode(s.public_pem())
}

#[test]
fn dsse_every_key_type() {
    let d = Dsse::statement();
    for (name, s) in [
        ("P-256", Signer::p256()),
        ("P-384", Signer::p384()),
        ("P-521", Signer::p521()),
        ("RSA-2048", Signer::rsa(2048)),
        ("RSA-4096", Signer::rsa(4096)),
        ("Ed25519", Signer::ed25519()),
    ] {
        let sig = B64.encode(s.sign_dsse(&d.pae()));
        let e = entries::canonicalize(&dsse(
            &d.envelope(std::slice::from_ref(&sig)),
            &[verifier(&s)],
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_entry(&e);
        let body: Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(body["spec"]["signatures"][0]["signature"], sig.as_str());
        assert_eq!(
            body["spec"]["signatures"][0]["verifier"],
            B64.encode(s.public_pem())
        );
        assert_eq!(
            body["spec"]["payloadHash"]["value"],
            hex::encode(Sha256::digest(&d.payload)),
        );
        for key in [
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(s.public_pem().as_bytes()))
            ),
            format!("sha256:{EXAMPLE_DIGEST}"),
            format!("sha512:{}", "ab".repeat(64)),
            "sha1:0123456789abcdef0123456789abcdef01234567".to_owned(),
            spki_key(&s.public_pem()),
        ] {
            assert!(
                e.index_keys.contains(&key),
                "{name}: {key} not in {:?}",
                e.index_keys
            );
        }
        // A bit flip in the signature, or another payload, fails.
        let mut bad = B64.decode(&sig).unwrap();
        let mid = bad.len() / 2;
        bad[mid] ^= 4;
        let msg = invalid(entries::canonicalize(&dsse(
            &d.envelope(&[B64.encode(bad)]),
            &[verifier(&s)],
        )));
        assert_eq!(
            msg,
            "error processing entry: could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1",
            "{name}"
        );
        // Hashedrekord-style prehash signatures with the curve's own hash do not verify (DSSE
        // uses SHA-256 whatever the curve), except for P-256 where they coincide.
        if let Signer::P384(_) = s {
            let own = s.sign_digest("sha384", &Sha384::digest(d.pae()));
            let r = dsse(&d.envelope(&[B64.encode(own)]), &[verifier(&s)]);
            assert!(entries::canonicalize(&r).is_err());
        }
    }
}

#[test]
fn dsse_two_signatures_two_verifiers() {
    let d = Dsse::statement();
    let (a, b) = (Signer::p256(), Signer::ed25519());
    let (sa, sb) = (
        B64.encode(a.sign_dsse(&d.pae())),
        B64.encode(b.sign_dsse(&d.pae())),
    );
    let env = d.envelope(&[sa.clone(), sb.clone()]);
    let e1 = entries::canonicalize(&dsse(&env, &[verifier(&a), verifier(&b)])).unwrap();
    let e2 = entries::canonicalize(&dsse(&env, &[verifier(&b), verifier(&a)])).unwrap();
    assert_eq!(e1, e2, "verifier order does not change the entry");
    check_entry(&e1);
    let body: Value = serde_json::from_slice(&e1.body).unwrap();
    let sigs = body["spec"]["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    let mut expected = vec![(sa.clone(), verifier(&a)), (sb.clone(), verifier(&b))];
    expected.sort();
    for (got, (sig, ver)) in sigs.iter().zip(&expected) {
        assert_eq!(got["signature"], sig.as_str());
        assert_eq!(got["verifier"], ver.as_str());
    }
    // Envelope signature order does not matter either (the envelope hash does).
    let swapped = d.envelope(&[sb.clone(), sa.clone()]);
    let e3 = entries::canonicalize(&dsse(&swapped, &[verifier(&a), verifier(&b)])).unwrap();
    let body3: Value = serde_json::from_slice(&e3.body).unwrap();
    assert_eq!(body3["spec"]["signatures"], body["spec"]["signatures"]);
    // A duplicated signature string counts once.
    let dup = d.envelope(&[sa.clone(), sa.clone()]);
    let e4 = entries::canonicalize(&dsse(&dup, &[verifier(&a)])).unwrap();
    let body4: Value = serde_json::from_slice(&e4.body).unwrap();
    assert_eq!(body4["spec"]["signatures"].as_array().unwrap().len(), 1);
    // One key, two signatures (the DER and the raw form of one ECDSA signature): the same
    // verifier twice accounts for both.
    let sa2 = B64.encode(a.sign_digest_raw("sha256", &Sha256::digest(d.pae())));
    assert_ne!(sa, sa2);
    let env = d.envelope(&[sa.clone(), sa2.clone()]);
    let same = entries::canonicalize(&dsse(&env, &[verifier(&a), verifier(&a)])).unwrap();
    check_entry(&same);
    let key = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(a.public_pem().as_bytes()))
    );
    assert_eq!(same.index_keys.iter().filter(|k| **k == key).count(), 1);
    assert_eq!(
        invalid(entries::canonicalize(&dsse(&env, &[verifier(&a)]))),
        "error processing entry: all signatures must have a key that verifies it"
    );
}

#[test]
fn dsse_verifier_rules() {
    let d = Dsse::statement();
    let (a, b, c) = (Signer::p256(), Signer::ed25519(), Signer::p384());
    let (sa, sb) = (
        B64.encode(a.sign_dsse(&d.pae())),
        B64.encode(b.sign_dsse(&d.pae())),
    );
    let env = d.envelope(&[sa.clone(), sb.clone()]);
    let found0 = "error processing entry: could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1";
    // A processed verifier that verifies nothing fails the request.
    assert_eq!(
        invalid(entries::canonicalize(&dsse(
            &env,
            &[verifier(&a), verifier(&c), verifier(&b)]
        ))),
        found0
    );
    // Verifiers after the last needed one are not even parsed.
    assert!(
        entries::canonicalize(&dsse(&env, &[verifier(&a), verifier(&b), verifier(&c)])).is_ok()
    );
    assert!(
        entries::canonicalize(&dsse(
            &env,
            &[verifier(&a), verifier(&b), B64.encode("garbage")]
        ))
        .is_ok()
    );
    // ... but a processed garbage verifier fails.
    assert_eq!(
        invalid(entries::canonicalize(&dsse(
            &env,
            &[B64.encode("garbage"), verifier(&a)]
        ))),
        "error processing entry: could not parse public key as x509: invalid public key: failure decoding PEM"
    );
    // An unverified signature.
    assert_eq!(
        invalid(entries::canonicalize(&dsse(&env, &[verifier(&a)]))),
        "error processing entry: all signatures must have a key that verifies it"
    );
    // Bad verifier base64.
    assert!(
        invalid(entries::canonicalize(&dsse(&env, &["!!!!".into()])))
            .contains("failed parsing base64")
    );
    // No verifiers / too many.
    assert!(invalid(entries::canonicalize(&dsse(&env, &[]))).contains("at least 1 items"));
    let many = vec![verifier(&a); arkivo_core::limits::MAX_DSSE_VERIFIERS + 1];
    assert!(invalid(entries::canonicalize(&dsse(&env, &many))).contains("at most 8 items"));
    // Certificates and chains as verifiers.
    let leaf = p256_from_fixture("leaf.key");
    let chain = format!(
        "{}{}{}",
        fixture("leaf.pem"),
        fixture("intermediate.pem"),
        fixture("root.pem")
    );
    let s = B64.encode(leaf.sign_dsse(&d.pae()));
    let e = entries::canonicalize(&dsse(
        &d.envelope(std::slice::from_ref(&s)),
        &[B64.encode(&chain)],
    ))
    .unwrap();
    assert!(e.index_keys.contains(&"carol@example.org".to_owned()));
    assert!(e.index_keys.contains(&format!(
        "sha256:{}",
        hex::encode(Sha256::digest(chain.as_bytes()))
    )));
    let broken = format!(
        "{}{}{}",
        fixture("leaf.pem"),
        fixture("intermediate.pem"),
        fixture("otherroot.pem")
    );
    assert!(
        invalid(entries::canonicalize(&dsse(
            &d.envelope(&[s]),
            &[B64.encode(&broken)]
        )))
        .contains("certificate signed by unknown authority")
    );
}

#[test]
fn dsse_envelope_rules() {
    let d = Dsse::statement();
    let a = Signer::p256();
    let sig = a.sign_dsse(&d.pae());
    let v = [verifier(&a)];
    // Too many signatures.
    let many: Vec<String> = (0..=arkivo_core::limits::MAX_DSSE_SIGNATURES)
        .map(|_| B64.encode(a.sign_dsse(&d.pae())))
        .collect();
    assert!(
        invalid(entries::canonicalize(&dsse(&d.envelope(&many), &v)))
            .contains("more than the 8 accepted")
    );
    // No signature.
    assert_eq!(
        invalid(entries::canonicalize(&dsse(&d.envelope(&[]), &v))),
        "error processing entry: could not verify envelope: no signature found"
    );
    // URL-safe, unpadded or line-broken signatures are refused.
    for bad in [
        URL_SAFE.encode(&sig),
        B64.encode(&sig).trim_end_matches('=').to_owned(),
        {
            let s = B64.encode(&sig);
            format!("{}\n{}", &s[..10], &s[10..])
        },
    ] {
        if bad == B64.encode(&sig) {
            continue;
        }
        assert_eq!(
            invalid(entries::canonicalize(&dsse(&d.envelope(&[bad]), &v))),
            "error processing entry: envelope signature is not standard base64 with padding"
        );
    }
    // A URL-safe payload is decoded as upstream does.
    let raw = json!({"payloadType": d.payload_type, "payload": URL_SAFE.encode(&d.payload),
                     "signatures": [{"sig": B64.encode(&sig)}]})
    .to_string();
    assert!(entries::canonicalize(&dsse(&raw, &v)).is_ok());
    // Member names are matched case-insensitively; unknown members are ignored.
    let raw =
        json!({"PayloadType": d.payload_type, "PAYLOAD": B64.encode(&d.payload), "x": {"y": [1]},
                     "Signatures": [{"KeyId": "k", "Sig": B64.encode(&sig)}]})
        .to_string();
    assert!(entries::canonicalize(&dsse(&raw, &v)).is_ok());
    // Not an envelope.
    for bad in ["", "[]", "{", "{\"payload\": 3}"] {
        assert!(entries::canonicalize(&dsse(bad, &v)).is_err(), "{bad:?}");
    }
    let raw = json!({"payloadType": d.payload_type, "payload": "%%%", "signatures": [{"sig": B64.encode(&sig)}]}).to_string();
    assert!(
        invalid(entries::canonicalize(&dsse(&raw, &v))).contains("unable to base64 decode payload")
    );
    // A payload type other than in-toto contributes no statement keys.
    let other = Dsse {
        payload_type: "text/plain".into(),
        payload: d.payload.clone(),
    };
    let e = entries::canonicalize(&dsse(
        &other.envelope(&[B64.encode(a.sign_dsse(&other.pae()))]),
        &v,
    ))
    .unwrap();
    assert!(!e.index_keys.iter().any(|k| k.starts_with("sha1:")));
    assert_eq!(
        e.index_keys.len(),
        4,
        "key (PEM and SPKI), payload and envelope"
    );
    // Server-computed fields may not be proposed.
    let mut r = dsse(&d.envelope(&[B64.encode(&sig)]), &v);
    r["spec"]["payloadHash"] = json!({"algorithm": "sha256", "value": "00"});
    assert_eq!(
        invalid(entries::canonicalize(&r)),
        "error processing entry: either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both"
    );
    let r = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {}});
    assert!(invalid(entries::canonicalize(&r)).contains("proposedContent"));
    let r = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {"verifiers": v}}});
    assert!(
        invalid(entries::canonicalize(&r)).contains("proposedContent.envelope in body is required")
    );
}

// ------------------------------------------------------------------------------------------------
// Stored bodies

#[test]
fn index_keys_of_body_checks_canonical_form() {
    assert_eq!(
        entries::index_keys_of_body(EXAMPLE_BODY.as_bytes()).unwrap(),
        entries::canonicalize_bytes(EXAMPLE_REQUEST.as_bytes())
            .unwrap()
            .index_keys
    );
    let v: Value = serde_json::from_str(EXAMPLE_BODY).unwrap();
    let not_canonical = [
        format!("{EXAMPLE_BODY}\n"),
        EXAMPLE_BODY.replacen(
            "{\"apiVersion\":\"0.0.1\",",
            "{\"apiVersion\": \"0.0.1\",",
            1,
        ),
        serde_json::to_string_pretty(&v).unwrap(),
        EXAMPLE_BODY.replacen(
            "\"kind\":\"hashedrekord\",",
            "\"kind\":\"hashedrekord\",\"x\":\"y\",",
            1,
        ),
        EXAMPLE_BODY.replacen(
            "{\"apiVersion\":\"0.0.1\",\"kind\":\"hashedrekord\",",
            "{\"kind\":\"hashedrekord\",\"apiVersion\":\"0.0.1\",",
            1,
        ),
        // Non-canonical PEM inside (CRLF line ends).
        EXAMPLE_BODY.replace(
            EXAMPLE_PEM_B64,
            &B64.encode(
                String::from_utf8(B64.decode(EXAMPLE_PEM_B64).unwrap())
                    .unwrap()
                    .replace('\n', "\r\n"),
            ),
        ),
        DSSE_BODY.replace("\"apiVersion\":\"0.0.1\"", "\"apiVersion\":\"0.0.2\""),
        DSSE_BODY.replace("1ef43385", "1EF43385"),
    ];
    for body in not_canonical {
        assert!(
            entries::index_keys_of_body(body.as_bytes()).is_err(),
            "{body}"
        );
    }
    assert!(entries::index_keys_of_body(b"{}").is_err());
    assert!(entries::index_keys_of_body(b"nope").is_err());
}

#[test]
fn dsse_bodies_list_signatures_sorted() {
    let d = Dsse::statement();
    let signers: Vec<Signer> = (0..5).map(|_| Signer::p256()).collect();
    let sigs: Vec<String> = signers
        .iter()
        .map(|s| B64.encode(s.sign_dsse(&d.pae())))
        .collect();
    let verifiers: Vec<String> = signers.iter().rev().map(verifier).collect();
    let e = entries::canonicalize(&dsse(&d.envelope(&sigs), &verifiers)).unwrap();
    let body: Value = serde_json::from_slice(&e.body).unwrap();
    let stored: Vec<&str> = body["spec"]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signature"].as_str().unwrap())
        .collect();
    let mut sorted = sigs.clone();
    sorted.sort();
    assert_eq!(stored, sorted);
    check_entry(&e);
    // A stored body with the signatures out of order is not canonical.
    let mut reordered = body.clone();
    reordered["spec"]["signatures"]
        .as_array_mut()
        .unwrap()
        .reverse();
    assert!(entries::index_keys_of_body(jcs(&reordered).as_bytes()).is_err());
}

// ------------------------------------------------------------------------------------------------
// Property tests: nothing panics

mod props {
    use super::*;
    use proptest::prelude::*;

    fn json_ish() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "apiVersion",
            "kind",
            "spec",
            "data",
            "hash",
            "algorithm",
            "value",
            "signature",
            "content",
            "publicKey",
            "proposedContent",
            "envelope",
            "verifiers",
            "payloadType",
            "payload",
            "signatures",
            "sig",
            "keyid",
            "envelopeHash",
            "payloadHash",
            "x",
        ]);
        let strings = prop_oneof![
            Just("hashedrekord".to_owned()),
            Just("dsse".to_owned()),
            Just("0.0.1".to_owned()),
            Just("sha256".to_owned()),
            Just("sha512".to_owned()),
            Just(EXAMPLE_PEM_B64.to_owned()),
            Just(EXAMPLE_SIG_B64.to_owned()),
            Just(EXAMPLE_DIGEST.to_owned()),
            Just(DSSE_ENVELOPE.to_owned()),
            Just(DSSE_VERIFIER.to_owned()),
            "[A-Za-z0-9+/=\\-_\r\n]{0,80}",
            ".{0,40}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            strings.prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|members| {
                    Value::Object(
                        members
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn canonicalize_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = entries::canonicalize_bytes(&bytes);
            let _ = entries::index_keys_of_body(&bytes);
            let _ = entries::public_key_index_keys(&bytes);
        }

        #[test]
        fn canonicalize_never_panics(v in json_ish()) {
            let _ = entries::canonicalize(&v);
            let _ = entries::canonicalize_bytes(v.to_string().as_bytes());
        }

        #[test]
        fn hashedrekord_shaped_values_never_panic(
            alg in prop::sample::select(vec!["sha256", "sha384", "sha512", "md5", ""]),
            value in "[0-9a-fA-Fg]{0,130}",
            sig in "[A-Za-z0-9+/=\r\n_-]{0,120}",
            pem in prop::sample::select(vec![EXAMPLE_PEM_B64.to_owned(), DSSE_VERIFIER.to_owned(), String::new(), "AAAA".to_owned()]),
        ) {
            let _ = entries::canonicalize(&hashedrekord(alg, &value, &sig, &pem));
        }

        #[test]
        fn dsse_shaped_values_never_panic(
            envelope in prop_oneof![Just(DSSE_ENVELOPE.to_owned()), ".{0,200}"],
            mutate_at in any::<prop::sample::Index>(),
            byte in any::<char>(),
        ) {
            let mut env: Vec<char> = envelope.chars().collect();
            if !env.is_empty() {
                let i = mutate_at.index(env.len());
                env[i] = byte;
            }
            let env: String = env.into_iter().collect();
            let _ = entries::canonicalize(&dsse(&env, &[DSSE_VERIFIER.to_owned()]));
        }
    }
}

/// A valid entry whose canonical body would not fit a tile entry bundle (16-bit lengths) is
/// refused with a message that says so; one just under the limit is accepted.
#[test]
fn canonical_bodies_over_64_kib_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let entry_with_sans = |count: usize| {
        let sans: Vec<String> = (0..count)
            .map(|i| format!("DNS:host-{i:05}.build.example.com"))
            .collect();
        let san = format!("subjectAltName={}", sans.join(","));
        common::self_signed_p256(dir.path(), "/CN=big", &["-addext", &san], "k.pem", "c.pem");
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let signer = Signer::P256(p256::ecdsa::SigningKey::from_pkcs8_pem(&read("k.pem")).unwrap());
        signed_with_pem(&signer, &read("c.pem"))
    };
    // About 36 bytes a name in the certificate, ×4/3 in base64 PEM, ×4/3 again in the body.
    let under = entries::canonicalize(&entry_with_sans(600)).unwrap();
    assert!(under.body.len() < 65_535);
    let err = invalid(entries::canonicalize(&entry_with_sans(1500)));
    assert!(
        err.contains("more than the 65535 a log entry may have"),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------------
// intoto 0.0.1 and 0.0.2 (§6a)

/// An intoto 0.0.1 request as cosign sends it: the envelope as a string, one key.
fn intoto_v001(envelope: &str, pem_b64: &str) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "intoto",
        "spec": {"content": {"envelope": envelope}, "publicKey": pem_b64}
    })
}

/// sigstore-js's envelope hash (`calculateDSSEHash`): SHA-256 of the JCS of the envelope with
/// its one signature's key (PEM) added.
fn sigstore_js_envelope_hash(
    payload_type: &str,
    payload_b64: &str,
    sig_b64: &str,
    pem: &str,
) -> String {
    let v = json!({
        "payloadType": payload_type,
        "payload": payload_b64,
        "signatures": [{"sig": sig_b64, "publicKey": pem}],
    });
    hex::encode(Sha256::digest(jcs(&v).as_bytes()))
}

/// An intoto 0.0.2 request as sigstore-js's `toProposedIntotoEntry` builds it: payload and
/// signatures base64 of the envelope's base64 strings, each signature with its key.
fn intoto_v002(payload_type: &str, payload_b64: &str, sigs: &[(&str, &str)], hash: &str) -> Value {
    json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {"content": {
            "envelope": {
                "payloadType": payload_type,
                "payload": B64.encode(payload_b64),
                "signatures": sigs.iter().map(|(sig, pem)| json!({
                    "sig": B64.encode(sig), "publicKey": B64.encode(pem)
                })).collect::<Vec<_>>(),
            },
            "hash": {"algorithm": "sha256", "value": hash},
        }}
    })
}

fn rekor_vector() -> (Value, String, Vec<u8>) {
    let v: Value = serde_json::from_str(&fixture("rekor-intoto-v002.json")).unwrap();
    let der = v["certificate"].as_str().unwrap().to_owned();
    let lines: Vec<&str> = der
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    // sigstore-js sends the certificate PEM without a final newline.
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
        lines.join("\n")
    );
    let body = B64
        .decode(v["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    (v["dsseEnvelope"].clone(), pem, body)
}

#[test]
fn intoto_v002_body_is_byte_for_byte_what_public_rekor_stored() {
    let (env, pem, rekor_body) = rekor_vector();
    let (pt, payload, sig) = (
        env["payloadType"].as_str().unwrap(),
        env["payload"].as_str().unwrap(),
        env["signatures"][0]["sig"].as_str().unwrap(),
    );
    let hash = sigstore_js_envelope_hash(pt, payload, sig, &pem);
    assert_eq!(
        hash,
        "0fe845f4dcbf2f3386e91edfedab855c68d1a662c86723ea0e34668a3cd9b505"
    );
    let e = entries::canonicalize(&intoto_v002(pt, payload, &[(sig, &pem)], &hash)).unwrap();
    assert_eq!(e.kind, Kind::Intoto);
    assert_eq!(
        std::str::from_utf8(&e.body).unwrap(),
        std::str::from_utf8(&rekor_body).unwrap()
    );
    check_entry(&e);
    assert_eq!(
        entries::kind_of_body(&e.body).unwrap(),
        (Kind::Intoto, "0.0.2")
    );
    let payload_hash = hex::encode(Sha256::digest(B64.decode(payload).unwrap()));
    assert_eq!(
        payload_hash,
        "9b70a8a48e709d349d343042329f7da6c4660768c68630971cf5219398975a36"
    );
    for key in [
        format!("sha256:{payload_hash}"),
        "brian@dehamer.com".to_owned(),
        spki_key(&pem_public_key_of_cert(&pem)),
    ] {
        assert!(
            e.index_keys.contains(&key),
            "{key} not in {:?}",
            e.index_keys
        );
    }
    // The upstream body is no request: the payload is not in it.
    let msg = invalid(entries::canonicalize_bytes(&rekor_body));
    assert!(msg.contains("missing envelope content"), "{msg}");
}

/// The SubjectPublicKeyInfo PEM of a certificate PEM (what `spki_key` hashes).
fn pem_public_key_of_cert(cert_pem: &str) -> String {
    use p256::pkcs8::DecodePublicKey;
    use p256::pkcs8::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(&pem_der(cert_pem)).unwrap();
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    p256::PublicKey::from_public_key_der(&spki)
        .unwrap()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

const INTOTO_V001_BODY: &str = r#"{"apiVersion":"0.0.1","kind":"intoto","spec":{"content":{"hash":{"algorithm":"sha256","value":"1ef43385ea8017e8c73a43ad89f3993f8c41e726f3ae5ae46761e9b82f7fb99b"},"payloadHash":{"algorithm":"sha256","value":"a5e35191bd2a941575037223e313721b51c1e219c38ef3f8d3c2bb87ae5bd5a2"}},"publicKey":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFeVFvWU1nL0V0T0NKVmZ6c250WXJSTlB5c2VoOApTbW1Wc1lEMUhRRkVEZ2JnZzdiL2JJUWIyVkJhdFpobWxjUElaNlR0NWJiOVVBNUlqZmhkbUFHWFN3PT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg=="}}"#;

#[test]
fn worked_example_intoto_v001() {
    let e = entries::canonicalize(&intoto_v001(DSSE_ENVELOPE, DSSE_VERIFIER)).unwrap();
    assert_eq!(std::str::from_utf8(&e.body).unwrap(), INTOTO_V001_BODY);
    // The same envelope and key as the dsse example: the same keys, the envelope hash included.
    let d = entries::canonicalize(&dsse(DSSE_ENVELOPE, &[DSSE_VERIFIER.into()])).unwrap();
    assert_eq!(e.index_keys, d.index_keys);
    check_entry(&e);
    assert_eq!(
        entries::kind_of_body(&e.body).unwrap(),
        (Kind::Intoto, "0.0.1")
    );
    // Given hashes that are right are accepted; upstream's committed form (no envelope) is not
    // insertable.
    let mut v = intoto_v001(DSSE_ENVELOPE, DSSE_VERIFIER);
    v["spec"]["content"]["hash"] = json!({"algorithm": "sha256", "value": "1ef43385ea8017e8c73a43ad89f3993f8c41e726f3ae5ae46761e9b82f7fb99b"});
    v["spec"]["content"]["payloadHash"] = json!({"algorithm": "sha256", "value": "a5e35191bd2a941575037223e313721b51c1e219c38ef3f8d3c2bb87ae5bd5a2"});
    assert_eq!(entries::canonicalize(&v).unwrap(), e);
    let msg = invalid(entries::canonicalize_bytes(&e.body));
    assert!(msg.contains("missing envelope content"), "{msg}");
}

const INTOTO_V002_BODY: &str = r#"{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"k1","publicKey":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFeVFvWU1nL0V0T0NKVmZ6c250WXJSTlB5c2VoOApTbW1Wc1lEMUhRRkVEZ2JnZzdiL2JJUWIyVkJhdFpobWxjUElaNlR0NWJiOVVBNUlqZmhkbUFHWFN3PT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg==","sig":"TUVRQ0lEbnFsWURUY2dPSm1meGVtaCtBWkEzdXhKL3ZUMTlWeEd2OHd0RlB6OEVXQWlCM3l6dlg5emwwdjdQZzA5Q2ZUTDRxN2tGRkp4cnkrMU9mQmJ3aVFrbUlnQT09"}]},"hash":{"algorithm":"sha256","value":"00000000000000000000000000000000000000000000000000000000000000ff"},"payloadHash":{"algorithm":"sha256","value":"a5e35191bd2a941575037223e313721b51c1e219c38ef3f8d3c2bb87ae5bd5a2"}}}}"#;

fn dsse_example_parts() -> (String, String, String) {
    let env: Value = serde_json::from_str(DSSE_ENVELOPE).unwrap();
    let pem = String::from_utf8(B64.decode(DSSE_VERIFIER).unwrap()).unwrap();
    (
        env["payload"].as_str().unwrap().to_owned(),
        env["signatures"][0]["sig"].as_str().unwrap().to_owned(),
        pem,
    )
}

const IN_TOTO: &str = "application/vnd.in-toto+json";

#[test]
fn worked_example_intoto_v002() {
    let (payload, sig, pem) = dsse_example_parts();
    let hash = format!("{}ff", "0".repeat(62));
    let mut v = intoto_v002(IN_TOTO, &payload, &[(&sig, &pem)], &hash);
    v["spec"]["content"]["envelope"]["signatures"][0]["keyid"] = json!("k1");
    let e = entries::canonicalize(&v).unwrap();
    assert_eq!(std::str::from_utf8(&e.body).unwrap(), INTOTO_V002_BODY);
    check_entry(&e);
    // The envelope hash is the client's (upstream does not index it); the rest as for dsse.
    let d = entries::canonicalize(&dsse(DSSE_ENVELOPE, &[DSSE_VERIFIER.into()])).unwrap();
    let mut expected: Vec<String> = d
        .index_keys
        .iter()
        .filter(|k| !k.contains("1ef43385"))
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(e.index_keys, expected);
    // An empty keyid is left out, as upstream's model does.
    v["spec"]["content"]["envelope"]["signatures"][0]["keyid"] = json!("");
    let body = entries::canonicalize(&v).unwrap().body;
    assert!(!String::from_utf8(body).unwrap().contains("keyid"));
}

/// What a verifier reads of the intoto bodies above ([`entries::intoto::parse_body`]) and the
/// client's check of them and of the dsse body against the worked example's envelope
/// (`arkivo_client::verify::verify_dsse`): accepted with its payload, signature and key;
/// refused with another payload, key, payload type or signature.
#[test]
fn intoto_and_dsse_bodies_against_their_envelope() {
    use arkivo_client::keys::{KeyAlgorithm, SigningKey, parse_public_key};
    use arkivo_client::verify::{VerifyError, verify_dsse};
    let env: Value = serde_json::from_str(DSSE_ENVELOPE).unwrap();
    let payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
    let sig_b64 = env["signatures"][0]["sig"].as_str().unwrap();
    let sig = B64.decode(sig_b64).unwrap();
    let pem = String::from_utf8(B64.decode(DSSE_VERIFIER).unwrap()).unwrap();
    let key = parse_public_key(&pem, "the example key").unwrap();
    let other = SigningKey::generate(KeyAlgorithm::EcdsaP256).public_key_pem();
    let other = parse_public_key(&other, "another key").unwrap();

    let v1 = entries::intoto::parse_body(INTOTO_V001_BODY.as_bytes()).unwrap();
    let v2 = entries::intoto::parse_body(INTOTO_V002_BODY.as_bytes()).unwrap();
    let payload_hash = hex::encode(Sha256::digest(&payload));
    assert_eq!(
        (&v1.payload_hash, &v2.payload_hash),
        (&payload_hash, &payload_hash)
    );
    assert_eq!(
        (v1.payload_type, v2.payload_type.as_deref()),
        (None, Some(IN_TOTO))
    );
    assert_eq!(v1.signatures.len(), 1);
    assert_eq!(v1.signatures[0].0, None);
    assert_eq!(v2.signatures[0].0.as_deref(), Some(sig_b64));
    assert!(entries::intoto::parse_body(b"{\"kind\":\"dsse\"}").is_err());

    let dsse_body = entries::canonicalize(&dsse(DSSE_ENVELOPE, &[DSSE_VERIFIER.into()]))
        .unwrap()
        .body;
    let mut flipped = sig.clone();
    *flipped.last_mut().unwrap() ^= 1;
    for (body, records) in [
        (INTOTO_V001_BODY.as_bytes(), "intoto 0.0.1"),
        (INTOTO_V002_BODY.as_bytes(), "intoto 0.0.2"),
        (&dsse_body[..], "dsse"),
    ] {
        verify_dsse(body, IN_TOTO, &payload, &sig, &key)
            .unwrap_or_else(|e| panic!("{records}: {e}"));
        let body_error = |r| matches!(r, Err(VerifyError::Body(_)));
        assert!(
            body_error(verify_dsse(body, IN_TOTO, b"{}", &sig, &key)),
            "{records}"
        );
        assert!(
            body_error(verify_dsse(body, IN_TOTO, &payload, &sig, &other)),
            "{records}"
        );
        // intoto 0.0.1 records neither the payload type nor the signature: the PAE check fails.
        let another_type = verify_dsse(body, "text/plain", &payload, &sig, &key);
        let another_sig = verify_dsse(body, IN_TOTO, &payload, &flipped, &key);
        if records == "intoto 0.0.1" {
            assert!(matches!(another_type, Err(VerifyError::Signature(_))));
            assert!(matches!(another_sig, Err(VerifyError::Signature(_))));
        } else {
            assert!(another_type.is_err(), "{records}");
            assert!(body_error(another_sig), "{records}");
        }
    }
    let hashedrekord_v1 = br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#;
    let refused = verify_dsse(hashedrekord_v1, IN_TOTO, &payload, &sig, &key);
    assert!(
        matches!(&refused, Err(VerifyError::Body(m)) if m.contains("does not record a DSSE envelope")),
        "{refused:?}"
    );
}

#[test]
fn intoto_every_key_type_both_versions() {
    let d = Dsse::statement();
    for (name, s) in [
        ("P-256", Signer::p256()),
        ("P-384", Signer::p384()),
        ("RSA-2048", Signer::rsa(2048)),
        ("Ed25519", Signer::ed25519()),
    ] {
        let sig = B64.encode(s.sign_dsse(&d.pae()));
        let env = d.envelope(std::slice::from_ref(&sig));
        let e = entries::canonicalize(&intoto_v001(&env, &verifier(&s)))
            .unwrap_or_else(|e| panic!("{name} 0.0.1: {e}"));
        check_entry(&e);
        let payload = B64.encode(&d.payload);
        let hash = sigstore_js_envelope_hash(IN_TOTO, &payload, &sig, &s.public_pem());
        let e = entries::canonicalize(&intoto_v002(
            IN_TOTO,
            &payload,
            &[(&sig, &s.public_pem())],
            &hash,
        ))
        .unwrap_or_else(|e| panic!("{name} 0.0.2: {e}"));
        check_entry(&e);
        for key in [
            format!("sha256:{EXAMPLE_DIGEST}"),
            "sha1:0123456789abcdef0123456789abcdef01234567".to_owned(),
            spki_key(&s.public_pem()),
        ] {
            assert!(e.index_keys.contains(&key), "{name}: {key}");
        }
    }
}

#[test]
fn intoto_v002_signatures_each_with_its_key() {
    let d = Dsse::statement();
    let (a, b) = (Signer::p256(), Signer::p384());
    let (sa, sb) = (
        B64.encode(a.sign_dsse(&d.pae())),
        B64.encode(b.sign_dsse(&d.pae())),
    );
    let payload = B64.encode(&d.payload);
    let hash = "ab".repeat(32);
    let (pa, pb) = (a.public_pem(), b.public_pem());
    let e = entries::canonicalize(&intoto_v002(
        IN_TOTO,
        &payload,
        &[(&sa, &pa), (&sb, &pb)],
        &hash,
    ))
    .unwrap();
    check_entry(&e);
    assert!(e.index_keys.contains(&spki_key(&pa)) && e.index_keys.contains(&spki_key(&pb)));
    // A key that verifies none of the signatures, and a signature no key verifies.
    let c = Signer::p256();
    let msg = invalid(entries::canonicalize(&intoto_v002(
        IN_TOTO,
        &payload,
        &[(&sa, &pa), (&sb, &c.public_pem())],
        &hash,
    )));
    assert!(msg.contains("Found: 0, Expected 1"), "{msg}");
    let msg = invalid(entries::canonicalize(&intoto_v002(
        IN_TOTO,
        &payload,
        &[(&sa, &pa), (&sb, &pa)],
        &hash,
    )));
    assert!(
        msg.contains("all signatures must have a key that verifies it"),
        "{msg}"
    );
}

/// A change to a valid request.
type Mutation<'a> = Box<dyn Fn(&mut Value) + 'a>;

#[test]
fn intoto_mutated_inputs_are_refused() {
    let (payload, sig, pem) = dsse_example_parts();
    let hash = "ab".repeat(32);
    let good = intoto_v002(IN_TOTO, &payload, &[(&sig, &pem)], &hash);
    entries::canonicalize(&good).unwrap();
    let mut bad_sig = B64.decode(&sig).unwrap();
    bad_sig[10] ^= 1;
    let bad_sig = B64.encode(bad_sig);
    let other_payload = B64.encode(b"{\"other\":1}");
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        invalid(entries::canonicalize(&v))
    };
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "Found: 0, Expected 1",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["signatures"][0]["sig"] =
                    json!(B64.encode(&bad_sig));
            }),
        ),
        (
            "Found: 0, Expected 1",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["payload"] = json!(B64.encode(&other_payload));
            }),
        ),
        (
            "content.payloadHash.value",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["payloadHash"] =
                    json!({"algorithm": "sha256", "value": "cd".repeat(32)});
            }),
        ),
        (
            "missing envelope digest",
            Box::new(|v: &mut Value| {
                v["spec"]["content"].as_object_mut().unwrap().remove("hash");
            }),
        ),
        (
            "64 lower-case hex digits",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["hash"]["value"] = json!("AB".repeat(32));
            }),
        ),
        (
            "should be one of [sha256]",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["hash"]["algorithm"] = json!("sha512");
            }),
        ),
        (
            "missing envelope content",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]
                    .as_object_mut()
                    .unwrap()
                    .remove("payload");
            }),
        ),
        (
            "payloadType in body is required",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]
                    .as_object_mut()
                    .unwrap()
                    .remove("payloadType");
            }),
        ),
        (
            "should have at least 1 items",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["signatures"] = json!([]);
            }),
        ),
        (
            "should have at most 8 items",
            Box::new(|v: &mut Value| {
                let s = v["spec"]["content"]["envelope"]["signatures"][0].clone();
                v["spec"]["content"]["envelope"]["signatures"] = json!(vec![s; 9]);
            }),
        ),
        (
            "signatures.0.publicKey in body is required",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["signatures"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("publicKey");
            }),
        ),
        (
            "signatures.0.sig in body is required",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["signatures"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("sig");
            }),
        ),
        // The signature base64 once instead of twice (the bytes are not a base64 string).
        (
            "signature",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["signatures"][0]["sig"] = json!(sig.clone());
            }),
        ),
        (
            "failed parsing base64 data for payload",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["payload"] = json!("***");
            }),
        ),
        (
            "could not parse public key",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["signatures"][0]["publicKey"] =
                    json!(B64.encode("not a key"));
            }),
        ),
        (
            "must be of type object",
            Box::new(|v: &mut Value| {
                v["spec"]["content"]["envelope"]["signatures"] = json!(["x"]);
            }),
        ),
    ];
    for (want, f) in cases {
        let msg = mutate(&*f);
        assert!(msg.contains(want), "want {want:?}, got {msg}");
    }

    // 0.0.1: wrong signature, a given hash or payload hash that differs, an unknown version.
    let bad_env = DSSE_ENVELOPE.replace(&sig, &bad_sig);
    let msg = invalid(entries::canonicalize(&intoto_v001(&bad_env, DSSE_VERIFIER)));
    assert!(msg.contains("Found: 0, Expected 1"), "{msg}");
    for member in ["hash", "payloadHash"] {
        let mut v = intoto_v001(DSSE_ENVELOPE, DSSE_VERIFIER);
        v["spec"]["content"][member] = json!({"algorithm": "sha256", "value": "cd".repeat(32)});
        let msg = invalid(entries::canonicalize(&v));
        assert!(
            msg.contains("does not match the SHA-256 the server computed"),
            "{msg}"
        );
    }
    let mut v = intoto_v001(DSSE_ENVELOPE, DSSE_VERIFIER);
    v["spec"].as_object_mut().unwrap().remove("publicKey");
    assert!(invalid(entries::canonicalize(&v)).contains("publicKey in body is required"));
    v["apiVersion"] = json!("0.0.3");
    assert!(matches!(
        entries::canonicalize(&v),
        Err(EntryError::UnsupportedVersion { .. })
    ));
}

#[test]
fn intoto_bad_subject_digests_are_refused() {
    let s = Signer::p256();
    let d = Dsse {
        payload_type: IN_TOTO.into(),
        payload: json!({"subject": [{"name": "a", "digest": {"sha256": "ab"}}]})
            .to_string()
            .into_bytes(),
    };
    let sig = B64.encode(s.sign_dsse(&d.pae()));
    let msg = invalid(entries::canonicalize(&intoto_v001(
        &d.envelope(std::slice::from_ref(&sig)),
        &verifier(&s),
    )));
    assert!(msg.contains("sha256 digest must be 64 hex digits"), "{msg}");
    let msg = invalid(entries::canonicalize(&intoto_v002(
        IN_TOTO,
        &B64.encode(&d.payload),
        &[(&sig, &s.public_pem())],
        &"ab".repeat(32),
    )));
    assert!(msg.contains("sha256 digest must be 64 hex digits"), "{msg}");
}

// ------------------------------------------------------------------------------------------------
// rekord 0.0.1 (§5a)

/// A rekord request as rekor-cli and older cosign send it: the data itself, a signature over it
/// and the verifier, all base64; with the data's SHA-256 when `hash` is given.
fn rekord(format: &str, data: &[u8], sig: &[u8], pem: &str, hash: Option<&str>) -> Value {
    let mut data_obj = json!({"content": B64.encode(data)});
    if let Some(h) = hash {
        data_obj["hash"] = json!({"algorithm": "sha256", "value": h});
    }
    json!({
        "apiVersion": "0.0.1",
        "kind": "rekord",
        "spec": {
            "signature": {"format": format, "content": B64.encode(sig),
                          "publicKey": {"content": B64.encode(pem)}},
            "data": data_obj,
        }
    })
}

/// `signer`'s rekord entry of `data` with verifier `pem`: upstream's default verifier signs
/// SHA-256 for ECDSA on every curve and RSA PKCS#1 v1.5, pure Ed25519 (what [`Signer::sign_dsse`]
/// makes over any message).
fn rekord_signed(signer: &Signer, data: &[u8], pem: &str) -> Value {
    rekord("x509", data, &signer.sign_dsse(data), pem, None)
}

/// The canonical body upstream's `Canonicalize` + RFC 8785 makes, written out by hand: data
/// hash, then signature content, format and key (the JCS member order).
fn rekord_body(sha256: &str, sig: &[u8], pem: &str) -> String {
    format!(
        r#"{{"apiVersion":"0.0.1","kind":"rekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{sha256}"}}}},"signature":{{"content":"{}","format":"x509","publicKey":{{"content":"{}"}}}}}}}}"#,
        B64.encode(sig),
        B64.encode(pem)
    )
}

#[test]
fn worked_example_rekord() {
    let signer = p256_from_fixture("leaf.key");
    let pem = signer.public_pem();
    let sig = signer.sign_dsse(ARTIFACT);
    let sha = hex::encode(Sha256::digest(ARTIFACT));
    // With and without the hash, keys with CRLF and surrounding space: the same body.
    let messy = format!("\n {}\n", pem.replace('\n', "\r\n"));
    for request in [
        rekord("x509", ARTIFACT, &sig, &pem, None),
        rekord("x509", ARTIFACT, &sig, &pem, Some(&sha)),
        rekord("x509", ARTIFACT, &sig, &messy, Some(&sha)),
    ] {
        let e = entries::canonicalize(&request).unwrap();
        assert_eq!(e.kind, Kind::Rekord);
        assert_eq!(
            std::str::from_utf8(&e.body).unwrap(),
            rekord_body(&sha, &sig, &pem)
        );
        check_entry(&e);
        assert_eq!(
            entries::kind_of_body(&e.body).unwrap(),
            (Kind::Rekord, "0.0.1")
        );
        for key in [
            format!("sha256:{sha}"),
            hex::encode(Sha256::digest(pem.as_bytes())),
            spki_key(&pem),
        ] {
            assert!(
                e.index_keys.contains(&key),
                "{key} not in {:?}",
                e.index_keys
            );
        }
        // The search for the key (§10.2) finds it, as it finds hashedrekord entries.
        for key in entries::public_key_index_keys(pem.as_bytes()).unwrap() {
            assert!(e.index_keys.contains(&key));
        }
    }
}

/// Two rekord bodies the public Rekor log stored, each proven to its log's root by an inclusion
/// proof published with it: Arkivo reads them back as canonical (its own `build` of their fields
/// gives the same bytes, so it writes bodies exactly as upstream does) with upstream's index
/// keys. Their data is not published, so no request can be rebuilt from them.
#[test]
fn rekord_bodies_public_rekor_stored_are_canonical_here() {
    // rekor's pkg/verify TestInclusion "valid inclusion" (log index 1 of 2), and sigstore-js's
    // verifyInclusion test: rekor.sigstore.dev log index 3056587 of 3063448.
    let vectors: [(&str, u64, u64, &[&str], &str); 2] = [
        (
            "eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoicmVrb3JkIiwic3BlYyI6eyJkYXRhIjp7Imhhc2giOnsiYWxnb3JpdGhtIjoic2hhMjU2IiwidmFsdWUiOiJlY2RjNTUzNmY3M2JkYWU4ODE2ZjBlYTQwNzI2ZWY1ZTliODEwZDkxNDQ5MzA3NTkwM2JiOTA2MjNkOTdiMWQ4In19LCJzaWduYXR1cmUiOnsiY29udGVudCI6Ik1FWUNJUUQvUGRQUW1LV0MxKzBCTkVkNWdLdlFHcjF4eGwzaWVVZmZ2M2prMXp6Skt3SWhBTEJqM3hmQXlXeGx6NGpwb0lFSVYxVWZLOXZua1VVT1NvZVp4QlpQSEtQQyIsImZvcm1hdCI6Ing1MDkiLCJwdWJsaWNLZXkiOnsiY29udGVudCI6IkxTMHRMUzFDUlVkSlRpQlFWVUpNU1VNZ1MwVlpMUzB0TFMwS1RVWnJkMFYzV1VoTGIxcEplbW93UTBGUldVbExiMXBKZW1vd1JFRlJZMFJSWjBGRlRVOWpWR1pTUWxNNWFtbFlUVGd4UmxvNFoyMHZNU3R2YldWTmR3cHRiaTh6TkRjdk5UVTJaeTlzY21sVE56SjFUV2haT1V4alZDczFWVW8yWmtkQ1oyeHlOVm80VERCS1RsTjFZWE41WldRNVQzUmhVblozUFQwS0xTMHRMUzFGVGtRZ1VGVkNURWxESUV0RldTMHRMUzB0Q2c9PSJ9fX19",
            1,
            2,
            &["59a575f157274702c38de3ab1e1784226f391fb79500ebf9f02b4439fb77574c"],
            "5be1758dd2228acfaf2546b4b6ce8aa40c82a3748f3dcb550e0d67ba34f02a45",
        ),
        (
            "eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoicmVrb3JkIiwic3BlYyI6eyJkYXRhIjp7Imhhc2giOnsiYWxnb3JpdGhtIjoic2hhMjU2IiwidmFsdWUiOiI0OGQ5OTkyNjBkZmY4ZDgzNGY4MWM4NWE3NGY1MDk1YWY4ZWRlNTM5ZWEzYWVhMTk5NTc4N2M0NTU1YzZiZTQ3In19LCJzaWduYXR1cmUiOnsiY29udGVudCI6Ik1FVUNJUURDRnBjaHVyQTNTWVNFMTJHTG9qUjRZRmR5RFpkaU9IbkppYVdLRENiVW53SWdHSnJRUm5qcm9xUmtuRiszRUdqaHhqaURUZDhURXB2MTVmZkRBR2Z6enVVPSIsImZvcm1hdCI6Ing1MDkiLCJwdWJsaWNLZXkiOnsiY29udGVudCI6IkxTMHRMUzFDUlVkSlRpQlFWVUpNU1VNZ1MwVlpMUzB0TFMwS1RVWnJkMFYzV1VoTGIxcEplbW93UTBGUldVbExiMXBKZW1vd1JFRlJZMFJSWjBGRlRXVmpZWFVyV1daTlJsZFpjazV0ZDFreldVaE5kM0E0VlUwMU1RcHhaV1o1ZG1oWmNqSnhaV0pLV0ZCdFdFY3hWM0JpYkdwWFkyYzVaekZHVDJoUWFXVjVPVWh6VEVsdGFERnJWMlJqYkhjdlkzcERWMUYzUFQwS0xTMHRMUzFGVGtRZ1VGVkNURWxESUV0RldTMHRMUzB0Q2c9PSJ9fX19",
            3_056_587,
            3_063_448,
            &[
                "6f6ad87e72762b653c96db394eadcb58a8bbce16ba72fd3d1ad56421baefd0af",
                "2fa68c2f97cdf8257b0e8103d10ab6320c5007099c8f9e2c2196db634dc364f5",
                "9f8f947be87b4f343a0ad1a4835cabd0c744eff2a51b852057e8459e2bb55a56",
                "336e1fc366c19dd34250e10baea5ef74caa0a5b7db0ae92047fcda8067c0385f",
                "5da501f1e7f45fe63af0b09373b4f5578b3899d3fc6e0ec7262387d2975eb22c",
                "490b00a963228e7a8f70762d4856eeeb8280413e1d1cb7fb4e9683e223b5f6ba",
                "075e588755235f14fddd7190ac9347b6ec045ce4c88a0794ce193cbfe3d60142",
                "167fe9d15fd6a3de12ae2747785e23c9425bf677c7fd957976cae3e27b6d9bd1",
                "eee183886501e85197c62c6c0d371e479115f71a50618d8552b73b228717a5ae",
                "ef118b4a9e69d9000c48515d7e2f30ce606197d21e6bacc82fd7a61c48a67507",
                "bd0cbc5a454654ff88d2e08e3c443204308e423834e0fed2481b847da5d2dfcf",
                "cec90b763ab869bc411f51ed8f4206b4d051c9502533f2638b15277fd2ae5e9e",
                "4e2d269ec9ef9d4e9270c482b70a64e75d84f850902b5e5e65acd14844cf659b",
                "d63d28e2b4a9476ea2df69f03be3e9dd453c2232ed172e5f79487a9e60711f51",
                "599040ed55824445153996171c1045d696176b6a252159aaa3630c033b45e70c",
                "860efc785c66773fe35db221860cfb482dfe0a6bfe602aaade78149084c9ab86",
                "39da4af7f0fbe095e6bc78c146ad59c70881d3fcb22e90c7675dee5e6736bc76",
                "806e7153f439cdb4558d7ac89defb0e17aa9742e888cb660774b94b5399c3322",
                "efb36cfc54705d8cd921a621a9389ffa03956b15d68bfabadac2b4853852079b",
            ],
            "8326106075b643a01711dddf32e9b361b475ca21e9d81afec867a3c6a3dbb55c",
        ),
    ];
    use arkivo_core::merkle::{self, Hash};
    let hash = |h: &str| Hash::from_hex(h).unwrap();
    for (body_b64, index, size, proof, root) in vectors {
        let body = B64.decode(body_b64).unwrap();
        let proof: Vec<Hash> = proof.iter().map(|h| hash(h)).collect();
        merkle::verify_inclusion(
            index,
            size,
            &merkle::record_hash(&body),
            &proof,
            &hash(root),
        )
        .unwrap();

        let keys = entries::index_keys_of_body(&body).unwrap();
        assert_eq!(
            entries::kind_of_body(&body).unwrap(),
            (Kind::Rekord, "0.0.1")
        );
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        let spec = &parsed["spec"];
        let pem = B64
            .decode(spec["signature"]["publicKey"]["content"].as_str().unwrap())
            .unwrap();
        let pem = String::from_utf8(pem).unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            rekord_body(
                spec["data"]["hash"]["value"].as_str().unwrap(),
                &B64.decode(spec["signature"]["content"].as_str().unwrap())
                    .unwrap(),
                &pem
            )
        );
        for key in [
            format!("sha256:{}", spec["data"]["hash"]["value"].as_str().unwrap()),
            hex::encode(Sha256::digest(pem.as_bytes())),
            spki_key(&pem),
        ] {
            assert!(keys.contains(&key), "{key} not in {keys:?}");
        }
        // The body is no request: the data is not in it.
        let msg = invalid(entries::canonicalize_bytes(&body));
        assert!(
            msg.contains("'content' must be specified for data"),
            "{msg}"
        );
    }
}

/// Every key type upstream's x509 verifier takes, over the whole data with its default hash:
/// ECDSA with SHA-256 on every curve, RSA PKCS#1 v1.5 with SHA-256 (1024 bits too: upstream
/// applies its algorithm policy to hashedrekord only), pure Ed25519. The signatures of
/// hashedrekord's policy (P-384 with SHA-384, Ed25519ph) do not verify.
#[test]
fn rekord_every_key_type() {
    let signers = [
        Signer::p256(),
        Signer::p384(),
        Signer::p521(),
        Signer::rsa(1024),
        Signer::rsa(2048),
        Signer::rsa(3072),
        Signer::rsa(4096),
        Signer::ed25519(),
    ];
    for signer in &signers {
        let e =
            entries::canonicalize(&rekord_signed(signer, ARTIFACT, &signer.public_pem())).unwrap();
        check_entry(&e);
        // ECDSA also as IEEE P1363 r ‖ s, stored as given (upstream's verifier takes both).
        if matches!(signer, Signer::P256(_) | Signer::P384(_) | Signer::P521(_)) {
            let raw = signer.sign_digest_raw("sha256", &Sha256::digest(ARTIFACT));
            let e =
                entries::canonicalize(&rekord("x509", ARTIFACT, &raw, &signer.public_pem(), None))
                    .unwrap();
            let body: Value = serde_json::from_slice(&e.body).unwrap();
            assert_eq!(body["spec"]["signature"]["content"], B64.encode(&raw));
        }
    }
    let p384 = Signer::p384();
    let sha384 = p384.sign_digest("sha384", &Sha384::digest(ARTIFACT));
    let msg = invalid(entries::canonicalize(&rekord(
        "x509",
        ARTIFACT,
        &sha384,
        &p384.public_pem(),
        None,
    )));
    assert!(
        msg.starts_with(
            "error processing entry: verifying signature over data.content: invalid signature"
        ),
        "{msg}"
    );
    let ed = Signer::ed25519();
    let ph = ed.sign_ed25519ph(ARTIFACT);
    assert!(entries::canonicalize(&rekord("x509", ARTIFACT, &ph, &ed.public_pem(), None)).is_err());
    // RSA-PSS: upstream's default RSA verifier is PKCS#1 v1.5.
    let Signer::Rsa(key) = Signer::rsa(2048) else {
        unreachable!()
    };
    let pss = key
        .sign_with_rng(
            &mut OsRng,
            rsa::Pss::new::<Sha256>(),
            &Sha256::digest(ARTIFACT),
        )
        .unwrap();
    let pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(
        invalid(entries::canonicalize(&rekord(
            "x509", ARTIFACT, &pss, &pem, None
        ))),
        "error processing entry: verifying signature over data.content: crypto/rsa: verification error"
    );
}

/// Certificates and chains as for hashedrekord (§5.1): the leaf's SANs are index keys, a chain
/// must chain.
#[test]
fn rekord_certificates_and_chains() {
    let selfsigned = p256_from_fixture("selfsigned.key");
    let cert = fixture("selfsigned.pem");
    let e = entries::canonicalize(&rekord_signed(&selfsigned, ARTIFACT, &cert)).unwrap();
    check_entry(&e);
    let hashed = entries::canonicalize(&signed_with_pem(&selfsigned, &cert)).unwrap();
    let subjects: Vec<&String> = hashed
        .index_keys
        .iter()
        .filter(|k| k.contains('@') || k.contains("://") || k.contains('.'))
        .collect();
    assert!(!subjects.is_empty());
    for s in subjects {
        assert!(e.index_keys.contains(s), "{s} not in {:?}", e.index_keys);
    }

    let ed = Signer::Ed25519(
        ed25519_dalek::SigningKey::from_pkcs8_pem(&fixture("ed25519.key")).unwrap(),
    );
    let e = entries::canonicalize(&rekord_signed(&ed, ARTIFACT, &fixture("ed25519.pem"))).unwrap();
    assert!(e.index_keys.contains(&"dave@example.net".to_owned()));

    let leaf = p256_from_fixture("leaf.key");
    let (l, i, r, other) = (
        fixture("leaf.pem"),
        fixture("intermediate.pem"),
        fixture("root.pem"),
        fixture("otherroot.pem"),
    );
    let e = entries::canonicalize(&rekord_signed(&leaf, ARTIFACT, &format!("{l}{i}{r}"))).unwrap();
    check_entry(&e);
    assert!(e.index_keys.contains(&"carol@example.org".to_owned()));
    let msg = invalid(entries::canonicalize(&rekord_signed(
        &leaf,
        ARTIFACT,
        &format!("{l}{i}{other}"),
    )));
    assert!(
        msg.contains("x509: certificate signed by unknown authority"),
        "{msg}"
    );
}

/// Mutated inputs that must fail, each with a message naming the problem.
#[test]
fn rekord_mutated_inputs_are_refused() {
    let signer = Signer::p256();
    let pem = signer.public_pem();
    let sig = signer.sign_dsse(ARTIFACT);
    let sha = hex::encode(Sha256::digest(ARTIFACT));
    let good = rekord("x509", ARTIFACT, &sig, &pem, Some(&sha));
    entries::canonicalize(&good).unwrap();
    let bad = |edit: &dyn Fn(&mut Value)| {
        let mut r = good.clone();
        edit(&mut r);
        invalid(entries::canonicalize(&r))
    };
    let verify = "error processing entry: verifying signature over data.content: ";

    // Another data with its own hash, a signature of other data, another key.
    let other = b"hello, rekor?\n";
    let msg = invalid(entries::canonicalize(&rekord(
        "x509", other, &sig, &pem, None,
    )));
    assert!(msg.starts_with(verify), "{msg}");
    let msg = invalid(entries::canonicalize(&rekord(
        "x509",
        ARTIFACT,
        &signer.sign_dsse(other),
        &pem,
        None,
    )));
    assert!(msg.starts_with(verify), "{msg}");
    let msg = invalid(entries::canonicalize(&rekord(
        "x509",
        ARTIFACT,
        &sig,
        &Signer::p256().public_pem(),
        None,
    )));
    assert!(msg.starts_with(verify), "{msg}");
    // Every single-bit change of the signature fails (exhaustive over its bits).
    for bit in 0..sig.len() * 8 {
        let mut s = sig.clone();
        s[bit / 8] ^= 1 << (bit % 8);
        assert!(
            entries::canonicalize(&rekord("x509", ARTIFACT, &s, &pem, None)).is_err(),
            "bit {bit}"
        );
    }
    // Hash and content that disagree; upper-case hex never matches (upstream compares strings).
    let other_sha = hex::encode(Sha256::digest(other));
    assert_eq!(
        bad(&|r| r["spec"]["data"]["hash"]["value"] = other_sha.clone().into()),
        format!("error processing entry: SHA mismatch: {sha} != {other_sha}")
    );
    assert!(
        bad(&|r| r["spec"]["data"]["hash"]["value"] = sha.to_uppercase().into())
            .contains("SHA mismatch")
    );
    // Only a hash: the log does not fetch data.
    let msg = bad(&|r| {
        r["spec"]["data"].as_object_mut().unwrap().remove("content");
    });
    assert!(
        msg.starts_with("error processing entry: 'content' must be specified for data: the signature is verified over the data"),
        "{msg}"
    );
    assert!(
        bad(&|r| r["spec"]["data"]["content"] = "".into())
            .contains("'content' must be specified for data")
    );
    // Formats upstream knows but this log does not verify.
    for format in ["pgp", "minisign", "ssh"] {
        assert_eq!(
            bad(&|r| r["spec"]["signature"]["format"] = format.into()),
            format!(
                "error processing entry: rekord with format {format} is not supported: this log \
                 verifies x509 signatures (PEM public keys and certificates) only"
            )
        );
    }
    for (edit, want) in [
        (
            &(|r: &mut Value| r["spec"]["signature"]["format"] = "X509".into())
                as &dyn Fn(&mut Value),
            "signature.format in body should be one of [pgp minisign x509 ssh], got \"X509\"",
        ),
        (
            &|r: &mut Value| {
                r["spec"]["signature"]
                    .as_object_mut()
                    .unwrap()
                    .remove("format");
            },
            "signature.format in body is required",
        ),
        (
            &|r: &mut Value| r["spec"]["signature"]["format"] = 1.into(),
            "signature.format in body must be of type string",
        ),
        (
            &|r: &mut Value| {
                r["spec"].as_object_mut().unwrap().remove("signature");
            },
            "signature in body is required",
        ),
        (
            &|r: &mut Value| {
                r["spec"].as_object_mut().unwrap().remove("data");
            },
            "data in body is required",
        ),
        (
            &|r: &mut Value| r["spec"]["signature"]["content"] = "".into(),
            "'content' must be specified for signature",
        ),
        (
            &|r: &mut Value| {
                r["spec"]["signature"]
                    .as_object_mut()
                    .unwrap()
                    .remove("publicKey");
            },
            "missing public key",
        ),
        (
            &|r: &mut Value| r["spec"]["signature"]["publicKey"]["content"] = "".into(),
            "'content' must be specified for publicKey",
        ),
        (
            &|r: &mut Value| r["spec"]["data"]["hash"]["algorithm"] = "sha512".into(),
            "data.hash.algorithm in body should be one of [sha256]",
        ),
        (
            &|r: &mut Value| r["spec"]["data"]["hash"]["value"] = "abc".into(),
            "invalid value for hash",
        ),
        (
            &|r: &mut Value| r["spec"]["data"]["hash"]["value"] = "g".repeat(64).into(),
            "invalid value for hash",
        ),
        (
            &|r: &mut Value| r["spec"]["data"]["content"] = "!!".into(),
            "failed parsing base64 data for data content",
        ),
        (
            &|r: &mut Value| {
                r["spec"]["signature"]["publicKey"]["content"] = B64.encode("not a key").into()
            },
            "PEM",
        ),
        (
            &|r: &mut Value| r["spec"] = json!([]),
            "spec in body must be of type object",
        ),
    ] {
        let msg = bad(edit);
        assert!(msg.contains(want), "{msg} lacks {want}");
    }
}

/// Stored rekord bodies are re-read strictly (the fsck and the search index rely on it).
#[test]
fn rekord_index_keys_of_body_checks_canonical_form() {
    let signer = Signer::p256();
    let e = entries::canonicalize(&rekord_signed(&signer, ARTIFACT, &signer.public_pem())).unwrap();
    let body: Value = serde_json::from_slice(&e.body).unwrap();
    for (pointer, value) in [
        ("/spec/signature/format", json!("pgp")),
        ("/spec/data/hash/value", json!("00")),
        ("/apiVersion", json!("0.0.2")),
        ("/spec/signature/content", json!("")),
    ] {
        let mut b = body.clone();
        *b.pointer_mut(pointer).unwrap() = value;
        assert!(
            entries::index_keys_of_body(jcs(&b).as_bytes()).is_err(),
            "{pointer}"
        );
    }
    // Not JCS (members reordered): refused.
    let reordered = String::from_utf8(e.body.clone()).unwrap().replacen(
        "{\"apiVersion\":\"0.0.1\",\"kind\":\"rekord\",",
        "{\"kind\":\"rekord\",\"apiVersion\":\"0.0.1\",",
        1,
    );
    assert!(entries::index_keys_of_body(reordered.as_bytes()).is_err());
}

mod rekord_props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any data signed is accepted, stored as its SHA-256 alone; any one-byte change of the
        /// data is refused.
        #[test]
        fn any_data_signed_is_logged_and_any_change_refused(
            data in prop::collection::vec(any::<u8>(), 1..2048),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let signer = Signer::p256();
            let pem = signer.public_pem();
            let sig = signer.sign_dsse(&data);
            let e = entries::canonicalize(&rekord("x509", &data, &sig, &pem, None)).unwrap();
            let sha = hex::encode(Sha256::digest(&data));
            prop_assert_eq!(std::str::from_utf8(&e.body).unwrap(), rekord_body(&sha, &sig, &pem));
            let mut changed = data.clone();
            changed[at.index(data.len())] ^= flip;
            prop_assert!(entries::canonicalize(&rekord("x509", &changed, &sig, &pem, None)).is_err());
            prop_assert!(entries::canonicalize(&rekord("x509", &changed, &sig, &pem, Some(&sha))).is_err());
        }

        #[test]
        fn rekord_shaped_values_never_panic(
            format in prop::sample::select(vec!["x509", "pgp", "ssh", "minisign", "", "X509"]),
            data in "[A-Za-z0-9+/=\r\n_-]{0,120}",
            sig in "[A-Za-z0-9+/=\r\n_-]{0,120}",
            pem in prop::sample::select(vec![EXAMPLE_PEM_B64.to_owned(), DSSE_VERIFIER.to_owned(), String::new(), "AAAA".to_owned()]),
            hash in prop::option::of("[0-9a-fA-Fg]{0,70}"),
        ) {
            let mut r = json!({"apiVersion": "0.0.1", "kind": "rekord", "spec": {
                "signature": {"format": format, "content": sig, "publicKey": {"content": pem}},
                "data": {"content": data}}});
            if let Some(h) = hash {
                r["spec"]["data"]["hash"] = json!({"algorithm": "sha256", "value": h});
            }
            let _ = entries::canonicalize(&r);
        }
    }
}
