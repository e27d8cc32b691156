//! The plan's inputs (settings, environment, a pod's containers) and outputs (per-container
//! outcomes, grace, the decision).

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::annotations::Annotations;
use super::choreography::{Call, ContainerPort, PreStopCall};
use super::role::{Role, RolePatterns};
use super::wait::{ProbeTarget, WaitPlan, WaitSettings};
use super::warning::Warning;

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
    /// `lifecycle.preStop.httpGet` to lameduck's waiter, a container of the pod that
    /// answers once the pod is quiet (between `min` and `max`), plus the container's tier
    /// offset.
    Wait,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Sleep => "sleep",
            HookAction::Exec => "exec",
            HookAction::Wait => "wait",
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
            "wait" => Ok(ActionSetting::Fixed(HookAction::Wait)),
            other => Err(format!("{other:?} is not one of auto, sleep, exec, wait")),
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
    /// A plan whose grace period is above this earns a warning: whatever stops the node
    /// (the cluster autoscaler waits 10 minutes by default) may not wait that long.
    pub warn_grace_above: u64,
    pub action: ActionSetting,
    pub patterns: RolePatterns,
    /// Bounds and the waiter container for the `wait` action.
    pub wait: WaitSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_sleep: 10,
            default_stagger: 5,
            max_sleep: 300,
            max_grace: 3600,
            warn_grace_above: 600,
            action: ActionSetting::Auto,
            patterns: RolePatterns::default(),
            wait: WaitSettings::default(),
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
    /// Why the cluster cannot run the `wait` action (native sidecars need an API server
    /// and kubelets of 1.29+); `None` when it can.
    pub wait_unavailable: Option<&'a str>,
}

impl Default for Environment<'_> {
    fn default() -> Self {
        Environment {
            namespace: None,
            auto_action: HookAction::Sleep,
            auto_reason: "",
            wait_unavailable: None,
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
    /// What that hook reaches, when it is an `httpGet` or an `exec`.
    pub own_call: Option<&'a PreStopCall>,
    pub ports: &'a [ContainerPort],
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
    /// `spec.os.name: windows` or node selector `kubernetes.io/os: windows`: no `sleep`
    /// binary to exec.
    pub windows: bool,
    /// What the `wait` action needs to know of the pod's network.
    pub network: PodNetwork<'a>,
}

/// The pod's network as the waiter sees it: what it must not listen on, which probes
/// keep coming during termination, and whether it has a network namespace of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodNetwork<'a> {
    /// `hostNetwork: true`: the node's sockets, shared with every other such pod.
    pub host_network: bool,
    /// Ports any container (init containers included) declares or probes.
    pub ports: &'a [u16],
    /// The network probes of the regular containers and native sidecars.
    pub probes: &'a [ProbeTarget],
    /// A container named like the waiter that lameduck did not inject.
    pub waiter_name_taken: bool,
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
    /// Waited on by another container's own `preStop`: it coordinates the pod's
    /// shutdown, so it gets no hook and no delay (its own hook, if any, is kept).
    Coordinates,
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
    /// Own `preStop` hooks that wait on another container, in container order.
    pub calls: Vec<Call>,
    /// With the `wait` action: the waiter's bounds, port and probes (boxed: most plans
    /// have none, and it is the largest part of a plan).
    pub wait: Option<Box<WaitPlan>>,
}

impl Plan {
    /// A one-line summary for audit annotations and debug logs.
    pub fn summary(&self, pod: &PodInput) -> String {
        let mut text = String::new();
        for (index, (input, plan)) in pod.containers.iter().zip(&self.containers).enumerate() {
            let _ = match plan.outcome {
                ContainerOutcome::Inject { sleep, budget } => write!(
                    text,
                    "{}={} sleep {}s then {}s; ",
                    input.name, plan.role, sleep, budget
                ),
                ContainerOutcome::OwnHook => write!(text, "{}=own preStop; ", input.name),
                ContainerOutcome::Coordinates => {
                    let callers: Vec<&str> = self
                        .calls
                        .iter()
                        .filter(|call| call.target == index)
                        .filter_map(|call| pod.containers.get(call.caller).map(|c| c.name))
                        .collect();
                    write!(
                        text,
                        "{}=coordinates, waited on by {}; ",
                        input.name,
                        callers.join(", ")
                    )
                }
                ContainerOutcome::Skipped => write!(text, "{}=skip; ", input.name),
            };
        }
        for name in pod.native_sidecars {
            let _ = write!(text, "{name}=native sidecar; ");
        }
        match self.grace {
            Some(grace) => {
                let _ = write!(text, "action {}", self.action.as_str());
                if let Some(wait) = &self.wait {
                    let _ = write!(text, " {}-{}s", wait.min, wait.max);
                }
                let _ = write!(text, "; grace {grace}s");
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
    /// A Windows pod on a cluster without the native sleep action: an exec hook would
    /// find no `sleep` binary.
    WindowsWithoutSleepAction,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OptedOut => "opted out",
            SkipReason::NotLongRunning => "restartPolicy is not Always",
            SkipReason::WindowsWithoutSleepAction => {
                "Windows pod and the cluster has no native sleep action"
            }
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
