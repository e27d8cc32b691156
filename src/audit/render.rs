//! The audit's two outputs: a table grouped by namespace for people, and versioned JSON
//! for machines.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Item, Report, State};

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
        super::plural(report.items.len(), "workload"),
        super::plural(namespaces, "namespace"),
        counts.join(", ")
    );
    out
}
