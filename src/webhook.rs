//! One review, start to finish: decode, find the pod template, plan, inject, encode.
//! The server calls this; it never fails except on a body that is not a review.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use crate::admission::{
    AdmissionError, Answer, GroupVersionKind, ObjectReader, Operation, RequestObject, Review,
    encode,
};
use crate::cluster::{ActionChoice, ClusterState, NamespaceSync};
use crate::inject::{self, Injection};
use crate::plan::{Decision, Environment, Role, Settings, WarningReason};
use crate::scope::Mode;
use crate::text::cut_with_ellipsis;
use crate::workload::{PodTemplate, WorkloadKind};

/// How a review ended; the `outcome` label of the requests metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A non-empty patch was returned.
    Mutated,
    /// Planned, and the object already matched the plan.
    Unchanged,
    /// Not ours to plan: other kind, operation, opted out, batch pod, disabled namespace.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Mutated => "mutated",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The answer to a review and what happened, for metrics and the request's log span.
#[derive(Debug)]
pub struct Reviewed {
    pub body: Vec<u8>,
    pub outcome: Outcome,
    /// `None` for kinds lameduck does not plan.
    pub kind: Option<WorkloadKind>,
    pub operation: Operation,
    pub injected_roles: Vec<Role>,
    pub warnings: Vec<WarningReason>,
}

/// What lameduck decided for a request it plans.
struct Decided {
    injection: Injection,
    answer: Answer,
}

/// The webhook's settings and its view of the cluster.
#[derive(Debug)]
pub struct Webhook {
    settings: Settings,
    mode: Mode,
    cluster: Arc<ClusterState>,
}

/// What the webhook works from right now, for `/readyz` and for tests that plan the way
/// a review does.
#[derive(Debug, Clone)]
pub struct WebhookStatus {
    /// What `auto` means on this cluster, and why.
    pub action: Arc<ActionChoice>,
    pub namespaces: NamespaceSync,
}

impl Webhook {
    pub fn new(settings: Settings, mode: Mode, cluster: Arc<ClusterState>) -> Self {
        Webhook {
            settings,
            mode,
            cluster,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn status(&self) -> WebhookStatus {
        WebhookStatus {
            action: self.cluster.action(),
            namespaces: self.cluster.namespace_sync(),
        }
    }

    /// Answers one AdmissionReview body.
    pub fn review(&self, body: &[u8]) -> Result<Reviewed, AdmissionError> {
        let review = Review::decode_with(body, &TemplateReader)?;
        let request = &review.request;
        let span = tracing::Span::current();
        span.record("uid", &*request.uid);
        span.record("kind", &*request.kind.kind);
        span.record("operation", request.operation.as_str());
        if let Some(namespace) = &request.namespace {
            span.record("namespace", &**namespace);
        }
        if let Some(name) = &request.name {
            span.record("name", &**name);
        }

        let mut reviewed = Reviewed {
            body: Vec::new(),
            outcome: Outcome::Skipped,
            kind: WorkloadKind::from_group_kind(&request.kind.group, &request.kind.kind),
            operation: request.operation,
            injected_roles: Vec::new(),
            warnings: Vec::new(),
        };
        let answer = match self.decide(&review)? {
            Some(Decided { injection, answer }) => {
                reviewed.outcome = match (&injection.planned.decision, answer.patch.is_empty()) {
                    (_, false) => Outcome::Mutated,
                    (Decision::Skip(_), true) => Outcome::Skipped,
                    (Decision::Plan(_), true) => Outcome::Unchanged,
                };
                reviewed.warnings = injection
                    .planned
                    .warnings
                    .iter()
                    .map(|w| w.reason)
                    .collect();
                reviewed.injected_roles = injection.injected_roles;
                answer
            }
            None => Answer::default(),
        };
        reviewed.body = encode(&review, &answer);
        Ok(reviewed)
    }

    /// `None` when the request is not one lameduck plans.
    fn decide(
        &self,
        review: &Review<Option<(WorkloadKind, PodTemplate)>>,
    ) -> Result<Option<Decided>, AdmissionError> {
        let request = &review.request;
        let (kind, template) = match &request.object {
            RequestObject::Read(Some((kind, template))) => (*kind, template),
            // Planned kind, but an object without a pod template: nothing to plan.
            RequestObject::Read(None) | RequestObject::Skipped => return Ok(None),
            RequestObject::Absent => {
                return match TemplateReader.planned_kind(&request.kind, request.operation) {
                    Some(kind) if request.sub_resource.as_deref().is_none_or(str::is_empty) => {
                        Err(AdmissionError::Malformed(format!(
                            "{} of a {} without request.object",
                            request.operation.as_str(),
                            kind.as_str()
                        )))
                    }
                    _ => Ok(None),
                };
            }
        };

        let namespace = request
            .namespace
            .as_deref()
            .and_then(|name| self.cluster.namespace(name));
        // Namespaces unknown (no cluster): the webhook configuration's selector decides.
        let allowed_here = (namespace.as_ref()).is_none_or(|ns| self.mode.admits(ns.injection));
        if !allowed_here {
            return Ok(None);
        }

        let choice = self.cluster.action();
        let env = Environment {
            namespace: namespace.as_ref().map(|ns| &ns.defaults),
            auto_action: choice.action,
            auto_reason: &choice.reason,
            wait_unavailable: choice.wait_unavailable.as_deref(),
        };
        let injection = inject::inject(kind, template, &env, &self.settings);
        let warnings: Vec<String> = (injection.planned.warnings.iter())
            .map(ToString::to_string)
            .collect();
        let mut audit_annotations = BTreeMap::new();
        if let Some(summary) = &injection.summary {
            audit_annotations.insert("plan", audit_value(summary));
            tracing::debug!(plan = %summary, "planned");
        }
        let patch = if injection.patch.0.is_empty() {
            Vec::new()
        } else {
            serde_json::to_vec(&injection.patch).map_err(AdmissionError::Encode)?
        };
        Ok(Some(Decided {
            injection,
            answer: Answer {
                patch,
                warnings,
                audit_annotations,
            },
        }))
    }
}

/// Reads the pod template of the kinds and operations lameduck plans while the review is
/// parsed; every other object is skipped unread.
struct TemplateReader;

impl TemplateReader {
    fn planned_kind(&self, kind: &GroupVersionKind, operation: Operation) -> Option<WorkloadKind> {
        WorkloadKind::from_group_kind(&kind.group, &kind.kind).filter(|k| k.plans_on(operation))
    }
}

impl<'de> ObjectReader<'de> for TemplateReader {
    /// `None`: an object of a planned kind without a pod template.
    type Object = Option<(WorkloadKind, PodTemplate)>;

    fn wants(
        &self,
        kind: &GroupVersionKind,
        operation: Operation,
        sub_resource: Option<&str>,
    ) -> bool {
        sub_resource.is_none_or(str::is_empty) && self.planned_kind(kind, operation).is_some()
    }

    fn read<D: Deserializer<'de>>(
        &self,
        kind: &GroupVersionKind,
        object: D,
    ) -> Result<Self::Object, D::Error> {
        match WorkloadKind::from_group_kind(&kind.group, &kind.kind) {
            Some(workload) => Ok(workload.read_template(object)?.map(|t| (workload, t))),
            // `wants` said no: never called.
            None => serde::de::IgnoredAny::deserialize(object).map(|_| None),
        }
    }
}

/// Audit annotations land in every audit log line of the request: a pod with hundreds of
/// containers should not make those lines huge.
fn audit_value(summary: &str) -> String {
    const MAX_CHARS: usize = 1024;
    cut_with_ellipsis(summary, MAX_CHARS).into_owned()
}
