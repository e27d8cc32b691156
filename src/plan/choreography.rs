//! Pods that choreograph their own shutdown: a container whose own `preStop` waits on
//! another container of the pod (Knative's user container on `queue-proxy`, Envoy on
//! Contour's or Envoy Gateway's `shutdown-manager`). The container waited on coordinates
//! the shutdown: delaying its SIGTERM breaks the choreography (queue-proxy takes a drain
//! request that SIGTERM does not follow within a second for a liveness restart and
//! cancels it), so it gets no hook and no delay.

use serde::Deserialize;

use super::model::ContainerInput;
use super::role::image_repository_path;

/// A port a container declares (`ports[]`), as far as calls are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default)]
    pub container_port: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
}

/// An `httpGet` port: a number, or a string (a name, or digits the kubelet reads as a
/// number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(i64),
    Name(String),
}

/// What a user's own `preStop` reaches, when it is something lameduck can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreStopCall {
    /// `httpGet` to `host` (empty: the pod's IP, which every container of the pod shares).
    HttpGet { host: String, port: PortRef },
    /// `exec` with this command line.
    Exec { command: Vec<String> },
}

/// A coordinator known by name and image, for calls that do not name a declared port:
/// an `exec` of its client, or an `httpGet` to a port it serves without declaring it.
#[derive(Debug)]
pub struct KnownCoordinator {
    /// What it is, for people.
    pub product: &'static str,
    /// Container names its project gives it.
    names: &'static [&'static str],
    /// Image repository paths (registry host dropped) it is published under; a mirror
    /// may add segments in front.
    images: &'static [&'static str],
    /// Ports it serves for the shutdown, declared or not.
    ports: &'static [i64],
    /// Command lines (program's file name, then the first arguments) of the client that
    /// waits on it.
    clients: &'static [&'static [&'static str]],
}

/// Knative Serving's queue-proxy (the user container's `preStop` is an `httpGet` to
/// `:8022/wait-for-drain`), Contour's shutdown-manager (Envoy's `preStop` is an `httpGet`
/// to `:8090/shutdown`; its own is `contour envoy shutdown`), Envoy Gateway's
/// shutdown-manager (Envoy's `preStop` is an `httpGet` to `:19002/shutdown/ready`; its
/// own is `envoy-gateway envoy shutdown`).
pub const KNOWN_COORDINATORS: &[KnownCoordinator] = &[
    KnownCoordinator {
        product: "Knative's queue-proxy",
        names: &["queue-proxy"],
        images: &["knative.dev/serving/cmd/queue"],
        ports: &[8022],
        clients: &[],
    },
    KnownCoordinator {
        product: "Contour's shutdown-manager",
        names: &["shutdown-manager"],
        images: &["projectcontour/contour"],
        ports: &[8090],
        clients: &[&["contour", "envoy", "shutdown"]],
    },
    KnownCoordinator {
        product: "Envoy Gateway's shutdown-manager",
        names: &["shutdown-manager"],
        images: &["envoyproxy/gateway", "envoyproxy/gateway-dev"],
        ports: &[19002],
        clients: &[&["envoy-gateway", "envoy", "shutdown"]],
    },
];

impl KnownCoordinator {
    /// Whether `container` is this coordinator, by its name or its image.
    fn is(&self, container: &ContainerInput) -> bool {
        self.names.contains(&container.name) || self.is_image(container)
    }

    /// Whether `container` runs this coordinator's image (a name may be shared: Contour
    /// and Envoy Gateway both say `shutdown-manager`).
    fn is_image(&self, container: &ContainerInput) -> bool {
        container.image.is_some_and(|image| {
            let path = image_repository_path(image);
            self.images.iter().any(|known| {
                path == *known
                    || path
                        .strip_suffix(known)
                        .is_some_and(|front| front.ends_with('/'))
            })
        })
    }

    fn client_matches(&self, command: &[String]) -> bool {
        let Some((program, args)) = command.split_first() else {
            return false;
        };
        let program = program.rsplit('/').next().unwrap_or(program);
        self.clients.iter().any(|client| {
            client.split_first().is_some_and(|(name, want)| {
                program == *name
                    && args.len() >= want.len()
                    && args.iter().zip(want.iter()).all(|(arg, want)| arg == want)
            })
        })
    }
}

/// One container's own `preStop` reaching another container of the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// Index of the container whose hook calls.
    pub caller: usize,
    /// Index of the container called: it coordinates the shutdown.
    pub target: usize,
    /// The known coordinator the target is, when it is one.
    pub known: Option<&'static str>,
}

/// Every call from a container's own `preStop` to another container of the pod, in
/// container order.
pub(super) fn calls(containers: &[ContainerInput]) -> Vec<Call> {
    let mut calls = Vec::new();
    for (caller, input) in containers.iter().enumerate() {
        let Some(call) = input.own_call.filter(|_| input.has_own_pre_stop) else {
            continue;
        };
        if let Some((target, via)) = target_of(containers, caller, call) {
            calls.push(Call {
                caller,
                target,
                known: via
                    .or_else(|| known(&containers[target]))
                    .map(|k| k.product),
            });
        }
    }
    calls
}

/// What `container` is among the known coordinators: by image first, then by name.
fn known(container: &ContainerInput) -> Option<&'static KnownCoordinator> {
    (KNOWN_COORDINATORS.iter().find(|k| k.is_image(container)))
        .or_else(|| KNOWN_COORDINATORS.iter().find(|k| k.is(container)))
}

/// A container `call` reaches, and the known coordinator it was recognised as when
/// knowledge (a client, an undeclared port) found it.
type Target = (usize, Option<&'static KnownCoordinator>);

/// The other container `call` reaches, if any.
fn target_of(containers: &[ContainerInput], caller: usize, call: &PreStopCall) -> Option<Target> {
    let others = || (0..containers.len()).filter(move |&i| i != caller);
    match call {
        PreStopCall::HttpGet { host, port } => {
            if !is_local(host) {
                return None;
            }
            // The kubelet reads a string of digits as a number, and resolves a name against
            // the calling container's own ports; a name it lacks but another container
            // declares shows where the author meant to go.
            let number = match port {
                PortRef::Number(number) => *number,
                PortRef::Name(text) => match text.parse() {
                    Ok(number) => number,
                    Err(_) => match declared_number(&containers[caller], text) {
                        Some(number) => number,
                        None => {
                            let target = others().find(|&i| declares_name(&containers[i], text));
                            return target.map(|target| (target, None));
                        }
                    },
                },
            };
            port_target(containers, caller, number)
        }
        PreStopCall::Exec { command } => {
            if let Some(coordinator) = KNOWN_COORDINATORS
                .iter()
                .find(|k| k.client_matches(command))
            {
                let target = others().find(|&i| coordinator.is(&containers[i]));
                return target.map(|target| (target, Some(coordinator)));
            }
            // A shell hook that calls a port on localhost (`curl localhost:8022/...`).
            command
                .iter()
                .flat_map(|arg| local_ports(arg))
                .find_map(|number| port_target(containers, caller, number))
        }
    }
}

/// The container serving `number`, other than the caller: the one that declares it, else
/// a known coordinator that serves it undeclared. A port the caller declares is its own.
fn port_target(containers: &[ContainerInput], caller: usize, number: i64) -> Option<Target> {
    if declares_number(&containers[caller], number) {
        return None;
    }
    let others = || (0..containers.len()).filter(move |&i| i != caller);
    if let Some(target) = others().find(|&i| declares_number(&containers[i], number)) {
        return Some((target, None));
    }
    others().find_map(|i| {
        KNOWN_COORDINATORS
            .iter()
            .find(|k| k.ports.contains(&number) && k.is(&containers[i]))
            .map(|k| (i, Some(k)))
    })
}

fn declares_number(container: &ContainerInput, number: i64) -> bool {
    container
        .ports
        .iter()
        .any(|p| p.container_port == Some(number))
}

fn declares_name(container: &ContainerInput, name: &str) -> bool {
    container
        .ports
        .iter()
        .any(|p| p.name.as_deref() == Some(name))
}

fn declared_number(container: &ContainerInput, name: &str) -> Option<i64> {
    container
        .ports
        .iter()
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| p.container_port)
}

/// An `httpGet` host inside the pod: unset (the pod's IP) or the loopback.
fn is_local(host: &str) -> bool {
    matches!(
        host.trim_ascii(),
        "" | "localhost" | "127.0.0.1" | "::1" | "[::1]"
    )
}

/// Ports after `localhost:` or `127.0.0.1:` in a command-line argument.
fn local_ports(arg: &str) -> impl Iterator<Item = i64> + '_ {
    ["localhost:", "127.0.0.1:"]
        .into_iter()
        .flat_map(move |prefix| {
            arg.match_indices(prefix).filter_map(move |(at, _)| {
                let digits: String = arg[at + prefix.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().ok()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(number: i64, name: &str) -> ContainerPort {
        ContainerPort {
            container_port: Some(number),
            name: Some(name.to_string()),
        }
    }

    fn http(host: &str, port: PortRef) -> PreStopCall {
        PreStopCall::HttpGet {
            host: host.to_string(),
            port,
        }
    }

    fn exec(command: &[&str]) -> PreStopCall {
        PreStopCall::Exec {
            command: command.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn container<'a>(
        name: &'a str,
        image: &'a str,
        ports: &'a [ContainerPort],
        call: Option<&'a PreStopCall>,
    ) -> ContainerInput<'a> {
        ContainerInput {
            name,
            image: Some(image),
            has_own_pre_stop: call.is_some(),
            own_call: call,
            ports,
        }
    }

    #[test]
    fn knative_user_container_waits_on_queue_proxy() {
        let drain = http("", PortRef::Number(8022));
        let user_ports = [port(8080, "user-port")];
        let queue_ports = [port(8022, "http-queueadm"), port(8012, "queue-port")];
        let pod = [
            container(
                "user-container",
                "ghcr.io/knative/helloworld-go",
                &user_ports,
                Some(&drain),
            ),
            container(
                "queue-proxy",
                "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:65c4",
                &queue_ports,
                None,
            ),
        ];
        assert_eq!(
            calls(&pod),
            [Call {
                caller: 0,
                target: 1,
                known: Some("Knative's queue-proxy")
            }]
        );
        // Undeclared, the admin port is still known to be queue-proxy's.
        let pod = [
            pod[0],
            container("queue-proxy", "mirror.example.com/queue:1", &[], None),
        ];
        assert_eq!(calls(&pod).len(), 1);
    }

    #[test]
    fn ports_by_number_name_and_host() {
        let app_ports = [port(8080, "http")];
        let helper_ports = [port(9000, "admin")];
        let cases: &[(PreStopCall, bool)] = &[
            (http("", PortRef::Number(9000)), true),
            (http("localhost", PortRef::Number(9000)), true),
            (http("127.0.0.1", PortRef::Name("9000".into())), true),
            (http("", PortRef::Name("admin".into())), true),
            // Another host is not this pod.
            (http("helper.default.svc", PortRef::Number(9000)), false),
            // Its own port, or one nobody serves.
            (http("", PortRef::Number(8080)), false),
            (http("", PortRef::Name("http".into())), false),
            (http("", PortRef::Number(7000)), false),
            (exec(&["/bin/drain"]), false),
            (
                exec(&["sh", "-c", "curl -s localhost:9000/drain; sleep 5"]),
                true,
            ),
            (exec(&["sh", "-c", "curl -s localhost:8080/drain"]), false),
        ];
        for (call, reaches) in cases {
            let pod = [
                container("app", "shop/app:1", &app_ports, Some(call)),
                container("helper", "shop/helper:1", &helper_ports, None),
            ];
            assert_eq!(!calls(&pod).is_empty(), *reaches, "{call:?}");
        }
    }

    #[test]
    fn contour_and_envoy_gateway_pods() {
        let shutdown = http("", PortRef::Number(8090));
        let client = exec(&["/bin/contour", "envoy", "shutdown"]);
        let envoy_ports = [port(8080, "http"), port(8443, "https")];
        let pod = [
            container(
                "shutdown-manager",
                "ghcr.io/projectcontour/contour:v1.30.0",
                &[],
                Some(&client),
            ),
            container(
                "envoy",
                "docker.io/envoyproxy/envoy:distroless-v1.35.8",
                &envoy_ports,
                Some(&shutdown),
            ),
        ];
        // Envoy waits on the shutdown manager; the manager's own client runs in itself.
        assert_eq!(
            calls(&pod),
            [Call {
                caller: 1,
                target: 0,
                known: Some("Contour's shutdown-manager")
            }]
        );

        let ready = http("", PortRef::Number(19002));
        let client = exec(&["envoy-gateway", "envoy", "shutdown"]);
        let pod = [
            container(
                "envoy",
                "docker.io/envoyproxy/envoy:distroless-v1.34.1",
                &[],
                Some(&ready),
            ),
            container(
                "shutdown-manager",
                "docker.io/envoyproxy/gateway:v1.4.0",
                &[],
                Some(&client),
            ),
        ];
        assert_eq!(
            calls(&pod),
            [Call {
                caller: 0,
                target: 1,
                known: Some("Envoy Gateway's shutdown-manager")
            }]
        );
        // Contour and Envoy Gateway both name it `shutdown-manager`: the port tells.
        let mirrored = [
            pod[0],
            container("shutdown-manager", "mirror.example.com/sm:1", &[], None),
        ];
        assert_eq!(
            calls(&mirrored)[0].known,
            Some("Envoy Gateway's shutdown-manager")
        );
        // An exec of the client from another container reaches the manager too.
        let pod = [
            container(
                "envoy",
                "docker.io/envoyproxy/envoy:v1.34.1",
                &[],
                Some(&client),
            ),
            container("drainer", "docker.io/envoyproxy/gateway:v1.4.0", &[], None),
        ];
        assert_eq!(calls(&pod)[0].target, 1);
    }

    #[test]
    fn a_hook_that_is_not_the_users_calls_nothing() {
        let call = http("", PortRef::Number(9000));
        let ports = [port(9000, "admin")];
        let mut caller = container("app", "shop/app:1", &[], Some(&call));
        caller.has_own_pre_stop = false;
        let pod = [caller, container("helper", "shop/helper:1", &ports, None)];
        assert!(calls(&pod).is_empty());
    }
}
