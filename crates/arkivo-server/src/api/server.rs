//! The HTTP/1.1 accept loop: [`hyper`] connections, optionally over TLS (rustls), with a header
//! read timeout (slow clients), a cap on open connections (per client too, see
//! [`crate::ratelimit::ClientSlots`]), and graceful shutdown that lets
//! requests in flight finish. (`axum::serve` offers neither a header timeout nor a cap.)

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use arkivo_core::limits::MAX_CONNECTIONS;

/// Longest the server waits, at shutdown, for requests in flight (a write waits at most for its
/// batch's commit).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A TLS acceptor from a PEM certificate chain and a PEM private key (TLS 1.2 and 1.3). With
/// `client_ca` (PEM certificates), clients are asked for a certificate chaining to one of them:
/// one that presents another is refused at the handshake, one that presents none is served (reads
/// are public; see [`crate::auth`] for what a verified certificate allows).
pub fn tls_acceptor(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("reading the TLS certificate chain {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    // Refused when others can read it, like the log's own keys.
    let key = crate::keyfile::read_private_key(key)
        .and_then(|pem| Ok(PrivateKeyDer::from_pem_slice(pem.as_bytes())?))
        .with_context(|| format!("reading the TLS private key {}", key.display()))?;
    // The provider is named: with both aws-lc-rs and ring in the build (clients in the tests
    // bring ring), rustls will not pick one by itself.
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let builder = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading the client CA file {}", ca.display()))?
            {
                let c =
                    c.with_context(|| format!("reading the client CA file {}", ca.display()))?;
                roots
                    .add(c)
                    .with_context(|| format!("a certificate in {}", ca.display()))?;
            }
            anyhow::ensure!(!roots.is_empty(), "{} holds no certificate", ca.display());
            let verifier =
                tokio_rustls::rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .context("the client CA certificates")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What the accept loop serves: the log's [`super::Service`] or the witness's router.
pub type App = tower::util::BoxCloneSyncService<
    axum::http::Request<hyper::body::Incoming>,
    axum::response::Response,
    std::convert::Infallible,
>;

/// Serves `app` on `listener` (over TLS when `tls` is set) until `shutdown` completes, then
/// drains.
pub async fn serve(
    listener: TcpListener,
    app: App,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    // Per client too: one address holding partial-header connections, reopened as the header
    // timeout cuts them, would otherwise starve everyone, health probes included.
    let slots = crate::ratelimit::ClientSlots::new(MAX_CONNECTIONS);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, typically: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match slots.try_acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                tracing::warn!(%peer, "too many connections ({full}); closing this one");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            b
        };
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let app = app.clone();
        tokio::spawn(async move {
            // Handlers and the rate limiter learn the client's address from the request, and
            // the write gate whether its TLS client certificate was verified.
            let service = move |client_certificate: bool| {
                TowerToHyperService::new(tower::ServiceExt::map_request(
                    app,
                    move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        if client_certificate {
                            req.extensions_mut()
                                .insert(crate::auth::VerifiedClientCertificate);
                        }
                        req
                    },
                ))
            };
            let result = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service(false));
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    // The handshake is bounded like the headers: a slow client gets no more.
                    let stream =
                        match tokio::time::timeout(header_read_timeout, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                    // rustls presents peer certificates only once they verified.
                    let verified = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .is_some_and(|c| !c.is_empty());
                    let conn = builder.serve_connection(TokioIo::new(stream), service(verified));
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; closing them");
    }
}
