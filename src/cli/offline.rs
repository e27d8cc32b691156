//! `lameduck mutate` and `lameduck explain`: manifests in, the webhook's answer out.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{CliError, PlanArgs, exit_code, write_stdout};
use crate::manifests::{self, ManifestError};

/// Exit code when `--strict` is given and there were warnings; 1 is for unreadable input.
const EXIT_WARNINGS: u8 = 2;

/// Input flags shared by `mutate` and `explain`.
#[derive(Debug, Clone, Args)]
pub(super) struct InputArgs {
    /// Manifest file (YAML or JSON, several documents allowed); `-` for stdin. Repeat for
    /// several files. Without any, stdin is read (how kustomize and kpt run a KRM
    /// function).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Exit with code 2 when there is any warning (for CI lint). Output is still written.
    #[arg(long, env = "LAMEDUCK_STRICT")]
    pub strict: bool,
}

/// `lameduck mutate`: apply the webhook's mutation to manifests.
#[derive(Debug, Args)]
pub(super) struct MutateArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(super) enum ExplainFormat {
    /// A table per pod template, for people.
    #[default]
    Text,
    /// One JSON object (`{"version": 1, "templates": [...]}`), for machines.
    Json,
}

/// `lameduck explain`: print each pod template's shutdown timeline.
#[derive(Debug, Args)]
pub(super) struct ExplainArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: ExplainFormat,

    #[command(flatten)]
    pub plan: PlanArgs,
}

impl MutateArgs {
    pub(super) fn run(self) -> Result<ExitCode, CliError> {
        let MutateArgs {
            input: InputArgs { files, strict },
            plan,
        } = self;
        let settings = plan.settings()?;
        let mutated = manifests::mutate_files(&files, &settings, strict)?;
        write_stdout(&mutated.text)?;
        let mut stderr = std::io::stderr().lock();
        for note in &mutated.notes {
            // Nothing sensible to do when stderr is gone; the exit code still tells.
            let _ = writeln!(stderr, "{note}");
        }
        Ok(exit_code(strict, !mutated.notes.is_empty(), EXIT_WARNINGS))
    }
}

impl ExplainArgs {
    pub(super) fn run(self) -> Result<ExitCode, CliError> {
        let ExplainArgs {
            input: InputArgs { files, strict },
            output,
            plan,
        } = self;
        let settings = plan.settings()?;
        let report = manifests::explain_files(&files, &settings)?;
        let text = match output {
            ExplainFormat::Text => report.to_text(),
            ExplainFormat::Json => report
                .to_json()
                .map_err(|error| ManifestError::Render(error.to_string()))?,
        };
        write_stdout(&text)?;
        Ok(exit_code(strict, report.has_warnings(), EXIT_WARNINGS))
    }
}
