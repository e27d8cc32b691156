//! AdmissionReview bodies as the API server sends them: the full `admission.k8s.io/v1`
//! envelope, with the kind and resource taken from the object itself. The one builder
//! every test uses, so that a field the API server sends is added in one place.
//!
//! Tests that send malformed reviews on purpose keep their literal bytes instead.
//!
//! It needs nothing but `serde_json`, so the fuzz targets include it by `#[path]` too.

// Each includer uses some of the builder.
#![allow(dead_code)]

use serde_json::{Map, Value, json};

/// The user the API server names for pods a ReplicaSet creates, the common case.
const CONTROLLER: &str = "system:serviceaccount:kube-system:replicaset-controller";

/// An AdmissionReview request under construction; [`ReviewBody::to_vec`] gives its bytes.
#[derive(Debug, Clone)]
pub(crate) struct ReviewBody {
    uid: String,
    operation: String,
    group: String,
    version: String,
    kind: String,
    name: Option<String>,
    namespace: String,
    sub_resource: Option<String>,
    object: Value,
    old_object: Value,
    dry_run: bool,
}

impl ReviewBody {
    /// A CREATE of `object`. Its kind comes from its `apiVersion` and `kind` (a core/v1
    /// Pod when it names none, as hostile objects do), its name and namespace from its
    /// metadata (namespace `default` when it has none, as `kubectl create` fills in).
    pub(crate) fn create(object: Value) -> Self {
        let (group, version) = match object["apiVersion"].as_str() {
            Some(api_version) => match api_version.rsplit_once('/') {
                Some((group, version)) => (group.to_string(), version.to_string()),
                None => (String::new(), api_version.to_string()),
            },
            None => (String::new(), "v1".to_string()),
        };
        let kind = object["kind"].as_str().unwrap_or("Pod").to_string();
        let name = object["metadata"]["name"].as_str().map(str::to_string);
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        ReviewBody {
            uid: "705ab4f5-6393-11e8-b7cc-42010a800002".to_string(),
            operation: "CREATE".to_string(),
            group,
            version,
            kind,
            name,
            namespace,
            sub_resource: None,
            object,
            old_object: Value::Null,
            dry_run: false,
        }
    }

    /// An UPDATE of `old` to `object`.
    pub(crate) fn update(object: Value, old: Value) -> Self {
        Self::create(object).operation("UPDATE").old_object(old)
    }

    pub(crate) fn uid(mut self, uid: &str) -> Self {
        self.uid = uid.to_string();
        self
    }

    pub(crate) fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_string();
        self
    }

    /// Another operation on the same object (`DELETE`, `CONNECT`), for what the webhook
    /// must leave alone whatever the object says.
    pub(crate) fn operation(mut self, operation: &str) -> Self {
        self.operation = operation.to_string();
        self
    }

    /// The kind the request names, when it is not the one the object says (or the object
    /// says none).
    pub(crate) fn kind(mut self, group: &str, version: &str, kind: &str) -> Self {
        self.group = group.to_string();
        self.version = version.to_string();
        self.kind = kind.to_string();
        self
    }

    pub(crate) fn sub_resource(mut self, sub_resource: &str) -> Self {
        self.sub_resource = Some(sub_resource.to_string());
        self
    }

    pub(crate) fn old_object(mut self, old: Value) -> Self {
        self.old_object = old;
        self
    }

    pub(crate) fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// The review as JSON.
    pub(crate) fn to_value(&self) -> Value {
        let gvk = json!({"group": self.group, "version": self.version, "kind": self.kind});
        // The plural the API server serves every kind a test sends under.
        let resource = format!("{}s", self.kind.to_lowercase());
        let gvr = json!({"group": self.group, "version": self.version, "resource": resource});
        let options = match self.operation.as_str() {
            "CREATE" => json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}),
            "UPDATE" => json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}),
            "DELETE" => json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}),
            _ => Value::Null,
        };
        let mut request = Map::new();
        request.insert("uid".into(), json!(self.uid));
        request.insert("kind".into(), gvk.clone());
        request.insert("resource".into(), gvr.clone());
        if let Some(sub_resource) = &self.sub_resource {
            request.insert("subResource".into(), json!(sub_resource));
        }
        request.insert("requestKind".into(), gvk);
        request.insert("requestResource".into(), gvr);
        if let Some(sub_resource) = &self.sub_resource {
            request.insert("requestSubResource".into(), json!(sub_resource));
        }
        if let Some(name) = &self.name {
            request.insert("name".into(), json!(name));
        }
        request.insert("namespace".into(), json!(self.namespace));
        request.insert("operation".into(), json!(self.operation));
        request.insert(
            "userInfo".into(),
            json!({"username": CONTROLLER, "groups": ["system:serviceaccounts", "system:authenticated"]}),
        );
        request.insert("object".into(), self.object.clone());
        request.insert("oldObject".into(), self.old_object.clone());
        request.insert("dryRun".into(), json!(self.dry_run));
        request.insert("options".into(), options);
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        })
    }

    /// The review's bytes, as they arrive in the request body.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).expect("a JSON value serializes")
    }
}
