//! sigstore-python — the `sigstore` CLI, run as a subprocess — against a real `arkivo serve` with
//! its CA, CT log and TSA, signing keyless with ID tokens of a test OIDC issuer that really signs
//! them (tests/common/oidc.rs). The trust material is what the server serves: the
//! ClientTrustConfig of `GET /api/v1/log/clientTrustConfig` for `--trust-config`, and the TUF
//! repository under `/tuf/` for `trust-instance` and `--instance`.
//!
//! Checked: `sign` and `attest` through the log as Rekor v1 and as Rekor v2, each verified by
//! `verify identity`, which refuses another identity, another issuer and a tampered artifact;
//! `arkivo verify-blob` verifies sigstore-python's Rekor v1 bundles and sigstore-python verifies
//! `arkivo sign-blob`'s keyless bundle.
//!
//! sigstore-python must be installed (scripts/setup puts it in a venv; `ARKIVO_PYTHON` names
//! another interpreter): these tests fail, never skip, without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::oidc::{Alg, TestIssuer};
use common::{Run, TestServer, path, python, run_arkivo};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const EMAIL: &str = "alice@example.org";

/// A server with a CA trusting the test issuer's `email` issuer, and a working directory whose
/// `trust_config.json` is the server's ClientTrustConfig.
struct Instance {
    issuer: TestIssuer,
    server: TestServer,
    work: tempfile::TempDir,
}

impl Instance {
    async fn start() -> Instance {
        let issuer = TestIssuer::start(false);
        let server = TestServer::start(&["--oidc-issuer", &issuer.url("email")]);
        let work = tempfile::tempdir().unwrap();
        let instance = Instance {
            issuer,
            server,
            work,
        };
        for (file, route) in [
            ("trust_config.json", "/api/v1/log/clientTrustConfig"),
            ("trusted_root.json", "/api/v1/log/trustedRoot"),
        ] {
            let body = reqwest::get(format!("{}{route}", instance.server.base_url()))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            std::fs::write(instance.file(file), body).unwrap();
        }
        instance
    }

    fn file(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn issuer_url(&self) -> String {
        self.issuer.url("email")
    }

    /// A fresh ID token for `email`.
    fn token(&self, email: &str) -> String {
        self.issuer.token(
            Alg::Es256,
            "email",
            json!({"email": email, "email_verified": true}),
        )
    }

    /// `sigstore <args>`, its TUF cache and data in the working directory (never the user's).
    fn sigstore(&self, args: &[&str]) -> Run {
        let out = Command::new(python())
            .args(["-m", "sigstore"])
            .args(args)
            .env("XDG_CACHE_HOME", self.file("xdg-cache"))
            .env("XDG_DATA_HOME", self.file("xdg-data"))
            .stdin(Stdio::null())
            .output()
            .expect("running sigstore-python");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `sigstore --trust-config trust_config.json <args>`.
    fn with_trust_config(&self, args: &[&str]) -> Run {
        let config = self.file("trust_config.json");
        self.sigstore(&[&["--trust-config", path(&config)], args].concat())
    }

    /// `verify identity` of `artifact` with `bundle` for `identity` and `issuer`, under
    /// `instance` (e.g. `--trust-config F` or `--instance URL`).
    fn verify(
        &self,
        instance: &[&str],
        bundle: &Path,
        identity: &str,
        issuer: &str,
        artifact: &Path,
    ) -> Run {
        let args = [
            instance,
            &[
                "verify",
                "identity",
                "--bundle",
                path(bundle),
                "--cert-identity",
                identity,
                "--cert-oidc-issuer",
                issuer,
                path(artifact),
            ],
        ]
        .concat();
        self.sigstore(&args)
    }

    /// `arkivo verify-blob` of `artifact` with `bundle` against the served trusted root.
    fn arkivo_verify(&self, bundle: &Path, artifact: &Path) -> Run {
        let root = self.file("trusted_root.json");
        run_arkivo(
            None,
            &[
                "verify-blob",
                "--bundle",
                path(bundle),
                "--trusted-root",
                path(&root),
                "--certificate-identity",
                EMAIL,
                "--certificate-oidc-issuer",
                &self.issuer_url(),
                path(artifact),
            ],
            &[],
        )
    }

    /// `arkivo verify-blob-attestation` of `artifact` with the DSSE `bundle` for `identity`
    /// against the served trusted root, requiring the predicate type of `attest`.
    fn arkivo_verify_attestation(&self, bundle: &Path, artifact: &Path, identity: &str) -> Run {
        let root = self.file("trusted_root.json");
        run_arkivo(
            None,
            &[
                "verify-blob-attestation",
                "--bundle",
                path(bundle),
                "--trusted-root",
                path(&root),
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                &self.issuer_url(),
                "--type",
                "slsaprovenance1",
                path(artifact),
            ],
            &[],
        )
    }

    /// `arkivo verify-blob-attestation` accepts the DSSE `bundle` for `artifact` and refuses it
    /// (exit code 1) for another identity, a tampered artifact, and a tampered envelope:
    /// another subject in the payload, another signature.
    fn arkivo_verifies_only_the_attested(&self, bundle: &Path, artifact: &Path) {
        ok(&self.arkivo_verify_attestation(bundle, artifact, EMAIL));
        let failed = |run: Run, needle: &str| {
            assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains(needle),
                "{needle:?} not in {}",
                run.stderr
            );
        };
        failed(
            self.arkivo_verify_attestation(bundle, artifact, "mallory@example.org"),
            "wrong identity",
        );
        let tampered = self.file("tampered");
        let mut bytes = std::fs::read(artifact).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&tampered, bytes).unwrap();
        failed(
            self.arkivo_verify_attestation(bundle, &tampered, EMAIL),
            "the statement is not about",
        );
        let mut b = bundle_json(bundle);
        let envelope = &mut b["dsseEnvelope"];
        let mut statement: Value =
            serde_json::from_slice(&B64.decode(envelope["payload"].as_str().unwrap()).unwrap())
                .unwrap();
        let digest = hex::encode(Sha256::digest(std::fs::read(&tampered).unwrap()));
        statement["subject"][0]["digest"]["sha256"] = Value::from(digest);
        let original = envelope["payload"].take();
        envelope["payload"] = Value::from(B64.encode(statement.to_string()));
        let changed = self.file("changed-payload.json");
        std::fs::write(&changed, b.to_string()).unwrap();
        failed(
            self.arkivo_verify_attestation(&changed, &tampered, EMAIL),
            "verification failed",
        );
        b["dsseEnvelope"]["payload"] = original;
        let sig = &mut b["dsseEnvelope"]["signatures"][0]["sig"];
        let mut der = B64.decode(sig.as_str().unwrap()).unwrap();
        let last = der.len() - 1;
        der[last] ^= 1;
        *sig = Value::from(B64.encode(der));
        std::fs::write(&changed, b.to_string()).unwrap();
        failed(
            self.arkivo_verify_attestation(&changed, artifact, EMAIL),
            "verification failed",
        );
    }

    /// Checks that `verify identity` accepts `bundle` for `artifact` under `instance`, and
    /// refuses it for another identity, another issuer and a tampered artifact.
    fn verifies_only_the_signed(&self, instance: &[&str], bundle: &Path, artifact: &Path) {
        let issuer = self.issuer_url();
        ok(&self.verify(instance, bundle, EMAIL, &issuer, artifact));
        refused(&self.verify(instance, bundle, "mallory@example.org", &issuer, artifact));
        refused(&self.verify(instance, bundle, EMAIL, &self.issuer.url("other"), artifact));
        let tampered = self.file("tampered");
        let mut bytes = std::fs::read(artifact).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&tampered, bytes).unwrap();
        refused(&self.verify(instance, bundle, EMAIL, &issuer, &tampered));
    }
}

fn ok(run: &Run) -> &Run {
    assert_eq!(run.code, 0, "failed:\n{}\n{}", run.stdout, run.stderr);
    run
}

/// sigstore-python's refusal: a failure that names the failed input.
fn refused(run: &Run) {
    assert_ne!(run.code, 0, "accepted:\n{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("FAIL"),
        "no FAIL in:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

fn bundle_json(bundle: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap()
}

/// The kind and version of the bundle's log entry, and whether it carries an RFC 3161 timestamp.
fn entry_kind(bundle: &Path) -> (String, String, bool) {
    let b = bundle_json(bundle);
    let entry = &b["verificationMaterial"]["tlogEntries"][0]["kindVersion"];
    let timestamps = &b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
    (
        entry["kind"].as_str().unwrap_or_default().to_owned(),
        entry["version"].as_str().unwrap_or_default().to_owned(),
        timestamps.as_array().is_some_and(|t| !t.is_empty()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_and_verify_identity_through_rekor_v1_and_v2() {
    let it = Instance::start().await;
    let artifact = it.file("artifact.txt");
    std::fs::write(&artifact, b"signed by sigstore-python").unwrap();
    let config = it.file("trust_config.json");
    let instance = ["--trust-config", path(&config)];
    // Rekor v2 is the highest version the signing config lists, so sigstore-python's default.
    for (version, expected) in [(None, "0.0.2"), (Some("1"), "0.0.1"), (Some("2"), "0.0.2")] {
        let bundle = it.file(&format!("artifact.{}.sigstore.json", expected));
        let token = it.token(EMAIL);
        let mut args = vec!["sign", "--identity-token", &token, "--overwrite"];
        if let Some(v) = version {
            args.extend(["--rekor-version", v]);
        }
        args.extend(["--bundle", path(&bundle), path(&artifact)]);
        ok(&it.with_trust_config(&args));
        let (kind, v, timestamped) = entry_kind(&bundle);
        assert_eq!((kind.as_str(), v.as_str()), ("hashedrekord", expected));
        // sigstore-python asks the TSA for a timestamp whenever the signing config lists one.
        assert!(
            timestamped,
            "no RFC 3161 timestamp in the {expected} bundle"
        );
        // The certificate is the CA's, for the token's identity.
        let b = bundle_json(&bundle);
        let leaf = &b["verificationMaterial"]["certificate"]["rawBytes"];
        assert!(B64.decode(leaf.as_str().unwrap()).is_ok(), "{b}");
        it.verifies_only_the_signed(&instance, &bundle, &artifact);
        // arkivo verify-blob: a Rekor v1 entry's time is its SET, a v2 entry's the timestamp.
        ok(&it.arkivo_verify(&bundle, &artifact));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn attest_in_toto_and_verify_through_rekor_v1_and_v2() {
    let it = Instance::start().await;
    let artifact = it.file("artifact.tar");
    std::fs::write(&artifact, b"an artifact with provenance").unwrap();
    let predicate = it.file("predicate.json");
    std::fs::write(
        &predicate,
        json!({
            "buildDefinition": {
                "buildType": "https://example.org/build/v1",
                "externalParameters": {"ref": "main"},
            },
            "runDetails": {"builder": {"id": "https://example.org/builder"}},
        })
        .to_string(),
    )
    .unwrap();
    let config = it.file("trust_config.json");
    let instance = ["--trust-config", path(&config)];
    for version in ["1", "2"] {
        let bundle = it.file(&format!("artifact.v{version}.sigstore.json"));
        let token = it.token(EMAIL);
        ok(&it.with_trust_config(&[
            "attest",
            "--rekor-version",
            version,
            "--identity-token",
            &token,
            "--predicate",
            path(&predicate),
            "--predicate-type",
            "https://slsa.dev/provenance/v1",
            "--bundle",
            path(&bundle),
            path(&artifact),
        ]));
        let b = bundle_json(&bundle);
        let envelope = &b["dsseEnvelope"];
        assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
        let statement: Value =
            serde_json::from_slice(&B64.decode(envelope["payload"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
        // Rekor v2 takes DSSE as a hashedrekord over the PAE (sigstore-services.md §6).
        let (kind, _, timestamped) = entry_kind(&bundle);
        let expected = if version == "1" {
            "dsse"
        } else {
            "hashedrekord"
        };
        assert_eq!(kind, expected, "v{version}");
        assert!(timestamped);
        it.verifies_only_the_signed(&instance, &bundle, &artifact);
        // arkivo verify-blob-attestation: a v1 dsse entry (SET) or a v2 hashedrekord over the
        // PAE (timestamp).
        it.arkivo_verifies_only_the_attested(&bundle, &artifact);
    }
}

/// `arkivo attest-blob` keyless, through Rekor v1 (a `dsse` entry) and v2 (a `hashedrekord`
/// over the PAE, with the TSA's timestamp): sigstore-python's `verify identity` accepts the
/// bundle for the statement's subject (the artifact) only, and so does arkivo.
#[tokio::test(flavor = "multi_thread")]
async fn arkivo_attestation_verifies_with_sigstore_python() {
    let it = Instance::start().await;
    let artifact = it.file("artifact.tar");
    std::fs::write(&artifact, b"attested keyless by arkivo").unwrap();
    let predicate = it.file("predicate.json");
    std::fs::write(&predicate, json!({"builder": {"id": "arkivo"}}).to_string()).unwrap();
    let root = it.file("trusted_root.json");
    let config = it.file("trust_config.json");
    for (version, kind) in [("1", "dsse"), ("2", "hashedrekord")] {
        let bundle = it.file(&format!("artifact.arkivo-attestation.v{version}.json"));
        let token = it.token(EMAIL);
        ok(&run_arkivo(
            None,
            &[
                "attest-blob",
                "--identity-token",
                &token,
                "--rekor-url",
                &it.server.base_url(),
                "--rekor-api-version",
                version,
                "--trusted-root",
                path(&root),
                "--predicate",
                path(&predicate),
                "--type",
                "slsaprovenance1",
                "--bundle",
                path(&bundle),
                path(&artifact),
            ],
            &[],
        ));
        let (k, _, timestamped) = entry_kind(&bundle);
        assert_eq!((k.as_str(), timestamped), (kind, version == "2"));
        it.verifies_only_the_signed(&["--trust-config", path(&config)], &bundle, &artifact);
        it.arkivo_verifies_only_the_attested(&bundle, &artifact);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn arkivo_keyless_bundle_verifies_with_sigstore_python() {
    let it = Instance::start().await;
    let artifact = it.file("artifact.bin");
    std::fs::write(&artifact, b"signed keyless by arkivo").unwrap();
    let root = it.file("trusted_root.json");
    let config = it.file("trust_config.json");
    // Rekor v1 (the SET is the time) and v2 (the TSA's TimeStampResp is).
    for version in ["1", "2"] {
        let bundle = it.file(&format!("artifact.arkivo.v{version}.json"));
        let token = it.token(EMAIL);
        let signed = run_arkivo(
            None,
            &[
                "sign-blob",
                "--identity-token",
                &token,
                "--rekor-url",
                &it.server.base_url(),
                "--rekor-api-version",
                version,
                "--trusted-root",
                path(&root),
                "--bundle",
                path(&bundle),
                path(&artifact),
            ],
            &[],
        );
        ok(&signed);
        it.verifies_only_the_signed(&["--trust-config", path(&config)], &bundle, &artifact);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_instance_from_the_tuf_root_then_sign_and_verify_through_tuf() {
    let it = Instance::start().await;
    let base = it.server.base_url();
    let root = it.file("root.json");
    let body = reqwest::get(format!("{base}/tuf/1.root.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(&root, body).unwrap();
    let mirror = format!("{base}/tuf");
    let instance = ["--instance", mirror.as_str()];
    ok(&it.sigstore(&[&instance[..], &["trust-instance", path(&root)]].concat()));
    let artifact = it.file("artifact.txt");
    std::fs::write(&artifact, b"signed with the trust of a TUF repository").unwrap();
    // Through the signing config the repository serves: Rekor v2 (the default) and v1.
    for version in ["2", "1"] {
        let bundle = it.file(&format!("artifact.v{version}.sigstore.json"));
        let token = it.token(EMAIL);
        ok(&it.sigstore(
            &[
                &instance[..],
                &[
                    "sign",
                    "--rekor-version",
                    version,
                    "--identity-token",
                    &token,
                    "--bundle",
                    path(&bundle),
                    path(&artifact),
                ],
            ]
            .concat(),
        ));
        it.verifies_only_the_signed(&instance, &bundle, &artifact);
    }
    let bundle = it.file("artifact.v2.sigstore.json");
    // Without trust-instance the instance is unknown: refused, nothing fetched on trust.
    let stranger = Instance::start().await;
    let run = stranger.sigstore(&[
        "--instance",
        &format!("{}/tuf", stranger.server.base_url()),
        "verify",
        "identity",
        "--bundle",
        path(&bundle),
        "--cert-identity",
        EMAIL,
        "--cert-oidc-issuer",
        &it.issuer_url(),
        path(&artifact),
    ]);
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}
