//! `arkivo sign-blob` and `arkivo verify-blob`: a file's signature (with a key, or keyless with
//! a certificate) recorded in the log as a hashedrekord entry and written as a Sigstore bundle,
//! and its offline verification.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use sha2::Digest as _;

use super::checkpoints::{check_extends, tree_checkpoint};
use super::{
    Failure, LogTrust, Output, Report, Signer, SignerFlags, log_out_of_spec, no_trust, read_file,
};
use crate::bundle::{Bundle, BundleSigner};
use crate::keys;
use crate::rekor::RekorClient;
use crate::verify;
use arkivo_core::entries::pki::HashAlg;

/// Files at least this large are hashed with a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Read size when hashing a file.
const HASH_CHUNK: usize = 1 << 20;

#[derive(Debug, Args)]
pub struct SignBlobArgs {
    #[command(flatten)]
    pub signer: Signer,
    /// Where to write the Sigstore bundle (v0.3 JSON).
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The file to sign.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyBlobArgs {
    #[command(flatten)]
    pub signer: SignerFlags,
    /// The Sigstore bundle of the file.
    #[arg(long)]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub trust: LogTrust,
    /// Also fetch the log's current checkpoint and check that it extends the bundle's.
    #[arg(long = "rekor-url", env = "ARKIVO_REKOR_URL")]
    pub rekor_url: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The file to verify.
    pub file: PathBuf,
}

/// Hashes a file while reading it, with a progress bar on a terminal for large files.
fn digest_file(path: &Path, alg: HashAlg) -> Result<Vec<u8>, Failure> {
    let io = |e: std::io::Error| Failure::Input(format!("reading {}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let bar = (std::io::stderr().is_terminal() && len >= PROGRESS_MIN_BYTES).then(|| {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "hashing {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut hasher: Box<dyn sha2::digest::DynDigest> = match alg {
        HashAlg::Sha256 => Box::new(sha2::Sha256::new()),
        HashAlg::Sha384 => Box::new(sha2::Sha384::new()),
        HashAlg::Sha512 => Box::new(sha2::Sha512::new()),
    };
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(b) = &bar {
            b.inc(n as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(hasher.finalize().to_vec())
}

pub async fn sign_blob(args: &SignBlobArgs) -> Result<Report, Failure> {
    let (signer, client, logs) = args.signer.open().await?;
    let key = &signer.key;
    let alg = key.algorithm().hash_algorithm();
    let digest = digest_file(&args.file, alg)?;
    let signature = key.sign_digest(&digest)?;
    let public_pem = key.public_key_pem();
    let entry = client
        .create_hashedrekord(alg, &digest, &signature, &signer.verifier_pem())
        .await
        .map_err(|e| match e.is_log_failure() {
            true => Failure::Log(e.to_string()),
            false => Failure::Input(format!("the log refused the entry: {e}")),
        })?;
    // A bundle is for verifiers: the entry must be the one just made, and its SET, inclusion
    // proof and checkpoint must hold before it is written, not only when someone checks it.
    let public = keys::parse_public_key(&public_pem, "the signing key")?;
    verify::verify_answer(&entry, &logs, |body| {
        verify::verify_hashedrekord(body, alg, &digest, &signature, &public)
    })
    .map_err(|e| Failure::Log(format!("{e}; no bundle written")))?;
    let bundle = Bundle::for_message_signature(alg, &digest, &signature, signer.material(), &entry)
        .map_err(|e| log_out_of_spec(e.to_string()))?;
    std::fs::write(&args.bundle, bundle.to_json())
        .map_err(|e| Failure::Input(format!("writing {}: {e}", args.bundle.display())))?;
    let e = &entry.entry;
    Ok(Report {
        text: format!(
            "signed {} ({}:{})\nrecorded in {} at log index {} (entry {})\nbundle written to {}\n",
            args.file.display(),
            alg.name(),
            hex::encode(&digest),
            client.url(),
            e.log_index,
            entry.uuid,
            args.bundle.display()
        ),
        json: json!({
            "ok": true,
            "file": args.file,
            "digest": format!("{}:{}", alg.name(), hex::encode(&digest)),
            "logIndex": e.log_index,
            "uuid": entry.uuid,
            "integratedTime": e.integrated_time,
            "bundle": args.bundle,
        }),
    })
}

pub async fn verify_blob(args: &VerifyBlobArgs) -> Result<Report, Failure> {
    let logs = args.trust.load()?.ok_or_else(no_trust)?;
    let signers = args.signer.load(&args.trust)?;
    let bundle = Bundle::from_json(&read_file(&args.bundle, "the bundle")?)
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    let (alg, bundle_digest, signature) = bundle
        .message_signature()
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    let entry = bundle
        .log_entry()
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    let digest = digest_file(&args.file, alg)?;
    if digest != bundle_digest {
        return Err(Failure::Verification(format!(
            "{} has {}:{}, the bundle signs {}:{}: the file was modified or is not the signed one",
            args.file.display(),
            alg.name(),
            hex::encode(&digest),
            alg.name(),
            hex::encode(bundle_digest)
        )));
    }
    let verified = verify::verify_log_entry(&entry, &logs)?;
    let certificate = match bundle.signer() {
        BundleSigner::Certificate(der) => Some(der),
        BundleSigner::PublicKey => None,
    };
    // The SET-signed integrated time is when the log saw the signature: the certificate must
    // have been valid then.
    let (key, certified) = signers
        .policy()
        .signer_key(certificate, entry.entry.integrated_time)
        .map_err(|e| Failure::Verification(e.to_string()))?;
    let body = entry
        .body()
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    verify::verify_hashedrekord(&body, alg, &digest, signature, &key)?;

    let signed_by = match &certified {
        Some(c) => format!(
            "the certificate of {} from {} (CA {}; valid {} to {}{})",
            c.subjects.join(", "),
            c.issuer,
            c.ca,
            c.not_before,
            c.not_after,
            if args.signer.insecure_ignore_sct {
                "; SCT not checked: --insecure-ignore-sct"
            } else {
                ""
            }
        ),
        None => args
            .signer
            .key
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    let mut text = format!(
        "verified {} ({}:{})\n  signature: OK with {}\n  log entry: index {}, integrated at {} (Unix), log ID {}\n  \
         SET: OK; inclusion proof: OK in the signed checkpoint of tree size {} (root {})\n",
        args.file.display(),
        alg.name(),
        hex::encode(&digest),
        signed_by,
        entry.entry.log_index,
        entry.entry.integrated_time,
        hex::encode(verified.log_id),
        verified.checkpoint.size,
        verified.checkpoint.root.to_hex()
    );
    let mut report = json!({
        "ok": true,
        "verified": true,
        "file": args.file,
        "digest": format!("{}:{}", alg.name(), hex::encode(&digest)),
        "logIndex": entry.entry.log_index,
        "integratedTime": entry.entry.integrated_time,
        "logID": hex::encode(verified.log_id),
        "uuid": entry.uuid,
        "checkpoint": {"origin": verified.checkpoint.origin, "treeSize": verified.checkpoint.size,
                        "rootHash": verified.checkpoint.root.to_hex()},
    });
    if let Some(c) = &certified {
        report["certificate"] = json!({"subjects": c.subjects, "issuer": c.issuer, "ca": c.ca,
            "notBefore": c.not_before, "notAfter": c.not_after,
            "sctChecked": false});
    }
    if let Some(url) = &args.rekor_url {
        let client = RekorClient::new(url)?;
        let log = logs
            .iter()
            .find(|l| l.log_id == verified.log_id)
            .expect("the entry verified with one of the logs");
        // The bundle's tree: after a rotation, a frozen one, whose final checkpoint must extend
        // the bundle's.
        let (_, _, current) = tree_checkpoint(
            &client,
            std::slice::from_ref(log),
            verified.checkpoint.v1_tree_id(),
        )
        .await?;
        check_extends(
            &client,
            &verified.checkpoint,
            &current,
            "the bundle's checkpoint",
        )
        .await?;
        text.push_str(&format!(
            "  consistency: OK, the log's current checkpoint (tree size {}) extends the bundle's\n",
            current.size
        ));
        report["consistency"] =
            json!({"treeSize": current.size, "rootHash": current.root.to_hex()});
    }
    Ok(Report { text, json: report })
}
