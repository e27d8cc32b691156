//! Property tests for the invariants in DESIGN.md, over generated pods and templates of
//! every supported kind (the generator `properties.rs` uses too, `tests/generators`),
//! checked on `inject` itself, below the webhook.

use std::collections::BTreeSet;

mod api_rules;
mod generators;

use lameduck::inject::status::Status;
use lameduck::inject::{Injection, inject};
use lameduck::plan::{ContainerOutcome, Decision, Environment, Role, Settings};
use lameduck::workload::WorkloadKind;
use proptest::prelude::*;
use serde_json::{Value, json};

use generators::{KINDS, object, pod_spec, submitted_pod_spec, template_of};

/// A kind and a pod of the shared generator, as the object of that kind.
fn case() -> impl Strategy<Value = (WorkloadKind, Value)> {
    (prop::sample::select(KINDS), pod_spec()).prop_map(|(kind, input)| (kind, object(kind, &input)))
}

/// The same, for pods as users submit them (no status record): the invariants that speak
/// of the user's own hooks and of pods left alone hold for those. What a forged record
/// may claim is `properties.rs`'s business (rule `StatusParseable`).
fn submitted() -> impl Strategy<Value = (WorkloadKind, Value)> {
    (prop::sample::select(KINDS), submitted_pod_spec())
        .prop_map(|(kind, input)| (kind, object(kind, &input)))
}

fn run(kind: WorkloadKind, object: &Value) -> (Value, Injection) {
    let template = kind
        .read_template(object)
        .expect("generated objects parse")
        .expect("generated objects have a template");
    let settings = Settings {
        wait: support_wait_settings(),
        ..Settings::default()
    };
    let injection = inject(kind, &template, &Environment::default(), &settings);
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &injection.patch.0)
        .expect("the patch applies to the submitted object");
    (patched, injection)
}

/// `wait` with a waiter image, so pods annotated with it get one.
fn support_wait_settings() -> lameduck::plan::wait::WaitSettings {
    let mut wait = lameduck::plan::wait::WaitSettings::default();
    wait.container.image = Some("localhost/lameduck:test".into());
    wait
}

/// The worst-case seconds of an injected hook: a delay's own, or for `wait` the record's
/// (max plus the tier offset).
fn hook_seconds(
    hook: &Value,
    record: Option<&lameduck::inject::status::InjectedHook>,
) -> Option<i64> {
    hook["sleep"]["seconds"]
        .as_i64()
        .or_else(|| {
            hook["exec"]["command"][1]
                .as_str()
                .and_then(|n| n.parse().ok())
        })
        .or_else(|| {
            hook.get("httpGet")
                .and(record)
                .and_then(|r| i64::try_from(r.seconds).ok())
        })
}

/// Names of the containers whose hook the status record claims.
fn recorded(template: &Value) -> BTreeSet<String> {
    template["metadata"]["annotations"]["lameduck.dev/status"]
        .as_str()
        .and_then(Status::parse)
        .map(|status| status.pre_stop.into_keys().collect())
        .unwrap_or_default()
}

/// The containers of a template's `list` that are not the waiter its record names.
fn users(template: &Value, list: &str) -> Vec<Value> {
    let waiter = template["metadata"]["annotations"]["lameduck.dev/status"]
        .as_str()
        .and_then(Status::parse)
        .and_then(|s| s.waiter);
    template["spec"][list]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|c| waiter.is_none() || c["name"].as_str() != waiter.as_deref())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Invariant 1: mutating an already-mutated object yields no patch.
    #[test]
    fn idempotent((kind, object) in case()) {
        let (once, _) = run(kind, &object);
        let (twice, again) = run(kind, &once);
        prop_assert!(again.patch.0.is_empty(), "second pass: {:?}", again.patch);
        prop_assert_eq!(once, twice);
    }

    /// Invariant 2: the grace covers every injected sleep + budget, and every injected
    /// sleep is strictly below it.
    #[test]
    fn grace_covers_every_injected_sleep((kind, object) in submitted()) {
        let (patched, injection) = run(kind, &object);
        let after = template_of(kind, &patched);
        let grace = after["spec"]["terminationGracePeriodSeconds"].as_i64();
        if let Decision::Plan(plan) = &injection.planned.decision {
            for (sleep, budget) in plan.containers.iter().filter_map(|c| c.injected()) {
                let grace = i128::from(grace.expect("grace is set when something is injected"));
                prop_assert!(i128::from(sleep) < grace);
                prop_assert!(i128::from(sleep + budget) <= grace);
            }
        }
        let ours = recorded(after);
        let status = after["metadata"]["annotations"]["lameduck.dev/status"]
            .as_str()
            .and_then(Status::parse)
            .unwrap_or_default();
        for container in after["spec"]["containers"].as_array().unwrap() {
            let name = container["name"].as_str().unwrap();
            if !ours.contains(name) {
                continue;
            }
            let hook = &container["lifecycle"]["preStop"];
            let seconds = hook_seconds(hook, status.pre_stop.get(name))
                .expect("an injected hook carries its seconds");
            prop_assert!(seconds >= 0 && seconds < grace.unwrap());
        }
    }

    /// Invariant 4: never lowers a submitted grace, never touches a user's hook, keeps
    /// postStart, leaves native sidecars alone.
    #[test]
    fn respects_what_the_user_wrote((kind, object) in submitted()) {
        let (patched, _) = run(kind, &object);
        let before = template_of(kind, &object);
        let after = template_of(kind, &patched);
        if let Some(submitted) = before["spec"]["terminationGracePeriodSeconds"].as_i64() {
            let now = after["spec"]["terminationGracePeriodSeconds"].as_i64().unwrap();
            prop_assert!(now >= submitted);
        }
        let ours = recorded(after);
        // The user's containers keep their number and order; only a waiter lameduck
        // injected (the record names it) may be added, in either list.
        let (was, now) = (users(before, "containers"), users(after, "containers"));
        prop_assert_eq!(was.len(), now.len());
        for (b, a) in was.iter().zip(&now) {
            prop_assert_eq!(&b["name"], &a["name"]);
            prop_assert_eq!(&b["lifecycle"]["postStart"], &a["lifecycle"]["postStart"]);
            if !b["lifecycle"]["preStop"].is_null() {
                prop_assert_eq!(&b["lifecycle"]["preStop"], &a["lifecycle"]["preStop"]);
                prop_assert!(!ours.contains(b["name"].as_str().unwrap()));
            }
        }
        prop_assert_eq!(users(before, "initContainers"), users(after, "initContainers"));
    }

    /// Invariant 4, choreographed shutdowns (issue 21): a container another container's
    /// own `preStop` waits on gets no injected hook and no delay, and its own hook (if
    /// any) is kept; the planner finds exactly the coordinators the oracle finds.
    #[test]
    fn coordinators_get_no_hook_and_no_delay((kind, object) in submitted()) {
        let (patched, injection) = run(kind, &object);
        let before = template_of(kind, &object);
        let after = template_of(kind, &patched);
        let (was, now) = (
            before["spec"]["containers"].as_array().unwrap(),
            after["spec"]["containers"].as_array().unwrap(),
        );
        // Submitted pods carry no record: every hook is the user's.
        let targets = api_rules::coordinators(was, |i| !was[i]["lifecycle"]["preStop"].is_null());
        let ours = recorded(after);
        for &target in &targets {
            let name = was[target]["name"].as_str().unwrap();
            prop_assert!(!ours.contains(name), "{} coordinates, yet has a hook of ours", name);
            prop_assert_eq!(&was[target]["lifecycle"]["preStop"], &now[target]["lifecycle"]["preStop"]);
        }
        if let Decision::Plan(plan) = &injection.planned.decision {
            for (index, container) in plan.containers.iter().enumerate() {
                let coordinates = container.outcome == ContainerOutcome::Coordinates;
                prop_assert_eq!(coordinates, targets.contains(&index) && container.role != Role::Skip,
                    "container {} of {}", index, before["spec"]["containers"]);
                if targets.contains(&index) {
                    prop_assert!(container.injected().is_none());
                }
            }
        }
    }

    /// A Windows pod never gets an exec hook: there is no `sleep` binary to run.
    #[test]
    fn windows_pods_never_get_exec((kind, mut object) in submitted()) {
        let pointer = json_patch::jsonptr::PointerBuf::from_tokens(kind.template_path().iter().copied());
        let template = pointer.resolve_mut(&mut object).expect("the generated object has a template");
        if template["spec"]["nodeSelector"].is_null() {
            template["spec"]["os"] = json!({"name": "windows"});
        }
        let (patched, _) = run(kind, &object);
        let after = template_of(kind, &patched);
        let ours = recorded(after);
        for container in after["spec"]["containers"].as_array().unwrap() {
            if ours.contains(container["name"].as_str().unwrap()) {
                prop_assert!(container["lifecycle"]["preStop"]["exec"].is_null());
            }
        }
    }

    /// Invariant 6: batch pods are left alone unless opted in.
    #[test]
    fn only_long_running_pods((kind, object) in submitted()) {
        let template = template_of(kind, &object);
        // No policy is `Always`, the API server's default.
        let restart = template["spec"]["restartPolicy"].as_str().unwrap_or("Always").to_string();
        let opted_in = template["metadata"]["annotations"]["lameduck.dev/inject"]
            .as_str()
            .is_some_and(|value| value.trim_ascii() == "true");
        let (_, injection) = run(kind, &object);
        if restart != "Always" && !opted_in {
            prop_assert!(injection.patch.0.is_empty());
        }
    }
}

proptest! {
    // These two speak only of some pods (proxies and apps both injected; no app at all),
    // which the shared generator, spread over more shapes, makes less often than each
    // suite's own generator did: twice the cases hit them as often as before.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Invariant 3: proxies stop before apps, apps before sidecars (when no per-container
    /// sleep is given; those are used as given, with a warning).
    #[test]
    fn tier_order((kind, object) in case()) {
        let overridden = template_of(kind, &object)["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.ends_with(".sleep")));
        prop_assume!(!overridden);
        let (_, injection) = run(kind, &object);
        if let Decision::Plan(plan) = &injection.planned.decision {
            let sleeps = |role: Role| -> Vec<u64> {
                plan.containers
                    .iter()
                    .filter(|c| c.role == role)
                    .filter_map(|c| c.injected().map(|(sleep, _)| sleep))
                    .collect()
            };
            let (proxies, apps, sidecars) = (sleeps(Role::Proxy), sleeps(Role::App), sleeps(Role::Sidecar));
            for p in &proxies {
                prop_assert!(apps.iter().chain(&sidecars).all(|later| p < later));
            }
            for a in &apps {
                prop_assert!(sidecars.iter().all(|s| a < s));
            }
        }
    }

    /// A pod with no app times its front-most tier as its app: that tier gets the whole
    /// `shutdown` budget (DESIGN.md, "A pod with no `app` container").
    #[test]
    fn a_pod_without_an_app_gives_its_front_tier_the_shutdown_budget((kind, object) in case()) {
        let shutdown_overridden = template_of(kind, &object)["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.ends_with(".shutdown") && k != "lameduck.dev/shutdown"));
        let (_, injection) = run(kind, &object);
        if let Decision::Plan(plan) = &injection.planned.decision {
            let present = |role: Role| plan.containers.iter().any(|c| c.role == role);
            // Only pods without an app, and whose budgets are not overridden per
            // container, say anything here (rejecting the rest would exhaust proptest).
            if shutdown_overridden || present(Role::App) {
                return Ok(());
            }
            let front = if present(Role::Proxy) { Role::Proxy } else { Role::Sidecar };
            for c in plan.containers.iter().filter(|c| c.role == front) {
                if let Some((_, budget)) = c.injected() {
                    prop_assert_eq!(budget, plan.budgets.shutdown);
                }
            }
        }
    }
}
