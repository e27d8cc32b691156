//! `lameduck waiter`: the `wait` action's waiter container. It answers each container's
//! `preStop` `httpGet` at one release time for the pod (the first moment the pod is
//! quiet, not before `min`, at the latest `max`, measured from the first hook call) plus
//! the container's tier offset, so the plan's order holds (proxy < app < sidecar).
//!
//! It costs nothing until a hook calls: only then does it read the socket table, every
//! `poll`, until the release.
//!
//! As a regular container it gets SIGTERM at the deletion, together with the calls of the
//! hooks it is there to answer, so it does not stop at SIGTERM: `Hooks::answered_after`
//! keeps it serving until the hooks are answered.

pub mod quiet;
pub mod release;
pub mod sock_diag;
pub mod table;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::plan::duration::parse_millis;
use quiet::{Detector, Probe};
use release::{Ask, Bounds};
use table::Socket;

/// The header that carries the release time (milliseconds after the first hook call),
/// for tests and for people reading a hook's answer.
pub const RELEASE_HEADER: &str = "x-lameduck-release-ms";

/// Where the waiter reads sockets from.
pub trait SocketSource: Send + 'static {
    fn sample(&mut self) -> io::Result<Vec<Socket>>;
}

/// `/proc/net/tcp` and `/proc/net/tcp6` of the reader's network namespace. A missing
/// `tcp6` (IPv6 disabled) is an empty table; a missing `tcp` is an error.
#[derive(Debug, Clone)]
pub struct ProcNet {
    pub dir: PathBuf,
}

impl Default for ProcNet {
    fn default() -> Self {
        ProcNet {
            dir: PathBuf::from("/proc/net"),
        }
    }
}

impl SocketSource for ProcNet {
    fn sample(&mut self) -> io::Result<Vec<Socket>> {
        let mut sockets = table::parse(&std::fs::read_to_string(self.dir.join("tcp"))?);
        match std::fs::read_to_string(self.dir.join("tcp6")) {
            Ok(text) => sockets.extend(table::parse(&text)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        Ok(sockets)
    }
}

/// The waiter's settings.
#[derive(Debug, Clone)]
pub struct WaiterConfig {
    pub bounds: Bounds,
    pub poll: Duration,
    pub probes: Vec<Probe>,
    /// The waiter's port, whose connections (the hooks) are not the pod's traffic.
    pub port: u16,
    /// Whether bytes on kept-alive connections are traffic, or only new connections are.
    pub count_requests: bool,
}

struct Shared {
    config: WaiterConfig,
    /// When the first hook called.
    first_call: OnceLock<Instant>,
    started: AtomicBool,
    /// The release time, since the first call, once decided.
    release: watch::Sender<Option<Duration>>,
    source: Mutex<Option<Box<dyn SocketSource>>>,
    hooks: Hooks,
}

/// The hook calls the waiter has had, and how many it is answering now.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    in_flight: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

/// How long a waiter that got SIGTERM keeps accepting hook calls even when none is in
/// flight, when it does not know how many to expect: the kubelet calls the hooks and
/// sends the waiter SIGTERM at the same moment, from goroutines of their own.
pub const HOOK_SETTLE: Duration = Duration::from_secs(2);

impl Hooks {
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Resolves once `signal` has come and the hooks are answered: the moment a regular
    /// waiter may stop serving. With `expected` calls known, once that many have called
    /// and none is waiting for its answer (a call the kubelet makes late, on a busy node,
    /// is still answered), or, should one never come (its container already gone),
    /// `give_up` after the signal; not knowing, `HOOK_SETTLE` after it. A call in flight
    /// is always answered.
    pub async fn answered_after(
        self,
        signal: impl Future<Output = ()>,
        expected: usize,
        give_up: Duration,
    ) {
        signal.await;
        let since = Instant::now();
        tracing::info!(
            calls = self.calls(),
            expected,
            "SIGTERM: serving until the hooks are answered"
        );
        loop {
            let elapsed = since.elapsed();
            let all_called = if expected > 0 {
                self.calls() >= expected || elapsed >= give_up
            } else {
                elapsed >= HOOK_SETTLE
            };
            if all_called && self.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn enter(&self) -> HookCall {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        HookCall(self.clone())
    }
}

/// One hook call being answered; counted out when dropped, also when its client went away.
struct HookCall(Hooks);

impl Drop for HookCall {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The waiter's routes (`GET /release?after=N|at=N`, `GET /healthz`), and the count of
/// the hooks they are answering.
pub fn router(config: WaiterConfig, source: Box<dyn SocketSource>) -> (Router, Hooks) {
    let hooks = Hooks::default();
    let shared = Arc::new(Shared {
        config,
        first_call: OnceLock::new(),
        started: AtomicBool::new(false),
        release: watch::channel(None).0,
        source: Mutex::new(Some(source)),
        hooks: hooks.clone(),
    });
    let router = Router::new()
        .route("/release", get(release_hook))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(shared);
    (router, hooks)
}

/// Serves until `shutdown` resolves, then lets hooks in flight be answered (each by its
/// own deadline) before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the waiter's port on every address: `[::]` (which takes IPv4 too), or
/// `0.0.0.0` where the pod has no IPv6.
pub async fn bind(port: u16) -> io::Result<TcpListener> {
    match TcpListener::bind(("::", port)).await {
        Ok(listener) => Ok(listener),
        Err(_) => TcpListener::bind(("0.0.0.0", port)).await,
    }
}

async fn release_hook(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let Some(ask) = uri.query().and_then(parse_ask) else {
        return (
            StatusCode::BAD_REQUEST,
            "expected /release?after=DURATION or /release?at=DURATION\n",
        )
            .into_response();
    };
    let _call = shared.hooks.enter();
    let first_call = *shared.first_call.get_or_init(Instant::now);
    if !shared.started.swap(true, Ordering::SeqCst) {
        let source = shared.source.lock().ok().and_then(|mut slot| slot.take());
        if let Some(source) = source {
            tokio::spawn(watch_until_release(shared.clone(), first_call, source));
        }
    }
    let release = match ask {
        Ask::At(_) => *shared.release.borrow(),
        Ask::After(_) => {
            let mut receiver = shared.release.subscribe();
            match receiver.wait_for(Option::is_some).await {
                Ok(release) => *release,
                // The watcher is gone (it cannot be, while `shared` lives): answer at max.
                Err(_) => Some(shared.config.bounds.max),
            }
        }
    };
    let at = ask.answer_at(release).unwrap_or(shared.config.bounds.max);
    tokio::time::sleep_until(first_call + at).await;
    let release_ms = release.map_or_else(|| "none".to_string(), |r| r.as_millis().to_string());
    (
        [(
            header::HeaderName::from_static(RELEASE_HEADER),
            release_ms.clone(),
        )],
        format!(
            "released at {release_ms} ms; answered at {} ms\n",
            at.as_millis()
        ),
    )
        .into_response()
}

/// `after=5`, `after=200ms`, `at=7` (durations as annotations write them).
fn parse_ask(query: &str) -> Option<Ask> {
    let (key, value) = query.split('&').find_map(|pair| pair.split_once('='))?;
    let value = Duration::from_millis(parse_millis(value).ok()?);
    match key {
        "after" => Some(Ask::After(value)),
        "at" => Some(Ask::At(value)),
        _ => None,
    }
}

/// Reads the socket table every `poll` from the first hook call on, and publishes the
/// release time once the bounds say so.
async fn watch_until_release(
    shared: Arc<Shared>,
    first_call: Instant,
    mut source: Box<dyn SocketSource>,
) {
    let config = &shared.config;
    let mut detector = Detector::new(config.port, &config.probes, config.count_requests);
    let mut sample_error_logged = false;
    loop {
        let elapsed = first_call.elapsed();
        match source.sample() {
            Ok(sockets) => {
                detector.observe(elapsed, &sockets);
            }
            Err(error) => {
                if !sample_error_logged {
                    tracing::warn!(%error, "cannot read the socket table; waiting until max");
                    sample_error_logged = true;
                }
                detector.assume_activity(elapsed);
            }
        }
        if config.bounds.due(elapsed, detector.last_activity()) {
            let release = config.bounds.release_at(elapsed);
            let totals = detector.totals();
            tracing::info!(
                release_ms = u64::try_from(release.as_millis()).unwrap_or(u64::MAX),
                quiet = release < config.bounds.max,
                last_activity_ms = detector
                    .last_activity()
                    .map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
                snapshots = totals.snapshots,
                new_connections = totals.new_connections,
                probes = totals.probes,
                busy = totals.busy,
                "released"
            );
            shared.release.send_replace(Some(release));
            return;
        }
        let next = (elapsed + config.poll).min(config.bounds.max);
        tokio::time::sleep_until(first_call + next).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_are_read_from_the_query() {
        assert_eq!(
            parse_ask("after=5"),
            Some(Ask::After(Duration::from_secs(5)))
        );
        assert_eq!(
            parse_ask("after=200ms"),
            Some(Ask::After(Duration::from_millis(200)))
        );
        assert_eq!(parse_ask("at=7"), Some(Ask::At(Duration::from_secs(7))));
        assert_eq!(parse_ask("later=7"), None);
        assert_eq!(parse_ask("after=soon"), None);
        assert_eq!(parse_ask(""), None);
    }
}
