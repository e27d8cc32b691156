//! What the cluster tells the webhook: each namespace's lameduck annotations and label,
//! and which hook action `auto` means. The rest of the program sees plain data; all
//! Kubernetes API access lives below this module.

pub mod inventory;
pub mod namespaces;
pub(crate) mod versions;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::plan::HookAction;
use crate::plan::annotations::Annotations;
use crate::scope::NamespaceInjection;

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
    /// Why the `wait` action cannot run here (no native sidecars); `None` when it can.
    pub wait_unavailable: Option<String>,
}

impl ActionChoice {
    pub fn standalone() -> Self {
        ActionChoice {
            action: HookAction::Sleep,
            reason: "no cluster: native sleep assumed (Kubernetes 1.30+)".into(),
            wait_unavailable: None,
        }
    }
}

/// How far the webhook's namespace map can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceSync {
    /// Watched, and the API server answered last time.
    Watched,
    /// The last known map: the API server is unreachable.
    LastKnown,
    /// No cluster, or not synced yet: the webhook configuration's selector decides.
    Unknown,
}

/// The cluster as the webhook sees it. Cheap to read on every review: plain loads.
#[derive(Debug)]
pub struct ClusterState {
    /// `None` without a cluster: namespaces are then unknown, not unlabelled.
    namespaces: ArcSwap<Option<BTreeMap<String, Arc<NamespaceInfo>>>>,
    action: ArcSwap<ActionChoice>,
    /// Whether the last call to the API server worked; false when standalone.
    api_reachable: AtomicBool,
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
            api_reachable: AtomicBool::new(false),
        }
    }

    /// Connected to a cluster, before anything was read: namespaces unknown, and `exec`
    /// for `auto` because it works on every version.
    fn connecting() -> Self {
        ClusterState {
            namespaces: ArcSwap::from_pointee(None),
            action: ArcSwap::from_pointee(versions::unknown()),
            api_reachable: AtomicBool::new(false),
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

    /// The whole published map (for the namespace watcher, which copies it on change).
    pub fn namespaces_snapshot(&self) -> Arc<Option<BTreeMap<String, Arc<NamespaceInfo>>>> {
        self.namespaces.load_full()
    }

    pub fn namespace_sync(&self) -> NamespaceSync {
        match (self.namespaces_known(), self.api_reachable()) {
            (true, true) => NamespaceSync::Watched,
            (true, false) => NamespaceSync::LastKnown,
            (false, _) => NamespaceSync::Unknown,
        }
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

    /// Whether the last call to the API server worked (false when standalone). What the
    /// webhook serves does not depend on it: the last known state is kept either way.
    pub fn api_reachable(&self) -> bool {
        self.api_reachable.load(Ordering::Relaxed)
    }

    fn set_api_reachable(&self, reachable: bool) {
        self.api_reachable.store(reachable, Ordering::Relaxed);
    }
}

/// What can go wrong talking to the API server. Never fatal: callers log and retry.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("API request failed")]
    Kube(#[from] kube::Error),
    #[error("building an API request")]
    Request(#[from] kube::core::request::Error),
    #[error("reading the Node list")]
    Decode(#[source] serde_json::Error),
    #[error("the API server reports a version that cannot be read: {0:?}")]
    ServerVersion(String),
    #[error("the API server kept answering the Node list with continue tokens")]
    Paging,
}

/// Timings and page sizes of the cluster watchers. The defaults suit production; tests
/// shorten them.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Nodes per list page. Full Node objects are large (status.images), so pages are
    /// kept smaller than the usual 500 to bound the body held in memory at once.
    pub node_page_size: u32,
    /// Namespaces per page of the watcher's (re-)list; metadata only, so the usual 500.
    pub namespace_page_size: u32,
    /// How often the server and kubelet versions are re-read. Kubelet upgrades roll node
    /// by node over many minutes, and `exec` is safe on every version, so a few minutes
    /// of lag costs nothing.
    pub version_interval: Duration,
    /// After a failed version read, when to try again.
    pub version_retry: Duration,
    /// The namespace watcher's backoff after errors: from `backoff_min`, doubling, up to
    /// `backoff_max`. It also spaces out the warnings.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long `start` waits for the first namespace list and version read, so the
    /// server does not answer its first reviews blind. After that it starts anyway.
    pub initial_sync_timeout: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            node_page_size: 100,
            namespace_page_size: 500,
            version_interval: Duration::from_secs(300),
            version_retry: Duration::from_secs(30),
            // The same shape as kube's DefaultBackoff (800 ms to 30 s).
            backoff_min: Duration::from_millis(800),
            backoff_max: Duration::from_secs(30),
            initial_sync_timeout: Duration::from_secs(10),
        }
    }
}

/// Exponential backoff for the namespace watcher.
///
/// The watcher emits `Event::Init` (a success, as far as `StreamBackoff` knows) before
/// every list attempt, and `StreamBackoff` resets the backoff on every success, so a
/// plain backoff (kube's `DefaultBackoff` included) would restart from `min` before each
/// retry and never grow while the API server is down. Here a reset only counts once the
/// stream has gone `quiet` (no error for four times `max`), so the delay grows to `max`
/// during an outage and starts small again after a stretch of healthy watching.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    quiet: Duration,
    last_error: Option<Instant>,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
            quiet: max.saturating_mul(4),
            last_error: None,
        }
    }

    fn next_at(&mut self, now: Instant) -> Duration {
        let current = self.next;
        self.next = current.saturating_mul(2).min(self.max);
        self.last_error = Some(now);
        current
    }

    fn reset_at(&mut self, now: Instant) {
        if self
            .last_error
            .is_none_or(|last| now.saturating_duration_since(last) > self.quiet)
        {
            self.next = self.min;
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_at(Instant::now()))
    }
}

impl kube::runtime::utils::Backoff for Backoff {
    fn reset(&mut self) {
        self.reset_at(Instant::now());
    }
}

/// A cluster to watch, or none: the state the webhook reads exists from the start, and
/// the watchers that fill it start later (`watch`), after the server has its ports.
pub struct Connection {
    state: Arc<ClusterState>,
    client: Option<kube::Client>,
}

impl Connection {
    /// No cluster: the webhook serves from its own settings. `why` goes to the log.
    pub fn standalone(why: &str) -> Self {
        tracing::info!("{why}: serving from the server's own settings (standalone)");
        Connection {
            state: Arc::new(ClusterState::standalone()),
            client: None,
        }
    }

    /// Finds the in-cluster configuration or a kubeconfig; calls no API. Never fails:
    /// without a cluster the state is standalone.
    pub async fn connect() -> Self {
        let config = match kube::Config::infer().await {
            Ok(config) => config,
            Err(error) => {
                tracing::debug!(%error, "no Kubernetes configuration");
                return Self::standalone("no in-cluster configuration or kubeconfig");
            }
        };
        match kube::Client::try_from(config) {
            Ok(client) => Connection::with_client(client),
            Err(error) => {
                tracing::warn!(%error, "cannot build a Kubernetes client");
                Self::standalone("Kubernetes client unavailable")
            }
        }
    }

    pub fn with_client(client: kube::Client) -> Self {
        Connection {
            state: Arc::new(ClusterState::connecting()),
            client: Some(client),
        }
    }

    /// The state the webhook reads; filled in once `watch` runs.
    pub fn state(&self) -> Arc<ClusterState> {
        self.state.clone()
    }

    /// Starts the namespace watcher and the version reader (none without a cluster). The
    /// future completes after their first results, or after `options.initial_sync_timeout`
    /// without them: the server then serves anyway, and unknown namespaces follow the
    /// webhook's namespaceSelector. The tasks run until the runtime stops; API errors are
    /// logged and retried, never fatal.
    pub fn watch(self, options: ClusterOptions) -> impl Future<Output = ()> + Send + 'static {
        let Connection { state, client } = self;
        let first_results = client.map(|client| {
            let (namespaces_ready, namespaces_synced) = tokio::sync::oneshot::channel();
            let (versions_ready, versions_read) = tokio::sync::oneshot::channel();
            tokio::spawn(namespaces::run(
                client.clone(),
                state.clone(),
                options.clone(),
                namespaces_ready,
            ));
            tokio::spawn(versions::run(
                client,
                state.clone(),
                options.clone(),
                versions_ready,
            ));
            async {
                let _ = namespaces_synced.await;
                let _ = versions_read.await;
            }
        });
        async move {
            let Some(first_results) = first_results else {
                return;
            };
            if tokio::time::timeout(options.initial_sync_timeout, first_results)
                .await
                .is_err()
            {
                tracing::warn!(
                    timeout = ?options.initial_sync_timeout,
                    namespaces_known = state.namespaces_known(),
                    "cluster not synced yet; serving meanwhile (unknown namespaces follow the webhook's namespaceSelector)"
                );
            }
        }
    }
}

/// Watches `client`'s cluster and returns the state once first synced (or timed out).
pub async fn start_with_client(client: kube::Client, options: ClusterOptions) -> Arc<ClusterState> {
    let cluster = Connection::with_client(client);
    let state = cluster.state();
    cluster.watch(options).await;
    state
}

/// Why no client could be made for a command that needs the cluster (`lameduck audit`).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading the kubeconfig {path}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no Kubernetes configuration (in-cluster, $KUBECONFIG or ~/.kube/config)")]
    Infer(#[source] kube::config::InferConfigError),
    #[error("building the Kubernetes client")]
    Client(#[source] kube::Error),
}

/// A client for `kubeconfig` and `context` when given, else the usual search
/// ($KUBECONFIG, ~/.kube/config, in-cluster). Unlike `Connection::connect`, failing is an
/// error: the caller cannot do without the cluster.
pub async fn client(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Client, ClientError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig_error = |source| ClientError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(kubeconfig_error)?
        }
        None if context.is_some() => {
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|source| ClientError::Kubeconfig {
                    path: "($KUBECONFIG or ~/.kube/config)".into(),
                    source,
                })?
        }
        None => kube::Config::infer().await.map_err(ClientError::Infer)?,
    };
    kube::Client::try_from(config).map_err(ClientError::Client)
}
