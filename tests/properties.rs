//! Property tests: whatever pod or workload comes in, the answer is one the API server
//! accepts. Each case builds a real AdmissionReview body, sends it through
//! `Webhook::review`, applies the returned patch to the submitted object and checks the
//! rules in `api_rules` (the API server's validation that concerns us, and DESIGN.md's
//! invariants). `cargo test --test properties -- --nocapture` prints how many cases ran
//! and how often each rule was checked.

mod api_rules;
mod generators;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lameduck::cluster::ClusterState;
use lameduck::plan::annotations;
use lameduck::plan::duration::parse_seconds;
use lameduck::plan::{ActionSetting, HookAction, Settings};
use lameduck::scope::Mode;
use lameduck::webhook::Webhook;
use lameduck::workload::WorkloadKind;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Value, json};

use api_rules::{Outcome, check_review};
use generators::{FLAVOURS, StatusSpec, container, duration, lifecycle, object, workload};
use support::ReviewBody;

fn webhook(action: ActionSetting) -> Webhook {
    Webhook::new(
        Settings {
            action,
            // So that `wait` (by annotation) injects its waiter instead of falling back.
            wait: support::wait_settings(),
            ..Settings::default()
        },
        Mode::Cluster,
        Arc::new(ClusterState::standalone()),
    )
}

/// The review the API server sends for `object`, with `object` as its old self on UPDATE.
fn review_body(operation: &str, uid: &str, object: &Value) -> Vec<u8> {
    let review = if operation == "UPDATE" {
        ReviewBody::update(object.clone(), object.clone())
    } else {
        ReviewBody::create(object.clone()).operation(operation)
    };
    review.uid(uid).to_vec()
}

fn patch_of(webhook: &Webhook, body: &[u8]) -> Option<json_patch::Patch> {
    let reviewed = webhook.review(body).ok()?;
    let answer: Value = serde_json::from_slice(&reviewed.body).ok()?;
    support::patch_of(&answer)
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
            let body = review_body(operation, &uid, &object);
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
            let inject = input
                .pod_annotation(annotations::INJECT)
                .map(str::trim_ascii);
            if input.status == StatusSpec::None
                && (inject == Some("false") || (input.batch() && inject != Some("true")))
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
            let body = review_body("CREATE", "first", &object);
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
            let body = review_body(operation, "second", &object);
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
            let object = object(kind, &input);
            let body = review_body(operation, "u", &object);
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
                    let body = ReviewBody::create(object)
                        .operation(operation)
                        .old_object(json!("old object"))
                        .uid("u")
                        .to_vec();
                    let text = String::from_utf8(body).unwrap();
                    text.replacen("\"old object\"", &deep, 1).into_bytes()
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
