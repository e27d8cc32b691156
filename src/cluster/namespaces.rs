//! Namespace defaults and inject labels, from a metadata watch on Namespaces.
//!
//! Why not a `reflector::Store`: it would keep every namespace's full metadata
//! (managedFields, every label and annotation) alive next to the map the webhook reads.
//! Instead the watch events are folded straight into the compact map the webhook reads:
//! a name and a shared `Arc<NamespaceInfo>` per namespace (namespaces without any
//! lameduck setting share one), roughly 100 bytes each, so 10 000 namespaces cost about
//! a megabyte.
//!
//! Cost of an update: the published map is immutable (readers hold it through an
//! `ArcSwap`), so a change clones it, O(namespaces). Events are taken in batches (all
//! that are ready at once, e.g. a whole re-list page), the map is cloned at most once per
//! batch, and an event that does not change what lameduck reads (another controller's
//! label, a status change) clones nothing. Namespace changes are rare, so this is cheap.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};

use super::{ClusterOptions, ClusterState, NamespaceInfo};
use crate::plan::annotations::INJECT_LABEL;
use crate::plan::annotations::{PREFIX, STATUS};
use crate::scope::NamespaceInjection;

pub type NamespaceMap = BTreeMap<String, Arc<NamespaceInfo>>;

/// What lameduck reads from a namespace: its inject label and `lameduck.dev/*`
/// annotations (the status annotation is lameduck's own record on pods, never a default).
pub fn info_of(meta: &ObjectMeta) -> NamespaceInfo {
    let injection = match meta
        .labels
        .as_ref()
        .and_then(|labels| labels.get(INJECT_LABEL))
        .map(String::as_str)
    {
        Some("enabled") => NamespaceInjection::Enabled,
        Some("disabled") => NamespaceInjection::Disabled,
        // Any other value is a typo the namespaceSelector will not match either.
        _ => NamespaceInjection::Unlabelled,
    };
    let defaults = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(key, _)| key.starts_with(PREFIX) && key.as_str() != STATUS)
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    NamespaceInfo {
        injection,
        defaults,
    }
}

/// Folds watch events into the published map.
#[derive(Debug)]
pub struct Tracker {
    /// Shared by every namespace with no lameduck label or annotation.
    plain: Arc<NamespaceInfo>,
    /// During a (re-)list: the namespaces seen so far, published whole at `InitDone`
    /// so that readers never see a half-listed cluster.
    relisting: Option<NamespaceMap>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            plain: Arc::new(NamespaceInfo {
                injection: NamespaceInjection::Unlabelled,
                defaults: BTreeMap::new(),
            }),
            relisting: None,
        }
    }
}

/// What one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing readers see changed.
    Nothing,
    /// `working` holds a new map to publish.
    Changed,
    /// A (re-)list finished; `working` holds the complete map.
    Synced(usize),
}

impl Tracker {
    fn shared(&self, info: NamespaceInfo) -> Arc<NamespaceInfo> {
        if info == *self.plain {
            self.plain.clone()
        } else {
            Arc::new(info)
        }
    }

    /// Applies one event. `published` is what readers see now; `working` is this batch's
    /// copy of it, cloned from `published` only when something actually changes.
    pub fn apply(
        &mut self,
        event: Event<PartialObjectMeta<Namespace>>,
        published: &Option<NamespaceMap>,
        working: &mut Option<NamespaceMap>,
    ) -> Applied {
        match event {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                Applied::Nothing
            }
            Event::InitApply(namespace) => {
                let Some(name) = namespace.metadata.name.clone() else {
                    return Applied::Nothing;
                };
                let info = self.shared(info_of(&namespace.metadata));
                if let Some(relisting) = &mut self.relisting {
                    relisting.insert(name, info);
                }
                Applied::Nothing
            }
            Event::InitDone => match self.relisting.take() {
                Some(map) => {
                    let count = map.len();
                    *working = Some(map);
                    Applied::Synced(count)
                }
                None => Applied::Nothing,
            },
            Event::Apply(namespace) => {
                let Some(name) = namespace.metadata.name.clone() else {
                    return Applied::Nothing;
                };
                let info = info_of(&namespace.metadata);
                let current = working.as_ref().or(published.as_ref());
                if current
                    .and_then(|map| map.get(&name))
                    .is_some_and(|known| **known == info)
                {
                    return Applied::Nothing;
                }
                let info = self.shared(info);
                working
                    .get_or_insert_with(|| published.clone().unwrap_or_default())
                    .insert(name, info);
                Applied::Changed
            }
            Event::Delete(namespace) => {
                let Some(name) = namespace.metadata.name.as_deref() else {
                    return Applied::Nothing;
                };
                let current = working.as_ref().or(published.as_ref());
                if !current.is_some_and(|map| map.contains_key(name)) {
                    return Applied::Nothing;
                }
                working
                    .get_or_insert_with(|| published.clone().unwrap_or_default())
                    .remove(name);
                Applied::Changed
            }
        }
    }
}

/// Watches Namespaces forever; the watcher reconnects with backoff, so losing the API
/// server only delays updates. Signals `first` after the first complete list.
pub(super) async fn run(
    client: kube::Client,
    state: Arc<ClusterState>,
    options: ClusterOptions,
    first: tokio::sync::oneshot::Sender<()>,
) {
    // `Api<PartialObjectMeta<_>>` makes metadata-only requests (Accept: ...;as=PartialObjectMetadataList).
    let api: Api<PartialObjectMeta<Namespace>> = Api::all(client);
    let config = watcher::Config::default().page_size(options.namespace_page_size);
    let backoff = super::Backoff::new(options.backoff_min, options.backoff_max);
    // Everything ready at once is one batch: one map clone, one store.
    let mut events = std::pin::pin!(
        watcher::watcher(api, config)
            .backoff(backoff)
            .ready_chunks(1024)
    );
    let mut tracker = Tracker::default();
    let mut first = Some(first);
    let mut failing = false;
    while let Some(batch) = events.next().await {
        let published = state.namespaces_snapshot();
        let mut working = None;
        let mut synced = None;
        for item in batch {
            match item {
                Ok(event) => {
                    // `Init` comes before the list call, so it proves nothing.
                    if failing && !matches!(event, Event::Init) {
                        tracing::info!("namespace watch recovered");
                        failing = false;
                        state.set_api_reachable(true);
                    }
                    if let Applied::Synced(count) = tracker.apply(event, &published, &mut working) {
                        synced = Some(count);
                    }
                }
                Err(error) => {
                    // The watcher's backoff spaces these out (at most one per backoff_max).
                    tracing::warn!(
                        error = %crate::ErrorChain(&error),
                        "namespace watch failed; keeping the last known namespaces and retrying"
                    );
                    failing = true;
                    state.set_api_reachable(false);
                }
            }
        }
        if let Some(map) = working {
            state.set_namespaces(map);
        }
        if let Some(count) = synced {
            if first.is_some() {
                tracing::info!(namespaces = count, "namespaces synced");
            } else {
                tracing::debug!(namespaces = count, "namespaces re-listed");
            }
            state.set_api_reachable(true);
            if let Some(first) = first.take() {
                let _ = first.send(());
            }
        }
    }
    // The watcher stream never ends; if it ever did, the last state stays in place.
    tracing::warn!("namespace watch ended; keeping the last known namespaces");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(
        name: &str,
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
    ) -> PartialObjectMeta<Namespace> {
        let map = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        PartialObjectMeta {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: map(labels),
                annotations: map(annotations),
                ..ObjectMeta::default()
            },
            ..PartialObjectMeta::default()
        }
    }

    #[test]
    fn keeps_only_lameduck_keys() {
        let ns = namespace(
            "shop",
            &[(INJECT_LABEL, "disabled"), ("team", "a")],
            &[
                ("lameduck.dev/sleep", "20"),
                ("lameduck.dev/status", "{}"),
                ("other.io/x", "y"),
            ],
        );
        let info = info_of(&ns.metadata);
        assert_eq!(info.injection, NamespaceInjection::Disabled);
        assert_eq!(info.defaults.len(), 1);
        assert_eq!(
            info.defaults.get("lameduck.dev/sleep").map(String::as_str),
            Some("20")
        );
        let typo = namespace("x", &[(INJECT_LABEL, "Enabled")], &[]);
        assert_eq!(
            info_of(&typo.metadata).injection,
            NamespaceInjection::Unlabelled
        );
    }

    #[test]
    fn publishes_whole_lists_and_only_real_changes() {
        let mut tracker = Tracker::default();
        let mut published: Option<NamespaceMap> = None;
        let step = |tracker: &mut Tracker,
                    published: &mut Option<NamespaceMap>,
                    event: Event<PartialObjectMeta<Namespace>>| {
            let mut working = None;
            let applied = tracker.apply(event, published, &mut working);
            if let Some(map) = working {
                *published = Some(map);
            }
            applied
        };
        assert_eq!(
            step(&mut tracker, &mut published, Event::Init),
            Applied::Nothing
        );
        let a = namespace("a", &[], &[]);
        let b = namespace("b", &[], &[]);
        assert_eq!(
            step(&mut tracker, &mut published, Event::InitApply(a.clone())),
            Applied::Nothing
        );
        assert!(published.is_none(), "nothing published mid-list");
        step(&mut tracker, &mut published, Event::InitApply(b));
        assert_eq!(
            step(&mut tracker, &mut published, Event::InitDone),
            Applied::Synced(2)
        );
        let map = published.clone().unwrap_or_default();
        // Plain namespaces share one info.
        assert!(Arc::ptr_eq(&map["a"], &map["b"]));

        // A label lameduck does not read changes nothing.
        let relabelled = namespace("a", &[("team", "x")], &[]);
        assert_eq!(
            step(&mut tracker, &mut published, Event::Apply(relabelled)),
            Applied::Nothing
        );
        let annotated = namespace("a", &[], &[("lameduck.dev/sleep", "30")]);
        assert_eq!(
            step(&mut tracker, &mut published, Event::Apply(annotated)),
            Applied::Changed
        );
        assert_eq!(published.as_ref().map(|m| m["a"].defaults.len()), Some(1));
        assert_eq!(
            step(&mut tracker, &mut published, Event::Delete(a)),
            Applied::Changed
        );
        assert_eq!(published.as_ref().map(BTreeMap::len), Some(1));

        // A re-list that fails part-way (Init again, no InitDone) leaves the map alone.
        step(&mut tracker, &mut published, Event::Init);
        step(
            &mut tracker,
            &mut published,
            Event::InitApply(namespace("c", &[], &[])),
        );
        assert_eq!(published.as_ref().map(BTreeMap::len), Some(1));
        step(&mut tracker, &mut published, Event::Init);
        assert_eq!(
            step(&mut tracker, &mut published, Event::InitDone),
            Applied::Synced(0)
        );
    }
}
