//! The TLS accept loop and the connections it serves: handshakes, HTTP/1.1 and h2, and
//! the connection side of a drain.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::HEADER_READ_TIMEOUT;
use super::activity::{Activity, ActivityIo, Expiry, IDLE_TIMEOUT, Tracked};

/// A TLS handshake gets the same bound as reading the headers that follow it.
const HANDSHAKE_TIMEOUT: Duration = HEADER_READ_TIMEOUT;

/// How long a connection accepted before the listener closed gets to send its first
/// request once the drain reaches it: the same bound as any request's headers (Go's
/// net/http gives a brand-new connection 5 s in `Shutdown` too).
const FIRST_REQUEST_GRACE: Duration = HEADER_READ_TIMEOUT;

/// Told of each completed TLS handshake, with the ALPN protocol it settled on.
pub(super) type HandshakeObserver = Arc<dyn Fn(Option<&[u8]>) + Send + Sync>;

/// Serves `router` over TLS on `listener` until `stop` completes, then closes the
/// listener and gives in-flight requests (and connections still in their handshake, or
/// accepted but yet to send their first request) `shutdown_timeout` to finish. Public so
/// the benchmark baseline uses the same stack.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    stop: impl Future<Output = ()>,
    shutdown_timeout: Duration,
) {
    serve_tls_observed(
        listener,
        tls,
        router,
        stop,
        shutdown_timeout,
        Arc::new(|_| {}),
    )
    .await;
}

/// `serve_tls`, telling `on_handshake` of every completed handshake.
pub(super) async fn serve_tls_observed(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    stop: impl Future<Output = ()>,
    shutdown_timeout: Duration,
    on_handshake: HandshakeObserver,
) {
    let drain = DrainTokens {
        shutdown: CancellationToken::new(),
        abort: CancellationToken::new(),
    };
    let acceptor = TlsAcceptor::from(tls);
    let tracker = accept_loop(listener, acceptor, on_handshake, router, stop, &drain).await;
    tracing::info!(
        in_flight = tracker.len(),
        "listener closed; waiting for in-flight requests"
    );
    drain.shutdown.cancel();
    tracker.close();
    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    if tokio::time::timeout_at(deadline, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the shutdown timeout");
        drain.abort.cancel();
        tracker.wait().await;
    }
}

/// One connection builder per protocol ALPN can settle on.
struct Builders {
    http1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
}

impl Builders {
    fn new() -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // hyper's header timeout also runs on idle kept-alive connections: `Activity`
        // keeps the two apart.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None);
        builder.http2().timer(TokioTimer::new());
        Builders {
            http1: builder.clone().http1_only(),
            h2: builder.http2_only(),
        }
    }
}

/// What the drain tells every connection: `shutdown` (finish what you have, take no
/// more), then, past the shutdown timeout, `abort`.
#[derive(Clone)]
struct DrainTokens {
    shutdown: CancellationToken,
    abort: CancellationToken,
}

/// Accepts TLS connections until `stop` completes. Each connection is tracked so the
/// drain can wait for it, including ones still in their handshake.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    on_handshake: HandshakeObserver,
    router: Router,
    stop: impl Future<Output = ()>,
    drain: &DrainTokens,
) -> TaskTracker {
    let builders = Arc::new(Builders::new());
    let tracker = TaskTracker::new();
    let spawn = |tcp: TcpStream| {
        // Without it the first answer on a connection can stall ~40 ms (Nagle + delayed ACK).
        let _ = tcp.set_nodelay(true);
        tracker.spawn(serve_connection(
            tcp,
            acceptor.clone(),
            on_handshake.clone(),
            builders.clone(),
            router.clone(),
            drain.clone(),
        ));
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => spawn(tcp),
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Connections the kernel completed but nobody accepted yet would be reset by the
    // close; their clients think they are connected, so serve them like the rest.
    if let Ok(listener) = listener.into_std() {
        while let Ok((tcp, _peer)) = listener.accept() {
            if tcp.set_nonblocking(true).is_ok()
                && let Ok(tcp) = TcpStream::from_std(tcp)
            {
                spawn(tcp);
            }
        }
    }
    tracker
}

/// One connection: the TLS handshake, then HTTP until the client leaves or the drain
/// ends it. On `shutdown`, a connection that has not had its first request yet gets it
/// answered (with `Connection: close`) before it closes: hyper's graceful shutdown
/// alone would close it unread, and its client, which saw the connection accepted,
/// would lose that request.
async fn serve_connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    on_handshake: HandshakeObserver,
    builders: Arc<Builders>,
    router: Router,
    drain: DrainTokens,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    let tls = tokio::select! {
        handshake = handshake => match handshake {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
        () = drain.abort.cancelled() => return,
    };
    let alpn = tls.get_ref().1.alpn_protocol();
    on_handshake(alpn);
    let h2 = alpn == Some(b"h2");
    // ALPN decides the protocol (RFC 9113 §3.2): without `h2`, no h2 preface is sniffed,
    // so the head timeout below never meets h2's frames between requests.
    let builder = if h2 { &builders.h2 } else { &builders.http1 };
    let head_timeout = (!h2).then_some(HEADER_READ_TIMEOUT);
    let activity = Activity::new(head_timeout, IDLE_TIMEOUT);
    let first_request = CancellationToken::new();
    let service = FirstRequest {
        inner: TowerToHyperService::new(router),
        seen: first_request.clone(),
        activity: activity.clone(),
    };
    let io = TokioIo::new(ActivityIo::new(tls, activity.clone()));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => Some(ended),
        () = drain.shutdown.cancelled() => None,
        expiry = activity.expired() => match expiry {
            Expiry::SlowHead => {
                tracing::debug!("request head not received in time: closing the connection");
                return;
            }
            Expiry::Idle => {
                connection.as_mut().graceful_shutdown();
                Some(tokio::select! {
                    ended = connection.as_mut() => ended,
                    () = drain.abort.cancelled() => return,
                })
            }
        },
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            // hyper's graceful shutdown waits for a first request whose head has begun:
            // a client that stalls there would hold the drain until the abort.
            let overdue = activity.head_overdue();
            tokio::pin!(overdue);
            let first = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                () = first_request.cancelled() => None,
                () = tokio::time::sleep(FIRST_REQUEST_GRACE) => None,
                () = &mut overdue => return,
            };
            match first {
                Some(ended) => ended,
                None => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        ended = connection.as_mut() => ended,
                        () = drain.abort.cancelled() => return,
                        () = &mut overdue => return,
                    }
                }
            }
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Passes requests on, and marks when the connection's first one arrived: until then a
/// graceful shutdown must wait, after it the shutdown finishes that request and closes.
/// Each request counts as the connection's activity while it is in flight.
#[derive(Clone)]
struct FirstRequest<S> {
    inner: S,
    seen: CancellationToken,
    activity: Arc<Activity>,
}

impl<S, R> hyper::service::Service<R> for FirstRequest<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn call(&self, request: R) -> Self::Future {
        if !self.seen.is_cancelled() {
            self.seen.cancel();
        }
        self.activity.track(self.inner.call(request))
    }
}
