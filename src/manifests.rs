//! Offline commands over YAML/JSON manifests: `lameduck mutate` and `lameduck explain`.
//! (Being built: see issue 5.)

use std::process::ExitCode;

use clap::Args;

use crate::settings::PlanArgs;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not implemented yet")]
    NotImplemented,
}

/// `lameduck mutate`: apply the webhook's mutation to manifests.
#[derive(Debug, Args)]
pub struct MutateArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// `lameduck explain`: print each pod template's shutdown timeline.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
}

impl MutateArgs {
    pub fn run(self) -> Result<ExitCode, ManifestError> {
        Err(ManifestError::NotImplemented)
    }
}

impl ExplainArgs {
    pub fn run(self) -> Result<ExitCode, ManifestError> {
        Err(ManifestError::NotImplemented)
    }
}
