//! `lameduck audit` against the stand-in API server: pods admitted through the webhook's
//! own review path (or not at all, as when the webhook was unreachable), then audited
//! through a real kubeconfig, in pages.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use serde_json::{Value, json};
use tempfile::TempDir;

use lameduck::audit::{Item, Report, State};
use lameduck::cli::AuditArgs;
use lameduck::cluster::ClusterState;
use lameduck::cluster::namespaces::info_of;
use lameduck::plan::Settings;
use lameduck::scope::Mode;
use lameduck::webhook::Webhook;

use support::fake_apiserver::{FakeApiServer, fixture};
use support::{ReviewBody, patch_of};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    audit: AuditArgs,
}

fn namespace(name: &str, labels: Value, annotations: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
    })
}

struct Harness {
    server: FakeApiServer,
    client: kube::Client,
    kubeconfig: PathBuf,
    _dir: TempDir,
}

async fn harness() -> Harness {
    support::install_crypto();
    let namespaces = json!({"items": [
        namespace("shop", json!({}), json!({})),
        namespace("legacy", json!({"lameduck.dev/inject": "disabled"}), json!({})),
        namespace("kube-system", json!({}), json!({})),
    ]});
    // Kubernetes 1.34 everywhere: `auto` means the native sleep action, as the
    // standalone webhook below assumes.
    let server = FakeApiServer::start(
        fixture("version-1.34.json"),
        namespaces,
        fixture("nodes-1.34.json"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (client, kubeconfig) = server.client(dir.path()).await;
    Harness {
        server,
        client,
        kubeconfig,
        _dir: dir,
    }
}

impl Harness {
    /// A pod as the API server stores it after the webhook's review, with the namespace
    /// as it is in the stand-in server right now.
    fn admit(&self, pod: Value) -> Value {
        let namespace = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let state = ClusterState::standalone();
        if let Some(object) = self.server.namespace(&namespace) {
            let meta = serde_json::from_value(object["metadata"].clone())
                .unwrap_or_else(|e| panic!("namespace metadata: {e}"));
            state.set_namespaces(BTreeMap::from([(namespace, Arc::new(info_of(&meta)))]));
        }
        let webhook = Webhook::new(Settings::default(), Mode::Cluster, Arc::new(state));
        // The webhook reads the namespace from the request, as the API server sends it.
        let body = ReviewBody::create(pod.clone()).to_vec();
        let reviewed = webhook
            .review(&body)
            .unwrap_or_else(|e| panic!("review: {e}"));
        let answer: Value = serde_json::from_slice(&reviewed.body).unwrap_or_default();
        let mut stored = pod;
        if let Some(patch) = patch_of(&answer) {
            json_patch::patch(&mut stored, &patch).unwrap_or_else(|e| panic!("patch: {e}"));
        }
        stored
    }

    fn put(&self, resource: &str, object: Value) {
        self.server.put_object(resource, object);
    }

    async fn audit(&self, args: &[&str]) -> Report {
        let argv = std::iter::once("audit").chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("arguments: {e}"));
        cli.audit
            .report(&self.client)
            .await
            .unwrap_or_else(|e| panic!("audit: {e}"))
    }
}

fn owner(kind: &str, name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true})
}

fn pod(namespace: &str, name: &str, owner: Option<Value>) -> Value {
    let mut metadata = json!({"name": name, "namespace": namespace, "uid": format!("uid-{name}")});
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
            "containers": [
                {"name": "nginx", "image": "nginx:1.27"},
                {"name": "app", "image": "registry.example/shop/app:1.4.2"}
            ]
        },
        "status": {"phase": "Running"}
    })
}

fn workload(kind: &str, namespace: &str, name: &str, owner: Option<Value>, restart: &str) -> Value {
    let api_version = match kind {
        "Job" | "CronJob" => "batch/v1",
        _ => "apps/v1",
    };
    let template = json!({
        "metadata": {"labels": {"app": name}},
        "spec": {"restartPolicy": restart, "containers": [{"name": "app", "image": "app:1"}]}
    });
    let spec = if kind == "CronJob" {
        json!({"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}})
    } else {
        json!({"template": template})
    };
    let mut metadata = json!({"name": name, "namespace": namespace, "uid": format!("uid-{name}")});
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([owner]);
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
}

/// A Deployment `name` with one ReplicaSet and no pods yet.
fn deployment(h: &Harness, namespace: &str, name: &str) {
    h.put(
        "deployments",
        workload("Deployment", namespace, name, None, "Always"),
    );
    h.put(
        "replicasets",
        workload(
            "ReplicaSet",
            namespace,
            &format!("{name}-1"),
            Some(owner("Deployment", name)),
            "Always",
        ),
    );
}

fn replica(namespace: &str, deployment: &str, index: usize) -> Value {
    pod(
        namespace,
        &format!("{deployment}-1-{index}"),
        Some(owner("ReplicaSet", &format!("{deployment}-1"))),
    )
}

fn find<'a>(report: &'a Report, kind: &str, name: &str) -> &'a Item {
    report
        .items
        .iter()
        .find(|item| item.kind == kind && item.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {report:#?}"))
}

#[tokio::test]
async fn pods_that_disagree_make_their_workload_unprotected_across_pages() {
    let h = harness().await;
    deployment(&h, "shop", "web");
    h.put("pods", h.admit(replica("shop", "web", 1)));
    // Created while the webhook was unreachable: stored as submitted.
    h.put("pods", replica("shop", "web", 2));
    h.put("pods", h.admit(replica("shop", "web", 3)));
    deployment(&h, "shop", "api");
    for index in 1..=3 {
        h.put("pods", h.admit(replica("shop", "api", index)));
    }
    // A bare pod, never seen by the webhook.
    h.put("pods", pod("shop", "debug", None));

    let report = h.audit(&["--page-size", "2"]).await;
    let web = find(&report, "Deployment", "web");
    assert_eq!(web.state, State::Unprotected);
    assert_eq!(
        (web.pods.total, web.pods.protected, web.pods.unprotected),
        (3, 2, 1)
    );
    assert_eq!(
        web.fix.as_deref(),
        Some("kubectl rollout restart deployment/web -n shop")
    );
    let api = find(&report, "Deployment", "api");
    assert_eq!(api.state, State::Protected);
    assert_eq!(api.pods.total, 3, "every page of pods was read");
    let debug = find(&report, "Pod", "debug");
    assert_eq!(debug.state, State::Unprotected);
    assert!(
        debug
            .fix
            .as_deref()
            .unwrap_or("")
            .starts_with("delete and recreate")
    );
    assert_eq!(
        report.items.len(),
        3,
        "ReplicaSets fold into their Deployments"
    );

    // Seven pods in pages of two: the continue token was followed to the end.
    let pod_pages: Vec<_> = h
        .server
        .seen()
        .into_iter()
        .filter(|seen| seen.path == "/api/v1/pods")
        .collect();
    assert_eq!(pod_pages.len(), 4, "{pod_pages:?}");
    assert!(
        pod_pages
            .iter()
            .all(|seen| seen.query.get("limit").map(String::as_str) == Some("2"))
    );
    assert!(
        pod_pages[1..]
            .iter()
            .all(|seen| seen.query.contains_key("continue"))
    );
}

#[tokio::test]
async fn a_namespace_annotation_change_makes_older_pods_stale_until_restarted() {
    let h = harness().await;
    deployment(&h, "shop", "web");
    h.put("pods", h.admit(replica("shop", "web", 1)));
    assert_eq!(
        find(&h.audit(&[]).await, "Deployment", "web").state,
        State::Protected
    );

    h.server.put_namespace(namespace(
        "shop",
        json!({}),
        json!({"lameduck.dev/sleep": "20s"}),
    ));
    let report = h.audit(&[]).await;
    let web = find(&report, "Deployment", "web");
    assert_eq!(web.state, State::Stale);
    assert!(
        web.reason.contains("other settings or annotations"),
        "{}",
        web.reason
    );
    assert!(report.has_findings());

    // `kubectl rollout restart`: the old pod goes, a new one is admitted.
    h.server.delete_object("pods", "shop", "web-1-1");
    h.put("pods", h.admit(replica("shop", "web", 2)));
    let web = find(&h.audit(&[]).await, "Deployment", "web").clone();
    assert_eq!(web.state, State::Protected);
    assert_eq!(web.pods.total, 1);
}

#[tokio::test]
async fn opted_out_batch_and_excluded_namespaces() {
    let h = harness().await;
    let mut opted = pod("shop", "opted", None);
    opted["metadata"]["annotations"] = json!({"lameduck.dev/inject": "false"});
    h.put("pods", h.admit(opted));
    h.put(
        "cronjobs",
        workload("CronJob", "shop", "nightly", None, "Never"),
    );
    h.put(
        "jobs",
        workload(
            "Job",
            "shop",
            "nightly-1",
            Some(owner("CronJob", "nightly")),
            "Never",
        ),
    );
    let mut job_pod = pod("shop", "nightly-1-x", Some(owner("Job", "nightly-1")));
    job_pod["spec"]["restartPolicy"] = json!("Never");
    h.put("pods", h.admit(job_pod));
    h.put("pods", pod("legacy", "old", None));
    h.put("pods", pod("kube-system", "etcd", None));

    // Default scope: only what the webhook injects.
    let report = h.audit(&[]).await;
    assert_eq!(find(&report, "Pod", "opted").state, State::OptedOut);
    let nightly = find(&report, "CronJob", "nightly");
    assert_eq!(nightly.state, State::NotApplicable);
    assert_eq!(nightly.pods.total, 1);
    assert!(
        report.items.iter().all(|item| item.namespace == "shop"),
        "{report:#?}"
    );
    assert!(!report.has_findings());

    // -A shows the rest, each with why it is not planned.
    let report = h.audit(&["-A"]).await;
    let old = find(&report, "Pod", "old");
    assert_eq!(old.state, State::OptedOut);
    assert!(old.reason.contains("disabled"), "{}", old.reason);
    assert_eq!(find(&report, "Pod", "etcd").state, State::NotApplicable);

    // -n reads one namespace through namespaced paths.
    let report = h.audit(&["-n", "legacy"]).await;
    assert_eq!(report.items.len(), 1);
    assert_eq!(report.items[0].name, "old");
    let seen = h.server.seen();
    assert!(seen.iter().any(|s| s.path == "/api/v1/namespaces/legacy"));
    assert!(
        seen.iter()
            .any(|s| s.path == "/apis/apps/v1/namespaces/legacy/deployments")
    );

    // --mode namespace: nothing here is labelled enabled, so nothing is in scope.
    let report = h.audit(&["--mode", "namespace"]).await;
    assert!(report.items.is_empty(), "{report:#?}");
}

/// The binary, as CI runs it: JSON on stdout, and exit 2 with `--strict` on a finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_json_and_fails_strict_on_findings() {
    let h = harness().await;
    deployment(&h, "shop", "web");
    h.put("pods", replica("shop", "web", 1));
    let kubeconfig = h.kubeconfig.clone();
    let run = move |extra: &'static [&'static str]| {
        let kubeconfig = kubeconfig.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_lameduck"))
                .arg("audit")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(extra)
                .env_remove("KUBECONFIG")
                .output()
                .unwrap_or_else(|e| panic!("running lameduck: {e}"))
        })
    };

    let output = run(&["--output", "json", "--strict"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(json["version"], 1);
    assert_eq!(json["items"][0]["state"], "unprotected");
    assert_eq!(json["items"][0]["pods"]["total"], 1);

    let output = run(&[]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "without --strict, findings exit 0"
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("namespace shop"), "{text}");
    assert!(
        text.contains("fix: kubectl rollout restart deployment/web -n shop"),
        "{text}"
    );
}
