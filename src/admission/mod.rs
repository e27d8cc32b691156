//! AdmissionReview `admission.k8s.io/v1` on the wire: decode a request, encode a
//! response. Knows nothing of pods or containers.
//!
//! kube-core's `AdmissionReview` is not used here on purpose: it decodes the whole object
//! (and `oldObject`) into owned values, and serializes `patch` as an array of numbers
//! (kube-rs/kube#1781). This module borrows the object as raw JSON for the caller to
//! parse once, skips `oldObject` entirely, and writes `patch` as base64.

mod answer;
mod read;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use serde::de::DeserializeSeed as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

pub use answer::{Answer, encode};
use read::{Progress, ReviewSeed};

pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Why a body cannot be answered with an AdmissionReview. Sent back as HTTP 400 so the
/// API server applies the webhook's failure policy rather than denying the object.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("request body is not an AdmissionReview: {0}")]
    Malformed(String),
    #[error("request.object is not a valid {kind}: {reason}")]
    InvalidObject { kind: String, reason: String },
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

/// Reads `request.object` while the review is parsed, so the object is scanned once.
///
/// The API server writes `kind`, `subResource` and `operation` before `object`, so the
/// reader normally parses the object straight from the body; a body in another order is
/// read in two steps (the object is kept as raw JSON until the request has been read).
pub trait ObjectReader<'de> {
    type Object;
    /// Whether the object of this request is wanted at all; an unwanted one is skipped
    /// without being built.
    fn wants(
        &self,
        kind: &GroupVersionKind,
        operation: Operation,
        sub_resource: Option<&str>,
    ) -> bool;
    fn read<D: Deserializer<'de>>(
        &self,
        kind: &GroupVersionKind,
        object: D,
    ) -> Result<Self::Object, D::Error>;
}

/// Keeps the object as borrowed raw JSON: for callers that parse it themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawObject;

impl<'de> ObjectReader<'de> for RawObject {
    type Object = &'de RawValue;
    fn wants(&self, _: &GroupVersionKind, _: Operation, _: Option<&str>) -> bool {
        true
    }
    fn read<D: Deserializer<'de>>(
        &self,
        _: &GroupVersionKind,
        object: D,
    ) -> Result<&'de RawValue, D::Error> {
        <&RawValue>::deserialize(object)
    }
}

/// `request.object`, as far as the reader wanted it.
#[derive(Debug)]
pub enum RequestObject<O> {
    /// The request has no `object` (or it is `null`).
    Absent,
    /// The reader did not want it; it was skipped unread.
    Skipped,
    Read(O),
}

/// The fields of `request` that a mutating webhook reads; `oldObject` and everything else
/// are skipped without being built.
#[derive(Debug)]
pub struct Request<'a, O> {
    pub uid: Cow<'a, str>,
    pub kind: GroupVersionKind<'a>,
    pub operation: Operation,
    pub namespace: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub sub_resource: Option<Cow<'a, str>>,
    pub dry_run: Option<bool>,
    pub object: RequestObject<O>,
}

/// A decoded review: the request, and the `apiVersion` the answer must carry.
#[derive(Debug)]
pub struct Review<'a, O = &'a RawValue> {
    pub api_version: Cow<'a, str>,
    pub request: Request<'a, O>,
}

impl<'a> Review<'a> {
    /// Decodes a review, keeping the object as raw JSON.
    pub fn decode(body: &'a [u8]) -> Result<Self, AdmissionError> {
        Self::decode_with(body, &RawObject)
    }
}

impl<'a, O> Review<'a, O> {
    /// Decodes a review, reading the object with `reader` in the same pass.
    pub fn decode_with<R: ObjectReader<'a, Object = O>>(
        body: &'a [u8],
        reader: &R,
    ) -> Result<Self, AdmissionError> {
        let progress = Progress::default();
        let seed = ReviewSeed {
            reader,
            progress: &progress,
        };
        let mut parser = serde_json::Deserializer::from_slice(body);
        let review = seed
            .deserialize(&mut parser)
            .and_then(|review| parser.end().map(|()| review))
            .map_err(|error| {
                if progress.in_object.get() {
                    AdmissionError::InvalidObject {
                        kind: progress.failed_kind.take(),
                        reason: one_line(&error.to_string()),
                    }
                } else {
                    AdmissionError::malformed(error)
                }
            })?;
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
