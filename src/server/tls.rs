//! The serving certificate: loaded from PEM files (or made up for localhost), served
//! through a resolver so that a rotation is one atomic swap, and re-read when the files
//! change the way the kubelet changes a mounted Secret.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("the private key cannot sign: {0}")]
    Key(rustls::Error),
    #[error("the private key does not match the certificate")]
    Mismatch,
    #[error("generating a self-signed certificate")]
    SelfSigned(#[from] rcgen::Error),
    #[error("configuring TLS: {0}")]
    Config(rustls::Error),
}

/// A certificate chain and its key, ready to serve, with the leaf's expiry.
#[derive(Debug, Clone)]
pub struct ServingCert {
    pub key: Arc<CertifiedKey>,
    /// The leaf's `notAfter`, as seconds since the Unix epoch.
    pub not_after: Option<i64>,
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

impl CertSource {
    pub fn load(&self, provider: &CryptoProvider) -> Result<ServingCert, TlsError> {
        match self {
            CertSource::Files { cert, key } => load_files(cert, key, provider),
            CertSource::SelfSigned => self_signed(provider),
        }
    }
}

fn load_files(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<ServingCert, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|source| TlsError::Read {
        path: cert_path.into(),
        source,
    })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::Read {
        path: key_path.into(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            path: cert_path.into(),
            reason: error.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.into(),
        });
    }
    // PKCS#8, PKCS#1 (RSA) and SEC1 (EC) keys are all accepted.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| TlsError::Pem {
        path: key_path.into(),
        reason: error.to_string(),
    })?;
    certified(chain, key, provider)
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<ServingCert, TlsError> {
    let not_after = chain.first().and_then(|leaf| not_after(leaf));
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(TlsError::Key)?;
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        Ok(()) => {}
        // rustls cannot compare some key types; the handshake would then fail visibly.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => return Err(TlsError::Mismatch),
    }
    Ok(ServingCert {
        key: Arc::new(key),
        not_after,
    })
}

fn not_after(leaf: &CertificateDer) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// A certificate for `localhost` and `127.0.0.1`, made in memory, so the server runs on a
/// laptop with no cluster and no files.
fn self_signed(provider: &CryptoProvider) -> Result<ServingCert, TlsError> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    let chain = vec![generated.cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
    certified(chain, key, provider)
}

/// Serves whatever certificate was stored last; the acceptor and its connections never
/// change when it does.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<ServingCert>,
}

impl CertResolver {
    pub fn new(cert: ServingCert) -> Self {
        CertResolver {
            current: ArcSwap::from_pointee(cert),
        }
    }

    pub fn store(&self, cert: ServingCert) {
        self.current.store(Arc::new(cert));
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().key.clone())
    }
}

/// TLS 1.2 and 1.3 on the ring provider, HTTP/2 preferred over HTTP/1.1.
pub fn server_config(
    provider: Arc<CryptoProvider>,
    resolver: Arc<CertResolver>,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// What the certificate files looked like when they were last read.
pub type Fingerprint = Option<Vec<(PathBuf, SystemTime, u64)>>;

/// A cheap fingerprint of the files: a kubelet `..data` swap changes what the paths
/// resolve to, which a modification time alone (of a symlink) may not show.
pub fn fingerprint(paths: [&Path; 2]) -> Fingerprint {
    paths
        .iter()
        .map(|path| {
            let resolved = std::fs::canonicalize(path).ok()?;
            let meta = std::fs::metadata(&resolved).ok()?;
            Some((resolved, meta.modified().ok()?, meta.len()))
        })
        .collect()
}

/// Result of one reload attempt, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadResult {
    Success,
    Failure,
}

impl ReloadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Success => "success",
            ReloadResult::Failure => "failure",
        }
    }
}

/// Polls the certificate files and swaps in a new pair when they change. A pair that
/// does not load or match is reported and the old certificate keeps serving; it is
/// retried only when the files change again.
/// `seen` is the fingerprint taken before the serving pair was loaded, so a change made
/// between that load and the first poll is not missed.
pub async fn watch_files(
    cert: PathBuf,
    key: PathBuf,
    mut seen: Fingerprint,
    interval: Duration,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CertResolver>,
    on_reload: impl Fn(ReloadResult, &Result<ServingCert, TlsError>) + Send,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let now = fingerprint([&cert, &key]);
        if now.is_none() || now == seen {
            continue;
        }
        seen = now;
        let loaded = load_files(&cert, &key, &provider);
        let result = match &loaded {
            Ok(fresh) => {
                resolver.store(fresh.clone());
                ReloadResult::Success
            }
            Err(_) => ReloadResult::Failure,
        };
        on_reload(result, &loaded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn self_signed_is_valid_and_has_an_expiry() {
        let cert = CertSource::SelfSigned.load(&provider()).unwrap();
        assert_eq!(cert.key.cert.len(), 1);
        assert!(cert.not_after.unwrap() > 1_700_000_000);
    }

    #[test]
    fn loads_a_pem_pair_and_refuses_a_mismatched_one() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, key_a) = write_pair(dir.path(), "a");
        let (_, key_b) = write_pair(dir.path(), "b");
        let source = CertSource::Files {
            cert: cert_a.clone(),
            key: key_a,
        };
        assert!(source.load(&provider()).is_ok());
        let mismatched = CertSource::Files {
            cert: cert_a,
            key: key_b,
        };
        assert!(matches!(
            mismatched.load(&provider()),
            Err(TlsError::Mismatch)
        ));
    }

    #[test]
    fn garbage_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "not pem").unwrap();
        let source = CertSource::Files { cert, key };
        assert!(source.load(&provider()).is_err());
    }
}
