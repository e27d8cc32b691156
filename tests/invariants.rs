//! Property tests for the invariants in DESIGN.md, over generated pods and templates of
//! every supported kind.

use std::collections::{BTreeMap, BTreeSet};

use lameduck::inject::{Injection, inject};
use lameduck::plan::status::Status;
use lameduck::plan::{Decision, Environment, Role, Settings};
use lameduck::workload::WorkloadKind;
use proptest::prelude::*;
use serde_json::{Value, json};

const CONTAINERS: &[(&str, &str)] = &[
    ("nginx", "nginx:1.27"),
    ("app", "registry.example.com/shop/app:1.4.2"),
    ("worker", "shop/worker:2"),
    ("envoy", "envoyproxy/envoy:v1.31"),
    (
        "cloud-sql-proxy",
        "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14",
    ),
    ("fluent-bit", "fluent/fluent-bit:3.1"),
    ("web", "openresty/openresty:1.25"),
    ("api", "shop/api:3"),
    ("metrics", "nginx/nginx-prometheus-exporter:1.1.0"),
    (
        "otc-container",
        "otel/opentelemetry-collector-contrib:0.102.0",
    ),
];

const DURATIONS: &[&str] = &[
    "0",
    "3",
    "20s",
    "1m30s",
    "2500ms",
    "-5s",
    "soon",
    "99999999999999999999",
    "1h",
];

fn user_hook() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(json!({"exec": {"command": ["/bin/drain"]}}))),
        1 => Just(Some(json!({"httpGet": {"path": "/drain", "port": 8080}}))),
        1 => Just(Some(json!({"sleep": {"seconds": 3}}))),
    ]
}

prop_compose! {
    fn container()(
        index in 0..CONTAINERS.len(),
        hook in user_hook(),
        post_start in any::<bool>(),
        empty_lifecycle in any::<bool>(),
    ) -> (usize, Value) {
        let (name, image) = CONTAINERS[index];
        let mut container = json!({"name": name, "image": image});
        let mut lifecycle = serde_json::Map::new();
        if let Some(hook) = hook {
            lifecycle.insert("preStop".into(), hook);
        }
        if post_start {
            lifecycle.insert("postStart".into(), json!({"exec": {"command": ["warm"]}}));
        }
        if !lifecycle.is_empty() || empty_lifecycle {
            container["lifecycle"] = Value::Object(lifecycle);
        }
        (index, container)
    }
}

prop_compose! {
    fn annotations()(
        sleep in proptest::option::of(0..DURATIONS.len()),
        stagger in proptest::option::of(0..DURATIONS.len()),
        shutdown in proptest::option::of(0..DURATIONS.len()),
        per_container in proptest::collection::vec(
            (0..CONTAINERS.len(), 0..3usize, 0..DURATIONS.len()),
            0..3,
        ),
        action in proptest::option::of(
            prop_oneof![Just("sleep"), Just("exec"), Just("auto"), Just("bogus")],
        ),
    ) -> BTreeMap<String, String> {
        let mut annotations = BTreeMap::new();
        for (key, value) in [("sleep", sleep), ("stagger", stagger), ("shutdown", shutdown)] {
            if let Some(i) = value {
                annotations.insert(format!("lameduck.dev/{key}"), DURATIONS[i].to_string());
            }
        }
        for (name, field, value) in per_container {
            let field = ["sleep", "shutdown", "role"][field];
            let value = if field == "role" {
                ["proxy", "app", "sidecar", "skip"][value % 4].to_string()
            } else {
                DURATIONS[value].to_string()
            };
            annotations.insert(format!("lameduck.dev/{}.{field}", CONTAINERS[name].0), value);
        }
        if let Some(action) = action {
            annotations.insert("lameduck.dev/action".into(), action.into());
        }
        annotations
    }
}

prop_compose! {
    fn pod_template()(
        containers in proptest::collection::vec(container(), 1..6),
        native_sidecar in any::<bool>(),
        annotations in proptest::option::of(annotations()),
        grace in proptest::option::of(
            prop_oneof![Just(0i64), 1..200i64, Just(3600i64), Just(i64::MAX)],
        ),
        restart in prop_oneof![4 => Just("Always"), 1 => Just("Never"), 1 => Just("OnFailure")],
        opt_in in any::<bool>(),
        windows in prop_oneof![4 => Just(None), 1 => Just(Some("os")), 1 => Just(Some("selector"))],
    ) -> Value {
        // Container names are unique in a valid pod.
        let mut seen = BTreeSet::new();
        let containers: Vec<Value> = containers
            .into_iter()
            .filter(|(index, _)| seen.insert(*index))
            .map(|(_, container)| container)
            .collect();
        let mut spec = json!({"containers": containers, "restartPolicy": restart});
        if native_sidecar {
            spec["initContainers"] = json!([
                {"name": "istio-proxy", "image": "istio/proxyv2:1.24", "restartPolicy": "Always"},
            ]);
        }
        if let Some(grace) = grace {
            spec["terminationGracePeriodSeconds"] = json!(grace);
        }
        match windows {
            Some("os") => spec["os"] = json!({"name": "windows"}),
            Some(_) => spec["nodeSelector"] = json!({"kubernetes.io/os": "windows"}),
            None => {}
        }
        let mut template = json!({"spec": spec});
        let mut annotations = annotations.unwrap_or_default();
        if opt_in {
            annotations.insert("lameduck.dev/inject".into(), "true".into());
        }
        if !annotations.is_empty() {
            template["metadata"] = json!({"annotations": annotations});
        }
        template
    }
}

fn kinds() -> impl Strategy<Value = WorkloadKind> {
    prop_oneof![
        Just(WorkloadKind::Pod),
        Just(WorkloadKind::Deployment),
        Just(WorkloadKind::StatefulSet),
        Just(WorkloadKind::DaemonSet),
        Just(WorkloadKind::ReplicaSet),
        Just(WorkloadKind::Job),
        Just(WorkloadKind::CronJob),
    ]
}

fn wrap(kind: WorkloadKind, template: Value) -> Value {
    match kind {
        WorkloadKind::Pod => template,
        WorkloadKind::CronJob => json!({"spec": {"jobTemplate": {"spec": {"template": template}}}}),
        _ => json!({"spec": {"template": template}}),
    }
}

fn template_of(kind: WorkloadKind, object: &Value) -> &Value {
    kind.template_path()
        .iter()
        .fold(object, |at, token| &at[*token])
}

fn run(kind: WorkloadKind, object: &Value) -> (Value, Injection) {
    let template = kind
        .read_template(object)
        .expect("generated objects parse")
        .expect("generated objects have a template");
    let injection = inject(
        kind,
        &template,
        &Environment::default(),
        &Settings::default(),
    );
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &injection.patch.0)
        .expect("the patch applies to the submitted object");
    (patched, injection)
}

/// Names of the containers whose hook the status record claims.
fn recorded(template: &Value) -> BTreeSet<String> {
    template["metadata"]["annotations"]["lameduck.dev/status"]
        .as_str()
        .and_then(Status::parse)
        .map(|status| status.pre_stop.into_keys().collect())
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Invariant 1: mutating an already-mutated object yields no patch.
    #[test]
    fn idempotent(kind in kinds(), template in pod_template()) {
        let object = wrap(kind, template);
        let (once, _) = run(kind, &object);
        let (twice, again) = run(kind, &once);
        prop_assert!(again.patch.0.is_empty(), "second pass: {:?}", again.patch);
        prop_assert_eq!(once, twice);
    }

    /// Invariant 2: the grace covers every injected sleep + budget, and every injected
    /// sleep is strictly below it.
    #[test]
    fn grace_covers_every_injected_sleep(kind in kinds(), template in pod_template()) {
        let object = wrap(kind, template);
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
        for container in after["spec"]["containers"].as_array().unwrap() {
            if !ours.contains(container["name"].as_str().unwrap()) {
                continue;
            }
            let hook = &container["lifecycle"]["preStop"];
            let seconds = hook["sleep"]["seconds"]
                .as_i64()
                .or_else(|| hook["exec"]["command"][1].as_str().and_then(|n| n.parse().ok()))
                .expect("an injected hook carries its seconds");
            prop_assert!(seconds >= 0 && seconds < grace.unwrap());
        }
    }

    /// Invariant 3: proxies stop before apps, apps before sidecars (when no per-container
    /// sleep is given; those are used as given, with a warning).
    #[test]
    fn tier_order(kind in kinds(), template in pod_template()) {
        let overridden = template["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.ends_with(".sleep")));
        prop_assume!(!overridden);
        let object = wrap(kind, template);
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
    fn a_pod_without_an_app_gives_its_front_tier_the_shutdown_budget(
        kind in kinds(),
        template in pod_template(),
    ) {
        let shutdown_overridden = template["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.ends_with(".shutdown") && k != "lameduck.dev/shutdown"));
        let object = wrap(kind, template);
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

    /// Invariant 4: never lowers a submitted grace, never touches a user's hook, keeps
    /// postStart, leaves native sidecars alone.
    #[test]
    fn respects_what_the_user_wrote(kind in kinds(), template in pod_template()) {
        let object = wrap(kind, template);
        let (patched, _) = run(kind, &object);
        let before = template_of(kind, &object);
        let after = template_of(kind, &patched);
        if let Some(submitted) = before["spec"]["terminationGracePeriodSeconds"].as_i64() {
            let now = after["spec"]["terminationGracePeriodSeconds"].as_i64().unwrap();
            prop_assert!(now >= submitted);
        }
        let ours = recorded(after);
        let (was, now) = (
            before["spec"]["containers"].as_array().unwrap(),
            after["spec"]["containers"].as_array().unwrap(),
        );
        prop_assert_eq!(was.len(), now.len());
        for (b, a) in was.iter().zip(now) {
            prop_assert_eq!(&b["name"], &a["name"]);
            prop_assert_eq!(&b["lifecycle"]["postStart"], &a["lifecycle"]["postStart"]);
            if !b["lifecycle"]["preStop"].is_null() {
                prop_assert_eq!(&b["lifecycle"]["preStop"], &a["lifecycle"]["preStop"]);
                prop_assert!(!ours.contains(b["name"].as_str().unwrap()));
            }
        }
        prop_assert_eq!(&before["spec"]["initContainers"], &after["spec"]["initContainers"]);
    }

    /// A Windows pod never gets an exec hook: there is no `sleep` binary to run.
    #[test]
    fn windows_pods_never_get_exec(kind in kinds(), mut template in pod_template()) {
        if template["spec"]["nodeSelector"].is_null() {
            template["spec"]["os"] = json!({"name": "windows"});
        }
        let object = wrap(kind, template);
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
    fn only_long_running_pods(kind in kinds(), template in pod_template()) {
        let restart = template["spec"]["restartPolicy"].as_str().unwrap().to_string();
        let opted_in = template["metadata"]["annotations"]["lameduck.dev/inject"] == "true";
        let object = wrap(kind, template);
        let (_, injection) = run(kind, &object);
        if restart != "Always" && !opted_in {
            prop_assert!(injection.patch.0.is_empty());
        }
    }
}
