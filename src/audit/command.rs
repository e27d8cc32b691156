//! The `lameduck audit` command: flags, reading the cluster, printing, exit code. The
//! only part of the audit that talks to the API server (through `crate::cluster`).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{EXIT_FINDINGS, JsonReport, NamespaceScope, Options, Report, Targets};
use crate::cluster::inventory::{self, DEFAULT_PAGE_SIZE, InventoryError, Scope};
use crate::cluster::versions;
use crate::plan::ActionSetting;
use crate::settings::{PlanArgs, SettingsError};
use crate::webhook::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AuditFormat {
    /// A table grouped by namespace, with the command that fixes each workload.
    #[default]
    Text,
    /// `{"version":1,"items":[...]}`.
    Json,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Audit only this namespace (whatever lameduck's scope says about it).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,

    /// Audit every namespace, including those the webhook does not inject (their
    /// workloads come out `opted-out` or `not-applicable`). Default: only the namespaces
    /// the webhook injects under `--mode` and the namespace labels.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// The server's `--mode`: `cluster` (every namespace not labelled
    /// lameduck.dev/inject=disabled) or `namespace` (only those labelled enabled).
    #[arg(long, env = "LAMEDUCK_MODE", default_value = "cluster")]
    pub mode: Mode,

    /// Namespaces the webhook configuration never selects (the chart's system namespaces
    /// plus its `excludedNamespaces`), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kube-system,kube-public,kube-node-lease"
    )]
    pub excluded_namespaces: Vec<String>,

    /// The chart's `targets`: `all` when workload templates are mutated too, so a
    /// template without lameduck's record counts as unprotected.
    #[arg(long, value_enum, default_value = "pods")]
    pub targets: Targets,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: AuditFormat,

    /// Exit with code 2 when any workload is unprotected or stale (for CI and cron).
    #[arg(long)]
    pub strict: bool,

    /// Path to a kubeconfig. Default: $KUBECONFIG, ~/.kube/config, or the in-cluster
    /// service account.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,

    /// Objects per list request.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,

    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0:?} is not a namespace name")]
    NamespaceName(String),
    #[error("reading the kubeconfig {path}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no Kubernetes configuration (in-cluster, $KUBECONFIG or ~/.kube/config)")]
    Infer(#[source] kube::config::InferConfigError),
    #[error("building the Kubernetes client")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(
        "--action auto needs the cluster's versions (or pass --action sleep or --action exec, as the server decided)"
    )]
    Versions(#[source] crate::cluster::ClusterError),
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("writing the output")]
    Write(#[source] std::io::Error),
}

/// A DNS label, as namespace names are (it goes into request paths).
fn is_namespace_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl AuditArgs {
    pub fn run(self) -> Result<ExitCode, AuditError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AuditError::Runtime)?;
        runtime.block_on(self.run_async())
    }

    async fn run_async(self) -> Result<ExitCode, AuditError> {
        let client = self.client().await?;
        self.run_with_client(&client).await
    }

    async fn client(&self) -> Result<kube::Client, AuditError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig_error = |source| AuditError::Kubeconfig {
                    path: path.display().to_string(),
                    source,
                };
                let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(kubeconfig_error)?
            }
            None if self.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|source| AuditError::Kubeconfig {
                    path: "($KUBECONFIG or ~/.kube/config)".into(),
                    source,
                })?,
            None => kube::Config::infer().await.map_err(AuditError::Infer)?,
        };
        kube::Client::try_from(config).map_err(AuditError::Client)
    }

    /// Reads the cluster through `client`, prints the report, returns the exit code.
    pub async fn run_with_client(self, client: &kube::Client) -> Result<ExitCode, AuditError> {
        let report = self.report(client).await?;
        let text = match self.output {
            AuditFormat::Text => super::render_text(&report),
            AuditFormat::Json => {
                // Serializing strings and integers cannot fail.
                let mut text =
                    serde_json::to_string_pretty(&JsonReport::new(&report)).unwrap_or_default();
                text.push('\n');
                text
            }
        };
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(AuditError::Write)?;
        Ok(if self.strict && report.has_findings() {
            ExitCode::from(EXIT_FINDINGS)
        } else {
            ExitCode::SUCCESS
        })
    }

    /// Reads the cluster through `client` and judges every workload in scope.
    pub async fn report(&self, client: &kube::Client) -> Result<Report, AuditError> {
        let AuditArgs {
            namespace,
            all_namespaces,
            mode,
            excluded_namespaces,
            targets,
            output: _,
            strict: _,
            kubeconfig: _,
            context: _,
            page_size,
            plan,
        } = self;
        let settings = plan.settings()?;
        if let Some(name) = namespace
            && !is_namespace_name(name)
        {
            return Err(AuditError::NamespaceName(name.clone()));
        }
        let mut options = Options::new(settings, *mode);
        options.excluded = excluded_namespaces
            .iter()
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect::<BTreeSet<_>>();
        options.targets = *targets;
        // `auto` must mean what it means to the server, or every pod would look stale.
        if options.settings.action == ActionSetting::Auto {
            let choice = versions::read_choice(client, 100)
                .await
                .map_err(AuditError::Versions)?;
            options.auto_action = choice.action;
            options.auto_reason = choice.reason;
        }

        let scope = match namespace {
            Some(name) => Scope::Namespace(name.clone()),
            None => Scope::All,
        };
        let inventory = inventory::read(client, &scope, *page_size).await?;
        Ok(super::audit(&inventory, &options, |_, ns_scope| {
            namespace.is_some() || *all_namespaces || ns_scope == NamespaceScope::Injected
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_dns_labels() {
        assert!(is_namespace_name("shop-2"));
        assert!(!is_namespace_name("shop/pods"));
        assert!(!is_namespace_name("-shop"));
        assert!(!is_namespace_name("Shop"));
        assert!(!is_namespace_name(""));
    }
}
