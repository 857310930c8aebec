//! `arkivo trust-root`: the Sigstore trusted root the log serves, cut down to the log keys, CA
//! roots, CT log keys and TSA roots the operator pinned.

use std::path::PathBuf;

use clap::Args;

use super::{Failure, RekorUrl, Report, log_out_of_spec, pretty, read_text};
use crate::keys;
use crate::rekor::RekorClient;
use crate::trust;
use arkivo_core::entries::pki::pem_blocks;
use arkivo_core::wire::TrustedRoot;

#[derive(Debug, Args)]
pub struct TrustRootArgs {
    #[command(flatten)]
    pub rekor: RekorUrl,
    /// A log key (PEM) obtained out of band; repeat it for each key of a rotated log (and for
    /// the Ed25519 checkpoint keys Rekor v2 clients use). The root printed lists only these
    /// keys' logs; every other log, certificate authority, CT log and timestamp authority the
    /// server lists is dropped.
    #[arg(long = "log-key")]
    pub log_keys: Vec<PathBuf>,
    /// The root certificate (PEM) of a certificate authority to keep, obtained out of band
    /// (the CA's ca-chain.pem ends with it): the served certificate authority whose chain ends
    /// in it is kept, for keyless verification. Repeatable.
    #[arg(long = "ca-root")]
    pub ca_roots: Vec<PathBuf>,
    /// The key (PEM) of the CA's CT log, obtained out of band: the served CT log with it is
    /// kept, so that verifiers check certificates' SCTs. Repeatable.
    #[arg(long = "ct-log-key")]
    pub ct_log_keys: Vec<PathBuf>,
    /// The root certificate (PEM) of a timestamp authority to keep, obtained out of band (the
    /// last certificate of the TSA's chain, GET /api/v1/timestamp/certchain): the served
    /// timestamp authority whose chain ends in it and is a valid TSA chain is kept, for
    /// verifying the RFC 3161 timestamps of Rekor v2 bundles. Repeatable.
    #[arg(long = "tsa-root")]
    pub tsa_roots: Vec<PathBuf>,
}

/// The DER of a file holding one PEM certificate (`what` names it in errors).
fn one_certificate(path: &std::path::Path, what: &str) -> Result<Vec<u8>, Failure> {
    let pem = read_text(path, what)?;
    match pem_blocks(pem.as_bytes()).as_deref() {
        Ok([(label, der)]) if label == "CERTIFICATE" => Ok(der.clone()),
        _ => Err(Failure::Input(format!(
            "{what} {} is not one PEM certificate",
            path.display()
        ))),
    }
}

pub async fn trust_root(args: &TrustRootArgs) -> Result<Report, Failure> {
    let client = RekorClient::new(&args.rekor.url)?;
    let served: TrustedRoot = serde_json::from_value(client.trusted_root().await?)
        .map_err(|e| log_out_of_spec(format!("the log's trusted root: {e}")))?;
    let mut pinned = Vec::new();
    for path in &args.log_keys {
        let what = format!("the log key {}", path.display());
        let pem = read_text(path, "the log key")?;
        pinned.push(keys::parse_public_key(&pem, &what)?.spki_der().to_vec());
    }
    if pinned.is_empty() {
        let pem = client.public_key(None).await?;
        eprintln!(
            "note: not pinned: the root lists only the key the log serves now; pass --log-key \
             (once per key) to pin keys obtained out of band"
        );
        pinned.push(
            keys::parse_public_key(&pem, "the key served by the log")
                .map_err(log_out_of_spec)?
                .spki_der()
                .to_vec(),
        );
    }
    let ca_roots = (args.ca_roots.iter())
        .map(|p| one_certificate(p, "the CA root"))
        .collect::<Result<_, _>>()?;
    let tsa_roots = (args.tsa_roots.iter())
        .map(|p| one_certificate(p, "the TSA root"))
        .collect::<Result<_, _>>()?;
    let mut ct_logs = Vec::new();
    for path in &args.ct_log_keys {
        let what = format!("the CT log key {}", path.display());
        let pem = read_text(path, "the CT log key")?;
        ct_logs.push(keys::parse_public_key(&pem, &what)?.spki_der().to_vec());
    }
    let pins = trust::Pins {
        logs: pinned,
        ca_roots,
        ct_logs,
        tsa_roots,
    };
    let (root, dropped) = trust::pinned_root(&served, &pins, "the log's trusted root")
        .map_err(|e| Failure::Verification(e.to_string()))?;
    for line in dropped {
        eprintln!("note: {line}");
    }
    let bytes = serde_json::to_vec(&root).expect("wire types serialize");
    trust::logs_from_trusted_root(&bytes, "the log's trusted root")
        .map_err(|e| log_out_of_spec(e.to_string()))?;
    let json = serde_json::to_value(&root).expect("wire types serialize");
    let text = format!("{}\n", pretty(&json));
    Ok(Report { text, json })
}
