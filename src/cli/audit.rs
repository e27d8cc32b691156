//! `lameduck audit`: flags, printing and exit code for `crate::audit`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{CliError, PlanArgs, exit_code, write_stdout};
use crate::audit::{AuditRequest, JsonReport, Report, Targets, render_text};
use crate::cluster::inventory::DEFAULT_PAGE_SIZE;
use crate::scope::Mode;

/// Exit code of `--strict` when something is unprotected or stale.
const EXIT_FINDINGS: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AuditFormat {
    /// A table grouped by namespace, with the command that fixes each workload.
    #[default]
    Text,
    /// `{"version":1,"items":[...]}`.
    Json,
}

/// `crate::audit::Targets` as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetsArg {
    /// Pods only (the chart's default): templates are judged only when they carry a record.
    Pods,
    /// Pods and the templates of workloads.
    All,
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
    pub targets: TargetsArg,

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

impl AuditArgs {
    pub fn run(self) -> Result<ExitCode, CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?;
        runtime.block_on(async {
            let request = self.request()?;
            let client =
                crate::cluster::client(self.kubeconfig.as_deref(), self.context.as_deref()).await?;
            let report = request.report(&client).await?;
            self.print(&report)?;
            Ok(exit_code(self.strict, report.has_findings(), EXIT_FINDINGS))
        })
    }

    /// Reads the cluster through `client` and judges every workload in scope.
    pub async fn report(&self, client: &kube::Client) -> Result<Report, CliError> {
        Ok(self.request()?.report(client).await?)
    }

    fn request(&self) -> Result<AuditRequest, CliError> {
        Ok(AuditRequest {
            namespace: self.namespace.clone(),
            all_namespaces: self.all_namespaces,
            mode: self.mode,
            excluded_namespaces: self.excluded_namespaces.clone(),
            targets: match self.targets {
                TargetsArg::Pods => Targets::Pods,
                TargetsArg::All => Targets::All,
            },
            page_size: self.page_size,
            settings: self.plan.settings()?,
        })
    }

    fn print(&self, report: &Report) -> Result<(), CliError> {
        let text = match self.output {
            AuditFormat::Text => render_text(report),
            AuditFormat::Json => {
                let mut text = serde_json::to_string_pretty(&JsonReport::new(report))
                    .map_err(CliError::Encode)?;
                text.push('\n');
                text
            }
        };
        write_stdout(&text)
    }
}
