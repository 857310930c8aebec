//! What `GET /metrics` reports, in the Prometheus text format.
//!
//! Every metric is named here and recorded through the functions below, so this file is the
//! list an operator reads. Recording goes through the `metrics` facade into one process-wide
//! `metrics-exporter-prometheus` recorder: a counter or gauge is an atomic update, a histogram
//! sample a lock-free push into a buffer that [`upkeep`] (or a scrape) folds into the buckets.
//! Nothing here takes a lock that the sequencer's commit holds, so the write path pays a few
//! atomic operations per batch and per request.
//!
//! Labels are bounded: HTTP routes are the router's templates (`/api/v1/log/entries/{entry_uuid}`),
//! never request paths; methods outside the standard ones count as `other`; witness names come
//! from the configuration and outcomes are fixed strings. Until [`install`] is called (as in
//! in-process router tests), recording is a no-op.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Entries appended to the log (duplicates are not appended).
pub const ENTRIES_APPENDED: &str = "arkivo_entries_appended_total";
/// Entries per committed batch.
pub const BATCH_SIZE: &str = "arkivo_batch_size_entries";
/// From a write's arrival at the sequencer's inbox to its durable acknowledgment: queueing,
/// batching, the commit and signing.
pub const SEQUENCING_SECONDS: &str = "arkivo_sequencing_seconds";
/// One synced RocksDB commit of a batch.
pub const COMMIT_SECONDS: &str = "arkivo_commit_seconds";
/// Size of the latest durable tree.
pub const TREE_SIZE: &str = "arkivo_tree_size";
/// Certificates the CA issued.
pub const CERTIFICATES_ISSUED: &str = "arkivo_certificates_issued_total";
/// Bytes of every file in the database directory (tables, write-ahead log, manifest).
pub const STORAGE_BYTES: &str = "arkivo_storage_bytes";
/// Memory RocksDB holds, by `use`: `memtables`, `table_readers`, `block_cache`.
pub const STORAGE_MEMORY_BYTES: &str = "arkivo_storage_memory_bytes";
/// HTTP requests answered, by `route`, `method` and `status`.
pub const HTTP_REQUESTS: &str = "arkivo_http_requests_total";
/// Time to answer an HTTP request, by `route`.
pub const HTTP_REQUEST_SECONDS: &str = "arkivo_http_request_duration_seconds";
/// Requests to witnesses for cosignatures, by `witness` and `outcome`.
pub const WITNESS_REQUESTS: &str = "arkivo_witness_requests_total";

/// `arkivo mirror`: the size of the tree it serves (its mirror checkpoint's).
pub const MIRROR_TREE_SIZE: &str = "arkivo_mirror_tree_size";
/// `arkivo mirror`: the size of the log's latest verified checkpoint.
pub const MIRROR_LOG_TREE_SIZE: &str = "arkivo_mirror_log_tree_size";
/// `arkivo mirror`: 1 once the log was seen to fork (the mirror then stops following).
pub const MIRROR_FORKED: &str = "arkivo_mirror_forked";
/// 1 on the frontend that sequences a PostgreSQL-stored log, 0 on the others.
pub const STORAGE_LEADER: &str = "arkivo_storage_leader";
/// 1 when the PostgreSQL store's commits wait for a synchronous standby; 0 when it runs without
/// one (`storage_allow_async`: a failover can lose acknowledged entries).
pub const STORAGE_SYNCHRONOUS_STANDBY: &str = "arkivo_storage_synchronous_standby";
/// Reads of rows a PostgreSQL frontend served from its standby (`storage_read_url`).
pub const STORAGE_STANDBY_READS: &str = "arkivo_storage_standby_reads_total";
/// Reads of rows that went to the primary although a standby is configured, by `reason`:
/// `standby_behind` (it had not replayed the served tree yet) or `standby_unavailable`.
pub const STORAGE_READ_FALLBACKS: &str = "arkivo_storage_read_fallbacks_total";

/// The `route` label of requests that matched no route (a 404): one value for all of them.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets, in seconds: a synced commit takes milliseconds; a request may take up to
/// its 30 s timeout.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 30.0,
];

/// Batch size buckets: powers of two up to 8192 (`max_batch` defaults to 1024).
const BATCH_BUCKETS: [f64; 14] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
];

/// How often [`upkeep`] should run: histogram samples taken in between are buffered.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in [
            (BATCH_SIZE, &BATCH_BUCKETS[..]),
            (SEQUENCING_SECONDS, &LATENCY_BUCKETS[..]),
            (COMMIT_SECONDS, &LATENCY_BUCKETS[..]),
            (HTTP_REQUEST_SECONDS, &LATENCY_BUCKETS[..]),
        ] {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                .expect("the bucket lists are not empty");
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        // Shown from the first scrape on, before anything happened.
        metrics::counter!(ENTRIES_APPENDED).increment(0);
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(ENTRIES_APPENDED, "Entries appended to the log.");
    describe_histogram!(BATCH_SIZE, Unit::Count, "Entries per committed batch.");
    describe_histogram!(
        SEQUENCING_SECONDS,
        Unit::Seconds,
        "From a write's arrival at the sequencer to its durable acknowledgment."
    );
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "One synced RocksDB commit of a batch."
    );
    describe_gauge!(TREE_SIZE, Unit::Count, "Size of the latest durable tree.");
    describe_counter!(CERTIFICATES_ISSUED, "Certificates the CA issued.");
    describe_gauge!(
        STORAGE_BYTES,
        Unit::Bytes,
        "Bytes of every file in the database directory."
    );
    describe_gauge!(
        STORAGE_MEMORY_BYTES,
        Unit::Bytes,
        "Memory the database holds, by use (memtables, table_readers, block_cache)."
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        HTTP_REQUEST_SECONDS,
        Unit::Seconds,
        "Time to answer an HTTP request, by route template."
    );
    describe_gauge!(
        MIRROR_TREE_SIZE,
        Unit::Count,
        "Size of the tree the mirror serves (its mirror checkpoint)."
    );
    describe_gauge!(
        MIRROR_LOG_TREE_SIZE,
        Unit::Count,
        "Size of the mirrored log's latest verified checkpoint."
    );
    describe_gauge!(
        MIRROR_FORKED,
        "1 once the mirrored log signed a tree inconsistent with the mirror's (a fork)."
    );
    describe_gauge!(
        STORAGE_LEADER,
        "1 on the frontend that sequences a PostgreSQL-stored log, 0 on the others."
    );
    describe_gauge!(
        STORAGE_SYNCHRONOUS_STANDBY,
        "1 when PostgreSQL commits wait for a synchronous standby; 0 when a failover can lose \
         acknowledged entries."
    );
    describe_counter!(
        STORAGE_STANDBY_READS,
        "Reads of rows served from the PostgreSQL standby (storage_read_url)."
    );
    describe_counter!(
        STORAGE_READ_FALLBACKS,
        "Reads of rows sent to the PostgreSQL primary instead of the standby, by reason \
         (standby_behind, standby_unavailable)."
    );
    describe_counter!(
        WITNESS_REQUESTS,
        "Requests to witnesses for cosignatures, by witness and outcome."
    );
}

/// The current metrics in the Prometheus text exposition format (version 0.0.4).
pub fn render() -> String {
    install().render()
}

/// Folds buffered histogram samples into their buckets; run every [`UPKEEP_INTERVAL`].
pub fn upkeep() {
    install().run_upkeep();
}

/// A batch of `entries` was committed in `commit`, making the tree `tree_size` long.
pub fn batch_committed(entries: usize, commit: Duration, tree_size: u64) {
    metrics::counter!(ENTRIES_APPENDED).increment(entries as u64);
    metrics::histogram!(BATCH_SIZE).record(entries as f64);
    metrics::histogram!(COMMIT_SECONDS).record(commit);
    set_tree_size(tree_size);
}

/// One write was acknowledged `latency` after it reached the sequencer.
pub fn entry_sequenced(latency: Duration) {
    metrics::histogram!(SEQUENCING_SECONDS).record(latency);
}

/// The CA issued a certificate.
pub fn certificate_issued() {
    metrics::counter!(CERTIFICATES_ISSUED).increment(1);
}

pub fn set_leader(leading: bool) {
    metrics::gauge!(STORAGE_LEADER).set(f64::from(u8::from(leading)));
}

pub fn set_storage_synchronous(synchronous: bool) {
    metrics::gauge!(STORAGE_SYNCHRONOUS_STANDBY).set(f64::from(u8::from(synchronous)));
}

pub fn standby_read() {
    metrics::counter!(STORAGE_STANDBY_READS).increment(1);
}

pub fn read_fallback(reason: &'static str) {
    metrics::counter!(STORAGE_READ_FALLBACKS, "reason" => reason).increment(1);
}

pub fn set_tree_size(size: u64) {
    metrics::gauge!(TREE_SIZE).set(size as f64);
}

/// What the store measures of itself: see [`keep_up`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StorageUsage {
    pub disk_bytes: u64,
    pub memory: crate::storage::StoreMemory,
}

fn set_storage_usage(u: &StorageUsage) {
    metrics::gauge!(STORAGE_BYTES).set(u.disk_bytes as f64);
    for (kind, bytes) in [
        ("memtables", u.memory.memtables),
        ("table_readers", u.memory.table_readers),
        ("block_cache", u.memory.block_cache),
    ] {
        metrics::gauge!(STORAGE_MEMORY_BYTES, "use" => kind).set(bytes as f64);
    }
}

/// One HTTP request was answered. `route` must be a route template or [`UNMATCHED_ROUTE`].
pub fn http_request(route: String, method: &'static str, status: u16, elapsed: Duration) {
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method,
        "status" => status.to_string())
    .increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route).record(elapsed);
}

/// One request to a witness ended. `witness` is its configured name; `outcome` a fixed word
/// such as `"cosigned"`, `"refused"` or `"unreachable"` (a bounded set, chosen by the caller).
pub fn witness_request(witness: &str, outcome: &'static str) {
    metrics::counter!(WITNESS_REQUESTS, "witness" => witness.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Keeps the metrics current until dropped: every [`UPKEEP_INTERVAL`], measures the store with
/// `measure` (on the blocking pool: it lists directories; `None` skips a round) and runs
/// [`upkeep`].
pub async fn keep_up(
    measure: std::sync::Arc<dyn Fn() -> anyhow::Result<Option<StorageUsage>> + Send + Sync>,
) {
    let mut every = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        every.tick().await;
        let measure = measure.clone();
        match tokio::task::spawn_blocking(move || measure()).await {
            Ok(Ok(Some(usage))) => set_storage_usage(&usage),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "measuring the store"),
            Err(e) => tracing::warn!(error = %e, "the storage measurement failed"),
        }
        upkeep();
    }
}
