//! The TLS accept loop and the connections it serves: handshakes, HTTP/1.1 and h2, and
//! the connection side of a drain.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use super::HEADER_READ_TIMEOUT;

/// A TLS handshake gets the same bound as reading the headers that follow it.
const HANDSHAKE_TIMEOUT: Duration = HEADER_READ_TIMEOUT;

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
