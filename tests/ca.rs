//! The certificate authority (docs/keyless.md) on a real socket, with ID tokens from a test OIDC
//! issuer that really signs them (tests/common/oidc.rs): a certificate for each issuer type,
//! checked field by field and with openssl (`x509 -text`, `verify` against the trust bundle);
//! both ways of proving the key (a signed challenge, a CSR) and of sending the token (body,
//! bearer); the trust bundle, the configuration, and the trusted root's CA entry.

mod common;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::TestServer;
use common::oidc::{
    Alg, TestIssuer, chain, embedded_scts, pem_to_der, request_cert, tbs_without_scts,
};
use der::{Decode, Encode};
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};

/// The server's config: one issuer of each type, all served by `issuer`.
fn config(dir: &Path, issuer: &TestIssuer) -> std::path::PathBuf {
    let mut toml = String::new();
    for (name, kind, domain) in [
        ("email", "email", None),
        ("github", "github-workflow", None),
        ("gitlab", "gitlab-pipeline", None),
        ("k8s", "kubernetes", None),
        ("spiffe", "spiffe", Some("example.org")),
        ("uri", "uri", Some("https://ci.example.org")),
        ("username", "username", Some("example.org")),
    ] {
        toml.push_str(&format!(
            "[[ca.oidc_issuers]]\nurl = \"{}\"\ntype = \"{kind}\"\n",
            issuer.url(name)
        ));
        if let Some(d) = domain {
            toml.push_str(&format!("subject_domain = \"{d}\"\n"));
        }
    }
    let path = dir.join("arkivo.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// Fulcio's extension `1.3.6.1.4.1.57264.1.<arc>` of `cert`, decoded: raw for `.1`–`.6`,
/// UTF8String from `.8` on.
fn fulcio_ext(cert: &Certificate, arc: u32) -> Option<String> {
    let oid = format!("1.3.6.1.4.1.57264.1.{arc}");
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id.to_string() == oid)?;
    let bytes = ext.extn_value.as_bytes();
    Some(if arc < 8 {
        String::from_utf8(bytes.to_vec()).unwrap()
    } else {
        der::asn1::Utf8StringRef::from_der(bytes)
            .expect("a DER UTF8String")
            .to_string()
    })
}

/// Checks the Fulcio profile of a leaf and returns its one SAN.
fn check_profile(der: &[u8], issuer_url: &str) -> (Certificate, GeneralName) {
    let cert = Certificate::from_der(der).unwrap();
    let tbs = &cert.tbs_certificate;
    assert!(tbs.subject.0.is_empty(), "the subject is empty");
    let serial = tbs.serial_number.as_bytes();
    assert!(
        serial.len() <= 20 && serial[0] & 0x80 == 0,
        "a positive serial of at most 20 octets"
    );
    let validity =
        tbs.validity.not_after.to_unix_duration() - tbs.validity.not_before.to_unix_duration();
    assert_eq!(validity.as_secs(), 600, "ten minutes");
    let exts = tbs.extensions.as_ref().unwrap();
    let find = |oid: &str| exts.iter().find(|e| e.extn_id.to_string() == oid);
    let ku = find("2.5.29.15").expect("key usage");
    assert!(ku.critical);
    let ku = KeyUsage::from_der(ku.extn_value.as_bytes()).unwrap();
    assert_eq!(
        ku,
        KeyUsage(KeyUsages::DigitalSignature.into()),
        "digitalSignature only"
    );
    let eku = ExtendedKeyUsage::from_der(find("2.5.29.37").unwrap().extn_value.as_bytes()).unwrap();
    assert_eq!(
        eku.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["1.3.6.1.5.5.7.3.3"]
    );
    assert!(find("2.5.29.14").is_some(), "SKI");
    assert!(find("2.5.29.35").is_some(), "AKI");
    let san = find("2.5.29.17").expect("SAN");
    assert!(san.critical, "the SAN of an empty subject is critical");
    let mut names = SubjectAltName::from_der(san.extn_value.as_bytes())
        .unwrap()
        .0;
    assert_eq!(names.len(), 1, "exactly one SAN");
    assert_eq!(fulcio_ext(&cert, 1).as_deref(), Some(issuer_url));
    assert_eq!(fulcio_ext(&cert, 8).as_deref(), Some(issuer_url));
    (cert, names.remove(0))
}

fn uri(name: &GeneralName) -> String {
    match name {
        GeneralName::UniformResourceIdentifier(u) => u.to_string(),
        other => panic!("not a URI SAN: {other:?}"),
    }
}

/// `openssl verify` of `chain` (leaf, intermediate, root) and the text of the leaf.
fn openssl_verify(dir: &Path, chain: &[Vec<u8>]) -> String {
    let pem = |der: &[u8]| arkivo_core::entries::pki::pem_encode("CERTIFICATE", der);
    std::fs::write(dir.join("leaf.pem"), pem(&chain[0])).unwrap();
    std::fs::write(dir.join("intermediate.pem"), pem(&chain[1])).unwrap();
    std::fs::write(dir.join("root.pem"), pem(&chain[2])).unwrap();
    common::openssl(
        dir,
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
            "leaf.pem",
        ],
    );
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", "leaf.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_for_every_issuer_type_in_fulcio_profile() {
    let issuer = TestIssuer::start(false);
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&["--config", config(dir.path(), &issuer).to_str().unwrap()]);
    let base = server.base_url();

    // email, RS256.
    let token = issuer.token(
        Alg::Rs256,
        "email",
        json!({"email": "alice@example.org", "email_verified": true}),
    );
    let (status, answer) = request_cert(&base, &token, "alice@example.org").await;
    assert_eq!(status, 201, "{answer}");
    let ders = chain(&answer);
    assert_eq!(ders.len(), 3, "leaf, intermediate, root");
    let (_, san) = check_profile(&ders[0], &issuer.url("email"));
    assert!(matches!(&san, GeneralName::Rfc822Name(e) if e.to_string() == "alice@example.org"));
    let text = openssl_verify(dir.path(), &ders);
    assert!(text.contains("email:alice@example.org"), "{text}");
    assert!(text.contains("Code Signing"), "{text}");

    // github-workflow, ES256, with the build claims.
    let gh = json!({
        "sub": "repo:acme/app:ref:refs/heads/main",
        "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main",
        "job_workflow_sha": "a1b2", "runner_environment": "github-hosted",
        "repository": "acme/app", "sha": "c3d4", "ref": "refs/heads/main",
        "repository_id": "42", "repository_owner": "acme", "repository_owner_id": 7,
        "workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main",
        "workflow_sha": "e5f6", "event_name": "push", "run_id": "99", "run_attempt": "1",
        "repository_visibility": "private", "workflow": "release",
    });
    let token = issuer.token(Alg::Es256, "github", gh);
    let (status, answer) = request_cert(&base, &token, "repo:acme/app:ref:refs/heads/main").await;
    assert_eq!(status, 201, "{answer}");
    let ders = chain(&answer);
    let (cert, san) = check_profile(&ders[0], &issuer.url("github"));
    let workflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
    assert_eq!(uri(&san), workflow);
    for (arc, want) in [
        (9, workflow),
        (10, "a1b2"),
        (11, "github-hosted"),
        (12, "https://github.com/acme/app"),
        (13, "c3d4"),
        (14, "refs/heads/main"),
        (15, "42"),
        (16, "https://github.com/acme"),
        (17, "7"),
        (18, workflow),
        (19, "e5f6"),
        (20, "push"),
        (21, "https://github.com/acme/app/actions/runs/99/attempts/1"),
        (22, "private"),
        (2, "push"),
        (3, "c3d4"),
        (4, "release"),
        (5, "acme/app"),
        (6, "refs/heads/main"),
    ] {
        assert_eq!(
            fulcio_ext(&cert, arc).as_deref(),
            Some(want),
            "extension .{arc}"
        );
    }
    openssl_verify(dir.path(), &ders);

    // gitlab-pipeline.
    let gl = json!({
        "sub": "project_path:acme/app:ref_type:branch:ref:main",
        "ci_config_ref_uri": "gitlab.example.org/acme/app//.gitlab-ci.yml@refs/heads/main",
        "ci_config_sha": "abcd", "project_path": "acme/app", "ref": "main", "ref_type": "branch",
        "project_id": "5", "namespace_path": "acme", "namespace_id": "6", "job_id": "77",
        "pipeline_source": "push", "sha": "abcd", "runner_environment": "self-hosted",
        "project_visibility": "internal",
    });
    let token = issuer.token(Alg::Rs256, "gitlab", gl);
    let (status, answer) = request_cert(
        &base,
        &token,
        "project_path:acme/app:ref_type:branch:ref:main",
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let (cert, san) = check_profile(&chain(&answer)[0], &issuer.url("gitlab"));
    let config_uri = "https://gitlab.example.org/acme/app//.gitlab-ci.yml@refs/heads/main";
    assert_eq!(uri(&san), config_uri);
    assert_eq!(fulcio_ext(&cert, 14).as_deref(), Some("refs/heads/main"));
    assert_eq!(
        fulcio_ext(&cert, 21),
        Some(format!("{}/acme/app/-/jobs/77", issuer.url("gitlab")))
    );
    assert_eq!(fulcio_ext(&cert, 20).as_deref(), Some("push"));

    // kubernetes.
    let token = issuer.token(
        Alg::Es256,
        "k8s",
        json!({"sub": "system:serviceaccount:build:builder",
               "kubernetes.io": {"namespace": "build", "serviceaccount": {"name": "builder"}}}),
    );
    let (status, answer) = request_cert(&base, &token, "system:serviceaccount:build:builder").await;
    assert_eq!(status, 201, "{answer}");
    let (_, san) = check_profile(&chain(&answer)[0], &issuer.url("k8s"));
    assert_eq!(
        uri(&san),
        "https://kubernetes.io/namespaces/build/serviceaccounts/builder"
    );

    // spiffe and uri: the subject itself, inside the configured domain.
    let spiffe_id = "spiffe://example.org/ns/ci/sa/builder";
    let token = issuer.token(Alg::Rs256, "spiffe", json!({"sub": spiffe_id}));
    let (status, answer) = request_cert(&base, &token, spiffe_id).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        uri(&check_profile(&chain(&answer)[0], &issuer.url("spiffe")).1),
        spiffe_id
    );
    let token = issuer.token(Alg::Rs256, "spiffe", json!({"sub": "spiffe://evil.org/x"}));
    assert_eq!(
        request_cert(&base, &token, "spiffe://evil.org/x").await.0,
        401
    );
    let subject = "https://ci.example.org/jobs/1";
    let token = issuer.token(Alg::Es256, "uri", json!({"sub": subject}));
    let (status, answer) = request_cert(&base, &token, subject).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        uri(&check_profile(&chain(&answer)[0], &issuer.url("uri")).1),
        subject
    );
    let token = issuer.token(
        Alg::Es256,
        "uri",
        json!({"sub": "https://ci.example.org.evil/x"}),
    );
    assert_eq!(
        request_cert(&base, &token, "https://ci.example.org.evil/x")
            .await
            .0,
        401
    );

    // username: otherName user!domain.
    let token = issuer.token(Alg::Rs256, "username", json!({"sub": "bob"}));
    let (status, answer) = request_cert(&base, &token, "bob").await;
    assert_eq!(status, 201, "{answer}");
    let (_, san) = check_profile(&chain(&answer)[0], &issuer.url("username"));
    match san {
        GeneralName::OtherName(o) => {
            assert_eq!(o.type_id.to_string(), "1.3.6.1.4.1.57264.1.7");
            let value: der::asn1::Utf8StringRef = o.value.decode_as().unwrap();
            assert_eq!(value.as_str(), "bob!example.org");
        }
        other => panic!("not an otherName: {other:?}"),
    }

    // An email issuer's token whose address is not verified names nobody.
    let token = issuer.token(Alg::Rs256, "email", json!({"email": "eve@example.org"}));
    let (status, answer) = request_cert(&base, &token, "eve@example.org").await;
    assert_eq!(status, 401);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("email_verified"),
        "{answer}"
    );

    // A proof of possession over another challenge is refused.
    let token = issuer.token(
        Alg::Rs256,
        "email",
        json!({"email": "alice@example.org", "email_verified": true}),
    );
    let (status, answer) = request_cert(&base, &token, "mallory@example.org").await;
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("proof of possession"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_with_bearer_token_trust_bundle_configuration_and_trusted_root() {
    let issuer = TestIssuer::start(false);
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&["--oidc-issuer", &issuer.url("email")]);
    let base = server.base_url();
    let client = reqwest::Client::new();

    // sigstore-python's way: a CSR and the token as a bearer token.
    common::openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=ignored",
            "-keyout",
            "csr-key.pem",
            "-out",
            "csr.pem",
        ],
    );
    let csr = std::fs::read(dir.path().join("csr.pem")).unwrap();
    let token = issuer.token(
        Alg::Es256,
        "email",
        json!({"email": "carol@example.org", "email_verified": "true"}),
    );
    let res = client
        .post(format!("{base}/api/v2/signingCert"))
        .bearer_auth(&token)
        .json(&json!({"certificateSigningRequest": B64.encode(&csr)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let answer: Value = res.json().await.unwrap();
    let ders = chain(&answer);
    let (cert, _) = check_profile(&ders[0], &issuer.url("email"));
    // The certificate is for the CSR's key.
    common::openssl(
        dir.path(),
        &[
            "pkey",
            "-in",
            "csr-key.pem",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "csr-pub.der",
        ],
    );
    let spki = std::fs::read(dir.path().join("csr-pub.der")).unwrap();
    assert_eq!(
        cert.tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap(),
        spki
    );
    openssl_verify(dir.path(), &ders);

    // A CSR whose signature was tampered with is refused.
    let mut der = pem_to_der(std::str::from_utf8(&csr).unwrap());
    let last = der.len() - 3;
    der[last] ^= 1;
    let res = client
        .post(format!("{base}/api/v2/signingCert"))
        .bearer_auth(&token)
        .json(&json!({"certificateSigningRequest": B64.encode(&der)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // The trust bundle is the chain above the leaf.
    let bundle = common::get_json(&client, format!("{base}/api/v2/trustBundle")).await;
    let bundle_ders: Vec<Vec<u8>> = bundle["chains"][0]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| pem_to_der(c.as_str().unwrap()))
        .collect();
    assert_eq!(bundle_ders, ders[1..]);

    let configuration = common::get_json(&client, format!("{base}/api/v2/configuration")).await;
    assert_eq!(
        configuration,
        json!({"issuers": [{"issuerUrl": issuer.url("email"), "audience": "sigstore",
                            "challengeClaim": "email", "issuerType": "email"}]})
    );

    // The trusted root lists the CA: intermediate first, root last.
    let root = common::get_json(&client, format!("{base}/api/v1/log/trustedRoot")).await;
    let ca = &root["certificateAuthorities"][0];
    let listed: Vec<Vec<u8>> = ca["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| B64.decode(c["rawBytes"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(listed, ders[1..]);
    assert_eq!(ca["uri"], base);
    assert!(ca["validFor"]["start"].is_string(), "{ca}");

    // The CA's keys are private files, and a restart refuses one others can read.
    use std::os::unix::fs::PermissionsExt;
    let key = server.data_dir().join("keys/ca-intermediate-p256.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(server.data_dir().join("keys/ca-root-p256.pem").exists());
}

/// `openssl dgst -sha256 -verify` of `signature` over `data` with the key in `key.pem`.
fn openssl_verifies(dir: &Path, data: &[u8], signature: &[u8]) -> bool {
    std::fs::write(dir.join("signed.bin"), data).unwrap();
    std::fs::write(dir.join("signature.der"), signature).unwrap();
    std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "key.pem", "-signature"])
        .args(["signature.der", "signed.bin"])
        .current_dir(dir)
        .output()
        .expect("running openssl")
        .status
        .success()
}

/// Every certificate carries one SCT of the CA's CT log, which the trusted root lists: rebuilt
/// here from the final certificate as RFC 6962 §3.2 says (the SCT list extension removed, the
/// issuer's key hash) and verified with openssl, while a mutated one fails. Each precertificate
/// is in the log at the SCT's leaf index: the static-ct-api tiles verify with the independent
/// client (tests/tiles/verify_tiles.py) and include it, and a damaged data tile is caught.
#[tokio::test(flavor = "multi_thread")]
async fn every_certificate_is_in_the_ct_log_and_its_sct_verifies_with_openssl() {
    use sha2::{Digest, Sha256};
    let issuer = TestIssuer::start(false);
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&["--config", config(dir.path(), &issuer).to_str().unwrap()]);
    let base = server.base_url();
    let client = reqwest::Client::new();

    let root = common::get_json(&client, format!("{base}/api/v1/log/trustedRoot")).await;
    let ctlogs = root["ctlogs"].as_array().unwrap();
    assert_eq!(ctlogs.len(), 1, "{root}");
    let ctlog = &ctlogs[0];
    assert_eq!(ctlog["baseUrl"], format!("{base}/ct"));
    assert_eq!(ctlog["hashAlgorithm"], "SHA2_256");
    assert_eq!(ctlog["publicKey"]["keyDetails"], "PKIX_ECDSA_P256_SHA_256");
    assert!(ctlog["publicKey"]["validFor"]["start"].is_string());
    let spki = B64
        .decode(ctlog["publicKey"]["rawBytes"].as_str().unwrap())
        .unwrap();
    let log_id = Sha256::digest(&spki).to_vec();
    assert_eq!(ctlog["logId"]["keyId"], B64.encode(&log_id));
    std::fs::write(
        dir.path().join("key.pem"),
        arkivo_core::entries::pki::pem_encode("PUBLIC KEY", &spki),
    )
    .unwrap();

    let mut included = Vec::new();
    for i in 0..3 {
        let email = format!("user{i}@example.org");
        let token = issuer.token(
            Alg::Es256,
            "email",
            json!({"email": email, "email_verified": true}),
        );
        let (status, answer) = request_cert(&base, &token, &email).await;
        assert_eq!(status, 201, "{answer}");
        let ders = chain(&answer);
        openssl_verify(dir.path(), &ders);
        let cert = Certificate::from_der(&ders[0]).unwrap();
        let exts = cert.tbs_certificate.extensions.as_ref().unwrap();
        assert!(
            exts.iter()
                .all(|e| e.extn_id.to_string() != "1.3.6.1.4.1.11129.2.4.3"),
            "no poison in the final certificate"
        );
        let scts = embedded_scts(&cert);
        assert_eq!(scts.len(), 1);
        let (sct_log_id, timestamp, extensions, signature) = &scts[0];
        assert_eq!(
            *sct_log_id, log_id,
            "the SCT names the trusted root's CT log"
        );
        assert_eq!(extensions[..3], [0, 0, 5], "a leaf_index extension");
        let index = u64::from_be_bytes([&[0; 3], &extensions[3..]].concat().try_into().unwrap());

        // RFC 6962 §3.2: the TBSCertificate without the SCT list, and the issuer's key hash.
        let tbs = tbs_without_scts(&cert);
        let intermediate = Certificate::from_der(&ders[1]).unwrap();
        let issuer_key_hash = Sha256::digest(
            intermediate
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .unwrap(),
        );
        let mut signed = vec![0, 0];
        signed.extend_from_slice(&timestamp.to_be_bytes());
        signed.extend_from_slice(&[0, 1]);
        signed.extend_from_slice(&issuer_key_hash);
        signed.extend_from_slice(&u32::try_from(tbs.len()).unwrap().to_be_bytes()[1..]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&u16::try_from(extensions.len()).unwrap().to_be_bytes());
        signed.extend_from_slice(extensions);
        assert!(openssl_verifies(dir.path(), &signed, signature));
        // Another time, another index or another certificate: openssl refuses.
        for at in [2, 9, 50 + 32 + 2, signed.len() - 1] {
            let mut mutated = signed.clone();
            mutated[at] ^= 1;
            assert!(!openssl_verifies(dir.path(), &mutated, signature), "{at}");
        }
        included.push(format!("{index}:{}", B64.encode(&tbs)));
    }

    // The CT log's checkpoint verifies with its key (RFC 6962 note signature), under its origin.
    let text = common::get_text(&client, format!("{base}/ct/checkpoint")).await;
    let origin = format!("{}/ct", base.trim_start_matches("http://"));
    let key =
        <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(&spki)
            .unwrap();
    let verifier = arkivo_core::ct::Rfc6962NoteVerifier::new(&origin, key);
    let opened = arkivo_core::note::open(text.as_bytes(), &[&verifier]).unwrap();
    let cp = arkivo_core::checkpoint::Checkpoint::parse(opened.text()).unwrap();
    assert_eq!((cp.origin.as_str(), cp.size), (origin.as_str(), 3));

    let verify = |args: &[String]| {
        let all = [&["--static-ct".to_owned()], args].concat();
        common::verify_tiles_py(&format!("{base}/ct"), &all)
    };
    let args: Vec<String> = included
        .iter()
        .flat_map(|e| ["--entry".into(), e.clone()])
        .collect();
    let (ok, out) = verify(&args);
    assert!(ok, "{out}");
    let (ok, out) = verify(&["--flip".into(), "tile/data/000.p/3:100".into()]);
    assert!(!ok && out.contains("FAIL"), "{out}");

    // The issuers the leaves name are served, and get-roots names the root.
    let ders = chain(&request_cert_answer(&base, &issuer).await);
    for der in &ders[1..] {
        let fingerprint = hex::encode(Sha256::digest(der));
        let res = client
            .get(format!("{base}/ct/issuer/{fingerprint}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/pkix-cert");
        assert_eq!(res.bytes().await.unwrap(), der.as_slice());
    }
    for (fingerprint, want) in [("ab".repeat(32), 404), ("AB".repeat(32), 400)] {
        let path = format!("/ct/issuer/{fingerprint}");
        assert_eq!(common::get_status(&client, &base, &path).await, want);
    }
    let roots = common::get_json(&client, format!("{base}/ct/ct/v1/get-roots")).await;
    assert_eq!(roots["certificates"], json!([B64.encode(&ders[2])]));
    // Rekor's entry bundles are not a CT log's, nor the other way round.
    assert_eq!(
        common::get_status(&client, &base, "/ct/tile/entries/000.p/4").await,
        404
    );
    assert_eq!(
        common::get_status(&client, &base, "/tile/data/000.p/1").await,
        404
    );
}

/// A certificate for a fresh email identity: the 201 answer.
async fn request_cert_answer(base: &str, issuer: &TestIssuer) -> Value {
    let token = issuer.token(
        Alg::Es256,
        "email",
        json!({"email": "root@example.org", "email_verified": true}),
    );
    let (status, answer) = request_cert(base, &token, "root@example.org").await;
    assert_eq!(status, 201, "{answer}");
    answer
}

/// A CA key file that group or others can read is refused at start, with a message naming the
/// file and the fix: the one given with `--ca-key`, and the one the server made in its data
/// directory.
#[test]
fn a_ca_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let issuer = TestIssuer::start(false);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = common::free_port();
    let hostname = format!("127.0.0.1:{port}");
    let issuer_url = issuer.url("email");
    // First start: the CA's keys and chain are made.
    drop(TestServer::start_in(
        &data,
        port,
        &["--oidc-issuer", &issuer_url],
    ));
    let made = data.join("keys").join("ca-intermediate-p256.pem");
    let given = tmp.path().join("ca.key");
    std::fs::copy(&made, &given).unwrap();
    let chain = data.join("ca-chain.pem");
    for (key, extra) in [
        (
            &given,
            vec![
                "--ca-key",
                common::path(&given),
                "--ca-chain",
                common::path(&chain),
            ],
        ),
        (&made, vec![]),
    ] {
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut args = vec![
            "--data-dir",
            common::path(&data),
            "--listen",
            &hostname,
            "--hostname",
            &hostname,
            "--oidc-issuer",
            &issuer_url,
        ];
        args.extend(extra);
        let err = common::refused_start(&args);
        assert!(err.contains(common::path(key)), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
    }
}
