//! The request path without the network: decode, plan, patch, encode, for reviews of
//! growing size. Throughput is reported in bytes so linear cost shows as a flat rate.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lameduck::cluster::ClusterState;
use lameduck::plan::Settings;
use lameduck::scope::Mode;
use lameduck::webhook::Webhook;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).expect("tests/fixtures/admission")).unwrap()
}

fn eight_kb() -> Value {
    let path = format!("{}/benches/data/review-8k.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The nginx + app review with its app container given `env` entries until the body
/// reaches `bytes`.
fn padded(bytes: usize) -> Value {
    let mut review = fixture("02-pod-nginx-and-app.json");
    let per_entry = 60;
    let entries = bytes.saturating_sub(6_700) / per_entry;
    let env: Vec<Value> = (0..entries)
        .map(|i| json!({"name": format!("SETTING_{i:07}"), "value": format!("value-{i:07}-abcdefghij")}))
        .collect();
    review["request"]["object"]["spec"]["containers"][1]["env"] = Value::Array(env);
    review
}

fn many_containers(count: usize) -> Value {
    let mut review = fixture("02-pod-nginx-and-app.json");
    let template = review["request"]["object"]["spec"]["containers"][1].clone();
    let containers: Vec<Value> = (0..count)
        .map(|i| {
            let mut container = template.clone();
            container["name"] = json!(format!("app-{i}"));
            container
        })
        .collect();
    review["request"]["object"]["spec"]["containers"] = Value::Array(containers);
    review
}

fn update_with_old_object() -> Value {
    let mut review = fixture("11-statefulset-update.json");
    review["request"]["oldObject"] = review["request"]["object"].clone();
    review
}

fn request_path(c: &mut Criterion) {
    let webhook = Webhook::new(
        Settings::default(),
        Mode::Cluster,
        Arc::new(ClusterState::standalone()),
    );
    let cases = [
        ("1-container pod", fixture("01-pod-single-container.json")),
        ("8 KB nginx+app pod", eight_kb()),
        ("40-container pod", many_containers(40)),
        ("100 KB pod", padded(100 * 1024)),
        ("1 MB pod", padded(1024 * 1024)),
        ("StatefulSet UPDATE (two objects)", update_with_old_object()),
    ];
    let mut group = c.benchmark_group("review");
    for (name, review) in cases {
        let body = serde_json::to_vec(&review).unwrap();
        // A mutated answer: the benchmark measures the full path, not a skip.
        let answer: Value = serde_json::from_slice(&webhook.review(&body).unwrap().body).unwrap();
        assert!(
            answer["response"]["patch"].is_string(),
            "{name} was not mutated"
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{name} ({} B)", body.len())),
            &body,
            |b, body| b.iter(|| webhook.review(std::hint::black_box(body)).unwrap()),
        );
    }
    group.finish();

    // The floor every webhook pays: parse the body into a JSON value.
    let mut floor = c.benchmark_group("parse only (serde_json::Value)");
    for (name, review) in [
        ("8 KB nginx+app pod", eight_kb()),
        ("1 MB pod", padded(1024 * 1024)),
    ] {
        let body = serde_json::to_vec(&review).unwrap();
        floor.throughput(Throughput::Bytes(body.len() as u64));
        floor.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<Value>(std::hint::black_box(body)).unwrap())
        });
    }
    floor.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);
