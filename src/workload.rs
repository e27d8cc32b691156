//! Where each supported kind keeps its pod template, and the few fields of a template the
//! planner reads. Everything else in the object is skipped while parsing, never copied.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::admission::Operation;
use crate::plan::annotations::Annotations;
use crate::plan::choreography::{ContainerPort, PortRef, PreStopCall};

/// A kind whose pods lameduck plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 7] = [
        Self::Pod,
        Self::Deployment,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::ReplicaSet,
        Self::Job,
        Self::CronJob,
    ];

    /// Recognises a kind by API group and name; the version does not matter because the
    /// pod template sits in the same place in every served version.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        match (group, kind) {
            ("", "Pod") => Some(Self::Pod),
            ("apps", "Deployment") => Some(Self::Deployment),
            ("apps", "StatefulSet") => Some(Self::StatefulSet),
            ("apps", "DaemonSet") => Some(Self::DaemonSet),
            ("apps", "ReplicaSet") => Some(Self::ReplicaSet),
            ("batch", "Job") => Some(Self::Job),
            ("batch", "CronJob") => Some(Self::CronJob),
            _ => None,
        }
    }

    /// Recognises a manifest's `apiVersion` and `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Self> {
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        Self::from_group_kind(group, kind)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::ReplicaSet => "ReplicaSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
        }
    }

    /// A pod's containers cannot change after creation, so a Pod is planned on CREATE
    /// only; a workload's template is planned whenever it is written.
    pub fn plans_on(self, operation: Operation) -> bool {
        match self {
            Self::Pod => operation == Operation::Create,
            _ => matches!(operation, Operation::Create | Operation::Update),
        }
    }

    /// The JSON Pointer tokens from the object to its pod template (which, for a Pod, is
    /// the object itself: both have `metadata` and `spec`).
    pub fn template_path(self) -> &'static [&'static str] {
        match self {
            Self::Pod => &[],
            Self::CronJob => &["spec", "jobTemplate", "spec", "template"],
            _ => &["spec", "template"],
        }
    }

    /// Reads the pod template out of an object of this kind. `Ok(None)` when the object
    /// has no template (an invalid object the API server would reject anyway).
    pub fn read_template<'de, D: Deserializer<'de>>(
        self,
        object: D,
    ) -> Result<Option<PodTemplate>, D::Error> {
        Ok(match self {
            Self::Pod => Some(PodTemplate::deserialize(object)?),
            Self::CronJob => WithSpec::<CronJobSpec>::deserialize(object)?
                .spec
                .and_then(|spec| spec.job_template)
                .and_then(|job| job.spec)
                .and_then(|spec| spec.template),
            _ => WithSpec::<WithTemplate>::deserialize(object)?
                .spec
                .and_then(|spec| spec.template),
        })
    }
}

#[derive(Deserialize)]
struct WithSpec<T> {
    #[serde(default = "none")]
    spec: Option<T>,
}

#[derive(Deserialize)]
struct WithTemplate {
    #[serde(default)]
    template: Option<PodTemplate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronJobSpec {
    #[serde(default)]
    job_template: Option<WithSpec<WithTemplate>>,
}

fn none<T>() -> Option<T> {
    None
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_by_group() {
        assert_eq!(
            WorkloadKind::from_group_kind("", "Pod"),
            Some(WorkloadKind::Pod)
        );
        assert_eq!(WorkloadKind::from_group_kind("apps", "Pod"), None);
        assert_eq!(WorkloadKind::from_group_kind("", "ConfigMap"), None);
        assert_eq!(
            WorkloadKind::from_api_version("batch/v1", "CronJob"),
            Some(WorkloadKind::CronJob)
        );
        assert_eq!(
            WorkloadKind::from_api_version("v1", "Pod"),
            Some(WorkloadKind::Pod)
        );
        assert_eq!(
            WorkloadKind::from_api_version("extensions/v1beta1", "Deployment"),
            None
        );
    }

    #[test]
    fn pods_plan_on_create_only_and_templates_on_writes() {
        assert!(WorkloadKind::Pod.plans_on(Operation::Create));
        assert!(!WorkloadKind::Pod.plans_on(Operation::Update));
        assert!(WorkloadKind::StatefulSet.plans_on(Operation::Update));
        assert!(!WorkloadKind::Deployment.plans_on(Operation::Delete));
        assert!(!WorkloadKind::Job.plans_on(Operation::Connect));
    }

    #[test]
    fn templates_are_found_where_each_kind_keeps_them() {
        let container = json!({"name": "app", "image": "app:1"});
        let template =
            json!({"metadata": {"annotations": {"a": "b"}}, "spec": {"containers": [container]}});
        let cases = [
            (WorkloadKind::Pod, template.clone()),
            (
                WorkloadKind::Deployment,
                json!({"spec": {"template": template.clone()}}),
            ),
            (
                WorkloadKind::CronJob,
                json!({"spec": {"jobTemplate": {"spec": {"template": template.clone()}}}}),
            ),
        ];
        for (kind, object) in cases {
            let found = kind
                .read_template(&object)
                .expect("parses")
                .expect("has a template");
            let spec = found.spec.expect("spec");
            assert_eq!(spec.containers[0].name, "app", "{kind:?}");
            let mut pointer =
                json_patch::jsonptr::PointerBuf::from_tokens(kind.template_path().iter().copied());
            pointer.push_back("spec");
            assert!(pointer.resolve(&object).is_ok(), "{kind:?}");
        }
    }

    #[test]
    fn missing_and_null_parts_are_tolerated() {
        let object = json!({"spec": {"template": {"spec": {"containers": null}}}});
        let found = WorkloadKind::Deployment
            .read_template(&object)
            .unwrap()
            .unwrap();
        assert!(found.metadata.is_none());
        assert!(found.spec.unwrap().containers.is_empty());
        assert!(
            WorkloadKind::Deployment
                .read_template(&json!({}))
                .unwrap()
                .is_none()
        );
        assert!(
            WorkloadKind::CronJob
                .read_template(&json!({"spec": null}))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        for object in [
            json!({"metadata": {"annotations": {"a": 1}}}),
            json!({"spec": {"containers": "app"}}),
            json!({"spec": {"containers": [{"name": "a", "lifecycle": "x"}]}}),
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}}),
            json!({"spec": {"terminationGracePeriodSeconds": "30"}}),
        ] {
            assert!(
                WorkloadKind::Pod.read_template(&object).is_err(),
                "{object}"
            );
        }
    }

    #[test]
    fn hooks_and_ports_are_read_for_the_calls_they_make() {
        let container = |value: serde_json::Value| {
            WorkloadKind::Pod
                .read_template(&json!({"spec": {"containers": [value]}}))
                .unwrap()
                .unwrap()
                .spec
                .unwrap()
                .containers
                .remove(0)
        };
        let http = container(json!({
            "name": "app",
            "lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": "admin", "host": "localhost"}}},
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}, {"containerPort": 9090}],
        }));
        assert_eq!(
            http.pre_stop_call(),
            Some(&PreStopCall::HttpGet {
                host: "localhost".into(),
                port: PortRef::Name("admin".into())
            })
        );
        assert_eq!(
            http.ports,
            [
                ContainerPort {
                    container_port: Some(8080),
                    name: Some("http".into())
                },
                ContainerPort {
                    container_port: Some(9090),
                    name: None
                }
            ]
        );
        let exec = container(json!({
            "name": "envoy",
            "lifecycle": {"preStop": {"exec": {"command": ["/bin/contour", "envoy", "shutdown"]}}},
            "ports": null,
        }));
        assert_eq!(
            exec.pre_stop_call(),
            Some(&PreStopCall::Exec {
                command: vec!["/bin/contour".into(), "envoy".into(), "shutdown".into()]
            })
        );
        assert!(exec.ports.is_empty());
        for hook in [
            json!({"sleep": {"seconds": 5}}),
            json!({"httpGet": {"port": 1.5}}),
            json!({"exec": {"command": ["sh", 1]}}),
            json!(null),
        ] {
            let c = container(json!({"name": "x", "lifecycle": {"preStop": hook}}));
            assert_eq!(c.pre_stop_call(), None, "{hook}");
        }
    }

    #[test]
    fn windows_pods_are_known_by_os_or_node_selector() {
        let windows = |spec: serde_json::Value| {
            WorkloadKind::Pod
                .read_template(&json!({ "spec": spec }))
                .unwrap()
                .unwrap()
                .spec
                .unwrap()
                .is_windows()
        };
        assert!(windows(json!({"os": {"name": "windows"}})));
        assert!(windows(
            json!({"nodeSelector": {"kubernetes.io/os": "windows", "pool": "win"}})
        ));
        assert!(!windows(json!({"os": {"name": "linux"}})));
        assert!(!windows(
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}})
        ));
        assert!(!windows(json!({"nodeSelector": null, "os": null})));
        assert!(!windows(json!({})));
    }
}
