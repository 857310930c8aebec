//! `arkivo serve`: open (or create) the log, start the sequencer, the witness client, the admin
//! socket and the HTTP server, and shut them down in order.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::datadir::{self, LogPaths};
use crate::logging::notice;
use crate::witness::client::{Cosignatures, Endpoint};

/// Opens the log for an admin command that no server answered (its admin socket is absent or
/// dead): RocksDB's lock then keeps a server from starting on it meanwhile.
pub(crate) fn open_unserved(paths: &LogPaths) -> anyhow::Result<datadir::OpenedLog> {
    datadir::open(paths, None, false).with_context(|| {
        format!(
            "no server answered on {}, so the log was opened directly",
            crate::backup::admin_socket(&paths.data_dir).display()
        )
    })
}

pub(crate) fn log_paths(config: &Config) -> LogPaths {
    LogPaths::new(
        &config.data_dir,
        config.ecdsa_key_file.as_deref(),
        config.ed25519_key_file.as_deref(),
    )
}

/// The hostname of a new log when none is configured: its listen address (docs/design.md
/// "Defaults").
pub(crate) fn default_hostname(config: &Config) -> anyhow::Result<String> {
    // The name is forever, and 0.0.0.0 (as in a container) names no host clients reach.
    if config
        .listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_unspecified())
    {
        anyhow::bail!(
            "a new log needs a hostname when listening on {}: set hostname (--hostname, \
             ARKIVO_HOSTNAME) to the name clients reach it by, e.g. rekor.example.internal",
            config.listen
        );
    }
    Ok(config.listen.clone())
}

pub(crate) fn open_log(config: &Config, create: bool) -> anyhow::Result<datadir::OpenedLog> {
    let paths = log_paths(config);
    let is_new = !paths.db().exists() && datadir::read_manifest(&paths.data_dir)?.is_none();
    let hostname = match (&config.hostname, is_new) {
        (Some(h), _) => Some(h.clone()),
        (None, true) => Some(default_hostname(config)?),
        (None, false) => None,
    };
    let opened = datadir::open(&paths, hostname.as_deref(), create)?;
    let id = &opened.active().identity;
    if opened.created {
        notice!(
            "created a new log in {}: tree ID {}, hostname {}",
            config.data_dir.display(),
            id.meta.tree_id,
            id.meta.hostname
        );
    }
    if opened.shards.len() > 1 {
        notice!(
            "{} shards; the active one is tree {}, with origin {}",
            opened.shards.len(),
            id.meta.tree_id,
            id.meta.origin
        );
    }
    announce_keys(id);
    Ok(opened)
}

/// Opens the log stored in PostgreSQL (`config.storage`), creating it in an empty database.
fn open_pg_log(config: &Config) -> anyhow::Result<crate::leader::OpenedPg> {
    let opened = crate::leader::open(config, &log_paths(config))?;
    let id = &opened.identity;
    if opened.created {
        notice!(
            "created a new log in the database: tree ID {}, hostname {}",
            id.meta.tree_id,
            id.meta.hostname
        );
    }
    announce_keys(id);
    Ok(opened)
}

fn announce_keys(id: &crate::log::LogIdentity) {
    notice!(
        "log ID {}\nlog public key (ECDSA P-256; checkpoints and SETs):\n{}",
        id.keys.log_id_hex(),
        id.keys.ecdsa_public_pem()
    );
    // What a tlog-tiles client, mirror or witness (`arkivo witness --log`) needs to verify
    // /checkpoint.
    notice!(
        "C2SP checkpoint verifier key (Ed25519; /checkpoint): {}",
        id.keys.ed25519_verifier(&id.meta.origin).vkey()
    );
}

/// Starts the sequencer of a tree opened from PostgreSQL, as a follower until the leadership
/// loop takes the lead.
fn follow(
    opened: &crate::leader::OpenedPg,
    config: &Config,
) -> anyhow::Result<(
    crate::sequencer::SequencerHandle,
    std::thread::JoinHandle<()>,
)> {
    // The upper tree levels in memory, as for RocksDB: every inclusion proof reads some, each a
    // query otherwise.
    let shard = crate::sequencer::Shard {
        store: Arc::new(crate::storage::upper::UpperLevels::new(
            opened.store.clone(),
        )),
        identity: opened.identity.clone(),
    };
    crate::sequencer::start_at(
        shard,
        Vec::new(),
        opened.head.clone(),
        Some(crate::leader::FOLLOWING.to_owned()),
        config.sequencer(),
    )
    .context("starting the sequencer")
}

/// Where the served log is stored.
enum Stored {
    /// RocksDB in the data directory: every shard, for the admin socket and the metrics.
    Disk(datadir::OpenedLog),
    /// PostgreSQL, with the loop that takes turns leading with the other frontends.
    Pg(Arc<crate::leader::Leadership>),
}

pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    // Read before the log is opened (or created): a bad file must change nothing.
    let write_tokens = config
        .write_tokens_file
        .as_deref()
        .map(crate::auth::WriteTokens::from_file)
        .transpose()?;
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(crate::api::server::tls_acceptor(
            cert,
            key,
            config.tls_client_ca_file.as_deref(),
        )?),
        _ => None,
    };
    crate::metrics::install();
    // The CPU pool of the requests and of the sequencer's SET signing (`AppState::cpu`), named
    // for profiles. Already built only if something ran on it first (never in `serve`).
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("arkivo-cpu-{i}"))
        .build_global();
    let (stored, identity, sequencer, thread, leading, mut pg_ct) = match &config.storage {
        None => {
            let opened = open_log(&config, true)?;
            let (frozen, active) = opened.shards.split_at(opened.shards.len() - 1);
            let (sequencer, thread) = crate::sequencer::start(
                active[0].shard(),
                frozen.iter().map(datadir::OpenedShard::shard).collect(),
                config.sequencer(),
            )
            .context("starting the sequencer")?;
            let identity = opened.active().identity.clone();
            (
                Stored::Disk(opened),
                identity,
                sequencer,
                thread,
                None,
                None,
            )
        }
        Some(_) => {
            // PostgreSQL's client blocks (on a runtime of its own): never on an async thread.
            let pg_config = config.clone();
            let (opened, sequencer, thread, ct) = tokio::task::spawn_blocking(move || {
                let opened = open_pg_log(&pg_config)?;
                let (sequencer, thread) = follow(&opened, &pg_config)?;
                // The CA's CT log, beside the log in the database (docs/operations.md).
                let ct = if pg_config.ca.oidc_issuers.is_empty() {
                    None
                } else {
                    let ct = crate::leader::open_ct(
                        &pg_config,
                        &pg_config.data_dir,
                        &crate::ct::key_paths(&pg_config.data_dir),
                        &opened.identity.meta.hostname,
                    )
                    .context("opening the CT log")?;
                    let (sequencer, thread) = follow(&ct, &pg_config)?;
                    Some((ct.store, sequencer, thread))
                };
                anyhow::Ok((opened, sequencer, thread, ct))
            })
            .await
            .context("opening the log's storage")??;
            crate::metrics::set_leader(false);
            let (ct_led, pg_ct) = match ct {
                Some((store, sequencer, thread)) => {
                    (Some((store, sequencer.clone())), Some((sequencer, thread)))
                }
                None => (None, None),
            };
            let (leadership, leading) = crate::leader::Leadership::start(
                (opened.store.clone(), sequencer.clone()),
                ct_led,
            )?;
            let identity = opened.identity.clone();
            (
                Stored::Pg(leadership),
                identity,
                sequencer,
                thread,
                Some(leading),
                pg_ct,
            )
        }
    };
    let hostname = identity.meta.hostname.clone();
    let public_url = config.public_url_for(&hostname);
    let tree_size = sequencer.published().head().size;
    let cosignatures = Arc::new(Cosignatures::new(
        sequencer.published().clone(),
        Endpoint::from_config(&config.witnesses)?,
        config.witness_quorum,
    ));
    // In the background, off the write path: a witness only ever delays its own cosignature.
    let mut witnessing = if cosignatures.endpoints().is_empty() {
        JoinSet::new()
    } else {
        for e in cosignatures.endpoints() {
            notice!("witness {} at {}", e.verifier.vkey(), e.add_checkpoint_url);
        }
        match config.witness_quorum {
            0 => notice!("checkpoints are served with the cosignatures collected for them"),
            k => notice!(
                "only checkpoints cosigned by at least {k} of the {} witnesses are served",
                cosignatures.endpoints().len()
            ),
        }
        crate::witness::client::start(
            &cosignatures,
            Duration::from_millis(config.witness_interval_ms),
        )?
    };
    let (tsa, tsa_created) = datadir::open_tsa(
        &config.data_dir,
        config
            .tsa_key_file
            .as_deref()
            .zip(config.tsa_cert_chain_file.as_deref()),
        &hostname,
        &config.tsa_policy,
        crate::api::unix_now(),
    )?;
    if tsa_created {
        notice!("created the timestamp authority's key and certificate chain");
    }
    notice!(
        "timestamp authority at {public_url}/api/v1/timestamp (policy {}); its chain:\n{}",
        config.tsa_policy,
        tsa.chain_pem()
    );
    let replaced_tsas = datadir::record_tsa(&config.data_dir, &tsa, crate::api::unix_now())?;
    if !replaced_tsas.is_empty() {
        notice!(
            "the trusted root also lists the {} timestamp authorities this one replaced, each \
             valid until it was replaced",
            replaced_tsas.len()
        );
    }
    let mut state = crate::api::AppState::new(sequencer.clone(), public_url.clone())
        .with_cosignatures(cosignatures)
        .with_tsa(tsa)
        .with_replaced_tsas(replaced_tsas);
    if let Stored::Pg(leadership) = &stored {
        state = state.with_storage_contact(leadership.contact());
    }
    let mut ct_thread = None;
    let mut ct_store = None;
    if !config.ca.oidc_issuers.is_empty() {
        let signer = crate::ca::open_signer(&config.ca, &config.data_dir, &hostname)?;
        for issuer in &config.ca.oidc_issuers {
            notice!(
                "CA: certificates for ID tokens of {} ({}, audience {})",
                issuer.url,
                issuer.issuer_type.name(),
                issuer.client_id
            );
        }
        let (ct, thread) = match pg_ct.take() {
            // In the database, opened with the log (its leadership loop leads both).
            Some((sequencer, thread)) => (crate::ct::CtLog::new(sequencer, &signer), thread),
            None => {
                let (ct, store, thread) = crate::ct::CtLog::open(
                    &config.data_dir,
                    &hostname,
                    &signer,
                    config.sequencer(),
                )
                .context("opening the CT log")?;
                ct_store = Some(store);
                (ct, thread)
            }
        };
        ct_thread = Some(thread);
        state = state.with_ca(crate::ca::CertificateAuthority::new(
            signer,
            ct,
            &config.ca.oidc_issuers,
        )?);
    }
    // Published before anything is served, so that a rotation made while the server was
    // stopped reaches the repository before its new key signs an answer. The targets are made
    // from what the API serves (`state`: the log's URL, its CA).
    let trust = state.clone();
    let tuf = Arc::new(
        crate::tuf::Repository::open(
            &config.data_dir,
            config.tuf(),
            crate::tuf::targets(&trust, &sequencer.published().view()),
            match &stored {
                // One repository for all frontends, in the database.
                Stored::Pg(leadership) => Some(leadership.log_store()),
                Stored::Disk(_) => None,
            },
        )
        .await
        .context("opening the TUF repository")?,
    );
    {
        let (tuf, trust) = (tuf.clone(), trust.clone());
        let runtime = tokio::runtime::Handle::current();
        sequencer
            .published()
            .before_rotation(Some(Arc::new(move |view| {
                runtime
                    .block_on(tuf.publish(crate::tuf::targets(&trust, view)))
                    .map_err(|e| format!("{e:#}"))
            })));
    }
    let resigning = tokio::spawn(crate::tuf::keep_fresh(tuf.clone(), trust.clone()));
    let published = sequencer.published().clone();
    state = state.with_tuf(tuf.clone());
    if config.tls_client_ca_file.is_some() {
        notice!("clients with a certificate from the client CA may write (mutual TLS)");
        state = state.with_client_certificate_writes();
    }
    match write_tokens {
        Some(tokens) => {
            notice!(
                "writes need a bearer token ({} accepted; SIGHUP reloads the file)",
                tokens.len()
            );
            state = state.with_write_tokens(tokens);
        }
        None if config.tls_client_ca_file.is_some() => {}
        None => tracing::warn!(
            "writes are open to anyone who can reach {}: use --write-tokens to restrict them",
            config.listen
        ),
    }
    let reloading = match (&config.write_tokens_file, &state.write_tokens) {
        (Some(path), Some(tokens)) => Some(tokio::spawn(crate::auth::reload_on_sighup(
            path.clone(),
            tokens.clone(),
        ))),
        _ => None,
    };
    if config.rate_limit_per_second > 0 {
        let burst = config
            .rate_limit_burst
            .unwrap_or(config.rate_limit_per_second);
        notice!(
            "each client may make {} requests a second (bursts of {burst})",
            config.rate_limit_per_second
        );
        state = state.with_rate_limit(config.rate_limit_per_second, burst);
    }
    if config.explorer {
        notice!("web explorer at {public_url}/");
    } else {
        state = state.without_explorer();
    }
    let app = crate::api::server::App::new(crate::api::service(
        state.with_max_requests_in_flight(config.max_requests_in_flight),
    ));
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Started last, so that nothing is left behind when starting fails.
    let (admin, metrics) = match &stored {
        Stored::Disk(opened) => {
            let shards = Arc::new(std::sync::Mutex::new(crate::backup::DiskShards {
                ct: ct_store,
                ..crate::backup::DiskShards::new(opened)
            }));
            let admin = crate::backup::serve_admin(
                Some(shards.clone()),
                log_paths(&config),
                tuf,
                trust,
            )
            .inspect_err(|e| {
                tracing::warn!(
                    "no admin socket, so `arkivo backup` and `arkivo shard rotate` need the \
                         server stopped: {e:#}"
                );
            })
            .ok();
            let metrics = tokio::spawn(crate::metrics::keep_up(Arc::new(move || {
                // Not while a backup or rotation holds the shards: the next round measures.
                match shards.try_lock() {
                    Ok(shards) => shards.usage().map(Some),
                    Err(_) => Ok(None),
                }
            })));
            (admin, metrics)
        }
        // Backups and the database's size are PostgreSQL's business (docs/operations.md).
        Stored::Pg(_) => {
            drop(ct_store);
            // Only for `arkivo tuf install-root`, which the leader answers.
            let admin = crate::backup::serve_admin(None, log_paths(&config), tuf, trust)
                .inspect_err(|e| {
                    tracing::warn!(
                        "no admin socket, so `arkivo tuf install-root` needs every frontend \
                         stopped: {e:#}"
                    );
                })
                .ok();
            let metrics = tokio::spawn(crate::metrics::keep_up(Arc::new(|| Ok(None))));
            (admin, metrics)
        }
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let trimming = tokio::spawn(trim_malloc_arenas());
    notice!("serving {public_url} on {addr} (tree size {tree_size})");
    crate::api::server::serve(
        listener,
        app,
        tls,
        Duration::from_millis(config.header_read_timeout_ms),
        shutdown_signal(),
    )
    .await;
    // The witness tasks read the store: they end before it is closed.
    witnessing.shutdown().await;
    if let Some(admin) = admin {
        admin.shutdown().await;
    }
    metrics.abort();
    let _ = metrics.await;
    resigning.abort();
    let _ = resigning.await;
    // The hook holds the API state, and so a sequencer handle.
    published.before_rotation(None);
    if let Some(reloading) = reloading {
        reloading.abort();
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    trimming.abort();
    if let (Stored::Pg(leadership), Some(leading)) = (&stored, leading) {
        // Its thread holds a sequencer handle; it gives up the lead as it ends.
        leadership.stop();
        tokio::task::spawn_blocking(move || leading.join())
            .await
            .context("waiting for the leadership loop")?
            .map_err(|_| anyhow::anyhow!("the leadership thread panicked"))?;
    }
    // Every handle is gone with the server: the sequencer drains its inbox and ends. Dropped
    // off the async threads: PostgreSQL's client closes its sessions blocking.
    tokio::task::spawn_blocking(move || drop((sequencer, stored, published, identity)))
        .await
        .context("closing the log")?;
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .context("waiting for the sequencer")?
        .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))?;
    if let Some(thread) = ct_thread {
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .context("waiting for the CT log's sequencer")?
            .map_err(|_| anyhow::anyhow!("the CT log's sequencer thread panicked"))?;
    }
    notice!("shut down cleanly");
    Ok(())
}

/// Gives the memory glibc's malloc holds free back to the kernel, once a minute. RocksDB and the
/// server allocate and free large buffers (blocks, memtable arenas, compaction buffers) from
/// many threads, and glibc keeps what they free in fragmented per-thread arenas: measured in a
/// soak, a quarter of the heap was free yet resident, and resident memory crept up with the log
/// while what is in use stayed bounded (the block cache and memtables). A trim takes
/// milliseconds, on the blocking pool.
///
/// The one `unsafe` of the crate (`unsafe_code` is denied everywhere else): a call into glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
async fn trim_malloc_arenas() {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.tick().await;
    loop {
        every.tick().await;
        // SAFETY: malloc_trim only returns free memory to the kernel; it takes malloc's own
        // locks and touches no memory in use.
        let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
    }
}

pub(crate) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    notice!("shutting down: finishing the requests in flight");
}
