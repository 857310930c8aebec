//! Arkivo: a private, Rekor-compatible transparency log.
