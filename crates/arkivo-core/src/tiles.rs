//! C2SP tlog-tiles (c2sp.org/tlog-tiles; `docs/tiles-checkpoints-witnesses.md` §4): tile
//! coordinates and their paths (§4.3), which stored hashes make up a tile (§4.4), entry bundles
//! (§4.5), and a [`HashReader`] over fetched tiles, so that a client builds roots and proofs
//! from tiles with the same [`merkle`] code the server uses (§4.8).
//!
//! What this module is not: no HTTP (`api::tiles` serves the tiles), no storage, and no idea of
//! what a log has published — callers pass the tree size a tile must belong to. Bytes and
//! coordinates in, values out; nothing here panics on request input.
//!
//! A tile at level `L`, index `N` and width `W` holds the `W` hashes of Merkle level `8·L`,
//! nodes `256·N … 256·N + W − 1`. Each is the root of a complete subtree, so each is one stored
//! hash of the sumdb layout ([`merkle::stored_hash_index`]): the server reads a tile with one
//! multi-read and computes nothing.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use crate::merkle::{self, HASH_SIZE, Hash, HashReader, MerkleError, RightBorder};

/// Hashes in a full tile (§4.4): a tile is the bottom row of a height-8 subtree.
pub const TILE_WIDTH: u16 = 256;

/// Merkle levels between two tile rows: the hashes of tile level `L` are Merkle level `8·L`.
pub const TILE_HEIGHT: u8 = 8;

/// Highest tile level a path may name (§4.3: `<L>` is 0..63). Trees of at most 2^62 records
/// ([`merkle::MAX_TREE_SIZE`]) only ever have hashes at levels 0..7.
pub const MAX_TILE_LEVEL: u8 = 63;

/// Largest entry an entry bundle can carry: each entry is prefixed by its length as a
/// big-endian `uint16` (§4.5).
pub const MAX_BUNDLE_ENTRY_BYTES: usize = u16::MAX as usize;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A path that is not the canonical form of §4.3 (the text says which rule it breaks).
    #[error("malformed tile path: {0}")]
    MalformedPath(&'static str),
    /// Coordinates no path can name: level above 63, width 0 or above 256.
    #[error("no tile has level {level} and width {width}")]
    BadCoordinates { level: u8, width: u16 },
    /// The tile needs hashes (or entries) past the end of the tree.
    #[error("the tile is beyond the tree of size {size}")]
    NotInTree { size: u64 },
    /// Tile data whose length is not the width times 32 bytes.
    #[error("tile data of {len} bytes is not {width} hashes")]
    WrongTileSize { len: usize, width: u16 },
    /// An entry too long for its `uint16` length prefix.
    #[error(
        "entry {index} is {len} bytes, more than the {max} an entry bundle can carry",
        max = MAX_BUNDLE_ENTRY_BYTES
    )]
    EntryTooLarge { index: u64, len: usize },
    /// An entry bundle whose last length prefix runs past its end.
    #[error("malformed entry bundle: entry {entry} is truncated")]
    TruncatedBundle { entry: usize },
}

/// The coordinates of a tile: level `L`, index `N` in that level, width `W` (1..=256; 256 is a
/// full tile, anything less a partial one at the right edge of the tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

impl Tile {
    /// The tile at level `level`, index `index`, of width `width`.
    ///
    /// # Errors
    /// [`TileError::BadCoordinates`] for a level above [`MAX_TILE_LEVEL`] or a width outside
    /// 1..=256.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Tile, TileError> {
        if level > MAX_TILE_LEVEL || width == 0 || width > TILE_WIDTH {
            return Err(TileError::BadCoordinates { level, width });
        }
        Ok(Tile {
            level,
            index,
            width,
        })
    }

    #[must_use]
    pub fn level(&self) -> u8 {
        self.level
    }

    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    #[must_use]
    pub fn width(&self) -> u16 {
        self.width
    }

    #[must_use]
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// Whether a tree of `tree_size` records has every hash of this tile: its last node,
    /// `256·N + W − 1` at Merkle level `8·L`, is complete (§4.4). A partial tile narrower than
    /// the tree's is included: its hashes are a prefix of the wider tile's.
    #[must_use]
    pub fn is_in_tree(&self, tree_size: u64) -> bool {
        let end = u128::from(self.index) * u128::from(TILE_WIDTH) + u128::from(self.width);
        end <= u128::from(level_hash_count(tree_size, self.level))
    }

    fn check_in_tree(&self, tree_size: u64) -> Result<(), TileError> {
        if self.is_in_tree(tree_size) {
            Ok(())
        } else {
            Err(TileError::NotInTree { size: tree_size })
        }
    }

    /// The stored-hash indexes of this tile's hashes, in tile order: Merkle level `8·L`, nodes
    /// `256·N + i` for `i < W` (§4.4). Every one is a complete subtree, so it is stored.
    ///
    /// # Errors
    /// [`TileError::NotInTree`] unless [`is_in_tree`](Self::is_in_tree)`(tree_size)`.
    pub fn stored_hash_indexes(&self, tree_size: u64) -> Result<Vec<u64>, TileError> {
        self.check_in_tree(tree_size)?;
        // In the tree, so 8·L < 64 and 256·N + W fits a u64.
        let level = self.level * TILE_HEIGHT;
        let first = self.index * u64::from(TILE_WIDTH);
        Ok((first..first + u64::from(self.width))
            .map(|n| merkle::stored_hash_index(level, n))
            .collect())
    }

    /// The records whose hashes this tile's hashes cover (§4.4): for a level-0 tile, the log
    /// indexes of the entries of its entry bundle (§4.5).
    ///
    /// # Errors
    /// [`TileError::NotInTree`] unless [`is_in_tree`](Self::is_in_tree)`(tree_size)`.
    pub fn record_range(&self, tree_size: u64) -> Result<Range<u64>, TileError> {
        self.check_in_tree(tree_size)?;
        let shift = u32::from(self.level * TILE_HEIGHT);
        let first = self.index * u64::from(TILE_WIDTH);
        Ok(first << shift..(first + u64::from(self.width)) << shift)
    }
}

/// The number of complete hashes at tile level `level` (Merkle level `8·level`) in a tree of
/// `tree_size` records: `floor(size / 256^level)` (§4.4). Level `level` then has `count / 256`
/// full tiles and a partial tile of width `count mod 256` (none if 0).
#[must_use]
pub fn level_hash_count(tree_size: u64, level: u8) -> u64 {
    tree_size
        .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// A tile resource named by a path of §4.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`: a hash tile.
    Hashes(Tile),
    /// `tile/entries/<N>[.p/<W>]`: the entry bundle of level-0 tile `N` ([`TilePath::parse`]
    /// always gives level 0).
    Entries(Tile),
    /// `tile/data/<N>[.p/<W>]`: the data tile of level-0 tile `N` of a static-ct-api log
    /// (c2sp.org/static-ct-api "Log entries"): its `TileLeaf`s, concatenated.
    Data(Tile),
}

impl TilePath {
    /// The tile (for an entry bundle, the level-0 tile its entries hash to).
    #[must_use]
    pub fn tile(&self) -> Tile {
        match self {
            TilePath::Hashes(t) | TilePath::Entries(t) | TilePath::Data(t) => *t,
        }
    }

    /// Parses a path relative to the log's prefix, `tile/…` with no leading slash, accepting
    /// only the canonical form of §4.3: `<L>` decimal 0..63 without leading zeros; `<N>` in
    /// groups of exactly three digits, all but the last prefixed with `x`, no leading `x000`
    /// group, value within a u64; `<W>` decimal 1..255 without leading zeros. So every tile has
    /// exactly one path, and a cache never holds two copies of it.
    ///
    /// # Errors
    /// [`TileError::MalformedPath`] naming the rule broken.
    pub fn parse(path: &str) -> Result<TilePath, TileError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or(TileError::MalformedPath("does not start with tile/"))?;
        let (level, rest) = rest
            .split_once('/')
            .ok_or(TileError::MalformedPath("no tile index"))?;
        let (index, width) = parse_index_and_width(rest)?;
        let level0 = Tile {
            level: 0,
            index,
            width,
        };
        match level {
            "entries" => return Ok(TilePath::Entries(level0)),
            "data" => return Ok(TilePath::Data(level0)),
            _ => {}
        }
        let level = parse_decimal(level)
            .and_then(|l| u8::try_from(l).ok())
            .filter(|&l| l <= MAX_TILE_LEVEL)
            .ok_or(TileError::MalformedPath(
                "the level is not entries, data or 0..63 without leading zeros",
            ))?;
        Ok(TilePath::Hashes(Tile {
            level,
            index,
            width,
        }))
    }
}

/// The path of §4.3: `tile/<L>/<N>`, `tile/entries/<N>` or `tile/data/<N>`, with `.p/<W>` for a partial tile.
impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tile = self.tile();
        match self {
            TilePath::Hashes(_) => write!(f, "tile/{}/", tile.level)?,
            TilePath::Entries(_) => f.write_str("tile/entries/")?,
            TilePath::Data(_) => f.write_str("tile/data/")?,
        }
        f.write_str(&encode_index(tile.index))?;
        if !tile.is_full() {
            write!(f, ".p/{}", tile.width)?;
        }
        Ok(())
    }
}

/// The `<N>` path element of §4.3: groups of three zero-padded digits, most significant first,
/// all but the last prefixed with `x` (`1234067` → `x001/x234/067`), so that no path is both a
/// file and a directory when the tiles are stored as files.
#[must_use]
pub fn encode_index(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let last = groups.remove(0);
    let mut out: String = groups.iter().rev().map(|g| format!("x{g:03}/")).collect();
    out.push_str(&format!("{last:03}"));
    out
}

/// `<N>[.p/<W>]` → (N, W), W = 256 for a full tile.
fn parse_index_and_width(s: &str) -> Result<(u64, u16), TileError> {
    let (index, width) = match s.split_once(".p/") {
        Some((index, width)) => {
            let width = parse_decimal(width)
                .filter(|w| (1..u64::from(TILE_WIDTH)).contains(w))
                .ok_or(TileError::MalformedPath(
                    "the width is not 1..255 without leading zeros",
                ))?;
            (index, width as u16)
        }
        None => (s, TILE_WIDTH),
    };
    let mut groups = index.split('/').peekable();
    let mut n: u64 = 0;
    let mut first = true;
    while let Some(group) = groups.next() {
        let last = groups.peek().is_none();
        let digits = if last {
            group
        } else {
            group.strip_prefix('x').ok_or(TileError::MalformedPath(
                "an index element other than the last does not start with x",
            ))?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TileError::MalformedPath(
                "an index element is not three decimal digits",
            ));
        }
        if first && !last && digits == "000" {
            return Err(TileError::MalformedPath("the index has a leading x000"));
        }
        first = false;
        let value = digits.bytes().fold(0, |v, b| v * 10 + u64::from(b - b'0'));
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or(TileError::MalformedPath(
                "the index does not fit in 64 bits",
            ))?;
    }
    Ok((n, width))
}

/// A decimal number without sign or leading zeros ("0" itself is fine).
fn parse_decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    s.parse().ok().filter(|_| canonical)
}

/// A tile's bytes: its hashes, concatenated (§4.4; 8,192 bytes for a full tile).
#[must_use]
pub fn encode_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(Hash::as_bytes).copied().collect()
}

/// The hashes of a tile of `width` from its bytes.
///
/// # Errors
/// [`TileError::WrongTileSize`] unless `data` is exactly `width` × 32 bytes.
pub fn decode_tile(data: &[u8], width: u16) -> Result<Vec<Hash>, TileError> {
    if data.len() != usize::from(width) * HASH_SIZE {
        return Err(TileError::WrongTileSize {
            len: data.len(),
            width,
        });
    }
    Ok(data
        .chunks_exact(HASH_SIZE)
        .filter_map(Hash::from_slice)
        .collect())
}

/// An entry bundle (§4.5): each entry as a big-endian `uint16` length, then its bytes. Entry
/// `k` of bundle `N` hashes ([`merkle::record_hash`]) to hash `k` of level-0 tile `N`.
/// `first_index` is the log index of the first entry, for the error.
///
/// # Errors
/// [`TileError::EntryTooLarge`] for an entry over [`MAX_BUNDLE_ENTRY_BYTES`].
pub fn encode_entry_bundle<'a>(
    first_index: u64,
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for (index, entry) in (first_index..).zip(entries) {
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            len: entry.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// The entries of an entry bundle, in order.
///
/// # Errors
/// [`TileError::TruncatedBundle`] when a length prefix or an entry runs past the end.
pub fn decode_entry_bundle(data: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let truncated = TileError::TruncatedBundle {
            entry: entries.len(),
        };
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(truncated);
        };
        let Some((entry, tail)) = tail.split_at_checked(usize::from(u16::from_be_bytes(*len)))
        else {
            return Err(truncated);
        };
        entries.push(entry);
        rest = tail;
    }
    Ok(entries)
}

/// Tiles a client fetched, as a [`HashReader`], so that [`merkle::tree_hash`],
/// [`merkle::inclusion_proof`] and [`merkle::consistency_proof`] work from tiles (§4.8).
///
/// A node at Merkle height `h` and index `x` is computed from the level-`8·floor(h/8)` hashes
/// `x·2^r … (x+1)·2^r − 1` (`r = h mod 8`), which lie in one tile since `2^r` divides 256. A
/// missing tile is a [`MerkleError::Storage`] naming the tile (path and least width) to fetch.
#[derive(Clone, Debug, Default)]
pub struct TileSet {
    /// Hashes by (level, index); the widest tile seen for each.
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl TileSet {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tile from its bytes; a narrower tile than one already held is ignored (its
    /// hashes are a prefix of the wider one's).
    ///
    /// # Errors
    /// [`TileError::WrongTileSize`].
    pub fn insert(&mut self, tile: Tile, data: &[u8]) -> Result<(), TileError> {
        let hashes = decode_tile(data, tile.width)?;
        let held = self.tiles.entry((tile.level, tile.index)).or_default();
        if hashes.len() > held.len() {
            *held = hashes;
        }
        Ok(())
    }

    fn node(&self, stored_index: u64) -> Result<Hash, MerkleError> {
        let (height, x) = merkle::split_stored_hash_index(stored_index);
        let (level, r) = (height / TILE_HEIGHT, u32::from(height % TILE_HEIGHT));
        let first = x
            .checked_shl(r)
            .filter(|f| f >> r == x)
            .ok_or_else(|| MerkleError::Storage(format!("node ({height}, {x}) is too large")))?;
        let tile_index = first / u64::from(TILE_WIDTH);
        let offset = (first % u64::from(TILE_WIDTH)) as usize;
        let count = 1usize << r;
        let hashes = self
            .tiles
            .get(&(level, tile_index))
            .and_then(|t| t.get(offset..offset + count))
            .ok_or_else(|| {
                let path = Tile::new(level, tile_index, TILE_WIDTH)
                    .map(|t| TilePath::Hashes(t).to_string())
                    .unwrap_or_default();
                MerkleError::Storage(format!("needs {path} of width at least {}", offset + count))
            })?;
        // The node is the root of the perfect subtree over these hashes: fold them as a tree
        // of their own (the right border of 2^r "leaves" is a single node).
        let mut border = RightBorder::empty();
        for h in hashes {
            let _completed = border.append(*h);
        }
        Ok(border.root())
    }
}

impl HashReader for TileSet {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes.iter().map(|&i| self.node(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(level: u8, index: u64, width: u16) -> Tile {
        Tile::new(level, index, width).unwrap()
    }

    #[test]
    fn paths_round_trip() {
        for (path, want) in [
            ("tile/0/000", TilePath::Hashes(tile(0, 0, 256))),
            ("tile/2/000.p/1", TilePath::Hashes(tile(2, 0, 1))),
            (
                "tile/63/x001/000.p/255",
                TilePath::Hashes(tile(63, 1000, 255)),
            ),
            ("tile/entries/003", TilePath::Entries(tile(0, 3, 256))),
            (
                "tile/entries/x018/x446/x744/x073/x709/x551/615.p/7",
                TilePath::Entries(tile(0, u64::MAX, 7)),
            ),
        ] {
            assert_eq!(TilePath::parse(path), Ok(want), "{path}");
            assert_eq!(want.to_string(), path);
        }
    }

    #[test]
    fn tiles_cover_their_stored_hashes_and_records() {
        // Level 1, tile 0: Merkle level 8, nodes 0..W, each covering 256 records.
        let t = tile(1, 0, 2);
        assert!(!t.is_in_tree(511));
        assert!(t.is_in_tree(512));
        assert_eq!(t.record_range(512), Ok(0..512));
        assert_eq!(
            t.stored_hash_indexes(512),
            Ok(vec![
                merkle::stored_hash_index(8, 0),
                merkle::stored_hash_index(8, 1)
            ])
        );
        assert_eq!(
            t.stored_hash_indexes(511),
            Err(TileError::NotInTree { size: 511 })
        );
        assert_eq!(tile(0, 1, 44).record_range(300), Ok(256..300));
        // No tree holds a level-8 tile, or an index whose nodes overflow.
        assert!(!tile(8, 0, 1).is_in_tree(u64::MAX));
        assert!(!tile(63, 0, 1).is_in_tree(u64::MAX));
        assert!(!tile(0, u64::MAX, 256).is_in_tree(u64::MAX));
        assert_eq!(level_hash_count(u64::MAX, 7), 255);
        assert_eq!(level_hash_count(u64::MAX, 8), 0);
        assert_eq!(level_hash_count(u64::MAX, 255), 0);
        assert!(Tile::new(64, 0, 1).is_err());
        assert!(Tile::new(0, 0, 0).is_err());
        assert!(Tile::new(0, 0, 257).is_err());
    }

    #[test]
    fn entry_bundles() {
        let entries: [&[u8]; 3] = [b"a", b"", b"record 2"];
        let bundle = encode_entry_bundle(0, entries).unwrap();
        assert_eq!(bundle, b"\x00\x01a\x00\x00\x00\x08record 2");
        assert_eq!(decode_entry_bundle(&bundle).unwrap(), entries);
        assert_eq!(
            decode_entry_bundle(&bundle[..bundle.len() - 1]),
            Err(TileError::TruncatedBundle { entry: 2 })
        );
        assert_eq!(
            decode_entry_bundle(b"\x00"),
            Err(TileError::TruncatedBundle { entry: 0 })
        );
        let max = vec![0u8; MAX_BUNDLE_ENTRY_BYTES];
        assert!(encode_entry_bundle(0, [max.as_slice()]).is_ok());
        let over = vec![0u8; MAX_BUNDLE_ENTRY_BYTES + 1];
        assert_eq!(
            encode_entry_bundle(5, [b"x".as_slice(), over.as_slice()]),
            Err(TileError::EntryTooLarge {
                index: 6,
                len: 65536
            })
        );
    }

    #[test]
    fn tile_data() {
        let hashes = [Hash([1; 32]), Hash([2; 32])];
        let data = encode_tile(&hashes);
        assert_eq!(data.len(), 64);
        assert_eq!(decode_tile(&data, 2).unwrap(), hashes);
        assert_eq!(
            decode_tile(&data, 3),
            Err(TileError::WrongTileSize { len: 64, width: 3 })
        );
        assert!(decode_tile(&data[1..], 2).is_err());
    }

    #[test]
    fn tile_set_names_the_missing_tile() {
        let mut set = TileSet::new();
        let leaves: Vec<Hash> = (0..10u8).map(|i| merkle::record_hash(&[i])).collect();
        set.insert(tile(0, 0, 3), &encode_tile(&leaves[..3]))
            .unwrap();
        // A narrower tile does not replace a wider one.
        set.insert(tile(0, 0, 10), &encode_tile(&leaves)).unwrap();
        set.insert(tile(0, 0, 2), &encode_tile(&leaves[..2]))
            .unwrap();
        let stored: Vec<Hash> = {
            let mut border = RightBorder::empty();
            leaves
                .iter()
                .flat_map(|l| border.append(*l).into_iter().map(|(_, h)| h))
                .collect()
        };
        for size in 1..=10 {
            assert_eq!(
                merkle::tree_hash(size, &set),
                merkle::tree_hash(size, &stored)
            );
        }
        let err = merkle::tree_hash(11, &set).unwrap_err();
        assert_eq!(
            err,
            MerkleError::Storage("needs tile/0/000 of width at least 11".into())
        );
        let err = set
            .read_hashes(&[merkle::stored_hash_index(8, 0)])
            .unwrap_err();
        assert_eq!(
            err,
            MerkleError::Storage("needs tile/1/000 of width at least 1".into())
        );
    }
}
