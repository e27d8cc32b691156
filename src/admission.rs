//! AdmissionReview `admission.k8s.io/v1` on the wire: decode a request, encode a
//! response. Knows nothing of pods or containers.
//!
//! kube-core's `AdmissionReview` is not used here on purpose: it decodes the whole object
//! (and `oldObject`) into owned values, and serializes `patch` as an array of numbers
//! (kube-rs/kube#1781). This module borrows the object as raw JSON for the caller to
//! parse once, skips `oldObject` entirely, and writes `patch` as base64.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Why a body cannot be answered with an AdmissionReview. Sent back as HTTP 400 so the
/// API server applies the webhook's failure policy rather than denying the object.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("request body is not an AdmissionReview: {0}")]
    Malformed(String),
    #[error("request.object is not a valid {kind}: {reason}")]
    InvalidObject { kind: &'static str, reason: String },
    /// The answer could not be serialized: a bug in lameduck, never the caller's fault.
    #[error("cannot encode the answer")]
    Encode(#[source] serde_json::Error),
}

impl AdmissionError {
    /// Whether the request was at fault (HTTP 400) rather than lameduck (HTTP 500).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, AdmissionError::Encode(_))
    }

    pub fn malformed(error: impl std::fmt::Display) -> Self {
        AdmissionError::Malformed(one_line(&error.to_string()))
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    #[serde(borrow, default)]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    request: Option<Request<'a>>,
}

/// The group, version and kind of the object under review.
#[derive(Debug, Deserialize)]
pub struct GroupVersionKind<'a> {
    #[serde(borrow, default)]
    pub group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub version: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
}

/// What the API server is doing to the object. Operations this version does not know
/// are `Other`: never planned, and a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
    #[serde(other)]
    Other,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
            Operation::Other => "other",
        }
    }
}

/// The fields of `request` that a mutating webhook reads; the object stays raw JSON.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request<'a> {
    #[serde(borrow)]
    pub uid: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: GroupVersionKind<'a>,
    pub operation: Operation,
    #[serde(borrow, default)]
    pub namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub sub_resource: Option<Cow<'a, str>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(borrow, default)]
    pub object: Option<&'a RawValue>,
    /// Present on UPDATE; never read, so skipped without building anything.
    #[serde(default)]
    #[allow(dead_code)]
    old_object: Option<IgnoredAny>,
}

/// A decoded review: the request, and the `apiVersion` the answer must carry.
#[derive(Debug)]
pub struct Review<'a> {
    pub api_version: Cow<'a, str>,
    pub request: Request<'a>,
}

impl<'a> Review<'a> {
    pub fn decode(body: &'a [u8]) -> Result<Self, AdmissionError> {
        let review: ReviewIn = serde_json::from_slice(body).map_err(AdmissionError::malformed)?;
        if let Some(kind) = &review.kind
            && kind != "AdmissionReview"
        {
            return Err(AdmissionError::Malformed(format!(
                "kind is {kind:?}, expected \"AdmissionReview\""
            )));
        }
        let api_version = review.api_version.unwrap_or(Cow::Borrowed(API_VERSION));
        if !api_version.starts_with("admission.k8s.io/") {
            return Err(AdmissionError::Malformed(format!(
                "apiVersion is {api_version:?}, expected {API_VERSION:?}"
            )));
        }
        let request = review
            .request
            .ok_or_else(|| AdmissionError::Malformed("no request".into()))?;
        if request.uid.is_empty() {
            return Err(AdmissionError::Malformed("request.uid is empty".into()));
        }
        Ok(Review {
            api_version,
            request,
        })
    }
}

/// What the webhook has to say about one request. Always allowed: lameduck never denies.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Serialized RFC 6902 operations; empty when nothing changes.
    pub patch: Vec<u8>,
    pub warnings: Vec<String>,
    pub audit_annotations: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'static str,
    response: Response<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    audit_annotations: &'a BTreeMap<&'static str, String>,
}

/// The API server keeps warnings short; long ones are truncated there, so cut them here
/// where the cut can be marked.
const MAX_WARNING_CHARS: usize = 240;
const MAX_WARNINGS: usize = 12;

/// Encodes the answer to a review.
pub fn encode(review: &Review, verdict: &Verdict) -> Result<Vec<u8>, AdmissionError> {
    let patch = (!verdict.patch.is_empty())
        .then(|| base64::engine::general_purpose::STANDARD.encode(&verdict.patch));
    let warnings: Vec<String> = verdict
        .warnings
        .iter()
        .take(MAX_WARNINGS)
        .map(|w| {
            if w.chars().count() > MAX_WARNING_CHARS {
                let mut cut: String = w.chars().take(MAX_WARNING_CHARS - 1).collect();
                cut.push('…');
                cut
            } else {
                w.clone()
            }
        })
        .collect();
    let out = ReviewOut {
        api_version: &review.api_version,
        kind: "AdmissionReview",
        response: Response {
            uid: &review.request.uid,
            allowed: true,
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            warnings: &warnings,
            audit_annotations: &verdict.audit_annotations,
        },
    };
    serde_json::to_vec(&out).map_err(AdmissionError::Encode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn review_body(request: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        }))
        .unwrap()
    }

    fn minimal_request() -> Value {
        json!({
            "uid": "1234",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "object": {"metadata": {}},
            "oldObject": {"deep": [[[[1]]]]},
        })
    }

    #[test]
    fn decodes_the_fields_a_webhook_reads() {
        let body = review_body(minimal_request());
        let review = Review::decode(&body).unwrap();
        assert_eq!(review.request.uid, "1234");
        assert_eq!(review.request.kind.kind, "Pod");
        assert_eq!(review.request.operation, Operation::Create);
        assert_eq!(review.request.object.unwrap().get(), r#"{"metadata":{}}"#);
    }

    #[test]
    fn rejects_what_is_not_a_review_with_one_line() {
        let mut no_uid = minimal_request();
        no_uid.as_object_mut().unwrap().remove("uid");
        let cases: Vec<Vec<u8>> = vec![
            b"not json".to_vec(),
            b"{}".to_vec(),
            b"[]".to_vec(),
            br#"{"kind":"ConfigMap","request":{}}"#.to_vec(),
            review_body(no_uid),
            review_body(json!({"uid": "", "kind": {"kind": "Pod"}, "operation": "CREATE"})),
            review_body(json!({"uid": 5, "kind": {"kind": "Pod"}, "operation": "CREATE"})),
        ];
        for body in cases {
            let error = Review::decode(&body).expect_err("should be rejected");
            assert!(!error.to_string().contains('\n'), "{error}");
        }
    }

    #[test]
    fn response_echoes_uid_and_sends_base64_patch_only_when_non_empty() {
        let body = review_body(minimal_request());
        let review = Review::decode(&body).unwrap();
        let empty: Value =
            serde_json::from_slice(&encode(&review, &Verdict::default()).unwrap()).unwrap();
        assert_eq!(empty["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(empty["kind"], "AdmissionReview");
        assert_eq!(empty["response"]["uid"], "1234");
        assert_eq!(empty["response"]["allowed"], true);
        assert!(empty["response"].get("patch").is_none());
        assert!(empty["response"].get("patchType").is_none());
        assert!(empty["response"].get("warnings").is_none());

        let verdict = Verdict {
            patch: br#"[{"op":"add","path":"/a","value":1}]"#.to_vec(),
            warnings: vec!["lameduck: x".into(), "y".repeat(1000)],
            audit_annotations: BTreeMap::from([("plan", "p".to_string())]),
        };
        let full: Value = serde_json::from_slice(&encode(&review, &verdict).unwrap()).unwrap();
        assert_eq!(full["response"]["patchType"], "JSONPatch");
        let patch = base64::engine::general_purpose::STANDARD
            .decode(full["response"]["patch"].as_str().unwrap())
            .unwrap();
        assert_eq!(patch, verdict.patch);
        assert_eq!(full["response"]["warnings"][0], "lameduck: x");
        assert!(
            full["response"]["warnings"][1]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 240
        );
        assert_eq!(full["response"]["auditAnnotations"]["plan"], "p");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let body = format!(
            r#"{{"request":{{"uid":"1","kind":{{"kind":"Pod"}},"operation":"CREATE","object":{deep}}}}}"#
        );
        // The object is skipped as raw JSON, so this decodes; the caller's parse rejects it.
        let _ = Review::decode(body.as_bytes());
        let body = format!(r#"{{"request":{deep}}}"#);
        assert!(Review::decode(body.as_bytes()).is_err());
    }
}
