//! The audit's words: the reason and the fix of each item, and the two outputs, a table
//! grouped by namespace for people and versioned JSON for machines. `mod.rs` decides
//! states; every sentence a person reads is made here.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Item, NamespaceScope, PodCounts, Report, State};
use crate::inject::TemplateView;
use crate::plan::SkipReason;
use crate::plan::annotations::INJECT;
use crate::plan::choreography::Call;

/// `--output json`: `{"version":1,"items":[...]}`. Fields are only ever added.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub version: u32,
    pub items: &'a [Item],
}

impl<'a> JsonReport<'a> {
    pub fn new(report: &'a Report) -> Self {
        JsonReport {
            version: 1,
            items: &report.items,
        }
    }
}

/// The table: one block per namespace, each workload on a line with its state, pod
/// count and reason, and under it the command that fixes it when one is needed.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    if report.items.is_empty() {
        out.push_str("No workloads in scope.\n");
        return out;
    }
    let workload = |item: &Item| format!("{}/{}", item.kind, item.name);
    let state_width = report
        .items
        .iter()
        .map(|item| item.state.as_str().len())
        .chain(["STATE".len()])
        .max()
        .unwrap_or(0);
    let workload_width = report
        .items
        .iter()
        .map(|item| workload(item).len())
        .chain(["WORKLOAD".len()])
        .max()
        .unwrap_or(0);
    let pods_width = report
        .items
        .iter()
        .map(|item| item.pods.total.to_string().len())
        .chain(["PODS".len()])
        .max()
        .unwrap_or(0);

    let mut namespaces = 0;
    let mut current: Option<&str> = None;
    for item in &report.items {
        if current != Some(item.namespace.as_str()) {
            if current.is_some() {
                out.push('\n');
            }
            current = Some(&item.namespace);
            namespaces += 1;
            let _ = writeln!(out, "namespace {}", item.namespace);
            let _ = writeln!(
                out,
                "  {:state_width$}  {:workload_width$}  {:>pods_width$}  REASON",
                "STATE", "WORKLOAD", "PODS"
            );
        }
        let _ = writeln!(
            out,
            "  {:state_width$}  {:workload_width$}  {:>pods_width$}  {}",
            item.state.as_str(),
            workload(item),
            item.pods.total,
            item.reason
        );
        if let Some(fix) = &item.fix {
            let _ = writeln!(out, "  {:state_width$}  fix: {fix}", "");
        }
    }

    let counts: Vec<String> = State::ALL
        .iter()
        .map(|&state| format!("{} {state}", report.count(state)))
        .collect();
    let _ = writeln!(
        out,
        "\n{} in {}: {}",
        plural(report.items.len(), "workload"),
        plural(namespaces, "namespace"),
        counts.join(", ")
    );
    out
}

/// Why everything in a namespace the webhook does not plan has the state it has.
pub(super) fn scope_reason(scope: NamespaceScope, name: &str) -> String {
    match scope {
        NamespaceScope::Injected => String::new(),
        NamespaceScope::Excluded => format!("namespace {name} is excluded from the webhook"),
        NamespaceScope::Disabled => format!("namespace label {INJECT}=disabled"),
        NamespaceScope::NotEnabled => {
            format!("namespace not labelled {INJECT}=enabled (--mode namespace)")
        }
    }
}

/// Why the plan skipped a pod or template.
pub(super) fn skip_reason(skip: SkipReason, own_opt_out: bool) -> String {
    match skip {
        SkipReason::OptedOut if own_opt_out => format!("pod annotation {INJECT}: \"false\""),
        SkipReason::OptedOut => format!("namespace annotation {INJECT}: \"false\""),
        SkipReason::NotLongRunning => {
            format!("restartPolicy is not Always (batch) and no {INJECT}: \"true\"")
        }
        SkipReason::WindowsWithoutSleepAction => {
            "Windows pod, and the cluster has no native sleep action".to_string()
        }
    }
}

/// Own hooks waiting on another container ("user-container's preStop waits on
/// queue-proxy").
pub(super) fn choreography(view: &TemplateView, calls: &[Call]) -> Option<String> {
    let containers = view.containers();
    let described: Vec<String> = calls
        .iter()
        .map(|call| {
            format!(
                "{}'s preStop waits on {}",
                containers[call.caller].name, containers[call.target].name
            )
        })
        .collect();
    (!described.is_empty()).then(|| described.join(", "))
}

/// A protected item whose own hooks choreograph the shutdown.
pub(super) fn choreographed(reason: &str, choreography: &str) -> String {
    format!("{reason}; its own hooks choreograph the shutdown ({choreography}), left as they are")
}

fn plural(count: usize, one: &str) -> String {
    if count == 1 {
        format!("{count} {one}")
    } else {
        format!("{count} {one}s")
    }
}

pub(super) fn reason(
    state: State,
    pods: &PodCounts,
    template: Option<State>,
    skip_reason: Option<String>,
) -> String {
    let of_total = |count: usize| {
        if count == pods.total {
            if count == 1 {
                "the pod".to_string()
            } else {
                format!("all {count} pods")
            }
        } else {
            format!("{count} of {} pods", pods.total)
        }
    };
    let template_note = |wanted: State| {
        if template == Some(wanted) {
            "; the pod template too"
        } else {
            ""
        }
    };
    // "1 of 3 pods was", "2 of 3 pods were", "the pod was", "all 3 pods were".
    let verb = |count: usize, one: &'static str, many: &'static str| {
        if count == 1 { one } else { many }
    };
    match state {
        State::Unprotected if pods.unprotected == 0 => {
            "the pod template has no lameduck plan".to_string()
        }
        State::Unprotected => format!(
            "{} {} no lameduck plan (created before the install or while the webhook was unreachable){}",
            of_total(pods.unprotected),
            verb(pods.unprotected, "has", "have"),
            template_note(State::Unprotected)
        ),
        State::Stale if pods.stale == 0 => {
            "the pod template was planned under other settings or annotations".to_string()
        }
        State::Stale => format!(
            "{} {} planned under other settings or annotations{}",
            of_total(pods.stale),
            verb(pods.stale, "was", "were"),
            template_note(State::Stale)
        ),
        State::Protected if pods.total == 0 => {
            "no running pods; new pods get the plan at creation".to_string()
        }
        State::Protected => format!(
            "{} {} the current plan",
            of_total(pods.protected),
            verb(pods.protected, "carries", "carry")
        ),
        State::OptedOut | State::NotApplicable => skip_reason.unwrap_or_default(),
    }
}

/// What brings the current plan to a workload's pods.
pub(super) fn fix(kind: &str, name: &str, ns: &str, pods: &[&str]) -> String {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" => format!(
            "kubectl rollout restart {}/{name} -n {ns}",
            kind.to_ascii_lowercase()
        ),
        "ReplicaSet" => format!(
            "delete its pods (ReplicaSet {name} recreates them): kubectl delete pod -n {ns} {}",
            pods.join(" ")
        ),
        "Pod" => format!(
            "delete and recreate: kubectl get pod {name} -n {ns} -o yaml | kubectl replace --force -f -"
        ),
        "Job" => format!("delete and recreate job/{name} -n {ns} (a Job's pods are not restarted)"),
        "CronJob" => format!("the next run of cronjob/{name} -n {ns} gets the current plan"),
        kind => format!("restart it through its controller ({kind}/{name} -n {ns})"),
    }
}
