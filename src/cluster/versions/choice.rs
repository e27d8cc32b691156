//! Which hook action `auto` means: the native `sleep` action only when the API server
//! and every kubelet can run it, `exec ["sleep", "N"]` otherwise. Pure: the versions
//! come from `super`, which reads them.

use std::fmt;

use k8s_openapi::apimachinery::pkg::version::Info;

use crate::cluster::ActionChoice;
use crate::plan::HookAction;

/// The first version whose API server and kubelet run `lifecycle.preStop.sleep` by
/// default (beta, on by default, in 1.30; GA in 1.34). A 1.29 API server drops the
/// field silently, and an older kubelet ignores it, so the pod would not wait at all.
pub(crate) const NATIVE_SLEEP_SINCE: KubeVersion = KubeVersion {
    major: 1,
    minor: 30,
    patch: 0,
};

/// The first version whose API server and kubelet run native sidecars (init containers
/// with `restartPolicy: Always`, beta and on by default in 1.29), which the `wait`
/// action's waiter is: started before the main containers, stopped after them.
pub(crate) const NATIVE_SIDECARS_SINCE: KubeVersion = KubeVersion {
    major: 1,
    minor: 29,
    patch: 0,
};

/// A Kubernetes version as the API server and kubelets report it. Vendor suffixes
/// (`-eks-abc`, `+k3s1`, `-gke.100`) are ignored: they never change feature gates' defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl KubeVersion {
    /// Reads `v1.33.2-eks-abc`, `v1.30.0+k3s1`, `1.29`, `v1.31.1-gke.1146000`.
    /// `None` for anything without at least a numeric major and minor.
    pub(crate) fn parse(text: &str) -> Option<KubeVersion> {
        let text = text.trim();
        let text = text
            .strip_prefix('v')
            .or_else(|| text.strip_prefix('V'))
            .unwrap_or(text);
        let mut parts = text.splitn(3, '.');
        let major = leading_number(parts.next()?)?;
        let minor = leading_number(parts.next()?)?;
        // The patch is informative only; a missing or odd one reads as 0.
        let patch = parts.next().and_then(leading_number).unwrap_or(0);
        Some(KubeVersion {
            major,
            minor,
            patch,
        })
    }

    /// What the API server behaves as. `gitVersion` is the binary's version; since 1.31
    /// an API server may emulate an older one (`emulationMajor`/`emulationMinor`), and
    /// then its feature gates follow the emulated version, so the lower one counts.
    pub(crate) fn of_server(info: &Info) -> Option<KubeVersion> {
        let binary = KubeVersion::parse(&info.git_version).or_else(|| {
            // Some distributions leave gitVersion odd; major/minor are "1" and "33+".
            Some(KubeVersion {
                major: leading_number(&info.major)?,
                minor: leading_number(&info.minor)?,
                patch: 0,
            })
        })?;
        let emulated = match (&info.emulation_major, &info.emulation_minor) {
            (Some(major), Some(minor)) => Some(KubeVersion {
                major: leading_number(major)?,
                minor: leading_number(minor)?,
                patch: 0,
            }),
            _ => None,
        };
        // Emulation names no patch: an API server emulating its own minor version is
        // its binary (v1.34.4 stays v1.34.4, not v1.34.0).
        Some(match emulated {
            Some(emulated) if (emulated.major, emulated.minor) < (binary.major, binary.minor) => {
                emulated
            }
            _ => binary,
        })
    }

    fn runs_native_sleep(self) -> bool {
        self >= NATIVE_SLEEP_SINCE
    }
}

/// The digits a version component starts with: `33` from `33+`, `2` from `2-eks-abc`.
fn leading_number(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// The oldest kubelet among the Nodes, from one paged listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KubeletSurvey {
    /// Nodes that reported a kubelet version.
    pub nodes: usize,
    /// The oldest readable version and the node that runs it.
    pub oldest: Option<(KubeVersion, String)>,
    /// A node whose non-empty version could not be read, with that version: treated as
    /// too old, because nothing says it runs the native sleep action.
    pub unreadable: Option<(String, String)>,
}

impl KubeletSurvey {
    /// Counts one node; an empty version (a node still registering) is not counted.
    pub(crate) fn add(&mut self, node: &str, version: &str) {
        if version.trim().is_empty() {
            return;
        }
        self.nodes += 1;
        match KubeVersion::parse(version) {
            Some(parsed) => {
                if self
                    .oldest
                    .as_ref()
                    .is_none_or(|(oldest, _)| parsed < *oldest)
                {
                    self.oldest = Some((parsed, node.to_string()));
                }
            }
            None => {
                if self.unreadable.is_none() {
                    self.unreadable = Some((node.to_string(), version.to_string()));
                }
            }
        }
    }
}

/// The decision, a pure function of what the cluster reported: what `auto` means, and
/// whether `wait` can run.
pub(crate) fn choose(server: KubeVersion, kubelets: &KubeletSurvey) -> ActionChoice {
    let mut choice = choose_delay(server, kubelets);
    choice.wait_unavailable = wait_blocker(server, kubelets);
    choice
}

/// Why the cluster cannot run the waiter (a native sidecar); `None` when it can.
fn wait_blocker(server: KubeVersion, kubelets: &KubeletSurvey) -> Option<String> {
    if server < NATIVE_SIDECARS_SINCE {
        return Some(format!(
            "API server {server} is older than {NATIVE_SIDECARS_SINCE} and has no native sidecars"
        ));
    }
    if let Some((node, version)) = &kubelets.unreadable {
        return Some(format!(
            "node {node} reports kubelet version {version:?}, which cannot be read"
        ));
    }
    match &kubelets.oldest {
        Some((oldest, node)) if *oldest < NATIVE_SIDECARS_SINCE => Some(format!(
            "kubelet {oldest} on node {node} is older than {NATIVE_SIDECARS_SINCE} and runs no native sidecars"
        )),
        _ => None,
    }
}

fn choose_delay(server: KubeVersion, kubelets: &KubeletSurvey) -> ActionChoice {
    let exec = |reason: String| ActionChoice {
        action: HookAction::Exec,
        reason,
        wait_unavailable: None,
    };
    if !server.runs_native_sleep() {
        return exec(format!(
            "API server {server} is older than {NATIVE_SLEEP_SINCE} and would drop a native sleep hook"
        ));
    }
    if let Some((node, version)) = &kubelets.unreadable {
        return exec(format!(
            "node {node} reports kubelet version {version:?}, which cannot be read"
        ));
    }
    match &kubelets.oldest {
        Some((oldest, node)) if !oldest.runs_native_sleep() => exec(format!(
            "kubelet {oldest} on node {node} is older than {NATIVE_SLEEP_SINCE} and would ignore a native sleep hook"
        )),
        Some((oldest, node)) => ActionChoice {
            action: HookAction::Sleep,
            reason: format!(
                "API server {server} and oldest kubelet {oldest} (node {node}, of {} nodes) run native sleep",
                kubelets.nodes
            ),
            wait_unavailable: None,
        },
        None => ActionChoice {
            action: HookAction::Sleep,
            reason: format!(
                "API server {server} runs native sleep; no nodes report a kubelet version yet, so the server version alone decides"
            ),
            wait_unavailable: None,
        },
    }
}

/// Before the first successful read: `exec` works on every version, so it is the safe
/// answer while nothing is known.
pub(crate) fn unknown() -> ActionChoice {
    ActionChoice {
        action: HookAction::Exec,
        reason: "cluster versions not read yet; exec works on every version".into(),
        wait_unavailable: Some("cluster versions not read yet".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> KubeVersion {
        KubeVersion::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn parses_vendor_versions() {
        assert_eq!(
            v("v1.33.2-eks-abc"),
            KubeVersion {
                major: 1,
                minor: 33,
                patch: 2
            }
        );
        assert_eq!(v("v1.30.0+k3s1").minor, 30);
        assert_eq!(v("v1.31.1-gke.1146000").patch, 1);
        assert_eq!(v("1.29"), v("v1.29.0"));
        assert_eq!(v(" v1.28.15 ").minor, 28);
        for bad in ["", "v", "vx.y", "1", "latest", "v1.x.3"] {
            assert_eq!(KubeVersion::parse(bad), None, "{bad:?}");
        }
    }

    fn info(git: &str, major: &str, minor: &str) -> Info {
        Info {
            git_version: git.into(),
            major: major.into(),
            minor: minor.into(),
            ..Info::default()
        }
    }

    #[test]
    fn server_version_falls_back_and_honours_emulation() {
        assert_eq!(
            KubeVersion::of_server(&info("v1.33.1", "1", "33")),
            Some(v("v1.33.1"))
        );
        assert_eq!(
            KubeVersion::of_server(&info("weird", "1", "31+")),
            Some(v("1.31"))
        );
        assert_eq!(KubeVersion::of_server(&info("", "", "")), None);
        let mut emulating = info("v1.33.0", "1", "33");
        emulating.emulation_major = Some("1".into());
        emulating.emulation_minor = Some("29".into());
        assert_eq!(KubeVersion::of_server(&emulating), Some(v("1.29")));
        // Every 1.31+ API server reports its own minor as the emulated one: the patch stays.
        let mut current = info("v1.34.4", "1", "34");
        current.emulation_major = Some("1".into());
        current.emulation_minor = Some("34".into());
        assert_eq!(KubeVersion::of_server(&current), Some(v("v1.34.4")));
    }

    fn survey(nodes: &[(&str, &str)]) -> KubeletSurvey {
        let mut survey = KubeletSurvey::default();
        for (name, version) in nodes {
            survey.add(name, version);
        }
        survey
    }

    #[test]
    fn chooses_sleep_only_when_everything_is_new_enough() {
        let old_server = choose(v("v1.29.4"), &survey(&[("a", "v1.29.4")]));
        assert_eq!(old_server.action, HookAction::Exec);
        assert!(old_server.reason.contains("API server v1.29.4"));

        let old_kubelet = choose(
            v("v1.33.0"),
            &survey(&[("a", "v1.33.0"), ("b", "v1.28.9-eks-1"), ("c", "v1.32.0")]),
        );
        assert_eq!(old_kubelet.action, HookAction::Exec);
        assert!(
            old_kubelet.reason.contains("node b"),
            "{}",
            old_kubelet.reason
        );

        let new = choose(
            v("v1.34.1"),
            &survey(&[("a", "v1.34.1"), ("b", "v1.30.0+k3s1")]),
        );
        assert_eq!(new.action, HookAction::Sleep);
        assert!(new.reason.contains("v1.30.0"), "{}", new.reason);

        assert_eq!(new.wait_unavailable, None);
        let sidecars_only = choose(v("v1.29.2"), &survey(&[("a", "v1.29.2")]));
        assert_eq!(sidecars_only.action, HookAction::Exec);
        assert_eq!(sidecars_only.wait_unavailable, None);
        let old_sidecars = choose(
            v("v1.33.0"),
            &survey(&[("a", "v1.33.0"), ("b", "v1.28.9-eks-1")]),
        );
        let reason = old_sidecars.wait_unavailable.unwrap_or_default();
        assert!(
            reason.contains("node b") && reason.contains("native sidecars"),
            "{reason}"
        );
        assert!(
            choose(v("v1.28.3"), &survey(&[]))
                .wait_unavailable
                .is_some_and(|r| r.contains("API server v1.28.3"))
        );

        let unreadable = choose(v("v1.34.1"), &survey(&[("a", "v1.34.1"), ("b", "dev")]));
        assert!(unreadable.wait_unavailable.is_some());
        assert_eq!(unreadable.action, HookAction::Exec);

        let no_nodes = choose(v("v1.34.1"), &survey(&[("registering", "")]));
        assert_eq!(no_nodes.action, HookAction::Sleep);
        assert!(no_nodes.reason.contains("no nodes"), "{}", no_nodes.reason);
    }
}
