//! Annotation values: `parse_seconds` on any text, then any set of `lameduck.dev/*`
//! annotations (one `key=value` per line) on a pod with every role, through the full
//! review and the API server's rules.
#![no_main]

use std::sync::{Arc, LazyLock};

use lameduck::cluster::ClusterState;
use lameduck::plan::Settings;
use lameduck::plan::duration::parse_seconds;
use lameduck::scope::Mode;
use lameduck::webhook::Webhook;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[path = "../../tests/api_rules/mod.rs"]
mod api_rules;
#[path = "../../tests/support/review.rs"]
mod review;

static WEBHOOK: LazyLock<Webhook> = LazyLock::new(|| {
    Webhook::new(
        Settings::default(),
        Mode::Cluster,
        Arc::new(ClusterState::standalone()),
    )
});

fn check_duration(text: &str) {
    let Ok(seconds) = parse_seconds(text) else {
        return;
    };
    let trimmed = text.trim_ascii();
    let unsigned = trimmed.trim_start_matches(['+', '-']);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        // A bare integer is seconds, saturating.
        let expected = unsigned.parse::<u64>().unwrap_or(u64::MAX);
        let expected = if trimmed.starts_with('-') { 0 } else { expected };
        assert_eq!(seconds, expected, "{text:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let grace = lines.next().unwrap_or_default();
    check_duration(grace);
    let mut annotations = Map::new();
    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            check_duration(line);
            continue;
        };
        check_duration(value);
        let key = if key.contains('/') {
            key.to_string()
        } else {
            format!("lameduck.dev/{key}")
        };
        annotations.insert(key, Value::String(value.to_string()));
    }
    let mut spec = json!({
        "containers": [
            {"name": "nginx", "image": "nginx:1.27"},
            {"name": "app", "image": "registry.example.com/shop/app:1", "lifecycle": {"postStart": {"exec": {"command": ["true"]}}}},
            {"name": "own", "image": "own:1", "lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": 8080}}}},
            {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"},
            {"name": "fluent-bit", "image": "fluent/fluent-bit:3", "lifecycle": {}},
        ],
        "initContainers": [
            {"name": "vault-agent", "image": "hashicorp/vault:1", "restartPolicy": "Always"},
            {"name": "migrate", "image": "app:1"},
        ],
    });
    // The first line, when a number, is the submitted grace period.
    if let Ok(grace) = grace.trim().parse::<i64>() {
        spec["terminationGracePeriodSeconds"] = json!(grace);
    }
    let body = review::ReviewBody::create(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop", "annotations": annotations},
        "spec": spec,
    }))
    .uid("fuzz")
    .to_vec();
    if let Err(violation) = api_rules::check_review(&WEBHOOK, &body) {
        panic!("{violation}");
    }
});
