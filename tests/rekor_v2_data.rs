//! The generated protobuf types and Arkivo's verifier against real Rekor v2 data
//! (testdata/rekor-v2, see its README): staging bundles and a local server's answer parse,
//! give back exactly the JSON they were read from, and their inclusion proofs and checkpoints
//! verify with `merkle` and `checkpoint`; and Arkivo, given the same requests, builds byte for
//! byte the leaves the real Rekor v2 logged.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use spki::DecodePublicKey;

use arkivo_core::checkpoint;
use arkivo_core::entries::{self, dsse::pae, v2};
use arkivo_core::merkle::{self, Hash};
use arkivo_core::note::{self, Ed25519Verifier};
use arkivo_core::proto::intoto::Envelope;
use arkivo_core::proto::rekor_v1::TransparencyLogEntry;
use arkivo_core::proto::rekor_v2::{Entry, spec};
use arkivo_core::proto::transparency_log_entry_json;

const CASES: [&str; 3] = [
    "rekor2-happy-path",
    "rekor2-dsse-happy-path",
    "rekor2-checkpoint-cosigned",
];

fn testdata(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/rekor-v2")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json_file(path: &str) -> Value {
    serde_json::from_slice(&testdata(path)).unwrap()
}

/// The log of `origin` in a trusted root: its Ed25519 checkpoint verifier.
fn log_verifier(root: &Value, origin: &str) -> Ed25519Verifier {
    let t = root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["baseUrl"].as_str().unwrap().strip_prefix("https://") == Some(origin))
        .unwrap_or_else(|| panic!("no trusted log for {origin}"));
    assert_eq!(t["publicKey"]["keyDetails"], "PKIX_ED25519");
    let spki = B64
        .decode(t["publicKey"]["rawBytes"].as_str().unwrap())
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_public_key_der(&spki).unwrap();
    Ed25519Verifier::new(origin, key)
}

/// Verifies an entry's inclusion proof against its checkpoint, signed by `log`; returns the
/// checkpoint's size.
fn verify_inclusion(tle: &TransparencyLogEntry, log: &Ed25519Verifier) -> u64 {
    let p = tle.inclusion_proof.as_ref().unwrap();
    let envelope = &p.checkpoint.as_ref().unwrap().envelope;
    // Cosignatures by keys we do not know are ignored (§1.1).
    let cp = checkpoint::verify_c2sp(envelope, log, &[]).unwrap();
    assert_eq!(cp.size, u64::try_from(p.tree_size).unwrap());
    let hashes: Vec<Hash> = p
        .hashes
        .iter()
        .map(|h| Hash::from_slice(h).unwrap())
        .collect();
    let index = u64::try_from(tle.log_index).unwrap();
    let leaf = merkle::record_hash(&tle.canonicalized_body);
    merkle::verify_inclusion(index, cp.size, &leaf, &hashes, &cp.root).unwrap();
    // Any change to the proof, the index or the body fails.
    if let Some((first, rest)) = hashes.split_first() {
        let mut flipped = *first;
        flipped.0[0] ^= 1;
        let bad = [&[flipped], rest].concat();
        assert!(merkle::verify_inclusion(index, cp.size, &leaf, &bad, &cp.root).is_err());
    }
    assert!(merkle::verify_inclusion(index + 1, cp.size, &leaf, &hashes, &cp.root).is_err());
    let other = merkle::record_hash(&[&tle.canonicalized_body[..], b" "].concat());
    assert!(merkle::verify_inclusion(index, cp.size, &other, &hashes, &cp.root).is_err());
    cp.size
}

#[test]
fn staging_bundles_parse_round_trip_and_verify() {
    let expected = json_file("expected.json");
    for case in CASES {
        let exp = &expected["cases"][case];
        let bundle = json_file(&format!("conformance/{case}/bundle.sigstore.json"));
        let root = json_file(&format!("conformance/{case}/trusted_root.json"));
        let raw = &bundle["verificationMaterial"]["tlogEntries"][0];
        let tle: TransparencyLogEntry = serde_json::from_value(raw.clone()).unwrap();
        // Bundle writers omit default values, as our default serialization does: exactly the
        // same JSON back.
        assert_eq!(&serde_json::to_value(&tle).unwrap(), raw, "{case}");

        assert_eq!(tle.log_index, exp["logIndex"].as_i64().unwrap());
        let origin = exp["origin"].as_str().unwrap();
        let log = log_verifier(&root, origin);
        assert_eq!(
            B64.encode(&tle.log_id.as_ref().unwrap().key_id),
            B64.encode(log.key_hash()),
            "{case}: logId.keyId is the full C2SP key hash"
        );
        assert_eq!(
            verify_inclusion(&tle, &log),
            exp["treeSize"].as_u64().unwrap()
        );

        // The body is a v2 Entry in RFC 8785 form, exactly as Arkivo would have stored it.
        let entry: Entry = serde_json::from_slice(&tle.canonicalized_body).unwrap();
        assert_eq!(
            (entry.kind.as_str(), entry.api_version.as_str()),
            ("hashedrekord", "0.0.2")
        );
        entries::index_keys_of_body(&tle.canonicalized_body).unwrap();
        let Some(spec::Spec::HashedRekordV002(hr)) = entry.spec.and_then(|s| s.spec) else {
            panic!("{case}: not a hashedRekordV002");
        };
        let data = hr.data.unwrap();
        let signature = hr.signature.unwrap();

        // The request the client sent, rebuilt from the entry: Arkivo verifies it (a Fulcio
        // certificate, ECDSA P-256) and logs the very same leaf.
        let request = json!({"hashedRekordRequestV002": {
            "digest": B64.encode(&data.digest),
            "signature": signature,
        }});
        let ours = v2::canonicalize_request(&serde_json::to_vec(&request).unwrap()).unwrap();
        assert_eq!(ours.body, tle.canonicalized_body, "{case}");
        assert_eq!(
            B64.encode(ours.leaf_hash.as_bytes()),
            exp["leafHashBase64"].as_str().unwrap()
        );

        // The bundle's own signature and digest are the entry's.
        if let Some(envelope) = bundle.get("dsseEnvelope") {
            // DSSE logged as a hashedrekord over SHA-256(PAE) (spec §6.3).
            let envelope: Envelope = serde_json::from_value(envelope.clone()).unwrap();
            let digest = arkivo_core::entries::pki::HashAlg::Sha256
                .digest(&pae(&envelope.payload_type, &envelope.payload));
            assert_eq!(digest, data.digest);
            assert_eq!(envelope.signatures[0].sig, signature.content);
            assert_eq!(
                B64.encode(&digest),
                exp["dsse"]["digestBase64"].as_str().unwrap()
            );
            assert_eq!(
                serde_json::to_value(&envelope).unwrap(),
                bundle["dsseEnvelope"]
            );
        } else {
            let ms = &bundle["messageSignature"];
            assert_eq!(
                ms["messageDigest"]["digest"].as_str().unwrap(),
                B64.encode(&data.digest)
            );
            assert_eq!(
                ms["signature"].as_str().unwrap(),
                B64.encode(&signature.content)
            );
        }
    }
}

#[test]
fn a_real_answer_round_trips_with_unpopulated_fields() {
    // rekor-tiles' HTTP gateway emits unpopulated fields (`"integratedTime": "0"`,
    // `"inclusionPromise": null`); so does our answer serialization, to the same JSON.
    let raw = json_file("clients-md-example-response.json");
    let tle: TransparencyLogEntry = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&transparency_log_entry_json(&tle)).unwrap(),
        raw
    );
    assert_eq!(tle.integrated_time, 0);
    assert!(tle.inclusion_promise.is_none());
    let vkey = "rekor-local+d80b4420+AURLycjWRo1+gdwwCLg9wU4PayMFdNBmPF4ORVPiBQ1E";
    let note::VKey::Ed25519(log) = note::parse_vkey(vkey).unwrap() else {
        panic!("not an Ed25519 vkey");
    };
    assert_eq!(tle.log_id.as_ref().unwrap().key_id, log.key_hash());
    assert_eq!(verify_inclusion(&tle, &log), 1);
    // An older build: the body's spec key is `hashedRekordV0_0_2` (testdata README), which the
    // current proto does not know.
    assert!(serde_json::from_slice::<Entry>(&tle.canonicalized_body).is_err());
}
