//! The CA's Certificate Transparency log (docs/keyless.md "The CT log"): every certificate the
//! CA issues is first logged as a precertificate here, and issued with the log's SCT embedded
//! (RFC 6962 §3.1–3.3). Monitors read it as a C2SP static-ct-api log under `/ct/`.
//!
//! It is a second tree beside the Rekor log, in its own store (`<data>/ct/db`, or the schema
//! `arkivo_ct` of the log's PostgreSQL database: [`crate::leader::open_ct`]) with its own keys
//! (`<data>/ct/keys/`, made on first start, mode 0600) and origin (`<hostname>/ct`), appended to
//! by a sequencer of its own — the same code as the Rekor log's, so the same guarantee: an SCT
//! is signed only once its leaf's batch is committed (synced), so every certificate handed out
//! is in the log. Its leaves carry their index ([`arkivo_core::ct::TileLeaf`]'s `leaf_index`
//! extension), so they come to the sequencer as [`Leaf::AtIndex`].

use crate::log::unix_now_ms;
use crate::sequencer::{Leaf, SequenceError, SequencerHandle};
use crate::storage::NewEntry;
use arkivo_core::ca::cert::{IssuingCa, Precertificate};
use arkivo_core::ct::{Sct, SignedCertificateTimestampList, TileLeaf, leaf_index_extensions};

/// The CT log's directory in the data directory.
pub const CT_DIR: &str = "ct";

/// The CT log's key files in the data directory `data_dir` (`ct/keys/`), wherever its tree is
/// stored.
#[cfg(feature = "rocksdb")]
pub fn key_paths(data_dir: &std::path::Path) -> crate::datadir::KeyPaths {
    crate::datadir::KeyPaths::in_dir(&data_dir.join(CT_DIR).join("keys"))
}

/// The CT log: its sequencer, and the issuers its leaves name.
#[derive(Debug)]
pub struct CtLog {
    sequencer: SequencerHandle,
    /// The CA's chain (intermediate first), each with its SHA-256: a leaf's
    /// `certificate_chain`, and what `/ct/issuer/<fingerprint>` serves.
    issuers: Vec<([u8; 32], Vec<u8>)>,
}

#[cfg(feature = "rocksdb")]
impl CtLog {
    /// Opens the CT log of the data directory `data_dir`, creating it (store, keys, signed empty
    /// tree) on first start, and starts its sequencer. Returns it with its store (for backups)
    /// and the sequencer's thread.
    pub fn open(
        data_dir: &std::path::Path,
        hostname: &str,
        ca: &IssuingCa,
        config: crate::sequencer::SequencerConfig,
    ) -> anyhow::Result<(
        CtLog,
        std::sync::Arc<crate::storage::rocks::RocksStore>,
        std::thread::JoinHandle<()>,
    )> {
        use crate::datadir::{check_log, create_keys, open_store};
        use crate::log::{LogKind, create_log_with_id, new_tree_id};
        use crate::storage::LogStore;
        use std::sync::Arc;

        let dir = data_dir.join(CT_DIR);
        let keys = key_paths(data_dir);
        let store = open_store(&dir.join("db"))?;
        let identity = match store.meta()? {
            Some(meta) => check_log(data_dir, meta, &keys, LogKind::StaticCt)?,
            None => {
                let origin = format!("{hostname}/{CT_DIR}");
                let identity = create_log_with_id(
                    &store,
                    new_tree_id(),
                    hostname,
                    &origin,
                    create_keys(&keys)?,
                    LogKind::StaticCt,
                )?;
                crate::logging::notice!("made the CT log {origin} in {}", dir.display());
                identity
            }
        };
        let store = Arc::new(store);
        let shard = crate::sequencer::Shard {
            store: store.clone(),
            identity: Arc::new(identity),
        };
        let (sequencer, thread) = crate::sequencer::start(shard, Vec::new(), config)?;
        Ok((CtLog::new(sequencer, ca), store, thread))
    }
}

/// The CT log of the data directory `data_dir`, if it has one: its store and identity, for
/// `verify-log` and for backups taken with the server stopped (no sequencer is started).
#[cfg(feature = "rocksdb")]
pub fn open_unserved(
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<(crate::storage::rocks::RocksStore, crate::log::LogIdentity)>> {
    use crate::datadir::{check_log, open_store};
    use crate::storage::LogStore;
    use anyhow::Context;
    let dir = data_dir.join(CT_DIR);
    if !dir.join("db").join("CURRENT").is_file() {
        return Ok(None);
    }
    let store = open_store(&dir.join("db"))?;
    let meta = store
        .meta()?
        .with_context(|| format!("{} holds no log", dir.join("db").display()))?;
    let identity = check_log(
        data_dir,
        meta,
        &key_paths(data_dir),
        crate::log::LogKind::StaticCt,
    )?;
    Ok(Some((store, identity)))
}

impl CtLog {
    /// The CT log whose leaves `sequencer` appends, naming `ca`'s chain as their issuers.
    pub fn new(sequencer: SequencerHandle, ca: &IssuingCa) -> CtLog {
        use sha2::{Digest, Sha256};
        let issuers = ca
            .chain()
            .iter()
            .map(|der| (Sha256::digest(der).into(), der.clone()))
            .collect();
        CtLog { sequencer, issuers }
    }

    /// The log's state as readers see it.
    pub fn sequencer(&self) -> &SequencerHandle {
        &self.sequencer
    }

    /// The issuer certificate whose SHA-256 is `fingerprint`, DER.
    pub fn issuer(&self, fingerprint: &[u8]) -> Option<&[u8]> {
        self.issuers
            .iter()
            .find(|(f, _)| f == fingerprint)
            .map(|(_, der)| der.as_slice())
    }

    /// The issuers' certificates, DER, intermediate first.
    pub fn issuers(&self) -> impl Iterator<Item = &[u8]> {
        self.issuers.iter().map(|(_, der)| der.as_slice())
    }

    /// Logs `precertificate`, issued by `ca`, and returns the SCT list to embed in its final
    /// certificate: answered only once the leaf is durable in the log.
    ///
    /// # Errors
    ///
    /// Why the leaf was not logged (the log is busy, stopped or full).
    pub async fn log(
        &self,
        ca: &IssuingCa,
        precertificate: &Precertificate,
    ) -> Result<SignedCertificateTimestampList, LogError> {
        let leaf = TileLeaf {
            // Taken before the leaf is sequenced: the SCT promises inclusion at or after it.
            timestamp: unix_now_ms(),
            issuer_key_hash: ca.issuer_key_hash(),
            tbs_certificate: precertificate
                .tbs_without_poison()
                .map_err(LogError::Encoding)?,
            extensions: Vec::new(),
            pre_certificate: precertificate.der().to_vec(),
            certificate_chain: self.issuers.iter().map(|(f, _)| *f).collect(),
        };
        let at_index = |leaf: &TileLeaf, index| TileLeaf {
            extensions: leaf_index_extensions(index),
            ..leaf.clone()
        };
        let unindexed = leaf.clone();
        let sequenced = self
            .sequencer
            .submit_leaf(Leaf::AtIndex(Box::new(move |index| {
                let leaf = at_index(&unindexed, index);
                NewEntry {
                    body: leaf.encode(),
                    leaf_hash: leaf.leaf_hash(),
                    index_keys: Vec::new(),
                }
            })))
            .await
            .map_err(LogError::Sequence)?;
        let leaf = at_index(&leaf, sequenced.index);
        let sct = Sct::sign(&leaf, &sequenced.view.active.identity().keys);
        Ok(SignedCertificateTimestampList(vec![sct]))
    }
}

/// Why a precertificate was not logged.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the CT log did not take the certificate: {0}")]
    Sequence(SequenceError),
    #[error("encoding the precertificate: {0}")]
    Encoding(String),
}
