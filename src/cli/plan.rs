//! The planning settings as flags (each with a `LAMEDUCK_*` environment variable),
//! shared by `serve`, `mutate` and `explain` so the offline commands plan exactly as the
//! webhook does.

use clap::Args;

use super::seconds as duration_arg;
use crate::plan::duration::parse_millis;
use crate::plan::wait::{WaitOn, WaitSettings, WaiterContainer};
use crate::plan::{ActionSetting, RolePatterns, Settings};

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// preStop delay for endpoint removal to propagate (pod default; `lameduck.dev/sleep`).
    #[arg(long, env = "LAMEDUCK_DEFAULT_SLEEP", default_value = "10s", value_parser = duration_arg)]
    pub default_sleep: u64,

    /// Gap between a pod's shutdown tiers (`lameduck.dev/stagger`).
    #[arg(long, env = "LAMEDUCK_DEFAULT_STAGGER", default_value = "5s", value_parser = duration_arg)]
    pub default_stagger: u64,

    /// Cap on sleep and stagger annotations; larger values are clamped with a warning.
    #[arg(long, env = "LAMEDUCK_MAX_SLEEP", default_value = "5m", value_parser = duration_arg)]
    pub max_sleep: u64,

    /// Cap on shutdown annotations; larger values are clamped with a warning.
    #[arg(long, env = "LAMEDUCK_MAX_GRACE", default_value = "1h", value_parser = duration_arg)]
    pub max_grace: u64,

    /// A plan whose grace period is above this earns a warning (the cluster autoscaler
    /// waits 10 minutes by default for a pod to stop on scale-down).
    #[arg(long, env = "LAMEDUCK_WARN_GRACE_ABOVE", default_value = "10m", value_parser = duration_arg)]
    pub warn_grace_above: u64,

    /// preStop action: native `sleep`, `exec` of `sleep N`, `wait` (until the pod is
    /// quiet, via an injected sidecar), or `auto` (`sleep` or `exec`, what the cluster supports).
    #[arg(long, env = "LAMEDUCK_ACTION", default_value = "auto")]
    pub action: ActionSetting,

    #[command(flatten)]
    pub wait: WaitArgs,

    /// Comma-separated patterns that mark a sidecar (stops last), matched as whole
    /// consecutive words of a container's name or image repository path (`cloud-sql-proxy`
    /// matches `gcr.io/cloud-sql-connectors/cloud-sql-proxy:2`). Replaces the built-in list.
    #[arg(long, env = "LAMEDUCK_SIDECAR_PATTERNS", value_delimiter = ',')]
    pub sidecar_patterns: Option<Vec<String>>,

    /// Comma-separated patterns that mark a front proxy (stops first), matched by words
    /// like the sidecar patterns. Replaces the built-in list.
    #[arg(long, env = "LAMEDUCK_PROXY_PATTERNS", value_delimiter = ',')]
    pub proxy_patterns: Option<Vec<String>>,
}

/// The `wait` action: bounds and the waiter sidecar.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// `wait`: never release a pod before this (`lameduck.dev/wait-min`): the endpoint
    /// controller must see the deletion first.
    #[arg(long, env = "LAMEDUCK_WAIT_MIN", default_value = "2s", value_parser = duration_arg)]
    pub wait_min: u64,

    /// `wait`: always release by this (`lameduck.dev/wait-max`); later tiers and the grace
    /// period are planned on it. Capped by --max-sleep.
    #[arg(long, env = "LAMEDUCK_WAIT_MAX", default_value = "30s", value_parser = duration_arg)]
    pub wait_max: u64,

    /// `wait`: what keeps a pod from being quiet (`lameduck.dev/wait-on`): `requests`
    /// (new connections and requests on kept-alive ones) or `connections` (new
    /// connections only, for clients whose connections kube-proxy pins to the pod).
    #[arg(long, env = "LAMEDUCK_WAIT_ON", default_value = "requests")]
    pub wait_on: WaitOn,

    /// `wait`: how long without inbound traffic makes a pod quiet.
    #[arg(long, env = "LAMEDUCK_WAIT_WINDOW", default_value = "1500ms", value_parser = parse_window)]
    pub wait_window: u64,

    /// `wait`: how often the waiter reads the socket table once a hook has called.
    #[arg(long, env = "LAMEDUCK_WAIT_POLL", default_value = "250ms", value_parser = parse_window)]
    pub wait_poll: u64,

    /// The waiter's image (lameduck's own). Without it, `wait` falls back to the fixed
    /// sleep with a warning.
    #[arg(long, env = "LAMEDUCK_WAITER_IMAGE")]
    pub waiter_image: Option<String>,

    #[arg(
        long,
        env = "LAMEDUCK_WAITER_IMAGE_PULL_POLICY",
        default_value = "IfNotPresent"
    )]
    pub waiter_image_pull_policy: String,

    /// The waiter's preferred port; the next free one when a container of the pod declares it.
    #[arg(long, env = "LAMEDUCK_WAITER_PORT", default_value_t = 9471)]
    pub waiter_port: u16,

    #[arg(long, env = "LAMEDUCK_WAITER_CPU_REQUEST", default_value = "5m")]
    pub waiter_cpu_request: String,

    #[arg(long, env = "LAMEDUCK_WAITER_MEMORY_REQUEST", default_value = "8Mi")]
    pub waiter_memory_request: String,

    #[arg(long, env = "LAMEDUCK_WAITER_CPU_LIMIT", default_value = "100m")]
    pub waiter_cpu_limit: String,

    #[arg(long, env = "LAMEDUCK_WAITER_MEMORY_LIMIT", default_value = "32Mi")]
    pub waiter_memory_limit: String,
}

fn parse_window(text: &str) -> Result<u64, String> {
    parse_millis(text).map_err(|error| format!("{text:?} {error}"))
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "--wait-min ({min}s) must not be above --wait-max ({max}s), nor --wait-max above --max-sleep ({cap}s) or 0"
    )]
    WaitBounds { min: u64, max: u64, cap: u64 },
    #[error("--default-sleep ({sleep}s) is above --max-sleep ({max}s)")]
    SleepAboveCap { sleep: u64, max: u64 },
    #[error("--default-stagger ({stagger}s) must be between 1s and --max-sleep ({max}s)")]
    StaggerOutOfRange { stagger: u64, max: u64 },
    #[error("--max-grace must be at least 1s")]
    ZeroGraceCap,
}

/// Above this, seconds stop meaning anything for a pod and sums could approach `i64`.
const SANE_CAP: u64 = 365 * 24 * 3600;

impl PlanArgs {
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let PlanArgs {
            default_sleep,
            default_stagger,
            max_sleep,
            max_grace,
            warn_grace_above,
            action,
            wait,
            sidecar_patterns,
            proxy_patterns,
        } = self.clone();
        let WaitArgs {
            wait_min,
            wait_max,
            wait_on,
            wait_window,
            wait_poll,
            waiter_image,
            waiter_image_pull_policy,
            waiter_port,
            waiter_cpu_request,
            waiter_memory_request,
            waiter_cpu_limit,
            waiter_memory_limit,
        } = wait;
        let (max_sleep, max_grace) = (max_sleep.min(SANE_CAP), max_grace.min(SANE_CAP));
        if default_sleep > max_sleep {
            return Err(SettingsError::SleepAboveCap {
                sleep: default_sleep,
                max: max_sleep,
            });
        }
        if default_stagger == 0 || default_stagger > max_sleep {
            return Err(SettingsError::StaggerOutOfRange {
                stagger: default_stagger,
                max: max_sleep,
            });
        }
        if max_grace == 0 {
            return Err(SettingsError::ZeroGraceCap);
        }
        if wait_min > wait_max || wait_max > max_sleep || wait_max == 0 {
            return Err(SettingsError::WaitBounds {
                min: wait_min,
                max: wait_max,
                cap: max_sleep,
            });
        }
        let defaults = RolePatterns::default();
        let clean = |patterns: Option<Vec<String>>, fallback: Vec<String>| {
            patterns.map_or(fallback, |list| {
                list.into_iter()
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
        };
        Ok(Settings {
            default_sleep,
            default_stagger,
            max_sleep,
            max_grace,
            warn_grace_above: warn_grace_above.min(SANE_CAP),
            action,
            patterns: RolePatterns::new(
                clean(sidecar_patterns, defaults.sidecar()),
                clean(proxy_patterns, defaults.proxy()),
            ),
            wait: WaitSettings {
                min: wait_min,
                max: wait_max,
                window_ms: wait_window.max(1),
                poll_ms: wait_poll.max(10),
                port: waiter_port,
                on: wait_on,
                container: WaiterContainer {
                    image: waiter_image.filter(|image| !image.trim().is_empty()),
                    pull_policy: waiter_image_pull_policy,
                    cpu_request: waiter_cpu_request,
                    memory_request: waiter_memory_request,
                    cpu_limit: waiter_cpu_limit,
                    memory_limit: waiter_memory_limit,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Test {
        #[command(flatten)]
        plan: PlanArgs,
    }

    #[test]
    fn defaults_match_the_design() {
        let settings = Test::parse_from(["t"]).plan.settings().unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn flags_take_durations_and_pattern_lists() {
        let args = Test::parse_from([
            "t",
            "--default-sleep",
            "1m",
            "--max-grace",
            "2h",
            "--action",
            "exec",
            "--proxy-patterns",
            "pomerium, nginx",
            "--warn-grace-above",
            "15m",
        ]);
        let settings = args.plan.settings().unwrap();
        assert_eq!(settings.default_sleep, 60);
        assert_eq!(settings.max_grace, 7200);
        assert_eq!(settings.action.to_string(), "exec");
        assert_eq!(settings.patterns.proxy(), ["pomerium", "nginx"]);
        assert_eq!(settings.warn_grace_above, 900);
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let args = Test::parse_from(["t", "--default-sleep", "10m"]);
        assert!(args.plan.settings().is_err());
        assert!(Test::try_parse_from(["t", "--default-sleep", "soon"]).is_err());
        assert!(Test::try_parse_from(["t", "--action", "linger"]).is_err());
        let waits = Test::parse_from([
            "t",
            "--action=wait",
            "--waiter-image=localhost/lameduck:e2e",
            "--waiter-image-pull-policy=Never",
            "--wait-max=45s",
        ])
        .plan
        .settings()
        .unwrap();
        assert_eq!(waits.action.to_string(), "wait");
        assert_eq!(waits.wait.max, 45);
        assert_eq!(waits.wait.container.pull_policy, "Never");
        let args = Test::parse_from(["t", "--wait-min=40s"]);
        assert!(args.plan.settings().is_err());
    }
}
