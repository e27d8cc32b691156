//! The timeline: where each container stops, and the grace period that covers it all.

use super::annotations::{self, ContainerField};
use super::choreography::Call;
use super::model::{Budgets, ContainerOutcome, ContainerPlan, DEFAULT_GRACE_SECONDS, PodInput};
use super::read::Overrides;
use super::role::Role;
use super::warning::{Warning, WarningReason};

pub(super) fn to_i64(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// Places each container on the timeline. A container another one's own hook waits on
/// (`calls`) coordinates the shutdown: it is left to that choreography.
pub(super) fn schedule(
    pod: &PodInput,
    overrides: &[Overrides],
    budgets: Budgets,
    calls: &[Call],
) -> Vec<ContainerPlan> {
    let mut containers: Vec<ContainerPlan> = pod
        .containers
        .iter()
        .zip(overrides)
        .enumerate()
        .map(|(index, (input, o))| {
            let role = o.role.unwrap_or(Role::App);
            let outcome = if role == Role::Skip {
                ContainerOutcome::Skipped
            } else if calls.iter().any(|call| call.target == index) {
                ContainerOutcome::Coordinates
            } else if input.has_own_pre_stop {
                ContainerOutcome::OwnHook
            } else {
                // Placed below, tier by tier.
                ContainerOutcome::Inject {
                    sleep: 0,
                    budget: 0,
                }
            };
            ContainerPlan { role, outcome }
        })
        .collect();

    // A tier is present when one of its containers stops in it, injected, with its own
    // hook or coordinating; `skip` is a role of its own, so a skipped container counts for
    // no tier.
    let present = |role: Role| containers.iter().any(|c| c.role == role);
    let (has_app, has_proxy) = (present(Role::App), present(Role::Proxy));
    // A pod without an app (a standalone nginx, an envoy gateway, a log shipper
    // DaemonSet) is its front-most tier: that tier gets the app's `shutdown`.
    let proxy_budget = if has_app {
        budgets.stagger
    } else {
        budgets.shutdown
    };
    let sidecar_budget = if has_app || has_proxy {
        budgets.stagger
    } else {
        budgets.shutdown
    };

    let has_injected_proxy = containers
        .iter()
        .any(|c| c.role == Role::Proxy && c.injected().is_some());
    let app_sleep = if has_injected_proxy {
        budgets.sleep.saturating_add(budgets.stagger)
    } else {
        budgets.sleep
    };

    place(
        &mut containers,
        overrides,
        Role::Proxy,
        budgets.sleep,
        proxy_budget,
    );
    place(
        &mut containers,
        overrides,
        Role::App,
        app_sleep,
        budgets.shutdown,
    );

    // Sidecars wait for the latest end among proxies and apps: the apps' worst case, or
    // a lead proxy's own shutdown in a pod without apps.
    let front_end = containers
        .iter()
        .filter(|c| matches!(c.role, Role::Proxy | Role::App))
        .filter_map(ContainerPlan::injected)
        .map(|(sleep, budget)| sleep.saturating_add(budget))
        .max()
        .unwrap_or(budgets.sleep);
    place(
        &mut containers,
        overrides,
        Role::Sidecar,
        front_end,
        sidecar_budget,
    );
    containers
}

/// Gives every injected container of `tier` its sleep and budget, per-container
/// annotations first.
fn place(
    containers: &mut [ContainerPlan],
    overrides: &[Overrides],
    tier: Role,
    default_sleep: u64,
    default_budget: u64,
) {
    for (plan, o) in containers.iter_mut().zip(overrides) {
        if plan.role == tier && plan.injected().is_some() {
            plan.outcome = ContainerOutcome::Inject {
                sleep: o.sleep.unwrap_or(default_sleep),
                budget: o.shutdown.unwrap_or(default_budget),
            };
        }
    }
}

/// Warns when per-container sleeps put a later tier at or before an earlier one.
pub(super) fn check_tier_order(
    pod: &PodInput,
    containers: &[ContainerPlan],
    overrides: &[Overrides],
    warnings: &mut Vec<Warning>,
) {
    let sleeps = |role: Role| {
        containers
            .iter()
            .filter(move |c| c.role == role)
            .filter_map(|c| c.injected().map(|(sleep, _)| sleep))
    };
    let (proxy_max, app_min, app_max, sidecar_min) = (
        sleeps(Role::Proxy).max(),
        sleeps(Role::App).min(),
        sleeps(Role::App).max(),
        sleeps(Role::Sidecar).min(),
    );
    let before = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    };
    let in_order = before(proxy_max, app_min)
        && before(app_max, sidecar_min)
        && before(proxy_max, sidecar_min);
    if in_order {
        return;
    }
    let keys: Vec<String> = pod
        .containers
        .iter()
        .zip(overrides)
        .filter(|(_, o)| o.sleep.is_some())
        .map(|(c, _)| annotations::container_key(c.name, ContainerField::Sleep))
        .collect();
    warnings.push(Warning::new(
        WarningReason::TierOrder,
        format!(
            "{} breaks the stop order (proxies, then apps, then sidecars); used as given",
            keys.join(", ")
        ),
    ));
}

/// The grace period the plan needs: every injected `sleep + budget`, plus `stagger` for
/// native sidecars, never below the submitted grace. `None` when nothing is injected.
/// A waiter that is a native sidecar is one too: it must outlive the main containers (a
/// regular one exits once its last hook is answered, within the apps' timeline).
pub(super) fn grace(
    pod: &PodInput,
    containers: &[ContainerPlan],
    budgets: Budgets,
    native_waiter: bool,
) -> Option<i64> {
    let latest_end = containers
        .iter()
        .filter_map(ContainerPlan::injected)
        .map(|(sleep, budget)| sleep.saturating_add(budget))
        .max();
    latest_end.map(|end| {
        let native_sidecar_time = if pod.native_sidecars.is_empty() && !native_waiter {
            0
        } else {
            budgets.stagger
        };
        let needed = to_i64(end.saturating_add(native_sidecar_time));
        needed.max(pod.submitted_grace.unwrap_or(DEFAULT_GRACE_SECONDS))
    })
}
