//! The one pass over the body: serde seeds that read the review and its request field by
//! field, and hand `request.object` to the caller's `ObjectReader` the moment it is met.

use std::borrow::Cow;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::{GroupVersionKind, ObjectReader, Request, RequestObject};

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

pub(super) struct ReviewIn<'a, O> {
    pub(super) api_version: Option<Cow<'a, str>>,
    pub(super) kind: Option<Cow<'a, str>>,
    pub(super) request: Option<Request<'a, O>>,
}

/// Set while the reader parses the object, so a failure there is reported as an invalid
/// object rather than an invalid review.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) in_object: std::cell::Cell<bool>,
    /// The kind of the object that failed to read, for the message.
    pub(super) failed_kind: std::cell::RefCell<String>,
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

pub(super) struct ReviewSeed<'r, R> {
    pub(super) reader: &'r R,
    pub(super) progress: &'r Progress,
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
