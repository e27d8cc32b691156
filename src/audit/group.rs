//! Pods grouped under the workload that restarts them, and each group judged: the
//! workload takes the worst state of its pods (and of its template, where that says
//! something).

use std::collections::{BTreeMap, HashMap};

use super::replan::{replan, state_of};
use super::{Item, NamespaceScope, Options, PodCounts, Report, State, Targets, render};
use crate::cluster::inventory::{ClusterObject, Inventory, OwnerRef};
use crate::plan::Environment;
use crate::workload::WorkloadKind;

/// A workload being assembled: its own object (when known) and its pods.
#[derive(Debug)]
struct Group<'a> {
    namespace: &'a str,
    kind: String,
    name: String,
    workload: Option<&'a ClusterObject>,
    pods: Vec<&'a ClusterObject>,
}

/// Audits everything in `inventory` whose namespace `include` accepts.
pub fn audit(
    inventory: &Inventory,
    options: &Options,
    include: impl Fn(&str, NamespaceScope) -> bool,
) -> Report {
    let by_uid: HashMap<(&str, &str), &ClusterObject> = inventory
        .objects
        .iter()
        .filter(|o| o.kind != WorkloadKind::Pod && !o.uid.is_empty())
        .map(|o| ((o.namespace.as_str(), o.uid.as_str()), o))
        .collect();

    // Groups keyed by (namespace, kind, name) of their top owner.
    let mut groups: BTreeMap<(String, String, String), Group> = BTreeMap::new();
    for object in &inventory.objects {
        let scope = NamespaceScope::of(
            &object.namespace,
            inventory.namespaces.get(&object.namespace),
            options,
        );
        if !include(&object.namespace, scope) {
            continue;
        }
        match object.kind {
            WorkloadKind::Pod => {
                if !object.active {
                    continue;
                }
                let top = top_owner(object, &by_uid);
                let group = group_for(&mut groups, object, top);
                group.pods.push(object);
            }
            // A ReplicaSet of a Deployment, a Job of a CronJob: its owner is the workload.
            _ if object.owner.is_some() => {}
            _ => {
                group_for(&mut groups, object, Top::Known(object)).workload = Some(object);
            }
        }
    }

    let items = groups
        .into_values()
        .map(|group| judge(&group, inventory, options))
        .collect();
    Report { items }
}

/// The outermost owner of a pod that the audit can name.
#[derive(Debug, Clone, Copy)]
enum Top<'a> {
    /// A workload read from the cluster (or the pod itself when it has no owner).
    Known(&'a ClusterObject),
    /// An owner that was not read: a kind lameduck does not know (Argo Rollout, an
    /// operator's resource), or one gone already. The pods stand for it.
    Foreign(&'a OwnerRef),
}

fn top_owner<'a>(
    pod: &'a ClusterObject,
    by_uid: &HashMap<(&str, &str), &'a ClusterObject>,
) -> Top<'a> {
    let mut current = pod;
    // Owner chains are two links long at most (Pod → ReplicaSet → Deployment); the bound
    // only guards against a cycle in odd data.
    for _ in 0..8 {
        let Some(owner) = &current.owner else {
            return Top::Known(current);
        };
        match by_uid.get(&(current.namespace.as_str(), owner.uid.as_str())) {
            Some(next) => current = next,
            // Also for a ReplicaSet owned by something unknown: name that owner, whose
            // controller restarts the pods, not the ReplicaSet.
            None => return Top::Foreign(owner),
        }
    }
    Top::Known(current)
}

fn group_for<'g, 'a>(
    groups: &'g mut BTreeMap<(String, String, String), Group<'a>>,
    object: &'a ClusterObject,
    top: Top<'a>,
) -> &'g mut Group<'a> {
    let (kind, name, workload) = match top {
        Top::Known(top) if top.kind == WorkloadKind::Pod => {
            (top.kind.as_str().to_string(), top.name.clone(), None)
        }
        Top::Known(top) => (top.kind.as_str().to_string(), top.name.clone(), Some(top)),
        Top::Foreign(owner) => (owner.kind.clone(), owner.name.clone(), None),
    };
    let key = (object.namespace.clone(), kind.clone(), name.clone());
    let group = groups.entry(key).or_insert_with(|| Group {
        namespace: &object.namespace,
        kind,
        name,
        workload: None,
        pods: Vec::new(),
    });
    if group.workload.is_none() {
        group.workload = workload;
    }
    group
}

fn judge(group: &Group, inventory: &Inventory, options: &Options) -> Item {
    let namespace = inventory.namespaces.get(group.namespace);
    let scope = NamespaceScope::of(group.namespace, namespace, options);
    let mut pods = PodCounts::default();
    let mut item = Item {
        namespace: group.namespace.to_string(),
        kind: group.kind.clone(),
        name: group.name.clone(),
        state: State::NotApplicable,
        pods,
        reason: String::new(),
        fix: None,
    };

    if let Some(state) = scope.state() {
        for _ in &group.pods {
            pods.add(state);
        }
        item.state = state;
        item.pods = pods;
        item.reason = render::scope_reason(scope, group.namespace);
        return item;
    }

    let env = Environment {
        namespace: namespace.map(|ns| &ns.defaults),
        auto_action: options.auto_action,
        auto_reason: &options.auto_reason,
        wait_unavailable: options.wait_unavailable.as_deref(),
    };
    // The first reason found for an opted-out or skipped pod, to say why.
    let mut skip_reason = None;
    let mut choreography = None;
    for pod in &group.pods {
        let Some(replanned) = replan(WorkloadKind::Pod, &pod.body, &env, &options.settings) else {
            continue;
        };
        if choreography.is_none() {
            choreography = replanned.choreography.clone();
        }
        let (state, reason) = state_of(&replanned);
        if skip_reason.is_none() {
            skip_reason = reason;
        }
        pods.add(state);
    }

    // The template, where it tells something: its skip decision always, its plan when it
    // carries a record (or when templates are mutated at all).
    let template = group.workload.and_then(|workload| {
        let replanned = replan(workload.kind, &workload.body, &env, &options.settings)?;
        if choreography.is_none() {
            choreography.clone_from(&replanned.choreography);
        }
        let (state, reason) = state_of(&replanned);
        let judged = replanned.skip.is_some()
            || replanned.has_record
            || (options.targets == Targets::All && group.kind != "Pod");
        judged.then_some((state, reason))
    });

    let worst_pod = State::ALL.into_iter().find(|&state| pods.get(state) > 0);
    let template_state = template.as_ref().map(|(state, _)| *state);
    let state = match (worst_pod, template_state) {
        (Some(pod), Some(template)) => pod.max(template),
        (Some(pod), None) => pod,
        (None, Some(template)) => template,
        // No pods and nothing to say from the template: new pods get the plan at creation.
        (None, None) => State::Protected,
    };
    if skip_reason.is_none() {
        skip_reason = template.and_then(|(_, reason)| reason);
    }

    item.state = state;
    item.pods = pods;
    item.reason = render::reason(state, &pods, template_state, skip_reason);
    // A pod whose own hooks choreograph its shutdown is protected by its own design,
    // not by a hook lameduck wrote: say so, whatever lameduck added elsewhere in it.
    if let (State::Protected, Some(choreography)) = (state, choreography) {
        item.reason = render::choreographed(&item.reason, &choreography);
    }
    item.fix = state.needs_action().then(|| {
        let pods: Vec<&str> = group.pods.iter().map(|pod| pod.name.as_str()).collect();
        render::fix(&group.kind, &group.name, group.namespace, &pods)
    });
    item
}
