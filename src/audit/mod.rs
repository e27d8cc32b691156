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
mod group;
mod render;
mod replan;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cluster::NamespaceInfo;
use crate::plan::{HookAction, Settings};
use crate::scope::{Mode, NamespaceInjection};

pub use command::{AuditError, AuditRequest};
pub use group::audit;
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
    pub(super) fn state(self) -> Option<State> {
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
    pub(super) fn add(&mut self, state: State) {
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
