//! `arkivo keygen`: a signing key pair, the private key encrypted unless the password is empty.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Failure;
use crate::keys::{self, KeyAlgorithm, SigningKey};

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Signature algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub algorithm: KeyAlgorithm,
    /// Writes <PREFIX>.key (private, mode 0600) and <PREFIX>.pub; never overwrites.
    #[arg(long, default_value = "arkivo")]
    pub output_prefix: PathBuf,
}

pub fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let prefix = args.output_prefix.display().to_string();
    let key_path = PathBuf::from(format!("{prefix}.key"));
    let pub_path = PathBuf::from(format!("{prefix}.pub"));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(Failure::Input(format!(
                "{} already exists; nothing was written (choose another --output-prefix)",
                p.display()
            )));
        }
    }
    let password = keys::password_from_env_or_prompt(
        keys::ARKIVO_PASSWORD,
        "Enter a password for the private key (empty for none): ",
        true,
    )?;
    let key = SigningKey::generate(args.algorithm);
    let pem = key.to_pkcs8_pem(&password)?;
    write_new(&key_path, pem.as_bytes(), 0o600)?;
    write_new(&pub_path, key.public_key_pem().as_bytes(), 0o644)?;
    eprintln!(
        "wrote {} ({}, {}) and {}",
        key_path.display(),
        args.algorithm.name(),
        if password.is_empty() {
            "NOT encrypted: set ARKIVO_PASSWORD or type a password to encrypt it"
        } else {
            "encrypted"
        },
        pub_path.display()
    );
    Ok(())
}

/// Creates `path` (never replacing a file) with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Failure::Input(format!("creating {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::Input(format!("writing {}: {e}", path.display())))
}
