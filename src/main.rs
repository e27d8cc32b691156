#![forbid(unsafe_code)]

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<std::process::ExitCode> {
    // One crypto provider for the whole process: ring, never aws-lc.
    let _ = rustls::crypto::ring::default_provider().install_default();
    cli::Cli::parse().run()
}
