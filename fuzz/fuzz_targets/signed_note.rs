//! A signed note or checkpoint from outside (a witness's cosigned checkpoint, a client's): any
//! bytes. Parsing must never panic; what parses formats back to a note that parses the same, and
//! a checkpoint body parses to a checkpoint whose text parses back to it.
#![no_main]

use arkivo_core::checkpoint::Checkpoint;
use arkivo_core::note;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = note::parse(data) {
        let formatted = note::format(&parsed).expect("a parsed note formats");
        assert_eq!(note::parse(formatted.as_bytes()).as_ref(), Ok(&parsed));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cp) = Checkpoint::parse(text)
    {
        assert_eq!(Checkpoint::parse(&cp.to_text()).as_ref(), Ok(&cp));
    }
});
