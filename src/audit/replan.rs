//! Planning one pod or template again, through the webhook's own path, and what its
//! outcome says about the object's state.

use serde_json::Value;

use super::{State, render};
use crate::inject::status::Status;
use crate::inject::{self, TemplateView};
use crate::plan::annotations::{INJECT, STATUS};
use crate::plan::{Decision, Environment, Settings, SkipReason};
use crate::workload::WorkloadKind;

/// How one pod or template came out of planning again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Replanned {
    /// `Some` when the plan skips the object.
    pub(super) skip: Option<SkipReason>,
    /// The object itself (not its namespace) says `lameduck.dev/inject: "false"`.
    pub(super) own_opt_out: bool,
    /// A readable `lameduck.dev/status` record is on the object.
    pub(super) has_record: bool,
    /// Planning again yields a non-empty patch.
    pub(super) changes: bool,
    /// Own hooks waiting on another container ("user-container's preStop waits on
    /// queue-proxy"): the pod is protected by its own design there.
    pub(super) choreography: Option<String>,
}

/// The one place the audit calls the webhook's planning path: read the pod template the
/// way the webhook does, plan it, write the patch, and look at the outcome. `None` when
/// the object has no template or one that cannot be read (the API server would not have
/// stored it).
pub(super) fn replan(
    kind: WorkloadKind,
    object: &Value,
    env: &Environment,
    settings: &Settings,
) -> Option<Replanned> {
    let template = kind.read_template(object).ok()??;
    let view = TemplateView::read(&template);
    let annotations = view.annotations();
    let own_opt_out = annotations.get(INJECT).map(|v| v.trim_ascii()) == Some("false");
    let has_record = annotations
        .get(STATUS)
        .is_some_and(|text| Status::parse(text).is_some());
    let planned = view.plan(env, settings);
    let (skip, choreography) = match &planned.decision {
        Decision::Skip(reason) => (Some(*reason), None),
        Decision::Plan(plan) => (None, render::choreography(&view, &plan.calls)),
    };
    let injection = inject::write(kind, &view, planned);
    Some(Replanned {
        skip,
        own_opt_out,
        has_record,
        changes: !injection.patch.0.is_empty(),
        choreography,
    })
}

/// A pod's or template's state, with the reason an opted-out or skipped one has.
pub(super) fn state_of(replanned: &Replanned) -> (State, Option<String>) {
    let state = match replanned.skip {
        Some(SkipReason::OptedOut) => State::OptedOut,
        // lameduck cannot protect those here: nothing a restart would change.
        Some(SkipReason::NotLongRunning | SkipReason::WindowsWithoutSleepAction) => {
            State::NotApplicable
        }
        None if !replanned.changes => State::Protected,
        None if replanned.has_record => State::Stale,
        None => State::Unprotected,
    };
    let reason = (replanned.skip).map(|skip| render::skip_reason(skip, replanned.own_opt_out));
    (state, reason)
}
