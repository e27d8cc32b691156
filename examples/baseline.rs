//! The least work any webhook must do per review, on lameduck's own TLS and HTTP stack:
//! read the body, parse it into a `serde_json::Value`, answer a fixed AdmissionReview
//! with the request's uid. `scripts/loadtest.py` measures lameduck against it and the floor.

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
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8444")]
    listen: SocketAddr,
    #[arg(long)]
    tls_cert: PathBuf,
    #[arg(long)]
    tls_key: PathBuf,
}

async fn mutate(body: Bytes) -> Response {
    let Ok(review) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON\n").into_response();
    };
    let answer = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": true},
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&answer).unwrap_or_default(),
    )
        .into_response()
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
    eprintln!("baseline serving on {}", listener.local_addr()?);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_tls(listener, tls, router, stop, Duration::from_secs(1)).await;
    Ok(())
}
