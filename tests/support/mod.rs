//! Shared by the integration tests: a real server on loopback with a real certificate,
//! an HTTPS client that trusts it, the shared fixtures, AdmissionReview bodies as the API
//! server sends them ([`ReviewBody`]) and the one way to wait for something
//! ([`wait_for`]).
#![allow(dead_code)]

pub(crate) mod fake_apiserver;
pub(crate) mod review;

// Not every test binary builds reviews.
#[allow(unused_imports)]
pub(crate) use review::ReviewBody;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lameduck::cluster::ClusterState;
use lameduck::metrics::Metrics;
use lameduck::plan::Settings;
use lameduck::scope::Mode;
use lameduck::server::tls::CertSource;
use lameduck::server::{Server, ServerConfig};
use lameduck::webhook::Webhook;
use serde_json::Value;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A CA and a `localhost` serving certificate signed by it, as PEM.
pub(crate) struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub(crate) fn new(common_name: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{common_name} CA"));
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.to_string());
        let cert = params.signed_by(&key, &issuer).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        std::fs::create_dir_all(dir).unwrap();
        let cert = dir.join("tls.crt");
        let key = dir.join("tls.key");
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }

    pub(crate) fn cert_der(&self) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .unwrap()
            .to_vec()
    }
}

pub(crate) struct TestServer {
    pub https: SocketAddr,
    pub metrics: SocketAddr,
    pub drain: CancellationToken,
    pub task: JoinHandle<()>,
    pub ca_pem: String,
    _dir: Option<TempDir>,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(Settings::default(), Duration::from_millis(100)).await
    }

    pub(crate) async fn start_with(settings: Settings, cert_poll_interval: Duration) -> Self {
        Self::start_configured(settings, |config| {
            config.cert_poll_interval = cert_poll_interval
        })
        .await
    }

    /// A server whose configuration `configure` adjusts (addresses and certificate are
    /// set; changing them breaks the server's client).
    pub(crate) async fn start_configured(
        settings: Settings,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new("lameduck-test");
        let (cert, key) = pki.write(dir.path());
        Self::serve(settings, cert, key, &pki.ca_pem, Some(dir), configure).await
    }

    /// A server on certificate files the test wrote (and may swap), signed by `ca_pem`.
    pub(crate) async fn start_on_files(
        cert: PathBuf,
        key: PathBuf,
        ca_pem: &str,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        Self::serve(Settings::default(), cert, key, ca_pem, None, configure).await
    }

    /// The one place a test server's `ServerConfig` is written.
    async fn serve(
        settings: Settings,
        cert: PathBuf,
        key: PathBuf,
        ca_pem: &str,
        dir: Option<TempDir>,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        install_crypto();
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            cert: CertSource::Files { cert, key },
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(5),
            cert_poll_interval: Duration::from_millis(100),
            body_limits: Default::default(),
        };
        configure(&mut config);
        let cluster = Arc::new(ClusterState::standalone());
        let webhook = Arc::new(Webhook::new(settings, Mode::Cluster, cluster.clone()));
        let server = Server::bind(config, webhook.clone(), Arc::new(Metrics::new(cluster)))
            .await
            .unwrap_or_else(|error| panic!("the server refused its configuration: {error}"));
        let (https, metrics) = (server.https_addr(), server.admin_addr());
        let drain = CancellationToken::new();
        let task = tokio::spawn({
            let drain = drain.clone();
            async move {
                server.run(drain).await.unwrap();
            }
        });
        TestServer {
            https,
            metrics,
            drain,
            task,
            ca_pem: ca_pem.to_string(),
            _dir: dir,
        }
    }

    pub(crate) fn client(&self) -> reqwest::Client {
        https_client(&self.ca_pem, false)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.port())
    }

    pub(crate) fn metrics_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics)
    }
}

/// A raw TLS connection to a test server, for what an HTTP client library will not send.
pub(crate) async fn tls_connect(
    addr: SocketAddr,
    ca_pem: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls_pki_types::pem::PemObject as _;
    install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    connector
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap()
}

/// An HTTPS client that trusts `ca_pem` and resolves `localhost` to loopback.
pub(crate) fn https_client(ca_pem: &str, http1_only: bool) -> reqwest::Client {
    install_crypto();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_info(true)
        .timeout(Duration::from_secs(30));
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

pub(crate) fn fixtures_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.join("tests/fixtures/admission")
}

/// Every shared fixture, by file name, sorted.
pub(crate) fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut fixtures: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/admission is in the repository")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    fixtures.sort();
    fixtures
}

/// One shared fixture's body, by file name.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).expect("the shared fixture exists")
}

/// The decoded JSON Patch of an AdmissionReview response, if any.
pub(crate) fn patch_of(response: &Value) -> Option<json_patch::Patch> {
    use base64::Engine as _;
    let encoded = response["response"]["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("patch is base64");
    Some(serde_json::from_slice(&bytes).expect("patch is a JSON Patch"))
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `condition` until it holds, or panics after `timeout`: [`wait_for`] for a
/// condition that needs no `await`.
pub(crate) async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    wait_for(what, timeout, || {
        std::future::ready(condition().then_some(()))
    })
    .await
}

/// `wait` settings with a waiter image, so pods that ask for `wait` get a waiter.
#[allow(dead_code)]
pub(crate) fn wait_settings() -> lameduck::plan::wait::WaitSettings {
    let mut wait = lameduck::plan::wait::WaitSettings::default();
    wait.container.image = Some("localhost/lameduck:test".into());
    wait
}
