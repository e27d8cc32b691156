//! The HTTPS admission server and the plain-HTTP metrics server, with certificate
//! rotation and a drain that answers every request it accepted.

mod activity;
mod body;
mod connections;
mod routes;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::webhook::Webhook;
pub use body::{BodyLimits, MAX_BODY_BYTES};
pub use connections::serve_tls;
use connections::{HandshakeObserver, serve_tls_observed};
use routes::{AppState, admin_router, admission_router};
use tls::{CertResolver, CertSource, TlsError};

/// For the TLS handshake, and for a request's head once its first byte is in: long
/// enough for a slow client on a busy network, short enough that stalled handshakes and
/// heads cannot pile up. A connection with nothing in progress is idle and has its own,
/// longer timeout (`activity::IDLE_TIMEOUT`): the API server may park a fresh connection
/// in its pool before using it. The API server sends a review in one write.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The kubelet updates a mounted Secret within about a minute; polling every few
/// seconds serves a new certificate well within 10 s of the swap, for a few `stat`s.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("binding {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Plain HTTP: metrics and health (`--metrics-listen`, the name users know).
    pub admin_listen: SocketAddr,
    pub cert: CertSource,
    /// After the first signal, how long reviews keep being answered with `/readyz` 503.
    pub drain_delay: Duration,
    /// After the listener closes, how long in-flight requests get to finish.
    pub shutdown_timeout: Duration,
    pub cert_poll_interval: Duration,
    pub body_limits: BodyLimits,
}

/// Readiness: false while starting (until the cluster is first read), true while
/// serving, false for good once draining starts.
#[derive(Debug, Default)]
pub struct Health {
    phase: AtomicU8,
}

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

impl Health {
    pub fn is_ready(&self) -> bool {
        self.phase.load(Ordering::Acquire) == READY
    }

    /// Ready, unless a drain already began (a late first sync must not undo it).
    pub fn mark_ready(&self) {
        let _ = self
            .phase
            .compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn is_draining(&self) -> bool {
        self.phase.load(Ordering::Acquire) == DRAINING
    }

    pub fn start_draining(&self) {
        self.phase.store(DRAINING, Ordering::Release);
    }
}

/// A bound server, not yet serving: tests read its ports before it runs.
pub struct Server {
    config: ServerConfig,
    https: TcpListener,
    admin_listener: TcpListener,
    state: AppState,
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
    cert_fingerprint: tls::Fingerprint,
}

impl Server {
    pub async fn bind(
        config: ServerConfig,
        webhook: Arc<Webhook>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServerError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert_fingerprint = match &config.cert {
            CertSource::Files { cert, key } => tls::fingerprint([cert, key]),
            CertSource::SelfSigned => None,
        };
        let cert = config.cert.load(&provider)?;
        if matches!(config.cert, CertSource::SelfSigned) {
            tracing::warn!(
                "no --tls-cert/--tls-key given: serving a self-signed certificate for localhost and 127.0.0.1 made in memory"
            );
        }
        metrics.set_tls_expiry(cert.not_after);
        let resolver = Arc::new(CertResolver::new(cert));
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })
        };
        let body_limits = config.body_limits;
        let https = bind(config.listen).await?;
        let admin_listener = bind(config.admin_listen).await?;
        Ok(Server {
            config,
            https,
            admin_listener,
            state: AppState::new(webhook, metrics, Arc::new(Health::default()), body_limits),
            resolver,
            provider,
            cert_fingerprint,
        })
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.https.local_addr().unwrap_or(self.config.listen)
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener
            .local_addr()
            .unwrap_or(self.config.admin_listen)
    }

    /// Serves, ready at once, until `drain` is cancelled: see `run_when_ready`.
    pub async fn run(self, drain: CancellationToken) -> Result<(), ServerError> {
        self.run_when_ready(std::future::ready(()), drain).await
    }

    /// Serves until `drain` is cancelled, then drains: `/readyz` turns 503 at once,
    /// reviews are answered for `drain_delay`, the listener closes, and in-flight
    /// requests get `shutdown_timeout` to finish. `/readyz` answers 200 only once
    /// `ready` has completed (the cluster's first sync); reviews are answered before.
    pub async fn run_when_ready(
        self,
        ready: impl Future<Output = ()> + Send + 'static,
        drain: CancellationToken,
    ) -> Result<(), ServerError> {
        let Server {
            config,
            https,
            admin_listener,
            state,
            resolver,
            provider,
            cert_fingerprint,
        } = self;
        let background = CancellationToken::new();

        if let CertSource::Files { cert, key } = &config.cert {
            tokio::spawn(watch_certificates(
                (cert.clone(), key.clone(), cert_fingerprint),
                config.cert_poll_interval,
                provider.clone(),
                resolver.clone(),
                state.metrics().clone(),
                background.clone(),
            ));
        }

        let tls = Arc::new(tls::server_config(provider, resolver)?);
        let admin_addr = admin_listener.local_addr();
        let metrics_server = tokio::spawn({
            let router = admin_router(state.clone());
            let stop = background.clone();
            async move {
                let served = axum::serve(admin_listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "metrics server failed");
                }
            }
        });

        tokio::spawn({
            let health = state.health().clone();
            async move {
                ready.await;
                health.mark_ready();
                if health.is_ready() {
                    tracing::info!("ready");
                }
            }
        });
        let local = |listener: std::io::Result<SocketAddr>, configured: SocketAddr| {
            listener.unwrap_or(configured).to_string()
        };
        tracing::info!(
            listen = %local(https.local_addr(), config.listen),
            // Named after the flag, which keeps its name.
            metrics_listen = %local(admin_addr, config.admin_listen),
            "serving admission reviews"
        );

        let draining = {
            let health = state.health().clone();
            let drain_delay = config.drain_delay;
            async move {
                drain.cancelled().await;
                health.start_draining();
                tracing::info!(
                    drain_delay_seconds = drain_delay.as_secs_f64(),
                    "shutdown requested: readiness is now failing, still answering reviews"
                );
                tokio::time::sleep(drain_delay).await;
            }
        };
        let on_handshake: HandshakeObserver = {
            let metrics = state.metrics().clone();
            Arc::new(move |alpn| metrics.record_tls_handshake(alpn))
        };
        serve_tls_observed(
            https,
            tls,
            admission_router(state),
            draining,
            config.shutdown_timeout,
            on_handshake,
        )
        .await;
        background.cancel();
        let _ = metrics_server.await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn watch_certificates(
    (cert, key, seen): (PathBuf, PathBuf, tls::Fingerprint),
    interval: Duration,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CertResolver>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let reporting = metrics.clone();
    let watching = tls::watch_files(
        cert,
        key,
        seen,
        interval,
        provider,
        resolver,
        move |result, loaded| {
            reporting.record_tls_reload(result == tls::ReloadResult::Success);
            match loaded {
                Ok(fresh) => {
                    reporting.set_tls_expiry(fresh.not_after);
                    tracing::info!("serving a reloaded certificate");
                }
                Err(error) => {
                    tracing::error!(error = %crate::ErrorChain(error), "certificate files changed but do not load; still serving the previous certificate");
                }
            }
        },
    );
    tokio::select! {
        () = watching => {}
        () = stop.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterState;
    use crate::plan::Settings;
    use crate::scope::Mode;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn readyz_status(addr: SocketAddr) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_string()
    }

    /// Ports are open (liveness answers) while the cluster is being read; readiness waits.
    #[tokio::test]
    async fn ready_only_after_the_first_sync() {
        let cluster = Arc::new(ClusterState::standalone());
        let webhook = Arc::new(Webhook::new(
            Settings::default(),
            Mode::Cluster,
            cluster.clone(),
        ));
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            cert: CertSource::SelfSigned,
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(1),
            cert_poll_interval: CERT_POLL_INTERVAL,
            body_limits: BodyLimits::default(),
        };
        let server = Server::bind(config, webhook, Arc::new(Metrics::new(cluster)))
            .await
            .unwrap();
        let metrics = server.admin_addr();
        let (synced, first_sync) = tokio::sync::oneshot::channel::<()>();
        let drain = CancellationToken::new();
        let running = tokio::spawn(server.run_when_ready(
            async move {
                let _ = first_sync.await;
            },
            drain.clone(),
        ));
        assert_eq!(
            readyz_status(metrics).await,
            "HTTP/1.1 503 Service Unavailable"
        );
        synced.send(()).unwrap();
        while readyz_status(metrics).await != "HTTP/1.1 200 OK" {
            tokio::task::yield_now().await;
        }
        drain.cancel();
        running.await.unwrap().unwrap();
    }

    #[test]
    fn a_drain_is_final() {
        let health = Health::default();
        assert!(!health.is_ready() && !health.is_draining());
        health.start_draining();
        // The cluster's first sync arriving after SIGTERM must not make the pod ready again.
        health.mark_ready();
        assert!(!health.is_ready());
        assert!(health.is_draining());
    }
}
