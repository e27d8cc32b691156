//! `lameduck certs`: flags for `crate::tls_secret`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::CliError;
use crate::tls_secret::TlsSecretRequest;

/// `lameduck certs`: a CA and a serving certificate for `SERVICE.NAMESPACE.svc`.
#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// The webhook's Service name.
    #[arg(long, env = "LAMEDUCK_SERVICE", default_value = "lameduck")]
    pub service: String,

    /// The Service's namespace.
    #[arg(long, env = "LAMEDUCK_NAMESPACE", default_value = "lameduck")]
    pub namespace: String,

    /// The cluster's DNS domain, for the `SERVICE.NAMESPACE.svc.DOMAIN` name.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,

    /// Where to write tls.crt, tls.key and ca.crt (created if missing).
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,

    /// Validity of the CA and the serving certificate, in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
}

impl CertsArgs {
    pub fn run(self) -> Result<ExitCode, CliError> {
        let request = TlsSecretRequest::from(self);
        let generated = request.generate()?;
        let [cert, key, ca] = &request.write(&generated)?;
        println!(
            "wrote {} and {} (DNS names: {}; valid {} days)",
            cert.display(),
            key.display(),
            generated.names.join(", "),
            request.days
        );
        println!("wrote {}", ca.display());
        println!();
        println!("# the Secret the webhook mounts:");
        println!(
            "kubectl -n {} create secret tls {}-tls --cert={} --key={}",
            request.namespace,
            request.service,
            cert.display(),
            key.display()
        );
        println!("# the MutatingWebhookConfiguration's clientConfig.caBundle:");
        println!("caBundle: {}", generated.ca_bundle());
        Ok(ExitCode::SUCCESS)
    }
}

impl From<CertsArgs> for TlsSecretRequest {
    fn from(args: CertsArgs) -> Self {
        let CertsArgs {
            service,
            namespace,
            cluster_domain,
            out_dir,
            days,
            force,
        } = args;
        TlsSecretRequest {
            service,
            namespace,
            cluster_domain,
            out_dir,
            days,
            force,
        }
    }
}
