//! The official Sigstore JavaScript libraries (@sigstore/sign, @sigstore/verify, pinned in
//! tests/interop/package.json) against the real server on a socket: hashedrekord and dsse entries
//! signed with a local P-256 key and recorded through `RekorWitness` (Rekor v1 API), their bundles
//! verified offline against the server's TrustedRoot (SET, checkpoint, inclusion proof), tampered
//! bundles and a foreign log key rejected, 201/409 and read-back through the raw API, and an
//! `intoto` 0.0.2 entry (what `sigstore attest` writes) logged and its bundle verified; then Rekor v2: hashedrekord and dsse bundles made with `majorApiVersion:
//! 2` interleaved with a v1 entry in the same tree, verified against the TrustedRoot's Ed25519
//! checkpoint key, tampering rejected, 409 and 400s on the raw v2 API. See
//! tests/interop/sigstore-js.mjs.
//!
//! A second test crosses the libraries with the `arkivo` client (tests/interop/arkivo-bundles.mjs):
//! a bundle written by `arkivo sign-blob` is verified by @sigstore/verify, and a bundle made by
//! @sigstore/sign against Arkivo is verified by `arkivo verify-blob`.
//!
//! A third test runs the libraries before and after shard rotations
//! (tests/interop/sigstore-js-shards.mjs): v1 and v2 bundles made in three shards of a log rotated
//! twice (with new keys, then keeping them) verify with the trusted root served after the
//! rotations, whose validity periods must follow the rotations.
//!
//! A fourth gets a certificate from Arkivo's CA with @sigstore/sign's FulcioSigner and an ID token
//! of a test OIDC issuer (tests/interop/sigstore-js-fulcio.mjs); a fifth crosses keyless bundles
//! (tests/interop/arkivo-keyless.mjs): `arkivo sign-blob --identity-token` → @sigstore/verify with
//! an identity policy, FulcioSigner + RekorWitness → `arkivo verify-blob --certificate-identity`.
//! A sixth signs keyless with a TSAWitness on Arkivo's timestamp authority as the only witness and
//! verifies the bundle with the served trusted root and with the one @sigstore/tuf fetches from
//! Arkivo's TUF repository (tests/interop/sigstore-js-tsa.mjs). A seventh runs the command-line
//! client @sigstore/cli: `sigstore attest` keyless with the CA, TSA and Rekor v1 API writes an
//! `intoto` 0.0.2 entry; its bundle verifies with @sigstore/verify and with `sigstore verify`
//! through the TUF mirror (tests/interop/sigstore-cli.mjs).
//!
//! Node.js (>= 20.17) and npm are required: this test never skips. The pinned packages are
//! installed with `npm ci` when tests/interop/node_modules is missing or stale.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TestServer;
use common::node::{install_packages, interop_dir, pinned_versions, require_tool, run_node};

fn tree_size(base_url: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let info: serde_json::Value = reqwest::get(format!("{base_url}/api/v1/log"))
            .await
            .expect("GET /api/v1/log")
            .json()
            .await
            .expect("GET /api/v1/log: JSON");
        info["treeSize"].as_u64().expect("treeSize")
    })
}

#[test]
fn sigstore_js_signs_records_and_verifies_v1_and_v2_bundles() {
    let dir = interop_dir();
    let node = require_tool("node");
    install_packages(&dir);

    let server = TestServer::start(&[]);
    let base = server.base_url();
    let (ok, stdout, stderr) = run_node(&dir, "sigstore-js.mjs", &[&base]);
    assert!(
        ok,
        "sigstore-js interop failed ({node}):\n--- node stderr ---\n{stderr}\n--- node stdout ---\n{stdout}\n\
         --- arkivo stderr ---\n{}",
        server.stderr()
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("sigstore-js printed nothing; stderr:\n{stderr}"));
    let r: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("sigstore-js output is not one JSON line ({e}): {stdout}"));
    eprintln!("sigstore-js: {r}");

    assert_eq!(r["client"], "sigstore-js");
    assert_eq!(r["ok"], true);
    assert_eq!(r["baseUrl"], base.as_str());
    // The packages sigstore-js.mjs loads (@sigstore/tuf is sigstore-js-tsa.mjs's, @sigstore/cli
    // sigstore-cli.mjs's).
    let sigstore = pinned_versions(&dir).into_iter();
    let loaded =
        |p: &str| p.starts_with("@sigstore/") && !["@sigstore/tuf", "@sigstore/cli"].contains(&p);
    for (p, v) in sigstore.filter(|(p, _)| loaded(p)) {
        assert_eq!(r["versions"][&p], v.as_str(), "{p} version used by the run");
    }
    // A fresh log: the two bundles, the raw entry, the intoto bundle; duplicates add nothing.
    assert_eq!(r["log"]["treeSizeAtStart"], 0);
    assert_eq!(r["hashedrekord"]["logIndex"], 0);
    assert_eq!(r["dsse"]["logIndex"], 1);
    assert_eq!(r["refetched"]["logIndex"], 0);
    assert!(r["refetched"]["proofHashes"].as_u64().unwrap() >= 1);
    assert_eq!(r["raw"]["logIndex"], 2);
    assert_eq!(r["raw"]["created"], 201);
    assert_eq!(r["raw"]["duplicate"], 409);
    let id = r["raw"]["entryId"].as_str().unwrap();
    assert!(
        id.len() == 80 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(r["intoto"]["logIndex"], 3);
    assert_eq!(r["intoto"]["version"], "0.0.2");
    // Rekor v2 after the v1 entries, a v1 entry between the two v2 ones.
    assert_eq!(r["v2"]["hashedrekord"]["logIndex"], 4);
    assert_eq!(r["v2"]["v1Between"], 5);
    assert_eq!(r["v2"]["dsse"]["logIndex"], 6);
    assert_eq!(r["v2"]["dsse"]["treeSize"], 7);
    assert_eq!(r["v2"]["duplicate"], 409);
    assert_eq!(r["v2"]["refusals"].as_array().unwrap().len(), 3);
    assert!(r["negativeChecks"].as_u64().unwrap() >= 30, "{r}");
    assert_eq!(
        tree_size(&base),
        7,
        "the log should hold exactly the seven accepted entries"
    );
    drop(server);
}

/// Runs tests/interop/sigstore-js-shards.mjs; its result line, or a failure with the outputs of
/// node and of the server.
fn shards_script(dir: &Path, server: &TestServer, args: &[&str]) -> serde_json::Value {
    let (ok, stdout, stderr) = run_node(dir, "sigstore-js-shards.mjs", args);
    assert!(
        ok,
        "sigstore-js-shards.mjs {args:?} failed:\n--- node stderr ---\n{stderr}\n--- node stdout ---\n\
         {stdout}\n--- arkivo stderr ---\n{}",
        server.stderr()
    );
    let r = last_json_line(&stdout, &stderr);
    eprintln!("sigstore-js-shards {}: {r}", args[0]);
    assert_eq!(r["ok"], true);
    r
}

/// `(index in its shard, virtual index)` of each entry a sign run reports, by name.
fn indexes(run: &serde_json::Value) -> Vec<(String, u64, u64)> {
    run["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["index"].as_u64().unwrap(),
                e["logIndex"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Sleeps into the next second: the server's times (integrated times, shard creation) count
/// seconds, so what happens next is stamped later than what happened before, and a validity
/// period that ends or starts at the wrong event shows.
fn next_second() {
    let now = common::unix_now();
    while common::unix_now() == now {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Unix seconds of an RFC 3339 time in the trusted root.
fn rfc3339(v: &serde_json::Value) -> i64 {
    let t = humantime::parse_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap_or_else(|e| panic!("{v}: {e}"));
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    i64::try_from(secs).unwrap()
}

/// Issue 8 item 4, with the official libraries: bundles made in every shard of a log rotated
/// twice (first with new keys, then keeping them) verify with the one trusted root the log serves
/// afterwards, whose key validities follow the rotations; v1 and v2 entries, virtual indexes,
/// re-logging a frozen shard's entry, and tampered bundles and trust rejected. The bundles are
/// verified after a restart of the server. See tests/interop/sigstore-js-shards.mjs.
#[test]
fn sigstore_js_bundles_verify_before_and_after_shard_rotations() {
    let dir = interop_dir();
    require_tool("node");
    install_packages(&dir);
    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let created_after = common::unix_now();
    let mut server = TestServer::start_in(data.path(), port, &[]);
    let created_before = common::unix_now();
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_str().unwrap();
    // Each run adds to the active shard, at these indexes: v1 hashedrekord and dsse (0, 1), the
    // raw v1 entry (2), v2 hashedrekord and dsse (3, 4), and after a rotation the first run's v2
    // hashedrekord again (5).
    let bundles = [
        ("v1 hashedrekord", 0),
        ("v1 dsse", 1),
        ("v2 hashedrekord", 3),
        ("v2 dsse", 4),
        ("v2 hashedrekord again", 5),
    ];
    let check_run = |run: &serde_json::Value, tree: &str, position: u64, offset: u64| {
        assert_eq!(run["treeId"], tree, "{run}");
        assert_eq!(run["position"], position);
        assert_eq!(run["offset"], offset, "entries of the frozen shards before");
        assert_eq!(run["sizeAtStart"], 0);
        let logged = if position == 0 { 4 } else { 5 };
        let want: Vec<(String, u64, u64)> = bundles[..logged]
            .iter()
            .map(|&(n, i)| (n.to_owned(), i, offset + i))
            .collect();
        assert_eq!(indexes(run), want, "(index in the shard, virtual index)");
        assert_eq!(run["raw"]["created"], 201);
        assert_eq!(run["raw"]["logIndex"], offset + 2);
        assert_eq!(run["v2Duplicate"], 409);
    };

    next_second();
    let a = shards_script(&dir, &server, &["sign", &base, w, "a"]);
    let first_tree = a["treeId"].as_str().unwrap().to_owned();
    check_run(&a, &first_tree, 0, 0);

    next_second();
    let r1 = common::rotate(server.data_dir(), true);
    assert_eq!(
        (r1.frozen_tree_id.as_str(), r1.frozen_size),
        (first_tree.as_str(), 5)
    );
    next_second();
    let b = shards_script(&dir, &server, &["sign", &base, w, "b"]);
    check_run(&b, &r1.active_tree_id, 1, 5);
    // The first run's raw entry, frozen in tree 1, logged again in tree 2 (then a 409).
    assert_eq!(b["raw"]["duplicate"], 409);
    assert_eq!(b["raw"]["retrieved"], 2);

    next_second();
    let r2 = common::rotate(server.data_dir(), false);
    assert_eq!(
        (r2.frozen_tree_id.as_str(), r2.frozen_size),
        (r1.active_tree_id.as_str(), 6)
    );
    next_second();
    let c = shards_script(&dir, &server, &["sign", &base, w, "c"]);
    check_run(&c, &r2.active_tree_id, 2, 11);
    assert_eq!(c["raw"]["retrieved"], 3);

    // The shards, their keys and creation times are read back from disk by a restarted server.
    server.signal("TERM");
    let server = TestServer::start_in(data.path(), port, &[]);
    let v = shards_script(&dir, &server, &["verify", &base, w]);
    let trees = [&first_tree, &r1.active_tree_id, &r2.active_tree_id];
    let shards = v["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3, "{v}");
    for (i, (s, (size, offset))) in shards.iter().zip([(5, 0), (6, 5), (6, 11)]).enumerate() {
        assert_eq!(s["treeId"], trees[i].as_str());
        assert_eq!(
            (s["size"].as_u64(), s["offset"].as_u64()),
            (Some(size), Some(offset))
        );
    }
    assert_ne!(shards[0]["logId"], shards[1]["logId"], "--new-key");
    assert_eq!(shards[1]["logId"], shards[2]["logId"], "no --new-key");
    assert_eq!(v["verified"], 14, "the bundles of the three runs");
    assert!(v["negativeChecks"].as_u64().unwrap() >= 40, "{v}");

    // Validity periods, against when the shards were created (each between two clock readings):
    // the first ECDSA key from the log's creation to the first rotation, the second from there
    // on (both later shards use it); one Ed25519 key per shard, for that shard's period.
    let events = [
        (created_after, created_before),
        (r1.before, r1.after),
        (r2.before, r2.after),
    ];
    let check_period =
        |period: &serde_json::Value, start: usize, end: Option<usize>, what: &str| {
            let within = |t: &serde_json::Value, (from, to): (i64, i64), bound: &str| {
                let t = rfc3339(t);
                assert!(
                    (from..=to).contains(&t),
                    "{what}: {bound} {t} is not within [{from}, {to}]: {period}"
                );
            };
            within(&period["start"], events[start], "start");
            match end {
                Some(end) => within(&period["end"], events[end], "end"),
                None => assert_eq!(period["end"], serde_json::Value::Null, "{what}: no end"),
            }
        };
    let tr = &v["trustedRoot"];
    let ecdsa = tr["ecdsa"].as_array().unwrap();
    assert_eq!(ecdsa.len(), 2, "{tr}");
    assert_eq!(ecdsa[0]["trees"], serde_json::json!([trees[0]]));
    assert_eq!(ecdsa[1]["trees"], serde_json::json!([trees[1], trees[2]]));
    check_period(&ecdsa[0], 0, Some(1), "the first ECDSA key");
    check_period(&ecdsa[1], 1, None, "the second ECDSA key (active)");
    let ed = tr["ed25519"].as_array().unwrap();
    assert_eq!(ed.len(), 3, "{tr}");
    for (i, e) in ed.iter().enumerate() {
        assert_eq!(e["tree"], trees[i].as_str());
        let url = match i {
            0 => base.clone(),
            _ => format!("{base}/shards/{}", trees[i]),
        };
        assert_eq!(e["baseUrl"], url.as_str());
        let end = (i + 1 < events.len()).then_some(i + 1);
        check_period(e, i, end, &format!("the Ed25519 key of shard {i}"));
    }
    assert_eq!(tree_size(&base), 6, "the active shard");
    drop(server);
}

/// The last line of a script's stdout, as JSON.
fn last_json_line(stdout: &str, stderr: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("the script printed nothing; stderr:\n{stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON line ({e}): {stdout}"))
}

/// A server with its CA trusting a test OIDC issuer (tests/common/oidc.rs, issuer "email"), and
/// the interop packages installed: what each keyless sigstore-js test starts from.
struct KeylessLog {
    dir: std::path::PathBuf,
    issuer: common::oidc::TestIssuer,
    issuer_url: String,
    server: TestServer,
}

impl KeylessLog {
    fn start() -> KeylessLog {
        require_tool("node");
        let dir = interop_dir();
        install_packages(&dir);
        let issuer = common::oidc::TestIssuer::start(false);
        let issuer_url = issuer.url("email");
        let server = TestServer::start(&["--oidc-issuer", &issuer_url]);
        KeylessLog {
            dir,
            issuer,
            issuer_url,
            server,
        }
    }

    /// An ES256 ID token of the issuer with `claims`.
    fn token(&self, claims: serde_json::Value) -> String {
        self.issuer.token(common::oidc::Alg::Es256, "email", claims)
    }

    /// Runs `script` of tests/interop with `args`; its last JSON line, or a panic with the
    /// script's and the server's output.
    fn node(&self, script: &str, args: &[&str]) -> serde_json::Value {
        let (ok, stdout, stderr) = run_node(&self.dir, script, args);
        assert!(
            ok,
            "{script} failed:\n--- node stderr ---\n{stderr}\n--- node stdout ---\n\
             {stdout}\n--- server stderr ---\n{}",
            self.server.stderr()
        );
        last_json_line(&stdout, &stderr)
    }
}

fn arkivo(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkivo"));
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ARKIVO_") {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .env("ARKIVO_PASSWORD", "")
        .output()
        .expect("running arkivo");
    assert!(
        out.status.success(),
        "arkivo {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn arkivo_and_sigstore_js_verify_each_others_bundles() {
    let dir = interop_dir();
    require_tool("node");
    install_packages(&dir);
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let path = |name: &str| w.join(name).display().to_string();

    // arkivo sign-blob -> @sigstore/verify.
    arkivo(w, &["keygen"]);
    std::fs::write(w.join("blob"), b"signed by arkivo, verified by sigstore-js").unwrap();
    arkivo(
        w,
        &[
            "sign-blob",
            "--key",
            "arkivo.key",
            "--rekor-url",
            &base,
            "--bundle",
            "arkivo.bundle",
            "blob",
        ],
    );
    let (ok, stdout, stderr) = run_node(
        &dir,
        "arkivo-bundles.mjs",
        &[
            "verify",
            &base,
            &path("arkivo.bundle"),
            &path("blob"),
            &path("arkivo.pub"),
        ],
    );
    assert!(
        ok,
        "@sigstore/verify on an arkivo bundle:\n{stderr}\n{stdout}"
    );
    let r = last_json_line(&stdout, &stderr);
    assert_eq!(
        r["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(r["logIndex"], "0");

    // @sigstore/sign -> arkivo verify-blob, with the trusted root arkivo fetched.
    std::fs::write(
        w.join("js-blob"),
        b"signed by sigstore-js, verified by arkivo",
    )
    .unwrap();
    let (ok, stdout, stderr) = run_node(
        &dir,
        "arkivo-bundles.mjs",
        &[
            "sign",
            &base,
            &path("js-blob"),
            &path("js.bundle"),
            &path("js.pub"),
        ],
    );
    assert!(ok, "@sigstore/sign against arkivo:\n{stderr}\n{stdout}");
    assert_eq!(last_json_line(&stdout, &stderr)["logIndex"], 1);
    let root = arkivo(w, &["trust-root", "--rekor-url", &base]);
    std::fs::write(w.join("trusted_root.json"), &root.stdout).unwrap();
    let out = arkivo(
        w,
        &[
            "verify-blob",
            "--key",
            "js.pub",
            "--bundle",
            "js.bundle",
            "--trusted-root",
            "trusted_root.json",
            "--rekor-url",
            &base,
            "--output",
            "json",
            "js-blob",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["logIndex"], 1);
    drop(server);
}

/// @sigstore/sign's FulcioSigner gets a certificate from Arkivo's CA with an ID token of the
/// test OIDC issuer (tests/common/oidc.rs) and signs with it; the certificate chains to the
/// trust bundle and the trusted root's CA. See tests/interop/sigstore-js-fulcio.mjs.
#[test]
fn sigstore_js_fulcio_signer_gets_a_certificate_from_the_ca() {
    let log = KeylessLog::start();
    let token = log.token(serde_json::json!({"email": "dev@example.org", "email_verified": true}));
    let result = log.node(
        "sigstore-js-fulcio.mjs",
        &[&log.server.base_url(), &token, "dev@example.org"],
    );
    assert_eq!(result["san"], "email:dev@example.org");
}

/// Keyless bundles both ways with Arkivo's CA: @sigstore/verify accepts `arkivo sign-blob`'s for
/// the certificate's identity and issuer (and refuses others), `arkivo verify-blob` accepts
/// @sigstore/sign's (FulcioSigner, RekorWitness). See tests/interop/arkivo-keyless.mjs.
#[test]
fn keyless_bundles_between_arkivo_and_sigstore_js() {
    let log = KeylessLog::start();
    let issuer_url = log.issuer_url.as_str();
    let base = log.server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let path = |name: &str| w.join(name).display().to_string();
    let email = "dev@example.org";
    let token = || log.token(serde_json::json!({"email": email, "email_verified": true}));

    std::fs::write(w.join("blob"), b"signed keyless by arkivo").unwrap();
    arkivo(
        w,
        &[
            "sign-blob",
            "--identity-token",
            &token(),
            "--rekor-url",
            &base,
            "--bundle",
            "arkivo.bundle",
            "blob",
        ],
    );
    // @sigstore/verify on arkivo's keyless bundle.
    let r = log.node(
        "arkivo-keyless.mjs",
        &[
            "verify",
            &base,
            &path("arkivo.bundle"),
            &path("blob"),
            email,
            issuer_url,
        ],
    );
    assert_eq!(r["san"], email);
    assert_eq!(r["issuer"], issuer_url);
    assert_eq!(r["content"], "messageSignature");
    // arkivo attest-blob (an in-toto statement in DSSE, a dsse entry) -> @sigstore/verify.
    std::fs::write(w.join("predicate.json"), br#"{"built":true}"#).unwrap();
    arkivo(
        w,
        &[
            "attest-blob",
            "--identity-token",
            &token(),
            "--rekor-url",
            &base,
            "--predicate",
            "predicate.json",
            "--type",
            "slsaprovenance1",
            "--bundle",
            "attestation.bundle",
            "blob",
        ],
    );
    let r = log.node(
        "arkivo-keyless.mjs",
        &[
            "verify",
            &base,
            &path("attestation.bundle"),
            &path("blob"),
            email,
            issuer_url,
        ],
    );
    assert_eq!(
        (&r["content"], &r["san"]),
        (&"dsseEnvelope".into(), &email.into())
    );

    std::fs::write(w.join("js-blob"), b"signed keyless by sigstore-js").unwrap();
    // FulcioSigner against arkivo.
    let material = log.node(
        "arkivo-keyless.mjs",
        &[
            "sign",
            &base,
            &token(),
            &path("js-blob"),
            &path("js.bundle"),
        ],
    )["material"]
        .clone();
    assert!(
        material == "certificate" || material == "x509CertificateChain",
        "{material}"
    );
    let served = log.server.get("/api/v1/log/trustedRoot");
    std::fs::write(w.join("root.json"), served).unwrap();
    let out = arkivo(
        w,
        &[
            "verify-blob",
            "--bundle",
            "js.bundle",
            "--trusted-root",
            "root.json",
            "--certificate-identity",
            email,
            "--certificate-oidc-issuer",
            issuer_url,
            "--output",
            "json",
            "js-blob",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["certificate"]["subjects"], serde_json::json!([email]));
}

/// @sigstore/sign's TSAWitness gets an RFC 3161 timestamp from Arkivo's TSA for a keyless
/// signature; @sigstore/verify accepts the bundle with the timestamp as its only time, with the
/// trusted root the log serves and with the one @sigstore/tuf fetches from `/tuf/` (bootstrapped
/// from the repository's first root). See tests/interop/sigstore-js-tsa.mjs.
#[test]
fn sigstore_js_tsa_witness_and_tuf_mirror() {
    let log = KeylessLog::start();
    let base = log.server.base_url();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root.json");
    std::fs::write(&root, log.server.get("/tuf/1.root.json")).unwrap();
    let email = "dev@example.org";
    let token = log.token(serde_json::json!({"email": email, "email_verified": true}));
    let cache = work.path().join("tuf-cache");
    let r = log.node(
        "sigstore-js-tsa.mjs",
        &[
            &base,
            &token,
            email,
            &log.issuer_url,
            root.to_str().unwrap(),
            cache.to_str().unwrap(),
        ],
    );
    assert_eq!(r["san"], email);
    assert_eq!(r["timestamps"], 1);
    assert_eq!(r["tufRootTsas"], 1);
    assert_eq!(
        r["rekorV2Index"], 0,
        "the Rekor v2 entry, the first of a fresh log"
    );
}

#[test]
fn sigstore_cli_attests_intoto_keyless_and_its_bundle_verifies() {
    let log = KeylessLog::start();
    let base = log.server.base_url();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root.json");
    std::fs::write(&root, log.server.get("/tuf/1.root.json")).unwrap();
    let email = "builder@example.org";
    // The CLI's @sigstore/sign (3.x) signs the token's `sub` as the proof of possession for any
    // issuer but Google's and Sigstore's own, while the CA checks it against the email of an
    // email issuer's token: the two agree when `sub` is the email.
    let token =
        log.token(serde_json::json!({"sub": email, "email": email, "email_verified": true}));
    let r = log.node(
        "sigstore-cli.mjs",
        &[
            &base,
            &token,
            email,
            &log.issuer_url,
            root.to_str().unwrap(),
            work.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r["kind"], "intoto");
    assert_eq!(r["version"], "0.0.2");
    assert_eq!(r["san"], email);
    assert_eq!(r["timestamps"], 1);
    assert_eq!(r["negativeChecks"], 4);
    assert_eq!(tree_size(&base), r["logIndex"].as_u64().unwrap() + 1);
    // arkivo verify-blob-attestation on the CLI's bundle (intoto 0.0.2, Rekor v1).
    let w = work.path();
    std::fs::write(
        w.join("trusted_root.json"),
        log.server.get("/api/v1/log/trustedRoot"),
    )
    .unwrap();
    let verify = |artifact: &str, identity: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkivo"));
        cmd.args([
            "verify-blob-attestation",
            "--bundle",
            "bundle.json",
            "--trusted-root",
            "trusted_root.json",
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &log.issuer_url,
            "--type",
            "https://arkivo.example/attestation/v1",
            "--output",
            "json",
            artifact,
        ]);
        cmd.current_dir(w).stdin(Stdio::null()).output().unwrap()
    };
    let out = verify("artifact.bin", email);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["certificate"]["subjects"], serde_json::json!([email]));
    assert_eq!(v["logIndex"], r["logIndex"]);
    let mut tampered = std::fs::read(w.join("artifact.bin")).unwrap();
    tampered[0] ^= 1;
    std::fs::write(w.join("tampered.bin"), tampered).unwrap();
    let out = verify("tampered.bin", email);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the statement is not about"));
    let out = verify("artifact.bin", "mallory@example.org");
    assert_eq!(out.status.code(), Some(1));
}
