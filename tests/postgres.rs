//! The PostgreSQL store's own guarantees, on real clusters started by the tests (a primary and
//! streaming standbys under a temporary directory): the schema and replication checks at open,
//! the epoch fence between two leaders (of the log, and of the CA's CT log in its own schema, and
//! of the TUF repository's files),
//! and the replication guard — a commit is acknowledged,
//! and a head published, only once a synchronous standby has it.

mod common;

use std::time::{Duration, Instant};

use arkivo_core::merkle::RightBorder;
use arkivo_server::storage::postgres::{Namespace, PgOptions, PgStore};
use arkivo_server::storage::{FORMAT_VERSION, LogMeta, LogStore, StorageError};
use common::pg::{Cluster, Rejoin};
use common::storage::{Batch, empty_head};

fn meta() -> LogMeta {
    LogMeta {
        format_version: FORMAT_VERSION,
        tree_id: 7,
        hostname: "log.test".into(),
        origin: "log.test".into(),
        log_id: [1; 32],
        created: 1_700_000_000,
    }
}

fn bodies(batch: usize, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("entry {batch}/{i}")).collect()
}

/// A leading store on a new log.
fn leader(cluster: &Cluster) -> PgStore {
    leader_of(cluster, Namespace::Log)
}

/// A leading store on a new tree of `namespace`.
fn leader_of(cluster: &Cluster, namespace: Namespace) -> PgStore {
    let store = PgStore::open(&options_of(cluster, namespace)).unwrap();
    assert!(store.try_lead().unwrap());
    store.create(&meta(), &empty_head()).unwrap();
    store
}

/// `(size, published_size)` of the head row, as another session sees it.
fn head_row(client: &mut postgres::Client) -> (i64, i64) {
    let row = client
        .query_one("SELECT size, published_size FROM arkivo_head", &[])
        .unwrap();
    (row.get(0), row.get(1))
}

fn entry_rows(client: &mut postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM arkivo_entries", &[])
        .unwrap()
        .get(0)
}

/// The pid of the store's committing session once its commit waits for the standby.
fn waiting_commit(client: &mut postgres::Client) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pid = client
            .query_opt(
                "SELECT pid FROM pg_stat_activity \
                 WHERE application_name = 'arkivo sequencer' AND wait_event = 'SyncRep'",
                &[],
            )
            .unwrap();
        if let Some(row) = pid {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "no commit waits for the standby");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn opening_refuses_a_newer_schema_and_a_database_without_a_synchronous_standby() {
    let cluster = Cluster::start(0);
    let err = PgStore::open(&cluster.options()).unwrap_err().to_string();
    assert!(err.contains("no synchronous standby"), "{err}");
    let allowed = PgOptions {
        allow_no_sync_standby: true,
        ..cluster.options()
    };
    let store = PgStore::open(&allowed).unwrap();
    drop(store);

    // A schema from a newer arkivo is refused, untouched.
    let mut client = cluster.client();
    client
        .execute("UPDATE arkivo_schema SET version = 99", &[])
        .unwrap();
    let err = PgStore::open(&allowed).unwrap_err().to_string();
    assert!(
        err.contains("schema version 99, newer than this arkivo knows"),
        "{err}"
    );
    let version: i32 = client
        .query_one("SELECT version FROM arkivo_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 99);

    // A bad connection string is named, without echoing a password.
    let err = PgStore::open(&PgOptions {
        url: "postgres://u:sekrit@127.0.0.1:1/db?sslmode=bogus".into(),
        ..PgOptions::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("connection string"), "{err}");
    assert!(!err.contains("sekrit"), "{err}");
}

fn options_of(cluster: &Cluster, namespace: Namespace) -> PgOptions {
    PgOptions {
        namespace,
        ..cluster.options()
    }
}

#[test]
fn a_fenced_leader_writes_nothing_and_steps_down() {
    fenced_leader(Namespace::Log, 2);
}

/// The CA's CT log (the schema `arkivo_ct`) is fenced the same way, by a lock and an epoch of its
/// own: held while another store leads the log, and writing none of the log's rows.
#[test]
fn a_fenced_ct_log_leader_writes_nothing_and_steps_down() {
    fenced_leader(Namespace::CtLog, 3);
}

/// Ends the session holding advisory lock `(arkv, lock)` (a network partition of that one
/// session, say), and lets `b` take the lead.
fn take_over(client: &mut postgres::Client, lock: u32, b: &PgStore) {
    let killed: bool = client
        .query_one(
            "SELECT pg_terminate_backend(pid) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND objid = $1",
            &[&postgres::types::Oid::from(lock)],
        )
        .unwrap()
        .get(0);
    assert!(killed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.try_lead().unwrap() {
        assert!(Instant::now() < deadline, "B never got the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The TUF repository's files are replaced as a set, by the leader only: a follower's publish
/// and a stale leader's (fenced by the epoch, like a batch) write nothing.
#[test]
fn only_the_leader_publishes_the_tuf_files_and_a_fenced_one_writes_nothing() {
    let cluster = Cluster::start(1);
    let mut client = cluster.client();
    let a = leader(&cluster);
    assert_eq!(a.tuf_files().unwrap(), (0, Vec::new()));
    let first: [(&str, &[u8]); 2] = [("1.root.json", b"root"), ("timestamp.json", b"t1")];
    assert_eq!(a.publish_tuf(&first).unwrap(), 1);
    let second: [(&str, &[u8]); 2] = [("1.root.json", b"root"), ("2.snapshot.json", b"s2")];
    assert_eq!(a.publish_tuf(&second).unwrap(), 2);
    let expected = |files: &[(&str, &[u8])]| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_vec()))
            .collect();
        v.sort();
        v
    };
    let stored = |store: &PgStore| {
        let (generation, mut files) = store.tuf_files().unwrap();
        files.sort();
        (generation, files)
    };
    // The set replaced: the first's timestamp is gone.
    assert_eq!(stored(&a), (2, expected(&second)));

    let b = PgStore::open(&options_of(&cluster, Namespace::Log)).unwrap();
    let forged: [(&str, &[u8]); 1] = [("timestamp.json", b"forged")];
    assert!(matches!(
        b.publish_tuf(&forged),
        Err(StorageError::Fenced(_))
    ));
    take_over(&mut client, 2, &b);
    let err = a.publish_tuf(&forged).unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert_eq!(a.epoch(), None, "A stepped down");
    assert_eq!(b.tuf_generation().unwrap(), 2);
    assert_eq!(
        stored(&b),
        (2, expected(&second)),
        "the fenced publish wrote nothing"
    );
    assert_eq!(b.publish_tuf(&first).unwrap(), 3);
    assert_eq!(stored(&b), (3, expected(&first)));
}

/// Two stores of `namespace`, whose leader lock is advisory lock `(arkv, lock)`: A leads, loses
/// its lock's session, B takes over, A's next batch is fenced.
fn fenced_leader(namespace: Namespace, lock: u32) {
    let cluster = Cluster::start(1);
    let mut client = cluster.client();
    let log = (namespace != Namespace::Log).then(|| leader(&cluster));
    let a = leader_of(&cluster, namespace);
    if namespace == Namespace::CtLog {
        // The test's own session reads the CT log's tables from now on.
        client.batch_execute("SET search_path = arkivo_ct").unwrap();
    }
    assert_eq!(a.epoch(), Some(1));
    let mut border = RightBorder::empty();
    let first = Batch::append(&mut border, &bodies(0, 5), 1000);
    a.commit(&first.commit()).unwrap();

    // While A holds the lock, B cannot lead.
    let b = PgStore::open(&options_of(&cluster, namespace)).unwrap();
    assert!(!b.try_lead().unwrap());
    assert_eq!(b.epoch(), None);

    // A's lock session dies (a network partition of that one session, say); B takes over at
    // epoch 2. A still believes it leads, and its next batch meets the fence.
    take_over(&mut client, lock, &b);
    assert_eq!(b.epoch(), Some(2));
    assert_eq!(a.epoch(), Some(1), "A has not noticed yet");

    let mut a_border = border.clone();
    let stale = Batch::append(&mut a_border, &bodies(1, 3), 1001);
    let err = a.commit(&stale.commit()).unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert_eq!(entry_rows(&mut client), 5, "the fenced batch wrote nothing");
    assert_eq!(head_row(&mut client).0, 5);
    assert_eq!(a.epoch(), None, "A stepped down");
    assert!(matches!(
        a.commit(&stale.commit()),
        Err(StorageError::Fenced(_))
    ));

    // B continues the log from the head it reloaded.
    assert_eq!(b.head().unwrap(), first.head);
    let next = Batch::append(&mut border, &bodies(2, 4), 1002);
    b.commit(&next.commit()).unwrap();
    assert_eq!(entry_rows(&mut client), 9);
    assert_eq!(b.head().unwrap(), next.head);
    if let Some(log) = log {
        // The log's own tables and lead were never touched.
        let rows: i64 = client
            .query_one("SELECT count(*) FROM public.arkivo_entries", &[])
            .unwrap()
            .get(0);
        assert_eq!(rows, 0);
        assert_eq!(log.epoch(), Some(1));
        assert!(log.check_lead().unwrap());
    }
}

#[test]
fn unreplicated_commits_are_never_acknowledged_nor_published() {
    let mut cluster = Cluster::start(1);
    let mut client = cluster.client();
    let mut border = RightBorder::empty();
    let a = leader(&cluster);
    let first = Batch::append(&mut border, &bodies(0, 5), 1000);
    a.commit(&first.commit()).unwrap();
    a.publish().unwrap();
    assert_eq!(head_row(&mut client), (5, 5));
    assert_eq!(a.published().unwrap(), Some(first.head.clone()));

    // The standby goes away: commits wait, invisible to other sessions, until cancelled.
    cluster.nodes[1].stop();
    let second = Batch::append(&mut border, &bodies(1, 3), 1001);
    let outcome = std::thread::scope(|s| {
        let commit = s.spawn(|| a.commit(&second.commit()));
        let pid = waiting_commit(&mut client);
        assert_eq!(
            head_row(&mut client),
            (5, 5),
            "a waiting commit is invisible"
        );
        let cancelled: bool = client
            .query_one("SELECT pg_cancel_backend($1)", &[&pid])
            .unwrap()
            .get(0);
        assert!(cancelled);
        commit.join().unwrap()
    });
    let err = outcome.unwrap_err().to_string();
    assert!(err.contains("not acknowledged"), "{err}");
    // PostgreSQL committed it locally and shows it now; but it is not published, and the store
    // stepped down: it neither publishes nor commits again.
    assert_eq!(head_row(&mut client), (8, 5));
    assert_eq!(a.epoch(), None);
    assert!(matches!(a.publish(), Err(StorageError::Fenced(_))));
    assert_eq!(a.published().unwrap(), Some(first.head.clone()));

    // The standby is back; the next leader reloads the head, which its epoch bump (committed
    // after it and acknowledged) proves replicated, and may publish it.
    cluster.nodes[1].start();
    cluster.wait_streaming(1);
    // Stepping down gave the lock back.
    let b = PgStore::open(&cluster.options()).unwrap();
    assert!(b.try_lead().unwrap());
    assert_eq!(b.head().unwrap(), second.head);
    b.publish().unwrap();
    assert_eq!(head_row(&mut client), (8, 8));

    // Gone again, and this time the waiting session is terminated.
    cluster.nodes[1].stop();
    let third = Batch::append(&mut border, &bodies(2, 2), 1002);
    let outcome = std::thread::scope(|s| {
        let commit = s.spawn(|| b.commit(&third.commit()));
        let pid = waiting_commit(&mut client);
        assert_eq!(
            head_row(&mut client),
            (8, 8),
            "a waiting commit is invisible"
        );
        let terminated: bool = client
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap()
            .get(0);
        assert!(terminated);
        commit.join().unwrap()
    });
    assert!(outcome.is_err(), "a terminated commit is not acknowledged");
    assert_eq!(b.epoch(), None);
    let (_, published) = head_row(&mut client);
    assert_eq!(published, 8, "nothing unreplicated is published");
    assert_eq!(b.published().unwrap(), Some(second.head.clone()));
}

#[test]
fn failovers_keep_every_acknowledged_batch() {
    let mut cluster = Cluster::start(2);
    // Every node listed: the store finds whichever is primary.
    let options = PgOptions {
        url: cluster.multi_host_url(),
        ..PgOptions::default()
    };
    let mut border = RightBorder::empty();
    let mut store = PgStore::open(&options).unwrap();
    assert!(store.try_lead().unwrap());
    store.create(&meta(), &empty_head()).unwrap();
    for (cycle, lose_data) in [(0, false), (1, true), (2, false)] {
        let acknowledged = Batch::append(&mut border, &bodies(cycle, 5), 1000 + cycle as i64);
        store.commit(&acknowledged.commit()).unwrap();

        let failover = cluster.fail_over(lose_data);
        assert_ne!(failover.new_primary, failover.old_primary);
        if lose_data {
            assert_eq!(failover.rejoin, Rejoin::Rebuilt);
        } else {
            assert_eq!(failover.rejoin, Rejoin::Rewound, "{failover:?}");
        }

        // The old leader's sessions died with the primary: its next batch fails, writes
        // nothing, and it steps down.
        let lost = Batch::append(&mut border.clone(), &bodies(100 + cycle, 3), 2000);
        assert!(store.commit(&lost.commit()).is_err());
        assert_eq!(store.epoch(), None);

        // A new leader finds the promoted node and, on it, the acknowledged head.
        store = PgStore::open(&options).unwrap();
        assert!(store.try_lead().unwrap());
        assert_eq!(store.head().unwrap(), acknowledged.head);
        assert_eq!(store.epoch(), Some(2 + cycle as i64));
    }
    let last = Batch::append(&mut border, &bodies(9, 4), 3000);
    store.commit(&last.commit()).unwrap();
    store.publish().unwrap();

    // Every node holds the same rows once the standbys have replayed the primary's WAL.
    cluster.wait_caught_up();
    let digests = cluster.log_digests();
    assert!(
        digests[0].1.starts_with("19 entries, max index 18"),
        "{digests:?}"
    );
    assert!(
        digests.iter().all(|(_, d)| *d == digests[0].1),
        "{digests:?}"
    );
}
