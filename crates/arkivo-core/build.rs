//! Generates the Rust types of `proto/` (prost) and their proto3 JSON mapping (pbjson), into
//! `$OUT_DIR/<package>.rs` and `$OUT_DIR/<package>.serde.rs`, included by `src/proto/mod.rs`.
//! protox compiles the `.proto` files in Rust, so no `protoc` is needed.
//!
//! The JSON omits defaults, as protojson does: what bundles carry and what the canonical body of
//! a Rekor v2 entry is made from (docs/tiles-checkpoints-witnesses.md §6.3).

use std::path::PathBuf;

/// The files compiled, relative to `proto/`; each imports only files of this list.
const PROTO_FILES: [&str; 7] = [
    "sigstore_common.proto",
    "sigstore_rekor.proto",
    "envelope.proto",
    "rekor/v2/verifier.proto",
    "rekor/v2/hashedrekord.proto",
    "rekor/v2/dsse.proto",
    "rekor/v2/entry.proto",
];

/// The protobuf packages of those files.
const PACKAGES: [&str; 4] = [
    ".dev.sigstore.common.v1",
    ".dev.sigstore.rekor.v1",
    ".dev.sigstore.rekor.v2",
    ".io.intoto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with env!(): cargo reuses a build script's binary across clones at
    // other paths (the fingerprint of a path package is relative to its workspace).
    let proto = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let files = protox::compile(PROTO_FILES, [&proto])?;
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(files.clone())?;

    let descriptors = prost::Message::encode_to_vec(&files);
    pbjson_build::Builder::new()
        .out_dir(&out)
        .register_descriptors(&descriptors)?
        .build(&PACKAGES)?;
    Ok(())
}
