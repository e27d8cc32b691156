//! The shutdown plan: a pure function of a pod's containers, its annotations (and its
//! namespace's) and the server's settings. Knows nothing of HTTP, JSON patches or the API.
//!
//! Timeline, t = 0 when deletion starts (see DESIGN.md):
//! - proxy:   preStop sleep `S`, then `stagger` to drain (`shutdown` in a pod with no app);
//! - app:     preStop sleep `S` (+ `stagger` when the pod has a proxy), then `shutdown`;
//! - sidecar: preStop sleep until the last proxy or app is done, then `stagger`
//!   (`shutdown` in a pod with neither apps nor proxies);
//! - grace:   covers every `sleep + budget`, plus `stagger` for native sidecars.

pub mod annotations;
pub mod choreography;
pub mod duration;
mod model;
mod read;
mod role;
mod schedule;
pub mod wait;
mod warning;

use annotations::Layers;
use duration::Seconds;
pub use model::{
    ActionSetting, Budgets, ContainerInput, ContainerOutcome, ContainerPlan, DEFAULT_GRACE_SECONDS,
    Decision, Environment, HookAction, Plan, Planned, PodInput, PodNetwork, Settings, SkipReason,
};
pub use role::{Role, RolePatterns};
pub use warning::{Warning, WarningReason};

/// Plans a pod's shutdown.
pub fn plan(pod: &PodInput, env: &Environment, settings: &Settings) -> Planned {
    let mut warnings = Vec::new();
    let layers = Layers {
        pod: pod.annotations,
        namespace: env.namespace,
    };
    let overrides = read::container_overrides(pod, settings, &mut warnings);

    let opted_in = match layers.lookup(annotations::INJECT) {
        Some((value, source)) => match value.trim_ascii() {
            "true" => true,
            "false" => {
                return Planned {
                    decision: Decision::Skip(SkipReason::OptedOut),
                    warnings,
                };
            }
            _ => {
                annotations::invalid_choice(
                    annotations::INJECT,
                    value,
                    source,
                    "\"true\", \"false\"",
                    &mut warnings,
                );
                false
            }
        },
        None => false,
    };
    if pod.restart_policy.is_some_and(|policy| policy != "Always") && !opted_in {
        return Planned {
            decision: Decision::Skip(SkipReason::NotLongRunning),
            warnings,
        };
    }

    let (mut action, chosen_by_cluster) =
        match read::action(&layers, &mut warnings).unwrap_or(settings.action) {
            ActionSetting::Auto if AUTO_CHOOSES_WAIT && env.wait_unavailable.is_none() => {
                (HookAction::Wait, true)
            }
            ActionSetting::Auto => (env.auto_action, true),
            ActionSetting::Fixed(action) => (action, false),
        };
    let mut budgets = read::budgets(pod, &layers, settings, &mut warnings);
    // `wait` needs a waiter the cluster and the pod can run; otherwise the pod gets the
    // fixed sleep it would have had without `wait` (never worse than that).
    let mut wait_plan = None;
    let mut wait_fallback = None;
    if action == HookAction::Wait {
        let placement = wait::WaiterPlacement::for_restart_policy(pod.restart_policy);
        match wait_port(pod, placement, env, settings) {
            Ok(port) => {
                let (min, max) = read::wait_bounds(&layers, settings, &mut warnings);
                let on = read::wait_on(&layers, settings, &mut warnings);
                // Every later tier, and the grace period, are timed from `max`.
                budgets.sleep = max;
                let mut probes = pod.network.probes.to_vec();
                probes.sort_unstable();
                probes.dedup();
                wait_plan = Some(Box::new(wait::WaitPlan {
                    min,
                    max,
                    on,
                    window_ms: settings.wait.window_ms,
                    poll_ms: settings.wait.poll_ms,
                    port,
                    probes,
                    placement,
                    container: settings.wait.container.clone(),
                }));
            }
            Err(reason) => {
                action = env.auto_action;
                wait_fallback = Some(reason);
            }
        }
    }
    let calls = choreography::calls(pod.containers);
    let containers = schedule::schedule(pod, &overrides, budgets, &calls);
    for (input, (plan, o)) in pod.containers.iter().zip(containers.iter().zip(&overrides)) {
        if plan.outcome == ContainerOutcome::Coordinates
            && (o.sleep.is_some() || o.shutdown.is_some())
        {
            warnings.push(Warning::new(
                WarningReason::InvalidAnnotation,
                format!(
                    "{}{}.sleep and .shutdown are ignored: {:?} coordinates the pod's shutdown (another container's preStop waits on it), so it gets no delay",
                    annotations::PREFIX,
                    input.name,
                    input.name
                ),
            ));
        }
    }
    let injects_any = containers.iter().any(|c| c.injected().is_some());
    if let Some(reason) = wait_fallback.filter(|_| injects_any) {
        warnings.push(Warning::new(
            WarningReason::WaitUnavailable,
            format!(
                "action wait: {reason}; using a fixed {} of {} instead",
                action.as_str(),
                human(budgets.sleep)
            ),
        ));
    }
    // Windows images have no `sleep` binary: an exec hook fails at once and nothing waits.
    if pod.windows && action == HookAction::Exec && injects_any {
        if env.auto_action == HookAction::Sleep {
            action = HookAction::Sleep;
            warnings.push(Warning::new(
                WarningReason::WindowsPod,
                "Windows pod: using the native sleep action instead of exec (no sleep binary in Windows images)".into(),
            ));
        } else {
            warnings.push(Warning::new(
                WarningReason::WindowsPod,
                format!(
                    "Windows pod: no preStop injected; exec needs a sleep binary Windows images lack, and the native sleep action is not available ({})",
                    env.auto_reason
                ),
            ));
            return Planned {
                decision: Decision::Skip(SkipReason::WindowsWithoutSleepAction),
                warnings,
            };
        }
    }
    // Whoever asked for exec explicitly knows; a cluster-made choice must be explained.
    if chosen_by_cluster && action == HookAction::Exec && injects_any {
        warnings.push(Warning::new(
            WarningReason::ExecAction,
            format!(
                "using exec preStop hooks ({}); images without a sleep binary (distroless, scratch) will not wait",
                env.auto_reason
            ),
        ));
    }
    schedule::check_tier_order(pod, &containers, &overrides, &mut warnings);
    for (index, (input, plan)) in pod.containers.iter().zip(&containers).enumerate() {
        let waits_on = calls.iter().find(|call| call.caller == index);
        let message = match (plan.outcome, waits_on) {
            (ContainerOutcome::Skipped, _) => continue,
            // One warning per choreography, on the hook that starts it.
            (_, Some(call)) => format!(
                "container {:?} has its own preStop hook, which waits on {:?}; both are left to that choreography: {:?} coordinates the shutdown and gets no hook or delay from lameduck",
                input.name, pod.containers[call.target].name, pod.containers[call.target].name
            ),
            (ContainerOutcome::OwnHook, None) => format!(
                "container {:?} has its own preStop hook; left as is",
                input.name
            ),
            _ => continue,
        };
        warnings.push(Warning::new(WarningReason::OwnPreStop, message));
    }

    let native_waiter = wait_plan
        .as_ref()
        .is_some_and(|w| w.placement == wait::WaiterPlacement::NativeSidecar);
    let grace = schedule::grace(pod, &containers, budgets, native_waiter);
    if let Some(grace) = grace.filter(|&g| g > schedule::to_i64(settings.warn_grace_above)) {
        warnings.push(Warning::new(
            WarningReason::LongGrace,
            format!(
                "grace period {} is above --warn-grace-above ({}): the cluster autoscaler waits 10m by default on scale-down, node shutdown and spot reclaims far less, so the end of this plan may be cut short",
                human(u64::try_from(grace).unwrap_or(u64::MAX)),
                human(settings.warn_grace_above)
            ),
        ));
    }

    Planned {
        decision: Decision::Plan(Plan {
            action,
            budgets,
            containers,
            grace,
            calls,
            wait: wait_plan,
        }),
        warnings,
    }
}

/// Whether `auto` means `wait` where the cluster runs native sidecars. Off until the
/// real-cluster measurements say `wait` is never worse than the fixed sleep (DESIGN.md).
const AUTO_CHOOSES_WAIT: bool = false;

/// The waiter's port, or why this pod cannot have a waiter.
fn wait_port(
    pod: &PodInput,
    placement: wait::WaiterPlacement,
    env: &Environment,
    settings: &Settings,
) -> Result<u16, String> {
    // Only a native sidecar needs the cluster's versions; a regular container and an
    // `httpGet` hook run on any kubelet.
    if let Some(reason) = env
        .wait_unavailable
        .filter(|_| placement == wait::WaiterPlacement::NativeSidecar)
    {
        return Err(reason.to_string());
    }
    if settings
        .wait
        .container
        .image
        .as_deref()
        .is_none_or(str::is_empty)
    {
        return Err("the server has no --waiter-image".into());
    }
    if pod.windows {
        return Err("Windows pod (the waiter is a Linux image)".into());
    }
    if pod.network.host_network {
        return Err("hostNetwork pod (the waiter would watch and share the node's sockets)".into());
    }
    if pod.network.waiter_name_taken {
        return Err(format!(
            "the pod already has a container named {} that lameduck did not inject",
            wait::WAITER_NAME
        ));
    }
    wait::choose_port(settings.wait.port, pod.network.ports)
        .ok_or_else(|| "no free port for the waiter".to_string())
}

/// Formats a plan's seconds for people; re-exported for the offline commands.
pub fn human(seconds: u64) -> String {
    Seconds(seconds).to_string()
}

#[cfg(test)]
mod tests;
