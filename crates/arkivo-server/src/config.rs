//! Server configuration: built-in defaults, overridden by a TOML file (`--config`), overridden
//! by `ARKIVO_*` environment variables and command-line flags. The doc comments of [`Config`]
//! are the reference for every field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::sequencer::SequencerConfig;
use crate::witness::client::{Endpoint, LogWitness};
use arkivo_core::ca::identity::IssuerType;

/// Every setting of `arkivo serve` / `arkivo init`. (Serialize: the deploy tests list its fields.)
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the log database (`db/`) and, by default, its keys (`keys/`).
    pub data_dir: PathBuf,
    /// Where the log's entries, hashes and heads are stored: unset, the RocksDB database in
    /// `data_dir`; a `postgres://` URL (or libpq `key=value` string), a PostgreSQL database
    /// with synchronous standbys, which several frontends may serve (docs/operations.md
    /// "PostgreSQL"). The data directory then still holds the keys and the rest of the local
    /// state. Its password (if any) is never logged; prefer `storage_password_file`.
    pub storage: Option<String>,
    /// A file whose first line is the PostgreSQL password (mode 0600 advised), instead of one
    /// in the `storage` URL.
    pub storage_password_file: Option<PathBuf>,
    /// PEM CA certificates to verify the PostgreSQL server's certificate with (with
    /// `sslmode=require` in the URL), instead of the system's roots.
    pub storage_ca_file: Option<PathBuf>,
    /// Run on a PostgreSQL database without a synchronous standby: acknowledged entries can
    /// then be lost in a failover. Refused at start unless set; warned about when set.
    pub storage_allow_async: bool,
    /// Where to read the log's rows (entries, proof and tile hashes, search) from instead of the
    /// primary: a hot standby of the `storage` database, as a `postgres://` URL or libpq string
    /// (several hosts with `target_session_attrs=prefer-standby` or `standby`), with the same
    /// `storage_password_file` and `storage_ca_file`. The head and every write stay on
    /// `storage`. A read the standby cannot answer yet (it lags behind what this frontend
    /// serves) or at all (it is down) goes to the primary (docs/operations.md "Reads from
    /// standbys"). Its password (if any) is never logged.
    pub storage_read_url: Option<String>,
    /// Address to listen on.
    pub listen: String,
    /// Name of the log in its checkpoints, fixed when the log is created. Defaults to the listen
    /// address, since sigstore-js requires it to appear inside the URL clients use.
    pub hostname: Option<String>,
    /// URL clients use to reach the log (the trusted root's `baseUrl`). Defaults to
    /// `http://<hostname>` for an address with a port or a loopback name, else `https://<hostname>`.
    pub public_url: Option<String>,
    /// PKCS#8 PEM file of the ECDSA P-256 key that signs v1 checkpoints and SETs (mode 0600).
    /// Default `<data_dir>/keys/log-ecdsa-p256.pem`, generated when the log is created.
    pub ecdsa_key_file: Option<PathBuf>,
    /// PKCS#8 PEM file of the Ed25519 key that signs C2SP checkpoints (mode 0600).
    /// Default `<data_dir>/keys/log-ed25519.pem`, generated when the log is created.
    pub ed25519_key_file: Option<PathBuf>,
    /// PKCS#8 PEM file of the ECDSA P-256 key of the RFC 3161 timestamp authority (mode 0600),
    /// with `tsa_cert_chain_file`. Default `<data_dir>/keys/tsa-ecdsa-p256.pem`, generated with
    /// its chain on the first start that finds neither.
    pub tsa_key_file: Option<PathBuf>,
    /// PEM certificate chain of `tsa_key_file`: the leaf (exactly one extended key usage,
    /// critical `id-kp-timeStamping`), then intermediates, the root last; at least two
    /// certificates. Default `<data_dir>/keys/tsa-chain.pem`.
    pub tsa_cert_chain_file: Option<PathBuf>,
    /// The policy OID of the timestamps; a request naming another policy is refused.
    pub tsa_policy: String,
    /// File of SHA-256 hex digests of the bearer tokens allowed to write, one per line (make
    /// them with `arkivo token new`). Unset: anyone who can reach the server may write.
    pub write_tokens_file: Option<PathBuf>,
    /// PEM certificate chain to serve HTTPS with (with `tls_key_file`). Unset: plain HTTP.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates for mutual TLS: a client presenting a certificate issued by one of
    /// them may write (as well as holders of write tokens; without `write_tokens_file`, only
    /// they may). Clients without a certificate can still read. Needs `tls_cert_file`.
    pub tls_client_ca_file: Option<PathBuf>,
    /// Requests a second each client (IP address; IPv6 /64) may make on average; beyond it the
    /// server answers 429 with `Retry-After`. 0 (the default): no per-client limit. Behind a
    /// proxy every client has the proxy's address: limit there instead.
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once above its rate. Default: `rate_limit_per_second`.
    pub rate_limit_burst: Option<u32>,
    /// Most requests handled at once over all clients; further ones get 503 with `Retry-After`
    /// at once rather than queueing. The health probes are exempt.
    pub max_requests_in_flight: usize,
    /// Longest, in milliseconds, a client may take to send a request's headers before the
    /// connection is closed (slow-client defence).
    pub header_read_timeout_ms: u64,
    /// Most entries committed in one batch.
    pub max_batch: usize,
    /// Longest, in milliseconds, an entry waits for its batch to fill before it is committed.
    pub max_batch_age_ms: u64,
    /// Most entries waiting to be sequenced; further writes get 503 with `Retry-After`.
    pub inbox_capacity: usize,
    /// Witnesses asked to cosign the log's C2SP checkpoints (`[[witnesses]]` tables, see
    /// [`LogWitness`]; tiles-checkpoints-witnesses.md §3). Empty: no witnessing.
    pub witnesses: Vec<LogWitness>,
    /// How many witnesses must have cosigned a checkpoint before the log serves it as its
    /// checkpoint. 0 (the default): serve the newest checkpoint with whatever cosignatures it
    /// has, so that a dead witness never holds the log back. k > 0: serve only the newest
    /// checkpoint cosigned by at least k witnesses (the tlog-policy `quorum`), and nothing
    /// until one is.
    pub witness_quorum: usize,
    /// Shortest time, in milliseconds, between two checkpoints sent to the witnesses: at most
    /// one new checkpoint per interval goes out, the newest, so that all witnesses cosign the
    /// same ones (which a quorum needs) and no witness gets more than one request per interval
    /// (the public witness network expects about one per second).
    pub witness_interval_ms: u64,
    /// Root keys made with the TUF repository (`/tuf/`, docs/tuf.md), in
    /// `<data_dir>/tuf/keys/root-<i>.pem`; fixed when the repository is made (change them with
    /// a new root version).
    pub tuf_root_keys: usize,
    /// Root keys that must sign a root version; fixed like `tuf_root_keys`.
    pub tuf_root_threshold: u64,
    /// Lifetime, in seconds, of a TUF root version. With its keys in the data directory the
    /// server signs the next version once half of it has passed; kept offline, make one before
    /// (`arkivo tuf root new`).
    pub tuf_root_expiry_secs: u64,
    /// Lifetime, in seconds, of the TUF targets metadata; signed again once half has passed,
    /// and whenever the trust material changes.
    pub tuf_targets_expiry_secs: u64,
    /// Lifetime, in seconds, of the TUF snapshot metadata; signed again once half has passed.
    pub tuf_snapshot_expiry_secs: u64,
    /// Lifetime, in seconds, of the TUF timestamp: how long a client cut off from the server
    /// (or fed an old timestamp) keeps trusting what it has. Signed again once half has passed.
    pub tuf_timestamp_expiry_secs: u64,
    /// TUF snapshot versions kept (served, exported, backed up) before the current one, with
    /// the targets metadata and target files they name; older ones are deleted after each
    /// publish. At least 1, so that a client that read the previous timestamp finds its
    /// snapshot. Every root version is kept.
    pub tuf_keep_versions: u64,
    /// The certificate authority (`[ca]`): on when at least one OIDC issuer is configured.
    pub ca: CaConfig,
    /// Serve the web explorer at `/` and `/ui/` (docs/explorer.md). It reads only the public
    /// read API, so turning it off (`--no-explorer`) changes nothing else.
    pub explorer: bool,
}

/// The Fulcio-compatible certificate authority (docs/keyless.md).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CaConfig {
    /// The OIDC issuers whose ID tokens get certificates (`[[ca.oidc_issuers]]`). Empty: no CA.
    pub oidc_issuers: Vec<OidcIssuer>,
    /// PKCS#8 PEM ECDSA P-256 key that signs certificates (mode 0600), with `chain_file`.
    /// Default `<data_dir>/keys/ca-intermediate-p256.pem`, made with a root on first start.
    pub key_file: Option<PathBuf>,
    /// PEM certificates of `key_file`'s chain: its own first, the root last. Default
    /// `<data_dir>/ca-chain.pem`.
    pub chain_file: Option<PathBuf>,
}

/// One OIDC issuer the CA trusts.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    /// The issuer URL, exactly as its tokens' `iss` claim has it. `https://`, or `http://` on a
    /// loopback address.
    pub url: String,
    /// The audience (`aud`) its tokens must be for.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// How its tokens name their subject: `email`, `github-workflow`, `gitlab-pipeline`,
    /// `kubernetes`, `spiffe`, `uri` or `username`.
    #[serde(rename = "type", default = "default_issuer_type")]
    pub issuer_type: IssuerType,
    /// `spiffe`: the trust domain; `uri`: the `scheme://host` subjects must be under;
    /// `username`: the domain of `user!domain`.
    pub subject_domain: Option<String>,
}

fn default_client_id() -> String {
    "sigstore".to_owned()
}

fn default_issuer_type() -> IssuerType {
    IssuerType::Email
}

impl OidcIssuer {
    /// An issuer given by URL alone (`--oidc-issuer`): email type, audience `sigstore`.
    pub fn from_url(url: &str) -> Self {
        OidcIssuer {
            url: url.to_owned(),
            client_id: default_client_id(),
            issuer_type: default_issuer_type(),
            subject_domain: None,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        check_issuer_url(&self.url)?;
        anyhow::ensure!(
            !self.issuer_type.needs_subject_domain() || self.subject_domain.is_some(),
            "OIDC issuer {}: a {} issuer needs subject_domain",
            self.url,
            self.issuer_type.name()
        );
        Ok(())
    }
}

/// An issuer (or JWKS) URL is `https://`, or `http://` on a loopback address: a token's keys
/// fetched in the clear could be anyone's.
pub fn check_issuer_url(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("OIDC issuer URL {url:?}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => anyhow::bail!("OIDC issuer URL {url}: must be https:// (http:// only on loopback)"),
    }
}

const DAY: u64 = 24 * 60 * 60;

impl Default for Config {
    fn default() -> Self {
        let seq = SequencerConfig::default();
        Config {
            data_dir: PathBuf::from("./arkivo-data"),
            storage: None,
            storage_password_file: None,
            storage_ca_file: None,
            storage_allow_async: false,
            storage_read_url: None,
            listen: "127.0.0.1:3000".into(),
            hostname: None,
            public_url: None,
            ecdsa_key_file: None,
            ed25519_key_file: None,
            tsa_key_file: None,
            tsa_cert_chain_file: None,
            tsa_policy: arkivo_core::tsa::DEFAULT_POLICY.to_owned(),
            write_tokens_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            rate_limit_per_second: 0,
            rate_limit_burst: None,
            max_requests_in_flight: arkivo_core::limits::MAX_REQUESTS_IN_FLIGHT,
            header_read_timeout_ms: u64::try_from(
                arkivo_core::limits::HEADER_READ_TIMEOUT.as_millis(),
            )
            .unwrap_or(u64::MAX),
            max_batch: seq.max_batch,
            max_batch_age_ms: u64::try_from(seq.max_batch_age.as_millis()).unwrap_or(u64::MAX),
            inbox_capacity: seq.inbox_capacity,
            witnesses: Vec::new(),
            witness_quorum: 0,
            witness_interval_ms: 1000,
            tuf_root_keys: 1,
            tuf_root_threshold: 1,
            tuf_root_expiry_secs: 365 * DAY,
            tuf_targets_expiry_secs: 90 * DAY,
            tuf_snapshot_expiry_secs: 7 * DAY,
            tuf_timestamp_expiry_secs: DAY,
            tuf_keep_versions: 8,
            ca: CaConfig::default(),
            explorer: true,
        }
    }
}

impl Config {
    /// Reads a TOML config file; unknown fields are errors (a typo must not go unnoticed).
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_batch >= 1, "max_batch must be at least 1");
        let is_pg = |url: &str| {
            url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains('=')
        };
        if let Some(url) = &self.storage {
            anyhow::ensure!(
                is_pg(url),
                "storage must be a postgres:// URL or a libpq key=value string (unset: RocksDB \
                 in data_dir), not {:?}",
                redact_url(url)
            );
        } else {
            anyhow::ensure!(
                self.storage_password_file.is_none()
                    && self.storage_ca_file.is_none()
                    && !self.storage_allow_async
                    && self.storage_read_url.is_none(),
                "storage_password_file, storage_ca_file, storage_allow_async and \
                 storage_read_url need storage (a postgres:// URL)"
            );
        }
        if let Some(url) = &self.storage_read_url {
            anyhow::ensure!(
                is_pg(url),
                "storage_read_url must be a postgres:// URL or a libpq key=value string, not {:?}",
                redact_url(url)
            );
        }
        anyhow::ensure!(
            self.tls_cert_file.is_some() == self.tls_key_file.is_some(),
            "tls_cert_file and tls_key_file go together: set both or neither"
        );
        anyhow::ensure!(
            self.tls_client_ca_file.is_none() || self.tls_cert_file.is_some(),
            "tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file"
        );
        anyhow::ensure!(
            self.tsa_key_file.is_some() == self.tsa_cert_chain_file.is_some(),
            "tsa_key_file and tsa_cert_chain_file go together: set both or neither"
        );
        anyhow::ensure!(
            der::asn1::ObjectIdentifier::new(&self.tsa_policy).is_ok(),
            "tsa_policy {:?} is not an OID (e.g. {})",
            self.tsa_policy,
            arkivo_core::tsa::DEFAULT_POLICY
        );
        anyhow::ensure!(
            self.header_read_timeout_ms >= 1,
            "header_read_timeout_ms must be at least 1"
        );
        anyhow::ensure!(
            self.max_requests_in_flight >= 1,
            "max_requests_in_flight must be at least 1"
        );
        anyhow::ensure!(
            self.rate_limit_burst != Some(0),
            "rate_limit_burst must be at least 1"
        );
        anyhow::ensure!(
            self.inbox_capacity >= 1,
            "inbox_capacity must be at least 1"
        );
        anyhow::ensure!(
            self.max_batch_age_ms <= 10_000,
            "max_batch_age_ms must be at most 10000 (writers wait that long for durability)"
        );
        Endpoint::from_config(&self.witnesses)?;
        anyhow::ensure!(
            self.witness_quorum <= self.witnesses.len(),
            "witness_quorum is {} but only {} witnesses are configured",
            self.witness_quorum,
            self.witnesses.len()
        );
        anyhow::ensure!(
            self.witness_interval_ms >= 1,
            "witness_interval_ms must be at least 1"
        );
        anyhow::ensure!(
            self.tuf_root_threshold >= 1
                && usize::try_from(self.tuf_root_threshold).is_ok_and(|t| t <= self.tuf_root_keys),
            "tuf_root_threshold must be between 1 and tuf_root_keys ({})",
            self.tuf_root_keys
        );
        anyhow::ensure!(
            self.tuf_keep_versions >= 1,
            "tuf_keep_versions must be at least 1 (a client that read the previous timestamp \
             must still find its snapshot)"
        );
        for (name, secs) in [
            ("tuf_root_expiry_secs", self.tuf_root_expiry_secs),
            ("tuf_targets_expiry_secs", self.tuf_targets_expiry_secs),
            ("tuf_snapshot_expiry_secs", self.tuf_snapshot_expiry_secs),
            ("tuf_timestamp_expiry_secs", self.tuf_timestamp_expiry_secs),
        ] {
            // Re-signed at half the lifetime, checked every eighth of the timestamp's.
            anyhow::ensure!(secs >= 4, "{name} must be at least 4");
        }
        for (i, issuer) in self.ca.oidc_issuers.iter().enumerate() {
            issuer.validate()?;
            anyhow::ensure!(
                !self.ca.oidc_issuers[..i]
                    .iter()
                    .any(|o| o.url == issuer.url),
                "OIDC issuer {} is configured twice",
                issuer.url
            );
        }
        anyhow::ensure!(
            self.ca.key_file.is_some() == self.ca.chain_file.is_some(),
            "ca.key_file and ca.chain_file go together: set both or neither"
        );
        Ok(())
    }

    /// The TUF repository's settings.
    pub fn tuf(&self) -> crate::tuf::TufSettings {
        crate::tuf::TufSettings {
            root_keys: self.tuf_root_keys,
            root_threshold: self.tuf_root_threshold,
            root_expiry: Duration::from_secs(self.tuf_root_expiry_secs),
            targets_expiry: Duration::from_secs(self.tuf_targets_expiry_secs),
            snapshot_expiry: Duration::from_secs(self.tuf_snapshot_expiry_secs),
            timestamp_expiry: Duration::from_secs(self.tuf_timestamp_expiry_secs),
            keep_versions: self.tuf_keep_versions,
        }
    }

    pub fn sequencer(&self) -> SequencerConfig {
        SequencerConfig {
            max_batch: self.max_batch,
            max_batch_age: Duration::from_millis(self.max_batch_age_ms),
            inbox_capacity: self.inbox_capacity,
        }
    }

    /// The public URL for a log named `hostname`.
    pub fn public_url_for(&self, hostname: &str) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = hostname.rsplit_once(':').map_or(hostname, |(h, _)| h);
        let local = hostname.contains(':')
            || host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok();
        if local && self.tls_cert_file.is_none() {
            format!("http://{hostname}")
        } else {
            format!("https://{hostname}")
        }
    }
}

/// A storage URL as it may be logged: its password replaced by `***` (URL or `password=`).
pub fn redact_url(url: &str) -> String {
    if let Ok(mut parsed) = reqwest::Url::parse(url) {
        if parsed.password().is_some() {
            // Setting a password fails only on URLs that cannot have one.
            let _ = parsed.set_password(Some("***"));
        }
        let query: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        if !query.is_empty() {
            parsed.query_pairs_mut().clear().extend_pairs(query);
        }
        return parsed.to_string();
    }
    // libpq `key=value` pairs, separated by spaces; a quoted value may hold spaces.
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find("password") {
        out.push_str(&rest[..at]);
        let after = rest[at + "password".len()..].trim_start();
        let Some(value) = after.strip_prefix('=') else {
            out.push_str("password");
            rest = &rest[at + "password".len()..];
            continue;
        };
        out.push_str("password=***");
        let value = value.trim_start();
        rest = match value.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or("", |end| &quoted[end + 1..]),
            None => value.find(' ').map_or("", |end| &value[end..]),
        };
    }
    out.push_str(rest);
    out
}

/// Every setting of `arkivo witness`: defaults, overridden by a TOML file (`--config`), extended
/// and overridden by flags.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WitnessConfig {
    /// Directory holding the witness's state (`db/`) and cosigning key (`keys/`).
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: String,
    /// Name of the witness's cosigning key (the name in its vkey), fixed when the witness is
    /// created. Defaults to the listen address.
    pub name: Option<String>,
    /// The logs to witness, by the vkeys of their Ed25519 checkpoint keys (type 0x01); the
    /// vkey's name is the log's origin.
    pub logs: Vec<String>,
}

impl Default for WitnessConfig {
    fn default() -> Self {
        WitnessConfig {
            data_dir: PathBuf::from("./arkivo-witness-data"),
            listen: "127.0.0.1:3100".into(),
            name: None,
            logs: Vec::new(),
        }
    }
}

impl WitnessConfig {
    /// Reads a TOML config file; unknown fields are errors.
    pub fn from_file(path: &Path) -> anyhow::Result<WitnessConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, redact_url};

    #[test]
    fn storage_urls_are_logged_without_their_password() {
        for (url, shown) in [
            (
                "postgres://arkivo:s3cret@db:5432/log?sslmode=require",
                "postgres://arkivo:***@db:5432/log?sslmode=require",
            ),
            (
                "postgres://db/log?user=arkivo&password=s3cret",
                "postgres://db/log?user=arkivo&password=***",
            ),
            ("postgres://arkivo@db/log", "postgres://arkivo@db/log"),
            (
                "host=db password=s3cret user=arkivo",
                "host=db password=*** user=arkivo",
            ),
            (
                "host=db password = 's3 cret' user=arkivo",
                "host=db password=*** user=arkivo",
            ),
            (
                "host=db user=arkivo password=s3cret",
                "host=db user=arkivo password=***",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
    #[test]
    fn a_read_url_needs_storage_and_is_shown_without_its_password() {
        let mut config = Config {
            storage_read_url: Some("postgres://arkivo:s3cret@replica/log".into()),
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("storage_read_url need storage"), "{err}");
        config.storage = Some("postgres://arkivo@primary/log".into());
        config.validate().unwrap();
        config.storage_read_url = Some("replica.example:5432 s3cret".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("storage_read_url must be a postgres:// URL"),
            "{err}"
        );
        config.storage_read_url = Some("https://arkivo:s3cret@replica/log".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
