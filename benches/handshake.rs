//! A full TLS 1.3 handshake on lameduck's server configuration, in memory, with the two
//! key types a serving certificate may have: what a new connection from the API server
//! costs the webhook. The API server speaks HTTP/1.1 to webhooks and keeps only a small
//! idle pool, so past a few concurrent calls it opens a connection (and a handshake)
//! per call: this cost is then paid per pod created.
//!
//!     cargo bench --bench handshake
//!
//! `server side` counts only the server's work (what lameduck's CPU limit pays);
//! `both sides` adds the client's (the API server's).

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lameduck::server::tls::{CertResolver, CertSource, server_config};
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};

struct Pair {
    server: Arc<rustls::ServerConfig>,
    client: Arc<ClientConfig>,
}

fn pair(key_type: &str) -> Pair {
    let data = format!("{}/benches/data", env!("CARGO_MANIFEST_DIR"));
    let cert = format!("{data}/handshake-{key_type}.crt");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let serving = CertSource::Files {
        cert: cert.clone().into(),
        key: format!("{data}/handshake-{key_type}.key").into(),
    }
    .load(&provider)
    .expect("bench certificate");
    let server = server_config(provider.clone(), Arc::new(CertResolver::new(serving)))
        .expect("server config");
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(format!("{data}/handshake-{key_type}-ca.crt"))
        .expect("bench certificate")
    {
        roots.add(der.expect("bench certificate")).expect("root");
    }
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("client versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // As the API server's webhook client: HTTP/1.1, and no session cache (client-go's
    // TLS config sets none), so every connection is a full handshake, signature included.
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    client.resumption = Resumption::disabled();
    Pair {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

/// One handshake, returning the time spent in the server's and the client's code.
fn handshake(pair: &Pair) -> (Duration, Duration) {
    let name = ServerName::try_from("lameduck.lameduck.svc").expect("name");
    let (mut in_server, mut in_client) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut client = ClientConnection::new(pair.client.clone(), name).expect("client");
    in_client += started.elapsed();
    let started = Instant::now();
    let mut server = ServerConnection::new(pair.server.clone()).expect("server");
    in_server += started.elapsed();
    let mut wire = Vec::with_capacity(8192);
    while client.is_handshaking() || server.is_handshaking() {
        let started = Instant::now();
        wire.clear();
        while client.wants_write() {
            client.write_tls(&mut wire).expect("client write");
        }
        in_client += started.elapsed();
        let started = Instant::now();
        let mut reader = Cursor::new(&wire[..]);
        while (reader.position() as usize) < wire.len() {
            server.read_tls(&mut reader).expect("server read");
            server.process_new_packets().expect("server handshake");
        }
        let mut back = Vec::with_capacity(8192);
        while server.wants_write() {
            server.write_tls(&mut back).expect("server write");
        }
        in_server += started.elapsed();
        let started = Instant::now();
        let mut reader = Cursor::new(&back[..]);
        while (reader.position() as usize) < back.len() {
            client.read_tls(&mut reader).expect("client read");
            client.process_new_packets().expect("client handshake");
        }
        in_client += started.elapsed();
    }
    (in_server, in_client)
}

fn handshakes(c: &mut Criterion) {
    let mut group = c.benchmark_group("TLS 1.3 handshake");
    for key_type in ["rsa", "ecdsa"] {
        let label = if key_type == "rsa" {
            "RSA-2048"
        } else {
            "ECDSA P-256"
        };
        let pair = pair(key_type);
        group.bench_function(format!("{label}, server side"), |b| {
            b.iter_custom(|n| (0..n).map(|_| handshake(&pair).0).sum())
        });
        group.bench_function(format!("{label}, both sides"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| {
                        let (server, client) = handshake(&pair);
                        server + client
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
