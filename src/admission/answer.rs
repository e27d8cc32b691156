//! The answer: always allowed, with the patch as base64 (the documented wire format).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use super::{AdmissionError, Review};
use crate::text::cut_with_ellipsis;

/// What the webhook has to say about one request. Always allowed: lameduck never denies.
#[derive(Debug, Default)]
pub struct Answer {
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
pub fn encode<O>(review: &Review<O>, answer: &Answer) -> Result<Vec<u8>, AdmissionError> {
    let patch = (!answer.patch.is_empty())
        .then(|| base64::engine::general_purpose::STANDARD.encode(&answer.patch));
    let warnings: Vec<String> = answer
        .warnings
        .iter()
        .take(MAX_WARNINGS)
        .map(|w| cut_with_ellipsis(w, MAX_WARNING_CHARS).into_owned())
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
            audit_annotations: &answer.audit_annotations,
        },
    };
    serde_json::to_vec(&out).map_err(AdmissionError::Encode)
}
