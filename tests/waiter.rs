//! The waiter over HTTP, as the kubelet calls it: started on an ephemeral port with
//! bounds of a few hundred milliseconds, fed socket tables by the test (or the real
//! `/proc/net/tcp`). Assertions are on the release time the waiter reports (its own
//! clock) and on lower bounds, never on how fast the machine is.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lameduck::waiter::release::Bounds;
use lameduck::waiter::sock_diag::SockDiag;
use lameduck::waiter::table::{ESTABLISHED, LISTEN, Socket};
use lameduck::waiter::{self, ProcNet, RELEASE_HEADER, SocketSource, WaiterConfig};
use tokio::net::TcpListener;

/// A socket table the test changes while the waiter reads it.
#[derive(Clone, Default)]
struct Table(Arc<Mutex<Vec<Socket>>>);

impl SocketSource for Table {
    fn sample(&mut self) -> io::Result<Vec<Socket>> {
        Ok(self.0.lock().unwrap().clone())
    }
}

/// A table that cannot be read.
struct Broken;

impl SocketSource for Broken {
    fn sample(&mut self) -> io::Result<Vec<Socket>> {
        Err(io::Error::other("no /proc here"))
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(port: u16, min: u64, max: u64) -> WaiterConfig {
    WaiterConfig {
        bounds: Bounds {
            min: ms(min),
            max: ms(max),
            window: ms(50),
        },
        poll: ms(10),
        probes: vec![],
        port,
        count_requests: true,
    }
}

async fn start(config: impl FnOnce(u16) -> WaiterConfig, source: Box<dyn SocketSource>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (router, _) = waiter::router(config(port), source);
    tokio::spawn(waiter::serve(listener, router, std::future::pending()));
    format!("http://127.0.0.1:{port}")
}

/// Calls a hook; returns the release time the waiter reports (`none` before a fixed
/// delay's answer reads as `u64::MAX`) and how long the call took.
async fn call(base: &str, path: &str) -> (u64, Duration) {
    let started = Instant::now();
    let response = get(&format!("{base}{path}")).await;
    assert_eq!(response.status(), 200, "{path}");
    let release = response.headers()[RELEASE_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or(u64::MAX);
    (release, started.elapsed())
}

/// Plain HTTP, as the kubelet calls; reqwest still wants a crypto provider chosen.
async fn get(url: &str) -> reqwest::Response {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(url).await.unwrap()
}

fn socket(local: &str, remote: &str, state: u8) -> Socket {
    Socket {
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        state,
        rx_queue: 0,
        inode: 7,
        bytes_received: None,
    }
}

#[tokio::test]
async fn a_quiet_pod_is_released_at_min_and_each_tier_after_it() {
    let table = Table::default();
    *table.0.lock().unwrap() = vec![socket("0.0.0.0:8080", "0.0.0.0:0", LISTEN)];
    let base = start(|port| config(port, 150, 3_000), Box::new(table)).await;
    let (app, sidecar) = tokio::join!(
        call(&base, "/release?after=0"),
        call(&base, "/release?after=200ms")
    );
    // Released once, at min (quiet from the start), by the waiter's own clock.
    assert_eq!(app.0, sidecar.0);
    assert!((150..3_000).contains(&app.0), "release at {} ms", app.0);
    assert!(app.1 >= ms(150));
    // The later tier is answered its offset after the release.
    assert!(
        sidecar.1 >= ms(350),
        "sidecar answered after {:?}",
        sidecar.1
    );
}

#[tokio::test]
async fn traffic_that_never_stops_is_released_at_max() {
    let table = Table::default();
    *table.0.lock().unwrap() = vec![socket("0.0.0.0:8080", "0.0.0.0:0", LISTEN)];
    let feeder = table.clone();
    // A new inbound connection on every read: a pod that keeps getting traffic.
    let traffic = tokio::spawn(async move {
        for peer_port in 40_000u16.. {
            feeder.0.lock().unwrap().push(socket(
                "10.88.2.5:8080",
                &format!("10.1.0.7:{peer_port}"),
                ESTABLISHED,
            ));
            tokio::time::sleep(ms(5)).await;
        }
    });
    let base = start(|port| config(port, 50, 400), Box::new(table)).await;
    let (release, took) = call(&base, "/release?after=0").await;
    traffic.abort();
    assert_eq!(release, 400);
    assert!(took >= ms(400));
}

#[tokio::test]
async fn an_unreadable_table_waits_until_max() {
    let base = start(|port| config(port, 50, 300), Box::new(Broken)).await;
    assert_eq!(call(&base, "/release?after=0").await.0, 300);
}

#[tokio::test]
async fn a_fixed_delay_does_not_wait_for_the_release() {
    let table = Table::default();
    let base = start(|port| config(port, 50, 2_000), Box::new(table)).await;
    let (_, took) = call(&base, "/release?at=120ms").await;
    assert!(took >= ms(120));
}

#[tokio::test]
async fn health_answers_before_any_hook_and_bad_asks_are_refused() {
    let base = start(|port| config(port, 50, 300), Box::new(Table::default())).await;
    let health = get(&format!("{base}/healthz")).await;
    assert_eq!(health.status(), 200);
    let bad = get(&format!("{base}/release?whenever=1")).await;
    assert_eq!(bad.status(), 400);
}

/// A waiter with a signal the test sends as the kubelet would send SIGTERM; `expected`:
/// `None` stops at the signal (a native sidecar), `Some(n)` holds (`--hold-on-sigterm
/// --hooks=n`).
async fn start_with_sigterm(
    min: u64,
    expected: Option<usize>,
    give_up: Duration,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (router, hooks) = waiter::router(config(port, min, 30_000), Box::new(Table::default()));
    let (sigterm, signal) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        let _ = signal.await;
    };
    let served = match expected {
        Some(expected) => tokio::spawn(waiter::serve(
            listener,
            router,
            hooks.answered_after(signal, expected, give_up),
        )),
        None => tokio::spawn(waiter::serve(listener, router, signal)),
    };
    (format!("http://127.0.0.1:{port}"), sigterm, served)
}

fn released_ms(answer: &reqwest::Response) -> u64 {
    answer.headers()[RELEASE_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A regular waiter gets SIGTERM together with the hook calls (the kubelet sends both at
/// the deletion): it must answer a call that arrives after its SIGTERM, and stop only
/// once every call is answered. Without `--hold-on-sigterm` the same call is refused,
/// which makes the kubelet send the app SIGTERM at once.
#[tokio::test]
async fn a_held_waiter_answers_hooks_that_call_after_its_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for expected in [Some(0), Some(1), None] {
        let (base, sigterm, served) = start_with_sigterm(400, expected, ms(30_000)).await;
        sigterm.send(()).unwrap();
        tokio::time::sleep(ms(100)).await;
        let url = format!("{base}/release?after=0");
        let answer = reqwest::get(&url).await;
        let Some(_) = expected else {
            assert!(
                answer.is_err(),
                "a waiter that stops at SIGTERM refuses the hook"
            );
            served.await.unwrap().unwrap();
            continue;
        };
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(released_ms(&answer) >= 400);
        served.await.unwrap().unwrap();
        assert!(reqwest::get(&url).await.is_err(), "stopped serving");
    }
}

/// Knowing how many hooks call it, a held waiter answers one the kubelet makes late (a
/// busy node), after the first is answered and later than 2 s after SIGTERM.
#[tokio::test]
async fn a_held_waiter_waits_for_every_expected_hook() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (base, sigterm, served) = start_with_sigterm(300, Some(2), ms(30_000)).await;
    sigterm.send(()).unwrap();
    let early = reqwest::get(format!("{base}/release?after=0"))
        .await
        .unwrap();
    // Nothing in flight, and later than the 2 s a waiter that does not know allows.
    tokio::time::sleep(ms(2_200)).await;
    assert!(!served.is_finished(), "one hook has not called yet");
    let late = reqwest::get(format!("{base}/release?after=200ms"))
        .await
        .unwrap();
    assert_eq!(late.status(), 200);
    assert_eq!(early.status(), 200);
    // Both answered from the pod's one release time, at least min after the first call.
    assert_eq!(released_ms(&early), released_ms(&late));
    assert!(released_ms(&early) >= 300);
    served.await.unwrap().unwrap();
}

/// A hook that never calls (its container already gone) keeps the waiter only until it
/// gives up; a client that goes away counts as answered.
#[tokio::test]
async fn a_held_waiter_gives_up_on_a_hook_that_never_calls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (base, sigterm, served) = start_with_sigterm(5_000, Some(2), ms(300)).await;
    sigterm.send(()).unwrap();
    let gone = reqwest::Client::new()
        .get(format!("{base}/release?after=0"))
        .timeout(ms(100))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up before the release");
    // Gone within seconds: the call counted out when its client left, and the second
    // hook was given up on. Either missing would keep it serving until the test's limit.
    tokio::time::timeout(ms(10_000), served)
        .await
        .expect("the waiter stops once it gives up")
        .unwrap()
        .unwrap();
}

/// The real socket table of this machine: whatever else runs here, the answer comes
/// within the bounds, and a client hammering a listener the test owns holds the release
/// until max.
#[tokio::test]
async fn the_real_proc_table_holds_a_busy_listener_until_max() {
    if !std::path::Path::new("/proc/net/tcp").exists() {
        return;
    }
    // Loopback is not inbound traffic by design, so connect through a non-loopback
    // address of this machine when there is one.
    let Some(address) = local_address() else {
        return;
    };
    let app = std::net::TcpListener::bind((address, 0)).unwrap();
    let app_addr = app.local_addr().unwrap();
    app.set_nonblocking(true).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(stream) = std::net::TcpStream::connect(app_addr) {
                    held.push(stream);
                }
                while app.accept().is_ok() {}
                std::thread::sleep(ms(5));
            }
        })
    };
    let base = start(|port| config(port, 50, 500), Box::new(ProcNet::default())).await;
    let (release, _) = call(&base, "/release?after=0").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    hammer.join().unwrap();
    // The connections come from this machine's own address, which is not loopback: the
    // waiter sees them as inbound and never finds the pod quiet.
    assert_eq!(release, 500);
}

/// What the proc table cannot see: one connection opened before the hook, kept alive,
/// carrying a request every 20 ms (an ingress's upstream pool). sock_diag's byte counter
/// shows every request, so the pod is never quiet and is held until max.
#[tokio::test]
async fn sock_diag_holds_a_kept_alive_connection_that_carries_requests_until_max() {
    let Some(address) = local_address() else {
        return;
    };
    let source = SockDiag::open().expect("sock_diag needs no privilege on Linux");
    let app = std::net::TcpListener::bind((address, 0)).unwrap();
    let mut client = std::net::TcpStream::connect(app.local_addr().unwrap()).unwrap();
    let (mut served, _) = app.accept().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let requests = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut buffer = [0u8; 64];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                let _ = served.read(&mut buffer).unwrap();
                std::thread::sleep(ms(20));
            }
        })
    };
    // A window fifteen times the gap between requests: a busy machine's scheduling
    // pauses do not make the connection look quiet.
    let held = |port| WaiterConfig {
        bounds: Bounds {
            window: ms(300),
            ..config(port, 50, 1200).bounds
        },
        ..config(port, 50, 1200)
    };
    let base = start(held, Box::new(source)).await;
    let (release, _) = call(&base, "/release?after=0").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    requests.join().unwrap();
    assert_eq!(release, 1200);
}

/// A non-loopback IPv4 address of this machine: a UDP socket "connected" to a
/// documentation address (TEST-NET-1) picks the source address a route would use.
fn local_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks a route and source address.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}
