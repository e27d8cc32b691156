//! The floor: what a review costs on lameduck's own TLS and HTTP stack before any JSON
//! work. Reads the body to its end and answers a fixed AdmissionReview without looking
//! at it, so the difference between lameduck and this server is what lameduck does with
//! the body. `scripts/loadtest.py` measures lameduck, `baseline` and this side by side.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use lameduck::server::tls::{CertResolver, CertSource, server_config};
use lameduck::server::{MAX_BODY_BYTES, serve_tls};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8445")]
    listen: SocketAddr,
    #[arg(long)]
    tls_cert: PathBuf,
    #[arg(long)]
    tls_key: PathBuf,
}

/// The size of a real answer's envelope (a uid of 36 characters), so the write back costs
/// what lameduck's unpatched answer costs.
const ANSWER: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;

async fn mutate(body: Bytes) -> Response {
    // The body is read whole by the extractor; an empty one cannot be a review.
    if body.is_empty() {
        return (StatusCode::BAD_REQUEST, "empty body\n").into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], ANSWER).into_response()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = CertSource::Files {
        cert: args.tls_cert,
        key: args.tls_key,
    }
    .load(&provider)?;
    let tls = Arc::new(server_config(provider, Arc::new(CertResolver::new(cert)))?);
    let router = Router::new()
        .route("/mutate", post(mutate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("floor serving on {}", listener.local_addr()?);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_tls(listener, tls, router, stop, Duration::from_secs(1)).await;
    Ok(())
}
