//! The `wait` action: a waiter container (lameduck's own image in waiter mode) answers
//! each container's `preStop` `httpGet` once the pod has gone quiet, bounded by `min` and
//! `max`, plus the container's tier offset. The plan times every later tier and the grace
//! period from `max`, so the timeline is safe even if the pod never gets quiet.
//!
//! Pure: which port the waiter takes, what it is told about the pod's probes, and why a
//! pod cannot have one. The container itself is written by `inject`.

use serde::Serialize;

/// The injected waiter's name (and the status record's `waiter`).
pub const WAITER_NAME: &str = "lameduck-waiter";

/// Where the waiter runs in the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaiterPlacement {
    /// A regular container, last in `containers`, for pods that run until deleted
    /// (`restartPolicy: Always`). The kubelet starts it beside the app, so a new pod
    /// starts no later than without it; SIGTERM reaches it together with the apps'
    /// hooks, and it keeps answering them (`--hold-on-sigterm`) until they are released.
    Container,
    /// A native sidecar (`initContainers`, `restartPolicy: Always`), for pods that run to
    /// completion (an opted-in Job): a regular waiter would keep them running forever.
    /// The kubelet starts the app only once it runs (about a second later) and stops it
    /// only after the apps.
    NativeSidecar,
}

impl WaiterPlacement {
    /// Placed by the pod's restart policy (absent means `Always`).
    pub fn for_restart_policy(policy: Option<&str>) -> Self {
        match policy {
            None | Some("Always") => WaiterPlacement::Container,
            Some(_) => WaiterPlacement::NativeSidecar,
        }
    }
}

/// What keeps a waiting pod from being quiet (`lameduck.dev/wait-on`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitOn {
    /// New connections and requests on kept-alive ones: what an ingress or a load
    /// balancer that pools its upstream connections sends while it still routes to the
    /// pod.
    #[default]
    Requests,
    /// New connections only. For pods whose clients keep connections through a Service:
    /// kube-proxy pins those to the pod until the app closes them, so their requests
    /// never stop by themselves and holding the pod cannot move them.
    Connections,
}

impl WaitOn {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitOn::Requests => "requests",
            WaitOn::Connections => "connections",
        }
    }
}

impl std::str::FromStr for WaitOn {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "requests" => Ok(WaitOn::Requests),
            "connections" => Ok(WaitOn::Connections),
            other => Err(format!("{other:?} is not one of requests, connections")),
        }
    }
}

/// The server's settings for `wait`: bounds, the quiet window, and the waiter container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitSettings {
    /// Never release before this (seconds): the endpoint controller must have seen the
    /// deletion before the pod's silence means anything.
    pub min: u64,
    /// Always release by this (seconds); the plan's later tiers and grace assume it.
    pub max: u64,
    /// How long the pod must see no inbound activity to be quiet (milliseconds).
    pub window_ms: u64,
    /// How often the waiter reads the socket table once a hook has called (milliseconds).
    pub poll_ms: u64,
    /// The port the waiter prefers; the next free one when a container declares it.
    pub port: u16,
    /// What holds a pod, unless its annotation says otherwise.
    pub on: WaitOn,
    pub container: WaiterContainer,
}

/// The waiter container's image and resources (Kubernetes quantities, canonical form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiterContainer {
    /// `None`: `wait` falls back to the fixed sleep, with a warning.
    pub image: Option<String>,
    pub pull_policy: String,
    pub cpu_request: String,
    pub memory_request: String,
    pub cpu_limit: String,
    pub memory_limit: String,
}

impl Default for WaitSettings {
    fn default() -> Self {
        WaitSettings {
            min: 2,
            max: 30,
            window_ms: 1_500,
            poll_ms: 250,
            port: 9471,
            on: WaitOn::Requests,
            container: WaiterContainer::default(),
        }
    }
}

impl Default for WaiterContainer {
    fn default() -> Self {
        WaiterContainer {
            image: None,
            pull_policy: "IfNotPresent".into(),
            // See scripts/waiter-cost.sh for what the waiter uses idle and with 1,000
            // connections watched; the limits leave room for a burst of hooks.
            cpu_request: "5m".into(),
            memory_request: "8Mi".into(),
            cpu_limit: "100m".into(),
            memory_limit: "32Mi".into(),
        }
    }
}

/// A probe the kubelet keeps sending during termination: a new connection to `port`
/// every `period` seconds, which is not traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProbeTarget {
    pub port: u16,
    pub period: u64,
}

/// What the plan decided for a pod that waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitPlan {
    pub min: u64,
    pub max: u64,
    pub on: WaitOn,
    pub window_ms: u64,
    pub poll_ms: u64,
    pub port: u16,
    pub probes: Vec<ProbeTarget>,
    pub placement: WaiterPlacement,
    pub container: WaiterContainer,
}

impl WaitPlan {
    /// How a container whose worst-case preStop is `sleep` seconds asks the waiter:
    /// `Some(offset)` answers at the release time plus `offset`; `None` (a per-container
    /// sleep below `max`) answers `sleep` seconds after the first hook call, fixed.
    pub fn offset(&self, sleep: u64) -> Option<u64> {
        sleep.checked_sub(self.max)
    }
}

/// The first port at or after `preferred` that no container of the pod declares or probes
/// (and that the pod has no reason to be listening on). `None` when a hundred in a row are
/// taken, which no real pod does.
pub fn choose_port(preferred: u16, taken: &[u16]) -> Option<u16> {
    (0..100u16)
        .filter_map(|step| preferred.checked_add(step))
        .find(|port| *port != 0 && !taken.contains(port))
}

/// The waiter's flags for one pod: what `lameduck waiter` needs to know. `calls`: how
/// many containers' hooks call it.
pub fn waiter_args(plan: &WaitPlan, calls: usize) -> Vec<String> {
    let mut args = vec![
        "waiter".to_string(),
        format!("--port={}", plan.port),
        format!("--min={}s", plan.min),
        format!("--max={}s", plan.max),
        format!("--window={}ms", plan.window_ms),
        format!("--poll={}ms", plan.poll_ms),
    ];
    // Only when not the default, so the waiters of earlier plans stay as they were.
    if plan.on != WaitOn::Requests {
        args.push(format!("--wait-on={}", plan.on.as_str()));
    }
    if plan.placement == WaiterPlacement::Container {
        // It gets SIGTERM with the hook calls, and serves until this many have called.
        args.push("--hold-on-sigterm".to_string());
        args.push(format!("--hooks={calls}"));
    }
    args.extend(
        plan.probes
            .iter()
            .map(|p| format!("--probe={}/{}s", p.port, p.period)),
    );
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_skips_what_the_pod_declares() {
        assert_eq!(choose_port(9471, &[8080]), Some(9471));
        assert_eq!(choose_port(9471, &[9471, 9472, 80]), Some(9473));
        assert_eq!(choose_port(u16::MAX, &[u16::MAX]), None);
        let all: Vec<u16> = (9471..9571).collect();
        assert_eq!(choose_port(9471, &all), None);
    }

    #[test]
    fn offsets_are_measured_from_max() {
        let plan = WaitPlan {
            min: 2,
            max: 30,
            on: WaitOn::Requests,
            window_ms: 1500,
            poll_ms: 250,
            port: 9471,
            probes: vec![],
            placement: WaiterPlacement::NativeSidecar,
            container: WaiterContainer::default(),
        };
        assert_eq!(plan.offset(30), Some(0));
        assert_eq!(plan.offset(35), Some(5));
        assert_eq!(plan.offset(7), None);
    }

    #[test]
    fn args_carry_bounds_and_probes() {
        let plan = WaitPlan {
            min: 2,
            max: 30,
            on: WaitOn::Requests,
            window_ms: 1500,
            poll_ms: 250,
            port: 9471,
            probes: vec![ProbeTarget {
                port: 8080,
                period: 10,
            }],
            placement: WaiterPlacement::NativeSidecar,
            container: WaiterContainer::default(),
        };
        assert_eq!(
            waiter_args(&plan, 1),
            [
                "waiter",
                "--port=9471",
                "--min=2s",
                "--max=30s",
                "--window=1500ms",
                "--poll=250ms",
                "--probe=8080/10s"
            ]
        );
        let connections = WaitPlan {
            on: WaitOn::Connections,
            ..plan
        };
        assert!(
            waiter_args(&connections, 1).contains(&"--wait-on=connections".to_string()),
            "{:?}",
            waiter_args(&connections, 1)
        );
        // A regular container gets SIGTERM with the apps' hooks still to answer.
        assert!(!waiter_args(&connections, 1).contains(&"--hold-on-sigterm".to_string()));
        let regular = WaitPlan {
            placement: WaiterPlacement::Container,
            ..connections
        };
        let args = waiter_args(&regular, 3);
        assert!(args.contains(&"--hold-on-sigterm".to_string()));
        assert!(args.contains(&"--hooks=3".to_string()), "{args:?}");
    }

    #[test]
    fn pods_that_run_until_deleted_get_a_regular_waiter() {
        assert_eq!(
            WaiterPlacement::for_restart_policy(None),
            WaiterPlacement::Container
        );
        assert_eq!(
            WaiterPlacement::for_restart_policy(Some("Always")),
            WaiterPlacement::Container
        );
        for policy in ["Never", "OnFailure"] {
            assert_eq!(
                WaiterPlacement::for_restart_policy(Some(policy)),
                WaiterPlacement::NativeSidecar
            );
        }
    }

    #[test]
    fn wait_on_reads_its_two_values() {
        assert_eq!(" connections".parse(), Ok(WaitOn::Connections));
        assert_eq!("requests".parse(), Ok(WaitOn::Requests));
        assert!("bytes".parse::<WaitOn>().is_err());
    }
}
