//! What a person is told about a plan.

use std::fmt;

/// Why a warning was given; also the `reason` label of the warnings metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningReason {
    InvalidAnnotation,
    ClampedAnnotation,
    UnknownAnnotation,
    UnknownContainer,
    OwnPreStop,
    TierOrder,
    InvalidStatus,
    ExecAction,
    LongGrace,
    WindowsPod,
    WaitUnavailable,
}

impl WarningReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningReason::InvalidAnnotation => "invalid_annotation",
            WarningReason::ClampedAnnotation => "clamped_annotation",
            WarningReason::UnknownAnnotation => "unknown_annotation",
            WarningReason::UnknownContainer => "unknown_container",
            WarningReason::OwnPreStop => "own_prestop",
            WarningReason::TierOrder => "tier_order",
            WarningReason::InvalidStatus => "invalid_status",
            WarningReason::ExecAction => "exec_action",
            WarningReason::LongGrace => "long_grace",
            WarningReason::WindowsPod => "windows_pod",
            WarningReason::WaitUnavailable => "wait_unavailable",
        }
    }
}

/// Something a person should fix. Rendered with a `lameduck: ` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub reason: WarningReason,
    pub message: String,
}

impl Warning {
    pub fn new(reason: WarningReason, message: String) -> Self {
        Warning { reason, message }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lameduck: {}", self.message)
    }
}
