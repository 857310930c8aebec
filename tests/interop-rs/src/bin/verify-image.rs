//! sigstore-rs's cosign verifier reading an image signature that `arkivo sign` stored in the
//! legacy `sha256-<hex>.sig` layout (cosign-oci-storage.md §2): it fetches the signature layers
//! itself, verifies the Rekor bundle annotation's SET with the log key (looked up by the
//! annotation's log ID), and checks the payload against the image digest and the signature
//! against the signer's key.
//!
//! Usage: `verify-image <image> <signer public key PEM file> <log public key PEM file>`.
//! Prints the number of verified layers carrying a log entry; exits non-zero when none verifies.
//! (sigstore-rs reads bundle-format referrers only for keyless signatures, so the bundle layout
//! is not checked here.)

use std::collections::BTreeMap;

use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use sha2::Digest as _;
use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities as _, verify_constraints};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use sigstore::trust::ManualTrustRoot;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, image, signer, log] = args.as_slice() else {
        eprintln!("usage: verify-image <image> <signer.pub> <log.pub>");
        std::process::exit(2);
    };
    match run(image, signer, log).await {
        Ok(n) => println!("{n}"),
        Err(e) => {
            eprintln!("sigstore-rs: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(image: &str, signer: &str, log: &str) -> Result<usize, String> {
    let log_pem = std::fs::read_to_string(log).map_err(|e| e.to_string())?;
    let log_der = p256::PublicKey::from_public_key_pem(&log_pem)
        .and_then(|k| k.to_public_key_der().map_err(Into::into))
        .map_err(|e| format!("log key: {e}"))?
        .into_vec();
    let trust = ManualTrustRoot {
        rekor_keys: BTreeMap::from([(hex::encode(sha2::Sha256::digest(&log_der)), log_der)]),
        ..ManualTrustRoot::default()
    };
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        })
        .with_trust_repository(&trust)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let reference: OciReference = image.parse().map_err(|e| format!("{e:?}"))?;
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &reference)
        .await
        .map_err(|e| e.to_string())?;
    let logged: Vec<_> = layers
        .into_iter()
        .filter(|l| matches!(l.bundle, Some(BundleContent::RekorBundle(_))))
        .collect();
    if logged.is_empty() {
        return Err("no signature layer with a verified Rekor bundle".into());
    }
    let signer_pem = std::fs::read(signer).map_err(|e| e.to_string())?;
    let verifier = PublicKeyVerifier::new(&signer_pem, &SigningScheme::ECDSA_P256_SHA256_ASN1)
        .map_err(|e| e.to_string())?;
    let constraints: VerificationConstraintVec = vec![Box::new(verifier)];
    verify_constraints(&logged, constraints.iter()).map_err(|e| format!("{e:?}"))?;
    Ok(logged.len())
}
