//! The few fields of a pod template the planner reads. Everything else in the object is
//! skipped while parsing, never copied.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::plan::annotations::Annotations;
use crate::plan::choreography::{ContainerPort, PortRef, PreStopCall};

/// A Pod or a pod template: the parts the planner reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodTemplate {
    /// `None` when the template has no `metadata` at all.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub spec: Option<PodSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    /// `None` when there is no `annotations` map.
    #[serde(default)]
    pub annotations: Option<Annotations>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub init_containers: Vec<Container>,
    #[serde(default)]
    pub restart_policy: Option<String>,
    #[serde(default)]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub os: Option<PodOs>,
    #[serde(default)]
    pub node_selector: Option<NodeSelector>,
    /// Read leniently (any JSON): only `true` matters, and the API server validates it.
    #[serde(default)]
    pub host_network: Option<Value>,
}

impl PodSpec {
    /// `spec.os.name: windows` or node selector `kubernetes.io/os: windows`.
    pub fn host_network(&self) -> bool {
        self.host_network.as_ref().and_then(Value::as_bool) == Some(true)
    }

    /// `spec.os.name: windows` or node selector `kubernetes.io/os: windows`.
    pub fn is_windows(&self) -> bool {
        let os_name = self.os.as_ref().and_then(|os| os.name.as_deref());
        let selected = self.node_selector.as_ref().and_then(|s| s.os.as_deref());
        [os_name, selected]
            .into_iter()
            .flatten()
            .any(|name| name.eq_ignore_ascii_case("windows"))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodOs {
    #[serde(default)]
    pub name: Option<String>,
}

/// The one node selector key the planner reads; the others are skipped.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeSelector {
    #[serde(default, rename = "kubernetes.io/os")]
    pub os: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    /// `None` when the container has no `lifecycle` object.
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    /// Read to see which container another one's hook calls (`containerPort` and
    /// `name`; the rest is skipped).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ports: Vec<ContainerPort>,
    /// `Always` on an init container makes it a native sidecar.
    #[serde(default)]
    pub restart_policy: Option<String>,
    /// Probes, for the `wait` action's waiter (probes are not traffic; their ports are
    /// ports to avoid). Kept as JSON and read leniently: a field lameduck only consults
    /// must not turn a review it used to answer into an error.
    /// For telling whether the waiter lameduck injected is still the one it would write.
    #[serde(default)]
    pub args: Option<Value>,
    #[serde(default)]
    pub image_pull_policy: Option<Value>,
    #[serde(default)]
    pub readiness_probe: Option<Value>,
    #[serde(default)]
    pub liveness_probe: Option<Value>,
    #[serde(default)]
    pub startup_probe: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "RawLifecycle")]
pub struct Lifecycle {
    /// Kept whole: a hook only counts as lameduck's if it equals what was injected.
    pub pre_stop: Option<Value>,
    /// What that hook reaches, for the plan to see whose shutdown it waits on.
    pub pre_stop_call: Option<PreStopCall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLifecycle {
    #[serde(default)]
    pre_stop: Option<Value>,
}

impl From<RawLifecycle> for Lifecycle {
    fn from(raw: RawLifecycle) -> Self {
        Lifecycle {
            pre_stop_call: raw.pre_stop.as_ref().and_then(pre_stop_call),
            pre_stop: raw.pre_stop,
        }
    }
}

/// An `httpGet` (host and port) or an `exec` (its command line); anything else, or a
/// hook of the wrong shape, calls nothing lameduck can follow.
fn pre_stop_call(hook: &Value) -> Option<PreStopCall> {
    if let Some(get) = hook.get("httpGet") {
        let port = match get.get("port")? {
            Value::Number(number) => PortRef::Number(number.as_i64()?),
            Value::String(text) => PortRef::Name(text.clone()),
            _ => return None,
        };
        let host = match get.get("host") {
            None | Some(Value::Null) => String::new(),
            Some(host) => host.as_str()?.to_string(),
        };
        return Some(PreStopCall::HttpGet { host, port });
    }
    let command = hook.get("exec")?.get("command")?.as_array()?;
    let command = command
        .iter()
        .map(|arg| arg.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    Some(PreStopCall::Exec { command })
}

impl Container {
    /// What the container's `preStop` reaches, when it is an `httpGet` or an `exec`.
    pub fn pre_stop_call(&self) -> Option<&PreStopCall> {
        self.pre_stop()?;
        self.lifecycle.as_ref()?.pre_stop_call.as_ref()
    }

    pub fn pre_stop(&self) -> Option<&Value> {
        self.lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .filter(|hook| !hook.is_null())
    }

    pub fn is_native_sidecar(&self) -> bool {
        self.restart_policy.as_deref() == Some("Always")
    }

    /// `(name, containerPort)` of each declared port.
    pub fn declared_ports(&self) -> impl Iterator<Item = (Option<&str>, u16)> {
        self.ports.iter().filter_map(|port| {
            let number = u16::try_from(port.container_port?).ok()?;
            Some((port.name.as_deref(), number))
        })
    }

    /// The network probes the kubelet keeps sending while the pod terminates (readiness
    /// and liveness; a startup probe stops once the container has started), as
    /// `(port, periodSeconds)`.
    pub fn termination_probes(&self) -> Vec<(u16, u64)> {
        self.network_probes(&[&self.readiness_probe, &self.liveness_probe])
    }

    /// Every port a probe of this container targets: ports the pod listens on.
    pub fn probed_ports(&self) -> Vec<u16> {
        self.network_probes(&[
            &self.readiness_probe,
            &self.liveness_probe,
            &self.startup_probe,
        ])
        .into_iter()
        .map(|(port, _)| port)
        .collect()
    }

    /// `httpGet`, `tcpSocket` and `grpc` probes as `(port, periodSeconds)`, named ports
    /// resolved against this container's ports. Exec probes open no socket.
    fn network_probes(&self, probes: &[&Option<Value>]) -> Vec<(u16, u64)> {
        probes
            .iter()
            .copied()
            .flatten()
            .filter_map(|probe| {
                let target = ["httpGet", "tcpSocket", "grpc"]
                    .iter()
                    .find_map(|kind| probe.get(*kind))?;
                let port = match target.get("port")? {
                    Value::String(name) => self
                        .declared_ports()
                        .find(|(n, _)| *n == Some(name.as_str()))
                        .map(|(_, number)| number)
                        .or_else(|| name.parse().ok())?,
                    other => as_port(other)?,
                };
                // Kubernetes' default period is 10 s; a period below 1 s does not exist.
                let period = probe
                    .get("periodSeconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(10)
                    .max(1);
                Some((port, period))
            })
            .collect()
    }
}

fn as_port(value: &Value) -> Option<u16> {
    value
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| n > 0)
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}
