//! What an operator watches: `/metrics` scraped from the real server after writes (the text
//! format parsed strictly, every counter, histogram and gauge checked against what was done,
//! route labels bounded), the witness counter, and `--log-format json` logs whose lines all
//! parse and carry each request's ID.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{EntrySigner, TestServer};

type Labels = BTreeMap<String, String>;

/// One sample of the Prometheus text exposition format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

/// Parses the text exposition format (version 0.0.4), failing on anything malformed: every
/// sample must belong to a family declared by a `# TYPE` line, and each histogram's buckets
/// must be cumulative and end in `+Inf`, equal to its `_count`.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "family declared twice: {line}"
                    );
                }
                (Some("HELP"), Some(_), Some(_)) => {}
                _ => panic!("unexpected comment line: {line}"),
            }
            continue;
        }
        samples.push(parse_sample(line));
    }
    for s in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                s.name
                    .strip_suffix(suffix)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(&s.name);
        assert!(types.contains_key(family), "undeclared family: {s:?}");
    }
    for (family, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        // (le, cumulative count) by the labels other than le.
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let le = s.labels["le"].parse::<f64>().expect("a numeric le");
            let mut key = s.labels.clone();
            key.remove("le");
            series.entry(key).or_default().push((le, s.value));
        }
        for (labels, buckets) in series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{family} {labels:?}: buckets not cumulative: {buckets:?}"
            );
            let (last_le, last) = *buckets.last().expect("at least one bucket");
            assert!(
                last_le.is_infinite(),
                "{family} {labels:?} ends at {last_le}"
            );
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .expect("a _count per bucket series");
            assert_eq!(count.value, last, "{family} {labels:?}");
        }
    }
    samples
}

/// `name{label="value",...} value` (labels optional; values may escape `\\`, `\"`, `\n`).
fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name: {line}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            if let Some((i, '}')) = chars.peek().copied() {
                chars.next();
                rest = &inner[i + 1..];
                break;
            }
            let key: String = chars
                .by_ref()
                .map(|(_, c)| c)
                .take_while(|c| *c != '=')
                .collect();
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(c @ ('\\' | '"')) => value.push(c),
                        other => panic!("bad escape {other:?}: {line}"),
                    },
                    Some(c) => value.push(c),
                    None => panic!("unterminated label value: {line}"),
                }
            }
            assert!(labels.insert(key, value).is_none(), "label twice: {line}");
            if let Some((_, ',')) = chars.peek() {
                chars.next();
            }
        }
    }
    let value = match rest.trim() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?}: {line}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// The sum of the samples named `name` whose labels include `labels`; `None` if there is none.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

async fn scrape(client: &reqwest::Client, base: &str) -> Vec<Sample> {
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse_exposition(&res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_follow_writes_batches_requests_and_storage() {
    let server = TestServer::start(&[]);
    let client = reqwest::Client::new();
    let base = server.base_url();
    let before = scrape(&client, &base).await;
    assert_eq!(
        value(&before, "arkivo_entries_appended_total", &[]),
        Some(0.0)
    );
    assert_eq!(value(&before, "arkivo_tree_size", &[]), Some(0.0));

    // 8 writers at once, so that batches hold several entries.
    const WRITERS: usize = 8;
    const EACH: usize = 5;
    const N: usize = WRITERS * EACH;
    let signer = Arc::new(EntrySigner::new());
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, base, signer) = (client.clone(), base.clone(), signer.clone());
        writers.push(tokio::spawn(async move {
            let mut locations = Vec::new();
            for i in 0..EACH {
                let res = client
                    .post(format!("{base}/api/v1/log/entries"))
                    .json(&signer.hashedrekord(format!("metrics {w} {i}").as_bytes()))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
                locations.push(res.headers()["location"].to_str().unwrap().to_owned());
            }
            locations
        }));
    }
    let mut locations = Vec::new();
    for w in writers {
        locations.extend(w.await.unwrap());
    }
    let duplicate = client
        .post(format!("{base}/api/v1/log/entries"))
        .json(&signer.hashedrekord(b"metrics 0 0"))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);
    let by_uuid = client
        .get(format!("{base}{}", locations[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(by_uuid.status(), 200);
    let missing = client.get(format!("{base}/no/such/route")).send().await;
    assert_eq!(missing.unwrap().status(), 404);

    let after = scrape(&client, &base).await;
    let n = N as f64;
    assert_eq!(value(&after, "arkivo_entries_appended_total", &[]), Some(n));
    assert_eq!(value(&after, "arkivo_tree_size", &[]), Some(n));
    assert_eq!(value(&after, "arkivo_batch_size_entries_sum", &[]), Some(n));
    let batches = value(&after, "arkivo_batch_size_entries_count", &[]).unwrap();
    assert!((1.0..=n).contains(&batches), "{batches} batches");
    assert_eq!(
        value(&after, "arkivo_commit_seconds_count", &[]),
        Some(batches)
    );
    assert!(value(&after, "arkivo_commit_seconds_sum", &[]).unwrap() > 0.0);
    assert_eq!(
        value(&after, "arkivo_sequencing_seconds_count", &[]),
        Some(n)
    );
    let entries = "/api/v1/log/entries";
    let requests = |route, method, status| {
        value(
            &after,
            "arkivo_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests(entries, "POST", "201"), Some(n));
    assert_eq!(requests(entries, "POST", "409"), Some(1.0));
    assert_eq!(
        requests("/api/v1/log/entries/{entry_uuid}", "GET", "200"),
        Some(1.0)
    );
    assert_eq!(requests("unmatched", "GET", "404"), Some(1.0));
    assert_eq!(
        value(
            &after,
            "arkivo_http_request_duration_seconds_count",
            &[("route", entries)]
        ),
        Some(n + 1.0)
    );
    // Route labels are templates, never paths: no entry ID made a series of its own.
    for s in after.iter().filter(|s| s.labels.contains_key("route")) {
        let route = &s.labels["route"];
        let longest_hex = route
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max();
        assert!(
            route == "unmatched" || (route.starts_with('/') && longest_hex < Some(16)),
            "{s:?}"
        );
    }
    // The storage gauges are refreshed in the background, first at start-up: the database's
    // files, and its memory by use (the block cache holds at least the pinned index blocks of
    // the tables written by the appends above, once flushed).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = scrape(&client, &base).await;
        let bytes = value(&samples, "arkivo_storage_bytes", &[]);
        let memory: Vec<Option<f64>> = ["memtables", "table_readers", "block_cache"]
            .iter()
            .map(|kind| value(&samples, "arkivo_storage_memory_bytes", &[("use", kind)]))
            .collect();
        if bytes.is_some_and(|b| b > 0.0) && memory.iter().all(Option::is_some) {
            assert!(
                memory[0] > Some(0.0),
                "the memtables hold the appends: {memory:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no storage size or memory reported: {bytes:?} {memory:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn witness_requests_are_counted_by_witness_and_outcome() {
    arkivo_server::metrics::install();
    arkivo_server::metrics::witness_request("witness.example", "cosigned");
    arkivo_server::metrics::witness_request("witness.example", "cosigned");
    arkivo_server::metrics::witness_request("witness.example", "unreachable");
    let samples = parse_exposition(&arkivo_server::metrics::render());
    let count = |outcome| {
        value(
            &samples,
            "arkivo_witness_requests_total",
            &[("witness", "witness.example"), ("outcome", outcome)],
        )
    };
    assert_eq!(count("cosigned"), Some(2.0));
    assert_eq!(count("unreachable"), Some(1.0));
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            matches!(i, 8 | 13 | 18 | 23) == (c == '-') && (c == '-' || c.is_ascii_hexdigit())
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_json_lines_carrying_each_request_id() {
    let mut server = TestServer::start_with_env(
        &["--log-format", "json"],
        &[("RUST_LOG", "info,tower_http=debug")],
    );
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/log", server.base_url());
    let get = |id: Option<String>| {
        let mut req = client.get(&url);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    // A client's ID is kept and echoed; without one, or with one too long or unprintable, the
    // server makes a UUID.
    let given = "ci-run-42/step-7".to_owned();
    assert_eq!(get(Some(given.clone())).await, given);
    let generated = get(None).await;
    assert!(is_uuid(&generated), "{generated}");
    for unusable in ["x".repeat(129), "two words".to_owned()] {
        let replaced = get(Some(unusable.clone())).await;
        assert!(is_uuid(&replaced), "{unusable:?} became {replaced:?}");
    }
    // A refused request is logged under its ID too.
    let res = client
        .post(format!("{}/api/v1/log/entries", server.base_url()))
        .header("x-request-id", "bad-entry-1")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["x-request-id"], "bad-entry-1");

    let stderr = server.signal("TERM");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = |id: &str, status: u64| {
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == id && l["status"] == status)
    };
    assert!(answered(&given, 200), "{stderr}");
    assert!(answered(&generated, 200), "{stderr}");
    assert!(answered("bad-entry-1", 400), "{stderr}");
    // Notices are JSON too, shown although they are not requests' lines.
    for notice in ["serving http://", "shut down cleanly"] {
        assert!(
            lines.iter().any(|l| l["target"] == "arkivo::notice"
                && l["message"].as_str().is_some_and(|m| m.starts_with(notice))),
            "{notice}: {stderr}"
        );
    }
}
