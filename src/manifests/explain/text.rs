//! The table `explain` prints for people, rendered from the same report as the JSON.

use std::fmt::Write as _;

use super::{ContainerReport, ExplainReport, PreStop, TemplateReport};
use crate::plan::wait::{WaitOn, WaiterPlacement};
use crate::plan::{DEFAULT_GRACE_SECONDS, Role, SkipReason, annotations, human};

impl ExplainReport {
    pub fn to_text(&self) -> String {
        if self.templates.is_empty() {
            return "no pod templates found\n".to_string();
        }
        let mut out = String::new();
        for (index, template) in self.templates.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            template.write_text(&mut out);
        }
        out
    }
}

impl TemplateReport {
    /// The table for one template, each line indented by two spaces under a heading.
    fn write_text(&self, out: &mut String) {
        let _ = writeln!(out, "{}", self.object);
        let grace_text = |grace: Option<i64>| match grace {
            Some(grace) => human(u64::try_from(grace).unwrap_or(0)),
            None => format!("unset ({})", human(DEFAULT_GRACE_SECONDS.unsigned_abs())),
        };
        let (Some(action), Some(budgets)) = (self.action, self.budgets) else {
            let why = match self.skip_reason {
                Some(reason) if reason == SkipReason::NotLongRunning.as_str() => format!(
                    "{reason} (annotate the pod template {}: \"true\" to opt in)",
                    annotations::INJECT
                ),
                Some(reason) if reason == SkipReason::OptedOut.as_str() => {
                    format!("{reason} ({}: \"false\")", annotations::INJECT)
                }
                Some(reason) => reason.to_string(),
                None => "no plan".to_string(),
            };
            let _ = writeln!(out, "  not planned: {why}");
            let _ = writeln!(
                out,
                "  grace period {}",
                grace_text(self.grace_period_seconds)
            );
            self.write_warnings(out);
            return;
        };

        let grace = match (
            self.grace_period_seconds,
            self.submitted_grace_period_seconds,
        ) {
            (grace, submitted) if grace == submitted => {
                format!("{} (as submitted)", grace_text(grace))
            }
            (grace, None) => format!("{} (submitted: unset, 30s)", grace_text(grace)),
            (grace, Some(submitted)) => format!(
                "{} (raised from {})",
                grace_text(grace),
                grace_text(Some(submitted))
            ),
        };
        match &self.wait {
            Some(wait) => {
                let _ = writeln!(
                    out,
                    "  budgets: wait until quiet{} {}-{}, shutdown {}, stagger {}; preStop action wait ({} on port {})",
                    match wait.on {
                        WaitOn::Requests => "",
                        WaitOn::Connections => " (new connections only)",
                    },
                    human(wait.min_seconds),
                    human(wait.max_seconds),
                    human(budgets.shutdown_seconds),
                    human(budgets.stagger_seconds),
                    wait.container,
                    wait.port
                );
                let _ = writeln!(
                    out,
                    "  SIGTERM times are the latest (release at {}); a quiet pod is released earlier, from {}",
                    human(wait.max_seconds),
                    human(wait.min_seconds)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  budgets: sleep {}, shutdown {}, stagger {}; preStop action {}",
                    human(budgets.sleep_seconds),
                    human(budgets.shutdown_seconds),
                    human(budgets.stagger_seconds),
                    action.as_str()
                );
            }
        }

        let mut rows: Vec<[String; 6]> = Vec::new();
        let mut ordered: Vec<&ContainerReport> = self.containers.iter().collect();
        // The timeline: by SIGTERM time, hooks of unknown length last; ties keep the
        // template's order (the sort is stable).
        ordered.sort_by_key(|c| c.sigterm_at_seconds.unwrap_or(u64::MAX));
        for container in ordered {
            let seconds = |value: Option<u64>| value.map_or("?".to_string(), human);
            let pre_stop = match (container.pre_stop, &self.wait) {
                (PreStop::Injected, Some(wait)) => match container.release_after_seconds {
                    Some(0) => format!(
                        "waits until quiet, {}-{}",
                        human(wait.min_seconds),
                        human(wait.max_seconds)
                    ),
                    Some(after) => format!(
                        "waits until quiet, {}-{}, then +{}",
                        human(wait.min_seconds),
                        human(wait.max_seconds),
                        human(after)
                    ),
                    None => format!("waiter, fixed {}", seconds(container.sigterm_at_seconds)),
                },
                (PreStop::Injected, None) => {
                    format!("sleep {}", seconds(container.sigterm_at_seconds))
                }
                (PreStop::Own, _) => "own hook".to_string(),
                (PreStop::None, _) => "none".to_string(),
            };
            rows.push([
                seconds(container.sigterm_at_seconds),
                container.name.clone(),
                container.role.map_or("-", Role::as_str).to_string(),
                pre_stop,
                container.budget_seconds.map_or("-".to_string(), human),
                seconds(container.done_by_seconds),
            ]);
        }
        let injected = self
            .containers
            .iter()
            .any(|c| c.pre_stop == PreStop::Injected);
        let (native_waiter, regular_waiter) = match &self.wait {
            Some(wait) if wait.placement == WaiterPlacement::NativeSidecar => {
                (Some(wait.container.to_string()), None)
            }
            Some(wait) => (None, Some(wait.container)),
            None => (None, None),
        };
        if let Some(name) = regular_waiter {
            // SIGTERM with the deletion; it serves until the last hook is answered.
            let last_answer = self
                .containers
                .iter()
                .filter(|c| c.pre_stop == PreStop::Injected)
                .filter_map(|c| c.sigterm_at_seconds)
                .max();
            rows.insert(
                0,
                [
                    "0s".into(),
                    name.to_string(),
                    "waiter".into(),
                    "none: answers the hooks".into(),
                    "-".into(),
                    last_answer.map_or("?".to_string(), human),
                ],
            );
        }
        for name in self.native_sidecars.iter().chain(&native_waiter) {
            // The grace period reserves one stagger for them after the last container.
            let budget = if injected {
                human(budgets.stagger_seconds)
            } else {
                "-".to_string()
            };
            rows.push([
                "last".into(),
                name.clone(),
                "native sidecar".into(),
                "none".into(),
                budget,
                "-".into(),
            ]);
        }
        let header = [
            "SIGTERM",
            "CONTAINER",
            "ROLE",
            "PRESTOP",
            "BUDGET",
            "DONE BY",
        ];
        write_table(out, header, &rows);
        let _ = writeln!(out, "  grace period {grace}: then SIGKILL");
        self.write_coordinators(out);
        self.write_warnings(out);
    }

    /// Why a coordinator has no hook: "queue-proxy: no hook: waited on by
    /// user-container's preStop (coordinates the shutdown)".
    fn write_coordinators(&self, out: &mut String) {
        for container in &self.containers {
            if container.waited_on_by.is_empty() {
                continue;
            }
            let hook = match container.pre_stop {
                PreStop::Own => "own hook kept, no delay",
                _ => "no hook",
            };
            let callers: Vec<String> = (container.waited_on_by.iter())
                .map(|name| format!("{name}'s preStop"))
                .collect();
            let what = match container.coordinator {
                Some(product) => format!("{product}: coordinates the shutdown"),
                None => "coordinates the shutdown".to_string(),
            };
            let _ = writeln!(
                out,
                "  {}: {hook}: waited on by {} ({what})",
                container.name,
                callers.join(" and ")
            );
        }
    }

    fn write_warnings(&self, out: &mut String) {
        for warning in &self.warnings {
            let _ = writeln!(out, "  warning: {}", warning.message);
        }
    }
}

/// Left-aligned columns, except the first (times), right-aligned so they line up.
fn write_table(out: &mut String, header: [&str; 6], rows: &[[String; 6]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: [&str; 6]| {
        let mut text = format!("  {:>w$}", cells[0], w = widths[0]);
        for (cell, width) in cells.iter().zip(widths).skip(1) {
            let _ = write!(text, "  {cell:<width$}");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header);
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
}
