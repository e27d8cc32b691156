//! What `lameduck audit` reads: namespaces, pods and the workloads that own them, in
//! paged lists (`limit`/`continue`), once, with no watch.
//!
//! Each page is read as raw JSON and trimmed as it arrives (`managedFields` and most of
//! `status` are dropped), so the audit holds only what it judges.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{GetParams, ListParams};
use serde::Deserialize;
use serde_json::Value;

use std::collections::BTreeMap;

use super::NamespaceInfo;
use super::namespaces::info_of;
use crate::workload::WorkloadKind;

/// An owner reference, as far as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OwnerRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    owner_references: Vec<OwnerRef>,
    #[serde(default)]
    deletion_timestamp: Option<Value>,
}

/// One object read from the cluster: a pod or a workload.
#[derive(Debug, Clone)]
pub struct ClusterObject {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// The controlling owner (`controller: true`), else the first owner.
    pub owner: Option<OwnerRef>,
    /// For pods: neither finished (`Succeeded`, `Failed`) nor being deleted. Other pods
    /// are about to go and say nothing about what the workload runs.
    pub active: bool,
    /// The object as read (the inventory may have dropped `managedFields` and `status`).
    pub body: Value,
}

impl ClusterObject {
    /// Reads the identity and owner of an object; `None` without a name.
    pub fn from_value(kind: WorkloadKind, body: Value) -> Option<ClusterObject> {
        let meta = Meta::deserialize(&body["metadata"]).unwrap_or_default();
        if meta.name.is_empty() {
            return None;
        }
        let finished = matches!(
            body["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        );
        let active = kind != WorkloadKind::Pod
            || (!finished && meta.deletion_timestamp.is_none_or(|t| t.is_null()));
        let owner = meta
            .owner_references
            .iter()
            .find(|owner| owner.controller == Some(true))
            .or(meta.owner_references.first())
            .cloned();
        Some(ClusterObject {
            kind,
            namespace: meta.namespace,
            name: meta.name,
            uid: meta.uid,
            owner,
            active,
            body,
        })
    }
}

/// What the audit reads from the cluster.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// What lameduck reads of each namespace (its label and `lameduck.dev/*` defaults).
    pub namespaces: BTreeMap<String, NamespaceInfo>,
    pub objects: Vec<ClusterObject>,
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (cluster-wide lists).
    All,
    /// One namespace (namespaced lists; a namespace-scoped Role is then enough for the
    /// workloads, plus `get` on that Namespace).
    Namespace(String),
}

/// Objects per list page: the API server's usual chunk size.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// A bound on pages per list, so that a server that keeps answering with a continue
/// token cannot keep the audit busy forever (500 × 100 000 objects is beyond any cluster).
const MAX_PAGES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("reading {what}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("building the request for {what}")]
    Request {
        what: String,
        #[source]
        source: kube::core::request::Error,
    },
    #[error("reading {what}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the API server kept answering the list of {0} with continue tokens")]
    Paging(String),
}

/// Where each kind is listed, by API group path and resource.
fn resource(kind: WorkloadKind) -> (&'static str, &'static str) {
    match kind {
        WorkloadKind::Pod => ("/api/v1", "pods"),
        WorkloadKind::Deployment => ("/apis/apps/v1", "deployments"),
        WorkloadKind::StatefulSet => ("/apis/apps/v1", "statefulsets"),
        WorkloadKind::DaemonSet => ("/apis/apps/v1", "daemonsets"),
        WorkloadKind::ReplicaSet => ("/apis/apps/v1", "replicasets"),
        WorkloadKind::Job => ("/apis/batch/v1", "jobs"),
        WorkloadKind::CronJob => ("/apis/batch/v1", "cronjobs"),
    }
}

fn list_path(kind: WorkloadKind, scope: &Scope) -> String {
    let (group, plural) = resource(kind);
    match scope {
        Scope::All => format!("{group}/{plural}"),
        Scope::Namespace(namespace) => format!("{group}/namespaces/{namespace}/{plural}"),
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    continue_: Option<String>,
}

/// Lists every object at `path`, `page_size` at a time, trimming each with `keep`.
pub async fn list_all(
    client: &kube::Client,
    path: &str,
    page_size: u32,
    mut keep: impl FnMut(Value),
) -> Result<(), InventoryError> {
    let mut continue_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut params = ListParams::default().limit(page_size);
        if let Some(token) = &continue_token {
            params = params.continue_token(token);
        }
        let request = kube::core::Request::new(path)
            .list(&params)
            .map_err(|source| InventoryError::Request {
                what: path.to_string(),
                source,
            })?;
        let text = client
            .request_text(request)
            .await
            .map_err(|source| InventoryError::Kube {
                what: path.to_string(),
                source,
            })?;
        let page: Page = serde_json::from_str(&text).map_err(|source| InventoryError::Decode {
            what: path.to_string(),
            source,
        })?;
        page.items.into_iter().for_each(&mut keep);
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => continue_token = Some(token),
            None => return Ok(()),
        }
    }
    Err(InventoryError::Paging(path.to_string()))
}

/// Drops what the audit never reads: `managedFields` (often the largest part of an
/// object) and `status`, except a pod's phase.
fn trim(kind: WorkloadKind, mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    if let Some(map) = object.as_object_mut() {
        let status = map.remove("status");
        if kind == WorkloadKind::Pod
            && let Some(phase) = status.as_ref().and_then(|s| s.get("phase"))
        {
            map.insert("status".into(), serde_json::json!({"phase": phase}));
        }
    }
    object
}

/// Reads the namespaces of `scope` (name, inject label, `lameduck.dev/*` defaults) and
/// every pod and workload in them.
pub async fn read(
    client: &kube::Client,
    scope: &Scope,
    page_size: u32,
) -> Result<Inventory, InventoryError> {
    let mut inventory = Inventory::default();
    let mut add_namespace = |namespace: &Value| -> Result<(), InventoryError> {
        let meta = ObjectMeta::deserialize(&namespace["metadata"]).map_err(|source| {
            InventoryError::Decode {
                what: "a Namespace".into(),
                source,
            }
        })?;
        if let Some(name) = meta.name.clone() {
            inventory.namespaces.insert(name, info_of(&meta));
        }
        Ok(())
    };
    match scope {
        Scope::All => {
            let mut namespaces = Vec::new();
            list_all(client, "/api/v1/namespaces", page_size, |ns| {
                namespaces.push(ns);
            })
            .await?;
            for namespace in &namespaces {
                add_namespace(namespace)?;
            }
        }
        Scope::Namespace(name) => {
            let what = format!("namespace {name}");
            let request = kube::core::Request::new("/api/v1/namespaces")
                .get(name, &GetParams::default())
                .map_err(|source| InventoryError::Request {
                    what: what.clone(),
                    source,
                })?;
            let namespace: Value = client
                .request(request)
                .await
                .map_err(|source| InventoryError::Kube { what, source })?;
            add_namespace(&namespace)?;
        }
    }
    for kind in WorkloadKind::ALL {
        let path = list_path(kind, scope);
        list_all(client, &path, page_size, |item| {
            if let Some(object) = ClusterObject::from_value(kind, trim(kind, item)) {
                inventory.objects.push(object);
            }
        })
        .await?;
    }
    Ok(inventory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_follow_the_api_groups() {
        assert_eq!(list_path(WorkloadKind::Pod, &Scope::All), "/api/v1/pods");
        assert_eq!(
            list_path(WorkloadKind::CronJob, &Scope::Namespace("shop".into())),
            "/apis/batch/v1/namespaces/shop/cronjobs"
        );
        assert_eq!(
            list_path(WorkloadKind::ReplicaSet, &Scope::All),
            "/apis/apps/v1/replicasets"
        );
    }

    #[test]
    fn trimming_keeps_the_template_and_a_pods_phase() {
        let pod = json!({
            "metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}], "annotations": {"x": "y"}},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app"}]}
        });
        let trimmed = trim(WorkloadKind::Pod, pod);
        assert_eq!(
            trimmed,
            json!({
                "metadata": {"name": "a", "annotations": {"x": "y"}},
                "spec": {"containers": [{"name": "app"}]},
                "status": {"phase": "Running"}
            })
        );
        let deployment =
            json!({"metadata": {"name": "d"}, "spec": {"template": {}}, "status": {"replicas": 3}});
        assert_eq!(
            trim(WorkloadKind::Deployment, deployment),
            json!({"metadata": {"name": "d"}, "spec": {"template": {}}})
        );
    }
}
