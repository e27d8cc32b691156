//! Which hook action `auto` means: the native `sleep` action only when the API server
//! and every kubelet can run it, `exec ["sleep", "N"]` otherwise.
//!
//! Kubelet versions live in `status.nodeInfo.kubeletVersion`, which object metadata does
//! not carry, and a watch cache of full Node objects (images, conditions, addresses)
//! costs megabytes in large clusters. So Nodes are listed in pages now and then, each
//! page decoded into a slim type that keeps only the name and the kubelet version, and
//! only the oldest version is kept.

mod choice;

use std::sync::Arc;

use kube::api::ListParams;
use serde::Deserialize;

use super::{ActionChoice, ClusterError, ClusterState};
pub(crate) use choice::unknown;
use choice::{KubeVersion, KubeletSurvey, choose};

/// Only what the action choice needs from a Node; serde skips the rest of each object
/// without building it (status.images alone can be tens of kilobytes per node).
#[derive(Debug, Deserialize)]
struct SlimNodeList {
    #[serde(default)]
    metadata: SlimListMeta,
    #[serde(default)]
    items: Vec<SlimNode>,
}

#[derive(Debug, Default, Deserialize)]
struct SlimListMeta {
    #[serde(default, rename = "continue")]
    continue_: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SlimNode {
    #[serde(default)]
    metadata: SlimMeta,
    #[serde(default)]
    status: Option<SlimNodeStatus>,
}

#[derive(Debug, Default, Deserialize)]
struct SlimMeta {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimNodeStatus {
    #[serde(default)]
    node_info: Option<SlimNodeInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimNodeInfo {
    #[serde(default)]
    kubelet_version: String,
}

/// Lists every Node, `page_size` at a time, keeping only the oldest kubelet.
pub(crate) async fn survey_kubelets(
    client: &kube::Client,
    page_size: u32,
) -> Result<KubeletSurvey, ClusterError> {
    let mut survey = KubeletSurvey::default();
    let mut continue_token: Option<String> = None;
    // A bound on pages so that a server that keeps answering with a continue token
    // cannot keep this loop busy forever (page_size × 10 000 nodes is far beyond any cluster).
    for _ in 0..10_000 {
        let mut params = ListParams::default().limit(page_size);
        if let Some(token) = &continue_token {
            params = params.continue_token(token);
        }
        let request = kube::core::Request::new("/api/v1/nodes").list(&params)?;
        let text = client.request_text(request).await?;
        let page: SlimNodeList = serde_json::from_str(&text).map_err(ClusterError::Decode)?;
        for node in &page.items {
            let version = node
                .status
                .as_ref()
                .and_then(|status| status.node_info.as_ref())
                .map_or("", |info| info.kubelet_version.as_str());
            survey.add(&node.metadata.name, version);
        }
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => continue_token = Some(token),
            None => return Ok(survey),
        }
    }
    Err(ClusterError::Paging)
}

/// Reads the server version and surveys the kubelets once.
pub(crate) async fn read_choice(
    client: &kube::Client,
    page_size: u32,
) -> Result<ActionChoice, ClusterError> {
    let info = client.apiserver_version().await?;
    let server = KubeVersion::of_server(&info)
        .ok_or_else(|| ClusterError::ServerVersion(info.git_version.clone()))?;
    let kubelets = survey_kubelets(client, page_size).await?;
    Ok(choose(server, &kubelets))
}

/// Re-reads the versions every `interval` (every `retry` after a failure), forever.
/// Signals `first` after the first attempt, successful or not.
pub(super) async fn run(
    client: kube::Client,
    state: Arc<ClusterState>,
    options: super::ClusterOptions,
    first: tokio::sync::oneshot::Sender<()>,
) {
    let mut first = Some(first);
    loop {
        let wait = match read_choice(&client, options.node_page_size).await {
            Ok(choice) => {
                state.set_api_reachable(true);
                let current = state.action();
                if *current != choice {
                    tracing::info!(
                        action = choice.action.as_str(),
                        reason = %choice.reason,
                        "hook action for auto"
                    );
                    state.set_action(choice);
                }
                options.version_interval
            }
            Err(error) => {
                state.set_api_reachable(false);
                let current = state.action();
                tracing::warn!(
                    error = %crate::ErrorChain(&error),
                    action = current.action.as_str(),
                    "cannot read cluster versions; keeping the last hook action"
                );
                options.version_retry
            }
        };
        if let Some(first) = first.take() {
            let _ = first.send(());
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_node_list_reads_only_what_it_needs() {
        let page: SlimNodeList = serde_json::from_str(
            r#"{"kind":"NodeList","metadata":{"continue":"abc","resourceVersion":"9"},
                "items":[{"metadata":{"name":"n1","labels":{"x":"y"}},
                          "status":{"images":[{"names":["a"],"sizeBytes":1}],
                                    "nodeInfo":{"kubeletVersion":"v1.31.0","osImage":"x"}}},
                         {"metadata":{"name":"n2"}}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.metadata.continue_.as_deref(), Some("abc"));
        assert_eq!(page.items.len(), 2);
        assert!(page.items[1].status.is_none());
    }
}
