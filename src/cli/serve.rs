//! `lameduck serve`: the webhook, its logs, and its signals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;

use super::{CliError, PlanArgs, duration};
use crate::cluster::{ClusterOptions, Connection};
use crate::metrics::Metrics;
use crate::scope::Mode;
use crate::server::tls::CertSource;
use crate::server::{BodyLimits, CERT_POLL_INTERVAL, Server, ServerConfig, ServerError};
use crate::webhook::Webhook;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--log-level {0:?}")]
    LogFilter(String, #[source] tracing_subscriber::filter::ParseError),
    #[error("installing the logger")]
    Logger(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("listening for SIGTERM and SIGINT")]
    Signals(#[source] std::io::Error),
    #[error("waiter: listening or serving")]
    Bind(#[source] std::io::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "LAMEDUCK_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter in env-filter syntax, e.g. `info` or `info,lameduck=debug`.
    #[arg(long, env = "LAMEDUCK_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl LogArgs {
    pub(super) fn init(&self) -> Result<(), ServeError> {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|error| ServeError::LogFilter(self.log_level.clone(), error))?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr);
        let installed = match self.log_format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .try_init(),
        };
        installed.map_err(ServeError::Logger)
    }
}

/// Whether to talk to a Kubernetes API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum KubeMode {
    /// In-cluster config or kubeconfig if there is one; standalone otherwise.
    Auto,
    /// Never: serve from the server's own settings.
    Off,
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// HTTPS address for admission reviews (`POST /mutate`).
    #[arg(long, env = "LAMEDUCK_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// Plain-HTTP address for `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "LAMEDUCK_METRICS_LISTEN", default_value = "0.0.0.0:9090")]
    pub metrics_listen: SocketAddr,

    /// Serving certificate chain (PEM). Without it, a self-signed localhost certificate.
    #[arg(long, env = "LAMEDUCK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "LAMEDUCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// After SIGTERM, keep answering reviews this long while /readyz fails.
    #[arg(long, env = "LAMEDUCK_DRAIN_DELAY", default_value = "0s", value_parser = duration)]
    pub drain_delay: Duration,

    /// After the listener closes, how long in-flight requests get to finish.
    #[arg(long, env = "LAMEDUCK_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub shutdown_timeout: Duration,

    /// `cluster`: every namespace not labelled lameduck.dev/inject=disabled;
    /// `namespace`: only namespaces labelled lameduck.dev/inject=enabled.
    #[arg(long, env = "LAMEDUCK_MODE", default_value = "cluster")]
    pub mode: Mode,

    /// `auto`: use the in-cluster config or kubeconfig when there is one; `off`: serve
    /// from these settings only.
    #[arg(long, env = "LAMEDUCK_KUBE", value_enum, default_value = "auto")]
    pub kube: KubeMode,

    #[command(flatten)]
    pub plan: PlanArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

impl ServeArgs {
    pub(super) fn run(self) -> Result<ExitCode, CliError> {
        let ServeArgs {
            listen,
            metrics_listen,
            tls_cert,
            tls_key,
            drain_delay,
            shutdown_timeout,
            mode,
            kube,
            plan,
            log,
        } = self;
        log.init()?;
        let settings = plan.settings()?;
        let cert = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => CertSource::Files { cert, key },
            _ => CertSource::SelfSigned,
        };
        let config = ServerConfig {
            listen,
            admin_listen: metrics_listen,
            cert,
            drain_delay,
            shutdown_timeout,
            cert_poll_interval: CERT_POLL_INTERVAL,
            body_limits: BodyLimits::default(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let exit = runtime.block_on(async move {
            // Before anything else: a server that cannot drain must not start.
            let mut signals = Signals::register().map_err(ServeError::Signals)?;
            // Ports before the first API call: a port clash fails at once, and /healthz
            // answers while the first namespace list is read. Readiness waits for it.
            let cluster = match kube {
                KubeMode::Auto => Connection::connect().await,
                KubeMode::Off => Connection::standalone("--kube off"),
            };
            let metrics = Arc::new(Metrics::new(cluster.state()));
            let webhook = Arc::new(Webhook::new(settings, mode, cluster.state()));
            let server = Server::bind(config, webhook, metrics)
                .await
                .map_err(ServeError::from)?;
            let synced = cluster.watch(ClusterOptions::default());
            let drain = CancellationToken::new();
            let serving = server.run_when_ready(synced, drain.clone());
            tokio::pin!(serving);
            // The first SIGTERM or SIGINT drains; a second one exits at once.
            tokio::select! {
                served = &mut serving => return served.map(|()| ExitCode::SUCCESS).map_err(ServeError::from),
                () = signals.next() => drain.cancel(),
            }
            tokio::select! {
                served = &mut serving => served.map(|()| ExitCode::SUCCESS).map_err(ServeError::from),
                () = signals.next() => {
                    tracing::warn!("second signal: exiting without waiting for in-flight requests");
                    Ok(ExitCode::from(130))
                }
            }
        });
        // In-flight requests of an aborted drain are not waited for.
        runtime.shutdown_background();
        Ok(exit?)
    }
}

/// SIGTERM and SIGINT, either of them.
pub(super) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    /// The first signal, as a future that owns the handlers.
    pub(super) async fn first(mut self) {
        self.next().await;
    }
}
