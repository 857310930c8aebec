//! The client's commands, a part of `arkivo`'s: keys, blobs, images, log queries and the
//! monitor. Each prints its report (text or JSON) and fails with a [`Failure`], whose exit code
//! the binary returns.

use clap::Subcommand;

use crate::commands::{self, Failure, blob, image, keygen, log, trust_root};
use crate::monitor;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a signing key pair: <prefix>.key (encrypted PKCS#8 unless the password is empty)
    /// and <prefix>.pub.
    Keygen(keygen::KeygenArgs),
    /// Sign a file, record the signature in the log (hashedrekord) and write a Sigstore bundle.
    SignBlob(blob::SignBlobArgs),
    /// Verify a file against its bundle offline: signature, entry, SET, checkpoint, inclusion.
    VerifyBlob(blob::VerifyBlobArgs),
    /// Attest a predicate about a file (an in-toto statement in DSSE, cosign's attest-blob),
    /// record it in the log and write a Sigstore bundle.
    AttestBlob(blob::AttestBlobArgs),
    /// Verify an attestation of a file against its bundle offline (cosign's
    /// verify-blob-attestation): DSSE signature, log entry, the statement's subject ↔ the file.
    VerifyBlobAttestation(blob::VerifyBlobAttestationArgs),
    /// Query the log; every answer is verified.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Print the Sigstore trusted root that points sigstore clients at the log.
    TrustRoot(trust_root::TrustRootArgs),
    /// Sign a container image by digest, record the signature in the log and attach it in the
    /// registry as cosign does.
    Sign(image::SignArgs),
    /// Verify an image's signatures: key, log entry, payload ↔ digest, annotations.
    Verify(image::VerifyArgs),
    /// Attest a predicate about an image (in-toto statement in DSSE), record and attach it.
    Attest(image::AttestArgs),
    /// Verify an image's attestations of one predicate type and print their statements.
    VerifyAttestation(image::VerifyAttestationArgs),
    /// Follow a Rekor v1 log: verify each new checkpoint and its consistency with the last one
    /// verified (kept in --state), report new entries of watched emails, keys and digests, and
    /// (with a trusted root listing the CA's CT log) new certificates of watched identities.
    /// Exit code 1 when the log misbehaved.
    Monitor(monitor::MonitorArgs),
}

/// Runs one of the client's commands.
///
/// # Errors
///
/// The command's [`Failure`], already reported.
pub fn run(command: ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Keygen(args) => keygen::keygen(&args),
        ClientCommand::SignBlob(args) => {
            commands::run(args.output, async || blob::sign_blob(&args).await)
        }
        ClientCommand::VerifyBlob(args) => {
            commands::run(args.output, async || blob::verify_blob(&args).await)
        }
        ClientCommand::AttestBlob(args) => {
            commands::run(args.output, async || blob::attest_blob(&args).await)
        }
        ClientCommand::VerifyBlobAttestation(args) => commands::run(args.output, async || {
            blob::verify_blob_attestation(&args).await
        }),
        ClientCommand::Log(command) => {
            commands::run(command.common().output, async || log::log(&command).await)
        }
        ClientCommand::TrustRoot(args) => commands::run(commands::Output::Text, async || {
            trust_root::trust_root(&args).await
        }),
        ClientCommand::Sign(args) => commands::run(args.output, async || image::sign(&args).await),
        ClientCommand::Verify(args) => {
            commands::run(args.common.output, async || image::verify(&args).await)
        }
        ClientCommand::Attest(args) => {
            commands::run(args.output, async || image::attest(&args).await)
        }
        ClientCommand::VerifyAttestation(args) => commands::run(args.common.output, async || {
            image::verify_attestation(&args).await
        }),
        ClientCommand::Monitor(args) => monitor::monitor(&args),
    }
}
