//! Offline commands over YAML/JSON manifests: `lameduck mutate` and `lameduck explain`.
//!
//! Both run the webhook's own code path (`workload` -> `inject`, CREATE semantics) on every
//! object that holds a pod template, with the same planning flags as `serve`. Objects are
//! found at the top of each document, in the `items` of a `v1 List`, and in the `items`
//! of a KRM `config.kubernetes.io/v1 ResourceList` (kustomize and kpt functions).
//!
//! Offline there is no cluster to ask, so `--action auto` means the native `sleep` action
//! (as the webhook decides when it cannot see the cluster) and namespace defaults do not
//! apply.

mod edit;
mod explain;
mod input;
mod mutate;
mod output;
pub mod yaml;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::inject::{self, Injection};
use crate::plan::{Environment, Settings, Warning};
use crate::workload::{PodTemplate, WorkloadKind};

pub use explain::{ExplainReport, TemplateReport};
pub use input::{Format, Source};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no input: give -f FILE (or -f - for stdin), or pipe manifests to stdin")]
    NoInput,
    #[error("-f - given more than once: stdin can be read only once")]
    StdinTwice,
    #[error("cannot read {name}")]
    Read {
        name: String,
        source: std::io::Error,
    },
    /// Lines and columns are 1-based; 0 when the parser could not tell.
    #[error("{name}:{line}:{column}: {message}")]
    Parse {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// An object of a kind lameduck plans whose pod template has the wrong shape (the
    /// webhook answers such a review with HTTP 400).
    #[error("{object}: invalid {kind}: {message}")]
    InvalidObject {
        object: String,
        kind: &'static str,
        message: String,
    },
    /// The injection's patch did not apply to the object it was computed from: a bug.
    #[error("{object}: internal error applying the patch: {message}")]
    Patch { object: String, message: String },
    #[error("writing the output: {0}")]
    Render(String),
}

/// `lameduck mutate` on files (`-` or none: stdin): the mutated manifests, and one note
/// per warning.
pub fn mutate_files(
    files: &[PathBuf],
    settings: &Settings,
    strict: bool,
) -> Result<Mutated, ManifestError> {
    let mut sources = input::read_all(files)?;
    let notes = mutate::mutate(&mut sources, settings, strict)?.notes;
    let text = output::render_sources(&sources)?;
    Ok(Mutated { text, notes })
}

/// What `lameduck mutate` has to say.
#[derive(Debug, Clone)]
pub struct Mutated {
    /// The manifests, for stdout.
    pub text: String,
    /// One per warning, for stderr.
    pub notes: Vec<Note>,
}

/// `lameduck explain` on files: the report, for the caller to render.
pub fn explain_files(
    files: &[PathBuf],
    settings: &Settings,
) -> Result<ExplainReport, ManifestError> {
    let mut sources = input::read_all(files)?;
    explain::explain(&mut sources, settings)
}

/// Where an object sits in the input: for messages, KRM results and `explain` (whose
/// JSON carries these fields under these names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// The file as given on the command line, or `<stdin>`.
    #[serde(rename = "file")]
    pub source: String,
    /// 1-based index of the document in its source (empty documents not counted).
    pub document: usize,
    /// 1-based index in the `items` of a `List` or `ResourceList`.
    pub item: Option<usize>,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl ObjectRef {
    fn of(object: &Value, source: &str, document: usize, item: Option<usize>) -> Self {
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
        let metadata = object.get("metadata");
        ObjectRef {
            source: source.to_string(),
            document,
            item,
            api_version: text(object.get("apiVersion")).unwrap_or_default(),
            kind: text(object.get("kind")).unwrap_or_default(),
            namespace: text(metadata.and_then(|m| m.get("namespace"))),
            name: text(metadata.and_then(|m| m.get("name"))),
        }
    }
}

/// `web.yaml: Deployment/web`, or by position when the object has no name.
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.source)?;
        match &self.name {
            Some(name) => write!(f, "{}/{name}", self.kind)?,
            None => {
                write!(f, "document {}", self.document)?;
                if let Some(item) = self.item {
                    write!(f, " item {item}")?;
                }
                write!(f, " ({})", self.kind)?;
            }
        }
        if let Some(namespace) = &self.namespace {
            write!(f, " in namespace {namespace}")?;
        }
        Ok(())
    }
}

/// A warning about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub object: ObjectRef,
    pub warning: Warning,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.warning)
    }
}

/// A pod template found in an object and planned on the webhook's code path.
#[derive(Debug, Clone)]
pub struct PlannedTemplate {
    pub object: ObjectRef,
    pub workload: WorkloadKind,
    pub template: PodTemplate,
    pub injection: Injection,
}

/// Plans the object if it is of a kind lameduck plans and has a pod template.
fn plan_object(
    object: &Value,
    at: ObjectRef,
    settings: &Settings,
) -> Result<Option<PlannedTemplate>, ManifestError> {
    let Some(workload) = WorkloadKind::from_api_version(&at.api_version, &at.kind) else {
        return Ok(None);
    };
    let template = match workload.read_template(object) {
        Ok(Some(template)) => template,
        Ok(None) => return Ok(None),
        Err(error) => {
            return Err(ManifestError::InvalidObject {
                object: at.to_string(),
                kind: workload.as_str(),
                message: error.to_string(),
            });
        }
    };
    // No cluster: no namespace defaults, and `auto` is the native sleep action.
    let injection = inject::inject(workload, &template, &Environment::default(), settings);
    Ok(Some(PlannedTemplate {
        object: at,
        workload,
        template,
        injection,
    }))
}

/// Documents that hold other objects in `items`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    /// `v1 List`, as `kubectl get -o yaml` writes.
    List,
    /// A KRM function's input and output.
    ResourceList,
}

fn collection(document: &Value) -> Option<Collection> {
    let field = |name: &str| document.get(name).and_then(Value::as_str);
    match (field("apiVersion"), field("kind")) {
        (Some("v1"), Some("List")) => Some(Collection::List),
        (Some("config.kubernetes.io/v1"), Some("ResourceList")) => Some(Collection::ResourceList),
        _ => None,
    }
}

/// Calls `visit` on every object of a document: the document itself, or each of the
/// `items` of a collection.
fn for_each_object<E>(
    document: &mut Value,
    source: &str,
    index: usize,
    visit: &mut impl FnMut(&mut Value, ObjectRef) -> Result<(), E>,
) -> Result<(), E> {
    if collection(document).is_some()
        && let Some(items) = document.get_mut("items").and_then(Value::as_array_mut)
    {
        for (item, object) in items.iter_mut().enumerate() {
            let at = ObjectRef::of(object, source, index, Some(item + 1));
            visit(object, at)?;
        }
        return Ok(());
    }
    let at = ObjectRef::of(document, source, index, None);
    visit(document, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_named_by_kind_and_name_or_by_position() {
        let named = json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}});
        let at = ObjectRef::of(&named, "a.yaml", 2, None);
        assert_eq!(at.to_string(), "a.yaml: Deployment/web in namespace shop");
        let anonymous = json!({"kind": "Pod", "metadata": {"generateName": "web-"}});
        let at = ObjectRef::of(&anonymous, "<stdin>", 1, Some(3));
        assert_eq!(at.to_string(), "<stdin>: document 1 item 3 (Pod)");
    }

    #[test]
    fn lists_and_resource_lists_are_walked_but_other_items_are_not() {
        let mut seen = Vec::new();
        let mut visit = |object: &mut Value, at: ObjectRef| -> Result<(), ()> {
            seen.push((at.item, object["kind"].clone()));
            Ok(())
        };
        let item = json!({"kind": "Pod"});
        let mut list = json!({"apiVersion": "v1", "kind": "List", "items": [item, item]});
        let mut krm = json!({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [item]});
        let mut other = json!({"apiVersion": "v1", "kind": "PodList", "items": [item]});
        for document in [&mut list, &mut krm, &mut other] {
            for_each_object(document, "f", 1, &mut visit).unwrap();
        }
        assert_eq!(
            seen,
            [
                (Some(1), json!("Pod")),
                (Some(2), json!("Pod")),
                (Some(1), json!("Pod")),
                (None, json!("PodList")),
            ]
        );
    }

    #[test]
    fn a_template_of_the_wrong_shape_is_an_error_naming_the_object() {
        let object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": "app"}});
        let at = ObjectRef::of(&object, "p.yaml", 1, None);
        let error = plan_object(&object, at, &Settings::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("p.yaml: Pod/p: invalid Pod: "),
            "{error}"
        );
    }

    #[test]
    fn other_kinds_are_not_planned() {
        let object = json!({"apiVersion": "v1", "kind": "Service", "spec": {"template": {}}});
        let at = ObjectRef::of(&object, "s.yaml", 1, None);
        assert!(
            plan_object(&object, at, &Settings::default())
                .unwrap()
                .is_none()
        );
    }
}
