//! An add-entries body as a mirror reads it in push mode (c2sp.org/tlog-mirror "add-entries"):
//! any bytes. The header and package parsers never panic, never read past what they say they
//! consumed (a package re-encodes to exactly its bytes), and verifying a parsed package against
//! any pending checkpoint never panics.
#![no_main]

use arkivo_core::merkle::{self, Hash};
use arkivo_core::mirror::{AddEntriesHeader, EntryPackage, entry_packages};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some((header, mut at))) = AddEntriesHeader::parse(data) else {
        return;
    };
    assert!(header.upload_start <= header.upload_end);
    let held = vec![merkle::record_hash(b"held"); 256];
    for range in entry_packages(header.upload_start, header.upload_end).take(64) {
        assert!(merkle::is_valid_subtree(range.subtree_start, range.end));
        let Ok(Some((package, len))) = EntryPackage::parse(&data[at..], range) else {
            return;
        };
        let mut encoded = Vec::new();
        for e in &package.entries {
            encoded.extend(u16::try_from(e.len()).unwrap().to_be_bytes());
            encoded.extend(e);
        }
        encoded.push(u8::try_from(package.proof.len()).unwrap());
        for h in &package.proof {
            encoded.extend(h.as_bytes());
        }
        assert_eq!(encoded, &data[at..at + len]);
        assert_eq!(package.entries.len() as u64, range.end - range.start);
        let before = usize::try_from(range.start - range.subtree_start).unwrap();
        let root = Hash([0; 32]);
        let _ = package.verify(range, &held[..before], header.upload_end, &root);
        at += len;
    }
});
