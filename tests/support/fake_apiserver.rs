//! A Kubernetes API server on loopback, just enough of one for lameduck's cluster module:
//! `GET /version`, list and watch of Namespaces (full objects, or
//! `PartialObjectMetadata(List)` when the client asks for metadata only, as the real
//! server does from the `Accept` header), `GET` of one Namespace, and paged lists
//! (`limit`/`continue`) of Nodes and, cluster-wide or per namespace, of Pods,
//! Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs.
//! Responses are built from recorded JSON in `tests/fixtures/cluster/`.
//!
//! Plain HTTP: kube talks to `server: http://127.0.0.1:PORT` through a real kubeconfig.
//! `stop` closes the listener and every open connection (watches included), as a dying
//! API server would; `restart` serves the same state on the same port again.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};

const METADATA_LIST: &str = "as=PartialObjectMetadataList";
const METADATA: &str = "as=PartialObjectMetadata";

/// Reads a fixture from `tests/fixtures/cluster/`.
pub(crate) fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cluster")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("parsing {}: {error}", path.display()))
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub path: String,
    pub query: HashMap<String, String>,
    pub accept: String,
}

#[derive(Debug)]
struct Cluster {
    version: Value,
    namespaces: BTreeMap<String, Value>,
    nodes: Vec<Value>,
    resource_version: u64,
    /// Every namespace watch event, for watches that resume from an older version.
    log: Vec<(u64, Value)>,
    /// Namespaced objects by (resource, namespace, name), e.g. ("pods", "shop", "web-1").
    objects: BTreeMap<(String, String, String), Value>,
}

#[derive(Debug)]
struct Shared {
    cluster: Mutex<Cluster>,
    events: broadcast::Sender<(u64, Value)>,
    seen: Mutex<Vec<Seen>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Serves `version` (a `/version` body), the items of a NamespaceList and of a NodeList.
    pub(crate) async fn start(version: Value, namespaces: Value, nodes: Value) -> FakeApiServer {
        let items = |list: &Value| list["items"].as_array().cloned().unwrap_or_default();
        let namespaces = items(&namespaces)
            .into_iter()
            .filter_map(|ns| Some((ns["metadata"]["name"].as_str()?.to_string(), ns)))
            .collect();
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            cluster: Mutex::new(Cluster {
                version,
                namespaces,
                nodes: items(&nodes),
                resource_version: 1000,
                log: Vec::new(),
                objects: BTreeMap::new(),
            }),
            events,
            seen: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("binding the fake API server: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("local_addr: {error}"));
        let mut server = FakeApiServer {
            shared,
            addr,
            task: None,
        };
        server.serve(listener);
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let app = Router::new()
            .fallback(handle)
            .with_state(self.shared.clone());
        self.task = Some(tokio::spawn(async move {
            // Connections live in this set, so aborting the task drops every one of them.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                connections.spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// The API server goes away: listener and open connections close.
    pub(crate) fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// The API server comes back on the same address with the same state.
    pub(crate) async fn restart(&mut self) {
        self.stop();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                // The aborted task may take a moment to drop the old listener.
                Err(error) if tokio::time::Instant::now() < deadline => {
                    let _ = error;
                    tokio::task::yield_now().await;
                }
                Err(error) => panic!("rebinding {}: {error}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Writes a kubeconfig pointing at this server and returns its path.
    pub(crate) fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(&path, text).unwrap_or_else(|error| panic!("writing kubeconfig: {error}"));
        path
    }

    /// A kube client that reaches this server through a real kubeconfig file written in
    /// `dir` (returned too, for commands that take `--kubeconfig`).
    pub(crate) async fn client(&self, dir: &Path) -> (kube::Client, PathBuf) {
        use kube::config::{KubeConfigOptions, Kubeconfig};
        let path = self.write_kubeconfig(dir);
        let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("kubeconfig: {e}"));
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("config: {e}"));
        let client = kube::Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"));
        (client, path)
    }

    pub(crate) fn set_version(&self, version: Value) {
        lock(&self.shared.cluster).version = version;
    }

    pub(crate) fn set_nodes(&self, nodes: Value) {
        lock(&self.shared.cluster).nodes = nodes["items"].as_array().cloned().unwrap_or_default();
    }

    /// Creates or replaces a namespace, as `kubectl apply` would: a new resourceVersion
    /// and an ADDED or MODIFIED event for watchers.
    pub(crate) fn put_namespace(&self, mut namespace: Value) {
        let mut cluster = lock(&self.shared.cluster);
        let Some(name) = namespace["metadata"]["name"].as_str().map(str::to_string) else {
            panic!("namespace without a name: {namespace}");
        };
        cluster.resource_version += 1;
        let version = cluster.resource_version;
        namespace["metadata"]["resourceVersion"] = json!(version.to_string());
        let kind = if cluster.namespaces.contains_key(&name) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        cluster.namespaces.insert(name, namespace.clone());
        self.publish(&mut cluster, version, kind, namespace);
    }

    pub(crate) fn delete_namespace(&self, name: &str) {
        let mut cluster = lock(&self.shared.cluster);
        let Some(mut namespace) = cluster.namespaces.remove(name) else {
            return;
        };
        cluster.resource_version += 1;
        let version = cluster.resource_version;
        namespace["metadata"]["resourceVersion"] = json!(version.to_string());
        self.publish(&mut cluster, version, "DELETED", namespace);
    }

    pub(crate) fn namespace(&self, name: &str) -> Option<Value> {
        lock(&self.shared.cluster).namespaces.get(name).cloned()
    }

    fn publish(&self, cluster: &mut Cluster, version: u64, kind: &str, object: Value) {
        let event = json!({"type": kind, "object": object});
        cluster.log.push((version, event.clone()));
        // No receiver is fine: nobody is watching right now.
        let _ = self.shared.events.send((version, event));
    }

    /// Creates or replaces a namespaced object of `resource` (`pods`, `deployments`,
    /// `statefulsets`, `daemonsets`, `replicasets`, `jobs`, `cronjobs`), served by the
    /// lists of that resource. No watch events: nothing here watches these.
    pub(crate) fn put_object(&self, resource: &str, mut object: Value) {
        let mut cluster = lock(&self.shared.cluster);
        let (Some(namespace), Some(name)) = (
            object["metadata"]["namespace"].as_str().map(str::to_string),
            object["metadata"]["name"].as_str().map(str::to_string),
        ) else {
            panic!("object without a namespace or name: {object}");
        };
        cluster.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(cluster.resource_version.to_string());
        cluster
            .objects
            .insert((resource.to_string(), namespace, name), object);
    }

    pub(crate) fn delete_object(&self, resource: &str, namespace: &str, name: &str) {
        lock(&self.shared.cluster).objects.remove(&(
            resource.to_string(),
            namespace.to_string(),
            name.to_string(),
        ));
    }

    /// Every request so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn metadata_only(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"].clone(),
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code.as_u16(),
        }),
    )
}

/// `limit`/`continue` paging; the continue token is the offset (opaque to clients).
fn page(items: Vec<Value>, query: &HashMap<String, String>) -> (Vec<Value>, Option<String>) {
    let start: usize = query
        .get("continue")
        .and_then(|token| token.parse().ok())
        .unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|limit| limit.parse().ok())
        .filter(|limit| *limit > 0)
        .unwrap_or(usize::MAX);
    let end = start.saturating_add(limit).min(items.len());
    let token = (end < items.len()).then(|| end.to_string());
    (
        items
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default(),
        token,
    )
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    // Every value this server reads (numbers, `true`) needs no percent-decoding.
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    lock(&shared.seen).push(Seen {
        path: uri.path().to_string(),
        query: query.clone(),
        accept: accept.clone(),
    });
    match uri.path() {
        "/version" => json_response(StatusCode::OK, &lock(&shared.cluster).version),
        "/api/v1/namespaces" if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch_namespaces(&shared, &query, &accept)
        }
        "/api/v1/namespaces" => {
            let cluster = lock(&shared.cluster);
            let items: Vec<Value> = cluster.namespaces.values().cloned().collect();
            let (items, token) = page(items, &query);
            let metadata = accept.contains(METADATA_LIST);
            let items: Vec<Value> = if metadata {
                items.iter().map(metadata_only).collect()
            } else {
                items
            };
            let mut list_meta = json!({"resourceVersion": cluster.resource_version.to_string()});
            if let Some(token) = token {
                list_meta["continue"] = json!(token);
            }
            let (kind, api_version) = if metadata {
                ("PartialObjectMetadataList", "meta.k8s.io/v1")
            } else {
                ("NamespaceList", "v1")
            };
            json_response(
                StatusCode::OK,
                &json!({"kind": kind, "apiVersion": api_version, "metadata": list_meta, "items": items}),
            )
        }
        "/api/v1/nodes" => {
            let cluster = lock(&shared.cluster);
            let (items, token) = page(cluster.nodes.clone(), &query);
            let mut list_meta = json!({"resourceVersion": cluster.resource_version.to_string()});
            if let Some(token) = token {
                list_meta["continue"] = json!(token);
            }
            json_response(
                StatusCode::OK,
                &json!({"kind": "NodeList", "apiVersion": "v1", "metadata": list_meta, "items": items}),
            )
        }
        other => match objects(&shared, other, &query) {
            Some(response) => response,
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("the fake API server does not serve {other}"),
            ),
        },
    }
}

/// The kind of the items of `resource`'s list, and its apiVersion.
fn list_kind(resource: &str) -> Option<(&'static str, &'static str)> {
    Some(match resource {
        "pods" => ("PodList", "v1"),
        "deployments" => ("DeploymentList", "apps/v1"),
        "statefulsets" => ("StatefulSetList", "apps/v1"),
        "daemonsets" => ("DaemonSetList", "apps/v1"),
        "replicasets" => ("ReplicaSetList", "apps/v1"),
        "jobs" => ("JobList", "batch/v1"),
        "cronjobs" => ("CronJobList", "batch/v1"),
        _ => return None,
    })
}

/// `GET /api/v1/namespaces/NAME` and the paged lists of namespaced objects,
/// cluster-wide (`/apis/apps/v1/deployments`) or in one namespace
/// (`/apis/apps/v1/namespaces/shop/deployments`).
fn objects(shared: &Arc<Shared>, path: &str, query: &HashMap<String, String>) -> Option<Response> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _group, "v1", rest @ ..] => rest,
        _ => return None,
    };
    let cluster = lock(&shared.cluster);
    let (namespace, resource) = match rest {
        ["namespaces", name] if segments[0] == "api" => {
            return Some(match cluster.namespaces.get(*name) {
                Some(namespace) => json_response(StatusCode::OK, namespace),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("namespaces \"{name}\" not found"),
                ),
            });
        }
        ["namespaces", namespace, resource] => (Some(*namespace), *resource),
        [resource] => (None, *resource),
        _ => return None,
    };
    let (kind, api_version) = list_kind(resource)?;
    let items: Vec<Value> = cluster
        .objects
        .iter()
        .filter(|((r, ns, _), _)| r == resource && namespace.is_none_or(|wanted| wanted == ns))
        .map(|(_, object)| object.clone())
        .collect();
    let (items, token) = page(items, query);
    let mut list_meta = json!({"resourceVersion": cluster.resource_version.to_string()});
    if let Some(token) = token {
        list_meta["continue"] = json!(token);
    }
    Some(json_response(
        StatusCode::OK,
        &json!({"kind": kind, "apiVersion": api_version, "metadata": list_meta, "items": items}),
    ))
}

/// A watch: the events after `resourceVersion`, then live ones, one JSON object per line.
fn watch_namespaces(
    shared: &Arc<Shared>,
    query: &HashMap<String, String>,
    accept: &str,
) -> Response {
    let Some(from) = query
        .get("resourceVersion")
        .and_then(|version| version.parse::<u64>().ok())
    else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "watch without a numeric resourceVersion",
        );
    };
    let metadata = accept.contains(METADATA);
    let shape = move |(version, mut event): (u64, Value)| -> Option<Bytes> {
        if version <= from {
            return None;
        }
        if metadata {
            event["object"] = metadata_only(&event["object"]);
        }
        Some(Bytes::from(format!("{event}\n")))
    };
    // Backlog and subscription under one lock, so no event falls between them.
    let (backlog, receiver) = {
        let cluster = lock(&shared.cluster);
        (cluster.log.clone(), shared.events.subscribe())
    };
    let backlog: Vec<Result<Bytes, Infallible>> =
        backlog.into_iter().filter_map(shape).map(Ok).collect();
    let live = futures::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(item) => {
                    if let Some(line) = shape(item) {
                        return Some((Ok::<_, Infallible>(line), receiver));
                    }
                }
                Err(_) => return None,
            }
        }
    });
    let body = futures::StreamExt::chain(futures::stream::iter(backlog), live);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}
