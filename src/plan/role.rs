//! Container roles and how they are detected from names and images.

use std::fmt;
use std::str::FromStr;

/// Where a container stands in its pod's shutdown order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A front proxy carrying inbound traffic to the app: stops first.
    Proxy,
    /// Everything not matched: stops once the proxies have drained.
    App,
    /// Something the app needs while it shuts down: stops last.
    Sidecar,
    /// Left untouched.
    Skip,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Proxy => "proxy",
            Role::App => "app",
            Role::Sidecar => "sidecar",
            Role::Skip => "skip",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text.trim_ascii() {
            "proxy" => Ok(Role::Proxy),
            "app" => Ok(Role::App),
            "sidecar" => Ok(Role::Sidecar),
            "skip" => Ok(Role::Skip),
            _ => Err(()),
        }
    }
}

/// The patterns that classify a container, matched against words (see [`RolePatterns::detect`]).
/// Sidecar patterns are checked first, so `istio-proxy` is a sidecar whatever the proxy
/// list says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePatterns {
    sidecar: Vec<Pattern>,
    proxy: Vec<Pattern>,
}

/// A pattern as configured, and split into its lower-case words once: every container is
/// matched against every pattern on every review, and splitting the patterns there was a
/// fifth of a review's instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    words: Vec<String>,
}

impl Pattern {
    fn new(text: String) -> Self {
        Pattern {
            words: words(&text),
            text,
        }
    }
}

/// What the app needs while it shuts down. Besides the generic names, the images whose
/// words say nothing about what they are (`gce-proxy`, `proxyv2`, `otc-container`...).
pub(super) const DEFAULT_SIDECAR_PATTERNS: &[&str] = &[
    // Service meshes: Istio's container and image (`istio/proxyv2`), Linkerd's
    // (`cr.l5d.io/linkerd/proxy`, older `gcr.io/linkerd-io/proxy`), Consul, Kuma,
    // App Mesh's Envoy, Dapr.
    "istio-proxy",
    "proxyv2",
    "linkerd-proxy",
    "linkerd-io-proxy",
    "envoy-sidecar",
    "consul-dataplane",
    "kuma-sidecar",
    "kuma-dp",
    "aws-appmesh-envoy",
    "daprd",
    // Database proxies: Cloud SQL v2 and v1 (`gcr.io/cloudsql-docker/gce-proxy`, often
    // named `cloudsql-proxy`), AlloyDB.
    "cloud-sql-proxy",
    "cloudsql-proxy",
    "gce-proxy",
    "alloydb-auth-proxy",
    // Secrets.
    "vault-agent",
    // Log and telemetry shippers: the OpenTelemetry collector (`otel/...`,
    // `opentelemetry-collector-contrib`, the operator's `otc-container`), Grafana Alloy,
    // Agent and Promtail, Datadog's agent, Jaeger's agent.
    "fluent-bit",
    "fluentbit",
    "fluentd",
    "vector",
    "otel",
    "opentelemetry-collector",
    "otc-container",
    "alloy",
    "grafana-agent",
    "promtail",
    "datadog-agent",
    "datadoghq-agent",
    "jaeger-agent",
];

/// Front proxies that carry inbound traffic to the app. `nginx` also covers
/// `nginxinc/nginx-unprivileged`, `bitnami/nginx` and `ingress-nginx/controller`;
/// `haproxytech` covers HAProxy's `haproxytech/kubernetes-ingress`.
pub(super) const DEFAULT_PROXY_PATTERNS: &[&str] = &[
    "nginx",
    "openresty",
    "haproxy",
    "haproxytech",
    "envoy",
    "traefik",
    "caddy",
    "oauth2-proxy",
];

/// A container with this word in its name or image is an app whatever else matches:
/// `nginx-prometheus-exporter` serves metrics about nginx, it is no proxy.
const APP_WORD: &str = "exporter";

impl Default for RolePatterns {
    fn default() -> Self {
        let owned = |patterns: &[&str]| patterns.iter().map(|p| p.to_string()).collect();
        RolePatterns::new(
            owned(DEFAULT_SIDECAR_PATTERNS),
            owned(DEFAULT_PROXY_PATTERNS),
        )
    }
}

impl RolePatterns {
    pub fn new(sidecar: Vec<String>, proxy: Vec<String>) -> Self {
        RolePatterns {
            sidecar: sidecar.into_iter().map(Pattern::new).collect(),
            proxy: proxy.into_iter().map(Pattern::new).collect(),
        }
    }

    /// The sidecar patterns as configured.
    pub fn sidecar(&self) -> Vec<String> {
        self.sidecar.iter().map(|p| p.text.clone()).collect()
    }

    /// The proxy patterns as configured.
    pub fn proxy(&self) -> Vec<String> {
        self.proxy.iter().map(|p| p.text.clone()).collect()
    }

    /// A pattern matches when its words appear consecutively among the words of the
    /// container's name, or among those that say what its image is (see [`image_words`]).
    /// Words are split at `/`, `-`, `_` and `.`, so `otel` matches
    /// `otel/opentelemetry-collector-contrib` but not `hotel-reserv-frontend`.
    pub fn detect(&self, name: &str, image: Option<&str>) -> Role {
        let name_words = words(name);
        let image_words = image.map(image_words).unwrap_or_default();
        if [&name_words, &image_words]
            .iter()
            .any(|w| w.iter().any(|word| word == APP_WORD))
        {
            return Role::App;
        }
        let matches = |pattern: &Pattern| {
            !pattern.words.is_empty()
                && (contains_run(&name_words, &pattern.words)
                    || contains_run(&image_words, &pattern.words))
        };
        if self.sidecar.iter().any(matches) {
            Role::Sidecar
        } else if self.proxy.iter().any(matches) {
            Role::Proxy
        } else {
            Role::App
        }
    }
}

/// Words of a last path segment that say what kind of component an image is but not
/// which product: behind such a segment only the project's name tells
/// (`ingress-nginx/controller`, `linkerd/proxy`, `datadoghq/agent`,
/// `haproxytech/kubernetes-ingress`), so the segment before it counts too.
const GENERIC_WORDS: &[&str] = &[
    "agent",
    "chroot",
    "controller",
    "distroless",
    "gateway",
    "ingress",
    "k8s",
    "kubernetes",
    "proxy",
    "server",
];

/// The words that say what an image is: those of its repository's last path segment
/// (`nginxinc/nginx-unprivileged` is nginx, `traefik/whoami` is whoami, whoever published
/// it), plus those of the segment before it when every word of the last one is generic.
/// An organisation's name is who published the image, not what it is; it counts only
/// where the image's own name says nothing else, because there the project is the
/// product.
fn image_words(image: &str) -> Vec<String> {
    let path = image_repository_path(image);
    let mut segments = path.rsplit('/');
    let last = words(segments.next().unwrap_or_default());
    let generic = last.iter().all(|w| GENERIC_WORDS.contains(&w.as_str()));
    match segments.next() {
        Some(project) if generic => [words(project), last].concat(),
        _ => last,
    }
}

/// Lower-case words split at `/`, `-`, `_`, `.`; empty pieces dropped.
fn words(text: &str) -> Vec<String> {
    text.split(['/', '-', '_', '.'])
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether `run` appears as consecutive words of `words`.
fn contains_run(words: &[String], run: &[String]) -> bool {
    words.windows(run.len()).any(|window| window == run)
}

/// `registry:5000/team/nginx:1.27@sha256:...` -> `team/nginx`. The first path segment is a
/// registry host when it has a `.` or a `:`, or is `localhost`, as the container runtimes
/// read image references.
pub(super) fn image_repository_path(image: &str) -> &str {
    let without_digest = image.split_once('@').map_or(image, |(repo, _)| repo);
    // A tag follows the last `:` that comes after the last `/` (a registry port does not).
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let without_tag = match without_digest[last_slash..].find(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    };
    match without_tag.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
        _ => without_tag,
    }
}

#[cfg(test)]
mod tests;
