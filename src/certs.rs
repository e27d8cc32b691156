//! `lameduck certs`: a CA and a serving certificate for `SERVICE.NAMESPACE.svc`.
//! (Being built: see issue 4.)

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("not implemented yet")]
    NotImplemented,
}

/// `lameduck certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {}

impl CertsArgs {
    pub fn run(self) -> Result<ExitCode, CertsError> {
        Err(CertsError::NotImplemented)
    }
}
