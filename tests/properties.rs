//! Property tests: whatever pod or workload comes in, the answer is one the API server
//! accepts. Each case builds a real AdmissionReview body, sends it through
//! `Webhook::review`, applies the returned patch to the submitted object and checks the
//! rules in `api_rules` (the API server's validation that concerns us, and DESIGN.md's
//! invariants). `cargo test --test properties -- --nocapture` prints how many cases ran
//! and how often each rule was checked.

mod api_rules;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use lameduck::cluster::ClusterState;
use lameduck::plan::annotations;
use lameduck::plan::duration::parse_seconds;
use lameduck::plan::{ActionSetting, HookAction, Settings};
use lameduck::webhook::{Mode, Webhook};
use lameduck::workload::WorkloadKind;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use api_rules::{Outcome, check_review};

fn webhook(action: ActionSetting) -> Webhook {
    Webhook::new(
        Settings {
            action,
            ..Settings::default()
        },
        Mode::Cluster,
        Arc::new(ClusterState::standalone()),
    )
}

const KINDS: &[WorkloadKind] = &WorkloadKind::ALL;

/// Names and images that hit every role pattern, and some that hit none.
const FLAVOURS: &[(&str, Option<&str>)] = &[
    ("nginx", Some("nginx:1.27")),
    ("web", Some("openresty/openresty:1.25")),
    ("envoy", Some("envoyproxy/envoy:v1.31")),
    ("istio-proxy", Some("docker.io/istio/proxyv2:1.24.0")),
    (
        "sql",
        Some("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14@sha256:abc"),
    ),
    ("fluent-bit", Some("fluent/fluent-bit:3")),
    ("otel-collector", None),
    ("app", Some("registry.example.com/shop/app:1.4.2")),
    ("worker", Some("busybox")),
    ("api", None),
    ("cache", Some("nginx.example.com/team/app:1")),
];

/// A container's `lifecycle`, as users write it.
#[derive(Debug, Clone)]
enum Hooks {
    Absent,
    Empty,
    Null,
    PreStopNull,
    Exec,
    HttpGet,
    Sleep(i64),
    PostStart,
    PostStartAndPreStop,
}

fn hooks() -> impl Strategy<Value = Hooks> {
    prop_oneof![
        4 => Just(Hooks::Absent),
        2 => Just(Hooks::Empty),
        1 => Just(Hooks::Null),
        1 => Just(Hooks::PreStopNull),
        1 => Just(Hooks::Exec),
        1 => Just(Hooks::HttpGet),
        1 => (0i64..100).prop_map(Hooks::Sleep),
        2 => Just(Hooks::PostStart),
        1 => Just(Hooks::PostStartAndPreStop),
    ]
}

fn lifecycle(hooks: &Hooks) -> Option<Value> {
    let post_start = json!({"exec": {"command": ["/bin/warm-up"]}});
    Some(match hooks {
        Hooks::Absent => return None,
        Hooks::Empty => json!({}),
        Hooks::Null => Value::Null,
        Hooks::PreStopNull => json!({"preStop": null}),
        Hooks::Exec => json!({"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 7"]}}}),
        Hooks::HttpGet => json!({"preStop": {"httpGet": {"path": "/drain", "port": 8080}}}),
        Hooks::Sleep(seconds) => json!({"preStop": {"sleep": {"seconds": seconds}}}),
        Hooks::PostStart => json!({"postStart": post_start}),
        Hooks::PostStartAndPreStop => {
            json!({"postStart": post_start, "preStop": {"exec": {"command": ["drain"]}}})
        }
    })
}

#[derive(Debug, Clone)]
struct ContainerSpec {
    flavour: usize,
    image_too: bool,
    hooks: Hooks,
}

fn container() -> impl Strategy<Value = ContainerSpec> {
    (0..FLAVOURS.len(), any::<bool>(), hooks()).prop_map(|(flavour, image_too, hooks)| {
        ContainerSpec {
            flavour,
            image_too,
            hooks,
        }
    })
}

/// Durations valid and invalid.
fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "20", "20s", "1m30s", "2500ms", "-5s", "soon", "0", "-0", "1", " 7 ", "+5s",
            "1h", "300", "301", "10m", "", "1.5s", "99999999999999999999",
            "99999999999999999999h", "18446744073709551615", "1ms", "5S",
        ])
        .prop_map(String::from),
        2 => (0u64..5000).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| format!("{n}s")),
        1 => "[-+0-9hms ]{0,12}",
    ]
}

fn choice(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(words).prop_map(String::from),
        1 => "[a-zA-Z ]{0,8}",
    ]
}

/// The `lameduck.dev/status` a pod arrives with.
#[derive(Debug, Clone)]
enum StatusSpec {
    None,
    Garbage(String),
    /// Structurally valid, made up: claims some grace and some hooks.
    Forged {
        grace_found: Option<i64>,
        claims_current_grace: bool,
        hook_seconds: u64,
        exec: bool,
    },
}

fn status() -> impl Strategy<Value = StatusSpec> {
    prop_oneof![
        6 => Just(StatusSpec::None),
        1 => prop::sample::select(vec![
            "", "{", "null", "[]", r#"{"surprise":1}"#,
            r#"{"preStop":{"app":{"action":"sleep","seconds":-1}}}"#, "lameduck was here",
        ])
        .prop_map(|s| StatusSpec::Garbage(s.to_string())),
        2 => (prop::option::of(0i64..200), any::<bool>(), 0u64..60, any::<bool>()).prop_map(
            |(grace_found, claims_current_grace, hook_seconds, exec)| StatusSpec::Forged {
                grace_found,
                claims_current_grace,
                hook_seconds,
                exec,
            }
        ),
    ]
}

#[derive(Debug, Clone)]
struct PodSpecInput {
    containers: Vec<ContainerSpec>,
    /// `true`: native sidecar (`restartPolicy: Always`); `false`: a regular init container.
    init: Vec<(usize, bool)>,
    grace: Option<i64>,
    restart_policy: Option<&'static str>,
    pod_annotations: Vec<(&'static str, String)>,
    container_annotations: Vec<(usize, &'static str, String)>,
    status: StatusSpec,
    other_annotation: bool,
    /// No `metadata` at all on the template (when there are no annotations).
    no_metadata: bool,
}

fn grace() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(0)),
        4 => (1i64..120).prop_map(Some),
        1 => (120i64..100_000).prop_map(Some),
        1 => prop::sample::select(vec![i64::MAX, i64::MAX - 1, 1 << 53, u32::MAX as i64])
            .prop_map(Some),
    ]
}

fn pod_spec() -> impl Strategy<Value = PodSpecInput> {
    let pod_annotation = prop_oneof![
        (Just(annotations::SLEEP), duration()),
        (Just(annotations::SHUTDOWN), duration()),
        (Just(annotations::STAGGER), duration()),
        (Just(annotations::INJECT), choice(&["true", "false"])),
        (
            Just(annotations::ACTION),
            choice(&["sleep", "exec", "auto"])
        ),
    ];
    let container_annotation = (
        0usize..6,
        prop::sample::select(vec!["sleep", "shutdown", "role"]),
        prop_oneof![duration(), choice(&["proxy", "app", "sidecar", "skip"])],
    );
    (
        prop::collection::vec(container(), 1..6),
        prop::collection::vec((0..FLAVOURS.len(), prop::bool::weighted(0.6)), 0..3),
        grace(),
        prop::sample::select(vec![None, Some("Always"), Some("Never"), Some("OnFailure")]),
        prop::collection::vec(pod_annotation, 0..4),
        prop::collection::vec(container_annotation, 0..3),
        status(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                containers,
                init,
                grace,
                restart_policy,
                pod_annotations,
                container_annotations,
                status,
                other_annotation,
                no_metadata,
            )| PodSpecInput {
                containers,
                init,
                grace,
                restart_policy,
                pod_annotations,
                container_annotations,
                status,
                other_annotation,
                no_metadata,
            },
        )
}

/// Container names unique within the pod (init containers included), derived from the
/// flavour so role detection by name still bites.
fn names(input: &PodSpecInput) -> (Vec<String>, Vec<String>) {
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    let mut name = |flavour: usize| {
        let base = FLAVOURS[flavour].0;
        let n = seen.entry(base).or_default();
        *n += 1;
        if *n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        }
    };
    let containers = input.containers.iter().map(|c| name(c.flavour)).collect();
    let init = input.init.iter().map(|&(f, _)| name(f)).collect();
    (containers, init)
}

/// The pod template (or Pod) as JSON: `(metadata, spec)`.
fn template(input: &PodSpecInput) -> (Option<Value>, Value) {
    let (names, init_names) = names(input);
    let containers: Vec<Value> = input
        .containers
        .iter()
        .zip(&names)
        .map(|(c, name)| {
            let (_, image) = FLAVOURS[c.flavour];
            let mut object = Map::new();
            object.insert("name".into(), json!(name));
            let image = match (image, c.image_too) {
                (Some(image), true) => image.to_string(),
                _ => "registry.example.com/plain:1".to_string(),
            };
            object.insert("image".into(), json!(image));
            object.insert("ports".into(), json!([{"containerPort": 8080}]));
            if let Some(lifecycle) = lifecycle(&c.hooks) {
                object.insert("lifecycle".into(), lifecycle);
            }
            Value::Object(object)
        })
        .collect();
    let init: Vec<Value> = input
        .init
        .iter()
        .zip(&init_names)
        .map(|(&(flavour, native), name)| {
            let mut c = json!({"name": name, "image": FLAVOURS[flavour].1.unwrap_or("busybox")});
            if native {
                c["restartPolicy"] = json!("Always");
            }
            c
        })
        .collect();

    let mut spec = json!({"containers": containers});
    if !init.is_empty() {
        spec["initContainers"] = json!(init);
    }
    if let Some(grace) = input.grace {
        spec["terminationGracePeriodSeconds"] = json!(grace);
    }
    if let Some(policy) = input.restart_policy {
        spec["restartPolicy"] = json!(policy);
    }

    let mut annotations = Map::new();
    for (key, value) in &input.pod_annotations {
        annotations.insert(key.to_string(), json!(value));
    }
    for (index, field, value) in &input.container_annotations {
        // Index past the end: a container the pod does not have (or a native sidecar).
        let all: Vec<&String> = names.iter().chain(&init_names).collect();
        let name = all.get(*index).map_or("ghost", |n| n.as_str());
        annotations.insert(format!("lameduck.dev/{name}.{field}"), json!(value));
    }
    if input.other_annotation {
        annotations.insert("example.com/owner".into(), json!("team-shop"));
    }
    match &input.status {
        StatusSpec::None => {}
        StatusSpec::Garbage(text) => {
            annotations.insert(annotations::STATUS.into(), json!(text));
        }
        StatusSpec::Forged {
            grace_found,
            claims_current_grace,
            hook_seconds,
            exec,
        } => {
            let mut status = Map::new();
            if let Some(found) = grace_found {
                status.insert("graceFound".into(), json!(found));
            }
            if *claims_current_grace && let Some(grace) = input.grace {
                status.insert("graceSet".into(), json!(grace));
            }
            let action = if *exec { "exec" } else { "sleep" };
            let mut hooks = Map::new();
            // Claim the first container, and whatever it has may or may not match.
            hooks.insert(
                names[0].clone(),
                json!({"action": action, "seconds": hook_seconds}),
            );
            status.insert("preStop".into(), Value::Object(hooks));
            annotations.insert(
                annotations::STATUS.into(),
                json!(Value::Object(status).to_string()),
            );
        }
    }
    let metadata = if annotations.is_empty() && input.no_metadata {
        None
    } else if annotations.is_empty() {
        Some(json!({"labels": {"app": "shop"}}))
    } else {
        Some(json!({"labels": {"app": "shop"}, "annotations": annotations}))
    };
    (metadata, spec)
}

fn object(kind: WorkloadKind, input: &PodSpecInput) -> Value {
    let (metadata, spec) = template(input);
    let mut template = Map::new();
    if let Some(metadata) = metadata {
        template.insert("metadata".into(), metadata);
    }
    template.insert("spec".into(), spec);
    let template = Value::Object(template);
    let (api_version, spec) = match kind {
        WorkloadKind::Pod => {
            let mut pod = template;
            let metadata = pod
                .as_object_mut()
                .unwrap()
                .entry("metadata")
                .or_insert_with(|| json!({}));
            metadata["generateName"] = json!("shop-");
            metadata["namespace"] = json!("shop");
            pod["apiVersion"] = json!("v1");
            pod["kind"] = json!("Pod");
            return pod;
        }
        WorkloadKind::Job => ("batch/v1", json!({"template": template})),
        WorkloadKind::CronJob => (
            "batch/v1",
            json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}),
        ),
        _ => (
            "apps/v1",
            json!({"selector": {"matchLabels": {"app": "shop"}}, "template": template}),
        ),
    };
    json!({
        "apiVersion": api_version,
        "kind": kind.as_str(),
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": spec,
    })
}

fn review_body(kind: WorkloadKind, operation: &str, uid: &str, object: &Value) -> Vec<u8> {
    let group = match kind {
        WorkloadKind::Pod => "",
        WorkloadKind::Job | WorkloadKind::CronJob => "batch",
        _ => "apps",
    };
    let mut request = json!({
        "uid": uid,
        "kind": {"group": group, "version": "v1", "kind": kind.as_str()},
        "resource": {"group": group, "version": "v1", "resource": "things"},
        "namespace": "shop",
        "operation": operation,
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": object,
        "dryRun": false,
    });
    if operation == "UPDATE" {
        request["oldObject"] = object.clone();
    }
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    }))
    .unwrap()
}

fn patch_of(webhook: &Webhook, body: &[u8]) -> Option<json_patch::Patch> {
    let reviewed = webhook.review(body).ok()?;
    let answer: Value = serde_json::from_slice(&reviewed.body).ok()?;
    let patch = answer["response"]["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn check(webhook: &Webhook, body: &[u8]) -> Result<Outcome, TestCaseError> {
    check_review(webhook, body).map_err(|v| {
        TestCaseError::fail(format!("{v}\nrequest: {}", String::from_utf8_lossy(body)))
    })
}

/// Runs `cases` cases of `strategy` through `test`, then prints how many ran.
fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let ran = AtomicU64::new(0);
    let result = runner.run(&strategy, |value| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    eprintln!(
        "property {name}: {cases} cases passed ({} generated)",
        ran.load(Ordering::Relaxed)
    );
}

fn workload() -> impl Strategy<Value = (WorkloadKind, &'static str, PodSpecInput, bool)> {
    (
        prop::sample::select(KINDS),
        prop::sample::select(vec!["CREATE", "UPDATE"]),
        pod_spec(),
        any::<bool>(),
    )
}

fn action(exec: bool) -> ActionSetting {
    if exec {
        ActionSetting::Fixed(HookAction::Exec)
    } else {
        ActionSetting::Auto
    }
}

/// Every pod and workload of every kind: the answer passes every API rule, and what
/// should be left alone is.
#[test]
fn every_output_passes_the_api_servers_rules() {
    let patched = AtomicU64::new(0);
    let strategy = (workload(), "[a-f0-9-]{1,36}");
    run(
        "every_output_passes_the_api_servers_rules",
        2048,
        strategy,
        |((kind, operation, input, exec), uid)| {
            let webhook = webhook(action(exec));
            let object = object(kind, &input);
            let body = review_body(kind, operation, &uid, &object);
            let outcome = check(&webhook, &body)?;
            prop_assert_ne!(&outcome, &Outcome::Rejected, "a valid object got a 400");
            if outcome == Outcome::Patched {
                patched.fetch_add(1, Ordering::Relaxed);
            }
            // A pod's containers cannot change after creation: pods are planned on CREATE.
            if kind == WorkloadKind::Pod && operation == "UPDATE" {
                prop_assert_eq!(&outcome, &Outcome::Unpatched);
            }
            // Batch pods and opted-out pods arriving without a record get nothing.
            let annotations: std::collections::BTreeMap<_, _> =
                input.pod_annotations.iter().cloned().collect();
            let inject = annotations.get(annotations::INJECT).map(|v| v.trim());
            let batch = input.restart_policy.is_some_and(|p| p != "Always");
            if matches!(input.status, StatusSpec::None)
                && (inject == Some("false") || (batch && inject != Some("true")))
            {
                prop_assert_eq!(&outcome, &Outcome::Unpatched);
            }
            Ok(())
        },
    );
    eprintln!(
        "  {} cases patched; rule checks by every property so far: {:?}",
        patched.load(Ordering::Relaxed),
        api_rules::counts()
    );
}

/// A mutated object that then changes (annotation edited, a container added by a later
/// webhook, grace edited, opted out, action switched) is re-planned from what the user
/// wrote, and the result passes every rule again.
#[test]
fn reinvocation_after_changes_passes_the_rules() {
    let strategy = (workload(), 0..5u8, duration(), container());
    run(
        "reinvocation_after_changes_passes_the_rules",
        1024,
        strategy,
        |((kind, _, mut input, exec), change, new_value, new_container)| {
            let webhook = webhook(action(exec));
            input.status = StatusSpec::None;
            let mut object = object(kind, &input);
            let body = review_body(kind, "CREATE", "first", &object);
            if let Some(patch) = patch_of(&webhook, &body) {
                json_patch::patch(&mut object, &patch.0).unwrap();
            }
            let pointer =
                json_patch::jsonptr::PointerBuf::from_tokens(kind.template_path().iter().copied());
            let template = pointer.resolve_mut(&mut object).unwrap();
            match change {
                0 => {
                    let metadata = template
                        .as_object_mut()
                        .unwrap()
                        .entry("metadata")
                        .or_insert_with(|| json!({}));
                    let annotations = metadata
                        .as_object_mut()
                        .unwrap()
                        .entry("annotations")
                        .or_insert_with(|| json!({}));
                    annotations[annotations::SLEEP] = json!(new_value);
                }
                1 => {
                    let name = format!("late-{}", FLAVOURS[new_container.flavour].0);
                    let mut c = json!({
                        "name": name,
                        "image": FLAVOURS[new_container.flavour].1.unwrap_or("x:1"),
                    });
                    if let Some(lifecycle) = lifecycle(&new_container.hooks) {
                        c["lifecycle"] = lifecycle;
                    }
                    template["spec"]["containers"]
                        .as_array_mut()
                        .unwrap()
                        .push(c);
                }
                2 => {
                    if let Ok(seconds) = parse_seconds(&new_value) {
                        template["spec"]["terminationGracePeriodSeconds"] =
                            json!(i64::try_from(seconds).unwrap_or(i64::MAX));
                    }
                }
                3 => {
                    if let Some(a) = template.pointer_mut("/metadata/annotations") {
                        a[annotations::INJECT] = json!("false");
                    }
                }
                _ => {
                    if let Some(a) = template.pointer_mut("/metadata/annotations") {
                        a[annotations::ACTION] = json!(if exec { "sleep" } else { "exec" });
                    }
                }
            }
            // Reinvocation of a Pod happens within its CREATE; templates change on UPDATE.
            let operation = if kind == WorkloadKind::Pod {
                "CREATE"
            } else {
                "UPDATE"
            };
            let body = review_body(kind, operation, "second", &object);
            let outcome = check(&webhook, &body)?;
            prop_assert_ne!(outcome, Outcome::Rejected);
            Ok(())
        },
    );
}

/// Any bytes: never a panic; either a 400 or an allowed, well-formed answer.
#[test]
fn random_bytes_never_panic() {
    let webhook = webhook(ActionSetting::Auto);
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        // Bytes that at least look like a review.
        "[{}\\[\\]\":,a-z0-9 ]{0,200}".prop_map(|s| {
            format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{s}"#
            )
            .into_bytes()
        }),
    ];
    run("random_bytes_never_panic", 2048, strategy, |bytes| {
        check(&webhook, &bytes)?;
        Ok(())
    });
}

/// Valid reviews cut short, with a byte changed, or nested deeply.
#[test]
fn truncated_corrupted_and_nested_reviews_never_panic() {
    let webhook = webhook(ActionSetting::Auto);
    let strategy = (
        workload(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        1usize..20_000,
        0..4u8,
    );
    run(
        "truncated_corrupted_and_nested_reviews_never_panic",
        512,
        strategy,
        |((kind, operation, input, _), at, byte, depth, mode)| {
            let body = review_body(kind, operation, "u", &object(kind, &input));
            let body = match mode {
                0 => body[..at.index(body.len())].to_vec(),
                1 => {
                    let mut body = body;
                    let at = at.index(body.len());
                    body[at] = byte;
                    body
                }
                2 => {
                    // Deep nesting inside the object, where typed parsing skips unknown fields.
                    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
                    let text = String::from_utf8(body).unwrap();
                    text.replacen("\"ports\":", &format!("\"deep\":{deep},\"ports\":"), 1)
                        .into_bytes()
                }
                _ => {
                    // Deep nesting in oldObject, which is never read.
                    let deep = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
                    let text = String::from_utf8(body).unwrap();
                    text.replacen("\"dryRun\":false", &format!("\"oldObject\":{deep}"), 1)
                        .into_bytes()
                }
            };
            check(&webhook, &body)?;
            Ok(())
        },
    );
}

/// Durations: never a panic; bare integers are seconds (saturating); a `-` value is
/// never positive.
#[test]
fn durations_parse_or_are_refused() {
    run(
        "durations_parse_or_are_refused",
        4096,
        prop_oneof![duration(), ".{0,24}"],
        |text| {
            if let Ok(seconds) = parse_seconds(&text) {
                let t = text.trim_ascii();
                if let Some(rest) = t.strip_prefix('-') {
                    prop_assert_eq!(seconds, 0, "{:?}", text);
                    prop_assert!(parse_seconds(rest).is_ok());
                } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    prop_assert_eq!(seconds, t.parse::<u64>().unwrap_or(u64::MAX));
                }
            }
            Ok(())
        },
    );
}
