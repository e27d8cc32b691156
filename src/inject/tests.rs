use crate::plan::WarningReason;
use serde_json::{Value, json};

use super::*;
use crate::inject::status::Status;

fn settings() -> Settings {
    Settings::default()
}

/// Plans `object` as `kind`, applies the patch, and returns the result and the injection.
fn mutate(kind: WorkloadKind, object: &Value) -> (Value, Injection) {
    let template = kind
        .read_template(object)
        .expect("object parses")
        .expect("object has a template");
    let injection = inject(kind, &template, &Environment::default(), &settings());
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &injection.patch.0).expect("patch applies");
    (patched, injection)
}

fn pod(containers: Value, annotations: Option<Value>, grace: Option<i64>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": containers, "restartPolicy": "Always"},
    });
    if let Some(annotations) = annotations {
        pod["metadata"]["annotations"] = annotations;
    }
    if let Some(grace) = grace {
        pod["spec"]["terminationGracePeriodSeconds"] = json!(grace);
    }
    pod
}

fn nginx_and_app() -> Value {
    json!([
        {"name": "nginx", "image": "nginx:1.27"},
        {"name": "app", "image": "shop/app:1"},
    ])
}

#[test]
fn injects_hooks_grace_and_status() {
    let (patched, injection) = mutate(WorkloadKind::Pod, &pod(nginx_and_app(), None, Some(30)));
    assert_eq!(
        patched["spec"]["containers"][0]["lifecycle"]["preStop"],
        json!({"sleep": {"seconds": 10}})
    );
    assert_eq!(
        patched["spec"]["containers"][1]["lifecycle"]["preStop"],
        json!({"sleep": {"seconds": 15}})
    );
    assert_eq!(patched["spec"]["terminationGracePeriodSeconds"], 45);
    let status = Status::parse(
        patched["metadata"]["annotations"]["lameduck.dev/status"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(status.grace_found, Some(30));
    assert_eq!(status.grace_set, Some(45));
    assert_eq!(status.pre_stop.len(), 2);
    assert_eq!(
        injection.injected_roles,
        [plan::Role::Proxy, plan::Role::App]
    );
}

#[test]
fn a_second_pass_is_a_fixpoint() {
    for object in [
        pod(nginx_and_app(), None, Some(30)),
        pod(
            nginx_and_app(),
            Some(json!({"lameduck.dev/sleep": "20"})),
            None,
        ),
        pod(
            json!([{"name": "app", "image": "a", "lifecycle": {"postStart": {"exec": {"command": ["true"]}}}}]),
            Some(json!({})),
            Some(0),
        ),
    ] {
        let (once, _) = mutate(WorkloadKind::Pod, &object);
        let (twice, injection) = mutate(WorkloadKind::Pod, &once);
        assert!(
            injection.patch.0.is_empty(),
            "second pass patched: {:?}",
            injection.patch
        );
        assert_eq!(once, twice);
    }
}

#[test]
fn a_changed_annotation_replans_from_the_submitted_grace() {
    let (once, _) = mutate(WorkloadKind::Pod, &pod(nginx_and_app(), None, Some(30)));
    let mut changed = once.clone();
    changed["metadata"]["annotations"]["lameduck.dev/sleep"] = json!("20");
    let (twice, _) = mutate(WorkloadKind::Pod, &changed);
    assert_eq!(
        twice["spec"]["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"],
        20
    );
    assert_eq!(
        twice["spec"]["containers"][1]["lifecycle"]["preStop"]["sleep"]["seconds"],
        25
    );
    // Shutdown budget is still the user's 30 s, not the 45 s lameduck set.
    assert_eq!(twice["spec"]["terminationGracePeriodSeconds"], 55);
}

#[test]
fn a_container_added_by_a_later_webhook_is_planned_on_reinvocation() {
    let (once, _) = mutate(
        WorkloadKind::Pod,
        &pod(json!([{"name": "app", "image": "a"}]), None, Some(30)),
    );
    let mut reinvoked = once.clone();
    reinvoked["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "cloud-sql-proxy", "image": "gcr.io/x/cloud-sql-proxy:2"}));
    let (twice, _) = mutate(WorkloadKind::Pod, &reinvoked);
    assert_eq!(
        twice["spec"]["containers"][1]["lifecycle"]["preStop"]["sleep"]["seconds"],
        40
    );
    assert_eq!(twice["spec"]["terminationGracePeriodSeconds"], 45);
}

#[test]
fn a_hook_changed_by_the_user_is_theirs() {
    let (once, _) = mutate(
        WorkloadKind::Pod,
        &pod(json!([{"name": "app", "image": "a"}]), None, Some(30)),
    );
    let mut edited = once.clone();
    let users = json!({"exec": {"command": ["/drain"]}});
    edited["spec"]["containers"][0]["lifecycle"]["preStop"] = users.clone();
    let (twice, injection) = mutate(WorkloadKind::Pod, &edited);
    assert_eq!(
        twice["spec"]["containers"][0]["lifecycle"]["preStop"],
        users
    );
    assert!(
        injection
            .planned
            .warnings
            .iter()
            .any(|w| w.reason == WarningReason::OwnPreStop)
    );
    // Nothing of ours is left: the grace goes back to what the user submitted.
    assert_eq!(twice["spec"]["terminationGracePeriodSeconds"], 30);
    assert!(
        twice["metadata"]["annotations"]
            .get("lameduck.dev/status")
            .is_none()
    );
}

#[test]
fn opting_out_later_takes_out_exactly_what_was_injected() {
    let original = pod(nginx_and_app(), Some(json!({"team": "shop"})), Some(30));
    let (once, _) = mutate(WorkloadKind::Pod, &original);
    let mut opted_out = once.clone();
    opted_out["metadata"]["annotations"]["lameduck.dev/inject"] = json!("false");
    let (restored, _) = mutate(WorkloadKind::Pod, &opted_out);
    let mut expected = original.clone();
    expected["metadata"]["annotations"]["lameduck.dev/inject"] = json!("false");
    // Our `lifecycle` maps stay behind empty; everything else is as submitted.
    for container in restored["spec"]["containers"].as_array().unwrap() {
        assert_eq!(container["lifecycle"], json!({}));
    }
    assert_eq!(restored["spec"]["terminationGracePeriodSeconds"], 30);
    assert_eq!(
        restored["metadata"]["annotations"],
        expected["metadata"]["annotations"]
    );
}

#[test]
fn user_hooks_and_post_start_are_kept() {
    let containers = json!([
        {"name": "app", "image": "a", "lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": 8080}}}},
        {"name": "web", "image": "nginx", "lifecycle": {"postStart": {"exec": {"command": ["warm"]}}}},
    ]);
    let object = pod(containers.clone(), None, Some(30));
    let (patched, _) = mutate(WorkloadKind::Pod, &object);
    assert_eq!(patched["spec"]["containers"][0], containers[0]);
    assert_eq!(
        patched["spec"]["containers"][1]["lifecycle"]["postStart"],
        containers[1]["lifecycle"]["postStart"]
    );
    assert_eq!(
        patched["spec"]["containers"][1]["lifecycle"]["preStop"],
        json!({"sleep": {"seconds": 10}})
    );
}

#[test]
fn exec_action_writes_a_sleep_command() {
    let object = pod(
        json!([{"name": "app", "image": "a"}]),
        Some(json!({"lameduck.dev/action": "exec"})),
        Some(30),
    );
    let (patched, _) = mutate(WorkloadKind::Pod, &object);
    assert_eq!(
        patched["spec"]["containers"][0]["lifecycle"]["preStop"],
        json!({"exec": {"command": ["sleep", "10"]}})
    );
    // Switching the action back replaces our hook.
    let mut switched = patched.clone();
    switched["metadata"]["annotations"]["lameduck.dev/action"] = json!("sleep");
    let (again, _) = mutate(WorkloadKind::Pod, &switched);
    assert_eq!(
        again["spec"]["containers"][0]["lifecycle"]["preStop"],
        json!({"sleep": {"seconds": 10}})
    );
}

#[test]
fn templates_without_metadata_or_grace_get_them_whole() {
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a"}]}}},
    });
    let (patched, _) = mutate(WorkloadKind::Deployment, &deployment);
    let template = &patched["spec"]["template"];
    assert_eq!(template["spec"]["terminationGracePeriodSeconds"], 40);
    assert!(template["metadata"]["annotations"]["lameduck.dev/status"].is_string());
    let (_, again) = mutate(WorkloadKind::Deployment, &patched);
    assert!(again.patch.0.is_empty());
}

#[test]
fn cron_job_templates_are_reached() {
    let cron = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": {
            "metadata": {"annotations": {"lameduck.dev/inject": "true"}},
            "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "job", "image": "j"}]},
        }}}},
    });
    let (patched, _) = mutate(WorkloadKind::CronJob, &cron);
    let spec = &patched["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"],
        10
    );
    assert_eq!(spec["terminationGracePeriodSeconds"], 40);
}

#[test]
fn annotation_keys_are_escaped_in_pointers() {
    let object = pod(
        json!([{"name": "app", "image": "a"}]),
        Some(json!({"x": "y"})),
        Some(30),
    );
    let (_, injection) = mutate(WorkloadKind::Pod, &object);
    let text = serde_json::to_string(&injection.patch).unwrap();
    assert!(
        text.contains("/metadata/annotations/lameduck.dev~1status"),
        "{text}"
    );
}

#[test]
fn a_garbage_status_is_replaced_with_a_warning() {
    let object = pod(
        json!([{"name": "app", "image": "a"}]),
        Some(json!({"lameduck.dev/status": "{not json"})),
        Some(30),
    );
    let (patched, injection) = mutate(WorkloadKind::Pod, &object);
    assert!(
        injection
            .planned
            .warnings
            .iter()
            .any(|w| w.reason == WarningReason::InvalidStatus)
    );
    assert!(
        Status::parse(
            patched["metadata"]["annotations"]["lameduck.dev/status"]
                .as_str()
                .unwrap()
        )
        .is_some()
    );
}

#[test]
fn skipped_pods_get_no_patch() {
    let batch =
        json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": "j"}]}});
    let (_, injection) = mutate(WorkloadKind::Pod, &batch);
    assert!(injection.patch.0.is_empty());
    assert!(injection.summary.is_none());
}

#[test]
fn a_container_without_a_name_gets_no_hook_and_no_record_key() {
    let object = pod(
        json!([{"image": "shop/app:1"}, {"name": "app", "image": "shop/app:1"}]),
        None,
        None,
    );
    let (patched, _) = mutate(WorkloadKind::Pod, &object);
    assert!(
        patched.pointer("/spec/containers/0/lifecycle").is_none(),
        "{patched:#}"
    );
    assert!(
        patched
            .pointer("/spec/containers/1/lifecycle/preStop")
            .is_some()
    );
    let record = patched["metadata"]["annotations"][annotations::STATUS]
        .as_str()
        .and_then(Status::parse)
        .unwrap_or_else(|| panic!("no record: {patched:#}"));
    assert!(!record.pre_stop.contains_key(""), "{record:?}");
}

/// The `wait` action, with a waiter image.
mod wait {
    use super::*;
    use crate::plan::wait::WAITER_NAME;

    fn waiting() -> Settings {
        let mut settings = Settings::default();
        settings.wait.container.image = Some("localhost/lameduck:e2e".into());
        settings
    }

    fn mutate_with(object: &Value, settings: &Settings, env: &Environment) -> (Value, Injection) {
        let template = WorkloadKind::Pod.read_template(object).unwrap().unwrap();
        let injection = inject(WorkloadKind::Pod, &template, env, settings);
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &injection.patch.0).expect("patch applies");
        (patched, injection)
    }

    fn wait_annotation() -> Option<Value> {
        Some(json!({"lameduck.dev/action": "wait"}))
    }

    /// The containers named like the waiter, in `containers` then in `initContainers`.
    fn waiter_of(pod: &Value) -> Vec<&Value> {
        ["containers", "initContainers"]
            .iter()
            .filter_map(|list| pod["spec"][list].as_array())
            .flatten()
            .filter(|c| c["name"] == WAITER_NAME)
            .collect()
    }

    /// A pod that runs to completion, opted in (as a Job's).
    fn job_pod(containers: Value) -> Value {
        let mut object = pod(
            containers,
            Some(json!({"lameduck.dev/action": "wait", "lameduck.dev/inject": "true"})),
            None,
        );
        object["spec"]["restartPolicy"] = json!("Never");
        object
    }

    #[test]
    fn tiers_call_the_waiter_with_their_offsets_and_the_grace_covers_max() {
        let containers = json!([
            {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 9471}]},
            {"name": "app", "image": "shop/app:1",
             "readinessProbe": {"httpGet": {"port": "http"}, "periodSeconds": 2},
             "ports": [{"name": "http", "containerPort": 8080}]},
            {"name": "fluent-bit", "image": "fluent/fluent-bit:3"},
        ]);
        let object = pod(containers, wait_annotation(), None);
        let (patched, injection) = mutate_with(&object, &waiting(), &Environment::default());
        let hook = |i: usize| patched["spec"]["containers"][i]["lifecycle"]["preStop"].clone();
        // 9471 is nginx's: the waiter takes the next port.
        assert_eq!(
            hook(0),
            json!({"httpGet": {"path": "/release?after=0", "port": 9472, "scheme": "HTTP"}})
        );
        assert_eq!(hook(1)["httpGet"]["path"], "/release?after=5");
        // The sidecar waits for the app's worst case: max + stagger + shutdown.
        assert_eq!(hook(2)["httpGet"]["path"], "/release?after=35");
        // max 30 + stagger 5 + shutdown 30, then the sidecar's stagger. The waiter is a
        // regular container that exits once its last hook is answered: no time of its own.
        assert_eq!(
            patched["spec"]["terminationGracePeriodSeconds"],
            30 + 5 + 30 + 5
        );
        // Last in `containers`, so the app stays the pod's first (kubectl's default).
        let waiters = waiter_of(&patched);
        assert_eq!(waiters.len(), 1);
        assert_eq!(patched["spec"]["containers"][3]["name"], WAITER_NAME);
        assert!(patched["spec"].get("initContainers").is_none());
        let args = waiters[0]["args"].as_array().unwrap();
        assert!(args.contains(&json!("--port=9472")));
        assert!(args.contains(&json!("--probe=8080/2s")), "{args:?}");
        assert!(args.contains(&json!("--hold-on-sigterm")), "{args:?}");
        // Three containers call it: it serves after SIGTERM until all three have.
        assert!(args.contains(&json!("--hooks=3")), "{args:?}");
        assert!(waiters[0].get("restartPolicy").is_none());
        assert!(
            injection.planned.warnings.is_empty(),
            "{:?}",
            injection.planned.warnings
        );
        let status = Status::parse(
            patched["metadata"]["annotations"]["lameduck.dev/status"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(status.waiter.as_deref(), Some(WAITER_NAME));
        assert_eq!(status.pre_stop["app"].seconds, 35);
    }

    #[test]
    fn replanning_keeps_one_waiter_and_changes_it_when_the_plan_does() {
        let object = pod(
            json!([{"name": "app", "image": "shop/app:1"}]),
            wait_annotation(),
            None,
        );
        let settings = waiting();
        let (once, _) = mutate_with(&object, &settings, &Environment::default());
        let (twice, again) = mutate_with(&once, &settings, &Environment::default());
        assert!(again.patch.0.is_empty(), "{:?}", again.patch);
        assert_eq!(waiter_of(&twice).len(), 1);

        // A new max: the waiter is replaced in place, not added again.
        let mut changed = once.clone();
        changed["metadata"]["annotations"]["lameduck.dev/wait-max"] = json!("45s");
        let (replanned, _) = mutate_with(&changed, &settings, &Environment::default());
        let waiters = waiter_of(&replanned);
        assert_eq!(waiters.len(), 1);
        assert!(
            waiters[0]["args"]
                .as_array()
                .unwrap()
                .contains(&json!("--max=45s"))
        );
        assert_eq!(
            replanned["spec"]["containers"][0]["lifecycle"]["preStop"]["httpGet"]["path"],
            "/release?after=0"
        );

        // Back to sleep: the waiter goes.
        let mut back = once.clone();
        back["metadata"]["annotations"]["lameduck.dev/action"] = json!("sleep");
        let (slept, _) = mutate_with(&back, &settings, &Environment::default());
        assert_eq!(slept["spec"]["containers"].as_array().unwrap().len(), 1);
        assert!(slept["spec"].get("initContainers").is_none(), "{slept}");
        assert_eq!(
            slept["spec"]["containers"][0]["lifecycle"]["preStop"],
            json!({"sleep": {"seconds": 10}})
        );
    }

    #[test]
    fn wait_on_connections_reaches_the_waiter_and_a_bad_value_is_reported() {
        let settings = waiting();
        let mut annotations = wait_annotation().unwrap();
        annotations["lameduck.dev/wait-on"] = json!("connections");
        let object = pod(
            json!([{"name": "app", "image": "shop/app:1"}]),
            Some(annotations.clone()),
            None,
        );
        let (patched, injection) = mutate_with(&object, &settings, &Environment::default());
        let args = waiter_of(&patched)[0]["args"].clone();
        assert!(
            args.as_array()
                .unwrap()
                .contains(&json!("--wait-on=connections")),
            "{args}"
        );
        assert!(injection.planned.warnings.is_empty());

        annotations["lameduck.dev/wait-on"] = json!("bytes");
        let object = pod(
            json!([{"name": "app", "image": "shop/app:1"}]),
            Some(annotations),
            None,
        );
        let (patched, injection) = mutate_with(&object, &settings, &Environment::default());
        // Ignored with a warning: the server's default (requests) stands, the pod waits.
        let args = waiter_of(&patched)[0]["args"].clone();
        assert!(!args.to_string().contains("--wait-on"), "{args}");
        assert!(
            injection
                .planned
                .warnings
                .iter()
                .any(|w| w.message.contains("lameduck.dev/wait-on")),
            "{:?}",
            injection.planned.warnings
        );
    }

    #[test]
    fn a_pod_made_from_a_mutated_template_with_api_defaults_is_left_alone() {
        let object = pod(
            json!([{"name": "app", "image": "shop/app:1"}]),
            wait_annotation(),
            None,
        );
        let settings = waiting();
        let (mut once, _) = mutate_with(&object, &settings, &Environment::default());
        // What the API server adds to the waiter when it stores the pod.
        once["spec"]["containers"][1]["resources"]["requests"]["cpu"] = json!("5m");
        once["spec"]["containers"][1]["ports"] = json!([]);
        let (_, again) = mutate_with(&once, &settings, &Environment::default());
        assert!(again.patch.0.is_empty(), "{:?}", again.patch);
    }

    #[test]
    fn a_pod_that_runs_to_completion_gets_a_native_sidecar() {
        let object = job_pod(json!([{"name": "app", "image": "a:1"}]));
        let (patched, injection) = mutate_with(&object, &waiting(), &Environment::default());
        // A regular waiter would never exit, and the Job would never complete.
        assert_eq!(patched["spec"]["containers"].as_array().unwrap().len(), 1);
        let waiter = &patched["spec"]["initContainers"][0];
        assert_eq!(waiter["name"], WAITER_NAME);
        assert_eq!(waiter["restartPolicy"], "Always");
        assert!(!waiter["args"].to_string().contains("--hold-on-sigterm"));
        // max 30 + shutdown 30, then the waiter's stagger: it is stopped after the app.
        assert_eq!(
            patched["spec"]["terminationGracePeriodSeconds"],
            30 + 30 + 5
        );
        assert!(injection.planned.warnings.is_empty());
        let (_, again) = mutate_with(&patched, &waiting(), &Environment::default());
        assert!(again.patch.0.is_empty(), "{:?}", again.patch);
    }

    #[test]
    fn a_waiter_injected_as_a_native_sidecar_by_an_earlier_version_moves_to_containers() {
        // What lameduck wrote before waiters became regular containers.
        let job = job_pod(json!([{"name": "app", "image": "a:1"}]));
        let (mut earlier, _) = mutate_with(&job, &waiting(), &Environment::default());
        earlier["spec"]["restartPolicy"] = json!("Always");
        earlier["spec"]["initContainers"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"name": "migrate", "image": "m:1"}));
        let (moved, _) = mutate_with(&earlier, &waiting(), &Environment::default());
        assert_eq!(waiter_of(&moved).len(), 1, "{moved:#}");
        assert_eq!(moved["spec"]["containers"][1]["name"], WAITER_NAME);
        assert_eq!(
            moved["spec"]["initContainers"],
            json!([{"name": "migrate", "image": "m:1"}])
        );
        assert_eq!(
            moved["spec"]["containers"][0]["lifecycle"]["preStop"]["httpGet"]["path"],
            "/release?after=0"
        );
        let (_, again) = mutate_with(&moved, &waiting(), &Environment::default());
        assert!(again.patch.0.is_empty(), "{:?}", again.patch);
    }

    #[test]
    fn a_pod_that_comes_to_run_to_completion_moves_its_waiter_to_a_native_sidecar() {
        let object = pod(
            json!([{"name": "app", "image": "a:1"}]),
            Some(json!({"lameduck.dev/action": "wait", "lameduck.dev/inject": "true"})),
            None,
        );
        let (mut once, _) = mutate_with(&object, &waiting(), &Environment::default());
        assert_eq!(once["spec"]["containers"][1]["name"], WAITER_NAME);
        once["spec"]["restartPolicy"] = json!("OnFailure");
        let (moved, _) = mutate_with(&once, &waiting(), &Environment::default());
        assert_eq!(moved["spec"]["containers"].as_array().unwrap().len(), 1);
        assert_eq!(moved["spec"]["initContainers"][0]["name"], WAITER_NAME);
        assert_eq!(
            moved["spec"]["initContainers"][0]["restartPolicy"],
            "Always"
        );
        let (_, again) = mutate_with(&moved, &waiting(), &Environment::default());
        assert!(again.patch.0.is_empty(), "{:?}", again.patch);
    }

    #[test]
    fn a_users_container_named_like_the_waiter_is_never_taken_for_it() {
        // A record copied from a mutated pod, onto a pod whose own container has the name.
        let object = pod(
            json!([{"name": "app", "image": "a:1"}]),
            wait_annotation(),
            None,
        );
        let (once, _) = mutate_with(&object, &waiting(), &Environment::default());
        let mut copied = object.clone();
        copied["metadata"]["annotations"]["lameduck.dev/status"] =
            once["metadata"]["annotations"]["lameduck.dev/status"].clone();
        let theirs = json!({"name": WAITER_NAME, "image": "someone/else", "args": ["serve"]});
        copied["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(theirs.clone());
        let (patched, injection) = mutate_with(&copied, &waiting(), &Environment::default());
        // Planned like any container of theirs (a hook), never replaced or removed.
        let kept = &patched["spec"]["containers"][1];
        assert_eq!(
            (&kept["name"], &kept["image"], &kept["args"]),
            (&theirs["name"], &theirs["image"], &theirs["args"])
        );
        assert_eq!(patched["spec"]["containers"].as_array().unwrap().len(), 2);
        assert!(
            injection
                .planned
                .warnings
                .iter()
                .any(|w| w.reason == WarningReason::WaitUnavailable),
            "{:?}",
            injection.planned.warnings
        );
    }

    #[test]
    fn containers_added_after_the_waiter_are_planned_in_place() {
        let object = pod(
            json!([{"name": "app", "image": "a:1"}]),
            wait_annotation(),
            None,
        );
        let (mut once, _) = mutate_with(&object, &waiting(), &Environment::default());
        // Someone appends a log shipper after lameduck's waiter.
        once["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "fluent-bit", "image": "fluent/fluent-bit:3"}));
        let (patched, injection) = mutate_with(&once, &waiting(), &Environment::default());
        let containers = patched["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 3, "{patched:#}");
        assert_eq!(containers[1]["name"], WAITER_NAME);
        assert!(
            containers[1].get("lifecycle").is_none(),
            "the waiter gets no hook"
        );
        // The sidecar waits for the app's worst case: after = stagger + shutdown.
        assert_eq!(
            containers[2]["lifecycle"]["preStop"]["httpGet"]["path"], "/release?after=30",
            "{patched:#}"
        );
        assert!(
            injection.planned.warnings.is_empty(),
            "{:?}",
            injection.planned.warnings
        );
        // Back to sleep: the waiter goes from the middle, the hooks stay where they are.
        let mut back = patched.clone();
        back["metadata"]["annotations"]["lameduck.dev/action"] = json!("sleep");
        let (slept, _) = mutate_with(&back, &waiting(), &Environment::default());
        let names: Vec<&Value> = slept["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(names, [&json!("app"), &json!("fluent-bit")]);
        assert_eq!(
            slept["spec"]["containers"][1]["lifecycle"]["preStop"],
            json!({"sleep": {"seconds": 40}})
        );
    }

    #[test]
    fn falls_back_to_the_fixed_sleep_with_a_warning() {
        let plain = pod(
            json!([{"name": "app", "image": "a:1"}]),
            wait_annotation(),
            None,
        );
        let old_cluster = Environment {
            wait_unavailable: Some("kubelet v1.28.9 on node b runs no native sidecars"),
            ..Environment::default()
        };
        let mut host = plain.clone();
        host["spec"]["hostNetwork"] = json!(true);
        let mut taken = plain.clone();
        taken["spec"]["initContainers"] =
            json!([{"name": WAITER_NAME, "image": "someone/else", "restartPolicy": "Always"}]);
        let mut taken_regular = plain.clone();
        taken_regular["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": WAITER_NAME, "image": "someone/else"}));
        // Only a native sidecar needs the cluster's versions.
        let job = job_pod(json!([{"name": "app", "image": "a:1"}]));
        let cases = [
            (
                &plain,
                Settings::default(),
                Environment::default(),
                "--waiter-image",
            ),
            (&job, waiting(), old_cluster, "native sidecars"),
            (&host, waiting(), Environment::default(), "hostNetwork"),
            (&taken, waiting(), Environment::default(), "did not inject"),
            (
                &taken_regular,
                waiting(),
                Environment::default(),
                "did not inject",
            ),
        ];
        for (object, settings, env, why) in cases {
            let (patched, injection) = mutate_with(object, &settings, &env);
            assert_eq!(
                patched["spec"]["containers"][0]["lifecycle"]["preStop"],
                json!({"sleep": {"seconds": 10}}),
                "{why}"
            );
            let warning = injection
                .planned
                .warnings
                .iter()
                .find(|w| w.reason == WarningReason::WaitUnavailable)
                .unwrap_or_else(|| panic!("{why}: {:?}", injection.planned.warnings));
            assert!(warning.message.contains(why), "{}", warning.message);
            // Someone else's container of that name is never touched or duplicated.
            assert!(waiter_of(&patched).len() <= 1, "{why}");
            assert_eq!(
                patched["spec"]["initContainers"], object["spec"]["initContainers"],
                "{why}"
            );
        }
        // On that cluster, a pod that runs until deleted still waits: its waiter is a
        // regular container.
        let (patched, injection) = mutate_with(&plain, &waiting(), &old_cluster);
        assert_eq!(waiter_of(&patched).len(), 1);
        assert!(injection.planned.warnings.is_empty());
    }

    #[test]
    fn a_per_container_sleep_below_max_is_a_fixed_delay_from_the_waiter() {
        let object = pod(
            json!([{"name": "app", "image": "a:1"}]),
            Some(json!({"lameduck.dev/action": "wait", "lameduck.dev/app.sleep": "7"})),
            None,
        );
        let (patched, _) = mutate_with(&object, &waiting(), &Environment::default());
        assert_eq!(
            patched["spec"]["containers"][0]["lifecycle"]["preStop"]["httpGet"]["path"],
            "/release?at=7"
        );
    }
}
