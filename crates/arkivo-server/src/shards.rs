//! Shards (rekor-v1-api.md §9): a log is a sequence of trees, the newest of which — the active
//! shard — takes the appends, while the older ones are frozen and never change again. Clients
//! see one log: a *virtual index* numbers the entries of every shard in order.
//!
//! This module is the pure part: the shard list a data directory records ([`Manifest`]) and the
//! virtual index arithmetic. Opening, creating and rotating shards on disk is in
//! [`crate::datadir`]; the switch from one active shard to the next is the sequencer's.

use serde::{Deserialize, Serialize};

/// The file, in the data directory, that lists the shards once a log has been rotated. Without
/// it the log is the single shard in `db/` with the configured keys.
pub const MANIFEST_FILE: &str = "shards.json";

/// The shards of a log, oldest first; the last one is active.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub shards: Vec<ShardRecord>,
}

/// Where one shard's files are, relative to the data directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShardRecord {
    /// The shard's tree ID, as stored in its own metadata (checked when it is opened).
    #[serde(rename = "treeID")]
    pub tree_id: i64,
    /// Its RocksDB directory.
    pub db: String,
    /// The directory of its own keys (made by `arkivo shard rotate --new-key`), or `None` for
    /// the keys the configuration names.
    pub keys: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("{MANIFEST_FILE} is not valid: {0}")]
    Syntax(String),
    #[error("{MANIFEST_FILE} lists no shard")]
    Empty,
    #[error("{MANIFEST_FILE} lists tree ID {0} twice, or a tree ID that is not positive")]
    TreeId(i64),
    #[error(
        "{MANIFEST_FILE} names the path {0:?}, which is not a plain relative path inside the \
         data directory"
    )]
    Path(String),
}

impl Manifest {
    /// The manifest of a log that was never rotated: its first shard.
    pub fn single(tree_id: i64) -> Self {
        Manifest {
            shards: vec![ShardRecord {
                tree_id,
                db: "db".to_owned(),
                keys: None,
            }],
        }
    }

    /// Parses and checks a manifest: at least one shard, distinct positive tree IDs, paths that
    /// stay inside the data directory.
    ///
    /// # Errors
    ///
    /// What is wrong, naming the file.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        if m.shards.is_empty() {
            return Err(ManifestError::Empty);
        }
        for (i, s) in m.shards.iter().enumerate() {
            if s.tree_id <= 0 || m.shards[..i].iter().any(|o| o.tree_id == s.tree_id) {
                return Err(ManifestError::TreeId(s.tree_id));
            }
            for path in std::iter::once(&s.db).chain(&s.keys) {
                if !is_inner_path(path) {
                    return Err(ManifestError::Path(path.clone()));
                }
            }
        }
        Ok(m)
    }

    /// The shards' own key directories, each once: a shard rotated without new keys shares its
    /// predecessor's.
    pub fn key_dirs(&self) -> impl Iterator<Item = &str> {
        let mut seen = Vec::new();
        self.shards.iter().filter_map(move |s| {
            let dir = s.keys.as_deref()?;
            (!seen.contains(&dir)).then(|| {
                seen.push(dir);
                dir
            })
        })
    }

    /// The JSON written to [`MANIFEST_FILE`].
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        out.push(b'\n');
        out
    }
}

/// A relative path of plain names (no `..`, `.`, root or empty component).
fn is_inner_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Refuses to freeze an empty active shard (tree `tree_id`, `size` entries): it would only add
/// an empty tree, and a rotation run twice by mistake would do just that.
///
/// # Errors
///
/// The reason, for the operator.
pub fn check_rotatable(tree_id: i64, size: u64) -> Result<(), String> {
    if size == 0 {
        return Err(format!(
            "the active shard (tree {tree_id}) is empty: there is nothing to freeze"
        ));
    }
    Ok(())
}

/// Where the entry at virtual index `virtual_index` is: the position of its shard and its index
/// in that shard. `frozen_sizes` are the frozen shards' sizes, oldest first; the active shard
/// follows them and takes every index beyond (position `frozen_sizes.len()`), as Rekor resolves
/// virtual indexes (§9): walk the frozen shards, subtracting each one's size.
pub fn locate(virtual_index: u64, frozen_sizes: &[u64]) -> (usize, u64) {
    let mut rest = virtual_index;
    for (position, &size) in frozen_sizes.iter().enumerate() {
        if rest < size {
            return (position, rest);
        }
        rest -= size;
    }
    (frozen_sizes.len(), rest)
}

/// A rotation failed after the new shard list was renamed into place: the list names the new
/// shard (and, after a crash, may name either), so the old shard must take no more appends.
#[derive(Debug, thiserror::Error)]
#[error(
    "the shard list naming the new shard {tree_id} was written but may not be durable ({source}); \
     writes stop until a restart, which opens the shards the list names"
)]
pub struct ShardListChanged {
    pub tree_id: i64,
    pub source: std::io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_inverts_the_offsets_exhaustively() {
        for sizes in [
            vec![],
            vec![0],
            vec![1],
            vec![3, 0, 2],
            vec![5, 1],
            vec![0, 0, 4],
        ] {
            let mut virtual_index = 0;
            for (position, &size) in sizes.iter().enumerate() {
                for i in 0..size {
                    assert_eq!(locate(virtual_index, &sizes), (position, i), "{sizes:?}");
                    virtual_index += 1;
                }
            }
            for i in 0..5 {
                assert_eq!(
                    locate(virtual_index + i, &sizes),
                    (sizes.len(), i),
                    "{sizes:?}"
                );
            }
        }
    }

    #[test]
    fn manifests_round_trip_and_bad_ones_are_named() {
        let m = Manifest {
            shards: vec![
                ShardRecord {
                    tree_id: 7,
                    db: "db".into(),
                    keys: None,
                },
                ShardRecord {
                    tree_id: 9,
                    db: "shards/9/db".into(),
                    keys: Some("shards/9/keys".into()),
                },
            ],
        };
        assert_eq!(Manifest::parse(&m.to_json()), Ok(m.clone()));
        let mut shared = m.clone();
        shared.shards.push(ShardRecord {
            tree_id: 11,
            db: "shards/11/db".into(),
            keys: Some("shards/9/keys".into()),
        });
        assert_eq!(shared.key_dirs().collect::<Vec<_>>(), ["shards/9/keys"]);
        assert_eq!(
            Manifest::parse(&Manifest::single(7).to_json()),
            Ok(Manifest::single(7))
        );
        let bad = |edit: &dyn Fn(&mut Manifest)| {
            let mut m = m.clone();
            edit(&mut m);
            Manifest::parse(&m.to_json()).unwrap_err()
        };
        assert_eq!(bad(&|m| m.shards.clear()), ManifestError::Empty);
        assert_eq!(bad(&|m| m.shards[1].tree_id = 7), ManifestError::TreeId(7));
        assert_eq!(bad(&|m| m.shards[0].tree_id = 0), ManifestError::TreeId(0));
        assert_eq!(
            bad(&|m| m.shards[0].tree_id = -3),
            ManifestError::TreeId(-3)
        );
        for path in ["", "/etc", "../db", "shards/../../x", "a//b", "./db"] {
            assert_eq!(
                bad(&|m| m.shards[1].keys = Some(path.into())),
                ManifestError::Path(path.into())
            );
            assert_eq!(
                bad(&|m| m.shards[0].db = path.into()),
                ManifestError::Path(path.into())
            );
        }
        for text in ["", "{}", "[]", r#"{"shards":[{"treeID":"1","db":"db"}]}"#] {
            assert!(
                matches!(
                    Manifest::parse(text.as_bytes()),
                    Err(ManifestError::Syntax(_))
                ),
                "{text}"
            );
        }
        assert!(matches!(
            Manifest::parse(br#"{"shards":[{"treeID":1,"db":"db","keys":null,"x":1}]}"#),
            Err(ManifestError::Syntax(_))
        ));
    }
}
