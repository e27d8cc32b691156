//! What production does to the server: certificate rotation through a kubelet-style
//! symlinked Secret, SIGTERM with requests in flight, a second signal, slow clients, and
//! the metrics a scrape sees.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use support::{TestPki, TestServer, fixtures, install_crypto, tls_connect, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

/// Lays out `dir` the way the kubelet mounts a Secret: `tls.crt -> ..data/tls.crt`,
/// `..data -> ..<version>`, and swaps `..data` atomically for each new version.
struct KubeletSecretDir {
    root: tempfile::TempDir,
    version: usize,
}

impl KubeletSecretDir {
    fn new(pki: &TestPki) -> Self {
        let mut dir = KubeletSecretDir {
            root: tempfile::tempdir().unwrap(),
            version: 0,
        };
        dir.swap_in(&pki.cert_pem, &pki.key_pem);
        for name in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(Path::new("..data").join(name), dir.root.path().join(name))
                .unwrap();
        }
        dir
    }

    fn swap_in(&mut self, cert_pem: &str, key_pem: &str) {
        self.version += 1;
        let version = format!("..2026_11_21_{:02}", self.version);
        let folder = self.root.path().join(&version);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("tls.crt"), cert_pem).unwrap();
        std::fs::write(folder.join("tls.key"), key_pem).unwrap();
        let staging = self.root.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staging).unwrap();
        std::fs::rename(&staging, self.root.path().join("..data")).unwrap();
    }

    fn cert(&self) -> std::path::PathBuf {
        self.root.path().join("tls.crt")
    }

    fn key(&self) -> std::path::PathBuf {
        self.root.path().join("tls.key")
    }
}

/// A server on the certificate in `dir`, trusted by `ca_pem`.
async fn start_on(dir: &KubeletSecretDir, ca_pem: &str) -> TestServer {
    TestServer::start_on_files(dir.cert(), dir.key(), ca_pem, |_| {}).await
}

/// An HTTP/1.1 client trusting every CA given, one connection kept alive.
fn client_trusting(cas: &[&str]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_info(true)
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10));
    for ca in cas {
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

async fn served_cert(client: &reqwest::Client, addr: SocketAddr) -> Vec<u8> {
    let response = client
        .get(format!("https://localhost:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .unwrap()
        .to_vec()
}

async fn metric(metrics: SocketAddr, series: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn a_kubelet_symlink_swap_is_served_without_a_restart() {
    let (first, second) = (TestPki::new("first"), TestPki::new("second"));
    let mut dir = KubeletSecretDir::new(&first);
    let server = start_on(&dir, &first.ca_pem).await;
    let (https, metrics) = (server.https, server.metrics);

    let old_connection = client_trusting(&[&first.ca_pem, &second.ca_pem]);
    assert_eq!(served_cert(&old_connection, https).await, first.cert_der());

    dir.swap_in(&second.cert_pem, &second.key_pem);
    wait_for(
        "the new certificate to be served",
        Duration::from_secs(10),
        || async {
            let fresh = client_trusting(&[&first.ca_pem, &second.ca_pem]);
            (served_cert(&fresh, https).await == second.cert_der()).then_some(())
        },
    )
    .await;

    // The connection made before the swap is unharmed and still on its certificate.
    assert_eq!(served_cert(&old_connection, https).await, first.cert_der());
    assert_eq!(
        metric(metrics, r#"lameduck_tls_reloads_total{result="success"}"#).await,
        Some(1.0)
    );
}

#[tokio::test]
async fn a_mismatched_pair_is_refused_and_the_old_one_kept() {
    let (good, other) = (TestPki::new("good"), TestPki::new("other"));
    let mut dir = KubeletSecretDir::new(&good);
    let server = start_on(&dir, &good.ca_pem).await;
    let (https, metrics) = (server.https, server.metrics);

    dir.swap_in(&other.cert_pem, &good.key_pem);
    wait_for("the failed reload to be counted", WAIT, || async {
        metric(metrics, r#"lameduck_tls_reloads_total{result="failure"}"#)
            .await
            .filter(|n| *n >= 1.0)
    })
    .await;
    let fresh = client_trusting(&[&good.ca_pem, &other.ca_pem]);
    assert_eq!(served_cert(&fresh, https).await, good.cert_der());
}

#[tokio::test]
async fn a_slow_client_is_cut_off_by_the_header_timeout() {
    let server = TestServer::start().await;
    // One that never starts TLS, and one that starts a request and stalls.
    let mut silent = TcpStream::connect(server.https).await.unwrap();
    let mut stalled = tls_connect(server.https, &server.ca_pem).await;
    stalled
        .write_all(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();

    let started = tokio::time::Instant::now();
    let mut buffer = [0u8; 64];
    let silent_end = tokio::time::timeout(WAIT, silent.read(&mut buffer)).await;
    assert!(
        matches!(silent_end, Ok(Ok(0)) | Ok(Err(_))),
        "silent connection stayed open"
    );
    let stalled_end = tokio::time::timeout(WAIT, stalled.read(&mut buffer)).await;
    assert!(
        matches!(stalled_end, Ok(Ok(_)) | Ok(Err(_))),
        "stalled connection stayed open"
    );
    // Cut off, not served: the server gives up in seconds, well before our 20 s wait.
    assert!(started.elapsed() < WAIT);
}

/// The API server keeps idle HTTP/1.1 connections to a webhook for 90 s and does not
/// retry a review sent on one the server is closing: a kept-alive connection must outlive
/// the few seconds a request's head gets.
#[tokio::test]
async fn an_idle_kept_alive_connection_outlives_the_header_timeout() {
    let server = TestServer::start().await;
    let client = support::https_client(&server.ca_pem, true);
    let body = fixtures().into_iter().next().unwrap().1;
    let handshakes = || async {
        metric(
            server.metrics,
            r#"lameduck_tls_handshakes_total{protocol="http/1.1"}"#,
        )
        .await
    };
    for round in 0..2 {
        if round > 0 {
            tokio::time::sleep(lameduck::server::HEADER_READ_TIMEOUT + Duration::from_secs(2))
                .await;
        }
        let response = client
            .post(server.url("/mutate"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
    }
    // Had the server closed the idle connection, the client would have made a new one.
    assert_eq!(handshakes().await, Some(1.0));
}

#[tokio::test]
async fn metrics_carry_every_documented_series() {
    let server = TestServer::start().await;
    let client = server.client();
    for (_, body) in fixtures() {
        client
            .post(server.url("/mutate"))
            .body(body)
            .send()
            .await
            .unwrap();
    }
    client
        .post(server.url("/mutate"))
        .body("nope")
        .send()
        .await
        .unwrap();
    let response = reqwest::get(server.metrics_url("/metrics")).await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"));

    let samples: Vec<(String, f64)> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect();
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
    };
    assert_eq!(
        value(
            r#"lameduck_admission_requests_total{kind="Pod",operation="CREATE",outcome="mutated"}"#
        ),
        9.0
    );
    assert_eq!(
        value(
            r#"lameduck_admission_requests_total{kind="Pod",operation="CREATE",outcome="skipped"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            r#"lameduck_admission_requests_total{kind="unknown",operation="unknown",outcome="invalid"}"#
        ),
        1.0
    );
    assert_eq!(value("lameduck_admission_duration_seconds_count"), 15.0);
    assert!(value(r#"lameduck_containers_injected_total{role="proxy"}"#) >= 3.0);
    assert_eq!(
        value(r#"lameduck_warnings_total{reason="own_prestop"}"#),
        1.0
    );
    assert_eq!(
        value(r#"lameduck_warnings_total{reason="invalid_annotation"}"#),
        2.0
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(value("lameduck_tls_certificate_expiry_timestamp_seconds") > now);
    assert_eq!(
        value(&format!(
            r#"lameduck_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    // Sixteen requests on one kept-alive client: one handshake. The API server reuses its
    // connections the same way, and this counter is how an operator sees that it does.
    let handshakes = value(r#"lameduck_tls_handshakes_total{protocol="h2"}"#)
        + value(r#"lameduck_tls_handshakes_total{protocol="http/1.1"}"#);
    assert_eq!(handshakes, 1.0);
    assert!(text.contains("# TYPE lameduck_tls_reloads counter"));
    assert!(text.contains("# TYPE lameduck_admission_duration_seconds histogram"));
}

/// The real binary, with its addresses read from its first log line.
struct Process {
    child: Child,
    https: SocketAddr,
    metrics: SocketAddr,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

impl Drop for Process {
    /// A failed test must not leave a server running (it would also hold the test's
    /// output pipe open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn start(extra: &[&str]) -> Self {
        install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new("process");
        let (cert, key) = pki.write(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_lameduck"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args(["--kube", "off", "--log-format", "json"])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let serving: Value = loop {
            let line = lines
                .next()
                .expect("the server logs before exiting")
                .unwrap();
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if event["message"] == "serving admission reviews" {
                break event;
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Process {
            child,
            https: serving["listen"].as_str().unwrap().parse().unwrap(),
            metrics: serving["metrics_listen"].as_str().unwrap().parse().unwrap(),
            ca_pem: pki.ca_pem,
            _dir: dir,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn readiness(&self) -> Option<u16> {
        let response = reqwest::get(format!("http://{}/readyz", self.metrics))
            .await
            .ok()?;
        Some(response.status().as_u16())
    }

    async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the process did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sends the head and the first half of a review, leaving the request in flight.
async fn start_review(
    process: &Process,
    body: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut stream = tls_connect(process.https, &process.ca_pem).await;
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

async fn finish_review(
    mut stream: tokio_rustls::client::TlsStream<TcpStream>,
    body: &[u8],
) -> String {
    stream.write_all(&body[body.len() / 2..]).await.unwrap();
    stream.flush().await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn sigterm_fails_readiness_first_answers_everything_and_exits_zero() {
    let mut process = Process::start(&["--drain-delay", "1s", "--shutdown-timeout", "10s"]);
    let body = fixtures()[1].1.clone();
    assert_eq!(process.readiness().await, Some(200));
    let in_flight: Vec<_> = {
        let mut streams = Vec::new();
        for _ in 0..4 {
            streams.push(start_review(&process, &body).await);
        }
        streams
    };

    process.signal("TERM");
    wait_for("readiness to fail", WAIT, || async {
        (process.readiness().await == Some(503)).then_some(())
    })
    .await;
    // During the drain delay, new reviews are still answered.
    let client = support::https_client(&process.ca_pem, false);
    let during = client
        .post(format!("https://localhost:{}/mutate", process.https.port()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), 200);
    // HTTP/1.1 clients are told not to reuse the connection, so none is caught writing
    // onto a keep-alive connection as the listener closes.
    let http1 = support::https_client(&process.ca_pem, true);
    let closing = http1
        .post(format!("https://localhost:{}/mutate", process.https.port()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(closing.status(), 200);
    assert_eq!(closing.headers()["connection"], "close");

    // Requests accepted before the signal complete, even after the listener closed.
    for stream in in_flight {
        let response = finish_review(stream, &body).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("\"allowed\":true"));
    }
    let status = process.wait_exit(WAIT).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let mut process = Process::start(&["--shutdown-timeout", "5m"]);
    let body = fixtures()[0].1.clone();
    // A request that never finishes would hold the drain for the whole timeout.
    let _stuck = start_review(&process, &body).await;
    process.signal("TERM");
    wait_for("the listener to close", WAIT, || async {
        TcpStream::connect(process.https)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(
        process.child.try_wait().unwrap().is_none(),
        "exited before the second signal"
    );
    process.signal("INT");
    let status = process.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(130));
}

/// What one short-lived client connection got.
enum Attempt {
    Answered,
    /// Refused, or reset before the TLS handshake finished: the server never took it.
    NotAccepted,
    /// The handshake finished (so the server accepted it) but no answer came.
    Lost(String),
}

async fn one_review_on_a_new_connection(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    body: &[u8],
) -> Attempt {
    let Ok(tcp) = TcpStream::connect(addr).await else {
        return Attempt::NotAccepted;
    };
    let Ok(mut stream) = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
    else {
        return Attempt::NotAccepted;
    };
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut response = Vec::new();
    let exchange = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        stream.read_to_end(&mut response).await
    };
    let result = tokio::time::timeout(WAIT, exchange).await;
    let text = String::from_utf8_lossy(&response);
    if text.starts_with("HTTP/1.1 200") && text.contains("\"allowed\":true") {
        Attempt::Answered
    } else {
        Attempt::Lost(format!("{result:?}: {text}"))
    }
}

#[tokio::test]
async fn a_drain_under_load_answers_every_connection_it_accepted() {
    let server = TestServer::start().await;
    let body = fixtures()[1].1.clone();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(server.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (connector, body, answered) = (connector.clone(), body.clone(), answered.clone());
            let addr = server.https;
            tokio::spawn(async move {
                let mut lost = Vec::new();
                let mut not_accepted = 0;
                // Until the listener is gone: a new connection for every review.
                while not_accepted < 3 {
                    match one_review_on_a_new_connection(addr, &connector, &body).await {
                        Attempt::Answered => {
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Attempt::NotAccepted => not_accepted += 1,
                        Attempt::Lost(what) => lost.push(what),
                    }
                }
                lost
            })
        })
        .collect();
    wait_for("load to build up", WAIT, || async {
        (answered.load(std::sync::atomic::Ordering::Relaxed) >= 200).then_some(())
    })
    .await;
    let before = answered.load(std::sync::atomic::Ordering::Relaxed);
    server.drain.cancel();
    let mut lost = Vec::new();
    for client in clients {
        lost.extend(client.await.unwrap());
    }
    let total = answered.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "answered {total} reviews ({before} before the drain), lost {}",
        lost.len()
    );
    assert!(lost.is_empty(), "lost requests: {lost:#?}");
    server.task.await.unwrap();
}

/// A client that sends its headers and part of a body, then stalls, gets a 408 and the
/// connection back: it does not hold a server task forever.
#[tokio::test]
async fn a_stalled_body_gets_a_408() {
    let server = TestServer::start_configured(Default::default(), |config| {
        config.body_limits.read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = tls_connect(server.https, &server.ca_pem).await;
    stream
        .write_all(
            b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\"",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut answer))
        .await
        .expect("the server answers a stalled body")
        .ok();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        answer.ends_with("request body not received within 0.3s\n"),
        "{answer}"
    );
}
