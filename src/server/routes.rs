//! The routes and their handlers: what each path answers, independent of sockets, TLS and
//! shutdown. Both routers are plain `axum::Router`s, so tests drive them with
//! `tower::ServiceExt::oneshot`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::Health;
use super::body::{self, BodyError, BodyLimits};
use crate::cluster::NamespaceSync;
use crate::metrics::Metrics;
use crate::webhook::{Webhook, WebhookStatus};

/// What every handler reads: the webhook (and through it the cluster state), the metrics,
/// and readiness.
#[derive(Clone)]
pub(super) struct AppState {
    webhook: Arc<Webhook>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    body_limits: BodyLimits,
}

impl AppState {
    pub(super) fn new(
        webhook: Arc<Webhook>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        body_limits: BodyLimits,
    ) -> Self {
        AppState {
            webhook,
            metrics,
            health,
            body_limits,
        }
    }

    pub(super) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub(super) fn health(&self) -> &Arc<Health> {
        &self.health
    }
}

/// The HTTPS routes: `POST /mutate`, `/healthz`, `/readyz`.
pub(super) fn admission_router(state: AppState) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(axum::middleware::from_fn_with_state(
            state.health.clone(),
            close_when_draining,
        ))
        .with_state(state)
}

/// The admin port's plain-HTTP routes (kubert's name for it): `/metrics`, `/healthz`,
/// `/readyz`.
pub(super) fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// While draining, HTTP/1.1 answers carry `Connection: close`, so clients stop reusing
/// connections before the listener closes: a request written onto an idle keep-alive
/// connection just as the server closes it would be lost. (HTTP/2 gets GOAWAY instead.)
async fn close_when_draining(
    State(health): State<Arc<Health>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let http1 = request.version() <= Version::HTTP_11;
    let mut response = next.run(request).await;
    if http1 && health.is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn mutate(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let body = match body::read(&parts.headers, body, state.body_limits).await {
        Ok(body) => body,
        Err(error) => {
            state
                .metrics
                .record_invalid(started.elapsed().as_secs_f64());
            tracing::warn!(error = %crate::ErrorChain(&error), "request body not read");
            let status = match error {
                BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
                BodyError::Read(_) => StatusCode::BAD_REQUEST,
            };
            let mut response = (status, format!("{error}\n")).into_response();
            // The rest of the body (if any) will not be read: the connection cannot be reused.
            if parts.version <= Version::HTTP_11 {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return response;
        }
    };
    let span = tracing::info_span!(
        "review",
        uid = tracing::field::Empty,
        kind = tracing::field::Empty,
        namespace = tracing::field::Empty,
        name = tracing::field::Empty,
        operation = tracing::field::Empty,
        outcome = tracing::field::Empty,
        duration_us = tracing::field::Empty,
    );
    let _entered = span.enter();
    let result = state.webhook.review(&body);
    let seconds = started.elapsed().as_secs_f64();
    span.record("duration_us", (seconds * 1e6) as u64);
    match result {
        Ok(reviewed) => {
            span.record("outcome", reviewed.outcome.as_str());
            state.metrics.record_review(&reviewed, seconds);
            if !reviewed.warnings.is_empty() {
                tracing::debug!(
                    warnings = reviewed.warnings.len(),
                    "review answered with warnings"
                );
            }
            tracing::debug!("review answered");
            ([(header::CONTENT_TYPE, "application/json")], reviewed.body).into_response()
        }
        Err(error) => {
            span.record("outcome", "invalid");
            state.metrics.record_invalid(seconds);
            if error.is_bad_request() {
                tracing::warn!(%error, "rejected a request that is not an AdmissionReview");
                (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
            } else {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "cannot answer a review"
                );
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response()
            }
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let WebhookStatus {
        action: choice,
        namespaces,
    } = state.webhook.status();
    let status = if state.health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let state_line = if status == StatusCode::OK {
        "ready"
    } else {
        "not ready (starting or draining)"
    };
    let namespaces = match namespaces {
        NamespaceSync::Watched => "watched",
        NamespaceSync::LastKnown => "last known (API server unreachable)",
        NamespaceSync::Unknown => "unknown (no cluster, or not synced yet)",
    };
    let body = format!(
        "{state_line}\nhook action for auto: {} ({})\nnamespaces: {namespaces}\n",
        choice.action.as_str(),
        choice.reason
    );
    (status, body).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;
    use crate::cluster::ClusterState;
    use crate::plan::Settings;
    use crate::scope::Mode;

    fn state() -> AppState {
        let cluster = Arc::new(ClusterState::standalone());
        let webhook = Arc::new(Webhook::new(
            Settings::default(),
            Mode::Cluster,
            cluster.clone(),
        ));
        AppState::new(
            webhook,
            Arc::new(Metrics::new(cluster)),
            Arc::new(Health::default()),
            BodyLimits::default(),
        )
    }

    async fn call(router: Router, request: Request<Body>) -> (StatusCode, String, Response) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (status, text, Response::from_parts(parts, Body::empty()))
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_review_gets_a_400_with_one_line() {
        let request = Request::post("/mutate")
            .body(Body::from("{\"kind\": \"AdmissionReview\""))
            .unwrap();
        let (status, text, _) = call(admission_router(state()), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("AdmissionReview"), "{text}");
    }

    #[tokio::test]
    async fn readiness_follows_health_on_both_routers() {
        let state = state();
        // Starting: not ready.
        for router in [admission_router(state.clone()), admin_router(state.clone())] {
            let (status, text, _) = call(router.clone(), get("/readyz")).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(text.starts_with("not ready"), "{text}");
        }
        state.health().mark_ready();
        for router in [admission_router(state.clone()), admin_router(state.clone())] {
            let (status, text, _) = call(router, get("/readyz")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(text.starts_with("ready\n"), "{text}");
            assert!(text.contains("hook action for auto: sleep"), "{text}");
        }
    }

    #[tokio::test]
    async fn metrics_are_openmetrics_text() {
        let (status, text, response) = call(admin_router(state()), get("/metrics")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }

    #[tokio::test]
    async fn http1_answers_say_close_while_draining() {
        let state = state();
        state.health().mark_ready();
        let (_, _, response) = call(admission_router(state.clone()), get("/healthz")).await;
        assert!(response.headers().get(header::CONNECTION).is_none());
        state.health().start_draining();
        let (status, _, response) = call(admission_router(state), get("/healthz")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }
}
