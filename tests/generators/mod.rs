//! The one generator of pods and workloads for the property suites: `properties.rs`
//! (every answer passes the API server's rules, `api_rules`) and `invariants.rs`
//! (DESIGN.md's invariants on the injection itself). A case is a [`PodSpecInput`], a
//! description that shrinks well and that a test can ask about (which annotations, which
//! status record); [`object`] turns it into the object of any [`WorkloadKind`].
//!
//! What it covers: container names and images that hit every role pattern (and some that
//! hit none), regular and native-sidecar init containers, every shape of `lifecycle` a user
//! writes (absent, null, empty, null `preStop`, exec, httpGet, sleep, with or without
//! `postStart`; hooks that call another container of the pod by port number or name, a
//! known coordinator's port or client), pod and per-container annotations with valid and invalid values (also for
//! containers the pod does not have), a status record absent, garbage or forged, grace
//! periods from absent through zero to `i64::MAX`, every restart policy (or none), and
//! Linux and Windows pods (by `os` or by node selector).

#![allow(dead_code)]

use lameduck::plan::annotations;
use lameduck::workload::WorkloadKind;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

pub(crate) const KINDS: &[WorkloadKind] = &WorkloadKind::ALL;

/// Names and images that hit every role pattern, and some that hit none.
pub(crate) const FLAVOURS: &[(&str, Option<&str>)] = &[
    ("nginx", Some("nginx:1.27")),
    ("web", Some("openresty/openresty:1.25")),
    ("envoy", Some("envoyproxy/envoy:v1.31")),
    ("istio-proxy", Some("docker.io/istio/proxyv2:1.24.0")),
    (
        "sql",
        Some("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14@sha256:abc"),
    ),
    (
        "cloud-sql-proxy",
        Some("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14"),
    ),
    ("fluent-bit", Some("fluent/fluent-bit:3")),
    ("otel-collector", None),
    (
        "otc-container",
        Some("otel/opentelemetry-collector-contrib:0.102.0"),
    ),
    ("metrics", Some("nginx/nginx-prometheus-exporter:1.1.0")),
    ("app", Some("registry.example.com/shop/app:1.4.2")),
    ("worker", Some("busybox")),
    ("api", None),
    ("cache", Some("nginx.example.com/team/app:1")),
    // Coordinators of their pods' shutdown, known by name and image, and their callers.
    (
        "queue-proxy",
        Some("gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:abc"),
    ),
    (
        "shutdown-manager",
        Some("ghcr.io/projectcontour/contour:v1.30.0"),
    ),
    ("user-container", Some("ghcr.io/knative/helloworld-go")),
];

/// The `preStop` a user wrote.
#[derive(Debug, Clone)]
pub(crate) enum PreStop {
    Absent,
    Null,
    Exec(&'static [&'static str]),
    HttpGet,
    Sleep(i64),
    /// `httpGet` to the port container N of the pod declares (`9000 + N`, named `pN`),
    /// by number or by name, on the pod's IP or on localhost: N waits on... N coordinates.
    Call {
        target: usize,
        by_name: bool,
        host: Option<&'static str>,
    },
    /// `httpGet` to a known coordinator's undeclared port (Knative's 8022, Contour's 8090).
    KnownPort(i64),
}

/// A container's `lifecycle`, as users write it.
#[derive(Debug, Clone)]
pub(crate) enum Lifecycle {
    Absent,
    Null,
    /// `{}` when neither hook is there.
    Hooks {
        pre_stop: PreStop,
        post_start: bool,
    },
}

impl Lifecycle {
    /// The user's own `preStop`, if they wrote one.
    pub(crate) fn has_pre_stop(&self) -> bool {
        matches!(
            self,
            Lifecycle::Hooks {
                pre_stop: PreStop::Exec(_)
                    | PreStop::HttpGet
                    | PreStop::Sleep(_)
                    | PreStop::Call { .. }
                    | PreStop::KnownPort(_),
                ..
            }
        )
    }
}

pub(crate) fn pre_stop() -> impl Strategy<Value = PreStop> {
    prop_oneof![
        2 => Just(PreStop::Absent),
        1 => Just(PreStop::Null),
        2 => prop::sample::select(vec![
            &["/bin/sh", "-c", "sleep 7"][..],
            &["/bin/drain"][..],
            &["drain"][..],
            // Clients of known coordinators, and a shell that calls a port on localhost.
            &["/bin/contour", "envoy", "shutdown"][..],
            &["envoy-gateway", "envoy", "shutdown"][..],
            &["sh", "-c", "curl -s localhost:9001/drain"][..],
        ])
        .prop_map(PreStop::Exec),
        1 => Just(PreStop::HttpGet),
        1 => (0i64..100).prop_map(PreStop::Sleep),
        1 => (0usize..6, any::<bool>(), prop::sample::select(vec![None, Some("localhost"), Some("127.0.0.1"), Some("db.example.com")]))
            .prop_map(|(target, by_name, host)| PreStop::Call { target, by_name, host }),
        1 => prop::sample::select(vec![8022i64, 8090, 19002]).prop_map(PreStop::KnownPort),
    ]
}

pub(crate) fn hooks() -> impl Strategy<Value = Lifecycle> {
    prop_oneof![
        3 => Just(Lifecycle::Absent),
        1 => Just(Lifecycle::Null),
        8 => (pre_stop(), prop::bool::weighted(0.4))
            .prop_map(|(pre_stop, post_start)| Lifecycle::Hooks { pre_stop, post_start }),
    ]
}

pub(crate) fn lifecycle(hooks: &Lifecycle) -> Option<Value> {
    match hooks {
        Lifecycle::Absent => None,
        Lifecycle::Null => Some(Value::Null),
        Lifecycle::Hooks {
            pre_stop,
            post_start,
        } => {
            let mut lifecycle = Map::new();
            let pre_stop = match pre_stop {
                PreStop::Absent => None,
                PreStop::Null => Some(Value::Null),
                PreStop::Exec(command) => Some(json!({"exec": {"command": command}})),
                PreStop::HttpGet => Some(json!({"httpGet": {"path": "/drain", "port": 8080}})),
                PreStop::Sleep(seconds) => Some(json!({"sleep": {"seconds": seconds}})),
                PreStop::Call {
                    target,
                    by_name,
                    host,
                } => {
                    let port = if *by_name {
                        json!(format!("p{target}"))
                    } else {
                        json!(9000 + target)
                    };
                    let mut get = json!({"path": "/drain", "port": port});
                    if let Some(host) = host {
                        get["host"] = json!(host);
                    }
                    Some(json!({ "httpGet": get }))
                }
                PreStop::KnownPort(port) => {
                    Some(json!({"httpGet": {"path": "/wait-for-drain", "port": port}}))
                }
            };
            if let Some(pre_stop) = pre_stop {
                lifecycle.insert("preStop".into(), pre_stop);
            }
            if *post_start {
                lifecycle.insert(
                    "postStart".into(),
                    json!({"exec": {"command": ["/bin/warm-up"]}}),
                );
            }
            Some(Value::Object(lifecycle))
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ContainerSpec {
    pub flavour: usize,
    pub image_too: bool,
    pub hooks: Lifecycle,
}

pub(crate) fn container() -> impl Strategy<Value = ContainerSpec> {
    (0..FLAVOURS.len(), any::<bool>(), hooks()).prop_map(|(flavour, image_too, hooks)| {
        ContainerSpec {
            flavour,
            image_too,
            hooks,
        }
    })
}

/// Durations valid and invalid.
pub(crate) fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "20", "20s", "1m30s", "2500ms", "-5s", "soon", "0", "-0", "1", "3", " 7 ", "+5s",
            "1h", "300", "301", "10m", "", "1.5s", "99999999999999999999",
            "99999999999999999999h", "18446744073709551615", "1ms", "5S",
        ])
        .prop_map(String::from),
        2 => (0u64..5000).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| format!("{n}s")),
        1 => "[-+0-9hms ]{0,12}",
    ]
}

/// One of `words` mostly, anything else sometimes.
pub(crate) fn choice(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(words).prop_map(String::from),
        1 => "[a-zA-Z ]{0,8}",
    ]
}

/// The `lameduck.dev/status` a pod arrives with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StatusSpec {
    None,
    Garbage(String),
    /// Structurally valid, made up: claims some grace and some hooks.
    Forged {
        grace_found: Option<i64>,
        claims_current_grace: bool,
        hook_seconds: u64,
        exec: bool,
    },
}

pub(crate) fn status() -> impl Strategy<Value = StatusSpec> {
    prop_oneof![
        6 => Just(StatusSpec::None),
        1 => prop::sample::select(vec![
            "", "{", "null", "[]", r#"{"surprise":1}"#,
            r#"{"preStop":{"app":{"action":"sleep","seconds":-1}}}"#, "lameduck was here",
        ])
        .prop_map(|s| StatusSpec::Garbage(s.to_string())),
        2 => (prop::option::of(0i64..200), any::<bool>(), 0u64..60, any::<bool>()).prop_map(
            |(grace_found, claims_current_grace, hook_seconds, exec)| StatusSpec::Forged {
                grace_found,
                claims_current_grace,
                hook_seconds,
                exec,
            }
        ),
    ]
}

/// Which operating system the pod says it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Unsaid,
    Linux,
    /// `spec.os.name: windows`.
    Windows,
    /// Node selector `kubernetes.io/os: windows`.
    WindowsSelector,
}

fn os() -> impl Strategy<Value = Os> {
    prop_oneof![
        6 => Just(Os::Unsaid),
        1 => Just(Os::Linux),
        1 => Just(Os::Windows),
        1 => Just(Os::WindowsSelector),
    ]
}

#[derive(Debug, Clone)]
pub(crate) struct PodSpecInput {
    pub containers: Vec<ContainerSpec>,
    /// `true`: native sidecar (`restartPolicy: Always`); `false`: a regular init container.
    pub init: Vec<(usize, bool)>,
    pub grace: Option<i64>,
    pub restart_policy: Option<&'static str>,
    pub pod_annotations: Vec<(&'static str, String)>,
    pub container_annotations: Vec<(usize, &'static str, String)>,
    pub status: StatusSpec,
    pub other_annotation: bool,
    /// No `metadata` at all on the template (when there are no annotations).
    pub no_metadata: bool,
    pub os: Os,
}

impl PodSpecInput {
    /// The last value given for a pod annotation, as the JSON object keeps it.
    pub(crate) fn pod_annotation(&self, key: &str) -> Option<&str> {
        self.pod_annotations
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value.as_str())
    }

    /// `lameduck.dev/inject` says `true`, as the planner reads it.
    pub(crate) fn opted_in(&self) -> bool {
        self.pod_annotation(annotations::INJECT)
            .is_some_and(|value| value.trim_ascii() == "true")
    }

    /// A restart policy other than `Always`: a batch pod.
    pub(crate) fn batch(&self) -> bool {
        self.restart_policy.is_some_and(|policy| policy != "Always")
    }
}

pub(crate) fn grace() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(0)),
        4 => (1i64..120).prop_map(Some),
        1 => (120i64..100_000).prop_map(Some),
        1 => prop::sample::select(vec![3600, i64::MAX, i64::MAX - 1, 1 << 53, u32::MAX as i64])
            .prop_map(Some),
    ]
}

fn pod_annotation() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        (Just(annotations::SLEEP), duration()),
        (Just(annotations::SHUTDOWN), duration()),
        (Just(annotations::STAGGER), duration()),
        (Just(annotations::INJECT), choice(&["true", "false"])),
        (
            Just(annotations::ACTION),
            choice(&["sleep", "exec", "auto", "wait"])
        ),
        (Just(annotations::WAIT_MIN), duration()),
        (Just(annotations::WAIT_MAX), duration()),
    ]
}

/// `lameduck.dev/<container>.<field>`: the container by index into the pod's containers
/// and then its init containers (past the end: one the pod does not have).
fn container_annotation() -> impl Strategy<Value = (usize, &'static str, String)> {
    (
        0usize..6,
        prop::sample::select(vec!["sleep", "shutdown", "role"]),
        prop_oneof![duration(), choice(&["proxy", "app", "sidecar", "skip"])],
    )
}

fn restart_policy() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        2 => Just(None),
        4 => Just(Some("Always")),
        1 => Just(Some("Never")),
        1 => Just(Some("OnFailure")),
    ]
}

prop_compose! {
    pub(crate) fn pod_spec()(
        containers in prop::collection::vec(container(), 1..6),
        init in prop::collection::vec((0..FLAVOURS.len(), prop::bool::weighted(0.6)), 0..3),
        grace in grace(),
        restart_policy in restart_policy(),
        pod_annotations in prop::collection::vec(pod_annotation(), 0..4),
        container_annotations in prop::collection::vec(container_annotation(), 0..3),
        status in status(),
        other_annotation in any::<bool>(),
        no_metadata in any::<bool>(),
        os in os(),
    ) -> PodSpecInput {
        PodSpecInput {
            containers,
            init,
            grace,
            restart_policy,
            pod_annotations,
            container_annotations,
            status,
            other_annotation,
            no_metadata,
            os,
        }
    }
}

/// A pod as a user submits it: no status record (lameduck's own, or a forged one).
pub(crate) fn submitted_pod_spec() -> impl Strategy<Value = PodSpecInput> {
    pod_spec().prop_map(|mut input| {
        input.status = StatusSpec::None;
        input
    })
}

/// A kind, an operation, a pod, and whether the webhook's action is a fixed `exec`.
pub(crate) fn workload() -> impl Strategy<Value = (WorkloadKind, &'static str, PodSpecInput, bool)>
{
    (
        prop::sample::select(KINDS),
        prop::sample::select(vec!["CREATE", "UPDATE"]),
        pod_spec(),
        any::<bool>(),
    )
}

/// Container names unique within the pod (init containers included), derived from the
/// flavour so role detection by name still bites.
fn names(input: &PodSpecInput) -> (Vec<String>, Vec<String>) {
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    let mut name = |flavour: usize| {
        let base = FLAVOURS[flavour].0;
        let n = seen.entry(base).or_default();
        *n += 1;
        if *n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        }
    };
    let containers = input.containers.iter().map(|c| name(c.flavour)).collect();
    let init = input.init.iter().map(|&(f, _)| name(f)).collect();
    (containers, init)
}

/// The pod template (or Pod) as JSON: `(metadata, spec)`.
pub(crate) fn template(input: &PodSpecInput) -> (Option<Value>, Value) {
    let (names, init_names) = names(input);
    let containers: Vec<Value> = input
        .containers
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(index, (c, name))| {
            let (_, image) = FLAVOURS[c.flavour];
            let mut object = Map::new();
            object.insert("name".into(), json!(name));
            let image = match (image, c.image_too) {
                (Some(image), true) => image.to_string(),
                _ => "registry.example.com/plain:1".to_string(),
            };
            object.insert("image".into(), json!(image));
            // 8080 everywhere (a hook to it is the caller's own port); 9000 + index, named
            // `p<index>`, for hooks that call another container.
            object.insert(
                "ports".into(),
                json!([{"containerPort": 8080}, {"containerPort": 9000 + index, "name": format!("p{index}")}]),
            );
            if let Some(lifecycle) = lifecycle(&c.hooks) {
                object.insert("lifecycle".into(), lifecycle);
            }
            Value::Object(object)
        })
        .collect();
    let init: Vec<Value> = input
        .init
        .iter()
        .zip(&init_names)
        .map(|(&(flavour, native), name)| {
            let mut c = json!({"name": name, "image": FLAVOURS[flavour].1.unwrap_or("busybox")});
            if native {
                c["restartPolicy"] = json!("Always");
            }
            c
        })
        .collect();

    let mut spec = json!({"containers": containers});
    if !init.is_empty() {
        spec["initContainers"] = json!(init);
    }
    if let Some(grace) = input.grace {
        spec["terminationGracePeriodSeconds"] = json!(grace);
    }
    if let Some(policy) = input.restart_policy {
        spec["restartPolicy"] = json!(policy);
    }
    match input.os {
        Os::Unsaid => {}
        Os::Linux => spec["os"] = json!({"name": "linux"}),
        Os::Windows => spec["os"] = json!({"name": "windows"}),
        Os::WindowsSelector => spec["nodeSelector"] = json!({"kubernetes.io/os": "windows"}),
    }

    let mut annotations = Map::new();
    for (key, value) in &input.pod_annotations {
        annotations.insert(key.to_string(), json!(value));
    }
    for (index, field, value) in &input.container_annotations {
        // Index past the end: a container the pod does not have (or a native sidecar).
        let all: Vec<&String> = names.iter().chain(&init_names).collect();
        let name = all.get(*index).map_or("ghost", |n| n.as_str());
        annotations.insert(format!("lameduck.dev/{name}.{field}"), json!(value));
    }
    if input.other_annotation {
        annotations.insert("example.com/owner".into(), json!("team-shop"));
    }
    match &input.status {
        StatusSpec::None => {}
        StatusSpec::Garbage(text) => {
            annotations.insert(annotations::STATUS.into(), json!(text));
        }
        StatusSpec::Forged {
            grace_found,
            claims_current_grace,
            hook_seconds,
            exec,
        } => {
            let mut status = Map::new();
            if let Some(found) = grace_found {
                status.insert("graceFound".into(), json!(found));
            }
            if *claims_current_grace && let Some(grace) = input.grace {
                status.insert("graceSet".into(), json!(grace));
            }
            let action = if *exec { "exec" } else { "sleep" };
            let mut hooks = Map::new();
            // Claim the first container, and whatever it has may or may not match.
            hooks.insert(
                names[0].clone(),
                json!({"action": action, "seconds": hook_seconds}),
            );
            status.insert("preStop".into(), Value::Object(hooks));
            annotations.insert(
                annotations::STATUS.into(),
                json!(Value::Object(status).to_string()),
            );
        }
    }
    let metadata = if annotations.is_empty() && input.no_metadata {
        None
    } else if annotations.is_empty() {
        Some(json!({"labels": {"app": "shop"}}))
    } else {
        Some(json!({"labels": {"app": "shop"}, "annotations": annotations}))
    };
    (metadata, spec)
}

/// The object of `kind` (in namespace `shop`) whose pod template `input` describes.
pub(crate) fn object(kind: WorkloadKind, input: &PodSpecInput) -> Value {
    let (metadata, spec) = template(input);
    let mut template = Map::new();
    if let Some(metadata) = metadata {
        template.insert("metadata".into(), metadata);
    }
    template.insert("spec".into(), spec);
    let template = Value::Object(template);
    let (api_version, spec) = match kind {
        WorkloadKind::Pod => {
            let mut pod = template;
            let metadata = pod
                .as_object_mut()
                .expect("a template is an object")
                .entry("metadata")
                .or_insert_with(|| json!({}));
            metadata["generateName"] = json!("shop-");
            metadata["namespace"] = json!("shop");
            pod["apiVersion"] = json!("v1");
            pod["kind"] = json!("Pod");
            return pod;
        }
        WorkloadKind::Job => ("batch/v1", json!({"template": template})),
        WorkloadKind::CronJob => (
            "batch/v1",
            json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}),
        ),
        _ => (
            "apps/v1",
            json!({"selector": {"matchLabels": {"app": "shop"}}, "template": template}),
        ),
    };
    json!({
        "apiVersion": api_version,
        "kind": kind.as_str(),
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": spec,
    })
}

/// The pod template inside an object of `kind` (the object itself for a Pod).
pub(crate) fn template_of(kind: WorkloadKind, object: &Value) -> &Value {
    kind.template_path()
        .iter()
        .fold(object, |at, token| &at[*token])
}
