//! `lameduck certs`: a CA and a serving certificate for `SERVICE.NAMESPACE.svc`, written
//! as the files of a `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`, `ca.crt`), for the
//! manifests and for local development.
//!
//! The CA's private key is not written: it exists only to sign this one serving
//! certificate, and the API server trusts whatever the webhook configuration's
//! `caBundle` says. To renew, run again and update both the Secret and the `caBundle`.
//! Keys are ECDSA P-256, which the API server and every TLS stack accept.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::text::is_dns_label;

/// File names, as the keys of a `kubernetes.io/tls` Secret.
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";
pub const CA_FILE: &str = "ca.crt";

/// Backdating `notBefore` this much lets nodes whose clocks run a little behind accept
/// a certificate made a moment ago.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum TlsSecretError {
    #[error(
        "--{flag} {value:?} is not a DNS label (lowercase letters, digits and '-', at most 63)"
    )]
    InvalidName { flag: &'static str, value: String },
    #[error("--cluster-domain {0:?} is not a DNS name")]
    InvalidDomain(String),
    #[error("generating the certificates")]
    Generate(#[from] rcgen::Error),
    #[error("{} already exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `lameduck certs` makes, and where.
#[derive(Debug, Clone)]
pub struct TlsSecretRequest {
    /// The webhook's Service name.
    pub service: String,

    /// The Service's namespace.
    pub namespace: String,

    /// The cluster's DNS domain, for the `SERVICE.NAMESPACE.svc.DOMAIN` name.
    pub cluster_domain: String,

    /// Where to write tls.crt, tls.key and ca.crt (created if missing).
    pub out_dir: PathBuf,

    /// Validity of the CA and the serving certificate, in days.
    pub days: u32,

    /// Replace files that already exist.
    pub force: bool,
}

/// What `certs` produced, in memory.
#[derive(Debug, Clone)]
pub struct TlsSecret {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
    /// The DNS names of the serving certificate.
    pub names: Vec<String>,
}

impl TlsSecret {
    /// The webhook configuration's `caBundle`: base64 of the CA's PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }
}

impl TlsSecretRequest {
    /// The DNS names the API server may use to reach the Service.
    pub fn names(&self) -> Result<Vec<String>, TlsSecretError> {
        for (flag, value) in [("service", &self.service), ("namespace", &self.namespace)] {
            if !is_dns_label(value) {
                return Err(TlsSecretError::InvalidName {
                    flag,
                    value: value.clone(),
                });
            }
        }
        let domain = self.cluster_domain.trim_end_matches('.');
        if domain.is_empty() || !domain.split('.').all(is_dns_label) {
            return Err(TlsSecretError::InvalidDomain(self.cluster_domain.clone()));
        }
        let (service, namespace) = (&self.service, &self.namespace);
        Ok(vec![
            service.clone(),
            format!("{service}.{namespace}"),
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.{domain}"),
        ])
    }

    /// Makes the CA and the serving certificate; writes nothing.
    pub fn generate(&self) -> Result<TlsSecret, TlsSecretError> {
        let names = self.names()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let not_before = epoch + now.saturating_sub(CLOCK_SKEW);
        let not_after = epoch + now + Duration::from_secs(u64::from(self.days) * 86_400);

        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("lameduck CA for {}.{}", self.service, self.namespace),
        );
        // Signs serving certificates only, never another CA.
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.not_before = not_before;
        ca.not_after = not_after;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(names.clone())?;
        // The API server checks the SANs; the CN is for people reading the certificate.
        leaf.distinguished_name
            .push(DnType::CommonName, names[2].clone());
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        leaf.not_before = not_before;
        leaf.not_after = not_after;
        let cert = leaf.signed_by(&key, &issuer)?;

        Ok(TlsSecret {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_pem: ca_cert.pem(),
            names,
        })
    }

    /// Writes the three files; the key is readable by its owner only. Returns the paths
    /// of tls.crt, tls.key and ca.crt.
    pub fn write(&self, generated: &TlsSecret) -> Result<[PathBuf; 3], TlsSecretError> {
        let dir = &self.out_dir;
        fs::create_dir_all(dir).map_err(|source| TlsSecretError::Write {
            path: dir.clone(),
            source,
        })?;
        let files = [
            (CERT_FILE, &generated.cert_pem, 0o644),
            (KEY_FILE, &generated.key_pem, 0o600),
            (CA_FILE, &generated.ca_pem, 0o644),
        ];
        // Check all three first, so a refusal leaves no mixed set behind.
        if !self.force {
            for (name, _, _) in &files {
                let path = dir.join(name);
                if path.exists() {
                    return Err(TlsSecretError::Exists(path));
                }
            }
        }
        for (name, contents, mode) in files {
            write_atomically(&dir.join(name), contents.as_bytes(), mode)?;
        }
        Ok([CERT_FILE, KEY_FILE, CA_FILE].map(|name| dir.join(name)))
    }
}

/// Writes to a temporary file created with `mode`, then renames it over `path`, so a
/// server polling the files never reads half of one and the key is never briefly
/// world-readable.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsSecretError> {
    let error = |source| TlsSecretError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .map_err(error)?;
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        // The umask may have narrowed the mode; set exactly what was asked.
        .and_then(|()| fs::set_permissions(&temp, fs::Permissions::from_mode(mode)))
        .and_then(|()| fs::rename(&temp, path));
    if let Err(source) = written {
        let _ = fs::remove_file(&temp);
        return Err(error(source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> TlsSecretRequest {
        TlsSecretRequest {
            service: "lameduck".into(),
            namespace: "lameduck".into(),
            cluster_domain: "cluster.local".into(),
            out_dir: PathBuf::from("."),
            days: 365,
            force: false,
        }
    }

    #[test]
    fn names_cover_every_service_form() {
        let names = args().names().unwrap_or_default();
        assert_eq!(
            names,
            [
                "lameduck",
                "lameduck.lameduck",
                "lameduck.lameduck.svc",
                "lameduck.lameduck.svc.cluster.local"
            ]
        );
    }

    #[test]
    fn rejects_names_that_are_not_labels() {
        for bad in ["", "Web", "a.b", "-x", "x-", &"a".repeat(64)] {
            let mut args = args();
            args.service = bad.to_string();
            assert!(
                matches!(args.names(), Err(TlsSecretError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        let mut args = args();
        args.cluster_domain = "bad..domain".into();
        assert!(matches!(
            args.names(),
            Err(TlsSecretError::InvalidDomain(_))
        ));
    }
}
