//! `lameduck certs`: the files parse, the serving certificate chains to the CA for every
//! Service name (checked by rustls' WebPKI verifier, as a TLS client would), and the key
//! is private.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use lameduck::cli::{CertsArgs, CliError};
use lameduck::tls_secret::TlsSecretError;
use support::TestServer;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    certs: CertsArgs,
}

fn args(out_dir: &Path, extra: &[&str]) -> CertsArgs {
    let mut argv = vec![
        "certs".to_string(),
        "--service".into(),
        "lameduck".into(),
        "--namespace".into(),
        "platform".into(),
        "--out-dir".into(),
        out_dir.display().to_string(),
        "--days".into(),
        "30".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("flags: {e}"))
        .certs
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap_or_else(|e| panic!("PEM: {e:?}"))
}

#[test]
fn writes_a_ca_and_a_serving_certificate_that_chains_to_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("certs");
    let code = args(&out, &[])
        .run()
        .unwrap_or_else(|e| panic!("certs: {e}"));
    assert_eq!(code, std::process::ExitCode::SUCCESS);

    let cert_pem = read(&out, "tls.crt");
    let ca_pem = read(&out, "ca.crt");
    let key_pem = read(&out, "tls.key");
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap_or_else(|e| panic!("key: {e:?}"));
    let mode = |name: &str| {
        std::fs::metadata(out.join(name))
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("tls.key"), 0o600);
    assert_eq!(mode("tls.crt"), 0o644);

    // The CA: basic constraints CA:true.
    let ca_der = der(&ca_pem);
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap_or_else(|e| panic!("CA: {e}"));
    let constraints = ca
        .basic_constraints()
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("CA without basic constraints"));
    assert!(constraints.value.ca);

    // The serving certificate: SANs, serverAuth, not a CA, validity as asked.
    let cert_der = der(&cert_pem);
    let (_, cert) = X509Certificate::from_der(&cert_der).unwrap_or_else(|e| panic!("cert: {e}"));
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        sans,
        [
            "lameduck",
            "lameduck.platform",
            "lameduck.platform.svc",
            "lameduck.platform.svc.cluster.local"
        ]
    );
    let eku = cert
        .extended_key_usage()
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no extended key usage"));
    assert!(eku.value.server_auth);
    assert!(
        cert.basic_constraints()
            .ok()
            .flatten()
            .is_none_or(|c| !c.value.ca)
    );
    let days =
        (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86_400;
    assert!((30..=31).contains(&days), "{days} days");
    assert_eq!(cert.issuer(), ca.subject());

    // Chains to the CA for each name the API server may dial, and for no other.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.clone()).unwrap_or_else(|e| panic!("{e}"));
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for name in sans.iter().map(String::as_str) {
        let server = ServerName::try_from(name.to_string()).unwrap_or_else(|e| panic!("{e}"));
        verifier
            .verify_server_cert(&cert_der, &[], &server, &[], UnixTime::now())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let other = ServerName::try_from("lameduck.other.svc").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        verifier
            .verify_server_cert(&cert_der, &[], &other, &[], UnixTime::now())
            .is_err()
    );
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    args(dir.path(), &[])
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let first = read(dir.path(), "tls.crt");
    match args(dir.path(), &[]).run() {
        Err(CliError::TlsSecret(TlsSecretError::Exists(path))) => {
            assert!(path.ends_with("tls.crt"), "{path:?}")
        }
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(read(dir.path(), "tls.crt"), first, "nothing replaced");
    args(dir.path(), &["--force"])
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(read(dir.path(), "tls.crt"), first);
}

/// A real TLS handshake: `lameduck serve` with the written files, a client that trusts
/// only ca.crt and dials the Service's in-cluster name.
#[tokio::test]
async fn the_server_serves_what_certs_writes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    args(dir.path(), &[])
        .run()
        .unwrap_or_else(|e| panic!("{e}"));

    let server = TestServer::start_on_files(
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        &read(dir.path(), "ca.crt"),
        |config| {
            config.shutdown_timeout = Duration::from_secs(1);
            config.cert_poll_interval = Duration::from_secs(60);
        },
    )
    .await;
    let addr = server.https;

    let ca = reqwest::Certificate::from_pem(read(dir.path(), "ca.crt").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .resolve("lameduck.platform.svc", addr)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("https://lameduck.platform.svc:{}/healthz", addr.port());
    let response = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("handshake with the written certificate failed: {e:?}"));
    assert!(response.status().is_success());

    server.drain.cancel();
    let _ = server.task.await;
}
