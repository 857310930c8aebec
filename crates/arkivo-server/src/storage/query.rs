//! Search-index queries (rekor-v1-api.md §10.2) over one store: a conjunction of clauses, each a
//! disjunction of index keys, answered newest first and cut only after intersecting.

use super::{LogStore, StorageError};

/// Rows read per key and step while paging through a clause.
const PAGE: usize = 1024;

/// The log indexes below `below` that match every clause (an entry matches a clause when it is
/// recorded under any of its keys), newest first, at most `limit` of them. An empty query
/// matches nothing.
///
/// The clause with the fewest rows in its first page drives the walk and the others are checked
/// row by row, so an `and` of a busy key and a rare digest costs about the rare digest's rows,
/// and an answer is only cut once `limit` entries matched them all.
pub fn newest_matches<S: LogStore + ?Sized>(
    store: &S,
    clauses: &[Vec<String>],
    below: u64,
    limit: usize,
) -> Result<Vec<u64>, StorageError> {
    let mut first_pages = Vec::with_capacity(clauses.len());
    for clause in clauses {
        first_pages.push(any_key(store, clause, below, PAGE)?);
    }
    let Some(driver) = (0..clauses.len()).min_by_key(|&c| first_pages[c].len()) else {
        return Ok(Vec::new());
    };
    let mut page = std::mem::take(&mut first_pages[driver]);
    let mut out = Vec::new();
    loop {
        for &index in &page {
            if out.len() == limit {
                return Ok(out);
            }
            if in_every_clause(store, clauses, driver, index)? {
                out.push(index);
            }
        }
        match page.last() {
            Some(&last) if page.len() == PAGE => {
                page = any_key(store, &clauses[driver], last, PAGE)?;
            }
            _ => return Ok(out),
        }
    }
}

/// The newest `limit` indexes below `below` recorded under any of `keys`, newest first.
fn any_key<S: LogStore + ?Sized>(
    store: &S,
    keys: &[String],
    below: u64,
    limit: usize,
) -> Result<Vec<u64>, StorageError> {
    let mut found = Vec::new();
    for key in keys {
        found.extend(store.search(key, below, limit)?);
    }
    found.sort_unstable_by(|a, b| b.cmp(a));
    found.dedup();
    found.truncate(limit);
    Ok(found)
}

fn in_every_clause<S: LogStore + ?Sized>(
    store: &S,
    clauses: &[Vec<String>],
    except: usize,
    index: u64,
) -> Result<bool, StorageError> {
    for (c, clause) in clauses.iter().enumerate() {
        if c == except {
            continue;
        }
        let mut any = false;
        for key in clause {
            if store.search_row_exists(key, index)? {
                any = true;
                break;
            }
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStore;
    use crate::storage::{CommitBatch, NewEntry, TreeHead};
    use arkivo_core::merkle::{self, Hash};

    /// A store whose entry `i` is recorded under `keys(i)`.
    fn store(n: u64, keys: impl Fn(u64) -> Vec<String>) -> MemoryStore {
        let store = MemoryStore::new();
        let entries: Vec<NewEntry> = (0..n)
            .map(|i| NewEntry {
                body: i.to_string().into_bytes(),
                leaf_hash: merkle::record_hash(i.to_string().as_bytes()),
                index_keys: keys(i),
            })
            .collect();
        let head = TreeHead {
            size: n,
            root: Hash([0; 32]),
            timestamp: 0,
            checkpoint_v1: String::new(),
            checkpoint_c2sp: String::new(),
        };
        store
            .commit(&CommitBatch {
                first_index: 0,
                integrated_time: 0,
                entries: &entries,
                sets: &[],
                hashes: &[],
                head: &head,
            })
            .unwrap();
        store
    }

    fn q(clauses: &[&[&str]]) -> Vec<Vec<String>> {
        clauses
            .iter()
            .map(|c| c.iter().map(|k| k.to_string()).collect())
            .collect()
    }

    #[test]
    fn newest_first_and_cut_at_the_limit() {
        let s = store(10, |_| vec!["k".into()]);
        assert_eq!(newest_matches(&s, &q(&[&["k"]]), 10, 3).unwrap(), [9, 8, 7]);
        // Rows at or beyond `below` (a batch being committed) are not answers.
        assert_eq!(newest_matches(&s, &q(&[&["k"]]), 2, 5).unwrap(), [1, 0]);
        assert!(newest_matches(&s, &q(&[]), 10, 5).unwrap().is_empty());
    }

    #[test]
    fn and_intersects_before_cutting() {
        // A busy key on every entry, a rare one on the oldest two: the busy key's newest
        // `limit` rows do not hold them, the intersection still does.
        let n = 3 * PAGE as u64;
        let s = store(n, |i| {
            let mut k = vec!["busy".to_string()];
            if i < 2 {
                k.push("rare".into());
            }
            k
        });
        assert_eq!(
            newest_matches(&s, &q(&[&["busy"], &["rare"]]), n, 3).unwrap(),
            [1, 0]
        );
        // The same with the busy key driving (both clauses as busy as each other).
        let s = store(n, |i| match i {
            0 | 1 => vec!["a".into(), "b".into()],
            i if i % 2 == 0 => vec!["a".into()],
            _ => vec!["b".into()],
        });
        assert_eq!(
            newest_matches(&s, &q(&[&["a"], &["b"]]), n, 3).unwrap(),
            [1, 0]
        );
        // A clause matches through any of its keys.
        assert_eq!(
            newest_matches(&s, &q(&[&["a", "b"]]), n, 2).unwrap(),
            [n - 1, n - 2]
        );
    }
}
