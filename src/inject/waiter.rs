//! The `wait` action's waiter: lameduck's own image in waiter mode, appended to
//! `containers` (a pod that runs until deleted) or to `initContainers` as a native sidecar
//! (a pod that runs to completion), and the `httpGet` path each hook calls.

use json_patch::PatchOperation;
use serde_json::{Value, json};

use super::view::WaiterSlot;
use super::{TemplateView, add, pointer, remove, replace};
use crate::inject::status::InjectedHook;
use crate::plan::wait::{WAITER_NAME, WaitPlan, WaiterPlacement, waiter_args};
use crate::workload::Container;

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
pub fn container(plan: &WaitPlan, calls: usize) -> Value {
    let c = &plan.container;
    let mut value = json!({
        "name": WAITER_NAME,
        "image": c.image.as_deref().unwrap_or_default(),
        "imagePullPolicy": c.pull_policy,
        "args": waiter_args(plan, calls),
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
    });
    if plan.placement == WaiterPlacement::NativeSidecar {
        // Started before the main containers, stopped after them. No startup probe: the
        // kubelet starts the main containers only once this one runs, and it listens
        // within milliseconds of that, while traffic (and so a deletion that matters)
        // reaches the pod only once it is Ready. A probe cost every new pod half a second
        // more (DESIGN.md).
        value["restartPolicy"] = Value::from("Always");
    }
    value
}

/// Brings the template's waiter to `wanted`: the one an earlier pass injected (the status
/// record names it) is kept when it still matches, replaced when the plan changed, moved
/// when its placement did, and removed when the pod no longer waits. A container of that
/// name that is not lameduck's is never touched (the plan falls back to a fixed sleep
/// then). Runs after the hooks are written: removing a container shifts the indexes
/// after it.
pub(super) fn write(
    ops: &mut Vec<PatchOperation>,
    base: &[&str],
    view: &TemplateView,
    wanted: Option<(&WaitPlan, usize)>,
) {
    let existing = view.waiter();
    if let (Some(slot), Some((plan, calls))) = (existing, wanted)
        && placement(slot) == plan.placement
    {
        let (list, index) = location(view, slot);
        if !matches(&list[index], plan, calls) {
            let index = index.to_string();
            ops.push(replace(
                pointer(base, &["spec", list_key(plan.placement), &index]),
                container(plan, calls),
            ));
        }
        return;
    }
    if let Some(slot) = existing {
        let (list, index) = location(view, slot);
        let key = list_key(placement(slot));
        // The waiter alone in `initContainers`: the list goes too (absent and empty mean
        // the same). `containers` always keeps the app.
        if list.len() == 1 && placement(slot) == WaiterPlacement::NativeSidecar {
            ops.push(remove(pointer(base, &["spec", key])));
        } else {
            let index = index.to_string();
            ops.push(remove(pointer(base, &["spec", key, &index])));
        }
    }
    if let Some((plan, calls)) = wanted {
        let key = list_key(plan.placement);
        // An old waiter, if any, was in the other list (the same one returned above).
        // `add` on an absent, null or empty list sets it whole.
        ops.push(if !list(view, plan.placement).is_empty() {
            add(pointer(base, &["spec", key, "-"]), container(plan, calls))
        } else {
            add(
                pointer(base, &["spec", key]),
                Value::Array(vec![container(plan, calls)]),
            )
        });
    }
}

fn placement(slot: WaiterSlot) -> WaiterPlacement {
    match slot {
        WaiterSlot::Container(_) => WaiterPlacement::Container,
        WaiterSlot::InitContainer(_) => WaiterPlacement::NativeSidecar,
    }
}

fn list_key(placement: WaiterPlacement) -> &'static str {
    match placement {
        WaiterPlacement::Container => "containers",
        WaiterPlacement::NativeSidecar => "initContainers",
    }
}

/// The list a waiter of this placement goes in.
fn list<'t>(view: &TemplateView<'t>, placement: WaiterPlacement) -> &'t [Container] {
    match placement {
        WaiterPlacement::Container => view.all_containers(),
        WaiterPlacement::NativeSidecar => view.init_containers(),
    }
}

/// The list the waiter is in, and its index there.
fn location<'t>(view: &TemplateView<'t>, slot: WaiterSlot) -> (&'t [Container], usize) {
    match slot {
        WaiterSlot::Container(index) | WaiterSlot::InitContainer(index) => {
            (list(view, placement(slot)), index)
        }
    }
}

/// Whether an injected waiter is still what `plan` asks for. Compared on what lameduck
/// decides (image, pull policy, flags) rather than the whole object, which the API server
/// fills with defaults.
fn matches(existing: &Container, plan: &WaitPlan, calls: usize) -> bool {
    let wanted_args: Vec<Value> = waiter_args(plan, calls)
        .into_iter()
        .map(Value::from)
        .collect();
    existing.image.as_deref() == plan.container.image.as_deref()
        && existing.image_pull_policy.as_ref().and_then(Value::as_str)
            == Some(plan.container.pull_policy.as_str())
        && existing.args.as_ref().and_then(Value::as_array) == Some(&wanted_args)
}
