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
pub mod duration;
pub mod role;
pub mod status;

use std::fmt::{self, Write as _};
use std::ops::Bound;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use annotations::{Annotations, Bounds, ContainerField, Key, Layers, Source};
use duration::Seconds;
pub use role::{Role, RolePatterns};

/// Kubernetes' default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

/// How a `preStop` delay is written into a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookAction {
    /// `lifecycle.preStop.sleep.seconds`: native, needs no binary in the image.
    Sleep,
    /// `lifecycle.preStop.exec.command: ["sleep", "N"]`: works on any kubelet with `sleep`.
    Exec,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Sleep => "sleep",
            HookAction::Exec => "exec",
        }
    }
}

/// The action setting of the server or a pod: `auto` defers to what the cluster allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActionSetting {
    #[default]
    Auto,
    Fixed(HookAction),
}

impl FromStr for ActionSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim_ascii() {
            "auto" => Ok(ActionSetting::Auto),
            "sleep" => Ok(ActionSetting::Fixed(HookAction::Sleep)),
            "exec" => Ok(ActionSetting::Fixed(HookAction::Exec)),
            other => Err(format!("{other:?} is not one of auto, sleep, exec")),
        }
    }
}

impl fmt::Display for ActionSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionSetting::Auto => f.write_str("auto"),
            ActionSetting::Fixed(action) => f.write_str(action.as_str()),
        }
    }
}

/// The server's planning settings. Durations are whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub default_sleep: u64,
    pub default_stagger: u64,
    /// Caps `sleep` and `stagger` annotations.
    pub max_sleep: u64,
    /// Caps `shutdown` annotations.
    pub max_grace: u64,
    pub action: ActionSetting,
    pub patterns: RolePatterns,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_sleep: 10,
            default_stagger: 5,
            max_sleep: 300,
            max_grace: 3600,
            action: ActionSetting::Auto,
            patterns: RolePatterns::default(),
        }
    }
}

/// What the cluster tells the plan: namespace defaults and what `auto` means today.
#[derive(Debug, Clone, Copy)]
pub struct Environment<'a> {
    pub namespace: Option<&'a Annotations>,
    pub auto_action: HookAction,
    /// Why `auto` means `auto_action`, for the warning an `exec` choice earns.
    pub auto_reason: &'a str,
}

impl Default for Environment<'_> {
    fn default() -> Self {
        Environment {
            namespace: None,
            auto_action: HookAction::Sleep,
            auto_reason: "",
        }
    }
}

/// One regular container, as the plan needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct ContainerInput<'a> {
    pub name: &'a str,
    pub image: Option<&'a str>,
    /// A `preStop` hook the user wrote (one lameduck injected earlier does not count).
    pub has_own_pre_stop: bool,
}

/// A pod (or pod template) as the plan needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct PodInput<'a> {
    pub annotations: &'a Annotations,
    pub containers: &'a [ContainerInput<'a>],
    /// Names of `initContainers` with `restartPolicy: Always`.
    pub native_sidecars: &'a [&'a str],
    pub restart_policy: Option<&'a str>,
    /// The grace period the user asked for, before any earlier lameduck pass.
    pub submitted_grace: Option<i64>,
}

/// The per-pod budgets, after annotations and caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budgets {
    pub sleep: u64,
    pub shutdown: u64,
    pub stagger: u64,
}

/// What happens to one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerOutcome {
    /// Gets a `preStop` of `sleep` seconds, then has `budget` seconds after SIGTERM.
    Inject { sleep: u64, budget: u64 },
    /// Has its own `preStop`; left alone.
    OwnHook,
    /// Role `skip`; left alone.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerPlan {
    pub role: Role,
    pub outcome: ContainerOutcome,
}

impl ContainerPlan {
    pub fn injected(&self) -> Option<(u64, u64)> {
        match self.outcome {
            ContainerOutcome::Inject { sleep, budget } => Some((sleep, budget)),
            _ => None,
        }
    }
}

/// A pod's shutdown plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: HookAction,
    pub budgets: Budgets,
    /// One entry per input container, in the same order.
    pub containers: Vec<ContainerPlan>,
    /// The grace period the pod must have: never below the submitted one. `None` when
    /// nothing is injected, so the grace period is left as the user wrote it.
    pub grace: Option<i64>,
}

impl Plan {
    pub fn injected_count(&self) -> usize {
        self.containers
            .iter()
            .filter(|c| c.injected().is_some())
            .count()
    }

    /// A one-line summary for audit annotations and debug logs.
    pub fn summary(&self, pod: &PodInput) -> String {
        let mut text = String::new();
        for (input, plan) in pod.containers.iter().zip(&self.containers) {
            let _ = match plan.outcome {
                ContainerOutcome::Inject { sleep, budget } => write!(
                    text,
                    "{}={} sleep {}s then {}s; ",
                    input.name, plan.role, sleep, budget
                ),
                ContainerOutcome::OwnHook => write!(text, "{}=own preStop; ", input.name),
                ContainerOutcome::Skipped => write!(text, "{}=skip; ", input.name),
            };
        }
        for name in pod.native_sidecars {
            let _ = write!(text, "{name}=native sidecar; ");
        }
        match self.grace {
            Some(grace) => {
                let _ = write!(text, "action {}; grace {grace}s", self.action.as_str());
            }
            None => text.push_str("nothing injected"),
        }
        text
    }
}

/// Why a pod gets no plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `lameduck.dev/inject: "false"`.
    OptedOut,
    /// `restartPolicy` is not `Always` and the pod did not opt in.
    NotLongRunning,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OptedOut => "opted out",
            SkipReason::NotLongRunning => "restartPolicy is not Always",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Skip(SkipReason),
    Plan(Plan),
}

/// The plan and everything a person should be told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub decision: Decision,
    pub warnings: Vec<Warning>,
}

/// Why a warning was given; also the `reason` label of the warnings metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningReason {
    InvalidAnnotation,
    ClampedAnnotation,
    UnknownAnnotation,
    UnknownContainer,
    OwnPreStop,
    TierOrder,
    InvalidStatus,
    ExecAction,
}

impl WarningReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningReason::InvalidAnnotation => "invalid_annotation",
            WarningReason::ClampedAnnotation => "clamped_annotation",
            WarningReason::UnknownAnnotation => "unknown_annotation",
            WarningReason::UnknownContainer => "unknown_container",
            WarningReason::OwnPreStop => "own_prestop",
            WarningReason::TierOrder => "tier_order",
            WarningReason::InvalidStatus => "invalid_status",
            WarningReason::ExecAction => "exec_action",
        }
    }
}

/// Something a person should fix. Rendered with a `lameduck: ` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub reason: WarningReason,
    pub message: String,
}

impl Warning {
    pub fn new(reason: WarningReason, message: String) -> Self {
        Warning { reason, message }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lameduck: {}", self.message)
    }
}

/// Per-container annotation overrides, already validated.
#[derive(Debug, Clone, Copy, Default)]
struct Overrides {
    role: Option<Role>,
    sleep: Option<u64>,
    shutdown: Option<u64>,
}

/// Plans a pod's shutdown.
pub fn plan(pod: &PodInput, env: &Environment, settings: &Settings) -> Planned {
    let mut warnings = Vec::new();
    let layers = Layers {
        pod: pod.annotations,
        namespace: env.namespace,
    };
    let overrides = read_container_annotations(pod, settings, &mut warnings);

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

    let (action, chosen_by_cluster) =
        match read_action(&layers, &mut warnings).unwrap_or(settings.action) {
            ActionSetting::Auto => (env.auto_action, true),
            ActionSetting::Fixed(action) => (action, false),
        };
    let budgets = read_budgets(pod, &layers, settings, &mut warnings);
    let containers = schedule(pod, &overrides, budgets);
    let injects_any = containers.iter().any(|c| c.injected().is_some());
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
    check_tier_order(pod, &containers, &overrides, &mut warnings);
    for (input, plan) in pod.containers.iter().zip(&containers) {
        if plan.outcome == ContainerOutcome::OwnHook {
            warnings.push(Warning::new(
                WarningReason::OwnPreStop,
                format!(
                    "container {:?} has its own preStop hook; left as is",
                    input.name
                ),
            ));
        }
    }

    let latest_end = containers
        .iter()
        .filter_map(ContainerPlan::injected)
        .map(|(sleep, budget)| sleep.saturating_add(budget))
        .max();
    let grace = latest_end.map(|end| {
        let native_sidecar_time = if pod.native_sidecars.is_empty() {
            0
        } else {
            budgets.stagger
        };
        let needed = to_i64(end.saturating_add(native_sidecar_time));
        needed.max(pod.submitted_grace.unwrap_or(DEFAULT_GRACE_SECONDS))
    });

    Planned {
        decision: Decision::Plan(Plan {
            action,
            budgets,
            containers,
            grace,
        }),
        warnings,
    }
}

fn to_i64(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// Places each container on the timeline.
fn schedule(pod: &PodInput, overrides: &[Overrides], budgets: Budgets) -> Vec<ContainerPlan> {
    let mut containers: Vec<ContainerPlan> = pod
        .containers
        .iter()
        .zip(overrides)
        .map(|(input, o)| {
            let role = o.role.unwrap_or(Role::App);
            let outcome = if role == Role::Skip {
                ContainerOutcome::Skipped
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

    // A tier is present when one of its containers stops in it, injected or with its own
    // hook; `skip` is a role of its own, so a skipped container counts for no tier.
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
fn check_tier_order(
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

fn read_action(layers: &Layers, warnings: &mut Vec<Warning>) -> Option<ActionSetting> {
    let (value, source) = layers.lookup(annotations::ACTION)?;
    match value.parse() {
        Ok(action) => Some(action),
        Err(_) => {
            annotations::invalid_choice(
                annotations::ACTION,
                value,
                source,
                "sleep, exec, auto",
                warnings,
            );
            None
        }
    }
}

fn read_budgets(
    pod: &PodInput,
    layers: &Layers,
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) -> Budgets {
    let mut duration = |key: &str, bounds: Bounds| {
        layers.lookup(key).and_then(|(value, source)| {
            annotations::read_duration(key, value, source, bounds, warnings)
        })
    };
    let sleep = duration(
        annotations::SLEEP,
        Bounds {
            min: 0,
            max: settings.max_sleep,
        },
    )
    .unwrap_or(settings.default_sleep);
    let stagger = duration(
        annotations::STAGGER,
        Bounds {
            min: 1,
            max: settings.max_sleep,
        },
    )
    .unwrap_or(settings.default_stagger)
    .max(1);
    let shutdown = duration(
        annotations::SHUTDOWN,
        Bounds {
            min: 1,
            max: settings.max_grace,
        },
    )
    .unwrap_or_else(|| {
        let submitted = pod.submitted_grace.unwrap_or(DEFAULT_GRACE_SECONDS);
        u64::try_from(submitted)
            .unwrap_or(0)
            .min(settings.max_grace)
    })
    .max(1);
    Budgets {
        sleep,
        shutdown,
        stagger,
    }
}

/// Reads every `lameduck.dev/<container>.<field>` and flags keys that mean nothing.
fn read_container_annotations(
    pod: &PodInput,
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) -> Vec<Overrides> {
    let mut overrides = vec![Overrides::default(); pod.containers.len()];
    for (key, value) in pod
        .annotations
        .range::<str, _>((Bound::Included(annotations::PREFIX), Bound::Unbounded))
    {
        let Some(kind) = annotations::classify(key) else {
            break; // Sorted keys: past the prefix, nothing more is ours.
        };
        let (name, field) = match kind {
            Key::Pod(_) => continue,
            Key::Unknown => {
                warnings.push(Warning::new(
                    WarningReason::UnknownAnnotation,
                    format!("unknown annotation {key}; ignored"),
                ));
                continue;
            }
            Key::Container(name, field) => (name, field),
        };
        let Some(index) = pod.containers.iter().position(|c| c.name == name) else {
            let what = if pod.native_sidecars.contains(&name) {
                "names a native sidecar, which gets no preStop"
            } else {
                "names no container of this pod"
            };
            warnings.push(Warning::new(
                WarningReason::UnknownContainer,
                format!("{key} {what}; ignored"),
            ));
            continue;
        };
        let slot = &mut overrides[index];
        match field {
            ContainerField::Role => match value.parse() {
                Ok(role) => slot.role = Some(role),
                Err(()) => annotations::invalid_choice(
                    key,
                    value,
                    Source::Pod,
                    "proxy, app, sidecar, skip",
                    warnings,
                ),
            },
            ContainerField::Sleep => {
                let bounds = Bounds {
                    min: 0,
                    max: settings.max_sleep,
                };
                slot.sleep = annotations::read_duration(key, value, Source::Pod, bounds, warnings);
            }
            ContainerField::Shutdown => {
                let bounds = Bounds {
                    min: 1,
                    max: settings.max_grace,
                };
                slot.shutdown =
                    annotations::read_duration(key, value, Source::Pod, bounds, warnings);
            }
        }
    }
    for (slot, input) in overrides.iter_mut().zip(pod.containers) {
        if slot.role.is_none() {
            slot.role = Some(settings.patterns.detect(input.name, input.image));
        }
    }
    overrides
}

/// Formats a plan's seconds for people; re-exported for the offline commands.
pub fn human(seconds: u64) -> String {
    Seconds(seconds).to_string()
}

#[cfg(test)]
mod tests;
