//! Where each supported kind keeps its pod template (`template` holds the fields of a
//! template the planner reads).

mod template;

use serde::{Deserialize, Deserializer};

use crate::admission::Operation;
pub use template::{Container, Lifecycle, Metadata, NodeSelector, PodOs, PodSpec, PodTemplate};

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
            // A Deployment's ReplicaSet is left as its controller made it: the controller
            // finds the ReplicaSet of a template by comparing the two, and one lameduck
            // planned differently (after an upgrade or a settings change) would make it
            // create ReplicaSets without end. The Deployment's template and the pods are
            // planned instead.
            Self::ReplicaSet => {
                let replica_set = WithOwnerAndSpec::deserialize(object)?;
                let owned_by_deployment = replica_set
                    .metadata
                    .and_then(|m| m.owner_references)
                    .is_some_and(|owners| {
                        owners.iter().any(|o| {
                            o.controller == Some(true) && o.kind.as_deref() == Some("Deployment")
                        })
                    });
                replica_set
                    .spec
                    .filter(|_| !owned_by_deployment)
                    .and_then(|spec| spec.template)
            }
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
struct WithOwnerAndSpec {
    #[serde(default = "none")]
    metadata: Option<OwnerMetadata>,
    #[serde(default = "none")]
    spec: Option<WithTemplate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnerMetadata {
    #[serde(default)]
    owner_references: Option<Vec<OwnerReference>>,
}

#[derive(Deserialize)]
struct OwnerReference {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    controller: Option<bool>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::choreography::{ContainerPort, PortRef, PreStopCall};
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
    fn a_replica_set_a_deployment_controls_is_not_planned() {
        let template = json!({"spec": {"containers": [{"name": "app", "image": "a:1"}]}});
        let owned = |kind: &str, controller: bool| {
            json!({
                "metadata": {"ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": kind, "name": "web", "uid": "u", "controller": controller}
                ]},
                "spec": {"template": template},
            })
        };
        let read = |object: &serde_json::Value| {
            WorkloadKind::ReplicaSet
                .read_template(object)
                .unwrap()
                .is_some()
        };
        assert!(!read(&owned("Deployment", true)));
        // Not controlled by a Deployment: its template is its own.
        assert!(read(&owned("Deployment", false)));
        assert!(read(&owned("Rollout", true)));
        assert!(read(&json!({"spec": {"template": template}})));
        assert!(read(
            &json!({"metadata": {}, "spec": {"template": template}})
        ));
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

    /// How probes were read when they were kept as `Value`s: the reference the lenient
    /// reader must agree with on any shape.
    fn probes_from_values(container: &serde_json::Value) -> Vec<(u16, u64)> {
        use serde_json::Value;
        let declared = |name: &str| {
            container["ports"].as_array().and_then(|ports| {
                ports.iter().find_map(|p| {
                    let number = u16::try_from(p.get("containerPort")?.as_i64()?).ok()?;
                    (p.get("name")?.as_str()? == name).then_some(number)
                })
            })
        };
        ["readinessProbe", "livenessProbe"]
            .iter()
            .filter_map(|key| container.get(*key))
            .filter_map(|probe| {
                let target = ["httpGet", "tcpSocket", "grpc"]
                    .iter()
                    .find_map(|kind| probe.get(*kind))?;
                let port = match target.get("port")? {
                    Value::String(name) => declared(name).or_else(|| name.parse().ok())?,
                    other => other
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .filter(|&n| n > 0)?,
                };
                let period = probe
                    .get("periodSeconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(10)
                    .max(1);
                Some((port, period))
            })
            .collect()
    }

    #[test]
    fn probes_are_read_as_their_values_said_whatever_the_shape() {
        let probes = [
            json!({"httpGet": {"port": 8080, "path": "/x"}, "periodSeconds": 3}),
            json!({"tcpSocket": {"port": "http"}, "periodSeconds": 0}),
            json!({"grpc": {"port": 9090}, "periodSeconds": -1}),
            json!({"grpc": {"port": 9090}, "httpGet": {"port": 81}, "periodSeconds": 2.5}),
            json!({"httpGet": null, "tcpSocket": {"port": 82}}),
            json!({"httpGet": {"port": null}}),
            json!({"httpGet": {"port": 0}}),
            json!({"httpGet": {"port": 70000}}),
            json!({"httpGet": {"port": -80}}),
            json!({"httpGet": {"port": 80.0}}),
            json!({"httpGet": {"port": "8081"}}),
            json!({"httpGet": {"port": "nope"}}),
            json!({"httpGet": {"port": [80]}}),
            json!({"httpGet": {"port": {"a": 1}}}),
            json!({"httpGet": "x", "periodSeconds": "5"}),
            json!({"httpGet": [1, 2]}),
            json!({"exec": {"command": ["true"]}, "periodSeconds": 7}),
            json!({"periodSeconds": 7}),
            json!({"httpGet": {"port": 80}, "periodSeconds": {"a": [1]}}),
            json!({"httpGet": {"port": 80}, "periodSeconds": true}),
            json!({"httpGet": {"port": 80}, "periodSeconds": 18446744073709551615u64}),
            json!({}),
            json!([]),
            json!("probe"),
            json!(3),
            json!(true),
            json!(null),
        ];
        for probe in probes {
            for key in ["readinessProbe", "livenessProbe"] {
                let mut container = json!({
                    "name": "app",
                    "ports": [{"containerPort": 8443, "name": "http"}],
                });
                container[key] = probe.clone();
                let read = WorkloadKind::Pod
                    .read_template(&json!({"spec": {"containers": [container.clone()]}}))
                    .unwrap()
                    .unwrap()
                    .spec
                    .unwrap()
                    .containers
                    .remove(0);
                assert_eq!(
                    read.termination_probes(),
                    probes_from_values(&container),
                    "{container}"
                );
                // The same through the review's own parser (borrowed keys, from bytes).
                let bytes = serde_json::to_vec(&json!({"spec": {"containers": [container]}}));
                let mut de = serde_json::Deserializer::from_slice(bytes.as_ref().unwrap());
                let from_bytes = WorkloadKind::Pod.read_template(&mut de).unwrap().unwrap();
                assert_eq!(
                    from_bytes.spec.unwrap().containers[0].termination_probes(),
                    read.termination_probes()
                );
            }
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
