//! Base64 as Rekor (Go `encoding/base64`) reads and writes it (rekor-v1-api.md §5.1, §6.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Standard base64 with padding: the only form Arkivo ever writes.
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Which 64-character alphabet to decode with.
#[derive(Clone, Copy)]
pub(crate) enum Alphabet {
    /// RFC 4648 §4: `+` `/`.
    Standard,
    /// RFC 4648 §5: `-` `_`.
    UrlSafe,
}

fn value(alphabet: Alphabet, c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' if matches!(alphabet, Alphabet::Standard) => Some(62),
        b'/' if matches!(alphabet, Alphabet::Standard) => Some(63),
        b'-' if matches!(alphabet, Alphabet::UrlSafe) => Some(62),
        b'_' if matches!(alphabet, Alphabet::UrlSafe) => Some(63),
        _ => None,
    }
}

/// Decodes padded base64 the way Go's `base64.StdEncoding.Decode` (or `URLEncoding`) does: ASCII
/// CR and LF anywhere are ignored, padding is required, non-zero trailing bits are tolerated.
/// The error is Go's `illegal base64 data at input byte N`, N an offset into `src`.
pub(crate) fn decode_go(src: &[u8], alphabet: Alphabet) -> Result<Vec<u8>, String> {
    let corrupt = |at: usize| format!("illegal base64 data at input byte {at}");
    let is_nl = |c: u8| c == b'\n' || c == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3 + 3);
    let mut si = 0;
    loop {
        let mut quantum = [0u8; 4];
        let mut j = 0;
        let mut dlen = 4;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is required, so a short final quantum is always an error.
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = value(alphabet, c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if is_nl(c) {
                continue;
            }
            if c != b'=' {
                return Err(corrupt(si - 1));
            }
            // Padding: the quantum ends here.
            match j {
                0 | 1 => return Err(corrupt(si - 1)),
                2 => {
                    while si < src.len() && is_nl(src[si]) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(corrupt(src.len()));
                    }
                    if src[si] != b'=' {
                        return Err(corrupt(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && is_nl(src[si]) {
                si += 1;
            }
            if si < src.len() {
                return Err(corrupt(si));
            }
            dlen = j;
            break;
        }
        let n = (u32::from(quantum[0]) << 18)
            | (u32::from(quantum[1]) << 12)
            | (u32::from(quantum[2]) << 6)
            | u32::from(quantum[3]);
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..dlen]);
        if dlen < 4 {
            return Ok(out);
        }
    }
}

/// True if `s` is exactly what [`encode`] produces for some input: standard alphabet, padded,
/// no line breaks, zero trailing bits (the `signature` pattern of Rekor's dsse schema, made strict).
pub(crate) fn is_canonical_standard(s: &str) -> bool {
    match STANDARD.decode(s) {
        Ok(bytes) => encode(&bytes) == s,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std(s: &str) -> Result<Vec<u8>, String> {
        decode_go(s.as_bytes(), Alphabet::Standard)
    }

    #[test]
    fn decodes_like_go() {
        assert_eq!(std("").unwrap(), b"");
        assert_eq!(std("aGk=").unwrap(), b"hi");
        assert_eq!(std("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(std("aGVs\r\nbG8=\n").unwrap(), b"hello");
        assert_eq!(std("aG\nk\n=\n").unwrap(), b"hi");
        assert_eq!(std("YQ==").unwrap(), b"a");
        assert_eq!(std("YQ=\n=").unwrap(), b"a");
        // Non-zero trailing bits are tolerated, as in Go's non-strict mode.
        assert_eq!(std("YR==").unwrap(), b"a");
    }

    #[test]
    fn rejects_like_go() {
        assert_eq!(
            std("aGk").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            std("aGVsbG8").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            std("a-k=").unwrap_err(),
            "illegal base64 data at input byte 1"
        );
        assert_eq!(
            std("a_k=").unwrap_err(),
            "illegal base64 data at input byte 1"
        );
        assert_eq!(
            std("aGk=aGk=").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            std("Y===").unwrap_err(),
            "illegal base64 data at input byte 1"
        );
        assert_eq!(
            std("YQ=").unwrap_err(),
            "illegal base64 data at input byte 3"
        );
        assert_eq!(
            std("YQ=x").unwrap_err(),
            "illegal base64 data at input byte 2"
        );
        assert_eq!(
            std("aG k=").unwrap_err(),
            "illegal base64 data at input byte 2"
        );
        assert_eq!(
            decode_go(b"a-k=", Alphabet::UrlSafe).unwrap(),
            std("a+k=").unwrap()
        );
    }

    #[test]
    fn canonical_standard() {
        assert!(is_canonical_standard("aGk="));
        assert!(is_canonical_standard(""));
        assert!(!is_canonical_standard("aGk"));
        assert!(!is_canonical_standard("aG\nk="));
        assert!(!is_canonical_standard("YR=="));
        assert!(!is_canonical_standard("-_8="));
    }
}
