//! The answer: always allowed, with the patch as base64 (the documented wire format).

use std::collections::BTreeMap;

use base64::Engine as _;

use super::Review;
use crate::text::{cut_with_ellipsis, push_json_string};

/// What the webhook has to say about one request. Always allowed: lameduck never denies.
#[derive(Debug, Default)]
pub struct Answer {
    /// Serialized RFC 6902 operations; empty when nothing changes.
    pub patch: Vec<u8>,
    pub warnings: Vec<String>,
    pub audit_annotations: BTreeMap<&'static str, String>,
}

/// The API server keeps warnings short; long ones are truncated there, so cut them here
/// where the cut can be marked.
const MAX_WARNING_CHARS: usize = 240;
const MAX_WARNINGS: usize = 12;

/// Encodes the answer to a review.
///
/// Written directly rather than through serde: the patch goes into the answer as base64
/// with no intermediate string and no escaping pass over it (base64 needs none), which
/// was most of the cost of encoding. Fields and their order are what
/// `{"apiVersion", "kind", "response": {"uid", "allowed", "patchType", "patch",
/// "warnings", "auditAnnotations"}}` serialized with serde gives, empty ones left out.
pub fn encode<O>(review: &Review<O>, answer: &Answer) -> Vec<u8> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let patch_chars = answer.patch.len().div_ceil(3) * 4;
    let notes: usize = answer.audit_annotations.values().map(String::len).sum();
    let mut out = String::with_capacity(
        160 + review.api_version.len() + review.request.uid.len() + patch_chars + notes,
    );
    out.push_str("{\"apiVersion\":");
    push_json_string(&mut out, &review.api_version);
    out.push_str(",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    push_json_string(&mut out, &review.request.uid);
    out.push_str(",\"allowed\":true");
    if !answer.patch.is_empty() {
        out.push_str(",\"patchType\":\"JSONPatch\",\"patch\":\"");
        engine.encode_string(&answer.patch, &mut out);
        out.push('"');
    }
    if !answer.warnings.is_empty() {
        out.push_str(",\"warnings\":[");
        for (index, warning) in answer.warnings.iter().take(MAX_WARNINGS).enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_json_string(&mut out, &cut_with_ellipsis(warning, MAX_WARNING_CHARS));
        }
        out.push(']');
    }
    if !answer.audit_annotations.is_empty() {
        out.push_str(",\"auditAnnotations\":{");
        for (index, (key, value)) in answer.audit_annotations.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_json_string(&mut out, key);
            out.push(':');
            push_json_string(&mut out, value);
        }
        out.push('}');
    }
    out.push_str("}}");
    out.into_bytes()
}
