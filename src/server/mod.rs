//! The HTTPS admission server and the plain-HTTP metrics server, with certificate
//! rotation and a drain that answers every request it accepted.

pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::crypto::CryptoProvider;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::ClusterState;
use crate::metrics::Metrics;
use crate::webhook::Webhook;
use tls::{CertResolver, CertSource, TlsError};

/// An UPDATE review carries two copies of the object; 8 MiB covers the largest objects
/// etcd accepts (1.5 MiB) twice over with room for the envelope.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Long enough for a slow client on a busy network, short enough that port scanners and
/// idle connections cannot pile up. The API server sends a review in one write.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS handshake gets the same bound as reading the headers that follow it.
const HANDSHAKE_TIMEOUT: Duration = HEADER_READ_TIMEOUT;

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
    pub metrics_listen: SocketAddr,
    pub cert: CertSource,
    /// After the first signal, how long reviews keep being answered with `/readyz` 503.
    pub drain_delay: Duration,
    /// After the listener closes, how long in-flight requests get to finish.
    pub shutdown_timeout: Duration,
    pub cert_poll_interval: Duration,
}

/// Readiness: false until the listener is bound, false again once draining starts.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

#[derive(Clone)]
struct AppState {
    webhook: Arc<Webhook>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    cluster: Arc<ClusterState>,
}

/// The HTTPS routes. Public so tests can drive them without a socket.
fn admission_router(state: AppState) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.health.clone(),
            close_when_draining,
        ))
        .with_state(state)
}

/// While draining, HTTP/1.1 answers carry `Connection: close`, so clients stop reusing
/// connections before the listener closes: a request written onto an idle keep-alive
/// connection just as the server closes it would be lost. (HTTP/2 gets GOAWAY instead.)
async fn close_when_draining(
    State(health): State<Arc<Health>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let http1 = request.version() <= axum::http::Version::HTTP_11;
    let mut response = next.run(request).await;
    if http1 && !health.is_ready() {
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn mutate(State(state): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "review",
        uid = tracing::field::Empty,
        kind = tracing::field::Empty,
        namespace = tracing::field::Empty,
        name = tracing::field::Empty,
        operation = tracing::field::Empty,
        outcome = tracing::field::Empty,
        duration_us = tracing::field::Empty,
    );
    let _entered = span.enter();
    let result = state.webhook.review(&body);
    let seconds = started.elapsed().as_secs_f64();
    span.record("duration_us", (seconds * 1e6) as u64);
    match result {
        Ok(reviewed) => {
            span.record("outcome", reviewed.outcome.as_str());
            state.metrics.record_review(&reviewed, seconds);
            if !reviewed.warnings.is_empty() {
                tracing::debug!(
                    warnings = reviewed.warnings.len(),
                    "review answered with warnings"
                );
            }
            tracing::debug!("review answered");
            ([(header::CONTENT_TYPE, "application/json")], reviewed.body).into_response()
        }
        Err(error) => {
            span.record("outcome", "invalid");
            state.metrics.record_invalid(seconds);
            if error.is_bad_request() {
                tracing::warn!(%error, "rejected a request that is not an AdmissionReview");
                (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
            } else {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "cannot answer a review"
                );
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response()
            }
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let choice = state.cluster.action();
    let status = if state.health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let state_line = if status == StatusCode::OK {
        "ready"
    } else {
        "not ready (starting or draining)"
    };
    let namespaces = match (
        state.cluster.namespaces_known(),
        state.cluster.api_reachable(),
    ) {
        (true, true) => "watched",
        (true, false) => "last known (API server unreachable)",
        (false, _) => "unknown (no cluster, or not synced yet)",
    };
    let body = format!(
        "{state_line}\nhook action for auto: {} ({})\nnamespaces: {namespaces}\n",
        choice.action.as_str(),
        choice.reason
    );
    (status, body).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// A bound server, not yet serving: tests read its ports before it runs.
pub struct Server {
    config: ServerConfig,
    https: TcpListener,
    metrics_listener: TcpListener,
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
        let https = bind(config.listen).await?;
        let metrics_listener = bind(config.metrics_listen).await?;
        let cluster = webhook.cluster.clone();
        Ok(Server {
            config,
            https,
            metrics_listener,
            state: AppState {
                webhook,
                metrics,
                health: Arc::new(Health::default()),
                cluster,
            },
            resolver,
            provider,
            cert_fingerprint,
        })
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.https.local_addr().unwrap_or(self.config.listen)
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .unwrap_or(self.config.metrics_listen)
    }

    pub fn health(&self) -> Arc<Health> {
        self.state.health.clone()
    }

    /// Serves until `drain` is cancelled, then drains: `/readyz` turns 503 at once,
    /// reviews are answered for `drain_delay`, the listener closes, and in-flight
    /// requests get `shutdown_timeout` to finish.
    pub async fn run(self, drain: CancellationToken) -> Result<(), ServerError> {
        let Server {
            config,
            https,
            metrics_listener,
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
                state.metrics.clone(),
                background.clone(),
            ));
        }

        let tls = Arc::new(tls::server_config(provider, resolver)?);
        let metrics_addr = metrics_listener.local_addr();
        let metrics_server = tokio::spawn({
            let router = metrics_router(state.clone());
            let stop = background.clone();
            async move {
                let served = axum::serve(metrics_listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "metrics server failed");
                }
            }
        });

        state.health.set_ready(true);
        let local = |listener: std::io::Result<SocketAddr>, configured: SocketAddr| {
            listener.unwrap_or(configured).to_string()
        };
        tracing::info!(
            listen = %local(https.local_addr(), config.listen),
            metrics_listen = %local(metrics_addr, config.metrics_listen),
            "serving admission reviews"
        );

        let draining = {
            let health = state.health.clone();
            let drain_delay = config.drain_delay;
            async move {
                drain.cancelled().await;
                health.set_ready(false);
                tracing::info!(
                    drain_delay_seconds = drain_delay.as_secs_f64(),
                    "shutdown requested: readiness is now failing, still answering reviews"
                );
                tokio::time::sleep(drain_delay).await;
            }
        };
        serve_tls(
            https,
            tls,
            admission_router(state),
            draining,
            config.shutdown_timeout,
        )
        .await;
        background.cancel();
        let _ = metrics_server.await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serves `router` over TLS on `listener` until `stop` completes, then closes the
/// listener and gives in-flight requests (and connections still in their handshake)
/// `shutdown_timeout` to finish. Public so the benchmark baseline uses the same stack.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    stop: impl Future<Output = ()>,
    shutdown_timeout: Duration,
) {
    let Connections { graceful, tracker } =
        accept_loop(listener, TlsAcceptor::from(tls), router, stop).await;
    tracing::info!(
        in_flight = tracker.len(),
        "listener closed; waiting for in-flight requests"
    );
    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    if tokio::time::timeout_at(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the shutdown timeout");
    }
    tracker.close();
    let _ = tokio::time::timeout_at(deadline, tracker.wait()).await;
}

struct Connections {
    graceful: GracefulShutdown,
    tracker: TaskTracker,
}

/// Accepts TLS connections until `stop` completes. Each connection is tracked so the
/// drain can wait for it, including ones still in their handshake.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    stop: impl Future<Output = ()>,
) -> Connections {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let tracker = TaskTracker::new();
    tokio::pin!(stop);
    loop {
        let (tcp, _peer) = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Without it the first answer on a connection can stall ~40 ms (Nagle + delayed ACK).
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tracker.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    Connections { graceful, tracker }
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
