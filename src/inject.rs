//! Writes a plan into a pod template as a handful of JSON Patch operations, taking out
//! exactly what an earlier pass injected (as `lameduck.dev/status` records it) first.
//!
//! The operations are built directly from the parsed view rather than by cloning the
//! object and diffing it: a review then costs little more than parsing it.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use serde_json::{Map, Value, json};

use crate::plan::annotations::{self, Annotations};
use crate::plan::status::{InjectedHook, Status};
use crate::plan::{
    self, ContainerInput, Decision, Environment, HookAction, Planned, PodInput, Settings, Warning,
    WarningReason,
};
use crate::workload::{Container, PodTemplate, WorkloadKind};

/// What a pass decided for one pod template.
#[derive(Debug, Clone)]
pub struct Injection {
    pub patch: Patch,
    pub planned: Planned,
    /// The plan in one line, for audit annotations and logs; `None` when skipped.
    pub summary: Option<String>,
    /// The roles of the containers that got a hook, for metrics.
    pub injected_roles: Vec<plan::Role>,
}

/// The hook lameduck writes for a delay of `seconds`.
pub fn hook_value(hook: InjectedHook) -> Value {
    match hook.action {
        HookAction::Sleep => json!({"sleep": {"seconds": hook.seconds}}),
        HookAction::Exec => json!({"exec": {"command": ["sleep", hook.seconds.to_string()]}}),
    }
}

fn is_hook(value: &Value, hook: InjectedHook) -> bool {
    *value == hook_value(hook)
}

/// Plans a pod template and returns the patch that applies the plan to the object that
/// holds it. Running it again on the patched object yields an empty patch.
pub fn inject(
    kind: WorkloadKind,
    template: &PodTemplate,
    env: &Environment,
    settings: &Settings,
) -> Injection {
    let empty = Annotations::new();
    let pod_annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .unwrap_or(&empty);
    let (containers, init_containers, restart_policy, current_grace) = match &template.spec {
        Some(spec) => (
            spec.containers.as_slice(),
            spec.init_containers.as_slice(),
            spec.restart_policy.as_deref(),
            spec.termination_grace_period_seconds,
        ),
        None => (&[][..], &[][..], None, None),
    };
    let windows = template.spec.as_ref().is_some_and(|spec| spec.is_windows());

    let mut status_warnings = Vec::new();
    let previous = match pod_annotations.get(annotations::STATUS) {
        Some(text) => Status::parse(text).unwrap_or_else(|| {
            status_warnings.push(Warning::new(
                WarningReason::InvalidStatus,
                format!("{} is not lameduck's record; replaced", annotations::STATUS),
            ));
            Status::default()
        }),
        None => Status::default(),
    };
    // A hook is ours only while it still equals what the record says was injected.
    let ours: Vec<bool> = containers
        .iter()
        .map(|c| match (c.pre_stop(), previous.pre_stop.get(&c.name)) {
            (Some(hook), Some(&injected)) => is_hook(hook, injected),
            _ => false,
        })
        .collect();

    let inputs: Vec<ContainerInput> = containers
        .iter()
        .zip(&ours)
        .map(|(c, &ours)| ContainerInput {
            name: &c.name,
            image: c.image.as_deref(),
            has_own_pre_stop: c.pre_stop().is_some() && !ours,
        })
        .collect();
    let native_sidecars: Vec<&str> = init_containers
        .iter()
        .filter(|c| c.is_native_sidecar())
        .map(|c| c.name.as_str())
        .collect();
    let submitted_grace = previous.submitted_grace(current_grace);
    let pod = PodInput {
        annotations: pod_annotations,
        containers: &inputs,
        native_sidecars: &native_sidecars,
        restart_policy,
        submitted_grace,
        windows,
    };
    let mut planned = plan::plan(&pod, env, settings);
    planned.warnings.splice(0..0, status_warnings);

    // The state the template should end in. A skipped pod ends with nothing of ours.
    let (hooks, grace, summary): (Vec<Option<InjectedHook>>, Option<i64>, Option<String>) =
        match &planned.decision {
            Decision::Plan(plan) => (
                plan.containers
                    .iter()
                    .map(|c| {
                        // A zero delay needs no hook, and API servers before 1.33 reject
                        // `sleep.seconds: 0`.
                        c.injected()
                            .filter(|&(sleep, _)| sleep > 0)
                            .map(|(sleep, _)| InjectedHook {
                                action: plan.action,
                                seconds: sleep,
                            })
                    })
                    .collect(),
                plan.grace,
                Some(plan.summary(&pod)),
            ),
            Decision::Skip(_) => (vec![None; containers.len()], None, None),
        };

    let base = kind.template_path();
    let mut ops = Vec::new();
    let mut record = Status::default();
    let mut injected_roles = Vec::new();
    for (index, ((container, hook), &ours)) in containers.iter().zip(&hooks).zip(&ours).enumerate()
    {
        if let Some(hook) = hook {
            record.pre_stop.insert(container.name.clone(), *hook);
            if let Decision::Plan(plan) = &planned.decision {
                injected_roles.push(plan.containers[index].role);
            }
        }
        write_hook(&mut ops, base, index, container, ours, *hook);
    }

    // Grace: what the user submitted, raised if the plan needs more.
    let wanted_grace = grace.or(submitted_grace);
    if wanted_grace != current_grace {
        let path = pointer(base, &["spec", "terminationGracePeriodSeconds"]);
        ops.push(match wanted_grace {
            Some(grace) => add(path, Value::from(grace)),
            None => remove(path),
        });
    }
    if grace.is_some() && grace != submitted_grace {
        record.grace_found = submitted_grace;
        record.grace_set = grace;
    }

    let wanted_status = (record != Status::default()).then(|| record.to_annotation());
    write_status(&mut ops, base, template, pod_annotations, wanted_status);

    Injection {
        patch: Patch(ops),
        planned,
        summary,
        injected_roles,
    }
}

/// Brings one container's `preStop` to `wanted`, touching only a hook that is ours.
fn write_hook(
    ops: &mut Vec<PatchOperation>,
    base: &[&str],
    index: usize,
    container: &Container,
    ours: bool,
    wanted: Option<InjectedHook>,
) {
    let current = container.pre_stop();
    if current.is_some() && !ours {
        return; // The user's hook: never touched.
    }
    let index = index.to_string();
    let container_path = ["spec", "containers", index.as_str()];
    match (current, wanted) {
        (Some(hook), Some(wanted)) if is_hook(hook, wanted) => {}
        (_, Some(wanted)) => {
            let hook = hook_value(wanted);
            if container.lifecycle.is_some() {
                ops.push(add(
                    pointer(
                        base,
                        &[&container_path[..], &["lifecycle", "preStop"]].concat(),
                    ),
                    hook,
                ));
            } else {
                let mut lifecycle = Map::new();
                lifecycle.insert("preStop".into(), hook);
                ops.push(add(
                    pointer(base, &[&container_path[..], &["lifecycle"]].concat()),
                    Value::Object(lifecycle),
                ));
            }
        }
        (Some(_), None) => ops.push(remove(pointer(
            base,
            &[&container_path[..], &["lifecycle", "preStop"]].concat(),
        ))),
        (None, None) => {}
    }
}

/// Brings `lameduck.dev/status` to `wanted`, creating `annotations` (or `metadata`) whole
/// when the template has none.
fn write_status(
    ops: &mut Vec<PatchOperation>,
    base: &[&str],
    template: &PodTemplate,
    current: &Annotations,
    wanted: Option<String>,
) {
    let existing = current.get(annotations::STATUS);
    match wanted {
        Some(text) if existing == Some(&text) => {}
        Some(text) => {
            let has_metadata = template.metadata.is_some();
            let has_annotations = template
                .metadata
                .as_ref()
                .is_some_and(|m| m.annotations.is_some());
            ops.push(if has_annotations {
                add(
                    pointer(base, &["metadata", "annotations", annotations::STATUS]),
                    Value::String(text),
                )
            } else {
                let mut map = Map::new();
                map.insert(annotations::STATUS.into(), Value::String(text));
                if has_metadata {
                    add(
                        pointer(base, &["metadata", "annotations"]),
                        Value::Object(map),
                    )
                } else {
                    add(pointer(base, &["metadata"]), json!({"annotations": map}))
                }
            });
        }
        None if existing.is_some() => ops.push(remove(pointer(
            base,
            &["metadata", "annotations", annotations::STATUS],
        ))),
        None => {}
    }
}

fn pointer(base: &[&str], rest: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(base.iter().chain(rest).copied())
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

fn remove(path: PointerBuf) -> PatchOperation {
    PatchOperation::Remove(RemoveOperation { path })
}

#[cfg(test)]
mod tests;
