//! The few fields of a pod template the planner reads. Everything else in the object is
//! skipped while parsing, never copied.

use serde::de::{IgnoredAny, MapAccess, Visitor};
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
    pub readiness_probe: Option<Probe>,
    #[serde(default)]
    pub liveness_probe: Option<Probe>,
    #[serde(default)]
    pub startup_probe: Option<Probe>,
}

/// The kinds of probe that open a socket, in the order a probe's target is looked for.
const PROBE_TARGETS: [&str; 3] = ["httpGet", "tcpSocket", "grpc"];

/// What a probe tells the waiter: the port of its `httpGet`, `tcpSocket` or `grpc` target
/// and its `periodSeconds`. Read leniently as the probe is parsed (any JSON is accepted;
/// a part of the wrong shape reads as absent) without building it: probes are most of
/// what a container's fields hold that lameduck reads, and a `Value` of each (an
/// insertion-ordered map with a hashed key per field) cost a sixth of a review.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Per kind in [`PROBE_TARGETS`]: `None` when the probe has no such key, else the
    /// target's port when it has a usable one.
    targets: [Option<Option<ProbePort>>; 3],
    period: Option<u64>,
}

/// A probe target's `port`: a number (kept only when it is a valid port) or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProbePort {
    Number(u16),
    Name(String),
}

impl Probe {
    /// The port of the first target kind the probe has, when that target names one; a
    /// probe without a network target (exec) has none.
    fn target(&self) -> Option<&ProbePort> {
        self.targets.iter().find_map(Option::as_ref)?.as_ref()
    }
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(ProbeVisitor)
    }
}

/// Accepts any JSON value: one that is not an object is a probe without a network target.
macro_rules! accept_any_scalar {
    ($value:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_any(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
}

struct ProbeVisitor;

impl<'de> Visitor<'de> for ProbeVisitor {
    type Value = Probe;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    accept_any_scalar!(Probe::default());
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
        let mut probe = Probe::default();
        while let Some(key) = map.next_key::<Key>()? {
            let key = key.0;
            if let Some(kind) = PROBE_TARGETS.iter().position(|k| *k == key) {
                probe.targets[kind] = Some(map.next_value::<Target>()?.0);
            } else if key == "periodSeconds" {
                probe.period = map.next_value::<Scalar>()?.number();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(probe)
    }
}

/// A map key, borrowed from the body unless it holds escapes.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        <std::borrow::Cow<'de, str>>::deserialize(de).map(Key)
    }
}

/// A probe target's usable `port`, from any JSON value.
struct Target(Option<ProbePort>);

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(TargetVisitor)
    }
}

struct TargetVisitor;

impl<'de> Visitor<'de> for TargetVisitor {
    type Value = Target;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    accept_any_scalar!(Target(None));
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target, A::Error> {
        let mut port = None;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 == "port" {
                port = map.next_value::<Scalar>()?.port();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Target(port))
    }
}

/// A probe field's value, read leniently: a non-negative integer, a string, or anything
/// else (skipped, never an error: a field lameduck does not understand must not refuse
/// the pod).
enum Scalar {
    Number(u64),
    Text(String),
    Other,
}

impl Scalar {
    /// A `port`: a name, or a number kept only when it is a valid port (1-65535).
    fn port(self) -> Option<ProbePort> {
        match self {
            Scalar::Number(n) => u16::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .map(ProbePort::Number),
            Scalar::Text(name) => Some(ProbePort::Name(name)),
            Scalar::Other => None,
        }
    }

    fn number(self) -> Option<u64> {
        match self {
            Scalar::Number(n) => Some(n),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Scalar, E> {
        Ok(u64::try_from(n).map_or(Scalar::Other, Scalar::Number))
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(n))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(text.to_string()))
    }
    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Scalar, D::Error> {
        de.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
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
    fn network_probes(&self, probes: &[&Option<Probe>]) -> Vec<(u16, u64)> {
        probes
            .iter()
            .copied()
            .flatten()
            .filter_map(|probe| {
                let port = match probe.target()? {
                    ProbePort::Name(name) => self
                        .declared_ports()
                        .find(|(n, _)| *n == Some(name.as_str()))
                        .map(|(_, number)| number)
                        .or_else(|| name.parse().ok())?,
                    ProbePort::Number(number) => *number,
                };
                // Kubernetes' default period is 10 s; a period below 1 s does not exist.
                let period = probe.period.unwrap_or(10).max(1);
                Some((port, period))
            })
            .collect()
    }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}
