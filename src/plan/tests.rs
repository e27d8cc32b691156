use super::*;
use crate::plan::annotations::Annotations;

fn containers<'a>(specs: &'a [(&'a str, &'a str)]) -> Vec<ContainerInput<'a>> {
    specs
        .iter()
        .map(|(name, image)| ContainerInput {
            name,
            image: Some(image),
            has_own_pre_stop: false,
            own_call: None,
            ports: &[],
        })
        .collect()
}

fn annotations(pairs: &[(&str, &str)]) -> Annotations {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn plan_of(
    containers: &[ContainerInput],
    annotations: &Annotations,
    native_sidecars: &[&str],
    grace: Option<i64>,
) -> (Plan, Vec<Warning>) {
    let pod = PodInput {
        annotations,
        containers,
        native_sidecars,
        restart_policy: Some("Always"),
        submitted_grace: grace,
        windows: false,
        network: PodNetwork::default(),
    };
    let planned = plan(&pod, &Environment::default(), &Settings::default());
    match planned.decision {
        Decision::Plan(plan) => (plan, planned.warnings),
        Decision::Skip(reason) => panic!("expected a plan, got skip: {reason:?}"),
    }
}

fn sleeps(plan: &Plan) -> Vec<Option<u64>> {
    plan.containers
        .iter()
        .map(|c| c.injected().map(|(sleep, _)| sleep))
        .collect()
}

#[test]
fn single_container_sleeps_ten_with_grace_forty() {
    let c = containers(&[("app", "registry.example.com/shop/app:1.4.2")]);
    let (plan, warnings) = plan_of(&c, &Annotations::new(), &[], Some(30));
    assert_eq!(sleeps(&plan), [Some(10)]);
    assert_eq!(plan.grace, Some(40));
    assert_eq!(plan.action, HookAction::Sleep);
    assert!(warnings.is_empty());
}

#[test]
fn nginx_stops_before_the_app() {
    let c = containers(&[("nginx", "nginx:1.27"), ("app", "shop/app:1")]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(30));
    assert_eq!(plan.containers[0].role, Role::Proxy);
    assert_eq!(sleeps(&plan), [Some(10), Some(15)]);
    assert_eq!(plan.grace, Some(45));
}

#[test]
fn cloud_sql_proxy_outlives_the_app() {
    let c = containers(&[
        ("app", "shop/app:1"),
        (
            "cloud-sql-proxy",
            "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2",
        ),
    ]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(30));
    assert_eq!(plan.containers[1].role, Role::Sidecar);
    assert_eq!(sleeps(&plan), [Some(10), Some(40)]);
    assert_eq!(plan.grace, Some(45));
}

#[test]
fn native_sidecars_get_stagger_after_the_main_containers() {
    let c = containers(&[("app", "shop/app:1")]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &["istio-proxy"], Some(30));
    assert_eq!(sleeps(&plan), [Some(10)]);
    assert_eq!(plan.grace, Some(45));
}

#[test]
fn own_prestop_is_left_alone_and_reported() {
    let mut c = containers(&[("app", "shop/app:1"), ("nginx", "nginx:1.27")]);
    c[0].has_own_pre_stop = true;
    let (plan, warnings) = plan_of(&c, &Annotations::new(), &[], Some(30));
    assert_eq!(plan.containers[0].outcome, ContainerOutcome::OwnHook);
    assert_eq!(sleeps(&plan), [None, Some(10)]);
    assert_eq!(plan.grace, Some(30));
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].reason, WarningReason::OwnPreStop);
    assert!(warnings[0].to_string().starts_with("lameduck: "));
}

#[test]
fn pod_and_container_overrides() {
    let c = containers(&[("nginx", "nginx:1.27"), ("app", "shop/app:1")]);
    let a = annotations(&[
        ("lameduck.dev/sleep", "20s"),
        ("lameduck.dev/app.shutdown", "45s"),
        ("lameduck.dev/stagger", "3"),
    ]);
    let (plan, warnings) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(sleeps(&plan), [Some(20), Some(23)]);
    assert_eq!(plan.grace, Some(68));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn bad_annotations_fall_back_with_a_warning_per_key() {
    let c = containers(&[("app", "shop/app:1")]);
    let a = annotations(&[
        ("lameduck.dev/sleep", "-5s"),
        ("lameduck.dev/shutdown", "soon"),
        ("lameduck.dev/stagger", "99999999999999999999"),
    ]);
    let (plan, warnings) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(sleeps(&plan), [Some(10)]);
    assert_eq!(plan.grace, Some(40));
    assert_eq!(plan.budgets.stagger, 300);
    for key in [
        "lameduck.dev/sleep",
        "lameduck.dev/shutdown",
        "lameduck.dev/stagger",
    ] {
        assert!(
            warnings.iter().any(|w| w.message.contains(key)),
            "no warning names {key}: {warnings:?}"
        );
    }
}

#[test]
fn batch_pods_are_skipped_unless_opted_in() {
    let c = containers(&[("job", "batch/job:1")]);
    let none = Annotations::new();
    let opt_in = annotations(&[("lameduck.dev/inject", "true")]);
    let decide = |a: &Annotations, policy| {
        let pod = PodInput {
            annotations: a,
            containers: &c,
            native_sidecars: &[],
            restart_policy: Some(policy),
            submitted_grace: Some(30),
            windows: false,
            network: PodNetwork::default(),
        };
        plan(&pod, &Environment::default(), &Settings::default()).decision
    };
    assert_eq!(
        decide(&none, "Never"),
        Decision::Skip(SkipReason::NotLongRunning)
    );
    assert_eq!(
        decide(&none, "OnFailure"),
        Decision::Skip(SkipReason::NotLongRunning)
    );
    assert!(matches!(decide(&opt_in, "Never"), Decision::Plan(_)));
}

#[test]
fn opt_out_skips_any_pod() {
    let c = containers(&[("app", "shop/app:1")]);
    let a = annotations(&[("lameduck.dev/inject", "false")]);
    let pod = PodInput {
        annotations: &a,
        containers: &c,
        native_sidecars: &[],
        restart_policy: None,
        submitted_grace: None,
        windows: false,
        network: PodNetwork::default(),
    };
    let planned = plan(&pod, &Environment::default(), &Settings::default());
    assert_eq!(planned.decision, Decision::Skip(SkipReason::OptedOut));
}

#[test]
fn shutdown_defaults_to_the_submitted_grace() {
    let c = containers(&[("ledger", "bank/ledger:1")]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(120));
    assert_eq!(sleeps(&plan), [Some(10)]);
    assert_eq!(plan.grace, Some(130));
    // Unset means Kubernetes' default of 30 s.
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], None);
    assert_eq!(plan.grace, Some(40));
}

#[test]
fn a_large_submitted_grace_is_never_lowered() {
    let c = containers(&[("app", "shop/app:1")]);
    let a = annotations(&[("lameduck.dev/shutdown", "5")]);
    let (plan, _) = plan_of(&c, &a, &[], Some(600));
    assert_eq!(plan.grace, Some(600));
}

#[test]
fn role_annotation_overrides_detection() {
    let c = containers(&[
        ("nginx", "nginx:1.27"),
        ("app", "shop/app:1"),
        ("debug", "busybox"),
    ]);
    let a = annotations(&[
        ("lameduck.dev/nginx.role", "app"),
        ("lameduck.dev/debug.role", "skip"),
    ]);
    let (plan, _) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(plan.containers[0].role, Role::App);
    assert_eq!(plan.containers[2].outcome, ContainerOutcome::Skipped);
    assert_eq!(sleeps(&plan), [Some(10), Some(10), None]);
}

#[test]
fn container_sleep_is_used_exactly_and_warns_when_it_breaks_the_order() {
    let c = containers(&[("nginx", "nginx:1.27"), ("app", "shop/app:1")]);
    let a = annotations(&[("lameduck.dev/nginx.sleep", "30")]);
    let (plan, warnings) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(sleeps(&plan), [Some(30), Some(15)]);
    assert!(plan.grace >= Some(45));
    assert!(
        warnings.iter().any(|w| w.reason == WarningReason::TierOrder
            && w.message.contains("lameduck.dev/nginx.sleep"))
    );
}

#[test]
fn unknown_keys_and_containers_are_reported() {
    let c = containers(&[("app", "shop/app:1")]);
    let a = annotations(&[
        ("lameduck.dev/sleeep", "10"),
        ("lameduck.dev/web.sleep", "10"),
        ("lameduck.dev/istio-proxy.sleep", "10"),
        ("lameduck.dev/app.role", "database"),
        ("other.io/whatever", "x"),
    ]);
    let (_, warnings) = plan_of(&c, &a, &["istio-proxy"], Some(30));
    let reasons: Vec<_> = warnings.iter().map(|w| w.reason).collect();
    assert!(reasons.contains(&WarningReason::UnknownAnnotation));
    assert_eq!(
        reasons
            .iter()
            .filter(|r| **r == WarningReason::UnknownContainer)
            .count(),
        2
    );
    assert!(reasons.contains(&WarningReason::InvalidAnnotation));
    assert_eq!(warnings.len(), 4);
}

#[test]
fn action_comes_from_the_pod_then_the_server() {
    let c = containers(&[("app", "shop/app:1")]);
    let a = annotations(&[("lameduck.dev/action", "exec")]);
    let (plan, _) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(plan.action, HookAction::Exec);
    let bad = annotations(&[("lameduck.dev/action", "wait")]);
    let (plan, warnings) = plan_of(&c, &bad, &[], Some(30));
    assert_eq!(plan.action, HookAction::Sleep);
    assert_eq!(warnings.len(), 1);
}

#[test]
fn namespace_defaults_sit_below_pod_annotations() {
    let c = containers(&[("app", "shop/app:1")]);
    let pod_annotations = annotations(&[("lameduck.dev/shutdown", "50")]);
    let ns = annotations(&[("lameduck.dev/sleep", "20"), ("lameduck.dev/shutdown", "5")]);
    let pod = PodInput {
        annotations: &pod_annotations,
        containers: &c,
        native_sidecars: &[],
        restart_policy: None,
        submitted_grace: Some(30),
        windows: false,
        network: PodNetwork::default(),
    };
    let env = Environment {
        namespace: Some(&ns),
        auto_action: HookAction::Exec,
        auto_reason: "test",
        wait_unavailable: None,
    };
    let Decision::Plan(plan) = plan(&pod, &env, &Settings::default()).decision else {
        panic!("expected a plan");
    };
    assert_eq!(sleeps(&plan), [Some(20)]);
    assert_eq!(plan.grace, Some(70));
    assert_eq!(plan.action, HookAction::Exec);
}

#[test]
fn proxy_and_sidecar_without_app() {
    let c = containers(&[
        ("envoy", "envoyproxy/envoy:v1"),
        ("fluent-bit", "fluent/fluent-bit:3"),
    ]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(30));
    // The envoy is this pod's application: it gets the full shutdown budget, and the
    // shipper next to it waits for it.
    assert_eq!(budgets(&plan), [Some(30), Some(5)]);
    assert_eq!(sleeps(&plan), [Some(10), Some(40)]);
    assert_eq!(plan.grace, Some(45));
}

fn budgets(plan: &Plan) -> Vec<Option<u64>> {
    plan.containers
        .iter()
        .map(|c| c.injected().map(|(_, budget)| budget))
        .collect()
}

/// Issue 14: fluent-bit with `terminationGracePeriodSeconds: 10` came out with grace 15,
/// SIGKILL 5 s after SIGTERM, half the flush time its authors gave it.
#[test]
fn a_log_shipper_daemonset_keeps_its_whole_shutdown_time() {
    let c = containers(&[("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.0.4")]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(10));
    assert_eq!(plan.containers[0].role, Role::Sidecar);
    assert_eq!(plan.containers[0].injected(), Some((10, 10)));
    assert_eq!(plan.grace, Some(20));
}

#[test]
fn a_standalone_proxy_is_its_pods_app() {
    let c = containers(&[("nginx", "nginxinc/nginx-unprivileged:1.27")]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(30));
    assert_eq!(plan.containers[0].injected(), Some((10, 30)));
    assert_eq!(plan.grace, Some(40));

    // Two proxies and a shipper: both proxies lead, the shipper waits for them.
    let c = containers(&[
        ("envoy", "envoyproxy/envoy:v1"),
        ("oauth2-proxy", "quay.io/oauth2-proxy/oauth2-proxy:v7"),
        ("vector", "timberio/vector:0.40"),
    ]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(20));
    assert_eq!(sleeps(&plan), [Some(10), Some(10), Some(30)]);
    assert_eq!(budgets(&plan), [Some(20), Some(20), Some(5)]);
    assert_eq!(plan.grace, Some(35));
}

#[test]
fn an_app_with_its_own_hook_still_makes_the_proxy_a_front_tier() {
    let mut c = containers(&[("nginx", "nginx:1.27"), ("app", "shop/app:1")]);
    c[1].has_own_pre_stop = true;
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(30));
    assert_eq!(plan.containers[0].injected(), Some((10, 5)));
}

#[test]
fn a_skipped_app_does_not_count_as_an_app() {
    let c = containers(&[("nginx", "nginx:1.27"), ("app", "shop/app:1")]);
    let a = annotations(&[("lameduck.dev/app.role", "skip")]);
    let (plan, _) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(plan.containers[0].injected(), Some((10, 30)));
    assert_eq!(plan.containers[1].outcome, ContainerOutcome::Skipped);
    assert_eq!(plan.grace, Some(40));
}

#[test]
fn a_per_container_shutdown_still_wins_in_a_single_tier_pod() {
    let c = containers(&[("vector", "timberio/vector:0.40")]);
    let a = annotations(&[("lameduck.dev/vector.shutdown", "60s")]);
    let (plan, _) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(plan.containers[0].injected(), Some((10, 60)));
    assert_eq!(plan.grace, Some(70));
}

#[test]
fn three_tiers_in_order() {
    let c = containers(&[
        ("nginx", "nginx:1"),
        ("app", "shop/app:1"),
        ("vector", "timberio/vector:0.40"),
    ]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(30));
    assert_eq!(sleeps(&plan), [Some(10), Some(15), Some(45)]);
    assert_eq!(plan.grace, Some(50));
}

#[test]
fn zero_grace_still_gets_a_one_second_budget() {
    let c = containers(&[("app", "shop/app:1")]);
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(0));
    assert_eq!(plan.budgets.shutdown, 1);
    assert_eq!(plan.grace, Some(11));
}

#[test]
fn nothing_to_inject_leaves_grace_alone() {
    let c = containers(&[("debug", "busybox")]);
    let a = annotations(&[("lameduck.dev/debug.role", "skip")]);
    let (plan, _) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(plan.grace, None);
}

#[test]
fn an_exec_choice_made_by_the_cluster_is_explained_but_an_explicit_one_is_not() {
    let c = containers(&[("app", "shop/app:1")]);
    let none = Annotations::new();
    let explicit = annotations(&[("lameduck.dev/action", "exec")]);
    let env = Environment {
        namespace: None,
        auto_action: HookAction::Exec,
        auto_reason: "API server v1.29",
        wait_unavailable: None,
    };
    let warnings_for = |a: &Annotations| {
        let pod = PodInput {
            annotations: a,
            containers: &c,
            native_sidecars: &[],
            restart_policy: None,
            submitted_grace: Some(30),
            windows: false,
            network: PodNetwork::default(),
        };
        plan(&pod, &env, &Settings::default()).warnings
    };
    let chosen = warnings_for(&none);
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].reason, WarningReason::ExecAction);
    assert!(chosen[0].message.contains("v1.29"));
    assert!(warnings_for(&explicit).is_empty());
}

#[test]
fn a_grace_above_the_warning_cap_is_named() {
    let c = containers(&[("app", "shop/app:1")]);
    let a = annotations(&[("lameduck.dev/shutdown", "15m")]);
    let (plan, warnings) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(plan.grace, Some(910));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].reason, WarningReason::LongGrace);
    assert!(warnings[0].message.contains("--warn-grace-above (10m)"));
    assert!(warnings[0].message.contains("15m10s"));

    // At the cap: no warning.
    let a = annotations(&[("lameduck.dev/shutdown", "590s")]);
    let (plan, warnings) = plan_of(&c, &a, &[], Some(30));
    assert_eq!(plan.grace, Some(600));
    assert!(warnings.is_empty(), "{warnings:?}");
}

fn windows_plan(annotations: &Annotations, env: &Environment) -> Planned {
    let c = containers(&[("iis", "mcr.microsoft.com/windows/servercore/iis:ltsc2022")]);
    let pod = PodInput {
        annotations,
        containers: &c,
        native_sidecars: &[],
        restart_policy: Some("Always"),
        submitted_grace: Some(30),
        windows: true,
        network: PodNetwork::default(),
    };
    plan(&pod, env, &Settings::default())
}

#[test]
fn a_windows_pod_gets_the_native_action_when_the_cluster_has_it() {
    let exec = annotations(&[("lameduck.dev/action", "exec")]);
    let planned = windows_plan(&exec, &Environment::default());
    let Decision::Plan(plan) = planned.decision else {
        panic!("expected a plan");
    };
    assert_eq!(plan.action, HookAction::Sleep);
    assert_eq!(plan.grace, Some(40));
    assert_eq!(planned.warnings.len(), 1, "{:?}", planned.warnings);
    assert_eq!(planned.warnings[0].reason, WarningReason::WindowsPod);

    // Asking for the native action needs no warning.
    let planned = windows_plan(&Annotations::new(), &Environment::default());
    assert!(planned.warnings.is_empty(), "{:?}", planned.warnings);
}

#[test]
fn a_windows_pod_gets_no_exec_hook_on_an_old_cluster() {
    let env = Environment {
        namespace: None,
        auto_action: HookAction::Exec,
        auto_reason: "node a runs kubelet v1.29.4",
        wait_unavailable: None,
    };
    let planned = windows_plan(&Annotations::new(), &env);
    assert_eq!(
        planned.decision,
        Decision::Skip(SkipReason::WindowsWithoutSleepAction)
    );
    assert_eq!(planned.warnings.len(), 1, "{:?}", planned.warnings);
    assert_eq!(planned.warnings[0].reason, WarningReason::WindowsPod);
    assert!(planned.warnings[0].message.contains("kubelet v1.29.4"));
}

/// Issue 21: a Knative revision pod. The user container's own hook waits on queue-proxy,
/// which coordinates the shutdown: nothing is injected, the grace is left as submitted.
#[test]
fn a_container_waited_on_coordinates_and_gets_no_hook() {
    use crate::plan::choreography::{ContainerPort, PortRef, PreStopCall};
    let drain = PreStopCall::HttpGet {
        host: String::new(),
        port: PortRef::Number(8022),
    };
    let admin = [ContainerPort {
        container_port: Some(8022),
        name: Some("http-queueadm".into()),
    }];
    let mut c = containers(&[
        ("user-container", "ghcr.io/knative/helloworld-go"),
        (
            "queue-proxy",
            "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:65c4",
        ),
    ]);
    c[0].has_own_pre_stop = true;
    c[0].own_call = Some(&drain);
    c[1].ports = &admin;
    let (plan, warnings) = plan_of(&c, &Annotations::new(), &[], Some(300));
    assert_eq!(plan.containers[0].outcome, ContainerOutcome::OwnHook);
    assert_eq!(plan.containers[1].outcome, ContainerOutcome::Coordinates);
    assert_eq!(plan.grace, None);
    assert_eq!(plan.calls.len(), 1);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .message
            .contains("waits on \"queue-proxy\"; both are left to that choreography"),
        "{warnings:?}"
    );
    let none = Annotations::new();
    let pod = PodInput {
        annotations: &none,
        containers: &c,
        native_sidecars: &[],
        restart_policy: None,
        submitted_grace: Some(300),
        windows: false,
        network: PodNetwork::default(),
    };
    assert!(
        plan.summary(&pod)
            .contains("queue-proxy=coordinates, waited on by user-container"),
    );

    // Other containers are still planned, and the grace covers them, never lowered.
    c.push(ContainerInput {
        name: "nginx",
        image: Some("nginx:1.27"),
        has_own_pre_stop: false,
        own_call: None,
        ports: &[],
    });
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(5));
    assert_eq!(sleeps(&plan), [None, None, Some(10)]);
    assert_eq!(plan.grace, Some(15));
    let (plan, _) = plan_of(&c, &Annotations::new(), &[], Some(300));
    assert_eq!(plan.grace, Some(300));

    // A delay annotated on the coordinator is ignored, with a warning; `skip` still wins.
    let a = annotations(&[("lameduck.dev/queue-proxy.sleep", "20")]);
    let (plan, warnings) = plan_of(&c, &a, &[], Some(300));
    assert_eq!(plan.containers[1].outcome, ContainerOutcome::Coordinates);
    assert!(
        warnings
            .iter()
            .any(|w| w.reason == WarningReason::InvalidAnnotation
                && w.message.contains("lameduck.dev/queue-proxy.sleep")),
        "{warnings:?}"
    );
    let a = annotations(&[("lameduck.dev/queue-proxy.role", "skip")]);
    let (plan, _) = plan_of(&c, &a, &[], Some(300));
    assert_eq!(plan.containers[1].outcome, ContainerOutcome::Skipped);
}
