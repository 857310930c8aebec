//! PostgreSQL clusters for tests: a primary and streaming standbys on free loopback ports, made
//! with `initdb` and `pg_basebackup -R` under a temporary directory, stopped when dropped. They
//! never touch a PostgreSQL server already running on the machine.
//!
//! The server binaries come from `ARKIVO_PG_BIN`, or the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package; scripts/setup installs it). A missing one fails the test. As
//! root they run as the `postgres` user, since PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arkivo_server::storage::postgres::PgOptions;

/// The superuser `initdb` makes; tests connect as it, without a password (`--auth=trust`).
const USER: &str = "arkivo";

pub struct Cluster {
    /// The primary first, then the standbys.
    pub nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

pub struct Node {
    /// The standby's `cluster_name`, which is its `application_name` on the primary.
    pub name: String,
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
    process: Option<Child>,
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

fn run(mut command: Command, what: &str) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
        let names: Vec<String> = (1..=standbys).map(|i| format!("standby{i}")).collect();
        let mut primary = Node::new(dir.path(), "primary");
        let mut initdb = program("initdb");
        initdb.arg("-D").arg(&primary.data).args([
            "-U",
            USER,
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        ]);
        run(initdb, "initdb");
        let sync = if names.is_empty() {
            String::new()
        } else {
            format!("ANY 1 ({})", names.join(", "))
        };
        primary.configure(
            dir.path(),
            &format!(
                "wal_level = replica\nmax_wal_senders = 10\nsynchronous_commit = on\n\
                 synchronous_standby_names = '{sync}'\n"
            ),
        );
        primary.start();
        let mut nodes = vec![primary];
        for name in names {
            let mut standby = Node::new(dir.path(), &name);
            let mut basebackup = program("pg_basebackup");
            basebackup
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &nodes[0].port.to_string(),
                    "-U",
                    USER,
                    "-D",
                ])
                .arg(&standby.data)
                .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
            run(basebackup, "pg_basebackup");
            standby.configure(dir.path(), "");
            standby.start();
            nodes.push(standby);
        }
        let cluster = Cluster { nodes, dir };
        cluster.wait_streaming(standbys);
        cluster
    }

    /// A connection string to node `i` (0: the primary).
    pub fn url(&self, i: usize) -> String {
        format!(
            "host=127.0.0.1 port={} user={USER} dbname=postgres",
            self.nodes[i].port
        )
    }

    /// Store options for the primary.
    pub fn options(&self) -> PgOptions {
        PgOptions {
            url: self.url(0),
            ..PgOptions::default()
        }
    }

    /// A plain session on the primary, to look at or disturb what a store does.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(0), postgres::NoTls).unwrap()
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

    /// The temporary directory the nodes live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
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

    fn configure(&self, root: &Path, extra: &str) {
        use std::io::Write;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))
            .unwrap();
        write!(
            conf,
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             cluster_name = '{}'\n{extra}",
            self.port,
            root.display(),
            self.name
        )
        .unwrap();
    }

    /// Starts the node and waits until it accepts connections.
    pub fn start(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut postgres = program("postgres");
        postgres.arg("-D").arg(&self.data);
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

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().rev() {
            node.stop();
        }
    }
}
