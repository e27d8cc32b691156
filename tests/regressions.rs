//! Findings of the property tests and the fuzzer, each kept as the smallest input that
//! showed it.

mod api_rules;
mod support;

use std::sync::Arc;

use lameduck::cluster::ClusterState;
use lameduck::plan::{ActionSetting, HookAction, Settings};
use lameduck::scope::Mode;
use lameduck::webhook::Webhook;
use serde_json::{Value, json};
use support::{ReviewBody, patch_of};

fn webhook(settings: Settings) -> Webhook {
    Webhook::new(
        settings,
        Mode::Cluster,
        Arc::new(ClusterState::standalone()),
    )
}

fn pod_review(annotations: Value, containers: Value) -> Vec<u8> {
    ReviewBody::create(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop", "annotations": annotations},
        "spec": {"containers": containers},
    }))
    .to_vec()
}

fn patched_object(webhook: &Webhook, body: &[u8]) -> Value {
    let answer: Value = serde_json::from_slice(&webhook.review(body).unwrap().body).unwrap();
    let mut object: Value =
        serde_json::from_slice::<Value>(body).unwrap()["request"]["object"].clone();
    if let Some(patch) = patch_of(&answer) {
        json_patch::patch(&mut object, &patch.0).unwrap();
    }
    object
}

/// Found by `every_output_passes_the_api_servers_rules`: `lameduck.dev/sleep: "0"` (or a
/// per-container `.sleep: "0"`, or `--default-sleep 0`) wrote `preStop.sleep.seconds: 0`,
/// which API servers before 1.33 reject ("must be greater than 0";
/// `PodLifecycleSleepActionAllowZero` is alpha and off in 1.32 and absent before), so the
/// pod could not be created. A zero delay needs no hook: none is written.
#[test]
fn zero_second_delay_writes_no_prestop_hook() {
    let containers = json!([
        {"name": "nginx", "image": "nginx:1.27"},
        {"name": "app", "image": "app:1"},
        {"name": "fluent-bit", "image": "fluent/fluent-bit:3"},
    ]);
    let cases = [
        (Settings::default(), json!({"lameduck.dev/sleep": "0"})),
        (Settings::default(), json!({"lameduck.dev/sleep": "-0"})),
        (
            Settings::default(),
            json!({"lameduck.dev/app.sleep": "0s", "lameduck.dev/fluent-bit.sleep": "0"}),
        ),
        (
            Settings {
                default_sleep: 0,
                ..Settings::default()
            },
            json!({}),
        ),
        (
            Settings {
                default_sleep: 0,
                action: ActionSetting::Fixed(HookAction::Exec),
                ..Settings::default()
            },
            json!({}),
        ),
    ];
    for (settings, annotations) in cases {
        let webhook = webhook(settings);
        let body = pod_review(annotations.clone(), containers.clone());
        api_rules::check_review(&webhook, &body).unwrap_or_else(|v| panic!("{annotations}: {v}"));
        let object = patched_object(&webhook, &body);
        for container in object["spec"]["containers"].as_array().unwrap() {
            let hook = &container["lifecycle"]["preStop"];
            assert!(
                hook["sleep"]["seconds"] != 0 && hook["exec"]["command"][1] != "0",
                "{annotations}: {container}"
            );
        }
        // The timeline still holds: the app after the zero-delay proxy, grace above all.
        assert!(
            object["spec"]["terminationGracePeriodSeconds"]
                .as_i64()
                .unwrap()
                > 0
        );
    }
}
