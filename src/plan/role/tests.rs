use super::*;

#[test]
fn repository_path_drops_registry_tag_and_digest() {
    let cases = [
        ("nginx:1.27", "nginx"),
        ("registry.example.com/shop/app:1.4.2", "shop/app"),
        ("localhost:5000/nginx", "nginx"),
        ("localhost/team/nginx", "team/nginx"),
        (
            "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14@sha256:abc",
            "cloud-sql-connectors/cloud-sql-proxy",
        ),
        ("docker.io/istio/proxyv2:1.24.0", "istio/proxyv2"),
        (
            "otel/opentelemetry-collector-contrib",
            "otel/opentelemetry-collector-contrib",
        ),
        ("", ""),
    ];
    for (image, path) in cases {
        assert_eq!(image_repository_path(image), path, "{image}");
    }
}

/// Every default pattern, with the container names and images real charts and
/// injectors ship.
#[test]
fn default_lists_classify_real_containers() {
    let patterns = RolePatterns::default();
    let cases: &[(&str, &str, Role)] = &[
        // Meshes.
        (
            "istio-proxy",
            "docker.io/istio/proxyv2:1.24.0",
            Role::Sidecar,
        ),
        (
            "istio-proxy",
            "gcr.io/istio-release/proxyv2:1.22.1",
            Role::Sidecar,
        ),
        (
            "linkerd-proxy",
            "cr.l5d.io/linkerd/proxy:stable-2.14.10",
            Role::Sidecar,
        ),
        (
            "linkerd-proxy",
            "gcr.io/linkerd-io/proxy:stable-2.10.2",
            Role::Sidecar,
        ),
        (
            "envoy-sidecar",
            "envoyproxy/envoy-alpine:v1.18.3",
            Role::Sidecar,
        ),
        (
            "consul-dataplane",
            "hashicorp/consul-dataplane:1.4.0",
            Role::Sidecar,
        ),
        (
            "kuma-sidecar",
            "docker.io/kumahq/kuma-dp:2.7.0",
            Role::Sidecar,
        ),
        (
            "envoy",
            "840364872350.dkr.ecr.us-west-2.amazonaws.com/aws-appmesh-envoy:v1.27.0.0-prod",
            Role::Sidecar,
        ),
        ("daprd", "ghcr.io/dapr/daprd:1.13.0", Role::Sidecar),
        // Database proxies.
        (
            "cloud-sql-proxy",
            "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11.0",
            Role::Sidecar,
        ),
        (
            "cloudsql-proxy",
            "gcr.io/cloudsql-docker/gce-proxy:1.33.2",
            Role::Sidecar,
        ),
        (
            "sql",
            "gcr.io/cloudsql-docker/gce-proxy:1.17",
            Role::Sidecar,
        ),
        (
            "alloydb-proxy",
            "gcr.io/alloydb-connectors/alloydb-auth-proxy:1.10.0",
            Role::Sidecar,
        ),
        // Secrets.
        ("vault-agent", "hashicorp/vault:1.16.1", Role::Sidecar),
        // Log and telemetry shippers.
        (
            "fluent-bit",
            "cr.fluentbit.io/fluent/fluent-bit:3.0.4",
            Role::Sidecar,
        ),
        (
            "log-router",
            "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0",
            Role::Sidecar,
        ),
        (
            "fluentbit",
            "registry.example.com/logging/shipper:1",
            Role::Sidecar,
        ),
        (
            "fluentd",
            "fluent/fluentd-kubernetes-daemonset:v1.16-debian-1",
            Role::Sidecar,
        ),
        (
            "vector",
            "timberio/vector:0.38.0-distroless-libc",
            Role::Sidecar,
        ),
        (
            "opentelemetry-collector",
            "otel/opentelemetry-collector-contrib:0.102.0",
            Role::Sidecar,
        ),
        (
            "collector",
            "ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-k8s:0.102.1",
            Role::Sidecar,
        ),
        (
            "otc-container",
            "registry.example.com/mirror/collector:0.102.0",
            Role::Sidecar,
        ),
        (
            "otel-collector",
            "registry.example.com/mirror/collector:1",
            Role::Sidecar,
        ),
        ("alloy", "docker.io/grafana/alloy:v1.1.0", Role::Sidecar),
        (
            "grafana-agent",
            "docker.io/grafana/agent:v0.40.4",
            Role::Sidecar,
        ),
        (
            "promtail",
            "docker.io/grafana/promtail:3.0.0",
            Role::Sidecar,
        ),
        ("agent", "gcr.io/datadoghq/agent:7.54.0", Role::Sidecar),
        (
            "trace-agent",
            "public.ecr.aws/datadog/agent:7",
            Role::Sidecar,
        ),
        ("datadog-agent", "registry.example.com/dd:7", Role::Sidecar),
        (
            "jaeger-agent",
            "jaegertracing/jaeger-agent:1.57.0",
            Role::Sidecar,
        ),
        // Front proxies.
        ("nginx", "nginx:1.27", Role::Proxy),
        (
            "nginx",
            "nginxinc/nginx-unprivileged:1.27-alpine",
            Role::Proxy,
        ),
        (
            "web",
            "docker.io/bitnami/nginx:1.27.0-debian-12-r1",
            Role::Proxy,
        ),
        (
            "controller",
            "registry.k8s.io/ingress-nginx/controller:v1.10.1",
            Role::Proxy,
        ),
        ("web", "openresty/openresty:1.25.3.1-alpine", Role::Proxy),
        ("haproxy", "haproxy:2.9", Role::Proxy),
        ("lb", "haproxytech/haproxy-alpine:2.9", Role::Proxy),
        (
            "kubernetes-ingress-controller",
            "haproxytech/kubernetes-ingress:1.11.3",
            Role::Proxy,
        ),
        (
            "haproxy-ingress",
            "quay.io/jcmoraisjr/haproxy-ingress:v0.14.6",
            Role::Proxy,
        ),
        ("envoy", "docker.io/envoyproxy/envoy:v1.30.1", Role::Proxy),
        (
            "gateway",
            "envoyproxy/envoy-distroless:v1.30-latest",
            Role::Proxy,
        ),
        ("traefik", "docker.io/traefik:v3.0.0", Role::Proxy),
        ("caddy", "caddy:2.8", Role::Proxy),
        (
            "oauth2-proxy",
            "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
            Role::Proxy,
        ),
        ("auth", "quay.io/pusher/oauth2_proxy:v5.1.1", Role::Proxy),
    ];
    for &(name, image, role) in cases {
        assert_eq!(patterns.detect(name, Some(image)), role, "{name} {image}");
    }
    // Every default pattern is exercised above.
    for pattern in DEFAULT_SIDECAR_PATTERNS
        .iter()
        .chain(DEFAULT_PROXY_PATTERNS)
    {
        let only = RolePatterns::new(vec![pattern.to_string()], vec![]);
        assert!(
            cases
                .iter()
                .any(|&(name, image, _)| only.detect(name, Some(image)) == Role::Sidecar),
            "no case for {pattern}"
        );
    }
}

/// The cases that substring matching got wrong.
#[test]
fn words_not_substrings() {
    let patterns = RolePatterns::default();
    let cases: &[(&str, &str, Role)] = &[
        (
            "hotel-reserv-frontend",
            "deathstarbench/hotel-reservation:latest",
            Role::App,
        ),
        (
            "hotel-reserv-reservation",
            "deathstarbench/hotel-reservation:latest",
            Role::App,
        ),
        (
            "nginx-prometheus-exporter",
            "nginx/nginx-prometheus-exporter:1.1.0",
            Role::App,
        ),
        (
            "metrics",
            "nginx/nginx-prometheus-exporter:1.1.0",
            Role::App,
        ),
        (
            "redis-exporter",
            "oliver006/redis_exporter:v1.61.0",
            Role::App,
        ),
        (
            "cloudsql-proxy",
            "gcr.io/cloudsql-docker/gce-proxy:1.11",
            Role::Sidecar,
        ),
        (
            "opentelemetry-collector",
            "otel/opentelemetry-collector-contrib:0.102.0",
            Role::Sidecar,
        ),
        // The registry host is not part of the match.
        ("app", "nginx.example.com/team/app:1", Role::App),
        ("app", "registry.example.com/shop/app:1.4.2", Role::App),
        // Neither is the tag.
        ("app", "shop/app:nginx-base", Role::App),
        // A word containing a pattern is another word.
        ("nginxlog", "shop/nginxlog:1", Role::App),
        ("pgvector", "pgvector/pgvector:pg16", Role::App),
    ];
    for &(name, image, role) in cases {
        assert_eq!(patterns.detect(name, Some(image)), role, "{name} {image}");
    }
    assert_eq!(patterns.detect("otel-collector", None), Role::Sidecar);
    assert_eq!(patterns.detect("Fluent-Bit", None), Role::Sidecar);
}

/// Issue 21: what a container is comes from its image's own name, not from the
/// organisation that published it; a vendor's sample app is an app.
#[test]
fn roles_come_from_what_an_image_is_not_who_published_it() {
    let patterns = RolePatterns::default();
    let cases: &[(&str, &str, Role)] = &[
        ("whoami", "traefik/whoami:v1.10", Role::App),
        ("whoami", "docker.io/traefik/whoami:v1.10.3", Role::App),
        ("web", "traefik:v3", Role::Proxy),
        ("proxy", "docker.io/library/traefik:v3.1", Role::Proxy),
        (
            "web",
            "nginxinc/nginx-unprivileged:1.27-alpine",
            Role::Proxy,
        ),
        // NGINX's demo page: a sample app, whatever serves it.
        ("demo", "nginxdemos/hello:plain-text", Role::App),
        ("front", "envoyproxy/envoy:v1.31.0", Role::Proxy),
        ("ratelimit", "envoyproxy/ratelimit:3e085e5b", Role::App),
        (
            "controller",
            "docker.io/envoyproxy/gateway:v1.2.1",
            Role::App,
        ),
        ("lb", "haproxytech/haproxy-alpine:3.0", Role::Proxy),
        ("dataplane", "haproxytech/dataplaneapi:3.0", Role::App),
        (
            "controller",
            "registry.k8s.io/ingress-nginx/controller:v1.11.2",
            Role::Proxy,
        ),
        (
            "controller",
            "registry.k8s.io/ingress-nginx/controller-chroot:v1.11.2",
            Role::Proxy,
        ),
        (
            "create",
            "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.3",
            Role::App,
        ),
        (
            "contour",
            "ghcr.io/projectcontour/contour:v1.30.0",
            Role::App,
        ),
        // A mirror keeps the segments that matter at the end.
        (
            "controller",
            "registry.example.com/mirror/ingress-nginx/controller:v1.11.2",
            Role::Proxy,
        ),
        ("echo", "registry.example.com/nginx/echo:1", Role::App),
        // The container's name still counts whatever the image.
        ("nginx", "registry.example.com/team/web:1", Role::Proxy),
    ];
    for &(name, image, role) in cases {
        assert_eq!(patterns.detect(name, Some(image)), role, "{name} {image}");
    }
}

#[test]
fn sidecar_patterns_win_over_proxy_patterns() {
    let patterns = RolePatterns::default();
    // "fluent-bit-envoy" matches both a sidecar and a proxy pattern.
    assert_eq!(patterns.detect("fluent-bit-envoy", None), Role::Sidecar);
}

#[test]
fn configured_patterns_match_by_words_too() {
    let patterns = RolePatterns::new(vec!["cloud_sql.proxy".into()], vec!["pomerium".into()]);
    assert_eq!(
        patterns.detect("db", Some("gcr.io/x/cloud-sql-proxy:2")),
        Role::Sidecar
    );
    assert_eq!(
        patterns.detect("auth", Some("pomerium/pomerium:v0.26")),
        Role::Proxy
    );
    assert_eq!(patterns.detect("nginx", Some("nginx:1")), Role::App);
}

#[test]
fn roles_parse_from_annotation_values() {
    assert_eq!("proxy".parse(), Ok(Role::Proxy));
    assert_eq!(" skip ".parse(), Ok(Role::Skip));
    assert_eq!("Proxy".parse::<Role>(), Err(()));
}
