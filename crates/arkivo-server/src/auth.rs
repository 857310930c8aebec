//! Who may write: bearer tokens whose SHA-256 digests are listed in a file (`--write-tokens`),
//! and, over TLS, clients presenting a certificate issued by a configured CA (`--tls-client-ca`).
//!
//! The file holds digests, never tokens, so that it is no secret: a leaked copy lets nobody
//! write. A presented token is hashed and its digest compared with each listed one in constant
//! time. Reads stay public: a client certificate is asked for but not required.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The accepted write tokens, as SHA-256 digests.
#[derive(Clone, Debug)]
pub struct WriteTokens {
    digests: Vec<[u8; 32]>,
}

/// Marks a request that came over a TLS connection whose client presented a certificate that
/// chains to the configured client CA (rustls verified it during the handshake).
#[derive(Clone, Copy, Debug)]
pub struct VerifiedClientCertificate;

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header (HTTP 401).
    Missing,
    /// A token that is not accepted (HTTP 403).
    Refused,
}

impl WriteTokens {
    /// Parses a token file: one lowercase or uppercase hex SHA-256 digest per line; blank lines
    /// and lines starting with `#` are ignored.
    pub fn parse(text: &str) -> Result<WriteTokens, String> {
        let mut digests = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut d = [0u8; 32];
            hex::decode_to_slice(line, &mut d).map_err(|_| {
                format!(
                    "line {}: expected the 64-hex SHA-256 digest of a token (see `arkivo token new`)",
                    n + 1
                )
            })?;
            digests.push(d);
        }
        if digests.is_empty() {
            return Err("no token digests: every write would be refused".into());
        }
        Ok(WriteTokens { digests })
    }

    pub fn from_file(path: &Path) -> anyhow::Result<WriteTokens> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the write tokens file {}", path.display()))?;
        WriteTokens::parse(&text)
            .map_err(|e| anyhow::anyhow!("write tokens file {}: {e}", path.display()))
    }

    /// How many of `new`'s digests are not in `self` (added), and of `self`'s not in `new`
    /// (removed).
    pub fn changes_to(&self, new: &WriteTokens) -> (usize, usize) {
        let added = new
            .digests
            .iter()
            .filter(|d| !self.digests.contains(d))
            .count();
        let removed = self
            .digests
            .iter()
            .filter(|d| !new.digests.contains(d))
            .count();
        (added, removed)
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), AuthError> {
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
        let token = authorization
            .and_then(|h| h.split_at_checked(7))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"Bearer "))
            .map(|(_, token)| token.trim_ascii())
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let digest: [u8; 32] = Sha256::digest(token).into();
        // Compare with every digest, without stopping early, each in constant time.
        let mut accepted = false;
        for d in &self.digests {
            accepted |= aws_lc_rs::constant_time::verify_slices_are_equal(d, &digest).is_ok();
        }
        if accepted {
            Ok(())
        } else {
            Err(AuthError::Refused)
        }
    }
}

/// Re-reads the write tokens file at every SIGHUP, so that tokens are added and revoked without a
/// restart; a file that cannot be read or parsed keeps the tokens accepted before.
pub async fn reload_on_sighup(path: PathBuf, tokens: Arc<RwLock<WriteTokens>>) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("no SIGHUP handler, so the write tokens are never reloaded: {e}");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let read = WriteTokens::from_file(&path);
        let mut accepted = tokens.write().unwrap_or_else(|e| e.into_inner());
        match read {
            Ok(new) => {
                let (added, removed) = accepted.changes_to(&new);
                *accepted = new;
                crate::logging::notice!(
                    "reloaded the write tokens from {}: {added} added, {removed} removed, {} \
                     accepted",
                    path.display(),
                    accepted.len()
                );
            }
            Err(e) => tracing::warn!(
                "reloading the write tokens: {e:#}; keeping the {} accepted before",
                accepted.len()
            ),
        }
    }
}

/// A fresh random token (256 bits, base64url) and the digest line that accepts it.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    (token, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_digest() {
        let (token, digest) = new_token();
        let (other, _) = new_token();
        let tokens =
            WriteTokens::parse(&format!("# CI\n\n{digest}\n{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens.check(Some(format!("Bearer {token}").as_bytes())),
            Ok(())
        );
        assert_eq!(
            tokens.check(Some(format!("Bearer  {token} ").as_bytes())),
            Ok(())
        );
        // The scheme is case-insensitive (RFC 9110 §11.1).
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                tokens.check(Some(format!("{scheme} {token}").as_bytes())),
                Ok(()),
                "{scheme}"
            );
        }
        assert_eq!(
            tokens.check(Some(format!("Bearer{token}").as_bytes())),
            Err(AuthError::Missing)
        );
        assert_eq!(
            tokens.check(Some(format!("Bearer {other}").as_bytes())),
            Err(AuthError::Refused)
        );
        assert_eq!(
            tokens.check(Some(digest.as_bytes())),
            Err(AuthError::Missing)
        );
        assert_eq!(tokens.check(Some(b"Bearer ")), Err(AuthError::Missing));
        assert_eq!(
            tokens.check(Some(format!("Basic {token}").as_bytes())),
            Err(AuthError::Missing)
        );
        assert_eq!(tokens.check(None), Err(AuthError::Missing));
        // The digest itself is not a token.
        assert_eq!(
            tokens.check(Some(format!("Bearer {digest}").as_bytes())),
            Err(AuthError::Refused)
        );
    }

    #[test]
    fn bad_token_files_are_refused_with_the_line() {
        assert!(
            WriteTokens::parse("")
                .unwrap_err()
                .contains("no token digests")
        );
        assert!(WriteTokens::parse("# only a comment\n").is_err());
        let e = WriteTokens::parse(&format!("{}\nplaintext-token\n", "ab".repeat(32))).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
