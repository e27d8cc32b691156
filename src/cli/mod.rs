//! The command line: every flag, and the glue from flags to the library. The only module
//! that knows clap; the rest of the crate takes plain settings and requests.

mod audit;
mod certs;
mod offline;
mod plan;
mod serve;
mod waiter;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::plan::duration::parse_seconds;
// What the binary and the tests name; the other commands' flags stay inside.
pub use audit::AuditArgs;
pub use certs::CertsArgs;
pub use plan::{PlanArgs, SettingsError};
pub use serve::ServeError;
pub use waiter::WaiterArgs;

use offline::{ExplainArgs, MutateArgs};
use serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "lameduck",
    version,
    about = "Pods that stop without dropping requests"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the mutating admission webhook (HTTPS) and its metrics port (HTTP).
    Serve(ServeArgs),
    /// Mutate manifests (YAML/JSON, multi-document, or a KRM ResourceList) as the webhook would.
    Mutate(MutateArgs),
    /// Print each pod template's shutdown timeline.
    Explain(ExplainArgs),
    /// Write a CA and a serving certificate for the webhook's Service.
    Certs(CertsArgs),
    /// Report which running workloads carry the current plan (protected, stale,
    /// unprotected, opted-out, not-applicable), and the command that fixes each.
    Audit(AuditArgs),
    /// The `wait` action's waiter container (injected by the webhook): answers each
    /// container's preStop once the pod is quiet, between --min and --max.
    Waiter(WaiterArgs),
}

/// Why a command failed. Each variant's message is the command's own; causes are in
/// `source()`, for `main` to print once.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Manifests(#[from] crate::manifests::ManifestError),
    #[error(transparent)]
    TlsSecret(#[from] crate::tls_secret::TlsSecretError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Client(#[from] crate::cluster::ClientError),
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("writing the output")]
    Write(#[source] std::io::Error),
    #[error("encoding the JSON report")]
    Encode(#[source] serde_json::Error),
}

impl Cli {
    pub fn run(self) -> Result<ExitCode, CliError> {
        match self.command {
            Command::Serve(args) => args.run(),
            Command::Mutate(args) => args.run(),
            Command::Explain(args) => args.run(),
            Command::Certs(args) => args.run(),
            Command::Audit(args) => args.run(),
            Command::Waiter(args) => args.run(),
        }
    }
}

/// Durations on the command line use the same syntax as annotations.
fn seconds(text: &str) -> Result<u64, String> {
    parse_seconds(text).map_err(|error| format!("{text:?} {error}"))
}

fn duration(text: &str) -> Result<Duration, String> {
    seconds(text).map(Duration::from_secs)
}

/// `--strict` turns warnings (or findings) into this exit code.
fn exit_code(strict: bool, flagged: bool, code: u8) -> ExitCode {
    if strict && flagged {
        ExitCode::from(code)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes all of `text` to stdout; a closed pipe is an error the exit code reports,
/// where `print!` would panic.
fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Write)
}
