//! What the client reads from outside: a Sigstore bundle (verified against a fixed log key and,
//! keyless, its certificate against a fixed CA; a Rekor v2 entry's body, checkpoint and proof),
//! a private key file (up to the point where a password is needed), a trusted root (its logs,
//! its CAs, its Rekor v2 logs and timestamp authorities), a stored intoto body; a DSSE bundle's
//! entry checked against its envelope. Any bytes; nothing may panic,
//! and a bundle that parses writes back to one that parses the same.
#![no_main]

use std::sync::OnceLock;

use arkivo_client::bundle::{Bundle, BundleSigner};
use arkivo_client::identity::{self, IdentityPolicy, Matcher};
use arkivo_client::keys::{KeyError, SigningKey};
use arkivo_client::trust::{self, TrustedLog};
use arkivo_client::verify;
use libfuzzer_sys::fuzz_target;

/// A log key, made once per run (PEM).
fn log_key_pem() -> String {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| arkivo_core::signer::LogKeys::generate().ecdsa_public_pem())
        .clone()
}

/// The log of [`log_key_pem`].
fn log() -> &'static [TrustedLog] {
    static LOG: OnceLock<Vec<TrustedLog>> = OnceLock::new();
    LOG.get_or_init(|| {
        vec![TrustedLog::from_public_key_pem(&log_key_pem(), "log").expect("a P-256 key")]
    })
}

/// A Rekor v2 log key (made once per run) under the origin `fuzz.test`.
fn v2_log() -> &'static [trust::TrustedCheckpointKey] {
    static LOG: OnceLock<Vec<trust::TrustedCheckpointKey>> = OnceLock::new();
    LOG.get_or_init(|| {
        let keys = arkivo_core::signer::LogKeys::generate();
        let key = *keys.ed25519_verifier("fuzz.test").public_key();
        vec![trust::TrustedCheckpointKey {
            key_id: keys.checkpoint_key_id("fuzz.test"),
            key,
            valid_from: None,
            valid_until: None,
        }]
    })
}

/// A CA (made once per run) and a policy naming an identity and issuer.
fn ca() -> &'static (trust::CertificateTrust, IdentityPolicy) {
    static CA: OnceLock<(trust::CertificateTrust, IdentityPolicy)> = OnceLock::new();
    CA.get_or_init(|| {
        let keys = arkivo_core::ca::cert::CaKeys::generate("fuzz", std::time::SystemTime::now())
            .expect("a CA");
        let chain = arkivo_core::entries::pki::pem_blocks(keys.chain_pem.as_bytes())
            .expect("its chain")
            .into_iter()
            .map(|(_, der)| der)
            .collect();
        let trust = trust::CertificateTrust {
            cas: vec![trust::TrustedCa {
                chain,
                valid_from: None,
                valid_until: None,
                name: "fuzz".into(),
            }],
            ctlogs: Vec::new(),
        };
        let policy = IdentityPolicy {
            identity: Matcher::Exact("a@example.org".into()),
            issuer: Matcher::Exact("https://issuer.example".into()),
            workflow: vec![(2, "trigger", "push".into())],
            ignore_sct: true,
        };
        (trust, policy)
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_json(data) {
        let again =
            Bundle::from_json(bundle.to_json().as_bytes()).expect("a written bundle parses");
        assert_eq!(again, bundle);
        if let Ok(entry) = bundle.log_entry() {
            let _ = verify::verify_log_entry(&entry, log());
        }
        if let Ok(tlog) = bundle.tlog_entry() {
            let _ = arkivo_core::entries::v2::parse_hashedrekord_body(&tlog.canonicalized_body);
            let _ = verify::verify_v2_entry(tlog, v2_log(), 1_700_000_000);
        }
        let _ = bundle.message_signature();
        if let Ok(tlog) = bundle.tlog_entry()
            && let Some(envelope) = &bundle.dsse_envelope
            && let Some(s) = envelope.signatures.first()
        {
            let key = arkivo_client::keys::parse_public_key(&log_key_pem(), "log").ok();
            if let Some(key) = key {
                let _ = verify::verify_dsse(
                    &tlog.canonicalized_body,
                    &envelope.payload_type,
                    &envelope.payload,
                    &s.sig,
                    &key,
                );
            }
            let _ = arkivo_client::dsse::statement_of(envelope);
        }
        if let BundleSigner::Certificate(der) = bundle.signer() {
            let (trust, policy) = ca();
            let _ = identity::verify_certificate(der, trust, 1_700_000_000, policy);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = SigningKey::from_pem(text, "fuzz", &mut |_| {
            Err(KeyError::NoPassword("not while fuzzing".into()))
        });
    }
    let _ = trust::logs_from_trusted_root(data, "fuzz");
    let _ = trust::certificate_trust(data, "fuzz");
    let _ = trust::rekor_v2_trust(data, "fuzz");
    let _ = arkivo_core::entries::v2::parse_hashedrekord_body(data);
    let _ = arkivo_core::entries::intoto::parse_body(data);
});
