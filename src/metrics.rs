//! Prometheus metrics, served as OpenMetrics text on the plain-HTTP metrics port.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::admission::Operation;
use crate::cluster::ClusterState;
use crate::plan::{HookAction, Role, WarningReason};
use crate::webhook::{Outcome, Reviewed};
use crate::workload::WorkloadKind;

/// Label values are the types' own `as_str` names, so a label can only take a value the
/// code names: the series count stays bounded whatever a request says.
macro_rules! label_values {
    ($($type:ty),* $(,)?) => {$(
        impl EncodeLabelValue for $type {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}

label_values!(
    Outcome,
    Role,
    WarningReason,
    HookAction,
    KindLabel,
    OperationLabel,
    RequestOutcome
);

/// The `kind` label: a kind lameduck plans, anything else, or unknown when the body was
/// not a review at all.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum KindLabel {
    Workload(WorkloadKind),
    Other,
    Unknown,
}

impl KindLabel {
    fn as_str(self) -> &'static str {
        match self {
            KindLabel::Workload(kind) => kind.as_str(),
            KindLabel::Other => "other",
            KindLabel::Unknown => "unknown",
        }
    }
}

/// The `operation` label: unknown when the body was not a review.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum OperationLabel {
    Known(Operation),
    Unknown,
}

impl OperationLabel {
    fn as_str(self) -> &'static str {
        match self {
            OperationLabel::Known(operation) => operation.as_str(),
            OperationLabel::Unknown => "unknown",
        }
    }
}

/// The `outcome` label: how a review ended, or `invalid` for a body that was not one.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum RequestOutcome {
    Reviewed(Outcome),
    Invalid,
}

impl RequestOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Reviewed(outcome) => outcome.as_str(),
            RequestOutcome::Invalid => "invalid",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: KindLabel,
    operation: OperationLabel,
    outcome: RequestOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: Role,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: WarningReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: HookAction,
}

/// Every metric lameduck exports, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    injected: Family<RoleLabels, Counter>,
    warnings: Family<ReasonLabels, Counter>,
    tls_reloads: Family<ResultLabels, Counter>,
    tls_handshakes: Family<ProtocolLabels, Counter>,
    tls_expiry: Gauge,
    hook_action: Family<ActionLabels, Gauge>,
    /// Read when metrics are scraped, so the cluster code needs no handle on metrics.
    cluster: Arc<ClusterState>,
}

impl Metrics {
    pub fn new(cluster: Arc<ClusterState>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "lameduck_admission_requests",
            "AdmissionReviews answered, by kind, operation and outcome",
            requests.clone(),
        );
        // From 0.1 ms to ~1.6 s: a review normally takes well under a millisecond.
        let duration = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.0001, 2.0, 15,
        ));
        registry.register(
            "lameduck_admission_duration_seconds",
            "Time to answer an AdmissionReview, from body received to answer encoded",
            duration.clone(),
        );
        let injected = Family::<RoleLabels, Counter>::default();
        registry.register(
            "lameduck_containers_injected",
            "Containers given a preStop delay, by role",
            injected.clone(),
        );
        let warnings = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "lameduck_warnings",
            "Admission warnings returned, by reason",
            warnings.clone(),
        );
        let tls_reloads = Family::<ResultLabels, Counter>::default();
        // Both series exist from the start, so a first failure is a change from 0.
        for result in ["success", "failure"] {
            let _ = tls_reloads.get_or_create(&ResultLabels { result });
        }
        registry.register(
            "lameduck_tls_reloads",
            "Serving certificate reloads, by result",
            tls_reloads.clone(),
        );
        let tls_handshakes = Family::<ProtocolLabels, Counter>::default();
        for protocol in ["h2", "http/1.1"] {
            let _ = tls_handshakes.get_or_create(&ProtocolLabels { protocol });
        }
        // A client that reuses its connections keeps this flat (the API server does, over
        // HTTP/1.1, up to 25 idle ones); past that it climbs with the request rate, a
        // handshake per review.
        registry.register(
            "lameduck_tls_handshakes",
            "Completed TLS handshakes on the webhook port, by negotiated protocol",
            tls_handshakes.clone(),
        );
        let tls_expiry = Gauge::default();
        registry.register(
            "lameduck_tls_certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate, as a Unix timestamp",
            tls_expiry.clone(),
        );
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("lameduck_build_info", "lameduck version", build_info);
        let hook_action = Family::<ActionLabels, Gauge>::default();
        registry.register(
            "lameduck_hook_action",
            "1 for the preStop action `auto` currently resolves to",
            hook_action.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            injected,
            warnings,
            tls_reloads,
            tls_handshakes,
            tls_expiry,
            hook_action,
            cluster,
        }
    }

    pub fn record_review(&self, reviewed: &Reviewed, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                kind: reviewed.kind.map_or(KindLabel::Other, KindLabel::Workload),
                operation: OperationLabel::Known(reviewed.operation),
                outcome: RequestOutcome::Reviewed(reviewed.outcome),
            })
            .inc();
        self.duration.observe(seconds);
        for &role in &reviewed.injected_roles {
            self.injected.get_or_create(&RoleLabels { role }).inc();
        }
        for &reason in &reviewed.warnings {
            self.warnings.get_or_create(&ReasonLabels { reason }).inc();
        }
    }

    /// A body that was not a review: kind and operation are unknown.
    pub fn record_invalid(&self, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                kind: KindLabel::Unknown,
                operation: OperationLabel::Unknown,
                outcome: RequestOutcome::Invalid,
            })
            .inc();
        self.duration.observe(seconds);
    }

    pub fn record_tls_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.tls_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// `alpn`: the protocol the handshake settled on, if the client offered any.
    pub fn record_tls_handshake(&self, alpn: Option<&[u8]>) {
        let protocol = if alpn == Some(b"h2") {
            "h2"
        } else {
            "http/1.1"
        };
        self.tls_handshakes
            .get_or_create(&ProtocolLabels { protocol })
            .inc();
    }

    pub fn set_tls_expiry(&self, not_after: Option<i64>) {
        self.tls_expiry.set(not_after.unwrap_or(0));
    }

    pub fn encode(&self) -> String {
        let current = self.cluster.action().action;
        for action in [HookAction::Sleep, HookAction::Exec] {
            self.hook_action
                .get_or_create(&ActionLabels { action })
                .set(i64::from(action == current));
        }
        let mut text = String::new();
        // Writing into a String cannot fail; should it, the scrape shows what was written.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
