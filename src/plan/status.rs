//! `lameduck.dev/status`: what an earlier pass injected, so a later pass can take exactly
//! that back out and plan afresh.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::HookAction;

/// One injected `preStop` hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectedHook {
    pub action: HookAction,
    pub seconds: u64,
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
}

impl Status {
    pub fn parse(text: &str) -> Option<Status> {
        serde_json::from_str(text).ok()
    }

    /// The annotation value. Built as a `Value`, whose `Display` cannot fail, so a record
    /// is never silently empty (that would make lameduck's own hooks look like the user's
    /// on the next pass). Keys in the order serde writes them, so `parse` round-trips.
    pub fn to_annotation(&self) -> String {
        let mut record = serde_json::Map::new();
        if let Some(grace) = self.grace_found {
            record.insert("graceFound".into(), grace.into());
        }
        if let Some(grace) = self.grace_set {
            record.insert("graceSet".into(), grace.into());
        }
        let hooks = (self.pre_stop.iter())
            .map(|(name, hook)| {
                let hook =
                    serde_json::json!({"action": hook.action.as_str(), "seconds": hook.seconds});
                (name.clone(), hook)
            })
            .collect();
        record.insert("preStop".into(), serde_json::Value::Object(hooks));
        serde_json::Value::Object(record).to_string()
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
    fn round_trips_and_is_stable() {
        let status = Status {
            grace_found: Some(30),
            grace_set: Some(45),
            pre_stop: BTreeMap::from([
                (
                    "nginx".into(),
                    InjectedHook {
                        action: HookAction::Sleep,
                        seconds: 10,
                    },
                ),
                (
                    "app".into(),
                    InjectedHook {
                        action: HookAction::Exec,
                        seconds: 15,
                    },
                ),
            ]),
        };
        let text = status.to_annotation();
        assert_eq!(
            text,
            r#"{"graceFound":30,"graceSet":45,"preStop":{"app":{"action":"exec","seconds":15},"nginx":{"action":"sleep","seconds":10}}}"#
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
