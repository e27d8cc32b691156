use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

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
    let update =
        r#"{"request":{"uid":"1","kind":{"kind":"Pod"},"operation":"UPDATE","object":{"a":1}}}"#;
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
    let empty: Value = serde_json::from_slice(&encode(&review, &Answer::default())).unwrap();
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
    let full: Value = serde_json::from_slice(&encode(&review, &answer)).unwrap();
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

/// The answer as serde wrote it before it was written by hand: the reference the
/// hand-written encoder must match byte for byte.
fn encode_with_serde(review: &Review, answer: &Answer) -> Vec<u8> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out<'a> {
        api_version: &'a str,
        kind: &'static str,
        response: Response<'a>,
    }
    #[derive(serde::Serialize)]
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
    let patch = (!answer.patch.is_empty())
        .then(|| base64::engine::general_purpose::STANDARD.encode(&answer.patch));
    let warnings: Vec<String> = (answer.warnings.iter().take(12))
        .map(|w| crate::text::cut_with_ellipsis(w, 240).into_owned())
        .collect();
    serde_json::to_vec(&Out {
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
    })
    .unwrap()
}

#[test]
fn the_answer_is_byte_for_byte_what_serde_writes() {
    let mut request = minimal_request();
    request["uid"] = json!("u\"i\\d\n\u{1}ü");
    let body = review_body(request);
    let review = Review::decode(&body).unwrap();
    let answers = [
        Answer::default(),
        Answer {
            patch: br#"[{"op":"add","path":"/a","value":"\u2028"}]"#.to_vec(),
            warnings: (0..20).map(|i| format!("w{i} \"q\" \t…")).collect(),
            audit_annotations: BTreeMap::from([("plan", "p\n".to_string()), ("z", String::new())]),
        },
        Answer {
            patch: vec![b'x'; 7],
            warnings: vec!["y".repeat(1000)],
            audit_annotations: BTreeMap::new(),
        },
    ];
    for answer in answers {
        assert_eq!(
            String::from_utf8(encode(&review, &answer)).unwrap(),
            String::from_utf8(encode_with_serde(&review, &answer)).unwrap()
        );
    }
}
