//! `arkivo trust-root`: the Sigstore trusted root the log serves, checked against the pinned log key.

use std::path::PathBuf;

use clap::Args;

use super::{Failure, RekorUrl, Report, log_out_of_spec, pretty, read_text};
use crate::rekor::RekorClient;
use crate::trust::{self, TrustedLog};

#[derive(Debug, Args)]
pub struct TrustRootArgs {
    #[command(flatten)]
    pub rekor: RekorUrl,
    /// Check that the trusted root lists this log key (PEM), e.g. one obtained out of band.
    #[arg(long = "log-key")]
    pub log_key: Option<PathBuf>,
}

pub async fn trust_root(args: &TrustRootArgs) -> Result<Report, Failure> {
    let client = RekorClient::new(&args.rekor.url)?;
    let root = client.trusted_root().await?;
    let bytes = serde_json::to_vec(&root).expect("JSON values serialize");
    let logs = trust::logs_from_trusted_root(&bytes, "the log's trusted root")
        .map_err(|e| log_out_of_spec(e.to_string()))?;
    let want = match &args.log_key {
        Some(path) => {
            let pem = read_text(path, "the log key")?;
            TrustedLog::from_public_key_pem(&pem, &path.display().to_string())?.log_id
        }
        None => {
            let pem = client.public_key(None).await?;
            eprintln!(
                "note: not pinned: checked against the key the log serves; pass --log-key to \
                 check against a key obtained out of band"
            );
            TrustedLog::from_public_key_pem(&pem, "the key served by the log")
                .map_err(|e| log_out_of_spec(e.to_string()))?
                .log_id
        }
    };
    if !logs.iter().any(|l| l.log_id == want) {
        return Err(Failure::Verification(format!(
            "the trusted root the log serves does not list the log key {}",
            hex::encode(want)
        )));
    }
    let text = format!("{}\n", pretty(&root));
    Ok(Report { text, json: root })
}
