//! `lameduck explain`: each pod template's shutdown timeline, as a table for people and as
//! JSON for machines. Both are rendered from one report, so they cannot disagree.
//!
//! t = 0 is when deletion starts. A container's preStop sleep ends at its SIGTERM time;
//! its budget is the time it has after SIGTERM; "done by" is the sum. The grace period is
//! when the kubelet kills whatever still runs.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::input::Source;
use super::{ManifestError, ObjectRef, PlannedTemplate, for_each_object, plan_object};
use crate::inject::hook_value;
use crate::plan::status::Status;
use crate::plan::{
    ContainerOutcome, DEFAULT_GRACE_SECONDS, Decision, HookAction, Role, Settings, SkipReason,
    annotations, human,
};
use crate::workload::Container;

/// The version of the JSON shape; bumped on any change that is not a new field.
pub const REPORT_VERSION: u32 = 1;

/// `explain --output json`. Every key is always present (`null` when it does not apply).
#[derive(Debug, Clone, Serialize)]
pub struct ExplainReport {
    pub version: u32,
    /// One per pod template, in input order.
    pub templates: Vec<TemplateReport>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateReport {
    /// The file as given, or `<stdin>`.
    pub file: String,
    /// 1-based document index in the file.
    pub document: usize,
    /// 1-based index in a `List`'s or `ResourceList`'s `items`; `null` at top level.
    pub item: Option<usize>,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `false` when lameduck leaves the template alone (see `skipReason`).
    pub planned: bool,
    /// `"opted out"` or `"restartPolicy is not Always"`.
    pub skip_reason: Option<&'static str>,
    /// `"sleep"` or `"exec"`; `null` when not planned.
    pub action: Option<HookAction>,
    pub budgets: Option<BudgetsReport>,
    /// `terminationGracePeriodSeconds` as the user wrote it (`null`: unset, so 30).
    pub submitted_grace_period_seconds: Option<i64>,
    /// `terminationGracePeriodSeconds` after mutation (`null`: unset, so 30).
    pub grace_period_seconds: Option<i64>,
    /// The regular containers, in the template's order.
    pub containers: Vec<ContainerReport>,
    /// `initContainers` with `restartPolicy: Always`: SIGTERM from the kubelet once the
    /// regular containers have exited; no preStop is injected into them.
    pub native_sidecars: Vec<String>,
    pub warnings: Vec<WarningReport>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetsReport {
    pub sleep_seconds: u64,
    pub shutdown_seconds: u64,
    pub stagger_seconds: u64,
}

/// What a container's `preStop` will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PreStop {
    /// lameduck's sleep.
    Injected,
    /// The user's own hook, left as is: its length is unknown.
    Own,
    /// No hook: SIGTERM at t = 0.
    None,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub name: String,
    /// `proxy`, `app`, `sidecar`, `skip`; `null` when the template is not planned.
    pub role: Option<Role>,
    pub pre_stop: PreStop,
    /// When the preStop ends and SIGTERM is sent; `null` after a hook of unknown length.
    pub sigterm_at_seconds: Option<u64>,
    /// Time planned after SIGTERM; `null` when lameduck planned none.
    pub budget_seconds: Option<u64>,
    /// `sigtermAtSeconds + budgetSeconds`.
    pub done_by_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WarningReport {
    /// Stable identifier, e.g. `own_prestop`, `invalid_annotation`, `tier_order`.
    pub reason: &'static str,
    /// The text the webhook returns as an admission warning.
    pub message: String,
}

/// Plans every pod template of every source.
pub fn explain(
    sources: &mut [Source],
    settings: &Settings,
) -> Result<ExplainReport, ManifestError> {
    let mut templates = Vec::new();
    for source in sources {
        for (index, document) in source.documents.iter_mut().enumerate() {
            let mut visit = |object: &mut Value, at: ObjectRef| {
                if let Some(planned) = plan_object(object, at, settings)? {
                    templates.push(TemplateReport::new(&planned));
                }
                Ok::<(), ManifestError>(())
            };
            for_each_object(document, &source.name, index + 1, &mut visit)?;
        }
    }
    Ok(ExplainReport {
        version: REPORT_VERSION,
        templates,
    })
}

impl TemplateReport {
    fn new(planned: &PlannedTemplate) -> Self {
        let PlannedTemplate {
            object,
            template,
            injection,
            ..
        } = planned;
        let spec = template.spec.as_ref();
        let containers: &[Container] = spec.map_or(&[], |s| s.containers.as_slice());
        let init_containers: &[Container] = spec.map_or(&[], |s| s.init_containers.as_slice());
        let current_grace = spec.and_then(|s| s.termination_grace_period_seconds);
        // Read the record the way `inject` does, so explaining mutated output gives the
        // same answer as explaining the original.
        let previous = template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(annotations::STATUS))
            .and_then(|text| Status::parse(text))
            .unwrap_or_default();
        let submitted_grace = previous.submitted_grace(current_grace);
        let has_own_hook = |container: &Container| match container.pre_stop() {
            None => false,
            Some(hook) => previous
                .pre_stop
                .get(&container.name)
                .is_none_or(|&ours| *hook != hook_value(ours)),
        };
        // A container lameduck leaves alone: SIGTERM at once unless it has its own hook.
        let untouched = |container: &Container, role: Option<Role>| {
            let own = has_own_hook(container);
            ContainerReport {
                name: container.name.clone(),
                role,
                pre_stop: if own { PreStop::Own } else { PreStop::None },
                sigterm_at_seconds: (!own).then_some(0),
                budget_seconds: None,
                done_by_seconds: None,
            }
        };

        let mut report = TemplateReport {
            file: object.source.clone(),
            document: object.document,
            item: object.item,
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            planned: false,
            skip_reason: None,
            action: None,
            budgets: None,
            submitted_grace_period_seconds: submitted_grace,
            grace_period_seconds: submitted_grace,
            containers: Vec::new(),
            native_sidecars: init_containers
                .iter()
                .filter(|c| c.is_native_sidecar())
                .map(|c| c.name.clone())
                .collect(),
            warnings: injection
                .planned
                .warnings
                .iter()
                .map(|w| WarningReport {
                    reason: w.reason.as_str(),
                    message: w.to_string(),
                })
                .collect(),
        };
        match &injection.planned.decision {
            Decision::Skip(reason) => {
                report.skip_reason = Some(reason.as_str());
                report.containers = containers.iter().map(|c| untouched(c, None)).collect();
            }
            Decision::Plan(plan) => {
                report.planned = true;
                report.action = Some(plan.action);
                report.budgets = Some(BudgetsReport {
                    sleep_seconds: plan.budgets.sleep,
                    shutdown_seconds: plan.budgets.shutdown,
                    stagger_seconds: plan.budgets.stagger,
                });
                report.grace_period_seconds = plan.grace.or(submitted_grace);
                report.containers = containers
                    .iter()
                    .zip(&plan.containers)
                    .map(|(container, planned)| match planned.outcome {
                        ContainerOutcome::Inject { sleep, budget } => ContainerReport {
                            name: container.name.clone(),
                            role: Some(planned.role),
                            pre_stop: PreStop::Injected,
                            sigterm_at_seconds: Some(sleep),
                            budget_seconds: Some(budget),
                            done_by_seconds: Some(sleep.saturating_add(budget)),
                        },
                        ContainerOutcome::OwnHook | ContainerOutcome::Skipped => {
                            untouched(container, Some(planned.role))
                        }
                    })
                    .collect();
            }
        }
        report
    }

    fn object(&self) -> ObjectRef {
        ObjectRef {
            source: self.file.clone(),
            document: self.document,
            item: self.item,
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The table for one template, each line indented by two spaces under a heading.
    fn write_text(&self, out: &mut String) {
        let _ = writeln!(out, "{}", self.object());
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
        let _ = writeln!(
            out,
            "  budgets: sleep {}, shutdown {}, stagger {}; preStop action {}",
            human(budgets.sleep_seconds),
            human(budgets.shutdown_seconds),
            human(budgets.stagger_seconds),
            action.as_str()
        );

        let mut rows: Vec<[String; 6]> = Vec::new();
        let mut ordered: Vec<&ContainerReport> = self.containers.iter().collect();
        // The timeline: by SIGTERM time, hooks of unknown length last; ties keep the
        // template's order (the sort is stable).
        ordered.sort_by_key(|c| c.sigterm_at_seconds.unwrap_or(u64::MAX));
        for container in ordered {
            let seconds = |value: Option<u64>| value.map_or("?".to_string(), human);
            let pre_stop = match container.pre_stop {
                PreStop::Injected => format!("sleep {}", seconds(container.sigterm_at_seconds)),
                PreStop::Own => "own hook".to_string(),
                PreStop::None => "none".to_string(),
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
        for name in &self.native_sidecars {
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
        self.write_warnings(out);
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

impl ExplainReport {
    pub fn has_warnings(&self) -> bool {
        self.templates.iter().any(|t| !t.warnings.is_empty())
    }

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

    pub fn to_json(&self) -> String {
        // Plain structs of strings and integers always serialize.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::input;

    fn report(yaml: &str) -> ExplainReport {
        let mut sources = [input::parse("t.yaml", yaml).unwrap()];
        explain(&mut sources, &Settings::default()).unwrap()
    }

    const NGINX_APP: &str = "
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: nginx, image: nginx:1.27}
  - {name: app, image: shop/app:1}
";

    #[test]
    fn nginx_and_app_follow_the_design() {
        let report = report(NGINX_APP);
        let template = &report.templates[0];
        let at: Vec<_> = template
            .containers
            .iter()
            .map(|c| (c.role, c.sigterm_at_seconds, c.budget_seconds))
            .collect();
        assert_eq!(
            at,
            [
                (Some(Role::Proxy), Some(10), Some(5)),
                (Some(Role::App), Some(15), Some(30))
            ]
        );
        assert_eq!(template.grace_period_seconds, Some(45));
        assert_eq!(template.submitted_grace_period_seconds, None);
        assert!(!report.has_warnings());
    }

    #[test]
    fn explaining_mutated_output_gives_the_same_report() {
        let mut sources = [input::parse("t.yaml", NGINX_APP).unwrap()];
        let before = explain(&mut sources.clone(), &Settings::default()).unwrap();
        super::super::mutate::mutate(&mut sources, &Settings::default(), false).unwrap();
        let after = explain(&mut sources, &Settings::default()).unwrap();
        assert_eq!(before.to_json(), after.to_json());
    }

    #[test]
    fn skipped_templates_say_why_and_when_sigterm_comes() {
        let report = report(
            "
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: run
      - name: hooked
        lifecycle: {preStop: {exec: {command: [stop]}}}
",
        );
        let template = &report.templates[0];
        assert!(!template.planned);
        assert_eq!(template.skip_reason, Some("restartPolicy is not Always"));
        assert_eq!(template.containers[0].sigterm_at_seconds, Some(0));
        assert_eq!(template.containers[1].pre_stop, PreStop::Own);
        assert_eq!(template.containers[1].sigterm_at_seconds, None);
        let text = report.to_text();
        assert!(
            text.contains("not planned: restartPolicy is not Always"),
            "{text}"
        );
    }

    #[test]
    fn the_table_is_aligned_and_ordered_by_sigterm() {
        let report = report(
            "
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  initContainers:
  - {name: istio-proxy, restartPolicy: Always}
  containers:
  - {name: fluent-bit}
  - {name: app}
  - {name: envoy}
",
        );
        let text = report.to_text();
        let names: Vec<&str> = text
            .lines()
            .skip(3)
            .filter_map(|line| line.split_whitespace().nth(1))
            .collect();
        assert_eq!(
            names,
            ["envoy", "app", "fluent-bit", "istio-proxy", "period"],
            "{text}"
        );
        assert!(
            text.contains("grace period 55s (submitted: unset, 30s)"),
            "{text}"
        );
    }
}
