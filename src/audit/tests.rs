//! The classification, without a cluster: objects built as the API server returns them,
//! pods made protected by running them through the webhook's own path first.

use serde_json::{Value, json};

use super::*;
use crate::cluster::NamespaceInfo;
use crate::cluster::inventory::{ClusterObject, Inventory};
use crate::inject;
use crate::plan::Environment;
use crate::scope::NamespaceInjection;
use crate::workload::WorkloadKind;

fn namespace(injection: NamespaceInjection, defaults: &[(&str, &str)]) -> NamespaceInfo {
    NamespaceInfo {
        injection,
        defaults: defaults
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn plain() -> NamespaceInfo {
    namespace(NamespaceInjection::Unlabelled, &[])
}

fn owner(kind: &str, name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true})
}

fn pod(namespace: &str, name: &str, owner: Option<Value>, annotations: Value) -> Value {
    let mut metadata = json!({
        "name": name,
        "namespace": namespace,
        "uid": format!("uid-{name}"),
        "annotations": annotations,
    });
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([owner]);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "app", "image": "registry.example/shop/app:1"}]
        },
        "status": {"phase": "Running"}
    })
}

/// A pod as the webhook would have admitted it, given these namespace defaults.
fn mutated(mut pod: Value, defaults: &NamespaceInfo) -> Value {
    let template = WorkloadKind::Pod
        .read_template(&pod)
        .unwrap()
        .unwrap_or_default();
    let env = Environment {
        namespace: Some(&defaults.defaults),
        auto_action: HookAction::Sleep,
        auto_reason: "",
        wait_unavailable: None,
    };
    let injection = inject::inject(WorkloadKind::Pod, &template, &env, &Settings::default());
    json_patch::patch(&mut pod, &injection.patch).unwrap();
    pod
}

fn workload(
    kind: &str,
    namespace: &str,
    name: &str,
    owner: Option<Value>,
    template: Value,
) -> Value {
    let group = match kind {
        "Job" | "CronJob" => "batch/v1",
        _ => "apps/v1",
    };
    let mut metadata = json!({"name": name, "namespace": namespace, "uid": format!("uid-{name}")});
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([owner]);
    }
    let spec = if kind == "CronJob" {
        json!({"jobTemplate": {"spec": {"template": template}}})
    } else {
        json!({"template": template})
    };
    json!({"apiVersion": group, "kind": kind, "metadata": metadata, "spec": spec})
}

fn template(annotations: Value, restart_policy: &str) -> Value {
    json!({
        "metadata": {"annotations": annotations},
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{"name": "app", "image": "registry.example/shop/app:1"}]
        }
    })
}

struct Cluster {
    inventory: Inventory,
}

impl Cluster {
    fn new() -> Self {
        let mut inventory = Inventory::default();
        inventory.namespaces.insert("shop".into(), plain());
        Cluster { inventory }
    }

    fn namespace(mut self, name: &str, info: NamespaceInfo) -> Self {
        self.inventory.namespaces.insert(name.into(), info);
        self
    }

    fn add(mut self, object: Value) -> Self {
        let kind = WorkloadKind::from_api_version(
            object["apiVersion"].as_str().unwrap(),
            object["kind"].as_str().unwrap(),
        )
        .unwrap();
        self.inventory
            .objects
            .push(ClusterObject::from_value(kind, object).unwrap());
        self
    }

    fn audit_with(&self, options: &Options) -> Report {
        audit(&self.inventory, options, |_, _| true)
    }

    fn audit(&self) -> Report {
        self.audit_with(&Options::new(Settings::default(), Mode::Cluster))
    }
}

fn find<'a>(report: &'a Report, kind: &str, name: &str) -> &'a Item {
    report
        .items
        .iter()
        .find(|item| item.kind == kind && item.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {report:#?}"))
}

fn deployment_with_pods(pods: Vec<Value>) -> Cluster {
    let mut cluster = Cluster::new()
        .add(workload(
            "Deployment",
            "shop",
            "web",
            None,
            template(json!({}), "Always"),
        ))
        .add(workload(
            "ReplicaSet",
            "shop",
            "web-1",
            Some(owner("Deployment", "web")),
            template(json!({}), "Always"),
        ));
    for pod in pods {
        cluster = cluster.add(pod);
    }
    cluster
}

fn web_pod(name: &str) -> Value {
    pod("shop", name, Some(owner("ReplicaSet", "web-1")), json!({}))
}

#[test]
fn pods_admitted_by_the_webhook_are_protected() {
    let report = deployment_with_pods(vec![
        mutated(web_pod("web-1-a"), &plain()),
        mutated(web_pod("web-1-b"), &plain()),
    ])
    .audit();
    assert_eq!(
        report.items.len(),
        1,
        "the ReplicaSet folds into its Deployment"
    );
    let item = find(&report, "Deployment", "web");
    assert_eq!(item.state, State::Protected);
    assert_eq!(item.pods.total, 2);
    assert_eq!(item.pods.protected, 2);
    assert_eq!(item.fix, None);
    assert!(!report.has_findings());
}

#[test]
fn pods_the_webhook_never_saw_are_unprotected_with_the_fix() {
    let report = deployment_with_pods(vec![web_pod("web-1-a")]).audit();
    let item = find(&report, "Deployment", "web");
    assert_eq!(item.state, State::Unprotected);
    assert_eq!(
        item.fix.as_deref(),
        Some("kubectl rollout restart deployment/web -n shop")
    );
    assert!(report.has_findings());
}

#[test]
fn a_workload_whose_pods_disagree_is_the_worst_of_them() {
    let report = deployment_with_pods(vec![
        mutated(web_pod("web-1-a"), &plain()),
        web_pod("web-1-b"),
        mutated(web_pod("web-1-c"), &plain()),
    ])
    .audit();
    let item = find(&report, "Deployment", "web");
    assert_eq!(item.state, State::Unprotected);
    assert_eq!(
        (item.pods.total, item.pods.protected, item.pods.unprotected),
        (3, 2, 1)
    );
    assert!(item.reason.starts_with("1 of 3 pods"), "{}", item.reason);
}

#[test]
fn a_namespace_annotation_change_makes_older_pods_stale() {
    let old = plain();
    let cluster = deployment_with_pods(vec![mutated(web_pod("web-1-a"), &old)]);
    assert_eq!(
        find(&cluster.audit(), "Deployment", "web").state,
        State::Protected
    );

    // Then the namespace asks for a longer sleep: the pod keeps its old plan.
    let cluster = cluster.namespace(
        "shop",
        namespace(
            NamespaceInjection::Unlabelled,
            &[("lameduck.dev/sleep", "20")],
        ),
    );
    let report = cluster.audit();
    let item = find(&report, "Deployment", "web");
    assert_eq!(item.state, State::Stale);
    assert_eq!(item.pods.stale, 1);
    assert!(item.fix.is_some());
    assert!(report.has_findings());
}

#[test]
fn changed_server_settings_make_pods_stale_too() {
    let cluster = deployment_with_pods(vec![mutated(web_pod("web-1-a"), &plain())]);
    let mut options = Options::new(Settings::default(), Mode::Cluster);
    options.settings.default_sleep = 15;
    assert_eq!(
        find(&cluster.audit_with(&options), "Deployment", "web").state,
        State::Stale
    );
    // What `auto` means counts: pods admitted with native sleep are stale once the
    // server would write exec hooks.
    let mut options = Options::new(Settings::default(), Mode::Cluster);
    options.auto_action = HookAction::Exec;
    assert_eq!(
        find(&cluster.audit_with(&options), "Deployment", "web").state,
        State::Stale
    );
}

#[test]
fn opt_outs_by_pod_annotation_and_namespace_label() {
    let opted = pod(
        "shop",
        "solo",
        None,
        json!({"lameduck.dev/inject": "false"}),
    );
    let report = Cluster::new()
        .add(opted)
        .namespace("legacy", namespace(NamespaceInjection::Disabled, &[]))
        .add(pod("legacy", "old", None, json!({})))
        .audit();
    let solo = find(&report, "Pod", "solo");
    assert_eq!(solo.state, State::OptedOut);
    assert!(solo.reason.contains("pod annotation"), "{}", solo.reason);
    let old = find(&report, "Pod", "old");
    assert_eq!(old.state, State::OptedOut);
    assert!(old.reason.contains("=disabled"), "{}", old.reason);
    assert!(!report.has_findings());
}

#[test]
fn a_namespace_annotation_can_opt_out_too() {
    let report = Cluster::new()
        .namespace(
            "shop",
            namespace(
                NamespaceInjection::Unlabelled,
                &[("lameduck.dev/inject", "false")],
            ),
        )
        .add(pod("shop", "solo", None, json!({})))
        .audit();
    let solo = find(&report, "Pod", "solo");
    assert_eq!(solo.state, State::OptedOut);
    assert!(
        solo.reason.contains("namespace annotation"),
        "{}",
        solo.reason
    );
}

#[test]
fn batch_system_and_out_of_mode_are_not_applicable() {
    let job_pod = |name: &str, job: &str| {
        let mut pod = pod("shop", name, Some(owner("Job", job)), json!({}));
        pod["spec"]["restartPolicy"] = json!("Never");
        pod
    };
    let cluster = Cluster::new()
        .add(workload(
            "CronJob",
            "shop",
            "nightly",
            None,
            template(json!({}), "Never"),
        ))
        .add(workload(
            "Job",
            "shop",
            "nightly-1",
            Some(owner("CronJob", "nightly")),
            template(json!({}), "Never"),
        ))
        .add(job_pod("nightly-1-x", "nightly-1"))
        .add(workload(
            "Job",
            "shop",
            "migrate",
            None,
            template(json!({}), "OnFailure"),
        ))
        .namespace("kube-system", plain())
        .add(pod("kube-system", "etcd", None, json!({})))
        .namespace("other", plain())
        .add(pod("other", "stray", None, json!({})));
    let report = cluster.audit();
    let nightly = find(&report, "CronJob", "nightly");
    assert_eq!(nightly.state, State::NotApplicable);
    assert_eq!(
        nightly.pods.total, 1,
        "the Job's pod counts for its CronJob"
    );
    assert!(nightly.reason.contains("batch"), "{}", nightly.reason);
    assert_eq!(find(&report, "Job", "migrate").state, State::NotApplicable);
    assert!(report.items.iter().all(|item| item.name != "nightly-1"));
    assert_eq!(find(&report, "Pod", "etcd").state, State::NotApplicable);
    // In cluster mode an unlabelled namespace is injected; in namespace mode it is not.
    assert_eq!(find(&report, "Pod", "stray").state, State::Unprotected);
    let report = cluster.audit_with(&Options::new(Settings::default(), Mode::Namespace));
    let stray = find(&report, "Pod", "stray");
    assert_eq!(stray.state, State::NotApplicable);
    assert!(
        stray.reason.contains("--mode namespace"),
        "{}",
        stray.reason
    );
}

#[test]
fn opted_in_jobs_are_audited() {
    let opt_in = json!({"lameduck.dev/inject": "true"});
    let mut job_pod = pod("shop", "once-x", Some(owner("Job", "once")), opt_in.clone());
    job_pod["spec"]["restartPolicy"] = json!("Never");
    let report = Cluster::new()
        .add(workload(
            "Job",
            "shop",
            "once",
            None,
            template(opt_in, "Never"),
        ))
        .add(job_pod)
        .audit();
    let once = find(&report, "Job", "once");
    assert_eq!(once.state, State::Unprotected);
    assert!(once.fix.as_deref().unwrap_or("").contains("recreate"));
}

#[test]
fn bare_pods_and_foreign_controllers_are_their_own_items() {
    let report = Cluster::new()
        .add(pod("shop", "debug", None, json!({})))
        .add(pod(
            "shop",
            "canary-abc",
            Some(owner("ReplicaSet", "canary-1")),
            json!({}),
        ))
        .add(workload(
            "ReplicaSet",
            "shop",
            "canary-1",
            Some(owner("Rollout", "canary")),
            template(json!({}), "Always"),
        ))
        .audit();
    let bare = find(&report, "Pod", "debug");
    assert_eq!(bare.state, State::Unprotected);
    assert!(
        bare.fix
            .as_deref()
            .unwrap_or("")
            .starts_with("delete and recreate")
    );
    let rollout = find(&report, "Rollout", "canary");
    assert_eq!(rollout.state, State::Unprotected);
    assert_eq!(rollout.pods.total, 1);
    assert!(
        rollout
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("Rollout/canary")
    );
    assert_eq!(report.items.len(), 2);
}

#[test]
fn finished_and_terminating_pods_do_not_count() {
    let mut done = web_pod("web-1-done");
    done["status"]["phase"] = json!("Succeeded");
    let mut going = web_pod("web-1-going");
    going["metadata"]["deletionTimestamp"] = json!("2026-12-03T10:00:00Z");
    let report =
        deployment_with_pods(vec![mutated(web_pod("web-1-a"), &plain()), done, going]).audit();
    let item = find(&report, "Deployment", "web");
    assert_eq!(item.state, State::Protected);
    assert_eq!(item.pods.total, 1);
}

#[test]
fn a_workload_without_pods_is_judged_by_its_template() {
    let report = Cluster::new()
        .add(workload(
            "Deployment",
            "shop",
            "idle",
            None,
            template(json!({}), "Always"),
        ))
        .add(workload(
            "StatefulSet",
            "shop",
            "off",
            None,
            template(json!({"lameduck.dev/inject": "false"}), "Always"),
        ))
        .audit();
    let idle = find(&report, "Deployment", "idle");
    assert_eq!(idle.state, State::Protected);
    assert_eq!(idle.pods.total, 0);
    assert_eq!(find(&report, "StatefulSet", "off").state, State::OptedOut);

    // With `--targets all`, a template without lameduck's record is unprotected.
    let cluster = Cluster::new().add(workload(
        "Deployment",
        "shop",
        "idle",
        None,
        template(json!({}), "Always"),
    ));
    let mut options = Options::new(Settings::default(), Mode::Cluster);
    options.targets = Targets::All;
    let item = find(&cluster.audit_with(&options), "Deployment", "idle").clone();
    assert_eq!(item.state, State::Unprotected);
    assert!(item.reason.contains("template"), "{}", item.reason);
}

#[test]
fn a_stale_template_record_counts_even_for_pods_only_targets() {
    // A template mutated under the defaults, then the namespace changed.
    let mut deployment = workload(
        "Deployment",
        "shop",
        "web",
        None,
        template(json!({}), "Always"),
    );
    let found = WorkloadKind::Deployment
        .read_template(&deployment)
        .unwrap()
        .unwrap();
    let injection = inject::inject(
        WorkloadKind::Deployment,
        &found,
        &Environment::default(),
        &Settings::default(),
    );
    json_patch::patch(&mut deployment, &injection.patch).unwrap();
    let protected_pod = mutated(
        pod("shop", "web-x", Some(owner("Deployment", "web")), json!({})),
        &namespace(
            NamespaceInjection::Unlabelled,
            &[("lameduck.dev/sleep", "20")],
        ),
    );
    let report = Cluster::new()
        .namespace(
            "shop",
            namespace(
                NamespaceInjection::Unlabelled,
                &[("lameduck.dev/sleep", "20")],
            ),
        )
        .add(deployment)
        .add(protected_pod)
        .audit();
    let item = find(&report, "Deployment", "web");
    assert_eq!(item.pods.protected, 1);
    assert_eq!(item.state, State::Stale);
    assert!(item.reason.contains("template"), "{}", item.reason);
}

#[test]
fn json_has_the_documented_shape() {
    let report = deployment_with_pods(vec![web_pod("web-1-a")]).audit();
    let json = serde_json::to_value(JsonReport::new(&report)).unwrap();
    assert_eq!(json["version"], 1);
    let item = &json["items"][0];
    assert_eq!(item["namespace"], "shop");
    assert_eq!(item["kind"], "Deployment");
    assert_eq!(item["name"], "web");
    assert_eq!(item["state"], "unprotected");
    assert_eq!(
        item["pods"],
        json!({"total": 1, "protected": 0, "stale": 0, "unprotected": 1, "optedOut": 0, "notApplicable": 0})
    );
    assert!(item["reason"].as_str().is_some());
    assert_eq!(
        item["fix"],
        "kubectl rollout restart deployment/web -n shop"
    );
}

#[test]
fn text_groups_by_namespace_and_prints_fixes() {
    let report = deployment_with_pods(vec![web_pod("web-1-a")])
        .namespace("blog", plain())
        .add(mutated(pod("blog", "static", None, json!({})), &plain()))
        .audit();
    let text = render_text(&report);
    let blog = text.find("namespace blog").unwrap();
    let shop = text.find("namespace shop").unwrap();
    assert!(blog < shop, "{text}");
    assert!(
        text.contains("fix: kubectl rollout restart deployment/web -n shop"),
        "{text}"
    );
    assert!(
        text.contains("2 workloads in 2 namespaces: 1 unprotected, 0 stale, 1 protected"),
        "{text}"
    );
    assert_eq!(render_text(&Report::default()), "No workloads in scope.\n");
}

#[test]
fn the_default_scope_is_what_the_webhook_injects() {
    let cluster = Cluster::new()
        .add(pod("shop", "a", None, json!({})))
        .namespace("kube-system", plain())
        .add(pod("kube-system", "b", None, json!({})))
        .namespace("legacy", namespace(NamespaceInjection::Disabled, &[]))
        .add(pod("legacy", "c", None, json!({})));
    let options = Options::new(Settings::default(), Mode::Cluster);
    let report = audit(&cluster.inventory, &options, |_, scope| {
        scope == NamespaceScope::Injected
    });
    let names: Vec<&str> = report.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["a"]);
}

/// Issue 21: a Knative revision pod the webhook never saw is protected by its own
/// design (queue-proxy coordinates the shutdown), not unprotected.
#[test]
fn choreographed_pods_are_protected_by_their_own_design() {
    let mut knative = web_pod("web-1-a");
    knative["spec"]["terminationGracePeriodSeconds"] = json!(300);
    knative["spec"]["containers"] = json!([
        {"name": "user-container", "image": "ghcr.io/knative/helloworld-go",
         "ports": [{"containerPort": 8080, "name": "user-port"}],
         "lifecycle": {"preStop": {"httpGet": {"path": "/wait-for-drain", "port": 8022}}}},
        {"name": "queue-proxy",
         "image": "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:65c4",
         "ports": [{"containerPort": 8022, "name": "http-queueadm"}]}
    ]);
    let report = deployment_with_pods(vec![knative]).audit();
    let item = find(&report, "Deployment", "web");
    assert_eq!(item.state, State::Protected, "{item:?}");
    assert_eq!(
        item.reason,
        "the pod carries the current plan; its own hooks choreograph the shutdown \
         (user-container's preStop waits on queue-proxy), left as they are"
    );
    assert!(!report.has_findings());
}

#[test]
fn pods_that_carry_the_waiter_are_protected_and_stale_when_wait_cannot_run() {
    let mut settings = Settings::default();
    settings.wait.container.image = Some("localhost/lameduck:e2e".into());
    let waiting = pod(
        "shop",
        "web-1-a",
        Some(owner("ReplicaSet", "web-1")),
        json!({"lameduck.dev/action": "wait"}),
    );
    let template = WorkloadKind::Pod
        .read_template(&waiting)
        .unwrap()
        .unwrap_or_default();
    let injection = inject::inject(
        WorkloadKind::Pod,
        &template,
        &Environment::default(),
        &settings,
    );
    let mut admitted = waiting.clone();
    json_patch::patch(&mut admitted, &injection.patch).unwrap();
    assert_eq!(admitted["spec"]["containers"][1]["name"], "lameduck-waiter");
    // What the API server adds to the waiter when it stores the pod changes nothing.
    admitted["spec"]["containers"][1]["ports"] = json!([]);
    let cluster = deployment_with_pods(vec![admitted]);
    let options = Options::new(settings.clone(), Mode::Cluster);
    assert_eq!(
        find(&cluster.audit_with(&options), "Deployment", "web").state,
        State::Protected
    );
    // A regular waiter needs no native sidecars: an old kubelet changes nothing.
    let mut old = Options::new(settings.clone(), Mode::Cluster);
    old.wait_unavailable = Some("kubelet v1.28.9 on node b runs no native sidecars".into());
    assert_eq!(
        find(&cluster.audit_with(&old), "Deployment", "web").state,
        State::Protected
    );
    // A server without a waiter image would write the fixed sleep.
    let mut no_image = settings;
    no_image.wait.container.image = None;
    assert_eq!(
        find(
            &cluster.audit_with(&Options::new(no_image, Mode::Cluster)),
            "Deployment",
            "web"
        )
        .state,
        State::Stale
    );
}
