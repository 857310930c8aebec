//! The witness's durable state in RocksDB: its identity, and per log origin the latest
//! checkpoint it cosigned (tiles-checkpoints-witnesses.md §3.2).
//!
//! | key | value |
//! | --- | --- |
//! | `meta` | [`WitnessMeta`] (JSON) |
//! | `origin/` ‖ origin | [`Witnessed`] (JSON: size, root, the checkpoint note) |
//!
//! tlog-witness requires that the witness persist the new checkpoint before answering, and that
//! checking the old size against the stored one and storing the new one be one atomic step, or
//! two concurrent requests could roll the stored size back. [`WitnessStore::update`] does both:
//! one mutex across read, decision and a synced write of one key.

use std::path::Path;
use std::sync::Mutex;

use rocksdb::{DB, Options, WriteOptions};

use crate::storage::StorageError;
use crate::storage::rocks::storage_error;
use arkivo_core::merkle::Hash;
use arkivo_core::witness::Witnessed;

/// Version of the witness's on-disk layout; other versions are refused, never misread.
pub const FORMAT_VERSION: u32 = 1;

const KEY_META: &[u8] = b"meta";
const ORIGIN_PREFIX: &[u8] = b"origin/";

/// A witness's identity, written once when it is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessMeta {
    pub format_version: u32,
    /// The key name of its cosignatures (the name in its vkey).
    pub name: String,
    /// Its Ed25519 public key: ties the key file to this data.
    pub public_key: [u8; 32],
}

pub struct WitnessStore {
    db: DB,
    /// Serializes every read-decide-write of [`WitnessStore::update`] (one process owns the
    /// database: RocksDB's `LOCK` file keeps a second one out).
    update: Mutex<()>,
}

impl std::fmt::Debug for WitnessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessStore")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("witness state: {what}"))
}

fn origin_key(origin: &str) -> Vec<u8> {
    [ORIGIN_PREFIX, origin.as_bytes()].concat()
}

impl WitnessStore {
    /// Opens (creating if missing) the database at `path`, and refuses data of another format.
    ///
    /// # Errors
    ///
    /// [`StorageError`]; [`StorageError::Incompatible`] for another format version.
    pub fn open(path: &Path) -> Result<WitnessStore, StorageError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, path).map_err(storage_error)?;
        let store = WitnessStore {
            db,
            update: Mutex::new(()),
        };
        if let Some(meta) = store.meta()?
            && meta.format_version != FORMAT_VERSION
        {
            return Err(StorageError::Incompatible(format!(
                "{} holds witness data of format version {}, but this arkivo reads format \
                 version {FORMAT_VERSION}; it was not modified",
                path.display(),
                meta.format_version
            )));
        }
        Ok(store)
    }

    fn write_synced(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.put_opt(key, value, &wo).map_err(storage_error)
    }

    /// The witness's identity, or `None` before [`WitnessStore::create`].
    ///
    /// # Errors
    ///
    /// [`StorageError`].
    pub fn meta(&self) -> Result<Option<WitnessMeta>, StorageError> {
        let Some(v) = self.db.get_pinned(KEY_META).map_err(storage_error)? else {
            return Ok(None);
        };
        let j: serde_json::Value =
            serde_json::from_slice(&v).map_err(|e| corrupt(&e.to_string()))?;
        let public_key = j["publicKey"]
            .as_str()
            .and_then(|k| hex::decode(k).ok())
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| corrupt("publicKey"))?;
        Ok(Some(WitnessMeta {
            format_version: j["formatVersion"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| corrupt("formatVersion"))?,
            name: j["name"]
                .as_str()
                .ok_or_else(|| corrupt("name"))?
                .to_owned(),
            public_key,
        }))
    }

    /// Records the witness's identity, durably.
    ///
    /// # Errors
    ///
    /// [`StorageError`]; [`StorageError::Incompatible`] if one is already recorded.
    pub fn create(&self, meta: &WitnessMeta) -> Result<(), StorageError> {
        if self.meta()?.is_some() {
            return Err(StorageError::Incompatible(
                "a witness already exists in this data directory".into(),
            ));
        }
        let value = serde_json::json!({
            "formatVersion": meta.format_version,
            "name": meta.name,
            "publicKey": hex::encode(meta.public_key),
        });
        self.write_synced(KEY_META, value.to_string().as_bytes())
    }

    /// The latest checkpoint cosigned for `origin`, if any.
    ///
    /// # Errors
    ///
    /// [`StorageError`].
    pub fn latest(&self, origin: &str) -> Result<Option<Witnessed>, StorageError> {
        let Some(v) = self
            .db
            .get_pinned(origin_key(origin))
            .map_err(storage_error)?
        else {
            return Ok(None);
        };
        let bad = |what: &str| corrupt(&format!("origin {origin:?}: {what}"));
        let j: serde_json::Value = serde_json::from_slice(&v).map_err(|e| bad(&e.to_string()))?;
        Ok(Some(Witnessed {
            size: j["size"].as_u64().ok_or_else(|| bad("size"))?,
            root: j["root"]
                .as_str()
                .and_then(Hash::from_hex)
                .ok_or_else(|| bad("root"))?,
            checkpoint: j["checkpoint"]
                .as_str()
                .ok_or_else(|| bad("checkpoint"))?
                .to_owned(),
        }))
    }

    /// The atomic compare-and-update of §3.2: under one lock, reads the latest checkpoint of
    /// `origin`, asks `decide` for the new one and, if it gives one, writes it with `sync` before
    /// returning. When `decide` refuses, nothing is written.
    ///
    /// # Errors
    ///
    /// [`StorageError`] from the read or the write (then the state may or may not have been
    /// updated, and the caller must not cosign); `decide`'s refusal comes back as the inner
    /// `Err`.
    pub fn update<E>(
        &self,
        origin: &str,
        decide: impl FnOnce(Option<&Witnessed>) -> Result<Witnessed, E>,
    ) -> Result<Result<Witnessed, E>, StorageError> {
        let _serialized = self.update.lock().unwrap_or_else(|p| p.into_inner());
        let latest = self.latest(origin)?;
        let new = match decide(latest.as_ref()) {
            Ok(new) => new,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let value = serde_json::json!({
            "size": new.size,
            "root": new.root.to_hex(),
            "checkpoint": new.checkpoint,
        });
        self.write_synced(&origin_key(origin), value.to_string().as_bytes())?;
        Ok(Ok(new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn witnessed(size: u64) -> Witnessed {
        Witnessed {
            size,
            root: Hash([size as u8; 32]),
            checkpoint: format!("o\n{size}\n...\n"),
        }
    }

    #[test]
    fn state_survives_reopening_and_refusals_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = WitnessStore::open(dir.path()).unwrap();
            assert_eq!(store.meta().unwrap(), None);
            let meta = WitnessMeta {
                format_version: FORMAT_VERSION,
                name: "w.test".into(),
                public_key: [3; 32],
            };
            store.create(&meta).unwrap();
            assert!(store.create(&meta).is_err());
            assert_eq!(store.latest("a").unwrap(), None);
            let r = store.update("a", |old| {
                assert_eq!(old, None);
                Ok::<_, ()>(witnessed(5))
            });
            assert_eq!(r.unwrap(), Ok(witnessed(5)));
            let r = store.update("a", |old| {
                assert_eq!(old, Some(&witnessed(5)));
                Err("no")
            });
            assert_eq!(r.unwrap(), Err("no"));
            // Origins are independent, even when one is a prefix of another.
            store
                .update("ab", |_| Ok::<_, ()>(witnessed(1)))
                .unwrap()
                .unwrap();
        }
        let store = WitnessStore::open(dir.path()).unwrap();
        assert_eq!(store.meta().unwrap().unwrap().name, "w.test");
        assert_eq!(store.latest("a").unwrap(), Some(witnessed(5)));
        assert_eq!(store.latest("ab").unwrap(), Some(witnessed(1)));
    }
}
