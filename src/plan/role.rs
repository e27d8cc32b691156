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

/// The substrings that classify a container. Sidecar patterns are checked first, so
/// `istio-proxy` (which also contains `proxy`-like names) is a sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePatterns {
    pub sidecar: Vec<String>,
    pub proxy: Vec<String>,
}

pub const DEFAULT_SIDECAR_PATTERNS: &[&str] = &[
    "istio-proxy",
    "linkerd-proxy",
    "cloud-sql-proxy",
    "vault-agent",
    "fluent-bit",
    "fluentd",
    "vector",
    "otel",
];

pub const DEFAULT_PROXY_PATTERNS: &[&str] = &[
    "nginx",
    "openresty",
    "haproxy",
    "envoy",
    "traefik",
    "caddy",
    "oauth2-proxy",
];

impl Default for RolePatterns {
    fn default() -> Self {
        let owned = |patterns: &[&str]| patterns.iter().map(|p| p.to_string()).collect();
        RolePatterns {
            sidecar: owned(DEFAULT_SIDECAR_PATTERNS),
            proxy: owned(DEFAULT_PROXY_PATTERNS),
        }
    }
}

impl RolePatterns {
    /// A pattern matches when it is a substring of the container's name or of the last
    /// path segment of its image repository (no registry, no tag, no digest).
    pub fn detect(&self, name: &str, image: Option<&str>) -> Role {
        let repository = image.map(image_repository_name).unwrap_or("");
        let matches = |pattern: &String| {
            !pattern.is_empty()
                && (name.contains(pattern.as_str()) || repository.contains(pattern.as_str()))
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

/// `registry:5000/team/nginx:1.27@sha256:...` -> `nginx`.
pub fn image_repository_name(image: &str) -> &str {
    let without_digest = image.split_once('@').map_or(image, |(repo, _)| repo);
    let last_segment = without_digest
        .rsplit_once('/')
        .map_or(without_digest, |(_, last)| last);
    last_segment
        .split_once(':')
        .map_or(last_segment, |(repo, _)| repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_name_drops_registry_tag_and_digest() {
        assert_eq!(image_repository_name("nginx:1.27"), "nginx");
        assert_eq!(
            image_repository_name("registry.example.com/shop/app:1.4.2"),
            "app"
        );
        assert_eq!(image_repository_name("localhost:5000/nginx"), "nginx");
        assert_eq!(
            image_repository_name("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14@sha256:abc"),
            "cloud-sql-proxy"
        );
        assert_eq!(
            image_repository_name("docker.io/istio/proxyv2:1.24.0"),
            "proxyv2"
        );
        assert_eq!(image_repository_name(""), "");
    }

    #[test]
    fn detection_by_name_or_image() {
        let patterns = RolePatterns::default();
        assert_eq!(patterns.detect("nginx", Some("nginx:1.27")), Role::Proxy);
        assert_eq!(
            patterns.detect("web", Some("openresty/openresty:1.25")),
            Role::Proxy
        );
        assert_eq!(
            patterns.detect("app", Some("registry.example.com/shop/app:1.4.2")),
            Role::App
        );
        assert_eq!(
            patterns.detect("sql", Some("gcr.io/x/cloud-sql-proxy:2")),
            Role::Sidecar
        );
        assert_eq!(
            patterns.detect("istio-proxy", Some("docker.io/istio/proxyv2:1.24.0")),
            Role::Sidecar
        );
        assert_eq!(patterns.detect("otel-collector", None), Role::Sidecar);
        // The registry host is not part of the match.
        assert_eq!(
            patterns.detect("app", Some("nginx.example.com/team/app:1")),
            Role::App
        );
    }

    #[test]
    fn sidecar_patterns_win_over_proxy_patterns() {
        let patterns = RolePatterns::default();
        // "fluent-bit-envoy" contains both a sidecar and a proxy pattern.
        assert_eq!(patterns.detect("fluent-bit-envoy", None), Role::Sidecar);
    }

    #[test]
    fn roles_parse_from_annotation_values() {
        assert_eq!("proxy".parse(), Ok(Role::Proxy));
        assert_eq!(" skip ".parse(), Ok(Role::Skip));
        assert_eq!("Proxy".parse::<Role>(), Err(()));
    }
}
