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
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::text::cut_with_ellipsis;

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

/// A string borrowed from the body unless it holds escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ReviewField {
    ApiVersion,
    Kind,
    Request,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum RequestField {
    Uid,
    Kind,
    Operation,
    Namespace,
    Name,
    SubResource,
    DryRun,
    Object,
    #[serde(other)]
    Other,
}

struct ReviewIn<'a, O> {
    api_version: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    request: Option<Request<'a, O>>,
}

/// Set while the reader parses the object, so a failure there is reported as an invalid
/// object rather than an invalid review.
#[derive(Default)]
struct Progress {
    in_object: std::cell::Cell<bool>,
    /// The kind of the object that failed to read, for the message.
    failed_kind: std::cell::RefCell<String>,
}

impl Progress {
    fn read<'de, R: ObjectReader<'de>, D: Deserializer<'de>>(
        &self,
        reader: &R,
        kind: &GroupVersionKind,
        object: D,
    ) -> Result<R::Object, D::Error> {
        self.in_object.set(true);
        let read = reader.read(kind, object);
        match &read {
            Ok(_) => self.in_object.set(false),
            Err(_) => *self.failed_kind.borrow_mut() = kind.kind.to_string(),
        }
        read
    }
}

struct ReviewSeed<'r, R> {
    reader: &'r R,
    progress: &'r Progress,
}

impl<'de, R: ObjectReader<'de>> DeserializeSeed<'de> for ReviewSeed<'_, R> {
    type Value = ReviewIn<'de, R::Object>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de, R: ObjectReader<'de>> Visitor<'de> for ReviewSeed<'_, R> {
    type Value = ReviewIn<'de, R::Object>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an AdmissionReview object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut review = ReviewIn {
            api_version: None,
            kind: None,
            request: None,
        };
        while let Some(field) = map.next_key()? {
            match field {
                ReviewField::ApiVersion => {
                    review.api_version = map.next_value::<Option<Text>>()?.map(|t| t.0);
                }
                ReviewField::Kind => review.kind = map.next_value::<Option<Text>>()?.map(|t| t.0),
                ReviewField::Request => {
                    review.request = map.next_value_seed(Nullable(RequestSeed {
                        reader: self.reader,
                        progress: self.progress,
                    }))?;
                }
                ReviewField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(review)
    }
}

/// A value that may be `null`, read with the seed `S` when it is not.
struct Nullable<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Nullable<S> {
    type Value = Option<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Nullable<S> {
    type Value = Option<S::Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(de).map(Some)
    }
}

struct RequestSeed<'r, R> {
    reader: &'r R,
    progress: &'r Progress,
}

impl<'de, R: ObjectReader<'de>> DeserializeSeed<'de> for RequestSeed<'_, R> {
    type Value = Request<'de, R::Object>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

/// Reads the object with the reader, marking the progress while it does.
struct ObjectSeed<'r, 'k, 'de, R> {
    reader: &'r R,
    progress: &'r Progress,
    kind: &'k GroupVersionKind<'de>,
}

impl<'de, R: ObjectReader<'de>> DeserializeSeed<'de> for ObjectSeed<'_, '_, 'de, R> {
    type Value = R::Object;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.progress.read(self.reader, self.kind, de)
    }
}

impl<'de, R: ObjectReader<'de>> Visitor<'de> for RequestSeed<'_, R> {
    type Value = Request<'de, R::Object>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an AdmissionRequest object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error as _;
        let (mut uid, mut kind, mut operation) = (None, None::<GroupVersionKind>, None);
        let (mut namespace, mut name, mut sub_resource, mut dry_run) = (None, None, None, None);
        let mut object = RequestObject::Absent;
        // An object met before the fields that say whether it is wanted.
        let mut early: Option<&'de RawValue> = None;
        while let Some(field) = map.next_key()? {
            match field {
                RequestField::Uid => uid = Some(map.next_value::<Text>()?.0),
                RequestField::Kind => kind = Some(map.next_value()?),
                RequestField::Operation => operation = Some(map.next_value()?),
                RequestField::Namespace => {
                    namespace = map.next_value::<Option<Text>>()?.map(|t| t.0)
                }
                RequestField::Name => name = map.next_value::<Option<Text>>()?.map(|t| t.0),
                RequestField::SubResource => {
                    sub_resource = map.next_value::<Option<Text>>()?.map(|t| t.0);
                }
                RequestField::DryRun => dry_run = map.next_value()?,
                RequestField::Object => match (&kind, operation) {
                    (Some(kind), Some(operation)) => {
                        object = if self.reader.wants(kind, operation, sub_resource.as_deref()) {
                            let seed = ObjectSeed {
                                reader: self.reader,
                                progress: self.progress,
                                kind,
                            };
                            map.next_value_seed(Nullable(seed))?
                                .map_or(RequestObject::Absent, RequestObject::Read)
                        } else {
                            match map.next_value::<Option<IgnoredAny>>()? {
                                Some(_) => RequestObject::Skipped,
                                None => RequestObject::Absent,
                            }
                        };
                    }
                    _ => early = map.next_value::<Option<&'de RawValue>>()?,
                },
                RequestField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let uid = uid.ok_or_else(|| A::Error::missing_field("uid"))?;
        let kind = kind.ok_or_else(|| A::Error::missing_field("kind"))?;
        let operation = operation.ok_or_else(|| A::Error::missing_field("operation"))?;
        if let Some(raw) = early.filter(|raw| raw.get() != "null") {
            object = if self.reader.wants(&kind, operation, sub_resource.as_deref()) {
                let mut parser = serde_json::Deserializer::from_str(raw.get());
                let read = (self.progress)
                    .read(self.reader, &kind, &mut parser)
                    .map_err(A::Error::custom)?;
                RequestObject::Read(read)
            } else {
                RequestObject::Skipped
            };
        }
        Ok(Request {
            uid,
            kind,
            operation,
            namespace,
            name,
            sub_resource,
            dry_run,
            object,
        })
    }
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
        let RequestObject::Read(object) = review.request.object else {
            panic!("object not read: {:?}", review.request.object);
        };
        assert_eq!(object.get(), r#"{"metadata":{}}"#);
    }

    /// Counts how the reader was used and reads the object as a `Value`.
    struct ValueReader;

    impl<'de> ObjectReader<'de> for ValueReader {
        type Object = Value;
        fn wants(&self, kind: &GroupVersionKind, op: Operation, sub: Option<&str>) -> bool {
            kind.kind == "Pod" && op == Operation::Create && sub.is_none()
        }
        fn read<D: Deserializer<'de>>(
            &self,
            _: &GroupVersionKind,
            object: D,
        ) -> Result<Value, D::Error> {
            Value::deserialize(object)
        }
    }

    #[test]
    fn the_object_is_read_in_any_field_order() {
        let object = json!({"metadata": {"name": "a"}, "spec": {"containers": []}});
        for body in [
            // The API server's order: kind and operation first.
            format!(
                r#"{{"request":{{"uid":"1","kind":{{"kind":"Pod"}},"operation":"CREATE","object":{object}}}}}"#
            ),
            // Object first: read after the request's other fields.
            format!(
                r#"{{"request":{{"object":{object},"uid":"1","operation":"CREATE","kind":{{"kind":"Pod"}}}}}}"#
            ),
        ] {
            let review = Review::decode_with(body.as_bytes(), &ValueReader).unwrap();
            match review.request.object {
                RequestObject::Read(read) => assert_eq!(read, object),
                other => panic!("{other:?} for {body}"),
            }
        }
    }

    #[test]
    fn unwanted_and_missing_objects_are_told_apart() {
        let update = r#"{"request":{"uid":"1","kind":{"kind":"Pod"},"operation":"UPDATE","object":{"a":1}}}"#;
        let review = Review::decode_with(update.as_bytes(), &ValueReader).unwrap();
        assert!(matches!(review.request.object, RequestObject::Skipped));
        for absent in [
            r#"{"request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE"}}"#,
            r#"{"request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":null}}"#,
            r#"{"request":{"object":null,"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE"}}"#,
        ] {
            let review = Review::decode_with(absent.as_bytes(), &ValueReader).unwrap();
            assert!(
                matches!(review.request.object, RequestObject::Absent),
                "{absent}"
            );
        }
    }

    #[test]
    fn an_object_the_reader_refuses_is_an_invalid_object_not_an_invalid_review() {
        struct Strict;
        impl<'de> ObjectReader<'de> for Strict {
            type Object = Vec<u8>;
            fn wants(&self, _: &GroupVersionKind, _: Operation, _: Option<&str>) -> bool {
                true
            }
            fn read<D: Deserializer<'de>>(
                &self,
                _: &GroupVersionKind,
                object: D,
            ) -> Result<Vec<u8>, D::Error> {
                Vec::deserialize(object)
            }
        }
        for body in [
            r#"{"request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":{"a":1}}}"#,
            r#"{"request":{"object":{"a":1},"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE"}}"#,
        ] {
            let error = Review::decode_with(body.as_bytes(), &Strict).unwrap_err();
            assert!(
                matches!(&error, AdmissionError::InvalidObject { kind, .. } if kind == "Pod"),
                "{error}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("request.object is not a valid Pod: "),
                "{error}"
            );
        }
        // A broken review around a fine object is the review's fault.
        let error = Review::decode_with(br#"{"request":{"uid":1}}"#, &Strict).unwrap_err();
        assert!(matches!(error, AdmissionError::Malformed(_)), "{error}");
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
            serde_json::from_slice(&encode(&review, &Answer::default()).unwrap()).unwrap();
        assert_eq!(empty["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(empty["kind"], "AdmissionReview");
        assert_eq!(empty["response"]["uid"], "1234");
        assert_eq!(empty["response"]["allowed"], true);
        assert!(empty["response"].get("patch").is_none());
        assert!(empty["response"].get("patchType").is_none());
        assert!(empty["response"].get("warnings").is_none());

        let answer = Answer {
            patch: br#"[{"op":"add","path":"/a","value":1}]"#.to_vec(),
            warnings: vec!["lameduck: x".into(), "y".repeat(1000)],
            audit_annotations: BTreeMap::from([("plan", "p".to_string())]),
        };
        let full: Value = serde_json::from_slice(&encode(&review, &answer).unwrap()).unwrap();
        assert_eq!(full["response"]["patchType"], "JSONPatch");
        let patch = base64::engine::general_purpose::STANDARD
            .decode(full["response"]["patch"].as_str().unwrap())
            .unwrap();
        assert_eq!(patch, answer.patch);
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
