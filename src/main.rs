use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One crypto provider for the whole process: ring, never aws-lc.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match lameduck::cli::Cli::parse().run() {
        Ok(code) => code,
        Err(error) => {
            // The whole chain on one line, without a backtrace: these are user errors.
            eprintln!("Error: {:#}", anyhow::Error::from(error));
            ExitCode::FAILURE
        }
    }
}
