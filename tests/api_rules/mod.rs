//! The API server's validation rules that lameduck's output must satisfy, checked on
//! the object a review's patch produces. Shared by `tests/properties.rs`,
//! `tests/regressions.rs` and both fuzz targets (`fuzz/fuzz_targets/*.rs` include this
//! file by path).
//!
//! Every rule has a name and a counter, so a run can say how often each was exercised.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use json_patch::jsonptr::PointerBuf;
use lameduck::admission::{GroupVersionKind, ObjectReader, Operation, Review};

/// Reads a review without its object.
struct SkipObject;

impl<'de> ObjectReader<'de> for SkipObject {
    type Object = ();
    fn wants(&self, _: &GroupVersionKind, _: Operation, _: Option<&str>) -> bool {
        false
    }
    fn read<D: serde::Deserializer<'de>>(
        &self,
        _: &GroupVersionKind,
        _: D,
    ) -> Result<(), D::Error> {
        Ok(())
    }
}
use lameduck::inject::status::Status;
use lameduck::plan::annotations::{self, ContainerField, Key};
use lameduck::plan::{Decision, Environment, Role};
use lameduck::webhook::Webhook;
use lameduck::workload::WorkloadKind;
use serde_json::{Value, json};

/// One rule from the API server's validation (or from DESIGN.md's invariants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rule {
    /// HTTP 200 body: same apiVersion, kind AdmissionReview, uid echoed, allowed true,
    /// `patchType: JSONPatch` exactly when a base64 `patch` is present.
    ResponseWellFormed,
    /// The patch is an RFC 6902 array that applies to the submitted object.
    PatchApplies,
    /// Only a template's hooks, grace and status annotation change.
    OnlyOwnFieldsTouched,
    /// `preStop.sleep.seconds` is an integer, at least 1 (zero is refused by API servers
    /// before 1.33, where `PodLifecycleSleepActionAllowZero` is off or absent).
    SleepPositive,
    /// `preStop.sleep.seconds` is strictly below `terminationGracePeriodSeconds`.
    SleepBelowGrace,
    /// `exec.command` is exactly `["sleep", "N"]`, N a decimal below the grace period.
    ExecWellFormed,
    /// `terminationGracePeriodSeconds` is an int64 and not negative when we set it.
    GraceInt64,
    /// The grace period is never below what the user submitted.
    GraceNotLowered,
    /// A grace period lameduck raised stays within what its caps allow:
    /// `max(30, 3 × max_sleep + 2 × max_grace)`.
    GraceWithinCaps,
    /// Container and init container names and order are unchanged.
    NamesUnchanged,
    /// Annotation keys are qualified names; values are strings.
    AnnotationKeysValid,
    /// The annotations of the template stay under 256 KiB.
    AnnotationsSize,
    /// `lameduck.dev/status` parses, and records exactly the hooks the object holds.
    StatusParseable,
    /// A user's `preStop` is byte-for-byte what they wrote.
    UserHooksUntouched,
    /// A `postStart` is kept.
    PostStartKept,
    /// Reviewing the patched object again yields no patch.
    Idempotent,
    /// proxy < app < sidecar sleeps when no per-container sleep is annotated.
    TierOrder,
    /// A container another container's own `preStop` waits on (it coordinates the
    /// shutdown) gets no injected hook and no delay.
    CoordinatorLeftAlone,
    /// `wait`: every `httpGet` hook lameduck wrote calls the waiter the record names: a
    /// regular container that holds on SIGTERM in a pod that runs until deleted, a native
    /// sidecar (`restartPolicy: Always`) in one that runs to completion; on the hooks'
    /// port, which no other container declares; restricted security. The hook's worst
    /// case (the record's seconds) is the waiter's `--max` plus the hook's `after`.
    WaiterWellFormed,
}

pub(crate) const RULES: &[Rule] = &[
    Rule::ResponseWellFormed,
    Rule::PatchApplies,
    Rule::OnlyOwnFieldsTouched,
    Rule::SleepPositive,
    Rule::SleepBelowGrace,
    Rule::ExecWellFormed,
    Rule::GraceInt64,
    Rule::GraceNotLowered,
    Rule::GraceWithinCaps,
    Rule::NamesUnchanged,
    Rule::AnnotationKeysValid,
    Rule::AnnotationsSize,
    Rule::StatusParseable,
    Rule::UserHooksUntouched,
    Rule::PostStartKept,
    Rule::Idempotent,
    Rule::TierOrder,
    Rule::CoordinatorLeftAlone,
    Rule::WaiterWellFormed,
];

static CHECKED: [AtomicU64; RULES.len()] = [const { AtomicU64::new(0) }; RULES.len()];

fn count(rule: Rule) {
    CHECKED[rule as usize].fetch_add(1, Ordering::Relaxed);
}

/// How many times each rule was checked (on a case where it applied) so far.
pub(crate) fn counts() -> BTreeMap<String, u64> {
    RULES
        .iter()
        .map(|&rule| {
            (
                format!("{rule:?}"),
                CHECKED[rule as usize].load(Ordering::Relaxed),
            )
        })
        .collect()
}

/// A broken rule and what broke it.
#[derive(Debug)]
pub(crate) struct Violation {
    pub rule: Rule,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.rule, self.detail)
    }
}

fn ensure(rule: Rule, ok: bool, detail: impl FnOnce() -> String) -> Result<(), Violation> {
    count(rule);
    if ok {
        Ok(())
    } else {
        Err(Violation {
            rule,
            detail: detail(),
        })
    }
}

/// What a review came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// HTTP 400: not a review, or an object that cannot be read.
    Rejected,
    /// Allowed without a patch.
    Unpatched,
    /// Allowed with a patch that was applied and checked.
    Patched,
}

pub(crate) const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Reviews `body` and checks every rule on the answer.
///
/// `strict` adds the rules that hold only for objects the API server would accept in the
/// first place (unique, non-empty container names; annotations within limits); the
/// property tests generate only such objects, the fuzzer checks it per input.
pub(crate) fn check_review(webhook: &Webhook, body: &[u8]) -> Result<Outcome, Violation> {
    let Ok(reviewed) = webhook.review(body) else {
        return Ok(Outcome::Rejected);
    };
    let review = match Review::decode(body) {
        Ok(review) => review,
        Err(strict) => {
            // JSON a strict parser refuses (an invalid `\u` escape, say) inside a part of
            // the object lameduck skips unread; Go's decoder in the API server accepts it
            // too. Only the answer itself can be checked.
            let lenient = Review::decode_with(body, &SkipObject).map_err(|_| Violation {
                rule: Rule::ResponseWellFormed,
                detail: format!("review answered but the request does not decode: {strict}"),
            })?;
            return Ok(match check_response(&lenient, &reviewed.body)? {
                Some(_) => Outcome::Patched,
                None => Outcome::Unpatched,
            });
        }
    };
    let patch = check_response(&review, &reviewed.body)?;
    let Some(patch) = patch else {
        return Ok(Outcome::Unpatched);
    };
    let request = &review.request;
    let kind = WorkloadKind::from_group_kind(&request.kind.group, &request.kind.kind).ok_or_else(
        || Violation {
            rule: Rule::OnlyOwnFieldsTouched,
            detail: format!("patched a {:?}", request.kind.kind),
        },
    )?;
    let lameduck::admission::RequestObject::Read(raw) = &request.object else {
        return Err(Violation {
            rule: Rule::PatchApplies,
            detail: "patch without an object".into(),
        });
    };
    let Ok(before) = serde_json::from_str::<Value>(raw.get()) else {
        // Deeper than serde_json's Value allows while the typed read skipped it; the API
        // server decodes it, but so can't we: nothing to compare.
        return Ok(Outcome::Patched);
    };
    let mut after = before.clone();
    count(Rule::PatchApplies);
    json_patch::patch(&mut after, &patch.0).map_err(|e| Violation {
        rule: Rule::PatchApplies,
        detail: format!("{e}; patch {}", serde_json::to_string(&patch).unwrap()),
    })?;

    let plausible = check_object(webhook, kind, &before, &after)?;
    if plausible {
        check_fixpoint(webhook, &review, &after)?;
    }
    Ok(Outcome::Patched)
}

/// Checks the HTTP-level answer; returns the decoded patch, if any.
fn check_response<O>(
    review: &Review<O>,
    body: &[u8],
) -> Result<Option<json_patch::Patch>, Violation> {
    let rule = Rule::ResponseWellFormed;
    let answer: Value = serde_json::from_slice(body).map_err(|e| Violation {
        rule,
        detail: format!("response is not JSON: {e}"),
    })?;
    let response = &answer["response"];
    ensure(rule, answer["kind"] == "AdmissionReview", || {
        format!("kind {}", answer["kind"])
    })?;
    ensure(rule, answer["apiVersion"] == *review.api_version, || {
        format!("apiVersion {}", answer["apiVersion"])
    })?;
    ensure(rule, response["uid"] == *review.request.uid, || {
        format!("uid {} for {:?}", response["uid"], review.request.uid)
    })?;
    ensure(rule, response["allowed"] == true, || {
        format!("allowed {}", response["allowed"])
    })?;
    ensure(rule, response.get("status").is_none(), || {
        "allowed response with a status".into()
    })?;
    let patch = response.get("patch");
    let patch_type = response.get("patchType");
    ensure(
        rule,
        patch.is_some() == patch_type.is_some() && patch_type.is_none_or(|t| t == "JSONPatch"),
        || format!("patch {patch:?} with patchType {patch_type:?}"),
    )?;
    if let Some(warnings) = response.get("warnings") {
        ensure(
            rule,
            warnings.as_array().is_some_and(|w| {
                !w.is_empty() && w.iter().all(|w| w.as_str().is_some_and(|w| !w.is_empty()))
            }),
            || format!("warnings {warnings}"),
        )?;
    }
    let Some(patch) = patch else {
        return Ok(None);
    };
    let bytes = patch
        .as_str()
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .ok_or_else(|| Violation {
            rule,
            detail: format!("patch is not base64: {patch}"),
        })?;
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).map_err(|e| Violation {
        rule: Rule::PatchApplies,
        detail: format!("patch is not RFC 6902: {e}"),
    })?;
    ensure(Rule::PatchApplies, !patch.0.is_empty(), || {
        "empty patch sent".into()
    })?;
    Ok(Some(patch))
}

fn template(kind: WorkloadKind, object: &Value) -> Option<&Value> {
    PointerBuf::from_tokens(kind.template_path().iter().copied())
        .resolve(object)
        .ok()
}

fn containers(template: &Value, field: &str) -> Vec<Value> {
    template["spec"][field]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn annotations_of(template: &Value) -> BTreeMap<String, Value> {
    template["metadata"]["annotations"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn pre_stop(container: &Value) -> Option<&Value> {
    container
        .get("lifecycle")
        .and_then(|l| l.get("preStop"))
        .filter(|h| !h.is_null())
}

/// The grace period the user asked for, as lameduck is meant to read it.
fn users_grace(template: &Value) -> Option<i64> {
    let current = template["spec"]["terminationGracePeriodSeconds"].as_i64();
    match annotations_of(template)
        .get(annotations::STATUS)
        .and_then(Value::as_str)
        .and_then(Status::parse)
    {
        Some(status) => status.submitted_grace(current),
        None => current,
    }
}

/// Whether the API server would take the submitted template at all (the rules below that
/// compare with the input only mean something then).
pub(crate) fn plausible(template: &Value) -> bool {
    let mut names = BTreeSet::new();
    let all = containers(template, "containers")
        .into_iter()
        .chain(containers(template, "initContainers"));
    for c in all {
        match c["name"].as_str() {
            Some(name) if is_dns_label(name) && names.insert(name.to_string()) => {}
            _ => return false,
        }
    }
    let annotations = annotations_of(template);
    annotations_size(&annotations) <= MAX_ANNOTATIONS_BYTES - 4096
        && annotations.keys().all(|k| is_qualified_name(k))
        && template["spec"]["terminationGracePeriodSeconds"]
            .as_i64()
            .is_none_or(|g| g >= 0)
}

fn annotations_size(annotations: &BTreeMap<String, Value>) -> usize {
    annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum()
}

/// RFC 1123 label: what container names must be.
pub(crate) fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Kubernetes' qualified name: optional DNS-subdomain prefix (≤ 253) and `/`, then a name
/// of at most 63 of `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub(crate) fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    name_ok && prefix_ok
}

/// Checks the patched object; returns whether the input was plausible (so the stricter
/// comparisons and the fixpoint apply).
fn check_object(
    webhook: &Webhook,
    kind: WorkloadKind,
    before_object: &Value,
    after_object: &Value,
) -> Result<bool, Violation> {
    let (Some(before), Some(after)) = (template(kind, before_object), template(kind, after_object))
    else {
        return Err(Violation {
            rule: Rule::PatchApplies,
            detail: "pod template gone after the patch".into(),
        });
    };

    // Everything but our fields is unchanged; the waiter either pass recorded is ours.
    let waiter = waiter_name(before).or_else(|| waiter_name(after));
    let strip = |object: &Value| {
        let mut object = object.clone();
        let template = PointerBuf::from_tokens(kind.template_path().iter().copied());
        if let Ok(t) = template.resolve_mut(&mut object) {
            if let Some(spec) = t.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("terminationGracePeriodSeconds");
                if let Some(waiter) = &waiter {
                    for field in ["containers", "initContainers"] {
                        if let Some(list) = spec.get_mut(field).and_then(Value::as_array_mut) {
                            list.retain(|c| c["name"].as_str() != Some(waiter.as_str()));
                        }
                    }
                    // An `initContainers` list lameduck created whole for its waiter.
                    if spec
                        .get("initContainers")
                        .is_some_and(|l| l.is_null() || l == &json!([]))
                    {
                        spec.remove("initContainers");
                    }
                }
                if let Some(list) = spec.get_mut("containers").and_then(Value::as_array_mut) {
                    for c in list {
                        if let Some(l) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
                            l.remove("preStop");
                        }
                        // A `lifecycle` we added whole is left empty by the line above.
                        if c.get("lifecycle")
                            .is_some_and(|l| l.is_null() || l == &json!({}))
                            && let Some(c) = c.as_object_mut()
                        {
                            c.remove("lifecycle");
                        }
                    }
                }
            }
            if let Some(metadata) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                if let Some(a) = metadata
                    .get_mut("annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.remove(annotations::STATUS);
                }
                if metadata
                    .get("annotations")
                    .is_some_and(|a| a.is_null() || a == &json!({}))
                {
                    metadata.remove("annotations");
                }
            }
            if t.get("metadata")
                .is_some_and(|m| m.is_null() || m == &json!({}))
                && let Some(t) = t.as_object_mut()
            {
                t.remove("metadata");
            }
        }
        object
    };
    ensure(
        Rule::OnlyOwnFieldsTouched,
        strip(before_object) == strip(after_object),
        || format!("before {before_object}\nafter {after_object}"),
    )?;

    let plausible = plausible(before);

    // Names.
    let users_containers = |t: &Value, field: &str| -> Vec<Value> {
        containers(t, field)
            .into_iter()
            .filter(|c| waiter.is_none() || c["name"].as_str() != waiter.as_deref())
            .collect()
    };
    let user_names = |t: &Value| -> Vec<Value> {
        users_containers(t, "containers")
            .iter()
            .map(|c| c["name"].clone())
            .collect()
    };
    ensure(
        Rule::NamesUnchanged,
        user_names(before) == user_names(after)
            && users_containers(before, "initContainers")
                == users_containers(after, "initContainers"),
        || "container names or init containers changed".into(),
    )?;

    // Grace.
    let grace_value = &after["spec"]["terminationGracePeriodSeconds"];
    let grace = grace_value.as_i64();
    ensure(
        Rule::GraceInt64,
        grace_value.is_null() || grace.is_some(),
        || format!("grace {grace_value}"),
    )?;
    let effective_grace = grace.unwrap_or(lameduck::plan::DEFAULT_GRACE_SECONDS);
    let users = users_grace(before);
    if let Some(users) = users {
        ensure(
            Rule::GraceNotLowered,
            grace.is_some_and(|g| g >= users),
            || format!("user asked for {users}, object has {grace_value}"),
        )?;
    }
    if grace != before["spec"]["terminationGracePeriodSeconds"].as_i64() && grace != users {
        ensure(Rule::GraceInt64, grace.is_some_and(|g| g >= 1), || {
            format!("raised grace {grace_value}")
        })?;
        let settings = webhook.settings();
        let cap = settings
            .max_sleep
            .saturating_mul(3)
            .saturating_add(settings.max_grace.saturating_mul(2))
            .max(30);
        if users.is_none_or(|users| grace > Some(users)) {
            ensure(
                Rule::GraceWithinCaps,
                grace.is_some_and(|g| u64::try_from(g).is_ok_and(|g| g <= cap)),
                || format!("raised grace {grace_value} above {cap}"),
            )?;
        }
    }

    // Status.
    let after_annotations = annotations_of(after);
    let before_annotations = annotations_of(before);
    let status = match after_annotations.get(annotations::STATUS) {
        Some(text) => {
            let parsed = text.as_str().and_then(Status::parse);
            ensure(Rule::StatusParseable, parsed.is_some(), || {
                format!("status {text}")
            })?;
            parsed
        }
        None => None,
    }
    .unwrap_or_default();
    let before_status = before_annotations
        .get(annotations::STATUS)
        .and_then(Value::as_str)
        .and_then(Status::parse)
        .unwrap_or_default();

    // Annotations.
    for (key, value) in &after_annotations {
        if before_annotations.get(key) != Some(value) {
            ensure(
                Rule::AnnotationKeysValid,
                is_qualified_name(key) && value.is_string(),
                || format!("annotation {key:?}={value}"),
            )?;
        }
    }
    if plausible {
        ensure(
            Rule::AnnotationsSize,
            annotations_size(&after_annotations) <= MAX_ANNOTATIONS_BYTES,
            || format!("{} bytes", annotations_size(&after_annotations)),
        )?;
    }

    // Hooks.
    let before_containers = users_containers(before, "containers");
    let after_containers = users_containers(after, "containers");
    let mut recorded = 0;
    let mut sleeps: Vec<(String, u64)> = Vec::new();
    for (b, a) in before_containers.iter().zip(&after_containers) {
        let name = a["name"].as_str().unwrap_or_default();
        let was_ours = match (pre_stop(b), before_status.pre_stop.get(name)) {
            (Some(hook), Some(&injected)) => *hook == lameduck::inject::hook_value(injected),
            _ => false,
        };
        if pre_stop(b).is_some() && !was_ours {
            ensure(Rule::UserHooksUntouched, pre_stop(a) == pre_stop(b), || {
                format!(
                    "container {name:?}: {:?} became {:?}",
                    pre_stop(b),
                    pre_stop(a)
                )
            })?;
        }
        if let Some(post_start) = b.get("lifecycle").and_then(|l| l.get("postStart")) {
            ensure(
                Rule::PostStartKept,
                a.get("lifecycle").and_then(|l| l.get("postStart")) == Some(post_start),
                || format!("container {name:?} lost its postStart"),
            )?;
        }
        let Some(injected) = status.pre_stop.get(name) else {
            continue;
        };
        if !plausible && pre_stop(a) == pre_stop(b) {
            // Duplicate names (refused by the API server): the record may name another
            // container of the same name; check only hooks this pass wrote.
            continue;
        }
        recorded += 1;
        ensure(
            Rule::StatusParseable,
            !plausible || pre_stop(a) == Some(&lameduck::inject::hook_value(*injected)),
            || {
                format!(
                    "status records {injected:?} for {name:?}, which has {:?}",
                    pre_stop(a)
                )
            },
        )?;
        let hook = pre_stop(a).cloned().unwrap_or_default();
        let seconds = if hook.get("httpGet").is_some() {
            check_waiter(after, &status, name, injected, &hook)?;
            i64::try_from(injected.seconds).unwrap_or(i64::MAX)
        } else if let Some(sleep) = hook.get("sleep") {
            let seconds = sleep["seconds"].as_i64();
            ensure(Rule::SleepPositive, seconds.is_some_and(|s| s >= 1), || {
                format!("container {name:?}: {hook}")
            })?;
            seconds.unwrap_or_default()
        } else {
            let command = &hook["exec"]["command"];
            let n = command
                .as_array()
                .filter(|c| c.len() == 2 && c[0] == "sleep")
                .and_then(|c| c[1].as_str())
                .filter(|n| {
                    !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit())
                        && (n.len() == 1 || !n.starts_with('0'))
                })
                .and_then(|n| n.parse::<i64>().ok());
            ensure(Rule::ExecWellFormed, n.is_some(), || {
                format!("container {name:?}: {hook}")
            })?;
            n.unwrap_or_default()
        };
        ensure(Rule::SleepBelowGrace, seconds < effective_grace, || {
            format!("container {name:?} sleeps {seconds}s, grace {effective_grace}s")
        })?;
        sleeps.push((name.to_string(), u64::try_from(seconds).unwrap_or_default()));
    }
    if plausible {
        let user_hook = |index: usize| {
            let b = &before_containers[index];
            let name = b["name"].as_str().unwrap_or_default();
            pre_stop(b).is_some_and(|hook| {
                before_status
                    .pre_stop
                    .get(name)
                    .is_none_or(|&injected| *hook != lameduck::inject::hook_value(injected))
            })
        };
        for target in coordinators(&before_containers, user_hook) {
            let (b, a) = (&before_containers[target], &after_containers[target]);
            let name = a["name"].as_str().unwrap_or_default();
            let kept = if user_hook(target) { pre_stop(b) } else { None };
            ensure(
                Rule::CoordinatorLeftAlone,
                !status.pre_stop.contains_key(name) && pre_stop(a) == kept,
                || {
                    format!(
                        "container {name:?} coordinates the shutdown, yet has {:?} (status {status:?})",
                        pre_stop(a)
                    )
                },
            )?;
        }
    }

    // With duplicate container names (which the API server refuses anyway) one record
    // entry serves several containers.
    ensure(
        Rule::StatusParseable,
        !plausible || recorded == status.pre_stop.len(),
        || format!("status names containers the pod lacks: {status:?}"),
    )?;

    if plausible {
        check_tier_order(webhook, kind, after_object, &sleeps)?;
    }
    Ok(plausible)
}

/// The containers that another container's own `preStop` reaches, worked out here
/// independently of lameduck's planner, for the shapes of hook users write: an `httpGet`
/// on the pod (no host, or the loopback) to a port another container declares (by
/// number, or by a name the caller does not declare itself) or to a known coordinator's
/// port, an `exec` of a known coordinator's client, or a shell calling `localhost:PORT`.
pub(crate) fn coordinators(
    containers: &[Value],
    user_hook: impl Fn(usize) -> bool,
) -> std::collections::BTreeSet<usize> {
    let ports = |c: &Value| -> Vec<(Option<i64>, Option<String>)> {
        c["ports"]
            .as_array()
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| {
                        (
                            p["containerPort"].as_i64(),
                            p["name"].as_str().map(String::from),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let named = |c: &Value, names: &[&str]| names.contains(&c["name"].as_str().unwrap_or_default());
    let image_has = |c: &Value, part: &str| c["image"].as_str().is_some_and(|i| i.contains(part));
    let knows_port = |c: &Value, port: i64| match port {
        8022 => named(c, &["queue-proxy"]) || image_has(c, "knative.dev/serving/cmd/queue"),
        8090 => named(c, &["shutdown-manager"]) || image_has(c, "projectcontour/contour"),
        19002 => named(c, &["shutdown-manager"]) || image_has(c, "envoyproxy/gateway"),
        _ => false,
    };
    let mut targets = std::collections::BTreeSet::new();
    for (caller, c) in containers.iter().enumerate() {
        if !user_hook(caller) {
            continue;
        }
        let Some(hook) = pre_stop(c) else { continue };
        let others = || (0..containers.len()).filter(move |&i| i != caller);
        let by_port = |port: i64| {
            if ports(c).iter().any(|(n, _)| *n == Some(port)) {
                return None;
            }
            others()
                .find(|&i| ports(&containers[i]).iter().any(|(n, _)| *n == Some(port)))
                .or_else(|| others().find(|&i| knows_port(&containers[i], port)))
        };
        let target = if let Some(get) = hook.get("httpGet") {
            let local = matches!(
                get["host"].as_str().unwrap_or_default(),
                "" | "localhost" | "127.0.0.1"
            );
            match (&get["port"], local) {
                (_, false) => None,
                (Value::Number(n), true) => n.as_i64().and_then(by_port),
                (Value::String(name), true) => match name.parse::<i64>() {
                    Ok(n) => by_port(n),
                    Err(_) => match ports(c).iter().find(|(_, n)| n.as_ref() == Some(name)) {
                        Some((number, _)) => number.and_then(by_port),
                        None => others().find(|&i| {
                            ports(&containers[i])
                                .iter()
                                .any(|(_, n)| n.as_ref() == Some(name))
                        }),
                    },
                },
                _ => None,
            }
        } else {
            let command: Vec<&str> = hook["exec"]["command"]
                .as_array()
                .map(|c| c.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match command.as_slice() {
                ["/bin/contour" | "contour", "envoy", "shutdown", ..] => others().find(|&i| {
                    named(&containers[i], &["shutdown-manager"])
                        || image_has(&containers[i], "projectcontour/contour")
                }),
                ["envoy-gateway", "envoy", "shutdown", ..] => others().find(|&i| {
                    named(&containers[i], &["shutdown-manager"])
                        || image_has(&containers[i], "envoyproxy/gateway")
                }),
                [.., shell] if shell.contains("localhost:") => shell
                    .split("localhost:")
                    .nth(1)
                    .map(|rest| {
                        rest.chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                    })
                    .and_then(|digits| digits.parse().ok())
                    .and_then(by_port),
                _ => None,
            }
        };
        targets.extend(target);
    }
    targets
}

/// The waiter the status record names, if any.
fn waiter_name(template: &Value) -> Option<String> {
    annotations_of(template)
        .get(annotations::STATUS)
        .and_then(Value::as_str)
        .and_then(Status::parse)
        .and_then(|status| status.waiter)
}

/// A `wait` hook and the waiter it calls.
fn check_waiter(
    template: &Value,
    status: &Status,
    name: &str,
    injected: &lameduck::inject::status::InjectedHook,
    hook: &Value,
) -> Result<(), Violation> {
    let rule = Rule::WaiterWellFormed;
    let get = &hook["httpGet"];
    let port = get["port"].as_u64();
    let path = get["path"].as_str().unwrap_or_default();
    ensure(
        rule,
        get["scheme"] == "HTTP" && get.get("host").is_none() && port.is_some_and(|p| p > 0),
        || format!("container {name:?}: hook {hook}"),
    )?;
    let in_list = |field: &str| {
        status.waiter.as_deref().and_then(|waiter| {
            containers(template, field)
                .into_iter()
                .find(|c| c["name"].as_str() == Some(waiter))
        })
    };
    let (regular, native) = (in_list("containers"), in_list("initContainers"));
    // A pod that runs until deleted has a regular waiter; one that runs to completion,
    // a native sidecar (a regular one would keep it running).
    let runs_until_deleted = template["spec"]["restartPolicy"]
        .as_str()
        .is_none_or(|policy| policy == "Always");
    ensure(rule, regular.is_none() || native.is_none(), || {
        "two waiters".into()
    })?;
    let placed = match (&regular, &native) {
        (Some(_), None) => runs_until_deleted,
        (None, Some(_)) => !runs_until_deleted,
        _ => true,
    };
    ensure(rule, placed, || {
        format!(
            "waiter placed wrongly for restartPolicy {}",
            template["spec"]["restartPolicy"]
        )
    })?;
    let waiter = regular.clone().or(native);
    let Some(waiter) = waiter else {
        return Err(Violation {
            rule,
            detail: format!("container {name:?} calls a waiter the pod lacks: {status:?}"),
        });
    };
    let args: Vec<&str> = waiter["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let flag = |flag: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(flag))
            .map(str::to_string)
    };
    let waiter_port = flag("--port=").and_then(|p| p.parse::<u64>().ok());
    let max = flag("--max=").and_then(|m| lameduck::plan::duration::parse_seconds(&m).ok());
    let security = &waiter["securityContext"];
    let holds = args.contains(&"--hold-on-sigterm");
    // A regular waiter serves after SIGTERM until every hook that calls it has.
    let calls = status
        .pre_stop
        .values()
        .filter(|hook| hook.action == lameduck::plan::HookAction::Wait)
        .count();
    let lifecycle_fits = if regular.is_some() {
        waiter.get("restartPolicy").is_none()
            && holds
            && flag("--hooks=").and_then(|n| n.parse::<usize>().ok()) == Some(calls)
    } else {
        waiter["restartPolicy"] == "Always" && !holds
    };
    ensure(
        rule,
        lifecycle_fits
            && waiter_port == port
            && security["runAsNonRoot"] == true
            && security["allowPrivilegeEscalation"] == false
            && security["readOnlyRootFilesystem"] == true
            && security["capabilities"]["drop"] == json!(["ALL"])
            && security["seccompProfile"]["type"] == "RuntimeDefault",
        || format!("waiter {waiter} for hook {hook}"),
    )?;
    // No other container declares the waiter's port.
    let clash = containers(template, "containers")
        .into_iter()
        .chain(containers(template, "initContainers"))
        .filter(|c| c["name"] != waiter["name"])
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .any(|p| p["containerPort"].as_u64() == port);
    ensure(rule, !clash, || {
        format!("port {port:?} is declared by another container")
    })?;
    let expected_path = match injected.after {
        Some(after) => format!("/release?after={after}"),
        None => format!("/release?at={}", injected.seconds),
    };
    ensure(rule, path == expected_path, || {
        format!("container {name:?}: path {path:?}, record {injected:?}")
    })?;
    ensure(
        rule,
        match (injected.after, max) {
            (Some(after), Some(max)) => max.checked_add(after) == Some(injected.seconds),
            (None, Some(max)) => injected.seconds < max,
            (_, None) => false,
        },
        || format!("container {name:?}: record {injected:?}, waiter --max {max:?}"),
    )
}

/// proxy < app < sidecar, using the plan's roles and the object's actual sleeps.
fn check_tier_order(
    webhook: &Webhook,
    kind: WorkloadKind,
    object: &Value,
    sleeps: &[(String, u64)],
) -> Result<(), Violation> {
    let Ok(Some(template)) = kind.read_template(object) else {
        return Ok(());
    };
    let pod_annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    let names: Vec<String> = template
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let sleep_override = pod_annotations.keys().any(|key| {
        matches!(annotations::classify(key),
            Some(Key::Container(name, ContainerField::Sleep)) if names.iter().any(|n| n == name))
    });
    if sleep_override {
        return Ok(());
    }
    let choice = webhook.status().action;
    let env = Environment {
        auto_action: choice.action,
        wait_unavailable: choice.wait_unavailable.as_deref(),
        ..Environment::default()
    };
    let injection = lameduck::inject::inject(kind, &template, &env, webhook.settings());
    let Decision::Plan(plan) = &injection.planned.decision else {
        return Ok(());
    };
    let by_role = |role: Role| -> Vec<u64> {
        names
            .iter()
            .zip(&plan.containers)
            .filter(|(_, c)| c.role == role)
            .filter_map(|(name, _)| sleeps.iter().find(|(n, _)| n == name).map(|(_, s)| *s))
            .collect()
    };
    let (proxies, apps, sidecars) = (
        by_role(Role::Proxy),
        by_role(Role::App),
        by_role(Role::Sidecar),
    );
    let below = |a: &[u64], b: &[u64]| match (a.iter().max(), b.iter().min()) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    };
    ensure(
        Rule::TierOrder,
        below(&proxies, &apps) && below(&apps, &sidecars) && below(&proxies, &sidecars),
        || format!("proxies {proxies:?}, apps {apps:?}, sidecars {sidecars:?}"),
    )
}

/// The patched object, reviewed again with the same request, gets no patch.
fn check_fixpoint(webhook: &Webhook, review: &Review, after: &Value) -> Result<(), Violation> {
    let request = &review.request;
    let body = serde_json::to_vec(&json!({
        "apiVersion": &*review.api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": &*request.uid,
            "kind": {
                "group": &*request.kind.group,
                "version": &*request.kind.version,
                "kind": &*request.kind.kind,
            },
            "operation": request.operation.as_str(),
            "namespace": request.namespace.as_deref(),
            "object": after,
        },
    }))
    .unwrap();
    let again = webhook.review(&body).map_err(|e| Violation {
        rule: Rule::Idempotent,
        detail: format!("patched object rejected: {e}"),
    })?;
    let answer: Value = serde_json::from_slice(&again.body).unwrap_or_default();
    let patch = answer["response"].get("patch").map(|p| {
        p.as_str()
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .map(|p| String::from_utf8_lossy(&p).into_owned())
    });
    ensure(Rule::Idempotent, patch.is_none(), || {
        format!("second pass patched {patch:?} on {after}")
    })
}
