//! `lameduck.dev/status`: what an earlier pass injected, so a later pass can take exactly
//! that back out and plan afresh.

use std::collections::BTreeMap;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::plan::HookAction;
use crate::text::push_json_string;

/// One injected `preStop` hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectedHook {
    pub action: HookAction,
    /// The delay, or with `wait` the worst case: when the container gets SIGTERM at the
    /// latest, which is what the grace period and the tier order are planned on.
    pub seconds: u64,
    /// `wait`: the waiter's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `wait`: answered this many seconds after the pod's release time; absent, answered
    /// `seconds` after the first hook call (a per-container sleep below `max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
}

impl InjectedHook {
    /// A fixed delay of `seconds` (`sleep` or `exec`).
    pub fn delay(action: HookAction, seconds: u64) -> Self {
        InjectedHook {
            action,
            seconds,
            port: None,
            after: None,
        }
    }
}

/// The record kept on the object. Field names are camelCase like the rest of the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Status {
    /// `terminationGracePeriodSeconds` as the user submitted it (`None`: unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_found: Option<i64>,
    /// The grace period lameduck wrote, when it changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_set: Option<i64>,
    /// Injected hooks by container name; sorted so the record is byte-for-byte stable.
    #[serde(default)]
    pub pre_stop: BTreeMap<String, InjectedHook>,
    /// The native sidecar lameduck injected for the `wait` action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiter: Option<String>,
}

impl Status {
    pub fn parse(text: &str) -> Option<Status> {
        serde_json::from_str(text).ok()
    }

    /// The annotation value, in the field order serde writes (so `parse` round-trips and
    /// the record is byte-for-byte stable). Written directly: it cannot fail, so a record
    /// is never silently empty (that would make lameduck's own hooks look like the user's
    /// on the next pass), and it costs little on every review.
    pub fn to_annotation(&self) -> String {
        let mut out = String::with_capacity(64 + 48 * self.pre_stop.len());
        out.push('{');
        if let Some(grace) = self.grace_found {
            let _ = write!(out, "\"graceFound\":{grace},");
        }
        if let Some(grace) = self.grace_set {
            let _ = write!(out, "\"graceSet\":{grace},");
        }
        out.push_str("\"preStop\":{");
        for (index, (name, hook)) in self.pre_stop.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_json_string(&mut out, name);
            let _ = write!(
                out,
                ":{{\"action\":\"{}\",\"seconds\":{}",
                hook.action.as_str(),
                hook.seconds
            );
            if let Some(port) = hook.port {
                let _ = write!(out, ",\"port\":{port}");
            }
            if let Some(after) = hook.after {
                let _ = write!(out, ",\"after\":{after}");
            }
            out.push('}');
        }
        out.push('}');
        if let Some(waiter) = &self.waiter {
            out.push_str(",\"waiter\":");
            push_json_string(&mut out, waiter);
        }
        out.push('}');
        out
    }

    /// The grace period the user asked for, given what the object holds now: if it still
    /// holds what lameduck set, the user's value is the one recorded before that.
    pub fn submitted_grace(&self, current: Option<i64>) -> Option<i64> {
        match self.grace_set {
            Some(set) if current == Some(set) => self.grace_found,
            _ => current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_what_serde_writes_whatever_the_names() {
        for name in [
            "app",
            "a\"b",
            "back\\slash",
            "tab\there",
            "nl\nret\r",
            "\u{8}\u{c}\u{1f}",
            "\u{1}",
            "ünïcödé",
            "\u{2028}",
            "",
        ] {
            for (found, set) in [(None, None), (Some(30), Some(45)), (None, Some(40))] {
                let status = Status {
                    grace_found: found,
                    grace_set: set,
                    pre_stop: BTreeMap::from([
                        (name.to_string(), InjectedHook::delay(HookAction::Sleep, 10)),
                        ("z".to_string(), InjectedHook::delay(HookAction::Exec, 15)),
                    ]),
                    waiter: (name == "app").then(|| name.to_string()),
                };
                let text = status.to_annotation();
                assert_eq!(text, serde_json::to_string(&status).unwrap(), "{name:?}");
                assert_eq!(Status::parse(&text), Some(status));
            }
        }
    }

    #[test]
    fn round_trips_and_is_stable() {
        let status = Status {
            grace_found: Some(30),
            grace_set: Some(45),
            pre_stop: BTreeMap::from([
                ("nginx".into(), InjectedHook::delay(HookAction::Sleep, 10)),
                ("app".into(), InjectedHook::delay(HookAction::Exec, 15)),
            ]),
            waiter: None,
        };
        let text = status.to_annotation();
        assert_eq!(
            text,
            r#"{"graceFound":30,"graceSet":45,"preStop":{"app":{"action":"exec","seconds":15},"nginx":{"action":"sleep","seconds":10}}}"#
        );
        assert_eq!(Status::parse(&text), Some(status));
    }

    #[test]
    fn a_wait_record_round_trips() {
        let status = Status {
            grace_found: None,
            grace_set: Some(70),
            pre_stop: BTreeMap::from([
                (
                    "app".into(),
                    InjectedHook {
                        action: HookAction::Wait,
                        seconds: 35,
                        port: Some(9471),
                        after: Some(5),
                    },
                ),
                (
                    "nginx".into(),
                    InjectedHook {
                        action: HookAction::Wait,
                        seconds: 7,
                        port: Some(9471),
                        after: None,
                    },
                ),
            ]),
            waiter: Some("lameduck-waiter".into()),
        };
        let text = status.to_annotation();
        assert_eq!(text, serde_json::to_string(&status).unwrap());
        assert_eq!(
            text,
            r#"{"graceSet":70,"preStop":{"app":{"action":"wait","seconds":35,"port":9471,"after":5},"nginx":{"action":"wait","seconds":7,"port":9471}},"waiter":"lameduck-waiter"}"#
        );
        assert_eq!(Status::parse(&text), Some(status));
    }

    #[test]
    fn submitted_grace_sees_through_our_own_change_only() {
        let status = Status {
            grace_found: Some(30),
            grace_set: Some(45),
            ..Status::default()
        };
        assert_eq!(status.submitted_grace(Some(45)), Some(30));
        // The user changed it since: theirs wins.
        assert_eq!(status.submitted_grace(Some(60)), Some(60));
        let unset = Status {
            grace_found: None,
            grace_set: Some(40),
            ..Status::default()
        };
        assert_eq!(unset.submitted_grace(Some(40)), None);
    }

    #[test]
    fn garbage_is_not_a_status() {
        assert_eq!(Status::parse("{"), None);
        assert_eq!(
            Status::parse(r#"{"preStop":{"a":{"action":"sleep","seconds":-1}}}"#),
            None
        );
        assert_eq!(Status::parse(r#"{"surprise":1}"#), None);
    }
}
