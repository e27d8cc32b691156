//! The annotation contract: keys, values, precedence, and the warnings bad values earn.

use std::collections::BTreeMap;

use super::duration::{DurationError, Seconds, parse_seconds};
use super::{Warning, WarningReason};
use crate::text::cut_with_ellipsis;

pub type Annotations = BTreeMap<String, String>;

pub const PREFIX: &str = "lameduck.dev/";
pub const INJECT: &str = "lameduck.dev/inject";
/// The namespace label that opts a namespace in or out: the same key as the annotation,
/// so one word serves both, but a label and an annotation are read from different maps.
pub const INJECT_LABEL: &str = "lameduck.dev/inject";
pub const SLEEP: &str = "lameduck.dev/sleep";
pub const SHUTDOWN: &str = "lameduck.dev/shutdown";
pub const STAGGER: &str = "lameduck.dev/stagger";
pub const ACTION: &str = "lameduck.dev/action";
/// Bounds of the `wait` action: never release before `wait-min`, always by `wait-max`.
pub const WAIT_MIN: &str = "lameduck.dev/wait-min";
pub const WAIT_MAX: &str = "lameduck.dev/wait-max";
/// What holds a waiting pod: `requests` (new connections and requests on kept-alive
/// ones) or `connections` (new connections only).
pub const WAIT_ON: &str = "lameduck.dev/wait-on";
pub const STATUS: &str = "lameduck.dev/status";

/// The per-container fields: `lameduck.dev/<container>.<field>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerField {
    Sleep,
    Shutdown,
    Role,
}

impl ContainerField {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "sleep" => Some(Self::Sleep),
            "shutdown" => Some(Self::Shutdown),
            "role" => Some(Self::Role),
            _ => None,
        }
    }
}

/// What a `lameduck.dev/...` key means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Pod(&'a str),
    Container(&'a str, ContainerField),
    Unknown,
}

/// Classifies an annotation key; `None` when it is not ours at all.
pub fn classify(key: &str) -> Option<Key<'_>> {
    let rest = key.strip_prefix(PREFIX)?;
    Some(match rest.split_once('.') {
        None if matches!(
            rest,
            "inject"
                | "sleep"
                | "shutdown"
                | "stagger"
                | "action"
                | "status"
                | "wait-min"
                | "wait-max"
                | "wait-on"
        ) =>
        {
            Key::Pod(rest)
        }
        Some((container, field)) if !container.is_empty() => match ContainerField::parse(field) {
            Some(field) => Key::Container(container, field),
            None => Key::Unknown,
        },
        _ => Key::Unknown,
    })
}

/// The key of a per-container override.
pub fn container_key(container: &str, field: ContainerField) -> String {
    let field = match field {
        ContainerField::Sleep => "sleep",
        ContainerField::Shutdown => "shutdown",
        ContainerField::Role => "role",
    };
    format!("{PREFIX}{container}.{field}")
}

/// Where a value came from, for warnings that say which object to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Pod,
    Namespace,
}

/// The annotation layers a pod's settings are read from, most specific first.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    pub pod: &'a Annotations,
    pub namespace: Option<&'a Annotations>,
}

impl<'a> Layers<'a> {
    /// The pod's value for a pod-level key, else its namespace's.
    pub fn lookup(&self, key: &str) -> Option<(&'a str, Origin)> {
        if let Some(value) = self.pod.get(key) {
            return Some((value.as_str(), Origin::Pod));
        }
        self.namespace
            .and_then(|ns| ns.get(key))
            .map(|value| (value.as_str(), Origin::Namespace))
    }
}

/// Bounds a duration annotation must respect.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min: u64,
    pub max: u64,
}

/// Reads a duration annotation, clamping it into `bounds`. Returns `None` (and warns)
/// when the value must be ignored so the caller falls back to the next layer.
pub fn read_duration(
    key: &str,
    value: &str,
    origin: Origin,
    bounds: Bounds,
    warnings: &mut Vec<Warning>,
) -> Option<u64> {
    match parse_seconds(value) {
        Ok(seconds) if seconds > bounds.max => {
            warnings.push(Warning::new(
                WarningReason::ClampedAnnotation,
                format!(
                    "{} exceeds the {} cap; clamped to {}",
                    describe(key, value, origin),
                    Seconds(bounds.max),
                    Seconds(bounds.max)
                ),
            ));
            Some(bounds.max)
        }
        Ok(seconds) if seconds < bounds.min => {
            warnings.push(Warning::new(
                WarningReason::ClampedAnnotation,
                format!(
                    "{} is below {}; raised to {}",
                    describe(key, value, origin),
                    Seconds(bounds.min),
                    Seconds(bounds.min)
                ),
            ));
            Some(bounds.min)
        }
        Ok(seconds) => Some(seconds),
        Err(error) => {
            let reason = match error {
                DurationError::Negative => "is negative",
                DurationError::Empty | DurationError::Malformed => {
                    "is not a duration (use 20, 20s, 1m30s or 2500ms)"
                }
            };
            warnings.push(Warning::new(
                WarningReason::InvalidAnnotation,
                format!("{} {reason}; ignored", describe(key, value, origin)),
            ));
            None
        }
    }
}

/// Reports a value that is not one of a key's allowed words.
pub fn invalid_choice(
    key: &str,
    value: &str,
    origin: Origin,
    allowed: &str,
    warnings: &mut Vec<Warning>,
) {
    warnings.push(Warning::new(
        WarningReason::InvalidAnnotation,
        format!(
            "{} is not one of {allowed}; ignored",
            describe(key, value, origin)
        ),
    ));
}

/// `lameduck.dev/sleep="-5s"`, with the namespace named when the value came from there.
/// Long values are cut: the API server truncates long warnings anyway.
fn describe(key: &str, value: &str, origin: Origin) -> String {
    // 32 characters of the value, and the ellipsis.
    const MAX_SHOWN: usize = 33;
    let shown = cut_with_ellipsis(value, MAX_SHOWN);
    match origin {
        Origin::Pod => format!("{key}={shown:?}"),
        Origin::Namespace => format!("namespace annotation {key}={shown:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_classified() {
        assert_eq!(classify("lameduck.dev/sleep"), Some(Key::Pod("sleep")));
        assert_eq!(
            classify("lameduck.dev/app.shutdown"),
            Some(Key::Container("app", ContainerField::Shutdown))
        );
        assert_eq!(
            classify("lameduck.dev/nginx.role"),
            Some(Key::Container("nginx", ContainerField::Role))
        );
        assert_eq!(classify("lameduck.dev/app.colour"), Some(Key::Unknown));
        assert_eq!(classify("lameduck.dev/sleeep"), Some(Key::Unknown));
        assert_eq!(classify("lameduck.dev/.sleep"), Some(Key::Unknown));
        assert_eq!(classify("example.com/sleep"), None);
    }

    #[test]
    fn pod_layer_wins_over_namespace_layer() {
        let pod = Annotations::from([(SLEEP.to_string(), "20".to_string())]);
        let ns = Annotations::from([
            (SLEEP.to_string(), "30".to_string()),
            (STAGGER.to_string(), "2".to_string()),
        ]);
        let layers = Layers {
            pod: &pod,
            namespace: Some(&ns),
        };
        assert_eq!(layers.lookup(SLEEP), Some(("20", Origin::Pod)));
        assert_eq!(layers.lookup(STAGGER), Some(("2", Origin::Namespace)));
        assert_eq!(layers.lookup(SHUTDOWN), None);
    }

    #[test]
    fn durations_are_clamped_or_ignored_with_a_warning_naming_the_key() {
        let bounds = Bounds { min: 1, max: 300 };
        let mut warnings = Vec::new();
        assert_eq!(
            read_duration(STAGGER, "10m", Origin::Pod, bounds, &mut warnings),
            Some(300)
        );
        assert_eq!(
            read_duration(STAGGER, "0", Origin::Pod, bounds, &mut warnings),
            Some(1)
        );
        assert_eq!(
            read_duration(STAGGER, "-1", Origin::Pod, bounds, &mut warnings),
            None
        );
        assert_eq!(
            read_duration(STAGGER, "soon", Origin::Namespace, bounds, &mut warnings),
            None
        );
        assert_eq!(
            read_duration(STAGGER, "7s", Origin::Pod, bounds, &mut warnings),
            Some(7)
        );
        assert_eq!(warnings.len(), 4);
        assert!(warnings.iter().all(|w| w.message.contains(STAGGER)));
        assert!(warnings[3].message.contains("namespace"));
    }
}
