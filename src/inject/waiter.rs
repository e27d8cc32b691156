//! The `wait` action's native sidecar: lameduck's own image in waiter mode, appended to
//! `initContainers` (so it starts after the pod's init work and before any main
//! container), and the `httpGet` path each hook calls.

use json_patch::PatchOperation;
use serde_json::{Value, json};

use super::{TemplateView, add, pointer, remove, replace};
use crate::inject::status::InjectedHook;
use crate::plan::wait::{WAITER_NAME, WaitPlan, waiter_args};

/// What a hook asks the waiter: its tier offset after the pod's release time, or (for a
/// per-container sleep below `max`) a fixed delay from the first hook call.
pub fn release_path(hook: InjectedHook) -> String {
    match hook.after {
        Some(after) => format!("/release?after={after}"),
        None => format!("/release?at={}", hook.seconds),
    }
}

/// The waiter container. Every field the API server would default is written out, so a
/// pod made from a mutated template carries the same container.
pub fn container(plan: &WaitPlan) -> Value {
    let c = &plan.container;
    json!({
        "name": WAITER_NAME,
        "image": c.image.as_deref().unwrap_or_default(),
        "imagePullPolicy": c.pull_policy,
        "args": waiter_args(plan),
        // A native sidecar: started before the main containers, stopped after them. No
        // startup probe: the kubelet starts the main containers only once this one runs,
        // and it listens within milliseconds of that, while traffic (and so a deletion
        // that matters) reaches the pod only once it is Ready. A probe cost every new
        // pod half a second more (DESIGN.md).
        "restartPolicy": "Always",
        "resources": {
            "requests": {"cpu": c.cpu_request, "memory": c.memory_request},
            "limits": {"cpu": c.cpu_limit, "memory": c.memory_limit},
        },
        // Pod Security `restricted`: nothing to grant, it only reads /proc/net.
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    })
}

/// Brings the template's waiter to `wanted`: the one an earlier pass injected (the status
/// record names it) is kept when it still matches, replaced when the plan changed, and
/// removed when the pod no longer waits. A container of that name that is not
/// lameduck's is never touched (the plan falls back to a fixed sleep then).
pub(super) fn write(
    ops: &mut Vec<PatchOperation>,
    base: &[&str],
    view: &TemplateView,
    wanted: Option<&WaitPlan>,
) {
    let existing = view.waiter();
    match (existing, wanted) {
        (Some(index), Some(plan)) => {
            if !matches(&view.init_containers()[index], plan) {
                let index = index.to_string();
                ops.push(replace(
                    pointer(base, &["spec", "initContainers", &index]),
                    container(plan),
                ));
            }
        }
        (Some(index), None) => {
            // The waiter alone: the list goes too (absent and empty mean the same).
            if view.init_containers().len() == 1 {
                ops.push(remove(pointer(base, &["spec", "initContainers"])));
            } else {
                let index = index.to_string();
                ops.push(remove(pointer(base, &["spec", "initContainers", &index])));
            }
        }
        (None, Some(plan)) => {
            // `add` on an absent, null or empty list sets it whole.
            ops.push(if !view.init_containers().is_empty() {
                add(
                    pointer(base, &["spec", "initContainers", "-"]),
                    container(plan),
                )
            } else {
                add(
                    pointer(base, &["spec", "initContainers"]),
                    Value::Array(vec![container(plan)]),
                )
            });
        }
        (None, None) => {}
    }
}

/// Whether an injected waiter is still what `plan` asks for. Compared on what lameduck
/// decides (image, pull policy, flags) rather than the whole object, which the API server
/// fills with defaults.
fn matches(existing: &crate::workload::Container, plan: &WaitPlan) -> bool {
    let wanted_args: Vec<Value> = waiter_args(plan).into_iter().map(Value::from).collect();
    existing.image.as_deref() == plan.container.image.as_deref()
        && existing.image_pull_policy.as_ref().and_then(Value::as_str)
            == Some(plan.container.pull_policy.as_str())
        && existing.args.as_ref().and_then(Value::as_array) == Some(&wanted_args)
}
