//! Cluster awareness against a fake API server on loopback: namespace defaults and
//! labels reaching reviews, watch updates, version-safe action choice, and losing the
//! API server mid-run. The kube client connects through a real kubeconfig file.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use lameduck::cluster::{ClusterOptions, ClusterState};
use lameduck::metrics::Metrics;
use lameduck::plan::{HookAction, Settings};
use lameduck::scope::Mode;
use lameduck::scope::NamespaceInjection;
use lameduck::webhook::{Outcome, Webhook};

use support::ReviewBody;
use support::fake_apiserver::{FakeApiServer, fixture};

/// Everything the tests wait for happens within milliseconds; this only bounds a failure.
const WAIT: Duration = Duration::from_secs(20);

/// Short intervals and small pages, so paging and re-reads happen within a test.
fn fast() -> ClusterOptions {
    ClusterOptions {
        node_page_size: 2,
        namespace_page_size: 2,
        version_interval: Duration::from_millis(100),
        version_retry: Duration::from_millis(100),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        initial_sync_timeout: WAIT,
    }
}

/// Polls `condition` until it holds; panics with `what` after [`WAIT`].
async fn wait_for(what: &str, condition: impl FnMut() -> bool) {
    support::wait_until(what, WAIT, condition).await
}

struct Harness {
    server: FakeApiServer,
    cluster: Arc<ClusterState>,
    metrics: Arc<Metrics>,
    _dir: TempDir,
}

async fn harness(version: &str, nodes: &str) -> Harness {
    support::install_crypto();
    let server =
        FakeApiServer::start(fixture(version), fixture("namespaces.json"), fixture(nodes)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (client, _) = server.client(dir.path()).await;
    let cluster = lameduck::cluster::start_with_client(client, fast()).await;
    let metrics = Arc::new(Metrics::new(cluster.clone()));
    Harness {
        server,
        cluster,
        metrics,
        _dir: dir,
    }
}

fn webhook(harness: &Harness, mode: Mode) -> Webhook {
    Webhook::new(Settings::default(), mode, harness.cluster.clone())
}

/// What a review did to a one-container pod in `namespace`.
#[derive(Debug)]
struct Reviewed {
    outcome: Outcome,
    /// The pod after applying the returned patch (unchanged when there is none).
    pod: Value,
    warnings: Vec<String>,
}

impl Reviewed {
    fn grace(&self) -> Option<i64> {
        self.pod["spec"]["terminationGracePeriodSeconds"].as_i64()
    }

    fn pre_stop(&self) -> &Value {
        &self.pod["spec"]["containers"][0]["lifecycle"]["preStop"]
    }

    /// The injected delay, whichever action carries it.
    fn sleep(&self) -> Option<(HookAction, u64)> {
        let hook = self.pre_stop();
        if let Some(seconds) = hook["sleep"]["seconds"].as_u64() {
            return Some((HookAction::Sleep, seconds));
        }
        let command = hook["exec"]["command"].as_array()?;
        let seconds = command.get(1)?.as_str()?.parse().ok()?;
        Some((HookAction::Exec, seconds))
    }
}

fn review(webhook: &Webhook, namespace: &str) -> Reviewed {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": "registry.example/shop/app:1.4.2"}]}
    });
    let bytes = ReviewBody::create(pod.clone())
        .uid("2f6b1b2a-5a4e-4b8e-9d1c-0c6f3f1e7a10")
        .to_vec();
    let reviewed = webhook
        .review(&bytes)
        .unwrap_or_else(|e| panic!("review failed: {e}"));
    let answer: Value =
        serde_json::from_slice(&reviewed.body).unwrap_or_else(|e| panic!("answer: {e}"));
    let response = &answer["response"];
    assert_eq!(response["allowed"], true);
    let mut patched = pod.clone();
    if let Some(patch) = support::patch_of(&answer) {
        json_patch::patch(&mut patched, &patch).unwrap_or_else(|e| panic!("patch apply: {e}"));
    }
    let warnings = response["warnings"]
        .as_array()
        .map(|warnings| {
            warnings
                .iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Reviewed {
        outcome: reviewed.outcome,
        pod: patched,
        warnings,
    }
}

fn namespace_default(cluster: &ClusterState, namespace: &str, key: &str) -> Option<String> {
    cluster
        .namespace(namespace)
        .and_then(|info| info.defaults.get(key).cloned())
}

#[tokio::test]
async fn namespace_annotation_defaults_reach_the_plan() {
    let h = harness("version-1.34.json", "nodes-1.34.json").await;
    assert!(
        h.cluster.namespaces_known(),
        "start waits for the first list"
    );
    let webhook = webhook(&h, Mode::Cluster);

    // shop: lameduck.dev/sleep=20s on the namespace; the pod says nothing.
    let shop = review(&webhook, "shop");
    assert_eq!(shop.outcome, Outcome::Mutated);
    assert_eq!(
        shop.sleep(),
        Some((HookAction::Sleep, 20)),
        "{:#}",
        shop.pod
    );
    assert_eq!(shop.grace(), Some(50));

    // default: no annotations, so the server's 10 s.
    let plain = review(&webhook, "default");
    assert_eq!(plain.sleep(), Some((HookAction::Sleep, 10)));
    assert_eq!(plain.grace(), Some(40));

    // Only lameduck keys are kept: not kubectl's last-applied-configuration.
    let info = h
        .cluster
        .namespace("shop")
        .unwrap_or_else(|| panic!("shop unknown"));
    assert_eq!(info.defaults.len(), 1, "{:?}", info.defaults);
    assert_eq!(info.injection, NamespaceInjection::Unlabelled);

    // The metadata watcher asked for PartialObjectMetadata and paged the list.
    let seen = h.server.seen();
    let lists: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/api/v1/namespaces" && !s.query.contains_key("watch"))
        .collect();
    assert!(lists.len() >= 3, "5 namespaces in pages of 2: {lists:?}");
    assert!(
        lists
            .iter()
            .all(|s| s.accept.contains("as=PartialObjectMetadataList")),
        "{lists:?}"
    );
}

#[tokio::test]
async fn namespace_labels_decide_where_to_inject() {
    let h = harness("version-1.34.json", "nodes-1.34.json").await;

    let cluster_mode = webhook(&h, Mode::Cluster);
    // legacy: lameduck.dev/inject=disabled (its sleep annotation must not matter).
    let legacy = review(&cluster_mode, "legacy");
    assert_eq!(legacy.outcome, Outcome::Skipped);
    assert_eq!(legacy.pre_stop(), &Value::Null);
    assert_eq!(legacy.grace(), None);
    assert_eq!(
        review(&cluster_mode, "kube-system").outcome,
        Outcome::Skipped
    );
    assert_eq!(review(&cluster_mode, "default").outcome, Outcome::Mutated);
    // A namespace the watch has not seen yet: the webhook configuration's selector decides.
    assert_eq!(review(&cluster_mode, "brand-new").outcome, Outcome::Mutated);

    let namespace_mode = webhook(&h, Mode::Namespace);
    assert_eq!(review(&namespace_mode, "default").outcome, Outcome::Skipped);
    assert_eq!(review(&namespace_mode, "legacy").outcome, Outcome::Skipped);
    let staging = review(&namespace_mode, "staging");
    assert_eq!(staging.outcome, Outcome::Mutated);
    // staging's stagger=7s does not change a single app container's timeline.
    assert_eq!(staging.sleep(), Some((HookAction::Sleep, 10)));
}

#[tokio::test]
async fn watch_events_change_defaults_and_labels() {
    let h = harness("version-1.34.json", "nodes-1.34.json").await;
    let webhook = webhook(&h, Mode::Cluster);
    assert_eq!(
        review(&webhook, "shop").sleep(),
        Some((HookAction::Sleep, 20))
    );

    // MODIFIED: the namespace's default sleep changes.
    let mut shop = h
        .server
        .namespace("shop")
        .unwrap_or_else(|| panic!("no shop"));
    shop["metadata"]["annotations"]["lameduck.dev/sleep"] = json!("25");
    h.server.put_namespace(shop);
    wait_for("shop's sleep 25", || {
        namespace_default(&h.cluster, "shop", "lameduck.dev/sleep").as_deref() == Some("25")
    })
    .await;
    let shop = review(&webhook, "shop");
    assert_eq!(shop.sleep(), Some((HookAction::Sleep, 25)));
    assert_eq!(shop.grace(), Some(55));

    // MODIFIED: the label flips to disabled.
    let mut default = h
        .server
        .namespace("default")
        .unwrap_or_else(|| panic!("no default"));
    default["metadata"]["labels"]["lameduck.dev/inject"] = json!("disabled");
    h.server.put_namespace(default);
    wait_for("default disabled", || {
        h.cluster
            .namespace("default")
            .is_some_and(|info| info.injection == NamespaceInjection::Disabled)
    })
    .await;
    assert_eq!(review(&webhook, "default").outcome, Outcome::Skipped);

    // ADDED and DELETED.
    h.server.put_namespace(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "payments", "annotations": {"lameduck.dev/sleep": "1m"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    }));
    wait_for("payments added", || {
        h.cluster.namespace("payments").is_some()
    })
    .await;
    assert_eq!(
        review(&webhook, "payments").sleep(),
        Some((HookAction::Sleep, 60))
    );
    h.server.delete_namespace("legacy");
    wait_for("legacy deleted", || h.cluster.namespace("legacy").is_none()).await;

    // The watch carried PartialObjectMetadata and resumed from the list's version.
    let watches: Vec<_> = h
        .server
        .seen()
        .into_iter()
        .filter(|s| s.query.contains_key("watch"))
        .collect();
    assert!(!watches.is_empty());
    assert!(
        watches
            .iter()
            .all(|s| s.accept.contains("as=PartialObjectMetadata"))
    );
    assert!(
        watches
            .iter()
            .all(|s| s.query.contains_key("resourceVersion"))
    );
}

fn hook_action_metric(metrics: &Metrics, action: &str) -> Option<String> {
    let text = metrics.encode();
    let prefix = format!("lameduck_hook_action{{action=\"{action}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_string))
}

#[tokio::test]
async fn server_1_29_means_exec() {
    let h = harness("version-1.29.json", "nodes-1.29.json").await;
    let choice = h.cluster.action();
    assert_eq!(choice.action, HookAction::Exec, "{}", choice.reason);
    assert!(
        choice.reason.contains("API server v1.29.10"),
        "{}",
        choice.reason
    );
    assert_eq!(hook_action_metric(&h.metrics, "exec").as_deref(), Some("1"));
    assert_eq!(
        hook_action_metric(&h.metrics, "sleep").as_deref(),
        Some("0")
    );

    // Reviews use exec and say why images without `sleep` will not wait.
    let shop = review(&webhook(&h, Mode::Cluster), "shop");
    assert_eq!(shop.sleep(), Some((HookAction::Exec, 20)));
    assert!(
        shop.warnings
            .iter()
            .any(|w| w.contains("exec") && w.contains("v1.29")),
        "{:?}",
        shop.warnings
    );
}

#[tokio::test]
async fn old_kubelet_under_new_server_means_exec() {
    let h = harness("version-1.33.json", "nodes-1.33-with-1.28.json").await;
    let choice = h.cluster.action();
    assert_eq!(choice.action, HookAction::Exec, "{}", choice.reason);
    assert!(
        choice.reason.contains("v1.28.15")
            && choice
                .reason
                .contains("ip-10-0-2-41.eu-west-1.compute.internal"),
        "{}",
        choice.reason
    );
    // Three nodes in pages of two: the list was paged with limit and continue.
    let nodes: Vec<_> = h
        .server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/v1/nodes")
        .collect();
    assert!(
        nodes
            .iter()
            .all(|s| s.query.get("limit").map(String::as_str) == Some("2"))
    );
    assert!(
        nodes.iter().any(|s| s.query.contains_key("continue")),
        "{nodes:?}"
    );
}

#[tokio::test]
async fn new_everywhere_means_sleep_and_upgrades_are_noticed() {
    let h = harness("version-1.34.json", "nodes-1.34.json").await;
    let choice = h.cluster.action();
    assert_eq!(choice.action, HookAction::Sleep, "{}", choice.reason);
    assert!(choice.reason.contains("5 nodes"), "{}", choice.reason);
    assert_eq!(
        hook_action_metric(&h.metrics, "sleep").as_deref(),
        Some("1")
    );
    let shop = review(&webhook(&h, Mode::Cluster), "shop");
    assert!(
        shop.warnings.iter().all(|w| !w.contains("exec")),
        "{:?}",
        shop.warnings
    );

    // An old node pool joins: the next periodic read switches to exec.
    h.server.set_nodes(fixture("nodes-1.33-with-1.28.json"));
    wait_for("exec after an old kubelet joined", || {
        h.cluster.action().action == HookAction::Exec
    })
    .await;
    assert_eq!(hook_action_metric(&h.metrics, "exec").as_deref(), Some("1"));

    // No nodes at all: the server version alone decides, and the reason says so.
    h.server.set_nodes(json!({"kind": "NodeList", "items": []}));
    wait_for("sleep with no nodes", || {
        h.cluster.action().action == HookAction::Sleep
    })
    .await;
    assert!(h.cluster.action().reason.contains("no nodes"));
}

#[tokio::test]
async fn losing_the_api_server_keeps_the_last_state() {
    let mut h = harness("version-1.29.json", "nodes-1.29.json").await;
    let webhook = webhook(&h, Mode::Cluster);
    assert!(h.cluster.api_reachable());
    let before = review(&webhook, "shop");
    assert_eq!(before.sleep(), Some((HookAction::Exec, 20)));

    h.server.stop();
    wait_for("the loss to be noticed", || !h.cluster.api_reachable()).await;
    // Several failed reads later, nothing was forgotten.
    let failures_seen = h.server.seen().len();
    let during = review(&webhook, "shop");
    assert_eq!(during.sleep(), before.sleep());
    assert_eq!(during.grace(), before.grace());
    assert_eq!(h.cluster.action().action, HookAction::Exec);
    assert_eq!(review(&webhook, "legacy").outcome, Outcome::Skipped);
    assert!(h.cluster.namespaces_known());
    assert_eq!(
        h.server.seen().len(),
        failures_seen,
        "the server really is gone"
    );

    // Meanwhile the cluster changed; when the API server returns, the watch resumes.
    let mut shop = h
        .server
        .namespace("shop")
        .unwrap_or_else(|| panic!("no shop"));
    shop["metadata"]["annotations"]["lameduck.dev/sleep"] = json!("35");
    h.server.put_namespace(shop);
    h.server.set_version(fixture("version-1.34.json"));
    h.server.set_nodes(fixture("nodes-1.34.json"));
    h.server.restart().await;
    wait_for("shop's sleep 35 after reconnecting", || {
        namespace_default(&h.cluster, "shop", "lameduck.dev/sleep").as_deref() == Some("35")
    })
    .await;
    wait_for("sleep after the upgrade", || {
        h.cluster.action().action == HookAction::Sleep
    })
    .await;
    assert!(h.cluster.api_reachable());
    assert_eq!(
        review(&webhook, "shop").sleep(),
        Some((HookAction::Sleep, 35))
    );
}

#[tokio::test]
async fn kube_off_is_standalone() {
    let connected = lameduck::cluster::Connection::standalone("--kube off");
    let cluster = connected.state();
    connected.watch(Default::default()).await;
    let metrics = Arc::new(Metrics::new(cluster.clone()));
    assert!(!cluster.namespaces_known());
    assert!(!cluster.api_reachable());
    assert_eq!(cluster.namespace("default"), None);
    assert_eq!(cluster.action().action, HookAction::Sleep);
    assert_eq!(hook_action_metric(&metrics, "sleep").as_deref(), Some("1"));
}
