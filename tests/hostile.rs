//! Hostile input against the real server on a socket: hundreds of malformed, oversized or
//! tricky requests, to the Rekor v1 and v2 write APIs, the read routes and the CA (hostile ID tokens and certificate requests). Each must get a 4xx — with a JSON `{code, message}` body wherever the route
//! answers with one — the server must stay healthy, and nothing may be written.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::TestServer;

fn valid_entry() -> serde_json::Value {
    common::EntrySigner::new().hashedrekord(b"hostile")
}

fn dsse_with(signatures: usize, verifiers: usize) -> serde_json::Value {
    let sigs: Vec<_> = (0..signatures)
        .map(|i| serde_json::json!({"keyid": "", "sig": B64.encode([i as u8; 70])}))
        .collect();
    let envelope = serde_json::json!({"payloadType": "application/vnd.in-toto+json", "payload": B64.encode("{}"), "signatures": sigs}).to_string();
    let v: Vec<String> = (0..verifiers).map(|_| B64.encode("not a key")).collect();
    serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {"envelope": envelope, "verifiers": v}}})
}

/// intoto 0.0.1 and 0.0.2 entries that must be refused: huge envelopes, many signatures, bad
/// encodings (rekor-v1-api.md §6a).
fn intoto_hostile() -> Vec<(String, serde_json::Value)> {
    let key = B64.encode("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    let v001 = |envelope: String| {
        serde_json::json!({"apiVersion": "0.0.1", "kind": "intoto",
            "spec": {"content": {"envelope": envelope}, "publicKey": key}})
    };
    let v002 = |payload: serde_json::Value, sigs: serde_json::Value, hash: serde_json::Value| {
        serde_json::json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
            "envelope": {"payloadType": "application/vnd.in-toto+json", "payload": payload, "signatures": sigs},
            "hash": {"algorithm": "sha256", "value": hash}}}})
    };
    let sig = |n: usize| {
        serde_json::json!(
            (0..n)
                .map(|i| serde_json::json!({
                    "sig": B64.encode(B64.encode([i as u8; 70])), "publicKey": key.clone()
                }))
                .collect::<Vec<_>>()
        )
    };
    let payload = serde_json::json!(B64.encode(B64.encode("{}")));
    let hash = serde_json::json!("ab".repeat(32));
    vec![
        (
            "intoto 0.0.1 900 KiB envelope".into(),
            v001("x".repeat(900 << 10)),
        ),
        (
            "intoto 0.0.1 envelope of 2000 signatures".into(),
            v001(
                dsse_with(2_000, 1)["spec"]["proposedContent"]["envelope"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
        ),
        ("intoto 0.0.1 envelope not JSON".into(), v001("{".into())),
        (
            "intoto 0.0.1 envelope nested 10000".into(),
            v001("[".repeat(10_000)),
        ),
        (
            "intoto 0.0.2 2000 signatures".into(),
            v002(payload.clone(), sig(2_000), hash.clone()),
        ),
        (
            "intoto 0.0.2 8 signatures, bad keys".into(),
            v002(payload.clone(), sig(8), hash.clone()),
        ),
        (
            "intoto 0.0.2 600 KiB payload".into(),
            v002(
                serde_json::json!(B64.encode(vec![b'A'; 600 << 10])),
                sig(1),
                hash.clone(),
            ),
        ),
        (
            "intoto 0.0.2 payload not base64".into(),
            v002(serde_json::json!("%%%"), sig(1), hash.clone()),
        ),
        (
            "intoto 0.0.2 payload base64 once".into(),
            v002(
                serde_json::json!(B64.encode([0xffu8; 40])),
                sig(1),
                hash.clone(),
            ),
        ),
        (
            "intoto 0.0.2 signature not base64".into(),
            v002(
                payload.clone(),
                serde_json::json!([{"sig": "%%", "publicKey": key}]),
                hash.clone(),
            ),
        ),
        (
            "intoto 0.0.2 huge signature".into(),
            v002(
                payload.clone(),
                serde_json::json!([{"sig": B64.encode(vec![b'A'; 300 << 10]), "publicKey": key}]),
                hash.clone(),
            ),
        ),
        (
            "intoto 0.0.2 hash with a NUL".into(),
            v002(
                payload.clone(),
                sig(1),
                serde_json::json!("\u{0}".repeat(64)),
            ),
        ),
        (
            "intoto 0.0.2 hash a number".into(),
            v002(payload.clone(), sig(1), serde_json::json!(7)),
        ),
        (
            "intoto 0.0.2 signatures an object".into(),
            v002(payload, serde_json::json!({"a": 1}), hash),
        ),
    ]
}

/// Bodies that must all be refused by `POST /api/v1/log/entries`.
fn hostile_bodies() -> Vec<(String, Vec<u8>)> {
    let valid = serde_json::to_vec(&valid_entry()).unwrap();
    let mut out = Vec::new();
    // Every truncation of a valid entry.
    for n in (0..valid.len()).step_by(3) {
        out.push((format!("truncated at {n}"), valid[..n].to_vec()));
    }
    // Invalid UTF-8 at several places.
    for at in [0, 1, 10, valid.len() / 2, valid.len() - 2] {
        let mut b = valid.clone();
        b[at] = 0xff;
        out.push((format!("invalid UTF-8 at {at}"), b));
    }
    // Deep nesting, in and out of the entry.
    for depth in [100, 1_000, 100_000] {
        out.push((
            format!("array nesting {depth}"),
            "[".repeat(depth).into_bytes(),
        ));
        let mut nested = String::from(r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":"#);
        nested.push_str(&"{\"a\":".repeat(depth));
        out.push((format!("object nesting {depth}"), nested.into_bytes()));
    }
    // Huge numbers and wrong types everywhere.
    let mut edits: Vec<(&str, serde_json::Value)> = vec![
        ("/spec", serde_json::json!(1e300)),
        ("/apiVersion", serde_json::json!(18446744073709551615u64)),
        ("/kind", serde_json::json!(["hashedrekord"])),
        ("/spec/data/hash/value", serde_json::json!("zz".repeat(32))),
        ("/spec/data/hash/value", serde_json::json!("ab".repeat(31))),
        ("/spec/data/hash/algorithm", serde_json::json!("md5")),
        ("/spec/signature/content", serde_json::json!("not base64!")),
        ("/spec/signature/content", serde_json::json!("AAAA")),
        (
            "/spec/signature/content",
            serde_json::json!(B64.encode(vec![0u8; 100_000])),
        ),
        (
            "/spec/signature/publicKey/content",
            serde_json::json!(
                B64.encode("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            ),
        ),
        (
            "/spec/signature/publicKey/content",
            serde_json::json!(B64.encode(vec![b'A'; 200_000])),
        ),
        ("/spec/signature/publicKey/content", serde_json::json!("")),
        ("/spec/signature/publicKey", serde_json::json!(null)),
        ("/spec/data", serde_json::json!({})),
        ("/spec", serde_json::json!({})),
        ("/apiVersion", serde_json::json!("0.0.2")),
        ("/apiVersion", serde_json::json!("")),
        ("/kind", serde_json::json!("rekord")),
        ("/kind", serde_json::json!("x".repeat(10_000))),
    ];
    for s in ["\u{0}", "\u{202e}", "\\", "\"", "😀", "\u{fffd}"] {
        edits.push(("/spec/data/hash/value", serde_json::json!(s.repeat(64))));
        edits.push(("/kind", serde_json::json!(s)));
    }
    for (path, value) in edits {
        let mut e = valid_entry();
        *e.pointer_mut(path).unwrap() = value.clone();
        out.push((
            format!("{path} = {value:.60}"),
            serde_json::to_vec(&e).unwrap(),
        ));
    }
    for (name, entry) in intoto_hostile() {
        out.push((name, serde_json::to_vec(&entry).unwrap()));
    }
    for (sigs, verifiers) in [(0, 1), (1, 0), (2_000, 1), (1, 2_000), (200, 200)] {
        out.push((
            format!("dsse {sigs} signatures {verifiers} verifiers"),
            serde_json::to_vec(&dsse_with(sigs, verifiers)).unwrap(),
        ));
    }
    for junk in [
        "",
        " ",
        "null",
        "0",
        "\"string\"",
        "[]",
        "{}",
        "{\"kind\":null}",
        "{\"kind\":\"hashedrekord\"}",
    ] {
        out.push((format!("{junk:?}"), junk.as_bytes().to_vec()));
    }
    out
}

/// Bodies that must all be refused by `POST /api/v2/log/entries` (tiles-checkpoints-witnesses.md §6),
/// on top of the v1 ones (which are all unknown fields or garbage to it).
fn hostile_v2_bodies() -> Vec<(String, Vec<u8>)> {
    let valid = common::EntrySigner::new().hashedrekord_v2(b"hostile v2");
    let bytes = serde_json::to_vec(&valid).unwrap();
    let mut out = Vec::new();
    for n in (0..bytes.len()).step_by(5) {
        out.push((format!("v2 truncated at {n}"), bytes[..n].to_vec()));
    }
    let huge = serde_json::json!(B64.encode(vec![7u8; 1_000_000]));
    let r = "/hashedRekordRequestV002";
    for (path, value) in [
        (format!("{r}/digest"), huge.clone()),
        (format!("{r}/digest"), serde_json::json!(-1)),
        (format!("{r}/digest"), serde_json::json!("=")),
        (format!("{r}/signature/content"), huge.clone()),
        (format!("{r}/signature/verifier/publicKey/rawBytes"), huge),
        (
            format!("{r}/signature/verifier/keyDetails"),
            serde_json::json!(1e300),
        ),
        (
            format!("{r}/signature/verifier/keyDetails"),
            serde_json::json!(-1),
        ),
        (
            format!("{r}/signature/verifier/keyDetails"),
            serde_json::json!("😀"),
        ),
        (
            format!("{r}/signature/verifier/publicKey"),
            serde_json::json!([]),
        ),
        (format!("{r}/signature"), serde_json::json!("x")),
        (r.to_owned(), serde_json::json!(true)),
    ] {
        let mut e = valid.clone();
        *e.pointer_mut(&path).unwrap() = value.clone();
        out.push((
            format!("v2 {path} = {value:.60}"),
            serde_json::to_vec(&e).unwrap(),
        ));
    }
    let envelope = |sigs: usize| {
        let sigs: Vec<_> = (0..sigs)
            .map(|i| serde_json::json!({"sig": B64.encode([i as u8; 70])}))
            .collect();
        serde_json::json!({"payload": B64.encode("{}"), "payloadType": "t", "signatures": sigs})
    };
    let verifier = valid.pointer(&format!("{r}/signature/verifier")).unwrap();
    for (sigs, verifiers) in [(1, 1), (2_000, 1), (1, 2_000)] {
        let body = serde_json::json!({"dsseRequestV002": {
            "envelope": envelope(sigs), "verifiers": vec![verifier; verifiers]}});
        out.push((
            format!("v2 dsse {sigs} signatures {verifiers} verifiers"),
            serde_json::to_vec(&body).unwrap(),
        ));
    }
    out
}

/// Status, content type and body of an answer.
async fn answer(res: reqwest::Response) -> (u16, Option<String>, Vec<u8>) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ct, res.bytes().await.unwrap().to_vec())
}

/// A JSON `{code, message}` error body with a non-empty message.
fn assert_json_error(what: &str, content_type: Option<&str>, body: &[u8]) {
    assert_eq!(content_type, Some("application/json"), "{what}");
    let j: serde_json::Value =
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
    assert!(j["code"].as_u64().is_some_and(|c| c >= 400), "{what}: {j}");
    assert!(
        j["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {j}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_requests_get_4xx_and_write_nothing() {
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let mut sent = 0;

    let check = |what: &str,
                 status: u16,
                 content_type: Option<String>,
                 body: &[u8],
                 json_expected: bool| {
        assert!(
            (400..500).contains(&status),
            "{what}: got {status}: {}",
            String::from_utf8_lossy(body)
        );
        if json_expected {
            assert_json_error(what, content_type.as_deref(), body);
        }
    };

    for (what, body) in hostile_bodies() {
        for path in [
            "/api/v1/log/entries",
            "/api/v1/log/entries/retrieve",
            "/api/v2/log/entries",
        ] {
            let res = client
                .post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let (status, ct, b) = answer(res).await;
            // retrieve answers [] to a well-formed query that asks for nothing it knows.
            if path.ends_with("retrieve") && status == 200 {
                assert_eq!(&b[..], b"[]\n", "{what} on retrieve");
            } else {
                check(&format!("{what} on {path}"), status, ct, &b, true);
            }
            sent += 1;
        }
    }

    for (what, body) in hostile_v2_bodies() {
        let res = client
            .post(format!("{base}/api/v2/log/entries"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}\nSERVER STDERR:\n{}", server.stderr()));
        let (status, ct, b) = answer(res).await;
        check(&what, status, ct, &b, true);
        sent += 1;
    }

    // A body over the limit: refused by its announced length, before it is read.
    let big = vec![b' '; arkivo_core::limits::MAX_REQUEST_BODY_BYTES + 1];
    let res = client
        .post(format!("{base}/api/v1/log/entries"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    sent += 1;

    // Paths and parameters.
    let paths = [
        "/api/v1/log/entries/..%2f..%2fetc%2fpasswd",
        "/api/v1/log/entries/%00",
        &format!("/api/v1/log/entries/{}", "a".repeat(81)),
        &format!("/api/v1/log/entries/{}", "a".repeat(10_000)),
        "/api/v1/log/entries?logIndex=99999999999999999999999",
        "/api/v1/log/entries?logIndex=-0x1",
        "/api/v1/log/entries?logIndex=1e3",
        "/api/v1/log/proof?firstSize=1&lastSize=18446744073709551616",
        "/api/v1/log/proof?firstSize=-5&lastSize=1",
        "/api/v1/log/proof?lastSize=9223372036854775807",
        "/api/v1/log/publicKey?treeID=../../1",
        "/api/v1/log/publicKey?treeID=99999999999999999999999",
        "/../../../etc/passwd",
        "/api/v1/../../etc/passwd",
        "/api/v2/nothing",
    ];
    for p in paths {
        let res = client.get(format!("{base}{p}")).send().await.unwrap();
        let (status, ct, b) = answer(res).await;
        // Entry lookups answer 404 with no body, as upstream does.
        let json_expected = !(status == 404 && b.is_empty());
        check(p, status, ct, &b, json_expected);
        sent += 1;
    }
    // Index search with bad terms.
    for q in [
        serde_json::json!({"hash": "sha256:zz"}),
        serde_json::json!({"hash": "md5:abcd"}),
        serde_json::json!({"email": "not-an-email"}),
        serde_json::json!({"publicKey": {"content": "AAAA"}}),
        serde_json::json!({"publicKey": {"format": "x509", "content": "!!"}}),
        serde_json::json!({"publicKey": {"format": "pgp", "content": "AAAA"}}),
        serde_json::json!({"operator": "xor"}),
    ] {
        let res = client
            .post(format!("{base}/api/v1/index/retrieve"))
            .json(&q)
            .send()
            .await
            .unwrap();
        let (status, ct, b) = answer(res).await;
        check(&q.to_string(), status, ct, &b, true);
        sent += 1;
    }
    assert!(sent >= 500, "only {sent} hostile requests");

    // Still healthy, still empty, and still writable.
    let info: serde_json::Value = common::get_json(&client, format!("{base}/api/v1/log")).await;
    assert_eq!(info["treeSize"], 0, "a hostile request wrote something");
    assert_eq!(common::get_status(&client, &base, "/readyz").await, 200);
    assert_eq!(
        common::post_entry_status(&client, &base, &valid_entry()).await,
        201
    );
}

/// A client that never finishes its headers is disconnected after the header timeout, and does
/// not keep others from being served meanwhile.
#[test]
fn slow_clients_are_cut_off() {
    use std::io::{Read, Write};
    let server = TestServer::start(&["--header-read-timeout-ms", "500"]);
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    slow.write_all(b"POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\nContent-")
        .unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // Others are served while it dawdles.
    let mut other = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    other
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    other.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The slow one is closed by the server (end of stream or reset), long before our 20 s.
    let mut buf = [0u8; 512];
    let started = std::time::Instant::now();
    let closed = match slow.read(&mut buf) {
        Ok(n) => n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        Err(e) => {
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
        }
    };
    assert!(closed && started.elapsed() < std::time::Duration::from_secs(15));
}

/// Per-client rate limit: a burst passes, then 429 with `Retry-After` and a JSON message; the
/// health probes are not limited; once its interval has passed the client is served again.
#[tokio::test]
async fn clients_over_their_rate_get_429() {
    let server = TestServer::start(&["--rate-limit-per-second", "2", "--rate-limit-burst", "5"]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let res = client
            .get(format!("{base}/api/v1/log"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if status == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(retry, 1, "Retry-After");
            let (_, ct, body) = answer(res).await;
            assert_json_error("over the rate", ct.as_deref(), &body);
        }
        statuses.push(status);
    }
    // Five at once (the burst), maybe one more if half a second went by; the rest refused.
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert!((5..=6).contains(&ok), "{statuses:?}");
    assert!(statuses[..5].iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 12 - ok);
    // Writes count too.
    assert_eq!(
        common::post_entry_status(&client, &base, &valid_entry()).await,
        429
    );
    for probe in ["/healthz", "/readyz"] {
        for _ in 0..10 {
            let res = client.get(format!("{base}{probe}")).send().await.unwrap();
            assert_eq!(res.status(), 200, "{probe} was limited");
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(common::get_status(&client, &base, "/api/v1/log").await, 200);
}

/// The global limit on requests in flight: requests beyond it are refused at once with 503 and
/// `Retry-After` (not queued), and `/readyz` says so; the health probes still answer; when the
/// requests in flight end, others are served again.
#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_shed() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(&["--max-requests-in-flight", "3"]);
    let base = server.base_url();
    // Three writes from three clients whose bodies never finish: each holds its slot while its
    // body is awaited.
    let mut stalled = Vec::new();
    for source in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]] {
        let mut s = connect_from(source, server.port()).await.unwrap();
        s.write_all(
            b"POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"apiVersion\":",
        )
        .await
        .unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{base}/api/v1/log"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let (_, ct, body) = answer(res).await;
    assert_json_error("over the in-flight limit", ct.as_deref(), &body);
    let res = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(
        res.status(),
        503,
        "/readyz said ready while requests are refused"
    );
    drop(stalled);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(common::get_status(&client, &base, "/api/v1/log").await, 200);
}

/// A connection to the test server from `source` (another loopback address: 127.0.0.0/8 is all
/// loopback on Linux), so that one test plays several clients.
async fn connect_from(source: [u8; 4], port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from((source, 0)))?;
    socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await
}

/// Opens `n` connections from `source` and sends `prefix` on each, never finishing it; those the
/// server closes at once are dropped.
async fn stall_from(
    source: [u8; 4],
    port: u16,
    n: usize,
    prefix: &[u8],
) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut held = Vec::new();
    for _ in 0..n {
        let Ok(mut s) = connect_from(source, port).await else {
            continue;
        };
        if s.write_all(prefix).await.is_ok() {
            held.push(s);
        }
    }
    held
}

/// Another client (127.0.0.1), the health probes and a read are all served.
async fn others_are_served(base: &str) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    for path in ["/healthz", "/readyz", "/api/v1/log", "/checkpoint"] {
        let res = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(res.status(), 200, "GET {path}");
    }
    let res = client
        .post(format!("{base}/api/v1/log/entries/retrieve"))
        .json(&serde_json::json!({"logIndexes": [0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "POST retrieve");
}

/// What the server made of a connection left hanging: the status of its answer, or `None` when
/// it closed the connection without one. Panics when neither comes within 20 s.
async fn fate(mut s: tokio::net::TcpStream) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut buf = [0u8; 512];
        while answer.len() < 12 {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "a connection was neither answered nor closed");
    let status = answer.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    std::str::from_utf8(status).ok()?.parse().ok()
}

/// The fates of `streams` (see [`fate`]), read all at once, counted by status.
async fn fates(
    streams: Vec<tokio::net::TcpStream>,
) -> std::collections::BTreeMap<Option<u16>, usize> {
    let mut tasks = tokio::task::JoinSet::new();
    for s in streams {
        tasks.spawn(fate(s));
    }
    let mut counts = std::collections::BTreeMap::new();
    while let Some(f) = tasks.join_next().await {
        *counts.entry(f.unwrap()).or_insert(0) += 1;
    }
    counts
}

/// A stalled request body to a public read POST (writes may be behind tokens): it holds a
/// requests-in-flight slot until it falls behind the minimum body rate.
fn stalled_body(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"logIndexes\":"
    )
}

/// A slow loris from one address (more partial-header connections than the server holds in
/// all) gets at most its share of the connections — the server closes the others at once — and
/// keeps neither other clients nor the health probes from being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    use arkivo_core::limits::MAX_CONNECTIONS;
    let share = arkivo_server::ratelimit::client_share(MAX_CONNECTIONS);
    let server = TestServer::start(&[]);
    let held: Vec<std::net::TcpStream> = stall_from(
        [127, 0, 0, 2],
        server.port(),
        MAX_CONNECTIONS + 200,
        b"GET /api/v1/log HTTP/1.1\r\nHost: x\r\nX-",
    )
    .await
    .into_iter()
    .map(|s| s.into_std().unwrap())
    .collect();
    // A connection the server keeps is silent (its headers are awaited); one it closed reads
    // as the end or a reset. The accept loop may lag behind the connects: wait for it, within
    // the header timeout.
    let still_open = || {
        held.iter()
            .filter(|s| {
                matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            })
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut open = still_open();
    while open > share && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        open = still_open();
    }
    assert_eq!(
        open, share,
        "one address holds {open} of the {MAX_CONNECTIONS} connections; its share is {share}"
    );
    others_are_served(&server.base_url()).await;
    drop(held);
}

/// 2,000+ stalled request bodies on the public read POSTs from one address, with writes behind
/// tokens: the address gets its share of the requests in flight and no more — the others are
/// refused at once with 429 (or their connection closed, beyond its share of those) — so other
/// clients and the health probes are served; the stalled requests are cut off with 408 once
/// their body falls behind the minimum rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_from_one_address_leave_others_served() {
    use arkivo_core::limits::MAX_REQUESTS_IN_FLIGHT;
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{}\n", "ab".repeat(32))).unwrap();
    let server = TestServer::start(&["--write-tokens", common::path(tokens.path())]);
    let mut held = Vec::new();
    for path in ["/api/v1/log/entries/retrieve", "/api/v1/index/retrieve"] {
        let request = stalled_body(path);
        held.extend(stall_from([127, 0, 0, 3], server.port(), 1_100, request.as_bytes()).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    others_are_served(&server.base_url()).await;
    // Each request is answered 408 once its body fell behind (it held a slot), or 429 at once
    // (the address held its share of slots), or its connection closed unanswered.
    let counts = fates(held).await;
    let cut_off = counts.get(&Some(408)).copied().unwrap_or(0);
    let share = arkivo_server::ratelimit::client_share(MAX_REQUESTS_IN_FLIGHT);
    assert_eq!(
        cut_off, share,
        "requests in flight from one address: {counts:?}"
    );
    assert!(counts.contains_key(&Some(429)), "{counts:?}");
    assert!(
        counts.keys().all(|k| matches!(k, None | Some(408 | 429))),
        "unexpected answers: {counts:?}"
    );
}

/// The last sixteenth of the requests-in-flight slots is kept for clients holding few: eight
/// clients each holding their share of stalled bodies — every slot, together — get all but
/// the reserve (the last ones are refused 503), and a newcomer and the health probes are still
/// served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_of_slots_is_kept_for_newcomers() {
    use arkivo_server::ratelimit::{FEW_SLOTS, client_share, reserved};
    let total = 64;
    let (share, reserve) = (client_share(total), reserved(total));
    // Each client holds more than few, so none may take the reserve.
    assert!(share > FEW_SLOTS && reserve > 0);
    let server = TestServer::start(&["--max-requests-in-flight", &total.to_string()]);
    let request = stalled_body("/api/v1/log/entries/retrieve");
    let mut held = Vec::new();
    for client in 0..total / share {
        let source = [127, 0, 0, 10 + u8::try_from(client).unwrap()];
        held.extend(stall_from(source, server.port(), share, request.as_bytes()).await);
    }
    assert_eq!(held.len(), total);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    others_are_served(&server.base_url()).await;
    let counts = fates(held).await;
    assert_eq!(
        counts,
        [(Some(408), total - reserve), (Some(503), reserve)].into(),
        "slots held by clients holding many"
    );
}

/// The JSON POST routes take only `application/json`: a browser may send `text/plain` or a form
/// cross-origin without asking first (a CORS "simple request"). CORS lets any origin read, but
/// not with credentials or an `Authorization` header, so a page cannot write as its visitor.
#[tokio::test]
async fn json_routes_need_json_and_cors_allows_no_credentials() {
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let entry = serde_json::to_vec(&valid_entry()).unwrap();
    for path in [
        "/api/v1/log/entries",
        "/api/v2/log/entries",
        "/api/v1/log/entries/retrieve",
        "/api/v1/index/retrieve",
    ] {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            None,
        ] {
            let mut req = client.post(format!("{base}{path}")).body(entry.clone());
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let (status, ct, body) = answer(req.send().await.unwrap()).await;
            let what = format!("{path} as {content_type:?}");
            assert_eq!(status, 415, "{what}");
            assert_json_error(&what, ct.as_deref(), &body);
            assert!(
                String::from_utf8_lossy(&body).contains("application/json"),
                "{what}"
            );
        }
    }
    let info: serde_json::Value = common::get_json(&client, format!("{base}/api/v1/log")).await;
    assert_eq!(info["treeSize"], 0, "a non-JSON request wrote");
    let res = client
        .post(format!("{base}/api/v1/log/entries"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(entry)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Reads are open to any origin, without credentials.
    let res = client
        .get(format!("{base}/api/v1/log"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    // A preflight for a write with a token: the Authorization header is not allowed.
    let res = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/api/v1/log/entries"),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let allowed = res
        .headers()
        .get("access-control-allow-headers")
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .unwrap_or_default();
    assert!(!allowed.contains("authorization"), "{allowed}");
    assert!(allowed.contains("content-type"), "{allowed}");
}

/// A JWS of `header` and `claims` with signature bytes `signature` (for forgeries).
fn jws(header: &serde_json::Value, claims: &serde_json::Value, signature: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    format!(
        "{}.{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string()),
        B64URL.encode(signature)
    )
}

/// Hostile ID tokens and certificate requests against the CA: each is refused with a 4xx and a
/// message (401 for the token, 400 for the request), never a 5xx, and no certificate is issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tokens_and_certificate_requests_get_4xx() {
    use common::oidc::{Alg, TestIssuer};
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;
    use serde_json::json;

    let issuer = TestIssuer::start(false);
    let other = TestIssuer::start(false);
    let server = TestServer::start(&["--oidc-issuer", &issuer.url("email")]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let email = json!({"email": "a@example.org", "email_verified": true});
    let key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let pem = key
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let proof: p256::ecdsa::DerSignature = key.sign(b"a@example.org");
    let request = |token: &str| {
        json!({"credentials": {"oidcIdentityToken": token},
               "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem},
                                    "proofOfPossession": B64.encode(proof.as_bytes())}})
    };

    // The baseline is accepted.
    let good = issuer.token(Alg::Rs256, "email", email.clone());
    let res = client
        .post(format!("{base}/api/v2/signingCert"))
        .json(&request(&good))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let claims = issuer.claims("email", email.clone());
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let now = common::unix_now();
    // HS256 keyed with the issuer's RSA public key (RFC 8725 §2.1).
    let hs256 = {
        use aws_lc_rs::hmac;
        let header = json!({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"});
        let unsigned = jws(&header, &claims, b"");
        let input = unsigned.trim_end_matches('.');
        let mac_key = hmac::Key::new(hmac::HMAC_SHA256, issuer.rsa_public_pem().as_bytes());
        jws(
            &header,
            &claims,
            hmac::sign(&mac_key, input.as_bytes()).as_ref(),
        )
    };
    let mut tampered = good.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tokens: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not a JWS", "hello".into()),
        ("two parts", "a.b".into()),
        ("four parts", format!("{good}.x")),
        ("bad base64", "!!!.@@@.###".into()),
        (
            "header not JSON",
            format!("bm90anNvbg{}", &good[good.find('.').unwrap()..]),
        ),
        ("alg none", jws(&json!({"alg": "none"}), &claims, b"")),
        (
            "alg none with kid",
            jws(&json!({"alg": "none", "kid": "rsa-1"}), &claims, b""),
        ),
        ("HS256 keyed with the RSA public key", hs256),
        (
            "RS256 header on the EC key",
            jws(&json!({"alg": "RS256", "kid": "ec-1"}), &claims, &[1; 256]),
        ),
        (
            "crit header",
            jws(
                &json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}),
                &claims,
                &[1; 256],
            ),
        ),
        ("tampered", String::from_utf8(tampered).unwrap()),
        (
            "signed by another issuer's key",
            other.sign(Alg::Rs256, &claims),
        ),
        (
            "unknown kid",
            jws(&json!({"alg": "ES256", "kid": "nope"}), &claims, &[1; 64]),
        ),
        (
            "wrong audience",
            issuer.sign(Alg::Rs256, &with("aud", json!("other"))),
        ),
        (
            "audience list without ours",
            issuer.sign(Alg::Es256, &with("aud", json!(["a", "b"]))),
        ),
        (
            "expired",
            issuer.sign(Alg::Rs256, &with("exp", json!(now - 3600))),
        ),
        (
            "no exp",
            issuer.sign(Alg::Rs256, &{
                let mut c = claims.clone();
                c.as_object_mut().unwrap().remove("exp");
                c
            }),
        ),
        (
            "exp not a number",
            issuer.sign(Alg::Rs256, &with("exp", json!("tomorrow"))),
        ),
        (
            "not yet valid",
            issuer.sign(Alg::Rs256, &with("nbf", json!(now + 3600))),
        ),
        (
            "issued in the future",
            issuer.sign(Alg::Rs256, &with("iat", json!(now + 3600))),
        ),
        (
            "unknown issuer",
            other.token(Alg::Rs256, "email", email.clone()),
        ),
        (
            "issuer with a trailing slash",
            issuer.sign(
                Alg::Rs256,
                &with("iss", json!(format!("{}/", issuer.url("email")))),
            ),
        ),
        (
            "email not verified",
            issuer.sign(Alg::Rs256, &with("email_verified", json!(false))),
        ),
        (
            "no email",
            issuer.sign(Alg::Rs256, &{
                let mut c = claims.clone();
                c.as_object_mut().unwrap().remove("email");
                c
            }),
        ),
        ("huge", "a".repeat(200_000)),
        (
            "huge claims",
            issuer.sign(Alg::Rs256, &with("pad", json!("x".repeat(20_000)))),
        ),
    ];
    for (what, token) in &tokens {
        let res = client
            .post(format!("{base}/api/v2/signingCert"))
            .json(&request(token))
            .send()
            .await
            .unwrap();
        let (status, ct, body) = answer(res).await;
        assert_eq!(status, 401, "{what}: {}", String::from_utf8_lossy(&body));
        assert_json_error(what, ct.as_deref(), &body);
    }

    // Malformed requests, with a good token.
    let bodies: Vec<(&str, serde_json::Value)> = vec![
        (
            "no key",
            json!({"credentials": {"oidcIdentityToken": good}}),
        ),
        (
            "both key and CSR",
            json!({"credentials": {"oidcIdentityToken": good},
            "publicKeyRequest": request(&good)["publicKeyRequest"], "certificateSigningRequest": "AA=="}),
        ),
        (
            "key not PEM",
            json!({"credentials": {"oidcIdentityToken": good},
            "publicKeyRequest": {"publicKey": {"content": "%%%"}, "proofOfPossession": "AA=="}}),
        ),
        (
            "key is a certificate",
            json!({"credentials": {"oidcIdentityToken": good},
            "publicKeyRequest": {"publicKey": {"content": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "proofOfPossession": "AA=="}}),
        ),
        (
            "proof not base64",
            json!({"credentials": {"oidcIdentityToken": good},
            "publicKeyRequest": {"publicKey": {"content": pem}, "proofOfPossession": "%%"}}),
        ),
        (
            "wrong proof",
            json!({"credentials": {"oidcIdentityToken": good},
            "publicKeyRequest": {"publicKey": {"content": pem}, "proofOfPossession": B64.encode([0x30, 0x06, 2, 1, 1, 2, 1, 1])}}),
        ),
        (
            "CSR not base64",
            json!({"credentials": {"oidcIdentityToken": good}, "certificateSigningRequest": "%%%"}),
        ),
        (
            "CSR garbage",
            json!({"credentials": {"oidcIdentityToken": good}, "certificateSigningRequest": B64.encode([0x30, 0x82, 0xff, 0xff, 1])}),
        ),
        (
            "CSR PEM of another type",
            json!({"credentials": {"oidcIdentityToken": good},
            "certificateSigningRequest": B64.encode(pem.as_bytes())}),
        ),
        (
            "key request not an object",
            json!({"credentials": {"oidcIdentityToken": good}, "publicKeyRequest": 5}),
        ),
    ];
    for (what, body) in &bodies {
        let res = client
            .post(format!("{base}/api/v2/signingCert"))
            .json(body)
            .send()
            .await
            .unwrap();
        let (status, ct, body) = answer(res).await;
        assert_eq!(status, 400, "{what}: {}", String::from_utf8_lossy(&body));
        assert_json_error(what, ct.as_deref(), &body);
    }
    // No token at all, and a non-JSON body.
    let res = client
        .post(format!("{base}/api/v2/signingCert"))
        .json(&json!({"publicKeyRequest": request("")["publicKeyRequest"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .post(format!("{base}/api/v2/signingCert"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = client
        .post(format!("{base}/api/v2/signingCert"))
        .header("content-type", "text/plain")
        .body(request(&good).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(common::get_status(&client, &base, "/readyz").await, 200);
}

/// An issuer whose JWKS never answers: the request gets a 503 with a message in bounded time,
/// and the CA does not refetch on every request (a second one is refused at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_whose_keys_time_out_gives_503_in_bounded_time() {
    use common::oidc::{Alg, TestIssuer};
    let issuer = TestIssuer::start(true);
    let server = TestServer::start(&["--oidc-issuer", &issuer.url("email")]);
    let token = issuer.token(
        Alg::Rs256,
        "email",
        serde_json::json!({"email": "a@example.org", "email_verified": true}),
    );
    let client = reqwest::Client::new();
    let body = serde_json::json!({"credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {"publicKey": {"content": common::EntrySigner::new().pem()},
                             "proofOfPossession": "AA=="}});
    for (attempt, limit) in [(1, 8), (2, 1)] {
        let started = std::time::Instant::now();
        let res = client
            .post(format!("{}/api/v2/signingCert", server.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        let (status, ct, body) = answer(res).await;
        assert_eq!(
            status,
            503,
            "attempt {attempt}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_json_error("JWKS timeout", ct.as_deref(), &body);
        assert!(
            took < std::time::Duration::from_secs(limit),
            "attempt {attempt} took {took:?}"
        );
    }
}

/// Hostile timestamp requests (docs/sigstore-services.md §3): each gets a 4xx naming the
/// problem, never a 5xx — 415 for a wrong content type, 413 above the size limit, 400 otherwise.
#[tokio::test]
async fn hostile_timestamp_requests_get_4xx() {
    use der::Encode;
    let server = TestServer::start(&[]);
    let url = format!("{}/api/v1/timestamp", server.base_url());
    let client = reqwest::Client::new();
    let request = |oid: &str, digest: Vec<u8>, extensions: bool| {
        let alg = spki::AlgorithmIdentifierOwned {
            oid: der::asn1::ObjectIdentifier::new_unwrap(oid),
            parameters: None,
        };
        let mut der = vec![0x30, 0]; // SEQUENCE, length patched below
        der.extend([0x02, 0x01, 0x01]); // version 1
        let mut imprint = alg.to_der().unwrap();
        imprint.extend(
            der::asn1::OctetString::new(digest)
                .unwrap()
                .to_der()
                .unwrap(),
        );
        der.extend([0x30, imprint.len() as u8]);
        der.extend(imprint);
        if extensions {
            // [0] Extensions { { id-kp-timeStamping, OCTET STRING { NULL } } }
            der.extend([
                0xa0, 0x10, 0x30, 0x0e, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07,
            ]);
            der.extend([0x03, 0x08, 0x04, 0x02, 0x05, 0x00]);
        }
        der[1] = (der.len() - 2) as u8;
        der
    };
    const SHA1: &str = "1.3.14.3.2.26";
    const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    let der = "application/timestamp-query";
    let json = "application/json";
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed DER",
            der,
            b"\x30\x82\xff\xff garbage".to_vec(),
            400,
            "malformed",
        ),
        ("empty body", der, Vec::new(), 400, "malformed"),
        (
            "SHA-1",
            der,
            request(SHA1, vec![0; 20], false),
            400,
            "SHA-1",
        ),
        (
            "short digest",
            der,
            request(SHA256, vec![0; 31], false),
            400,
            "32 bytes",
        ),
        (
            "extensions",
            der,
            request(SHA256, vec![0; 32], true),
            400,
            "extensions",
        ),
        // Above the 1 KiB limit but small enough to be written whole before the server answers
        // and closes (a 10 MiB body raced the 413 and failed on a broken pipe now and then).
        ("oversized body", der, vec![0x30; 4 << 10], 413, "Limit"),
        (
            "JSON SHA-1",
            json,
            br#"{"artifactHash":"AAAA","hashAlgorithm":"sha1"}"#.to_vec(),
            400,
            "SHA-1",
        ),
        (
            "JSON bad digest",
            json,
            br#"{"artifactHash":"AAAA","hashAlgorithm":"sha256"}"#.to_vec(),
            400,
            "32 bytes",
        ),
        ("JSON garbage", json, b"{".to_vec(), 400, "malformed"),
        (
            "text/plain",
            "text/plain",
            request(SHA256, vec![0; 32], false),
            415,
            "Content-Type",
        ),
        (
            "form",
            "application/x-www-form-urlencoded",
            b"a=b".to_vec(),
            415,
            "Content-Type",
        ),
    ];
    for (what, content_type, body, want, needle) in cases {
        let res = client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, ct, body) = answer(res).await;
        assert_eq!(status, want, "{what}: {}", String::from_utf8_lossy(&body));
        assert_json_error(what, ct.as_deref(), &body);
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(needle), "{what}: {text}");
    }
    // No content type at all.
    let res = client.post(&url).body(vec![0x30, 0]).send().await.unwrap();
    assert_eq!(res.status(), 415);
}

/// Paths under `/tuf/` that name no file of the TUF repository — traversal, encodings, the keys
/// directory, versions not yet signed, huge names — get a JSON 404, and writes there a 405:
/// only the repository's own files are served (docs/tuf.md).
#[tokio::test(flavor = "multi_thread")]
async fn hostile_tuf_paths_get_404() {
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let long = "a".repeat(8000);
    let paths = [
        "/tuf",
        "/tuf/",
        "/tuf//1.root.json",
        "/tuf/%2e%2e/keys/timestamp.pem",
        "/tuf/..%2fkeys%2ftimestamp.pem",
        "/tuf/keys/timestamp.pem",
        "/tuf/1.root.json/",
        "/tuf/1.ROOT.JSON",
        "/tuf/0.root.json",
        "/tuf/18446744073709551616.root.json",
        "/tuf/2.targets.json",
        "/tuf/targets/",
        "/tuf/targets/trusted_root.json",
        "/tuf/timestamp.json%00",
        "/tuf/%ff",
        &format!("/tuf/{long}"),
    ];
    for path in paths {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        let (status, content_type, body) = answer(res).await;
        assert!(
            status == 404 || (status == 414 || status == 431),
            "{path:.80}: {status}"
        );
        if status == 404 {
            assert_json_error(path, content_type.as_deref(), &body);
        }
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let res = client
            .request(method.clone(), format!("{base}/tuf/timestamp.json"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} /tuf/timestamp.json");
    }
    let res = client
        .get(format!("{base}/tuf/1.root.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the repository itself is served");
}
