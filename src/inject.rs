//! Writes a plan into a pod template as a handful of JSON Patch operations, taking out
//! exactly what an earlier pass injected (as `lameduck.dev/status` records it) first.
//!
//! The operations are built directly from the parsed view rather than by cloning the
//! object and diffing it: a review then costs little more than parsing it.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{Map, Value, json};

use crate::plan::annotations::{self, Annotations};
use crate::plan::{self, Decision, Environment, HookAction, Planned, Settings};
use crate::workload::{Container, PodTemplate, WorkloadKind};
use status::{InjectedHook, Status};

pub mod status;
mod view;
pub mod waiter;
pub use view::TemplateView;

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
        // `scheme` is written out because the API server defaults it: a pod made from a
        // mutated template then still carries exactly this hook, so it stays lameduck's.
        // No `host`: the kubelet calls the pod's IP, where the waiter listens.
        HookAction::Wait => json!({"httpGet": {
            "path": waiter::release_path(hook),
            "port": hook.port.unwrap_or(0),
            "scheme": "HTTP",
        }}),
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
    let view = TemplateView::read(template);
    let planned = view.plan(env, settings);
    write(kind, &view, planned)
}

/// The patch that brings the template from what it is to what `planned` says: lameduck's
/// earlier hooks, grace and record taken out or replaced, the user's left alone.
pub fn write(kind: WorkloadKind, view: &TemplateView, planned: Planned) -> Injection {
    let containers = view.containers();
    // The state the template should end in. A skipped pod ends with nothing of ours.
    let (hooks, grace, summary): (Vec<Option<InjectedHook>>, Option<i64>, Option<String>) =
        match &planned.decision {
            Decision::Plan(plan) => (
                plan.containers
                    .iter()
                    .zip(containers)
                    .map(|(c, container)| {
                        // A zero delay needs no hook, and API servers before 1.33 reject
                        // `sleep.seconds: 0`. A container without a name (the API server
                        // rejects such a pod anyway) gets none either: it could not be
                        // keyed in the status record.
                        c.injected()
                            .filter(|&(sleep, _)| sleep > 0 && !container.name.is_empty())
                            .map(|(sleep, _)| match &plan.wait {
                                Some(wait) => InjectedHook {
                                    action: HookAction::Wait,
                                    seconds: sleep,
                                    port: Some(wait.port),
                                    after: wait.offset(sleep),
                                },
                                None => InjectedHook::delay(plan.action, sleep),
                            })
                    })
                    .collect(),
                plan.grace,
                Some(plan.summary(&view.pod_input())),
            ),
            Decision::Skip(_) => (vec![None; containers.len()], None, None),
        };

    let base = kind.template_path();
    let mut ops = Vec::new();
    let mut record = Status::default();
    let mut injected_roles = Vec::new();
    for (index, (container, hook)) in containers.iter().zip(&hooks).enumerate() {
        if let Some(hook) = hook {
            record.pre_stop.insert(container.name.clone(), *hook);
            if let Decision::Plan(plan) = &planned.decision {
                injected_roles.push(plan.containers[index].role);
            }
        }
        write_hook(
            &mut ops,
            base,
            view.spec_index(index),
            container,
            view.is_ours(index),
            *hook,
        );
    }

    // Grace: what the user submitted, raised if the plan needs more.
    let submitted_grace = view.submitted_grace();
    let current_grace = view.current_grace();
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

    // The waiter: only when some container calls it.
    let calls = hooks
        .iter()
        .flatten()
        .filter(|h| h.action == HookAction::Wait)
        .count();
    let wanted_waiter = match &planned.decision {
        Decision::Plan(plan) if calls > 0 => plan.wait.as_deref().map(|wait| (wait, calls)),
        _ => None,
    };
    if wanted_waiter.is_some() {
        record.waiter = Some(plan::wait::WAITER_NAME.to_string());
    }
    waiter::write(&mut ops, base, view, wanted_waiter);

    let wanted_status = (record != Status::default()).then(|| record.to_annotation());
    write_status(
        &mut ops,
        base,
        view.template(),
        view.annotations(),
        wanted_status,
    );

    Injection {
        patch: Patch(ops),
        planned,
        summary,
        injected_roles,
    }
}

/// Brings one container's `preStop` to `wanted`, touching only a hook that is ours.
/// `index` is the container's place in the template's `containers`.
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

fn replace(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Replace(ReplaceOperation { path, value })
}

#[cfg(test)]
mod tests;
