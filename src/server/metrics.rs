//! Prometheus metrics, served as OpenMetrics text on the plain-HTTP metrics port.

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::plan::HookAction;
use crate::webhook::Reviewed;
use crate::workload::WorkloadKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
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
    tls_expiry: Gauge,
    hook_action: Family<ActionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
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
            tls_expiry,
            hook_action,
        }
    }

    pub fn record_review(&self, reviewed: &Reviewed, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                kind: kind_label(&reviewed.kind),
                operation: operation_label(&reviewed.operation),
                outcome: reviewed.outcome.as_str(),
            })
            .inc();
        self.duration.observe(seconds);
        for role in &reviewed.injected_roles {
            self.injected
                .get_or_create(&RoleLabels {
                    role: role.as_str(),
                })
                .inc();
        }
        for reason in &reviewed.warnings {
            self.warnings
                .get_or_create(&ReasonLabels {
                    reason: reason.as_str(),
                })
                .inc();
        }
    }

    /// A body that was not a review: kind and operation are unknown.
    pub fn record_invalid(&self, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                kind: "unknown",
                operation: "unknown",
                outcome: "invalid",
            })
            .inc();
        self.duration.observe(seconds);
    }

    pub fn record_tls_reload(&self, result: &'static str) {
        self.tls_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn set_tls_expiry(&self, not_after: Option<i64>) {
        self.tls_expiry.set(not_after.unwrap_or(0));
    }

    pub fn set_hook_action(&self, action: HookAction) {
        for candidate in [HookAction::Sleep, HookAction::Exec] {
            self.hook_action
                .get_or_create(&ActionLabels {
                    action: candidate.as_str(),
                })
                .set(i64::from(candidate == action));
        }
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Label values come from the request, which anyone who reaches the port can forge:
/// only known values are used, so the series count stays bounded.
fn kind_label(kind: &str) -> &'static str {
    WorkloadKind::ALL
        .into_iter()
        .map(WorkloadKind::as_str)
        .find(|known| *known == kind)
        .unwrap_or("other")
}

fn operation_label(operation: &str) -> &'static str {
    ["CREATE", "UPDATE", "DELETE", "CONNECT"]
        .into_iter()
        .find(|known| *known == operation)
        .unwrap_or("other")
}
