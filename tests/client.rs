//! The client commands, as a user runs them: the real `arkivo` binary against real servers on
//! loopback. keygen → sign-blob → verify-blob round trips (P-256 and Ed25519, encrypted and
//! plain keys, cosign key files: one built here as cosign builds them and one made by cosign
//! itself), every failure a verifier must report with its exit code and a message naming the
//! failed check (modified file, wrong key, another log, tampered SET, proof and checkpoint),
//! the `--rekor-url` consistency check, and the log queries.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Run, TestServer};
use serde_json::Value;

/// Runs `arkivo args...` in `dir` with only the given `ARKIVO_*`/`COSIGN_*` variables.
fn arkivo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    common::run_arkivo(Some(dir), args, env)
}

fn ok(run: Run, what: &str) -> Run {
    assert_eq!(
        run.code, 0,
        "{what} failed:\n--- stdout ---\n{}\n--- stderr ---\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Makes the key pair `<prefix>.key` (unencrypted) and `<prefix>.pub` in `dir`.
fn keygen(dir: &Path, prefix: &str) {
    ok(
        arkivo(
            dir,
            &["keygen", "--output-prefix", prefix],
            &[("ARKIVO_PASSWORD", "")],
        ),
        "keygen",
    );
}

/// Asserts the exit code and that stderr mentions `needle`.
fn fails(run: Run, code: i32, needle: &str, what: &str) {
    assert_eq!(
        run.code, code,
        "{what}: expected exit {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "{what}: stderr should mention {needle:?}:\n{}",
        run.stderr
    );
}

struct Env {
    dir: tempfile::TempDir,
    server: TestServer,
}

impl Env {
    fn new() -> Env {
        let server = TestServer::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        let log_pub = server.get("/api/v1/log/publicKey");
        std::fs::write(dir.path().join("log.pub"), log_pub).unwrap();
        Env { dir, server }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        arkivo(self.dir.path(), args, env)
    }

    fn keygen(&self, prefix: &str) {
        keygen(self.dir.path(), prefix);
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    fn sign(&self, key: &str, file: &str, bundle: &str, env: &[(&str, &str)]) -> Value {
        let url = self.server.base_url();
        ok(
            self.run(
                &[
                    "sign-blob",
                    "--key",
                    key,
                    "--rekor-url",
                    &url,
                    "--bundle",
                    bundle,
                    "--output",
                    "json",
                    file,
                ],
                env,
            ),
            "sign-blob",
        )
        .json()
    }

    /// `sign-blob --key <key> --rekor-url <url> --bundle <bundle> <file>`, with text output.
    fn sign_blob(
        &self,
        key: &str,
        url: &str,
        bundle: &str,
        file: &str,
        env: &[(&str, &str)],
    ) -> Run {
        let args = [
            "sign-blob",
            "--key",
            key,
            "--rekor-url",
            url,
            "--bundle",
            bundle,
            file,
        ];
        self.run(&args, env)
    }

    fn verify(&self, public: &str, bundle: &str, file: &str, extra: &[&str]) -> Run {
        let mut args = vec!["verify-blob", "--key", public, "--bundle", bundle];
        if !extra
            .iter()
            .any(|a| *a == "--trusted-root" || *a == "--log-key")
        {
            args.extend(["--log-key", "log.pub"]);
        }
        args.extend(extra);
        args.push(file);
        self.run(&args, &[])
    }
}

#[test]
fn keygen_sign_verify_round_trips() {
    let env = Env::new();
    // Something before our entries, so that inclusion proofs are not empty.
    env.keygen("first");
    env.write("first.txt", b"first");
    env.sign("first.key", "first.txt", "first.bundle", &[]);

    for (alg, password) in [
        ("ecdsa-p256", "correct horse"),
        ("ed25519", ""),
        ("ed25519", "pw"),
    ] {
        let prefix = format!("{alg}-{}", password.len());
        let pw = [("ARKIVO_PASSWORD", password)];
        let run = ok(
            env.run(
                &["keygen", "--algorithm", alg, "--output-prefix", &prefix],
                &pw,
            ),
            "keygen",
        );
        let key_file = format!("{prefix}.key");
        let pem = std::fs::read_to_string(env.path(&key_file)).unwrap();
        let label = if password.is_empty() {
            "PRIVATE KEY"
        } else {
            "ENCRYPTED PRIVATE KEY"
        };
        assert!(
            pem.starts_with(&format!("-----BEGIN {label}-----\n")),
            "{pem}"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(env.path(&key_file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key_file}");
        assert!(run.stderr.contains(&key_file), "{}", run.stderr);
        // Never overwrites.
        fails(
            env.run(&["keygen", "--output-prefix", &prefix], &pw),
            2,
            "already exists",
            "keygen over an existing key",
        );
        assert_eq!(std::fs::read_to_string(env.path(&key_file)).unwrap(), pem);

        let file = format!("{prefix}.bin");
        env.write(&file, format!("artifact signed with {prefix}").as_bytes());
        let bundle = format!("{prefix}.bundle");
        let signed = env.sign(&key_file, &file, &bundle, &pw);
        assert!(signed["logIndex"].as_u64().unwrap() >= 1, "{signed}");
        let b: Value = serde_json::from_slice(&std::fs::read(env.path(&bundle)).unwrap()).unwrap();
        assert_eq!(
            b["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(
            b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
            "hashedrekord"
        );
        assert!(b["verificationMaterial"]["tlogEntries"][0]["logIndex"].is_string());
        let want_alg = if alg == "ed25519" {
            "SHA2_512"
        } else {
            "SHA2_256"
        };
        assert_eq!(
            b["messageSignature"]["messageDigest"]["algorithm"],
            want_alg
        );

        let public = format!("{prefix}.pub");
        let v = ok(
            env.verify(&public, &bundle, &file, &["--output", "json"]),
            "verify-blob",
        )
        .json();
        assert_eq!(v["verified"], true);
        assert_eq!(v["logIndex"], signed["logIndex"]);
        ok(
            env.verify(&public, &bundle, &file, &[]),
            "verify-blob (text)",
        );
        // A wrong password is an input error, before anything is sent.
        if !password.is_empty() {
            fails(
                env.sign_blob(
                    &key_file,
                    &env.server.base_url(),
                    "x.bundle",
                    &file,
                    &[("ARKIVO_PASSWORD", "wrong")],
                ),
                2,
                "wrong password",
                "sign-blob with a wrong password",
            );
            fails(
                env.sign_blob(&key_file, &env.server.base_url(), "x.bundle", &file, &[]),
                2,
                "set ARKIVO_PASSWORD",
                "sign-blob without a password and no terminal",
            );
        }
    }
    // Trusted root from the log, checked against the log key; then verification with it and
    // the consistency check against the current checkpoint.
    let tr = ok(
        env.run(
            &[
                "trust-root",
                "--rekor-url",
                &env.server.base_url(),
                "--log-key",
                "log.pub",
            ],
            &[],
        ),
        "trust-root",
    );
    env.write("trusted_root.json", tr.stdout.as_bytes());
    let v = ok(
        env.verify(
            "first.pub",
            "first.bundle",
            "first.txt",
            &[
                "--trusted-root",
                "trusted_root.json",
                "--rekor-url",
                &env.server.base_url(),
                "--output",
                "json",
            ],
        ),
        "verify-blob --trusted-root --rekor-url",
    )
    .json();
    assert_eq!(v["checkpoint"]["treeSize"], 1);
    assert!(v["consistency"]["treeSize"].as_u64().unwrap() >= 4, "{v}");
}

/// A cosign key file as cosign writes one (CRATES.md): scrypt(password, salt, N, 8, 1) → key,
/// NaCl secretbox of the PKCS#8 DER, JSON, PEM.
fn cosign_key_file(pkcs8_der: &[u8], password: &str, label: &str) -> String {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    use rand::RngCore as _;
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut salt);
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut key = [0u8; 32];
    scrypt::scrypt(
        password.as_bytes(),
        &salt,
        &scrypt::Params::new(15, 8, 1, 32).unwrap(),
        &mut key,
    )
    .unwrap();
    let ciphertext = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
        .encrypt(&nonce.into(), pkcs8_der)
        .unwrap();
    let json = serde_json::json!({
        "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": B64.encode(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": B64.encode(nonce)},
        "ciphertext": B64.encode(ciphertext),
    });
    let body = B64.encode(json.to_string());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn cosign_key_files_sign_and_verify() {
    use p256::pkcs8::EncodePrivateKey as _;
    let env = Env::new();
    let secret = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let der = secret.to_pkcs8_der().unwrap();
    for (i, label) in [
        "ENCRYPTED SIGSTORE PRIVATE KEY",
        "ENCRYPTED COSIGN PRIVATE KEY",
    ]
    .iter()
    .enumerate()
    {
        let key_file = format!("cosign{i}.key");
        env.write(
            &key_file,
            cosign_key_file(der.as_bytes(), "cosign pw", label).as_bytes(),
        );
        let loaded = arkivo_client::keys::SigningKey::from_pem(
            &std::fs::read_to_string(env.path(&key_file)).unwrap(),
            "k",
            &mut |_| Ok(pkcs8::der::zeroize::Zeroizing::new("cosign pw".into())),
        )
        .unwrap();
        env.write("cosign.pub", loaded.public_key_pem().as_bytes());
        let file = format!("c{i}.txt");
        env.write(&file, b"signed with a cosign key");
        let bundle = format!("c{i}.bundle");
        env.sign(
            &key_file,
            &file,
            &bundle,
            &[("COSIGN_PASSWORD", "cosign pw")],
        );
        ok(
            env.verify("cosign.pub", &bundle, &file, &[]),
            "verify-blob (cosign key)",
        );
        // ARKIVO_PASSWORD is not cosign's variable.
        fails(
            env.sign_blob(
                &key_file,
                &env.server.base_url(),
                "x",
                &file,
                &[
                    ("ARKIVO_PASSWORD", "cosign pw"),
                    ("COSIGN_PASSWORD", "nope"),
                ],
            ),
            2,
            "COSIGN_PASSWORD",
            "cosign key with the wrong COSIGN_PASSWORD",
        );
    }
    // Refused scrypt work factors: N outside cosign's three values.
    let too_costly = cosign_key_file(der.as_bytes(), "", "ENCRYPTED SIGSTORE PRIVATE KEY");
    let json = String::from_utf8(
        B64.decode(
            too_costly
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap(),
    )
    .unwrap()
    .replace("32768", "1048576");
    let pem = format!(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
        B64.encode(json)
    );
    let err =
        arkivo_client::keys::SigningKey::from_pem(&pem, "k", &mut |_| panic!("asked")).unwrap_err();
    assert!(err.to_string().contains("N=1048576"), "{err}");

    // A key file written by cosign itself (tests/fixtures/cosign/README.md), empty password.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cosign/cosign-empty-password.key");
    let real = arkivo_client::keys::SigningKey::from_pem(
        &std::fs::read_to_string(&fixture).unwrap(),
        "cosign's key",
        &mut |_| Ok(pkcs8::der::zeroize::Zeroizing::new(String::new())),
    )
    .expect("cosign's own key file opens with the empty password");
    assert_eq!(
        real.algorithm(),
        arkivo_client::keys::KeyAlgorithm::EcdsaP256
    );
    env.write("real-cosign.pub", real.public_key_pem().as_bytes());
    env.write("real.txt", b"signed with cosign's own key file");
    let fixture = fixture.display().to_string();
    env.sign(
        &fixture,
        "real.txt",
        "real.bundle",
        &[("COSIGN_PASSWORD", "")],
    );
    ok(
        env.verify("real-cosign.pub", "real.bundle", "real.txt", &[]),
        "verify-blob (cosign's key)",
    );
    fails(
        env.sign_blob(
            &fixture,
            &env.server.base_url(),
            "x",
            "real.txt",
            &[("COSIGN_PASSWORD", "not empty")],
        ),
        2,
        "wrong password",
        "cosign's key with a wrong password",
    );
}

fn flip_b64(s: &str, at: usize) -> String {
    let mut b = B64.decode(s).unwrap();
    let i = at % b.len();
    b[i] ^= 1;
    B64.encode(b)
}

#[test]
fn verify_blob_failures_say_what_failed() {
    let env = Env::new();
    let other = TestServer::start(&[]);
    let no_pw = [("ARKIVO_PASSWORD", "")];
    ok(env.run(&["keygen"], &no_pw), "keygen");
    ok(
        env.run(&["keygen", "--output-prefix", "other"], &no_pw),
        "keygen other",
    );
    for i in 0..3 {
        env.write(&format!("pad{i}"), format!("padding {i}").as_bytes());
        env.sign("arkivo.key", &format!("pad{i}"), "pad.bundle", &[]);
    }
    env.write("a.txt", b"the artifact");
    env.sign("arkivo.key", "a.txt", "a.bundle", &[]);
    ok(
        env.verify("arkivo.pub", "a.bundle", "a.txt", &[]),
        "the good bundle",
    );

    env.write("b.txt", b"the artifact, modified");
    fails(
        env.verify("arkivo.pub", "a.bundle", "b.txt", &[]),
        1,
        "the file was modified",
        "modified file",
    );
    let j = env.verify("arkivo.pub", "a.bundle", "b.txt", &["--output", "json"]);
    assert_eq!(j.code, 1);
    assert_eq!(j.json()["ok"], false);
    assert_eq!(j.json()["exitCode"], 1);
    fails(
        env.verify("other.pub", "a.bundle", "a.txt", &[]),
        1,
        "another key",
        "wrong public key",
    );

    // The same artifact and key, recorded in another log.
    ok(
        env.sign_blob(
            "arkivo.key",
            &other.base_url(),
            "other-log.bundle",
            "a.txt",
            &no_pw,
        ),
        "sign-blob in the other log",
    );
    fails(
        env.verify("arkivo.pub", "other-log.bundle", "a.txt", &[]),
        1,
        "not a trusted log",
        "bundle from another log",
    );

    let bundle: Value =
        serde_json::from_slice(&std::fs::read(env.path("a.bundle")).unwrap()).unwrap();
    let tamper = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut b = bundle.clone();
        f(&mut b["verificationMaterial"]["tlogEntries"][0]);
        env.write(name, serde_json::to_string(&b).unwrap().as_bytes());
    };
    tamper("set.bundle", &|t| {
        let s = t["inclusionPromise"]["signedEntryTimestamp"]
            .as_str()
            .unwrap();
        t["inclusionPromise"]["signedEntryTimestamp"] = flip_b64(s, 20).into();
    });
    fails(
        env.verify("arkivo.pub", "set.bundle", "a.txt", &[]),
        1,
        "signed entry timestamp (SET)",
        "tampered SET",
    );
    tamper("time.bundle", &|t| {
        let s: u64 = t["integratedTime"].as_str().unwrap().parse().unwrap();
        t["integratedTime"] = (s + 1).to_string().into();
    });
    fails(
        env.verify("arkivo.pub", "time.bundle", "a.txt", &[]),
        1,
        "SET",
        "tampered integrated time",
    );
    tamper("proof.bundle", &|t| {
        let s = t["inclusionProof"]["hashes"][0].as_str().unwrap();
        t["inclusionProof"]["hashes"][0] = flip_b64(s, 3).into();
    });
    fails(
        env.verify("arkivo.pub", "proof.bundle", "a.txt", &[]),
        1,
        "inclusion proof does not verify",
        "tampered proof",
    );
    tamper("index.bundle", &|t| {
        t["inclusionProof"]["logIndex"] = "2".into();
    });
    fails(
        env.verify("arkivo.pub", "index.bundle", "a.txt", &[]),
        1,
        "inclusion proof",
        "wrong proof index",
    );
    tamper("cpsig.bundle", &|t| {
        let cp = t["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .to_owned();
        let (head, sig) = cp.trim_end().rsplit_once(' ').unwrap();
        t["inclusionProof"]["checkpoint"]["envelope"] =
            format!("{head} {}\n", flip_b64(sig, 30)).into();
    });
    fails(
        env.verify("arkivo.pub", "cpsig.bundle", "a.txt", &[]),
        1,
        "checkpoint does not verify",
        "tampered checkpoint signature",
    );
    tamper("cproot.bundle", &|t| {
        let r = t["inclusionProof"]["rootHash"].as_str().unwrap();
        t["inclusionProof"]["rootHash"] = flip_b64(r, 0).into();
    });
    fails(
        env.verify("arkivo.pub", "cproot.bundle", "a.txt", &[]),
        1,
        "does not match its checkpoint",
        "proof root differs from the checkpoint's",
    );

    // Input errors (2) and an unreachable log (3).
    fails(
        env.run(
            &[
                "verify-blob",
                "--key",
                "arkivo.pub",
                "--bundle",
                "a.bundle",
                "a.txt",
            ],
            &[],
        ),
        2,
        "--log-key",
        "no log key",
    );
    env.write("garbage.bundle", b"{\"mediaType\":\"x\"}");
    fails(
        env.verify("arkivo.pub", "garbage.bundle", "a.txt", &[]),
        2,
        "not a Sigstore bundle",
        "not a bundle",
    );
    fails(
        env.verify("arkivo.pub", "missing.bundle", "a.txt", &[]),
        2,
        "missing.bundle",
        "no bundle file",
    );
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    fails(
        env.verify("arkivo.pub", "a.bundle", "a.txt", &["--rekor-url", &dead]),
        3,
        "cannot reach the log",
        "unreachable log for the consistency check",
    );
    fails(
        env.sign_blob("arkivo.key", &dead, "x", "a.txt", &no_pw),
        3,
        "cannot reach the log",
        "sign-blob to an unreachable log",
    );
    // The consistency check against the right log passes; against another log (another key)
    // its checkpoint does not verify.
    ok(
        env.verify(
            "arkivo.pub",
            "a.bundle",
            "a.txt",
            &["--rekor-url", &env.server.base_url()],
        ),
        "consistency",
    );
    fails(
        env.verify(
            "arkivo.pub",
            "a.bundle",
            "a.txt",
            &["--rekor-url", &other.base_url()],
        ),
        1,
        "neither active nor frozen",
        "consistency against another log",
    );
    // trust-root refuses a root that does not list the pinned key.
    let other_key = other.get("/api/v1/log/publicKey");
    env.write("other-log.pub", &other_key);
    fails(
        env.run(
            &[
                "trust-root",
                "--rekor-url",
                &env.server.base_url(),
                "--log-key",
                "other-log.pub",
            ],
            &[],
        ),
        1,
        "does not list the log key",
        "trust-root with another log's key",
    );
}

#[test]
fn log_queries_are_verified() {
    let env = Env::new();
    let url = env.server.base_url();
    ok(env.run(&["keygen"], &[("ARKIVO_PASSWORD", "")]), "keygen");
    let mut digests = Vec::new();
    for i in 0..7 {
        let name = format!("f{i}");
        env.write(&name, format!("file {i}").as_bytes());
        digests.push(
            env.sign("arkivo.key", &name, "b.bundle", &[])["digest"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let q = |args: &[&str]| {
        let mut a = vec!["log"];
        a.extend(args);
        a.extend([
            "--rekor-url",
            &url,
            "--log-key",
            "log.pub",
            "--output",
            "json",
        ]);
        ok(env.run(&a, &[]), &format!("log {args:?}")).json()
    };
    let info = q(&["info"]);
    assert_eq!(info["treeSize"], 7);
    assert_eq!(info["keyPinned"], true);

    let by_index = q(&["get", "3"]);
    let map = by_index["entry"].as_object().unwrap();
    let (uuid, e) = map.iter().next().unwrap();
    assert_eq!(e["logIndex"], 3);
    assert_eq!(uuid.len(), 80);
    let by_uuid = q(&["get", uuid]);
    assert_eq!(by_uuid["entry"][uuid]["body"], e["body"]);
    let text = ok(
        env.run(
            &[
                "log",
                "get",
                "3",
                "--rekor-url",
                &url,
                "--log-key",
                "log.pub",
            ],
            &[],
        ),
        "log get (text)",
    );
    assert!(
        text.stdout.contains("inclusion proof: OK"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(&digests[3]), "{}", text.stdout);

    let found = q(&[
        "search",
        "--sha256",
        digests[3].strip_prefix("sha256:").unwrap(),
    ]);
    assert_eq!(found["uuids"], serde_json::json!([uuid]));
    let by_key = q(&["search", "--public-key", "arkivo.pub"]);
    assert_eq!(by_key["uuids"].as_array().unwrap().len(), 7);

    let proof = q(&["proof", "--first", "3", "--last", "7"]);
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["lastRootHash"], info["rootHash"]);
    let first_root = proof["firstRootHash"].as_str().unwrap().to_owned();
    // The root at 3 learnt from 3 -> 7 is the root at 3 learnt from 3 -> 5 -> 7.
    let via5 = q(&["proof", "--first", "3", "--last", "5"]);
    assert_eq!(via5["firstRootHash"], first_root.as_str());
    assert!(q(&["proof", "--first", "4", "--last", "7"])["firstRootHash"].is_null());

    // Without a pinned key the log's own key is used, and the output says so.
    let unpinned = ok(
        env.run(&["log", "info", "--rekor-url", &url], &[]),
        "log info (unpinned)",
    );
    assert!(
        unpinned.stderr.contains("pass --log-key"),
        "{}",
        unpinned.stderr
    );
    // Errors: an entry that is not there (2), another log's key (1), bad arguments (2).
    fails(
        env.run(&["log", "get", "99", "--rekor-url", &url], &[]),
        2,
        "no entry 99",
        "missing entry",
    );
    let other = TestServer::start(&[]);
    env.write("other.pub", &other.get("/api/v1/log/publicKey"));
    fails(
        env.run(
            &[
                "log",
                "get",
                "1",
                "--rekor-url",
                &url,
                "--log-key",
                "other.pub",
            ],
            &[],
        ),
        1,
        "not a trusted log",
        "entry checked with another log's key",
    );
    fails(
        env.run(
            &["log", "info", "--rekor-url", &url, "--log-key", "other.pub"],
            &[],
        ),
        1,
        "not signed by a trusted log key",
        "checkpoint checked with another log's key",
    );
    fails(
        env.run(
            &[
                "log",
                "proof",
                "--first",
                "5",
                "--last",
                "3",
                "--rekor-url",
                &url,
            ],
            &[],
        ),
        2,
        "first <= last",
        "proof sizes backwards",
    );
    fails(
        env.run(
            &["log", "search", "--sha256", "xyz", "--rekor-url", &url],
            &[],
        ),
        2,
        "64 hex",
        "bad digest",
    );
}

#[test]
fn the_client_follows_a_rotated_log() {
    let env = Env::new();
    let url = env.server.base_url();
    env.keygen("k");
    for name in ["a", "b"] {
        env.write(name, name.as_bytes());
        env.sign("k.key", name, &format!("{name}.bundle"), &[]);
    }
    let frozen = common::rotate(env.server.data_dir(), true).frozen_tree_id;
    env.write("new.pub", &env.server.get("/api/v1/log/publicKey"));
    env.write("c", b"c");
    env.sign("k.key", "c", "c.bundle", &[("ARKIVO_REKOR_URL", &url)]);

    // A bundle of the frozen tree: its final checkpoint extends the bundle's.
    let checked = ok(
        env.verify("k.pub", "a.bundle", "a", &["--rekor-url", &url]),
        "verify-blob of a frozen tree's entry",
    );
    assert!(
        checked.stdout.contains("consistency: OK"),
        "{}",
        checked.stdout
    );
    // One of the new tree needs the new key.
    fails(
        env.verify("k.pub", "c.bundle", "c", &[]),
        1,
        "not a trusted log",
        "a new tree's entry with the old key",
    );
    ok(
        env.verify("k.pub", "c.bundle", "c", &["--log-key", "new.pub"]),
        "verify-blob with the new key",
    );

    // Log queries: the frozen tree is listed; entries of both trees verify with the key of
    // their tree (served, unpinned; or pinned, both keys); proofs by tree ID.
    let q = |args: &[&str]| {
        let mut a = vec!["log"];
        a.extend(args);
        a.extend(["--rekor-url", &url, "--output", "json"]);
        ok(env.run(&a, &[]), &format!("log {args:?}")).json()
    };
    let info = q(&["info"]);
    assert_eq!(info["inactiveShards"][0]["treeID"], frozen.as_str());
    assert_eq!(info["totalSize"], 3);
    for index in ["0", "2"] {
        assert_eq!(q(&["get", index])["verified"], true, "entry {index}");
        let pinned = q(&["get", index, "--log-key", "log.pub", "--log-key", "new.pub"]);
        assert_eq!(pinned["keyPinned"], true);
    }
    let proof = q(&["proof", "--first", "1", "--last", "2", "--tree-id", &frozen]);
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["lastRootHash"], info["inactiveShards"][0]["rootHash"]);
    fails(
        env.run(
            &[
                "log",
                "proof",
                "--first",
                "1",
                "--last",
                "2",
                "--tree-id",
                "7",
                "--log-key",
                "log.pub",
                "--rekor-url",
                &url,
            ],
            &[],
        ),
        1,
        "lists no tree 7",
        "proof of an unknown tree",
    );
}

/// A trusted root served through someone on the path — with the attacker's own log and a
/// certificate authority added — comes out of `trust-root` with the pinned log only, and a
/// bundle the attacker's log recorded does not verify with it.
#[test]
fn trust_root_writes_only_the_pinned_log() {
    let env = Env::new();
    let attacker = TestServer::start(&[]);
    env.keygen("k");
    env.write("blob", b"built by the attacker");
    ok(
        env.run(
            &[
                "sign-blob",
                "--key",
                "k.key",
                "--rekor-url",
                &attacker.base_url(),
                "--bundle",
                "evil.bundle",
                "blob",
            ],
            &[],
        ),
        "sign-blob against the attacker's log",
    );
    env.write("honest", b"honest");
    env.sign("k.key", "honest", "honest.bundle", &[]);

    let evil: Value = serde_json::from_slice(&attacker.get("/api/v1/log/trustedRoot")).unwrap();
    let proxy = common::proxy::Proxy::start(&env.server.base_url(), move |path, body| {
        if !path.starts_with("/api/v1/log/trustedRoot") {
            return None;
        }
        let mut root: Value = serde_json::from_slice(body).unwrap();
        let tlogs = root["tlogs"].as_array_mut().unwrap();
        tlogs.extend(evil["tlogs"].as_array().unwrap().iter().cloned());
        root["certificateAuthorities"] = serde_json::json!([{
            "subject": {"organization": "attacker", "commonName": "attacker"},
            "uri": "https://ca.attacker.example",
            "certChain": {"certificates": [{"rawBytes": B64.encode(b"not really a certificate")}]},
            "validFor": {"start": "2020-01-01T00:00:00Z"}
        }]);
        root["timestampAuthorities"] = root["certificateAuthorities"].clone();
        root["ctlogs"] = evil["tlogs"].clone();
        Some(serde_json::to_vec(&root).unwrap())
    });
    let honest_der = B64.encode(pem_der(
        &String::from_utf8(env.server.get("/api/v1/log/publicKey")).unwrap(),
    ));
    for pin in [&["--log-key", "log.pub"][..], &[]] {
        let mut args = vec!["trust-root", "--rekor-url"];
        let url = proxy.base_url();
        args.push(&url);
        args.extend(pin);
        let tr = ok(env.run(&args, &[]), "trust-root through the proxy");
        assert!(
            tr.stderr.contains("dropped the unpinned log"),
            "{}",
            tr.stderr
        );
        let root: Value = serde_json::from_str(&tr.stdout).unwrap();
        let keys: Vec<&str> = root["tlogs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["publicKey"]["rawBytes"].as_str().unwrap())
            .collect();
        assert_eq!(keys, [honest_der.as_str()], "pinned {pin:?}: {root}");
        for kind in ["certificateAuthorities", "ctlogs", "timestampAuthorities"] {
            assert_eq!(root[kind], serde_json::json!([]), "{kind} with {pin:?}");
        }
        env.write("root.json", tr.stdout.as_bytes());
        fails(
            env.verify(
                "k.pub",
                "evil.bundle",
                "blob",
                &["--trusted-root", "root.json"],
            ),
            1,
            "not a trusted log",
            "a bundle of the attacker's log with the written root",
        );
        ok(
            env.verify(
                "k.pub",
                "honest.bundle",
                "honest",
                &["--trusted-root", "root.json"],
            ),
            "a bundle of the pinned log with the written root",
        );
    }
    // A pinned key the served root does not list is refused, not added.
    env.write("evil.pub", &attacker.get("/api/v1/log/publicKey"));
    fails(
        env.run(
            &[
                "trust-root",
                "--rekor-url",
                &env.server.base_url(),
                "--log-key",
                "evil.pub",
            ],
            &[],
        ),
        1,
        "does not list the log key",
        "trust-root pinning a key the log does not list",
    );
}

/// The DER of a one-block PEM text.
fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(b64).unwrap()
}

/// `sign-blob` against a log started with `--write-tokens`: refused without the token, accepted
/// with it from the variable or a file; the token never shows in the output.
#[test]
fn sign_blob_sends_the_write_token() {
    use sha2::Digest as _;
    let token = "s3cret-write-token-for-ci";
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("{}\n", hex::encode(sha2::Sha256::digest(token))),
    )
    .unwrap();
    let server = TestServer::start(&["--write-tokens", tokens.to_str().unwrap()]);
    let url = server.base_url();
    let run = |args: &[&str], env: &[(&str, &str)]| arkivo(dir.path(), args, env);
    keygen(dir.path(), "k");
    std::fs::write(dir.path().join("blob"), b"blob").unwrap();
    std::fs::write(dir.path().join("token.txt"), format!("{token}\n")).unwrap();
    let sign = [
        "sign-blob",
        "--key",
        "k.key",
        "--rekor-url",
        &url,
        "--bundle",
        "b.bundle",
        "blob",
    ];
    fails(
        run(&sign, &[]),
        2,
        "401",
        "sign-blob without the write token",
    );
    let with_file = [&sign[..], &["--write-token-file", "token.txt"]].concat();
    for (args, env) in [
        (&sign[..], &[("ARKIVO_WRITE_TOKEN", token)][..]),
        (&with_file[..], &[][..]),
    ] {
        let r = ok(run(args, env), "sign-blob with the write token");
        assert!(!r.stdout.contains(token) && !r.stderr.contains(token));
    }
}

/// A log (or anyone on the path) that answers `sign-blob` with a bad SET or inclusion proof
/// makes it fail before any bundle is written.
#[test]
fn sign_blob_checks_the_log_answer_before_writing_the_bundle() {
    let env = Env::new();
    env.keygen("k");
    env.write("first", b"first");
    env.sign("k.key", "first", "first.bundle", &[]);
    env.write("blob", b"blob");
    for (what, tamper) in common::proxy::ENTRY_TAMPERS {
        let proxy = common::proxy::Proxy::tampering_entries(&env.server.base_url(), tamper);
        for pin in [&["--log-key", "log.pub"][..], &[]] {
            let url = proxy.base_url();
            let mut args = vec!["sign-blob", "--key", "k.key", "--rekor-url", &url];
            args.extend(["--bundle", "blob.bundle", "blob"]);
            args.extend(pin);
            let r = env.run(&args, &[]);
            assert_ne!(
                r.code, 0,
                "a bad {what} was accepted (pinned {pin:?}):\n{}",
                r.stdout
            );
            assert!(r.stderr.contains("does not verify"), "{what}: {}", r.stderr);
            assert!(
                !env.path("blob.bundle").exists(),
                "a bundle was written with a bad {what}"
            );
        }
    }
}

/// The last certificate of a PEM chain, as PEM.
fn last_pem_certificate(chain: &[u8]) -> String {
    let blocks = arkivo_core::entries::pki::pem_blocks(chain).unwrap();
    arkivo_core::entries::pki::pem_encode("CERTIFICATE", &blocks.last().unwrap().1)
}

/// The served trusted root's Rekor v2 (Ed25519 checkpoint) key, as PEM.
fn checkpoint_key_pem(root: &Value) -> String {
    let tlog = root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["publicKey"]["keyDetails"] == "PKIX_ED25519")
        .unwrap();
    let der = B64
        .decode(tlog["publicKey"]["rawBytes"].as_str().unwrap())
        .unwrap();
    arkivo_core::entries::pki::pem_encode("PUBLIC KEY", &der)
}

/// `sign-blob --rekor-api-version 2` (P-256 and Ed25519 keys) records a Rekor v2 entry and
/// writes a bundle with an RFC 3161 timestamp over the signature, which OpenSSL verifies too;
/// `verify-blob` accepts it and refuses, naming the timestamp, a bundle without one, with one
/// over another signature, with a changed TSA signature or imprint, and one from a TSA the
/// trusted root does not list; a changed proof or no --trusted-root are refused too.
#[test]
fn sign_blob_rekor_v2_is_timestamped_and_verified() {
    let env = Env::new();
    let url = env.server.base_url();
    env.write("root.json", &env.server.get("/api/v1/log/trustedRoot"));
    let root: Value = serde_json::from_slice(&env.server.get("/api/v1/log/trustedRoot")).unwrap();
    let sign = |key: &str, file: &str, bundle: &str| {
        let args = [
            "sign-blob",
            "--rekor-api-version",
            "2",
            "--key",
            key,
            "--rekor-url",
            &url,
            "--trusted-root",
            "root.json",
            "--bundle",
            bundle,
            "--output",
            "json",
            file,
        ];
        ok(env.run(&args, &[]), "sign-blob --rekor-api-version 2").json()
    };
    let verify = |public: &str, bundle: &str, file: &str, root: &str| {
        env.verify(public, bundle, file, &["--trusted-root", root])
    };
    env.keygen("k");
    keygen_ed25519(&env, "e");
    for (key, file) in [("k", "blob"), ("e", "blob-ed")] {
        env.write(file, format!("{file} signed into Rekor v2").as_bytes());
        let bundle = format!("{file}.bundle");
        let signed = sign(&format!("{key}.key"), file, &bundle);
        assert_eq!(signed["rekorApiVersion"], 2, "{signed}");
        let b: Value = serde_json::from_slice(&std::fs::read(env.path(&bundle)).unwrap()).unwrap();
        let tlog = &b["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(tlog["kindVersion"]["version"], "0.0.2", "{b}");
        assert!(tlog.get("inclusionPromise").is_none(), "{b}");
        let verified = ok(
            verify(&format!("{key}.pub"), &bundle, file, "root.json"),
            "verify-blob of a Rekor v2 bundle",
        );
        assert!(
            verified.stdout.contains("timestamp: OK"),
            "{}",
            verified.stdout
        );
    }

    // OpenSSL, independently: the token is over the signature bytes and chains to the TSA's root.
    let b: Value =
        serde_json::from_slice(&std::fs::read(env.path("blob.bundle")).unwrap()).unwrap();
    let signature = B64
        .decode(b["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    let token_b64 = b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
        ["signedTimestamp"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = B64.decode(&token_b64).unwrap();
    env.write("sig.bin", &signature);
    env.write("token.der", &token);
    let chain = env.server.get("/api/v1/timestamp/certchain");
    env.write("tsa-chain.pem", &chain);
    env.write("tsa-root.pem", last_pem_certificate(&chain).as_bytes());
    common::openssl(
        env.dir.path(),
        &[
            "ts",
            "-verify",
            "-in",
            "token.der",
            "-data",
            "sig.bin",
            "-CAfile",
            "tsa-root.pem",
            "-untrusted",
            "tsa-chain.pem",
        ],
    );

    // Bundles changed one way each.
    let refused = |name: &str, change: &dyn Fn(&mut Value), needle: &str| {
        let mut changed = b.clone();
        change(&mut changed);
        env.write(name, changed.to_string().as_bytes());
        fails(verify("k.pub", name, "blob", "root.json"), 1, needle, name);
    };
    let set_token = |v: &mut Value, token: &[u8]| {
        v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] =
            B64.encode(token).into();
    };
    refused(
        "no-timestamp.bundle",
        &|v| {
            v["verificationMaterial"]
                .as_object_mut()
                .unwrap()
                .remove("timestampVerificationData");
        },
        "no verified RFC 3161 timestamp",
    );
    // A genuine token of this TSA, over another signature.
    let other: Value =
        serde_json::from_slice(&std::fs::read(env.path("blob-ed.bundle")).unwrap()).unwrap();
    let other_token = other["verificationMaterial"]["timestampVerificationData"]
        ["rfc3161Timestamps"][0]["signedTimestamp"]
        .clone();
    refused(
        "other-token.bundle",
        &|v| {
            v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] =
                other_token.clone();
        },
        "the message imprint does not match",
    );
    // The imprint (SHA-256 of the signature) changed inside the signed TSTInfo.
    let imprint = <sha2::Sha256 as sha2::Digest>::digest(&signature);
    let at = token
        .windows(32)
        .position(|w| w[..] == imprint[..])
        .expect("the imprint is in the token");
    let mut changed_imprint = token.clone();
    changed_imprint[at] ^= 1;
    refused(
        "imprint.bundle",
        &|v| set_token(v, &changed_imprint),
        "the message-digest attribute does not match the TSTInfo",
    );
    // The TSA's signature (the last bytes of the token: SignerInfo ends with it) changed.
    let mut changed_signature = token.clone();
    *changed_signature.last_mut().unwrap() ^= 1;
    refused(
        "tsa-signature.bundle",
        &|v| set_token(v, &changed_signature),
        "the signature does not verify",
    );
    // The inclusion proof's root changed.
    refused(
        "root-hash.bundle",
        &|v| {
            let p = &mut v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
            p["rootHash"] = B64.encode([7u8; 32]).into();
        },
        "does not match its checkpoint",
    );

    // A trusted root whose timestamp authority is another one, and one without any.
    let now = u64::try_from(common::unix_now()).unwrap();
    let (_, other_chain) = arkivo_core::tsa::generate("other-tsa.test", now - 60).unwrap();
    let mut other_root = root.clone();
    other_root["timestampAuthorities"] = serde_json::json!([{
        "subject": {"organization": "other"},
        "certChain": {"certificates": arkivo_core::entries::pki::pem_blocks(other_chain.as_bytes())
            .unwrap().into_iter().map(|(_, der)| serde_json::json!({"rawBytes": B64.encode(der)}))
            .collect::<Vec<_>>()},
        "validFor": {"start": "2020-01-01T00:00:00Z"}
    }]);
    env.write("other-tsa-root.json", other_root.to_string().as_bytes());
    fails(
        verify("k.pub", "blob.bundle", "blob", "other-tsa-root.json"),
        1,
        "the signer is not a trusted timestamp authority",
        "a root listing another TSA",
    );
    other_root["timestampAuthorities"] = serde_json::json!([]);
    env.write("no-tsa-root.json", other_root.to_string().as_bytes());
    fails(
        verify("k.pub", "blob.bundle", "blob", "no-tsa-root.json"),
        2,
        "lists no timestamp authority",
        "a root listing no TSA",
    );
    fails(
        env.verify("k.pub", "blob.bundle", "blob", &[]),
        2,
        "verified with --trusted-root",
        "a Rekor v2 bundle with --log-key",
    );
    // Images signed into Rekor v2 are stored in the bundle format only (tests/oci.rs signs
    // them); the legacy layout is refused before the registry is reached.
    fails(
        env.run(
            &[
                "sign",
                "--rekor-api-version",
                "2",
                "--key",
                "k.key",
                "--rekor-url",
                &url,
                "localhost:1/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
            &[],
        ),
        2,
        "use --new-bundle-format",
        "sign into Rekor v2 in the legacy layout",
    );
}

/// `keygen --algorithm ed25519` into `<prefix>.key`/`.pub`.
fn keygen_ed25519(env: &Env, prefix: &str) {
    ok(
        env.run(
            &[
                "keygen",
                "--algorithm",
                "ed25519",
                "--output-prefix",
                prefix,
            ],
            &[("ARKIVO_PASSWORD", "")],
        ),
        "keygen ed25519",
    );
}

/// `arkivo trust-root --tsa-root` keeps the served timestamp authority whose chain ends in the
/// pinned root and drops one a rewriting proxy injects (a real TSA of another server), naming
/// the drop; a bundle timestamped by the injected TSA does not verify with the written root,
/// one of the pinned TSA does; a pinned root the log does not list is refused.
#[test]
fn trust_root_keeps_only_the_pinned_tsa() {
    let env = Env::new();
    let attacker = TestServer::start(&[]);
    let attacker_root: Value =
        serde_json::from_slice(&attacker.get("/api/v1/log/trustedRoot")).unwrap();
    let served: Value = serde_json::from_slice(&env.server.get("/api/v1/log/trustedRoot")).unwrap();
    let injected = attacker_root["timestampAuthorities"][0].clone();
    let proxy = common::proxy::Proxy::start(&env.server.base_url(), move |path, body| {
        if !path.starts_with("/api/v1/log/trustedRoot") {
            return None;
        }
        let mut root: Value = serde_json::from_slice(body).unwrap();
        root["timestampAuthorities"]
            .as_array_mut()
            .unwrap()
            .push(injected.clone());
        Some(serde_json::to_vec(&root).unwrap())
    });
    env.write(
        "tsa-root.pem",
        last_pem_certificate(&env.server.get("/api/v1/timestamp/certchain")).as_bytes(),
    );
    env.write("log-v2.pub", checkpoint_key_pem(&served).as_bytes());
    let url = proxy.base_url();
    let pinned = ok(
        env.run(
            &[
                "trust-root",
                "--rekor-url",
                &url,
                "--log-key",
                "log.pub",
                "--log-key",
                "log-v2.pub",
                "--tsa-root",
                "tsa-root.pem",
            ],
            &[],
        ),
        "trust-root --tsa-root through the proxy",
    );
    assert!(
        pinned
            .stderr
            .contains("dropped 1 unpinned timestamp authorities"),
        "{}",
        pinned.stderr
    );
    let root: Value = serde_json::from_str(&pinned.stdout).unwrap();
    assert_eq!(
        root["timestampAuthorities"], served["timestampAuthorities"],
        "{root}"
    );
    env.write("root.json", pinned.stdout.as_bytes());

    env.keygen("k");
    env.write("blob", b"timestamped");
    for (server, bundle) in [(&env.server, "honest.bundle"), (&attacker, "evil.bundle")] {
        ok(
            env.run(
                &[
                    "sign-blob",
                    "--rekor-api-version",
                    "2",
                    "--key",
                    "k.key",
                    "--rekor-url",
                    &server.base_url(),
                    "--bundle",
                    bundle,
                    "blob",
                ],
                &[],
            ),
            "sign-blob --rekor-api-version 2",
        );
    }
    ok(
        env.verify(
            "k.pub",
            "honest.bundle",
            "blob",
            &["--trusted-root", "root.json"],
        ),
        "a bundle of the pinned TSA and log",
    );
    fails(
        env.verify(
            "k.pub",
            "evil.bundle",
            "blob",
            &["--trusted-root", "root.json"],
        ),
        1,
        "not a trusted timestamp authority",
        "a bundle timestamped by the injected TSA",
    );

    // A pinned TSA root that the log does not list is refused, not added.
    env.write(
        "evil-tsa-root.pem",
        last_pem_certificate(&attacker.get("/api/v1/timestamp/certchain")).as_bytes(),
    );
    fails(
        env.run(
            &[
                "trust-root",
                "--rekor-url",
                &env.server.base_url(),
                "--log-key",
                "log.pub",
                "--tsa-root",
                "evil-tsa-root.pem",
            ],
            &[],
        ),
        1,
        "lists no timestamp authority",
        "trust-root pinning a TSA root the log does not list",
    );
}
