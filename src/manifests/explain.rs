//! `lameduck explain`: each pod template's shutdown timeline, as a table for people and as
//! JSON for machines. Both are rendered from one report, so they cannot disagree.
//!
//! t = 0 is when deletion starts. A container's preStop sleep ends at its SIGTERM time;
//! its budget is the time it has after SIGTERM; "done by" is the sum. The grace period is
//! when the kubelet kills whatever still runs.

use serde::Serialize;
use serde_json::Value;

use super::input::Source;
use super::{ManifestError, ObjectRef, PlannedTemplate, for_each_object, plan_object};

mod text;
use crate::inject::TemplateView;
use crate::plan::{ContainerOutcome, Decision, HookAction, Role, Settings};

/// The version of the JSON shape; bumped on any change that is not a new field.
pub(super) const REPORT_VERSION: u32 = 1;

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
    /// Where the template's object is: `file`, `document`, `item`, `apiVersion`, `kind`,
    /// `namespace`, `name`.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// `false` when lameduck leaves the template alone (see `skipReason`).
    pub planned: bool,
    /// `"opted out"` or `"restartPolicy is not Always"`.
    pub skip_reason: Option<&'static str>,
    /// `"sleep"`, `"exec"` or `"wait"`; `null` when not planned.
    pub action: Option<HookAction>,
    pub budgets: Option<BudgetsReport>,
    /// With `wait`: the waiter's bounds and port; `null` otherwise.
    pub wait: Option<WaitReport>,
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

/// The `wait` action's bounds: each injected container's preStop returns at the pod's
/// release time (the first quiet moment, between `min` and `max`) plus its offset; the
/// timeline's SIGTERM times are the worst case (release at `max`).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitReport {
    pub min_seconds: u64,
    pub max_seconds: u64,
    pub window_milliseconds: u64,
    /// What holds the pod: requests, or new connections only.
    pub on: crate::plan::wait::WaitOn,
    pub port: u16,
    pub container: &'static str,
    /// `container` (a regular container, SIGTERM at the deletion, exits once it has
    /// answered the hooks) or `native-sidecar` (stopped after the apps).
    pub placement: crate::plan::wait::WaiterPlacement,
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
    /// The containers whose own `preStop` waits on this one: it coordinates the pod's
    /// shutdown, so lameduck gives it no hook and no delay. Empty for most containers.
    pub waited_on_by: Vec<String>,
    /// What the coordinator is, when lameduck knows it (`Knative's queue-proxy`).
    pub coordinator: Option<&'static str>,
    /// With `wait`: seconds after the pod's release time this container's preStop
    /// returns; `null` for a fixed delay (or without `wait`).
    pub release_after_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WarningReport {
    /// Stable identifier, e.g. `own_prestop`, `invalid_annotation`, `tier_order`.
    pub reason: &'static str,
    /// The text the webhook returns as an admission warning.
    pub message: String,
}

/// Plans every pod template of every source.
pub(super) fn explain(
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
        let view = TemplateView::read(template);
        let containers = view.containers();
        let submitted_grace = view.submitted_grace();
        // A container lameduck leaves alone: SIGTERM at once unless it has its own hook.
        let untouched = |index: usize, role: Option<Role>| {
            let own = view.has_own_hook(index);
            ContainerReport {
                name: containers[index].name.clone(),
                role,
                pre_stop: if own { PreStop::Own } else { PreStop::None },
                sigterm_at_seconds: (!own).then_some(0),
                budget_seconds: None,
                done_by_seconds: None,
                waited_on_by: Vec::new(),
                coordinator: None,
                release_after_seconds: None,
            }
        };

        let mut report = TemplateReport {
            object: object.clone(),
            planned: false,
            skip_reason: None,
            action: None,
            budgets: None,
            wait: None,
            submitted_grace_period_seconds: submitted_grace,
            grace_period_seconds: submitted_grace,
            containers: Vec::new(),
            native_sidecars: (view.native_sidecars().iter())
                .map(|name| name.to_string())
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
                report.containers = (0..containers.len()).map(|i| untouched(i, None)).collect();
            }
            Decision::Plan(plan) => {
                report.planned = true;
                report.action = Some(plan.action);
                report.budgets = Some(BudgetsReport {
                    sleep_seconds: plan.budgets.sleep,
                    shutdown_seconds: plan.budgets.shutdown,
                    stagger_seconds: plan.budgets.stagger,
                });
                report.wait = plan.wait.as_ref().map(|wait| WaitReport {
                    min_seconds: wait.min,
                    max_seconds: wait.max,
                    window_milliseconds: wait.window_ms,
                    on: wait.on,
                    port: wait.port,
                    container: crate::plan::wait::WAITER_NAME,
                    placement: wait.placement,
                });
                report.grace_period_seconds = plan.grace.or(submitted_grace);
                report.containers = containers
                    .iter()
                    .zip(&plan.containers)
                    .enumerate()
                    .map(|(index, (container, planned))| match planned.outcome {
                        ContainerOutcome::Inject { sleep, budget } => ContainerReport {
                            name: container.name.clone(),
                            role: Some(planned.role),
                            pre_stop: PreStop::Injected,
                            sigterm_at_seconds: Some(sleep),
                            budget_seconds: Some(budget),
                            done_by_seconds: Some(sleep.saturating_add(budget)),
                            waited_on_by: Vec::new(),
                            coordinator: None,
                            release_after_seconds: plan
                                .wait
                                .as_ref()
                                .and_then(|wait| wait.offset(sleep)),
                        },
                        ContainerOutcome::OwnHook | ContainerOutcome::Skipped => {
                            untouched(index, Some(planned.role))
                        }
                        ContainerOutcome::Coordinates => {
                            let calls = plan.calls.iter().filter(|call| call.target == index);
                            ContainerReport {
                                waited_on_by: calls
                                    .clone()
                                    .map(|call| containers[call.caller].name.clone())
                                    .collect(),
                                coordinator: calls.clone().find_map(|call| call.known),
                                ..untouched(index, Some(planned.role))
                            }
                        }
                    })
                    .collect();
            }
        }
        report
    }
}

impl ExplainReport {
    pub fn has_warnings(&self) -> bool {
        self.templates.iter().any(|t| !t.warnings.is_empty())
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
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
        assert_eq!(before.to_json().unwrap(), after.to_json().unwrap());
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
