//! `arkivo sign-blob` and `arkivo verify-blob`: a file's signature (with a key, or keyless with
//! a certificate) recorded in the log as a hashedrekord entry and written as a Sigstore bundle,
//! and its offline verification. With `--rekor-api-version 2` the entry is a Rekor v2 one and
//! the bundle also carries an RFC 3161 timestamp of the signature, which gives it its time.
//! `arkivo attest-blob` and `arkivo verify-blob-attestation` do the same for an in-toto statement
//! about the file in a DSSE envelope ([`crate::signing::attest`], [`crate::dsse::verify_bundle`]).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use sha2::Digest as _;

use super::checkpoints::{check_extends, tree_checkpoint};
use super::{
    Failure, LogTrust, Output, Report, Signer, SignerFlags, Signers, entry_report, log_out_of_spec,
    no_trust, read_file, read_predicate, record_failure, sign_failure,
};
use crate::bundle::{Bundle, BundleSigner};
use crate::cosign::Statement;
use crate::dsse;
use crate::identity::VerifiedCertificate;
use crate::keys;
use crate::rekor::RekorClient;
use crate::signing::{self, Signing};
use crate::{rekor_v2, trust, verify};
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

#[derive(Debug, Args)]
pub struct AttestBlobArgs {
    #[command(flatten)]
    pub signer: Signer,
    /// The predicate: a JSON file (SLSA provenance, an SBOM, a scan report, ...).
    #[arg(long)]
    pub predicate: PathBuf,
    /// Predicate type: as `attest --type` (slsaprovenance1, vuln, custom, ...) or a URI.
    #[arg(long = "type", default_value = "custom")]
    pub predicate_type: String,
    /// Where to write the Sigstore bundle (v0.3 JSON, a DSSE envelope).
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The file the statement is about: its subject (the file name and SHA-256).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyBlobAttestationArgs {
    #[command(flatten)]
    pub signer: SignerFlags,
    /// The Sigstore bundle of the attestation: a DSSE envelope holding an in-toto statement.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The predicate type the statement must have: a name as `attest --type` takes
    /// (slsaprovenance1, vuln, custom, ...) or a URI. Any when absent.
    #[arg(long = "type")]
    pub predicate_type: Option<String>,
    #[command(flatten)]
    pub trust: LogTrust,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The artifact the statement must be about: its SHA-256 is among the subjects' digests.
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
    if args.signer.rekor_api_version == 2 {
        return sign_blob_v2(args).await;
    }
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

/// `sign-blob --rekor-api-version 2`: the signature is timestamped by the TSA (RFC 3161, over
/// the signature bytes: a Rekor v2 entry has no time of its own), recorded as a
/// `hashedrekord` v0.0.2, and both answers verified before the bundle is written.
async fn sign_blob_v2(args: &SignBlobArgs) -> Result<Report, Failure> {
    let (signer, client, trust) = args.signer.open_v2().await?;
    let key = &signer.key;
    let alg = key.algorithm().hash_algorithm();
    let digest = digest_file(&args.file, alg)?;
    let signature = key.sign_digest(&digest)?;

    let url = args.signer.timestamp_url(&client);
    let recorded = rekor_v2::record(
        &client,
        &url,
        &trust,
        &digest,
        &signature,
        signer.verifier_v2(),
    )
    .await
    .map_err(|e| record_failure(e, "no bundle written"))?;
    let (timestamp, verified) = (recorded.timestamp, recorded.verified);
    let entry = recorded.entry;
    let log_index = entry.log_index;
    let bundle = Bundle::for_message_signature_v2(
        alg,
        &digest,
        &signature,
        signer.material(),
        entry,
        recorded.timestamp_response,
    );
    std::fs::write(&args.bundle, bundle.to_json())
        .map_err(|e| Failure::Input(format!("writing {}: {e}", args.bundle.display())))?;
    Ok(Report {
        text: format!(
            "signed {} ({}:{})\ntimestamped by {url} at {} (Unix)\nrecorded in {} (Rekor v2, log {}) at log index {}\nbundle written to {}\n",
            args.file.display(),
            alg.name(),
            hex::encode(&digest),
            timestamp.gen_time,
            client.url(),
            hex::encode(verified.key_id),
            log_index,
            args.bundle.display()
        ),
        json: json!({
            "ok": true,
            "file": args.file,
            "digest": format!("{}:{}", alg.name(), hex::encode(&digest)),
            "rekorApiVersion": 2,
            "logIndex": log_index,
            "logID": hex::encode(verified.key_id),
            "timestamp": {"genTime": timestamp.gen_time, "policy": timestamp.policy},
            "bundle": args.bundle,
        }),
    })
}

pub async fn verify_blob(args: &VerifyBlobArgs) -> Result<Report, Failure> {
    let signers = args.signer.load(&args.trust)?;
    let bundle = Bundle::from_json(&read_file(&args.bundle, "the bundle")?)
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    let in_bundle =
        |e: crate::bundle::BundleError| Failure::Input(format!("{}: {e}", args.bundle.display()));
    let (alg, bundle_digest, signature) = bundle.message_signature().map_err(in_bundle)?;
    let tlog = bundle.tlog_entry().map_err(in_bundle)?;
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
    let certificate = match bundle.signer() {
        BundleSigner::Certificate(der) => Some(der),
        BundleSigner::PublicKey => None,
    };
    if tlog.is_rekor_v2() {
        return verify_blob_v2(args, &bundle, &signers, certificate, &digest);
    }
    let logs = args.trust.load()?.ok_or_else(no_trust)?;
    let entry = tlog.to_log_entry().map_err(in_bundle)?;
    let verified = verify::verify_log_entry(&entry, &logs)?;
    // The SET-signed integrated time is when the log saw the signature: the certificate must
    // have been valid then.
    let (key, certified) = signers
        .policy()
        .signer_key(certificate, entry.entry.integrated_time)
        .map_err(|e| Failure::Verification(e.to_string()))?;
    verify::verify_hashedrekord(&tlog.canonicalized_body, alg, &digest, signature, &key)?;

    let signed_by = signed_by(&args.signer, certified.as_ref());
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
        report["certificate"] = certificate_json(c);
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

/// Who signed, for the report: the certificate's identity and CA, or the key file.
fn signed_by(flags: &SignerFlags, certified: Option<&VerifiedCertificate>) -> String {
    match certified {
        Some(c) => format!(
            "the certificate of {} from {} (CA {}; valid {} to {}{})",
            c.subjects.join(", "),
            c.issuer,
            c.ca,
            c.not_before,
            c.not_after,
            if flags.insecure_ignore_sct {
                "; SCT not checked: --insecure-ignore-sct"
            } else {
                ""
            }
        ),
        None => flags
            .key
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

fn certificate_json(c: &VerifiedCertificate) -> serde_json::Value {
    json!({"subjects": c.subjects, "issuer": c.issuer, "ca": c.ca,
        "notBefore": c.not_before, "notAfter": c.not_after, "sctChecked": false})
}

/// The Rekor v2 logs and timestamp authorities of `--trusted-root`, which a Rekor v2 bundle
/// is verified with.
fn v2_trust(trust: &LogTrust) -> Result<trust::RekorV2Trust, Failure> {
    let path = trust.trusted_root.as_ref().ok_or_else(|| {
        Failure::Input(
            "a Rekor v2 bundle is verified with --trusted-root: its log's Ed25519 checkpoint key \
             and the timestamp authorities whose timestamps give the entry its time (--log-key \
             names Rekor v1 keys)"
                .into(),
        )
    })?;
    Ok(trust::rekor_v2_trust(
        &read_file(path, "the trusted root")?,
        &path.display().to_string(),
    )?)
}

/// `verify-blob` of a Rekor v2 bundle: with the trusted root's timestamp authorities, the time
/// of a verified RFC 3161 timestamp over the signature (none: refused); at that time, the
/// entry's checkpoint and inclusion proof with the root's v2 log key, the certificate's
/// validity (keyless), and the entry against the artifact.
fn verify_blob_v2(
    args: &VerifyBlobArgs,
    bundle: &Bundle,
    signers: &Signers,
    certificate: Option<&[u8]>,
    digest: &[u8],
) -> Result<Report, Failure> {
    if args.rekor_url.is_some() {
        return Err(Failure::Input(
            "--rekor-url checks a Rekor v1 log's consistency; a Rekor v2 log is followed \
             through its tiles"
                .into(),
        ));
    }
    let trust = v2_trust(&args.trust)?;
    let (alg, _, signature) = bundle
        .message_signature()
        .expect("verify_blob read the message signature");
    let tlog = bundle.tlog_entry().expect("verify_blob read the entry");
    let verify::VerifiedTlog::V2 {
        verified,
        timestamp,
        time,
    } = verify::verify_bundle_tlog(bundle, signature, &[], Some(&trust))?
    else {
        return Err(Failure::Verification("not a Rekor v2 entry".into()));
    };
    // No integrated time: the certificate must have been valid when the TSA saw the signature.
    let (key, certified) = signers
        .policy()
        .signer_key(certificate, time)
        .map_err(|e| Failure::Verification(e.to_string()))?;
    verify::verify_hashedrekord_v2(&tlog.canonicalized_body, alg, digest, signature, &key)?;
    let cp = &verified.checkpoint;
    let text = format!(
        "verified {} ({}:{})\n  signature: OK with {}\n  timestamp: OK, RFC 3161 genTime {} (Unix), policy {}\n  \
         log entry: Rekor v2, index {}, log ID {}\n  inclusion proof: OK in the signed checkpoint of tree size {} (root {})\n",
        args.file.display(),
        alg.name(),
        hex::encode(digest),
        signed_by(&args.signer, certified.as_ref()),
        timestamp.gen_time,
        timestamp.policy,
        tlog.log_index,
        hex::encode(verified.key_id),
        cp.size,
        cp.root.to_hex()
    );
    let mut report = json!({
        "ok": true,
        "verified": true,
        "file": args.file,
        "digest": format!("{}:{}", alg.name(), hex::encode(digest)),
        "rekorApiVersion": 2,
        "logIndex": tlog.log_index,
        "logID": hex::encode(verified.key_id),
        "timestamp": {"genTime": timestamp.gen_time, "policy": timestamp.policy},
        "checkpoint": {"origin": cp.origin, "treeSize": cp.size, "rootHash": cp.root.to_hex()},
    });
    if let Some(c) = &certified {
        report["certificate"] = certificate_json(c);
    }
    Ok(Report { text, json: report })
}

/// `attest-blob` (cosign's name): an in-toto statement of the predicate about the file, signed
/// in a DSSE envelope and recorded ([`crate::signing::attest`]: Rekor v1 `dsse`, or Rekor v2
/// with a timestamp), written as a Sigstore bundle once the log's answer verified.
pub async fn attest_blob(args: &AttestBlobArgs) -> Result<Report, Failure> {
    let predicate_type =
        crate::cosign::predicate_type(&args.predicate_type).map_err(Failure::Input)?;
    let predicate = read_predicate(&args.predicate)?;
    let digest = format!(
        "sha256:{}",
        hex::encode(digest_file(&args.file, HashAlg::Sha256)?)
    );
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let statement = Statement::new(&name, &digest, &BTreeMap::new(), predicate_type, predicate);
    let (credential, rekor, trusted) = args.signer.open_any().await?;
    let signing = Signing {
        credential: &credential,
        rekor: &rekor,
        log: trusted.log(),
    };
    let attestation = signing::attest(&signing, &statement)
        .await
        .map_err(|e| sign_failure(e, "no bundle written"))?;
    let bundle = attestation
        .bundle(credential.material())
        .map_err(|e| sign_failure(e.into(), "no bundle written"))?;
    std::fs::write(&args.bundle, bundle.to_json())
        .map_err(|e| Failure::Input(format!("writing {}: {e}", args.bundle.display())))?;
    let mut json = json!({
        "ok": true,
        "file": args.file,
        "digest": digest,
        "predicateType": predicate_type,
        "bundle": args.bundle,
    });
    let recorded = entry_report(&rekor, &attestation.entry, &mut json);
    Ok(Report {
        text: format!(
            "attested {} ({digest}): {predicate_type}\n{recorded}bundle written to {}\n",
            args.file.display(),
            args.bundle.display()
        ),
        json,
    })
}

/// `verify-blob-attestation` (cosign's name): a DSSE bundle verified offline
/// ([`dsse::verify_bundle`]: the log entry — Rekor v1 `dsse` or `intoto` with SET, checkpoint
/// and inclusion proof, or Rekor v2 with its RFC 3161 timestamp, checkpoint and inclusion
/// proof —, the signer at the time it gives, the envelope's signature over the PAE and the
/// entry against it), then its in-toto statement against the artifact (a subject with the
/// file's SHA-256, in-toto ResourceDescriptor `digest`) and the predicate type.
pub async fn verify_blob_attestation(args: &VerifyBlobAttestationArgs) -> Result<Report, Failure> {
    let predicate_type = args
        .predicate_type
        .as_deref()
        .map(crate::cosign::predicate_type)
        .transpose()
        .map_err(Failure::Input)?;
    let signers = args.signer.load(&args.trust)?;
    let in_bundle = |e: String| Failure::Input(format!("{}: {e}", args.bundle.display()));
    let bundle = Bundle::from_json(&read_file(&args.bundle, "the bundle")?)
        .map_err(|e| in_bundle(e.to_string()))?;
    if bundle.dsse_envelope.is_none() {
        return Err(in_bundle(
            "a message signature, not an attestation (DSSE envelope): verify it with verify-blob"
                .into(),
        ));
    }
    let v2 = bundle
        .tlog_entry()
        .map_err(|e| in_bundle(e.to_string()))?
        .is_rekor_v2();
    let (logs, v2) = match v2 {
        true => (Vec::new(), Some(v2_trust(&args.trust)?)),
        false => (args.trust.load()?.ok_or_else(no_trust)?, None),
    };
    let verified = dsse::verify_bundle(&bundle, &signers.policy(), &logs, v2.as_ref())
        .map_err(Failure::Verification)?;
    let statement = &verified.statement;
    let digest = format!(
        "sha256:{}",
        hex::encode(digest_file(&args.file, HashAlg::Sha256)?)
    );
    if statement.subject_for(&digest).is_none() {
        let subjects: Vec<String> = statement
            .subject
            .iter()
            .map(|s| format!("{} {:?}", s.name, s.digest))
            .collect();
        return Err(Failure::Verification(format!(
            "the statement is not about {} ({digest}): its subjects are {}",
            args.file.display(),
            subjects.join(", ")
        )));
    }
    if let Some(t) = predicate_type.filter(|t| *t != statement.predicate_type) {
        return Err(Failure::Verification(format!(
            "the statement's predicate type is {:?}, not {t:?}",
            statement.predicate_type
        )));
    }
    let mut report = json!({
        "ok": true,
        "verified": true,
        "file": args.file,
        "digest": digest,
        "predicateType": statement.predicate_type,
        "statement": statement,
    });
    let logged = match &verified.tlog {
        verify::VerifiedTlog::V1 { entry, verified } => {
            let e = &entry.entry;
            report["logIndex"] = json!(e.log_index);
            report["integratedTime"] = json!(e.integrated_time);
            report["logID"] = json!(hex::encode(verified.log_id));
            format!(
                "  log entry: index {}, integrated at {} (Unix), log ID {}\n  \
                 SET: OK; inclusion proof: OK in the signed checkpoint of tree size {}\n",
                e.log_index,
                e.integrated_time,
                hex::encode(verified.log_id),
                verified.checkpoint.size
            )
        }
        verify::VerifiedTlog::V2 {
            verified,
            timestamp,
            ..
        } => {
            let index = bundle.tlog_entry().map_or(0, |t| t.log_index);
            report["rekorApiVersion"] = json!(2);
            report["logIndex"] = json!(index);
            report["logID"] = json!(hex::encode(verified.key_id));
            report["timestamp"] =
                json!({"genTime": timestamp.gen_time, "policy": timestamp.policy});
            format!(
                "  timestamp: OK, RFC 3161 genTime {} (Unix), policy {}\n  \
                 log entry: Rekor v2, index {index}, log ID {}\n  \
                 inclusion proof: OK in the signed checkpoint of tree size {}\n",
                timestamp.gen_time,
                timestamp.policy,
                hex::encode(verified.key_id),
                verified.checkpoint.size
            )
        }
    };
    if let Some(c) = &verified.certificate {
        report["certificate"] = certificate_json(c);
    }
    let text = format!(
        "verified the attestation of {} ({digest})\n  statement: predicate type {}\n  \
         signature: OK (DSSE, over the PAE) with {}\n{logged}",
        args.file.display(),
        statement.predicate_type,
        signed_by(&args.signer, verified.certificate.as_ref()),
    );
    Ok(Report { text, json: report })
}
