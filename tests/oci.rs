//! `arkivo sign`/`verify`/`attest`/`verify-attestation` against the real thing: Debian's
//! `docker-registry` (distribution 2.8: no referrers API) on a free loopback port, open or
//! htpasswd-protected; images built without Docker by `umoci` (a single image and a two-platform
//! index) and pushed by `skopeo`; the real `arkivo serve` as the log. `scripts/setup` installs
//! the tools.
//!
//! The registry objects are checked as cosign writes them (`cosign-oci-storage.md`); damage is
//! done through the registry API (arkivo's own registry client), as an attacker with push
//! access would do it.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arkivo_client::oci::{Registry, RegistryOptions, parse_reference, sha256_digest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Run, TestServer, free_port};
use serde_json::Value;

const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A `docker-registry` process with its own config, storage and (optionally) htpasswd file.
struct TestRegistry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

/// How a test registry authenticates.
enum Auth<'a> {
    None,
    /// HTTP basic against an htpasswd file with this user.
    Htpasswd(&'a str, &'a str),
    /// Bearer tokens from this token service (its realm, service, issuer and certificate).
    Token(&'a TokenService),
}

impl TestRegistry {
    fn start(auth: Auth<'_>) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n  secret: arkivo-test\n",
            dir.path().join("storage").display()
        );
        match auth {
            Auth::None => {}
            Auth::Htpasswd(u, p) => {
                let out = run_tool("htpasswd", &["-Bbn", u, p]);
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, out).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: arkivo-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            Auth::Token(t) => config.push_str(&format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    \
                 issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                t.addr,
                t.cert_path.display()
            )),
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry (scripts/setup installs it)");
        let r = TestRegistry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&r.addr).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_tool(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program} (scripts/setup installs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An OCI layout with tags `a` and `b` (two different single-platform images) and `multi` (an
/// index of `a` for amd64 and an arm64 image), built by umoci.
struct Images {
    _dir: tempfile::TempDir,
    layout: PathBuf,
}

impl Images {
    fn build() -> Images {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let l = layout.to_str().unwrap();
        run_tool("umoci", &["init", "--layout", l]);
        for (tag, arch, content) in [
            ("a", "amd64", "A"),
            ("b", "amd64", "B"),
            ("arm", "arm64", "A"),
        ] {
            let image = format!("{l}:{tag}");
            let file = dir.path().join(format!("{tag}.txt"));
            std::fs::write(&file, content).unwrap();
            run_tool("umoci", &["new", "--image", &image]);
            run_tool(
                "umoci",
                &["config", "--image", &image, "--architecture", arch],
            );
            run_tool(
                "umoci",
                &[
                    "insert",
                    "--image",
                    &image,
                    file.to_str().unwrap(),
                    "/content.txt",
                ],
            );
        }
        // umoci makes no indexes: write one into the layout, next to the images it lists.
        let index_path = layout.join("index.json");
        let mut top: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
        let by_tag = |tag: &str| -> Value {
            top["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .unwrap()
                .clone()
        };
        let entry = |tag: &str, arch: &str| {
            let m = by_tag(tag);
            serde_json::json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                               "platform": {"architecture": arch, "os": "linux"}})
        };
        let multi = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [entry("a", "amd64"), entry("arm", "arm64")],
        }))
        .unwrap();
        let digest = sha256_digest(&multi);
        std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), &multi).unwrap();
        top["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest, "size": multi.len(),
                "annotations": {"org.opencontainers.image.ref.name": "multi"},
            }));
        std::fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();
        Images { _dir: dir, layout }
    }

    /// `skopeo copy` of a tag of the layout to `dest` (`registry/repo:tag`).
    fn push(&self, tag: &str, dest: &str, creds: Option<&str>) {
        let src = format!("oci:{}:{tag}", self.layout.display());
        let dest = format!("docker://{dest}");
        let mut args = vec!["copy", "--all", "--dest-tls-verify=false"];
        if let Some(c) = creds {
            args.extend(["--dest-creds", c]);
        }
        args.extend([src.as_str(), dest.as_str()]);
        run_tool("skopeo", &args);
    }
}

/// The raw manifest `image` names, through skopeo (an independent reader).
fn raw_manifest(image: &str, creds: Option<&str>) -> Value {
    serde_json::from_slice(&inspect_raw(image, creds)).unwrap()
}

fn digest_of(image: &str, creds: Option<&str>) -> String {
    sha256_digest(&inspect_raw(image, creds))
}

/// `skopeo inspect --raw`: the manifest's bytes as the registry serves them.
fn inspect_raw(image: &str, creds: Option<&str>) -> Vec<u8> {
    let target = format!("docker://{image}");
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    if let Some(c) = creds {
        args.extend(["--creds", c]);
    }
    args.push(&target);
    run_tool("skopeo", &args)
}

/// The client side of a test: a working directory with a key pair, the log's public key, and an
/// empty Docker config directory so that the developer's credentials never leak in.
struct Client {
    dir: tempfile::TempDir,
    docker_config: PathBuf,
}

impl Client {
    fn new(log: &TestServer) -> Client {
        let dir = tempfile::tempdir().unwrap();
        let docker_config = dir.path().join("docker");
        std::fs::create_dir(&docker_config).unwrap();
        let c = Client { dir, docker_config };
        c.keygen("signer");
        c.save_log_key(log, "log.pub");
        c
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn keygen(&self, prefix: &str) {
        let r = self.run(&["keygen", "--output-prefix", &self.path(prefix)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    fn save_log_key(&self, log: &TestServer, name: &str) {
        let pem = http_get(log.port(), "/api/v1/log/publicKey");
        std::fs::write(self.dir.path().join(name), pem).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let docker_config = self.docker_config.to_str().unwrap();
        let mut vars = vec![("DOCKER_CONFIG", docker_config), ("ARKIVO_PASSWORD", "")];
        vars.extend_from_slice(env);
        common::run_arkivo(Some(self.dir.path()), args, &vars)
    }

    fn sign(&self, log: &TestServer, image: &str, extra: &[&str]) -> Run {
        self.sign_with("sign", &log.base_url(), image, extra)
    }

    /// `sign` with the registry credentials `alice:<password>` in the flags.
    fn sign_as(&self, log: &TestServer, image: &str, password: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "--registry-username",
            "alice",
            "--registry-password",
            password,
        ];
        args.extend(extra);
        self.sign(log, image, &args)
    }

    /// `<command> --key signer.key --rekor-url <url> --output json <extra> <image>`, where
    /// `command` is `sign` or `attest`.
    fn sign_with(&self, command: &str, url: &str, image: &str, extra: &[&str]) -> Run {
        let key = self.path("signer.key");
        let mut args = vec![
            command,
            "--key",
            &key,
            "--rekor-url",
            url,
            "--output",
            "json",
        ];
        args.extend(extra);
        args.push(image);
        self.run(&args)
    }

    fn verify(&self, image: &str, extra: &[&str]) -> Run {
        self.verify_with("verify", ["signer.pub", "log.pub"], image, extra, &[])
    }

    /// `<command> --key <key> --log-key <log key> --output json <extra> <image>`, where `command`
    /// is `verify` or `verify-attestation` and the keys are files in the working directory, with
    /// these environment variables.
    fn verify_with(
        &self,
        command: &str,
        [key, log_key]: [&str; 2],
        image: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Run {
        let key = self.path(key);
        let log_key = self.path(log_key);
        let mut args = vec![
            command,
            "--key",
            &key,
            "--log-key",
            &log_key,
            "--output",
            "json",
        ];
        args.extend(extra);
        args.push(image);
        self.run_env(&args, env)
    }
}

/// The body of `GET path` on 127.0.0.1:`port` (HTTP/1.1, `Connection: close`).
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

fn ok(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// A verification failure: exit code 1 and a message containing `needle`.
fn fails(r: &Run, needle: &str) {
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(needle),
        "expected {needle:?} in:\n{}",
        r.stderr
    );
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Rewrites the legacy signature image of `image` (tag `sha256-<hex>.sig`): `edit` gets each
/// layer's payload and annotations and may change them; the new blobs and manifest are pushed
/// as an attacker with push access would.
fn rewrite_signatures(
    image: &str,
    digest: &str,
    edit: impl Fn(&mut Vec<u8>, &mut BTreeMap<String, String>),
) {
    block_on(async {
        let r = parse_reference(image).unwrap();
        let registry = Registry::connect(&r, &RegistryOptions::default())
            .await
            .unwrap();
        let tag = parse_reference(&format!(
            "{}/{}:{}.sig",
            r.registry(),
            r.repository(),
            digest.replace(':', "-")
        ))
        .unwrap();
        let manifest = registry.resolve(&tag).await.unwrap();
        let mut m: oci_client::manifest::OciImageManifest =
            serde_json::from_slice(&manifest.bytes).unwrap();
        for layer in &mut m.layers {
            let mut payload = registry.blob(&r, layer).await.unwrap();
            let mut annotations = layer.annotations.clone().unwrap_or_default();
            edit(&mut payload, &mut annotations);
            *layer = registry
                .put_blob(&r, payload, &layer.media_type)
                .await
                .unwrap();
            layer.annotations = Some(annotations);
        }
        let bytes = serde_json::to_vec(&m).unwrap();
        registry
            .put_manifest(&tag, bytes, "application/vnd.oci.image.manifest.v1+json")
            .await
            .unwrap();
    });
}

#[test]
fn sign_and_verify_both_layouts() {
    let log = TestServer::start(&[]);
    let registry = TestRegistry::start(Auth::None);
    let images = Images::build();
    let repo = format!("{}/team/app", registry.addr);
    images.push("a", &format!("{repo}:v1"), None);
    images.push("multi", &format!("{repo}:multi"), None);
    let client = Client::new(&log);
    let v1 = format!("{repo}:v1");
    let multi = format!("{repo}:multi");
    let v1_digest = digest_of(&v1, None);
    let multi_digest = digest_of(&multi, None);

    // Legacy layout, with annotations; the digest is signed, never the tag.
    let signed = ok(&client.sign(&log, &v1, &["-a", "team=payments", "-a", "env=prod"]));
    assert_eq!(signed["digest"], v1_digest);
    let hex = &v1_digest[7..];
    let sig_tag = format!("{repo}:sha256-{hex}.sig");
    assert_eq!(signed["storedAt"], sig_tag);

    // What is in the registry is what cosign writes (cosign-oci-storage.md §2).
    let m = raw_manifest(&sig_tag, None);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let layer = &layers[0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let sig = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    assert!(!B64.decode(sig).unwrap().is_empty());
    let rekor_bundle: Value = serde_json::from_str(
        layer["annotations"]["dev.sigstore.cosign/bundle"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rekor_bundle["Payload"]["logIndex"], signed["logIndex"]);
    for k in ["body", "integratedTime", "logID"] {
        assert!(!rekor_bundle["Payload"][k].is_null(), "{k}");
    }
    assert!(rekor_bundle["SignedEntryTimestamp"].is_string());

    // Verify prints cosign's JSON: the payload, the Rekor bundle as optional.Bundle.
    let out = ok(&client.verify(&v1, &[]));
    let first = &out.as_array().unwrap()[0];
    assert_eq!(
        first["critical"]["image"]["docker-manifest-digest"],
        v1_digest
    );
    assert_eq!(first["critical"]["identity"]["docker-reference"], repo);
    assert_eq!(
        first["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(first["optional"]["team"], "payments");
    assert_eq!(first["optional"]["Bundle"], rekor_bundle);
    ok(&client.verify(&v1, &["-a", "team=payments"]));
    ok(&client.verify(&format!("{repo}@{v1_digest}"), &[]));
    fails(&client.verify(&v1, &["-a", "team=billing"]), "team=billing");
    // Online, the legacy entry's inclusion proof is checked too.
    ok(&client.verify(&v1, &["--rekor-url", &log.base_url()]));

    // Signing again adds a layer; signing the same thing again does not.
    ok(&client.sign(&log, &v1, &[]));
    ok(&client.sign(&log, &v1, &[]));
    assert_eq!(
        raw_manifest(&sig_tag, None)["layers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(ok(&client.verify(&v1, &[])).as_array().unwrap().len(), 2);

    // The bundle format, on the multi-platform index: signed by the index digest.
    let signed = ok(&client.sign(
        &log,
        &multi,
        &["--new-bundle-format", "-a", "team=payments"],
    ));
    assert_eq!(signed["digest"], multi_digest);
    let referrer = signed["storedAt"].as_str().unwrap().to_owned();
    let r = raw_manifest(&referrer, None);
    assert_eq!(r["artifactType"], BUNDLE_MEDIA_TYPE);
    assert_eq!(
        r["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(r["config"]["size"], 2);
    assert_eq!(r["layers"].as_array().unwrap().len(), 1);
    assert_eq!(r["layers"][0]["mediaType"], BUNDLE_MEDIA_TYPE);
    assert_eq!(r["subject"]["digest"], multi_digest);
    assert_eq!(
        r["subject"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        r["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );
    assert_eq!(
        r["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert!(r["annotations"]["org.opencontainers.image.created"].is_string());
    // The referrers tag schema fallback lists it: distribution 2.8 has no referrers API.
    let index = raw_manifest(&format!("{repo}:sha256-{}", &multi_digest[7..]), None);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let listed = &index["manifests"][0];
    assert_eq!(listed["digest"], referrer.rsplit('@').next().unwrap());
    assert_eq!(listed["artifactType"], BUNDLE_MEDIA_TYPE);
    let out = ok(&client.verify(&multi, &["-a", "team=payments"]));
    assert_eq!(
        out[0]["critical"]["image"]["docker-manifest-digest"],
        multi_digest
    );
    // A platform image of the index is another digest, not signed.
    let arm = format!(
        "{repo}@{}",
        raw_manifest(&multi, None)["manifests"][1]["digest"]
            .as_str()
            .unwrap()
    );
    fails(&client.verify(&arm, &[]), "no signature found");

    // Both layouts on one image verify together; a second bundle joins the fallback index.
    ok(&client.sign(&log, &v1, &["--new-bundle-format"]));
    ok(&client.sign(&log, &v1, &["--new-bundle-format", "-a", "x=y"]));
    let index = raw_manifest(&format!("{repo}:sha256-{hex}"), None);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(ok(&client.verify(&v1, &[])).as_array().unwrap().len(), 4);
}

#[test]
fn verification_failures_are_clear() {
    let log = TestServer::start(&[]);
    let other_log = TestServer::start(&[]);
    let registry = TestRegistry::start(Auth::None);
    let images = Images::build();
    let repo = format!("{}/team/app", registry.addr);
    for tag in ["a", "b"] {
        images.push(tag, &format!("{repo}:{tag}"), None);
    }
    images.push("a", &format!("{repo}:moving"), None);
    images.push("b", &format!("{repo}:unsigned"), None);
    let client = Client::new(&log);
    client.keygen("other");
    let a = format!("{repo}:a");
    let b = format!("{repo}:b");
    let a_digest = digest_of(&a, None);
    let b_digest = digest_of(&b, None);

    // An unsigned image.
    let r = client.verify(&format!("{repo}:unsigned"), &[]);
    fails(&r, "no signature found");
    assert!(
        r.stderr.contains(&format!("sha256-{}.sig", &b_digest[7..])),
        "{}",
        r.stderr
    );

    // A wrong key, in both layouts.
    ok(&client.sign(&log, &a, &[]));
    ok(&client.sign(&log, &a, &["--new-bundle-format"]));
    let r = client.verify_with("verify", ["other.pub", "log.pub"], &a, &[], &[]);
    fails(&r, "the given public key");
    assert_eq!(
        r.stderr.matches("the given public key").count(),
        2,
        "{}",
        r.stderr
    );

    // A signature recorded in a different log, in both layouts.
    ok(&client.sign(&other_log, &b, &[]));
    ok(&client.sign(&other_log, &b, &["--new-bundle-format"]));
    let r = client.verify(&b, &[]);
    fails(&r, "which is not a trusted log");
    assert_eq!(
        r.stderr.matches("which is not a trusted log").count(),
        2,
        "{}",
        r.stderr
    );
    client.save_log_key(&other_log, "other-log.pub");
    let r = client.verify_with("verify", ["signer.pub", "other-log.pub"], &b, &[], &[]);
    assert_eq!(ok(&r).as_array().unwrap().len(), 2);

    // An image re-tagged to another digest after signing: the tag's new image is not signed.
    let moving = format!("{repo}:moving");
    ok(&client.sign(&log, &moving, &[]));
    ok(&client.verify(&moving, &[]));
    images.push("arm", &moving, None);
    let r = client.verify(&moving, &[]);
    fails(&r, "no signature found");
    assert!(r.stderr.contains("was the tag moved"), "{}", r.stderr);

    // A's signature copied to B's signature tag: it is about A's digest.
    block_on(async {
        let rr = parse_reference(&a).unwrap();
        let reg = Registry::connect(&rr, &RegistryOptions::default())
            .await
            .unwrap();
        let from = parse_reference(&format!("{repo}:sha256-{}.sig", &a_digest[7..])).unwrap();
        let to = parse_reference(&format!("{repo}:sha256-{}.sig", &b_digest[7..])).unwrap();
        let m = reg.resolve(&from).await.unwrap();
        reg.put_manifest(&to, m.bytes, &m.media_type).await.unwrap();
    });
    let r = client.verify(&b, &[]);
    fails(
        &r,
        &format!("the signature is for {a_digest}, not for this image {b_digest}"),
    );

    // A tampered signature annotation.
    let tampered = format!("{repo}:a");
    rewrite_signatures(&tampered, &a_digest, |_, annotations| {
        let sig = B64
            .decode(&annotations["dev.cosignproject.cosign/signature"])
            .unwrap();
        let mut other = sig.clone();
        *other.last_mut().unwrap() ^= 1;
        annotations.insert(
            "dev.cosignproject.cosign/signature".into(),
            B64.encode(other),
        );
    });
    // -a makes the bundle-format signature fail too (it lacks the annotation).
    let r = client.verify(&tampered, &["-a", "approved=yes"]);
    fails(&r, "another signature");

    // A tampered payload: another annotation, the signature and log entry kept.
    rewrite_signatures(&tampered, &a_digest, |payload, _| {
        let mut p: Value = serde_json::from_slice(payload).unwrap();
        p["optional"] = serde_json::json!({"approved": "yes"});
        *payload = serde_json::to_vec(&p).unwrap();
    });
    let r = client.verify(&tampered, &["-a", "approved=yes"]);
    fails(&r, "the payload is not the one the log recorded");
    // Without -a the bundle-format signature of A still verifies: one good signature is enough.
    let out = ok(&client.verify(&tampered, &[]));
    assert_eq!(out.as_array().unwrap().len(), 1);
}

#[test]
fn attest_and_verify_attestation() {
    let log = TestServer::start(&[]);
    let registry = TestRegistry::start(Auth::None);
    let images = Images::build();
    let repo = format!("{}/team/app", registry.addr);
    images.push("a", &format!("{repo}:v1"), None);
    let client = Client::new(&log);
    let image = format!("{repo}:v1");
    let digest = digest_of(&image, None);
    let provenance = client.path("provenance.json");
    std::fs::write(
        &provenance,
        r#"{"builder":{"id":"https://ci.example/builder"},"buildType":"https://ci.example/t"}"#,
    )
    .unwrap();
    let sbom = client.path("sbom.json");
    std::fs::write(&sbom, r#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#).unwrap();
    let attest = |predicate: &str, kind: &str, extra: &[&str]| {
        let mut args = vec!["--predicate", predicate, "--type", kind];
        args.extend(extra);
        ok(&client.sign_with("attest", &log.base_url(), &image, &args))
    };
    let signed = attest(&provenance, "slsaprovenance", &[]);
    assert_eq!(
        signed["storedAt"],
        format!("{repo}:sha256-{}.att", &digest[7..])
    );
    attest(&sbom, "cyclonedx", &["--new-bundle-format"]);

    // The legacy attestation is a DSSE envelope layer (cosign-oci-storage.md §3).
    let m = raw_manifest(signed["storedAt"].as_str().unwrap(), None);
    let layer = &m["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
    assert_eq!(
        layer["annotations"]["predicateType"],
        "https://slsa.dev/provenance/v0.2"
    );
    assert_eq!(
        layer["annotations"]["dev.cosignproject.cosign/signature"],
        ""
    );
    assert!(layer["annotations"]["dev.sigstore.cosign/bundle"].is_string());

    let verify = |keys: [&str; 2], kind: &str| {
        client.verify_with("verify-attestation", keys, &image, &["--type", kind], &[])
    };
    let signer = ["signer.pub", "log.pub"];
    let out = ok(&verify(signer, "slsaprovenance"));
    let statement = &out[0];
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["predicateType"],
        "https://slsa.dev/provenance/v0.2"
    );
    assert_eq!(statement["subject"][0]["digest"]["sha256"], &digest[7..]);
    assert_eq!(statement["subject"][0]["name"], repo);
    assert_eq!(
        statement["predicate"]["builder"]["id"],
        "https://ci.example/builder"
    );
    let out = ok(&verify(signer, "cyclonedx"));
    assert_eq!(out[0]["predicate"]["bomFormat"], "CycloneDX");
    fails(
        &verify(signer, "spdxjson"),
        "no https://spdx.dev/Document attestation found",
    );
    // Attestations are not signatures, in either layout.
    fails(&client.verify(&image, &[]), "no signature found");

    // A wrong key.
    client.keygen("other");
    let r = verify(["other.pub", "log.pub"], "slsaprovenance");
    fails(&r, "the given public key");
}

/// A log (or anyone on the path) that answers a new entry with a made-up SET, inclusion proof
/// or checkpoint: `sign` and `attest`, in both layouts, pinned to the log key or not, refuse the
/// answer and push nothing; the image stays unsigned.
#[test]
fn sign_and_attest_check_the_log_answer_before_pushing() {
    let log = TestServer::start(&[]);
    let registry = TestRegistry::start(Auth::None);
    let image = format!("{}/team/app:v1", registry.addr);
    Images::build().push("a", &image, None);
    let client = Client::new(&log);
    let predicate = client.path("predicate.json");
    std::fs::write(&predicate, r#"{"ok":true}"#).unwrap();
    for (what, tamper) in common::proxy::ENTRY_TAMPERS {
        let proxy = common::proxy::Proxy::tampering_entries(&log.base_url(), tamper);
        let commands: [(&str, &[&str]); 4] = [
            ("sign", &[]),
            ("sign", &["--new-bundle-format"]),
            ("attest", &["--predicate", &predicate]),
            (
                "attest",
                &["--predicate", &predicate, "--new-bundle-format"],
            ),
        ];
        for (command, extra) in commands {
            for pin in [&["--log-key", "log.pub"][..], &[]] {
                let r =
                    client.sign_with(command, &proxy.base_url(), &image, &[extra, pin].concat());
                assert_eq!(
                    r.code, 3,
                    "{command} {extra:?} {pin:?} accepted a bad {what}:\n{}\n{}",
                    r.stdout, r.stderr
                );
                assert!(
                    r.stderr.contains("does not verify") && r.stderr.contains("nothing pushed"),
                    "{command} {extra:?}, bad {what}: {}",
                    r.stderr
                );
            }
        }
    }
    fails(&client.verify(&image, &[]), "no signature found");
    let r = client.verify_with(
        "verify-attestation",
        ["signer.pub", "log.pub"],
        &image,
        &[],
        &[],
    );
    fails(&r, "attestation found");
    // Through the log itself, both verify.
    ok(&client.sign(&log, &image, &[]));
    ok(&client.verify(&image, &[]));
}

/// alice's credentials on the registries that need them.
const CREDS: &str = "alice:s3cret";

/// Image `a` pushed to `registry` as `private/app:v1` with alice's credentials.
fn push_private(registry: &TestRegistry) -> String {
    let image = format!("{}/private/app:v1", registry.addr);
    Images::build().push("a", &image, Some(CREDS));
    image
}

/// Signing `image` is refused as an input error (exit 2) without registry credentials, with
/// what to do, and with a wrong password.
fn signing_needs_credentials(client: &Client, log: &TestServer, image: &str) {
    let r = client.sign(log, image, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--registry-username"), "{}", r.stderr);
    let r = client.sign_as(log, image, "wrong", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn registry_with_basic_auth() {
    let log = TestServer::start(&[]);
    let registry = TestRegistry::start(Auth::Htpasswd("alice", "s3cret"));
    let image = push_private(&registry);
    let client = Client::new(&log);

    // Anonymous, or with a wrong password: refused.
    signing_needs_credentials(&client, &log, &image);

    // Credentials from the flags.
    ok(&client.sign_as(&log, &image, "s3cret", &[]));
    // From the environment, in the bundle format.
    let key = client.path("signer.key");
    let url = log.base_url();
    ok(&client.run_env(
        &[
            "sign",
            "--key",
            &key,
            "--rekor-url",
            &url,
            "--new-bundle-format",
            "--output",
            "json",
            &image,
        ],
        &[
            ("ARKIVO_REGISTRY_USERNAME", "alice"),
            ("ARKIVO_REGISTRY_PASSWORD", "s3cret"),
        ],
    ));
    assert!(
        raw_manifest(
            &format!(
                "{}/private/app:sha256-{}",
                registry.addr,
                &digest_of(&image, Some(CREDS))[7..]
            ),
            Some(CREDS)
        )["manifests"]
            .is_array()
    );

    // From a Docker config.json (what `docker login` writes).
    std::fs::write(
        client.docker_config.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.addr,
            B64.encode(CREDS)
        ),
    )
    .unwrap();
    assert_eq!(ok(&client.verify(&image, &[])).as_array().unwrap().len(), 2);

    // From a credential helper named by credsStore.
    let bin = client.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-arkivotest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread server\n[ \"$server\" = \"$EXPECTED_SERVER\" ] || exit 1\n\
         printf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}' \"$server\"\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&helper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&helper, perms).unwrap();
    std::fs::write(
        client.docker_config.join("config.json"),
        r#"{"credsStore":"arkivotest"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = client.verify_with(
        "verify",
        ["signer.pub", "log.pub"],
        &image,
        &[],
        &[("PATH", &path), ("EXPECTED_SERVER", &registry.addr)],
    );
    assert_eq!(ok(&r).as_array().unwrap().len(), 2);
}

const TOKEN_SERVICE: &str = "arkivo-test-registry";
const TOKEN_ISSUER: &str = "arkivo-test-token-issuer";

/// A token service as distribution's `auth.token` expects one (the Docker registry token
/// protocol): `GET /token?service=…&scope=repository:<name>:<actions>` answers `{"token": JWT}`,
/// an ES256 JWT whose `x5c` certificate is in the registry's `rootcertbundle`. Anyone may pull;
/// pushing needs the user `alice` with password `s3cret` (HTTP basic on the token request).
struct TokenService {
    addr: String,
    cert_path: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TokenService {
    fn start() -> TokenService {
        use p256::pkcs8::DecodePrivateKey as _;
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("token.key");
        let cert_path = dir.path().join("token.pem");
        common::self_signed_p256(
            dir.path(),
            "/CN=arkivo-test-token-issuer",
            &[],
            key_path.to_str().unwrap(),
            cert_path.to_str().unwrap(),
        );
        let key =
            p256::ecdsa::SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&key_path).unwrap())
                .unwrap();
        let cert_pem = std::fs::read_to_string(&cert_path).unwrap();
        let cert_b64: String = cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => answer_token_request(stream, &key, &cert_b64),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TokenService {
            addr,
            cert_path,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn answer_token_request(
    mut stream: std::net::TcpStream,
    key: &p256::ecdsa::SigningKey,
    cert_b64: &str,
) {
    use p256::ecdsa::signature::Signer as _;
    use std::io::{Read as _, Write as _};
    let url_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request).into_owned();
    let target = request.split(' ').nth(1).unwrap_or_default();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(percent_decode)
        .collect();
    let user = request
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().strip_prefix("Basic ").map(str::to_owned))?
        })
        .map(|b| String::from_utf8(B64.decode(b).unwrap()).unwrap());
    let (status, body) = match user.as_deref() {
        Some(u) if u != "alice:s3cret" => (
            "401 Unauthorized",
            r#"{"details":"bad credentials"}"#.to_owned(),
        ),
        _ => {
            let access: Vec<Value> = scopes
                .iter()
                .filter_map(|scope| {
                    let mut parts = scope.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    let granted: Vec<&str> = actions
                        .split(',')
                        .filter(|a| *a == "pull" || user.is_some())
                        .collect();
                    Some(serde_json::json!({"type": kind, "name": name, "actions": granted}))
                })
                .collect();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [cert_b64]});
            let claims = serde_json::json!({
                "iss": TOKEN_ISSUER, "sub": user.as_deref().unwrap_or("anonymous"),
                "aud": TOKEN_SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                "jti": format!("{now}-{}", scopes.len()), "access": access,
            });
            let signing_input = format!(
                "{}.{}",
                url_b64.encode(serde_json::to_vec(&header).unwrap()),
                url_b64.encode(serde_json::to_vec(&claims).unwrap())
            );
            let sig: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
            let jwt = format!("{signing_input}.{}", url_b64.encode(sig.to_bytes()));
            (
                "200 OK",
                serde_json::json!({"token": jwt, "expires_in": 300}).to_string(),
            )
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn registry_with_bearer_tokens() {
    let log = TestServer::start(&[]);
    let tokens = TokenService::start();
    let registry = TestRegistry::start(Auth::Token(&tokens));
    let image = push_private(&registry);
    let client = Client::new(&log);

    // Anonymous tokens may pull, not push: signing is refused with what to do; a wrong password
    // is refused by the token service.
    signing_needs_credentials(&client, &log, &image);

    // With credentials, the token service grants push, in both layouts.
    ok(&client.sign_as(&log, &image, "s3cret", &[]));
    ok(&client.sign_as(&log, &image, "s3cret", &["--new-bundle-format"]));
    // Verifying needs only an anonymous pull token.
    assert_eq!(ok(&client.verify(&image, &[])).as_array().unwrap().len(), 2);
}

/// An independent verifier: sigstore-rs's cosign client (a separate package, `tests/interop-rs`)
/// reads the legacy `.sig` layout written by `arkivo sign`, verifies the SET with the log key
/// and the signature with the signer's key; with another log's key it finds nothing trusted.
#[test]
fn sigstore_rs_verifies_legacy_signatures() {
    let verifier = common::build_interop_package("tests/interop-rs", "verify-image");
    let log = TestServer::start(&[]);
    let other_log = TestServer::start(&[]);
    let registry = TestRegistry::start(Auth::None);
    let images = Images::build();
    let image = format!("{}/team/app:v1", registry.addr);
    images.push("a", &image, None);
    let client = Client::new(&log);
    client.save_log_key(&other_log, "other-log.pub");
    ok(&client.sign(&log, &image, &["-a", "team=payments"]));
    ok(&client.sign(&log, &image, &[]));
    let run = |log_key: &str| {
        Command::new(&verifier)
            .args([
                image.as_str(),
                &client.path("signer.pub"),
                &client.path(log_key),
            ])
            .output()
            .unwrap()
    };
    let out = run("log.pub");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    let out = run("other-log.pub");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no signature layer with a verified Rekor bundle"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Keyless: `sign` and `attest` without --key get a certificate from the log's CA for an ID token
/// of the test OIDC issuer (tests/common/oidc.rs), in both layouts; the legacy layers carry the
/// certificate and chain annotations; `verify` and `verify-attestation` accept them for the
/// certificate's identity and issuer only, and a key does not verify them.
#[test]
fn keyless_sign_attest_and_verify_both_layouts() {
    let issuer = common::oidc::TestIssuer::start(false);
    let issuer_url = issuer.url("email");
    let log = TestServer::start(&["--oidc-issuer", &issuer_url]);
    let registry = TestRegistry::start(Auth::None);
    let images = Images::build();
    let repo = format!("{}/team/keyless", registry.addr);
    let image = format!("{repo}:v1");
    images.push("a", &image, None);
    let digest = digest_of(&image, None);
    let client = Client::new(&log);
    let root = client.path("root.json");
    std::fs::write(&root, http_get(log.port(), "/api/v1/log/trustedRoot")).unwrap();
    let token = issuer.token(
        common::oidc::Alg::Es256,
        "email",
        serde_json::json!({"email": "ci@example.org", "email_verified": true}),
    );
    let url = log.base_url();
    let predicate = client.path("predicate.json");
    std::fs::write(&predicate, r#"{"scanner":"x","result":"clean"}"#).unwrap();
    for layout in [&[][..], &["--new-bundle-format"][..]] {
        for command in [
            vec!["sign"],
            vec!["attest", "--predicate", &predicate, "--type", "vuln"],
        ] {
            let mut args = command.clone();
            args.extend(["--identity-token", &token, "--rekor-url", &url]);
            args.extend(["--output", "json"]);
            args.extend(layout);
            args.push(&image);
            ok(&client.run(&args));
        }
    }

    // cosign's keyless legacy layer: the certificate and the chain above it (§2).
    for suffix in ["sig", "att"] {
        let m = raw_manifest(&format!("{repo}:sha256-{}.{suffix}", &digest[7..]), None);
        let a = &m["layers"][0]["annotations"];
        let cert = a["dev.sigstore.cosign/certificate"].as_str().unwrap();
        assert_eq!(cert.matches("BEGIN CERTIFICATE").count(), 1, "{cert}");
        let chain = a["dev.sigstore.cosign/chain"].as_str().unwrap();
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
    }

    let verify = |command: &[&str], identity: &str| {
        let mut args = command.to_vec();
        args.extend(["--trusted-root", &root, "--certificate-identity", identity]);
        args.extend(["--certificate-oidc-issuer", &issuer_url]);
        // The served root lists the CA's CT log: each certificate's SCT is verified.
        args.extend(["--output", "json", &image]);
        client.run(&args)
    };
    let sigs = ok(&verify(&["verify"], "ci@example.org"));
    assert_eq!(sigs.as_array().unwrap().len(), 2, "{sigs}");
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    let atts = ok(&verify(
        &["verify-attestation", "--type", "vuln"],
        "ci@example.org",
    ));
    assert_eq!(atts.as_array().unwrap().len(), 2, "{atts}");
    assert_eq!(atts[0]["predicate"]["result"], "clean");
    fails(
        &verify(&["verify"], "mallory@example.org"),
        "wrong identity",
    );
    fails(
        &verify(
            &["verify-attestation", "--type", "vuln"],
            "mallory@example.org",
        ),
        "wrong identity",
    );
    fails(&client.verify(&image, &[]), "signed keylessly");
}

/// The `sha256-<hex>` referrers index of `image` (manifest `digest`), by tag.
fn referrers_index_tag(image: &str, digest: &str) -> oci_client::Reference {
    let r = parse_reference(image).unwrap();
    parse_reference(&format!(
        "{}/{}:{}",
        r.registry(),
        r.repository(),
        digest.replace(':', "-")
    ))
    .unwrap()
}

/// A bundle referrer as the registry holds it: its entry in the referrers index, its manifest,
/// and the bundle.
#[derive(Clone)]
struct Referrer {
    listed: Value,
    manifest: Value,
    bundle: Value,
}

/// The bundle referrers of `image` the referrers index lists, in its order.
fn referrers(image: &str, digest: &str) -> Vec<Referrer> {
    block_on(async {
        let r = parse_reference(image).unwrap();
        let registry = Registry::connect(&r, &RegistryOptions::default())
            .await
            .unwrap();
        let index = registry
            .resolve(&referrers_index_tag(image, digest))
            .await
            .unwrap();
        let index: Value = serde_json::from_slice(&index.bytes).unwrap();
        let mut out = Vec::new();
        for listed in index["manifests"].as_array().unwrap() {
            let at = r.clone_with_digest(listed["digest"].as_str().unwrap().to_owned());
            let manifest: Value =
                serde_json::from_slice(&registry.resolve(&at).await.unwrap().bytes).unwrap();
            let layer = serde_json::from_value(manifest["layers"][0].clone()).unwrap();
            let bundle = serde_json::from_slice(&registry.blob(&r, &layer).await.unwrap()).unwrap();
            out.push(Referrer {
                listed: listed.clone(),
                manifest,
                bundle,
            });
        }
        out
    })
}

/// Makes `referrers` the only ones the referrers index of `image` lists, each bundle pushed in
/// its own referrer manifest, as an attacker with push access would.
fn set_referrers(image: &str, digest: &str, referrers: &[Referrer]) {
    block_on(async {
        let r = parse_reference(image).unwrap();
        let registry = Registry::connect(&r, &RegistryOptions::default())
            .await
            .unwrap();
        let tag = referrers_index_tag(image, digest);
        let mut index: Value =
            serde_json::from_slice(&registry.resolve(&tag).await.unwrap().bytes).unwrap();
        let mut listed = Vec::new();
        for referrer in referrers {
            let bytes = serde_json::to_vec(&referrer.bundle).unwrap();
            let layer = registry
                .put_blob(&r, bytes, BUNDLE_MEDIA_TYPE)
                .await
                .unwrap();
            let mut manifest = referrer.manifest.clone();
            manifest["layers"][0] = serde_json::to_value(&layer).unwrap();
            let bytes = serde_json::to_vec(&manifest).unwrap();
            let at = sha256_digest(&bytes);
            let size = bytes.len();
            registry
                .put_manifest(
                    &r.clone_with_digest(at.clone()),
                    bytes,
                    "application/vnd.oci.image.manifest.v1+json",
                )
                .await
                .unwrap();
            let mut entry = referrer.listed.clone();
            entry["digest"] = Value::from(at);
            entry["size"] = Value::from(size);
            listed.push(entry);
        }
        index["manifests"] = Value::Array(listed);
        registry
            .put_manifest(
                &tag,
                serde_json::to_vec(&index).unwrap(),
                "application/vnd.oci.image.index.v1+json",
            )
            .await
            .unwrap();
    });
}

/// Rekor v2 (issue 13): `sign` and `attest --new-bundle-format --rekor-api-version 2`, with a
/// key and keyless (the test OIDC issuer), store a bundle v0.3 referrer whose entry is a
/// `hashedrekord` v0.0.2 over the DSSE envelope's PAE (cosign v3's way) with the TSA's RFC 3161
/// timestamp over the envelope's signature. `verify` and `verify-attestation` accept them with
/// the trusted root (v2 checkpoint key and TSA), for the right key or identity only; they
/// refuse a changed timestamp, another signature's timestamp, none, a proof for another leaf
/// and another signature's entry. The legacy layout cannot carry a v2 entry: refused.
#[test]
fn rekor_v2_sign_attest_and_verify() {
    let issuer = common::oidc::TestIssuer::start(false);
    let issuer_url = issuer.url("email");
    let log = TestServer::start(&["--oidc-issuer", &issuer_url]);
    let registry = TestRegistry::start(Auth::None);
    let images = Images::build();
    let repo = format!("{}/team/v2", registry.addr);
    let keyed = format!("{repo}:keyed");
    let keyless = format!("{repo}:keyless");
    images.push("a", &keyed, None);
    images.push("b", &keyless, None);
    let client = Client::new(&log);
    let root = client.path("root.json");
    std::fs::write(&root, http_get(log.port(), "/api/v1/log/trustedRoot")).unwrap();
    let token = issuer.token(
        common::oidc::Alg::Es256,
        "email",
        serde_json::json!({"email": "ci@example.org", "email_verified": true}),
    );
    let url = log.base_url();
    let key = client.path("signer.key");
    let predicate = client.path("predicate.json");
    std::fs::write(&predicate, r#"{"scanner":"x","result":"clean"}"#).unwrap();
    let v2 = [
        "--rekor-api-version",
        "2",
        "--trusted-root",
        &root,
        "--rekor-url",
        &url,
        "--output",
        "json",
    ];
    for (image, signer) in [
        (&keyed, ["--key", key.as_str()]),
        (&keyless, ["--identity-token", token.as_str()]),
    ] {
        for command in [
            vec!["sign"],
            vec!["attest", "--predicate", &predicate, "--type", "vuln"],
        ] {
            let mut args = command.clone();
            args.extend(signer);
            args.extend(v2);
            args.push(image);
            // The legacy layout has no place for a v2 entry's proof and timestamp.
            let refused = client.run(&args);
            assert_eq!(refused.code, 2, "{}", refused.stderr);
            assert!(
                refused.stderr.contains("use --new-bundle-format"),
                "{}",
                refused.stderr
            );
            args.insert(args.len() - 1, "--new-bundle-format");
            let signed = ok(&client.run(&args));
            assert_eq!(signed["rekorApiVersion"], 2, "{signed}");
            assert!(signed["timestamp"]["genTime"].is_u64(), "{signed}");
        }
    }

    let digest = digest_of(&keyed, None);
    let original = referrers(&keyed, &digest);
    assert_eq!(original.len(), 2);
    for r in &original {
        let b = &r.bundle;
        let vm = &b["verificationMaterial"];
        let tlog = &vm["tlogEntries"][0];
        assert_eq!(
            tlog["kindVersion"],
            serde_json::json!({"kind": "hashedrekord", "version": "0.0.2"}),
            "{b}"
        );
        assert!(tlog.get("inclusionPromise").is_none(), "{b}");
        assert!(tlog["inclusionProof"]["checkpoint"]["envelope"].is_string());
        let timestamps = vm["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .unwrap();
        assert_eq!(timestamps.len(), 1, "{b}");
        assert!(vm["publicKey"]["hint"].is_string(), "{b}");
        assert_eq!(
            b["dsseEnvelope"]["payloadType"],
            "application/vnd.in-toto+json"
        );
        assert_eq!(r.manifest["subject"]["digest"], digest);
    }

    let key_pub = client.path("signer.pub");
    let verify = |command: &[&str], signer: &[&str], image: &str| {
        let mut args = command.to_vec();
        args.extend(signer);
        args.extend(["--trusted-root", &root, "--output", "json", image]);
        client.run(&args)
    };
    let with_key = ["--key", key_pub.as_str()];
    let sigs = ok(&verify(&["verify"], &with_key, &keyed));
    assert_eq!(sigs.as_array().unwrap().len(), 1, "{sigs}");
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    let atts = ok(&verify(
        &["verify-attestation", "--type", "vuln"],
        &with_key,
        &keyed,
    ));
    assert_eq!(atts[0]["predicate"]["result"], "clean");
    let identity = |who: &'static str| {
        [
            "--certificate-identity",
            who,
            "--certificate-oidc-issuer",
            issuer_url.as_str(),
        ]
    };
    ok(&verify(&["verify"], &identity("ci@example.org"), &keyless));
    let atts = ok(&verify(
        &["verify-attestation", "--type", "vuln"],
        &identity("ci@example.org"),
        &keyless,
    ));
    assert_eq!(atts[0]["predicate"]["scanner"], "x");
    fails(
        &verify(&["verify"], &identity("mallory@example.org"), &keyless),
        "wrong identity",
    );
    fails(
        &verify(&["verify"], &with_key, &keyless),
        "signed keylessly",
    );
    // A log key alone does not verify a v2 entry: its checkpoint key and the TSA are needed.
    fails(
        &client.verify(&keyed, &[]),
        "a Rekor v2 entry is verified with a --trusted-root",
    );

    // Mutations of the signature's bundle; the attestation's is "another signature".
    let (signature, other) = (&original[0], &original[1].bundle);
    let vm = "verificationMaterial";
    let refused = |edit: &dyn Fn(&mut Value), needle: &str| {
        let mut changed = signature.clone();
        edit(&mut changed.bundle);
        set_referrers(&keyed, &digest, &[changed]);
        fails(&verify(&["verify"], &with_key, &keyed), needle);
    };
    refused(
        &|b| {
            let t = &mut b[vm]["timestampVerificationData"]["rfc3161Timestamps"][0];
            let mut der = B64.decode(t["signedTimestamp"].as_str().unwrap()).unwrap();
            // The last bytes are the TSA's signature (RFC 3161 §2.4.2, CMS SignerInfo).
            *der.last_mut().unwrap() ^= 1;
            t["signedTimestamp"] = Value::from(B64.encode(der));
        },
        "no verified RFC 3161 timestamp",
    );
    refused(
        &|b| b[vm]["timestampVerificationData"] = other[vm]["timestampVerificationData"].clone(),
        "no verified RFC 3161 timestamp",
    );
    refused(
        &|b| {
            b[vm]
                .as_object_mut()
                .unwrap()
                .remove("timestampVerificationData");
        },
        "the bundle carries no RFC 3161 timestamp",
    );
    refused(
        &|b| {
            b[vm]["tlogEntries"][0]["inclusionProof"] =
                other[vm]["tlogEntries"][0]["inclusionProof"].clone()
        },
        "inclusion proof does not verify",
    );
    refused(
        &|b| b[vm]["tlogEntries"] = other[vm]["tlogEntries"].clone(),
        "the log entry does not match",
    );
    set_referrers(&keyed, &digest, &original);
    assert_eq!(
        ok(&verify(&["verify"], &with_key, &keyed))
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
