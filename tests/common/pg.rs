//! PostgreSQL clusters for tests: a primary and streaming standbys on free loopback ports, made
//! with `initdb` and `pg_basebackup` under a temporary directory, stopped when dropped. They
//! never touch a PostgreSQL server already running on the machine.
//!
//! A cluster can also fail over the way an operator (or Patroni) would: SIGKILL the primary,
//! promote the most advanced standby, repoint the other standbys, and bring the old primary back
//! as a standby, rewound with `pg_rewind` or rebuilt from a fresh base backup.
//!
//! The server binaries come from `ARKIVO_PG_BIN`, or the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package; scripts/setup installs it). A missing one fails the test. As
//! root they run as the `postgres` user, since PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use arkivo_server::storage::postgres::PgOptions;

/// The superuser `initdb` makes; tests connect as it, without a password (`--auth=trust`).
const USER: &str = "arkivo";

pub struct Cluster {
    /// Node 0 is the first primary; [`Cluster::primary`] is the current one.
    pub nodes: Vec<Node>,
    primary: usize,
    dir: tempfile::TempDir,
}

pub struct Node {
    /// The node's `cluster_name`, which is its `application_name` on the primary it streams from.
    pub name: String,
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
    /// The postmaster, the leader of its own process group (its backends are in it too).
    process: Option<Child>,
}

/// How a failed primary came back as a standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejoin {
    /// `pg_rewind` undid what it had written past the new primary's timeline fork.
    Rewound,
    /// Its data was deleted and copied again from the new primary (a lost machine, or a rewind
    /// that failed).
    Rebuilt,
}

/// What one [`Cluster::fail_over`] did.
#[derive(Debug)]
pub struct Failover {
    pub old_primary: usize,
    pub new_primary: usize,
    /// When the old primary's last process was gone.
    pub killed_at: SystemTime,
    /// From then until the promoted node accepted writes.
    pub promoted_after: Duration,
    pub rejoin: Rejoin,
}

/// The directory of `initdb`, `pg_ctl`, `postgres` and `pg_basebackup`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ARKIVO_PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| {
            let version = d.file_name().to_str()?.parse().ok()?;
            let bin = d.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL's server binaries were not found: install Debian's postgresql package (scripts/setup does) or set ARKIVO_PG_BIN")
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("running id");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// The uid and gid of the `postgres` user.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("running id");
        assert!(
            out.status.success(),
            "running as root needs a postgres user to run PostgreSQL as"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// A PostgreSQL program, run as `postgres` when this process is root (`setpriv` execs, so the
/// child's pid is the program's own).
fn program(name: &str) -> Command {
    let path = bin_dir().join(name);
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(path);
        c
    } else {
        Command::new(path)
    }
}

/// Runs `command`; its output, or `Err` with what it printed.
fn try_run(mut command: Command, what: &str) -> Result<String, String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{what} failed: {text}"))
    }
}

fn run(command: Command, what: &str) {
    if let Err(e) = try_run(command, what) {
        panic!("{e}");
    }
}

/// Writes a file PostgreSQL (running as `postgres`) may later rewrite or remove.
fn write_owned(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    if running_as_root() {
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

fn connect(port: u16) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(
        &format!("host=127.0.0.1 port={port} user={USER} dbname=postgres connect_timeout=5"),
        postgres::NoTls,
    )
}

impl Cluster {
    /// A primary and `standbys` streaming standbys; with any, commits wait for one of them
    /// (`synchronous_standby_names = 'ANY 1 (…)'`, `synchronous_commit = on`).
    pub fn start(standbys: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        if running_as_root() {
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut nodes: Vec<Node> = (0..=standbys)
            .map(|i| Node::new(dir.path(), &format!("node{i}")))
            .collect();
        let mut initdb = program("initdb");
        initdb.arg("-D").arg(&nodes[0].data).args([
            "-U",
            USER,
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        ]);
        run(initdb, "initdb");
        // Every node gets this file (base backups and rewinds copy it), so it holds what all
        // share; what differs per node is on its command line, and its role in
        // postgresql.auto.conf and standby.signal. Every node's name is in the synchronous
        // list: whichever is primary waits for one of the others, with no change at promotion
        // (a primary is never its own standby, so its name in the list is inert).
        let sync = if standbys == 0 {
            String::new()
        } else {
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            format!("ANY 1 ({})", names.join(", "))
        };
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             wal_level = replica\nmax_wal_senders = 10\nhot_standby = on\n\
             synchronous_commit = on\nsynchronous_standby_names = '{sync}'\n\
             # pg_rewind needs the hint-bit changes in the WAL (or data checksums).\n\
             wal_log_hints = on\n\
             # Enough WAL kept for a rewound node to catch up without a replication slot.\n\
             wal_keep_size = '256MB'\nmax_wal_size = '256MB'\n",
            dir.path().display()
        );
        let path = nodes[0].data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        write_owned(&path, &text);
        nodes[0].start();
        let primary_port = nodes[0].port;
        for standby in &mut nodes[1..] {
            standby.base_backup(primary_port);
            standby.start();
        }
        let cluster = Cluster {
            nodes,
            primary: 0,
            dir,
        };
        cluster.wait_streaming(standbys);
        cluster
    }

    /// The index of the current primary.
    pub fn primary(&self) -> usize {
        self.primary
    }

    /// A connection string to node `i`.
    pub fn url(&self, i: usize) -> String {
        format!(
            "host=127.0.0.1 port={} user={USER} dbname=postgres",
            self.nodes[i].port
        )
    }

    /// A URL listing every node, which connects to whichever accepts writes: what a frontend is
    /// given, so that it finds the primary after a failover.
    pub fn multi_host_url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!(
            "postgres://{USER}@{}/postgres?target_session_attrs=read-write",
            hosts.join(",")
        )
    }

    /// Store options for the current primary.
    pub fn options(&self) -> PgOptions {
        PgOptions {
            url: self.url(self.primary),
            ..PgOptions::default()
        }
    }

    /// A plain session on the primary, to look at or disturb what a store does.
    pub fn client(&self) -> postgres::Client {
        connect(self.nodes[self.primary].port).unwrap()
    }

    /// Waits until `n` standbys stream from the primary.
    pub fn wait_streaming(&self, n: usize) {
        let mut client = self.client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let streaming: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                    &[],
                )
                .unwrap()
                .get(0);
            if streaming as usize >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{n} standbys did not start streaming"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs the primary (the postmaster and its backends, as a machine failure would),
    /// promotes the standby that received the most WAL, repoints the other standbys at it, and
    /// brings the old primary back as a standby: rewound, or rebuilt from scratch when `lose_data`
    /// (a lost machine) or when the rewind fails. Returns once every standby streams again.
    pub fn fail_over(&mut self, lose_data: bool) -> Failover {
        let old = self.primary;
        self.nodes[old].kill();
        let (killed, killed_at) = (Instant::now(), SystemTime::now());
        let new = self.promote_most_advanced(old);
        let promoted_after = killed.elapsed();
        let new_port = self.nodes[new].port;
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if i != old && i != new {
                node.follow(new_port);
                // primary_conninfo is reloadable: the WAL receiver restarts on the new primary
                // and follows its timeline (recovery_target_timeline = 'latest', the default).
                connect(node.port)
                    .unwrap()
                    .execute("SELECT pg_reload_conf()", &[])
                    .unwrap();
            }
        }
        let rejoin = if lose_data {
            self.nodes[old].rebuild(new_port);
            Rejoin::Rebuilt
        } else {
            match self.nodes[old].rewind(new_port) {
                Ok(()) => Rejoin::Rewound,
                Err(e) => {
                    eprintln!("{e}; rebuilding {} instead", self.nodes[old].name);
                    self.nodes[old].rebuild(new_port);
                    Rejoin::Rebuilt
                }
            }
        };
        self.nodes[old].start();
        self.wait_streaming(self.nodes.len() - 1);
        Failover {
            old_primary: old,
            new_primary: new,
            killed_at,
            promoted_after,
            rejoin,
        }
    }

    /// Promotes the running standby with the most WAL received (replayed, on a tie), and makes
    /// it the primary once it accepts writes.
    fn promote_most_advanced(&mut self, failed: usize) -> usize {
        let lsn_of = |port: u16| -> (i64, i64) {
            let row = connect(port)
                .unwrap()
                .query_one(
                    "SELECT coalesce(pg_last_wal_receive_lsn() - '0/0', 0)::bigint, \
                     coalesce(pg_last_wal_replay_lsn() - '0/0', 0)::bigint",
                    &[],
                )
                .unwrap();
            (row.get(0), row.get(1))
        };
        let new = (0..self.nodes.len())
            .filter(|&i| i != failed)
            .max_by_key(|&i| lsn_of(self.nodes[i].port))
            .expect("a standby to promote");
        let mut client = connect(self.nodes[new].port).unwrap();
        let promoted: bool = client
            .query_one("SELECT pg_promote(true, 60)", &[])
            .unwrap()
            .get(0);
        assert!(promoted, "{} was not promoted", self.nodes[new].name);
        // The end-of-recovery checkpoint runs in the background after a promotion; pg_rewind
        // reads the source's timeline from its control file, so it must be written first.
        client.batch_execute("CHECKPOINT").unwrap();
        self.primary = new;
        new
    }

    /// Waits until every standby has replayed all the primary has written.
    pub fn wait_caught_up(&self) {
        let target: i64 = self
            .client()
            .query_one("SELECT (pg_current_wal_lsn() - '0/0')::bigint", &[])
            .unwrap()
            .get(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        for (i, node) in self.nodes.iter().enumerate() {
            if i == self.primary {
                continue;
            }
            let mut client = connect(node.port).unwrap();
            loop {
                let replayed: i64 = client
                    .query_one(
                        "SELECT coalesce(pg_last_wal_replay_lsn() - '0/0', 0)::bigint",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                if replayed >= target {
                    break;
                }
                assert!(Instant::now() < deadline, "{} did not catch up", node.name);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Each node's log rows, summarised: entry count, highest index, an MD5 over every entry
    /// (index, leaf hash, time, body) and over the stored hashes, and the head row. Equal on
    /// nodes holding the same log.
    pub fn log_digests(&self) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .map(|node| {
                let row = connect(node.port)
                    .unwrap()
                    .query_one(
                        "SELECT format('%s entries, max index %s, entries %s, hashes %s, head %s/%s', \
                         (SELECT count(*) FROM arkivo_entries), \
                         (SELECT max(idx) FROM arkivo_entries), \
                         (SELECT md5(string_agg(idx || ':' || encode(leaf_hash, 'hex') || ':' \
                             || integrated_time || ':' || md5(body), ',' ORDER BY idx)) \
                          FROM arkivo_entries), \
                         (SELECT md5(string_agg(idx || ':' || encode(hash, 'hex'), ',' ORDER BY idx)) \
                          FROM arkivo_hashes), \
                         (SELECT size FROM arkivo_head), (SELECT published_size FROM arkivo_head))",
                        &[],
                    )
                    .unwrap();
                (node.name.clone(), row.get(0))
            })
            .collect()
    }

    /// The temporary directory the nodes live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// CPU time (user and system) each node's processes have used, in microseconds: the
    /// postmaster and its children (backends, WAL writer, senders and receivers — each in a
    /// session of its own, so not found by process group), from fields 14 and 15 of
    /// `/proc/PID/stat` in clock ticks of `USER_HZ` (100 on Linux). Processes that have exited
    /// no longer count.
    pub fn cpu_us(&self) -> Vec<u64> {
        let postmasters: Vec<Option<u64>> = self
            .nodes
            .iter()
            .map(|n| n.process.as_ref().map(|p| u64::from(p.id())))
            .collect();
        let mut used = vec![0; postmasters.len()];
        for dir in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(dir.path().join("stat")) else {
                continue;
            };
            // The command name (field 2) may hold spaces: count from the `)` that closes it.
            let Some((pid, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let pid = pid
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u64>().ok());
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            let (Some(parent), Some(user), Some(system)) = (number(1), number(11), number(12))
            else {
                continue;
            };
            if let Some(node) = postmasters
                .iter()
                .position(|p| p.is_some() && (*p == pid || *p == Some(parent)))
            {
                used[node] += (user + system) * 10_000;
            }
        }
        used
    }

    /// The primary's current WAL position, in bytes.
    pub fn wal_bytes(&self) -> u64 {
        let lsn: i64 = self
            .client()
            .query_one("SELECT (pg_current_wal_lsn() - '0/0')::bigint", &[])
            .unwrap()
            .get(0);
        lsn as u64
    }
}

impl Node {
    fn new(root: &Path, name: &str) -> Node {
        Node {
            name: name.to_owned(),
            port: super::free_port(),
            data: root.join(name),
            log: root.join(format!("{name}.log")),
            process: None,
        }
    }

    /// Makes this (stopped) node a standby of the primary on `primary_port`, replacing any role
    /// it had: `standby.signal` and `primary_conninfo` (what `pg_basebackup -R` writes).
    fn follow(&self, primary_port: u16) {
        write_owned(&self.data.join("standby.signal"), "");
        write_owned(
            &self.data.join("postgresql.auto.conf"),
            &format!("primary_conninfo = 'host=127.0.0.1 port={primary_port} user={USER}'\n"),
        );
    }

    /// A fresh copy of the primary on `primary_port`, as a standby of it.
    fn base_backup(&self, primary_port: u16) {
        let mut basebackup = program("pg_basebackup");
        basebackup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                USER,
                "-D",
            ])
            .arg(&self.data)
            .args(["-X", "stream", "-c", "fast", "--no-sync"]);
        run(basebackup, "pg_basebackup");
        self.follow(primary_port);
    }

    /// Deletes the (stopped) node's data and copies it again from the primary.
    fn rebuild(&self, primary_port: u16) {
        std::fs::remove_dir_all(&self.data).unwrap();
        self.base_backup(primary_port);
    }

    /// Rewinds the (stopped) node to where the primary on `primary_port` forked its timeline,
    /// and makes it a standby of it. pg_rewind first finishes the crash recovery of a node that
    /// was killed.
    fn rewind(&self, primary_port: u16) -> Result<(), String> {
        let mut rewind = program("pg_rewind");
        rewind.arg("--target-pgdata").arg(&self.data).arg(format!(
            "--source-server=host=127.0.0.1 port={primary_port} user={USER} dbname=postgres"
        ));
        try_run(rewind, "pg_rewind")?;
        self.follow(primary_port);
        Ok(())
    }

    /// Starts the node and waits until it accepts connections.
    pub fn start(&mut self) {
        use std::os::unix::process::CommandExt;
        assert!(self.process.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut postgres = program("postgres");
        postgres
            .arg("-D")
            .arg(&self.data)
            .args(["-c", &format!("port={}", self.port)])
            .args(["-c", &format!("cluster_name={}", self.name)])
            // Its own process group, so that a kill takes the backends with the postmaster.
            .process_group(0);
        let child = postgres
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting postgres");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut ready = program("pg_isready");
            ready.args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()]);
            if ready.status().is_ok_and(|s| s.success()) {
                return;
            }
            if let Some(status) = self.process.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "{} exited ({status}): {}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs the postmaster and every backend of the node (its process group), as a power
    /// loss would end them, and waits until they are gone.
    pub fn kill(&mut self) {
        let mut child = self.process.take().expect("the node is running");
        let group = format!("-{}", child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .expect("running kill");
        assert!(killed.success(), "kill -KILL {group} failed");
        child.wait().unwrap();
        // The backends notice their postmaster's death only now and then: wait until none is
        // left, so that the data directory is free for pg_rewind.
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_alive(child.id()) {
            assert!(
                Instant::now() < deadline,
                "{} left processes behind",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the node at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn stop(&mut self) {
        let Some(mut child) = self.process.take() else {
            return;
        };
        let mut stop = program("pg_ctl");
        stop.arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w"]);
        let stopped = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !stopped.is_ok_and(|s| s.success()) {
            drop(child.kill());
        }
        drop(child.wait());
    }
}

/// Whether any process of group `pgid` is still running (zombies, which hold nothing, aside).
fn group_alive(pgid: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|d| {
        let stat = std::fs::read_to_string(d.path().join("stat")).unwrap_or_default();
        // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().rev() {
            node.stop();
        }
    }
}

/// Gives a frontend the key files of the frontend in `from`, as an operator mounts the same
/// secrets on each: every file of `keys/` (the log's two keys; the TSA's and the CA's when it
/// has them) and of `tuf/keys/` (the TUF repository's, which a frontend must share to publish).
pub fn share_key_files(from: &Path, to: &Path) {
    for dir in ["keys", "tuf/keys"] {
        copy_files(&from.join(dir), &to.join(dir));
    }
}

/// Copies the files (not the directories) of `from` into `to`, made if missing, keeping their
/// modes: a key file readable by others is refused.
pub fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        if file.file_type().unwrap().is_file() {
            std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
        }
    }
}
