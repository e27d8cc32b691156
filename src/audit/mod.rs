//! `lameduck audit`: which running workloads carry the plan the webhook would give them
//! today, and which slipped through.
//!
//! Pure: the input is what the cluster holds (namespaces, and pods and workloads as JSON
//! objects), read elsewhere (`crate::cluster::inventory`); nothing here knows of HTTP.
//!
//! The test is lameduck's own fixpoint: mutating an already-mutated object yields no
//! patch. So each pod (and workload template) is planned again through the webhook's
//! path, with the current settings and namespace annotations:
//!
//! - no `lameduck.dev/status` record, and the plan would change it: `unprotected`
//!   (created before the install, or while the webhook was unreachable);
//! - a record, and planning again changes nothing: `protected`;
//! - a record, but planning again would change it: `stale` (planned under other settings
//!   or annotations; a rollout restart brings the new plan);
//! - the plan skips it because of `lameduck.dev/inject: "false"` (pod or namespace
//!   annotation) or the namespace label `lameduck.dev/inject=disabled`: `opted-out`;
//! - batch pods not opted in, excluded namespaces (kube-system), namespaces outside
//!   `--mode namespace`: `not-applicable`.
//!
//! Pods are related to their workload through `ownerReferences` (Pod → ReplicaSet →
//! Deployment, Pod → Job → CronJob, Pod → StatefulSet or DaemonSet), and a workload whose
//! pods disagree takes the worst of their states.

mod command;
mod render;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cluster::NamespaceInfo;
use crate::cluster::inventory::{ClusterObject, Inventory, OwnerRef};
use crate::inject::status::Status;
use crate::inject::{self, TemplateView};
use crate::plan::annotations::{INJECT, STATUS};
use crate::plan::{Decision, Environment, HookAction, Settings, SkipReason};
use crate::scope::{Mode, NamespaceInjection};
use crate::workload::WorkloadKind;

pub use command::{AuditError, AuditRequest};
pub use render::{JsonReport, render_text};

/// The namespaces the chart never sends to the webhook, whatever `--mode` says.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// A workload's (or a pod's) state, from best to worst for the purpose of combining:
/// a workload whose pods disagree is the worst of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Not lameduck's to plan: batch pods not opted in, excluded namespaces.
    NotApplicable,
    /// Skipped on purpose: `lameduck.dev/inject: "false"` or a disabled namespace.
    OptedOut,
    /// Carries the plan the current settings and annotations give.
    Protected,
    /// Planned, but under other settings or annotations.
    Stale,
    /// In scope and long-running, yet without a plan.
    Unprotected,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Unprotected,
        State::Stale,
        State::Protected,
        State::OptedOut,
        State::NotApplicable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::NotApplicable => "not-applicable",
            State::OptedOut => "opted-out",
            State::Protected => "protected",
            State::Stale => "stale",
            State::Unprotected => "unprotected",
        }
    }

    /// What `--strict` fails on: a rollout would change these pods.
    pub fn needs_action(self) -> bool {
        matches!(self, State::Stale | State::Unprotected)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which objects the webhook mutates (the chart's `targets`): with `all`, workload
/// templates are mutated too, so a template without a record counts against its workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Targets {
    /// Pods only (the chart's default): templates are judged only when they carry a record.
    #[default]
    Pods,
    /// Pods and the templates of workloads.
    All,
}

/// How the audited server is configured: the same settings as `lameduck serve`.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    pub mode: Mode,
    /// Namespaces the webhook configuration never selects (kube-system, ...).
    pub excluded: BTreeSet<String>,
    pub targets: Targets,
    /// What `--action auto` means on this cluster today, and why.
    pub auto_action: HookAction,
    pub auto_reason: String,
    /// Why the cluster cannot run `wait` (the webhook then falls back to the fixed sleep).
    pub wait_unavailable: Option<String>,
}

impl Options {
    pub fn new(settings: Settings, mode: Mode) -> Self {
        Options {
            settings,
            mode,
            excluded: SYSTEM_NAMESPACES.iter().map(|s| s.to_string()).collect(),
            targets: Targets::Pods,
            auto_action: HookAction::Sleep,
            auto_reason: String::new(),
            wait_unavailable: None,
        }
    }
}

/// Where a namespace stands with the webhook, before any pod is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceScope {
    /// The webhook plans pods here.
    Injected,
    /// Never sent to the webhook (system namespaces, `excludedNamespaces`).
    Excluded,
    /// Labelled `lameduck.dev/inject=disabled`.
    Disabled,
    /// `--mode namespace` and not labelled `lameduck.dev/inject=enabled`.
    NotEnabled,
}

impl NamespaceScope {
    /// The same decision as the webhook's (and its configuration's namespaceSelector).
    pub fn of(name: &str, info: Option<&NamespaceInfo>, options: &Options) -> Self {
        if options.excluded.contains(name) {
            return NamespaceScope::Excluded;
        }
        let label = info.map_or(NamespaceInjection::Unlabelled, |info| info.injection);
        match label {
            _ if options.mode.admits(label) => NamespaceScope::Injected,
            NamespaceInjection::Disabled => NamespaceScope::Disabled,
            _ => NamespaceScope::NotEnabled,
        }
    }

    /// The state of everything in a namespace the webhook does not plan.
    fn state(self) -> Option<State> {
        match self {
            NamespaceScope::Injected => None,
            NamespaceScope::Excluded | NamespaceScope::NotEnabled => Some(State::NotApplicable),
            NamespaceScope::Disabled => Some(State::OptedOut),
        }
    }
}

/// Pods of one workload, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCounts {
    pub total: usize,
    pub protected: usize,
    pub stale: usize,
    pub unprotected: usize,
    pub opted_out: usize,
    pub not_applicable: usize,
}

impl PodCounts {
    fn add(&mut self, state: State) {
        self.total += 1;
        *self.get_mut(state) += 1;
    }

    fn get_mut(&mut self, state: State) -> &mut usize {
        match state {
            State::Protected => &mut self.protected,
            State::Stale => &mut self.stale,
            State::Unprotected => &mut self.unprotected,
            State::OptedOut => &mut self.opted_out,
            State::NotApplicable => &mut self.not_applicable,
        }
    }

    pub fn get(&self, state: State) -> usize {
        match state {
            State::Protected => self.protected,
            State::Stale => self.stale,
            State::Unprotected => self.unprotected,
            State::OptedOut => self.opted_out,
            State::NotApplicable => self.not_applicable,
        }
    }
}

/// One workload (or bare pod) and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub namespace: String,
    /// `Deployment`, `Pod`, ..., or the kind of a controller lameduck does not know
    /// (an Argo Rollout, an operator's resource) that owns the pods.
    pub kind: String,
    pub name: String,
    pub state: State,
    pub pods: PodCounts,
    pub reason: String,
    /// The command (or what to do) that brings the current plan, when one is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The audit's answer: items sorted by namespace, kind and name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub items: Vec<Item>,
}

impl Report {
    /// Whether `--strict` fails.
    pub fn has_findings(&self) -> bool {
        self.items.iter().any(|item| item.state.needs_action())
    }

    pub fn count(&self, state: State) -> usize {
        self.items.iter().filter(|item| item.state == state).count()
    }
}

/// How one pod or template came out of planning again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Replanned {
    /// `Some` when the plan skips the object.
    skip: Option<SkipReason>,
    /// The object itself (not its namespace) says `lameduck.dev/inject: "false"`.
    own_opt_out: bool,
    /// A readable `lameduck.dev/status` record is on the object.
    has_record: bool,
    /// Planning again yields a non-empty patch.
    changes: bool,
    /// Own hooks waiting on another container ("user-container's preStop waits on
    /// queue-proxy"): the pod is protected by its own design there.
    choreography: Option<String>,
}

/// The one place the audit calls the webhook's planning path: read the pod template the
/// way the webhook does, plan it, write the patch, and look at the outcome. `None` when
/// the object has no template or one that cannot be read (the API server would not have
/// stored it).
fn replan(
    kind: WorkloadKind,
    object: &Value,
    env: &Environment,
    settings: &Settings,
) -> Option<Replanned> {
    let template = kind.read_template(object).ok()??;
    let view = TemplateView::read(&template);
    let annotations = view.annotations();
    let own_opt_out = annotations.get(INJECT).map(|v| v.trim_ascii()) == Some("false");
    let has_record = annotations
        .get(STATUS)
        .is_some_and(|text| Status::parse(text).is_some());
    let planned = view.plan(env, settings);
    let (skip, choreography) = match &planned.decision {
        Decision::Skip(reason) => (Some(*reason), None),
        Decision::Plan(plan) => (None, render::choreography(&view, &plan.calls)),
    };
    let injection = inject::write(kind, &view, planned);
    Some(Replanned {
        skip,
        own_opt_out,
        has_record,
        changes: !injection.patch.0.is_empty(),
        choreography,
    })
}

/// A pod's or template's state, with the reason an opted-out or skipped one has.
fn state_of(replanned: &Replanned) -> (State, Option<String>) {
    let state = match replanned.skip {
        Some(SkipReason::OptedOut) => State::OptedOut,
        // lameduck cannot protect those here: nothing a restart would change.
        Some(SkipReason::NotLongRunning | SkipReason::WindowsWithoutSleepAction) => {
            State::NotApplicable
        }
        None if !replanned.changes => State::Protected,
        None if replanned.has_record => State::Stale,
        None => State::Unprotected,
    };
    let reason = (replanned.skip).map(|skip| render::skip_reason(skip, replanned.own_opt_out));
    (state, reason)
}

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
