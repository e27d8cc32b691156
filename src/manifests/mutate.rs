//! `lameduck mutate`: every pod template patched as the webhook would patch it on CREATE;
//! everything else left as it was. A KRM `ResourceList` gets its warnings as `results`.

use serde_json::{Map, Value, json};

use json_patch::PatchOperation;

use super::edit::{self, Edit};
use super::input::Source;
use super::{Collection, ManifestError, Note, ObjectRef, collection, for_each_object, plan_object};
use crate::plan::Settings;

/// What a mutation pass found worth telling.
#[derive(Debug, Default)]
pub(super) struct Mutated {
    /// Every warning, in input order.
    pub notes: Vec<Note>,
}

/// Mutates every document of every source in place.
///
/// `strict` only changes the KRM `results` severity: with it, warnings are `error`s, so
/// kpt and kustomize report the failed run the same way the exit code does.
pub(super) fn mutate(
    sources: &mut [Source],
    settings: &Settings,
    strict: bool,
) -> Result<Mutated, ManifestError> {
    let mut mutated = Mutated::default();
    for source in sources {
        let mut source_edits = Vec::new();
        for (index, document) in source.documents.iter_mut().enumerate() {
            let first_note = mutated.notes.len();
            // The same changes as text edits, so the document can keep its layout.
            let mut edits = Some(Vec::new());
            let mut visit = |object: &mut Value, at: ObjectRef| {
                let prefix: Vec<String> = match at.item {
                    Some(item) => vec!["items".into(), (item - 1).to_string()],
                    None => Vec::new(),
                };
                let (results, ops) = mutate_object(object, at, settings)?;
                edits = edits.take().and_then(|mut all: Vec<Edit>| {
                    all.extend(edit::edits_of(&prefix, &ops)?);
                    Some(all)
                });
                mutated.notes.extend(results);
                Ok::<(), ManifestError>(())
            };
            for_each_object(document, &source.name, index + 1, &mut visit)?;
            if collection(document) == Some(Collection::ResourceList) {
                write_results(document, &mutated.notes[first_note..], strict);
                edits = None;
            }
            source_edits.push(edits);
        }
        source.set_edits(source_edits);
    }
    Ok(mutated)
}

/// Applies the injection to one object and returns its warnings and the operations.
fn mutate_object(
    object: &mut Value,
    at: ObjectRef,
    settings: &Settings,
) -> Result<(Vec<Note>, Vec<PatchOperation>), ManifestError> {
    let Some(planned) = plan_object(object, at, settings)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let ops = planned.injection.patch.0.clone();
    json_patch::patch(object, &ops).map_err(|error| ManifestError::Patch {
        object: planned.object.to_string(),
        message: error.to_string(),
    })?;
    let notes = planned
        .injection
        .planned
        .warnings
        .into_iter()
        .map(|warning| Note {
            object: planned.object.clone(),
            warning,
        })
        .collect();
    Ok((notes, ops))
}

/// Writes one `results` entry per warning, in the `config.kubernetes.io/v1` shape:
/// `message`, `severity`, `resourceRef` and, when the orchestrator annotated the item
/// with where it came from, `file`. Results from other functions are kept; lameduck's
/// own from an earlier run (their message starts with `lameduck: `) are replaced, so
/// running the function twice gives the same output.
fn write_results(resource_list: &mut Value, notes: &[Note], strict: bool) {
    let Some(list) = resource_list.as_object_mut() else {
        return;
    };
    let severity = if strict { "error" } else { "warning" };
    let items = list.get("items").and_then(Value::as_array).cloned();
    let new: Vec<Value> = notes
        .iter()
        .map(|note| {
            let mut result = Map::new();
            result.insert("message".into(), Value::String(note.warning.to_string()));
            result.insert("severity".into(), Value::String(severity.into()));
            result.insert("resourceRef".into(), resource_ref(&note.object));
            let item = note
                .object
                .item
                .and_then(|i| items.as_ref()?.get(i.checked_sub(1)?));
            if let Some(file) = item.and_then(file_ref) {
                result.insert("file".into(), file);
            }
            Value::Object(result)
        })
        .collect();
    // Edited in place so the key keeps its position; a `results` that is not a list is
    // not valid in a ResourceList, and ours replaces it.
    match list.get_mut("results") {
        Some(Value::Array(results)) => {
            results.retain(|r| !is_ours(r));
            results.extend(new);
            if results.is_empty() {
                list.shift_remove("results");
            }
        }
        _ if new.is_empty() => {}
        _ => {
            list.insert("results".into(), Value::Array(new));
        }
    }
}

fn is_ours(result: &Value) -> bool {
    result
        .get("message")
        .and_then(Value::as_str)
        .is_some_and(|message| message.starts_with("lameduck: "))
}

fn resource_ref(object: &ObjectRef) -> Value {
    let mut reference = Map::new();
    reference.insert("apiVersion".into(), json!(object.api_version));
    reference.insert("kind".into(), json!(object.kind));
    if let Some(name) = &object.name {
        reference.insert("name".into(), json!(name));
    }
    if let Some(namespace) = &object.namespace {
        reference.insert("namespace".into(), json!(namespace));
    }
    Value::Object(reference)
}

/// `file: {path, index}` from the annotations kustomize and kpt put on each item (the
/// `internal.` spelling is the current one, the plain one the legacy one).
fn file_ref(item: &Value) -> Option<Value> {
    let annotations = item.get("metadata")?.get("annotations")?;
    let annotation = |key: &str| {
        annotations
            .get(format!("internal.config.kubernetes.io/{key}"))
            .or_else(|| annotations.get(format!("config.kubernetes.io/{key}")))
            .and_then(Value::as_str)
    };
    let path = annotation("path")?;
    let mut file = Map::new();
    file.insert("path".into(), json!(path));
    if let Some(index) = annotation("index").and_then(|i| i.parse::<u64>().ok()) {
        file.insert("index".into(), json!(index));
    }
    Some(Value::Object(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::input::Format;

    fn source(documents: Vec<Value>) -> Source {
        Source::from_values("t.yaml", Format::Yaml, documents)
    }

    fn deployment(name: &str, containers: Value, annotations: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"template": {
                "metadata": {"annotations": annotations},
                "spec": {"containers": containers},
            }},
        })
    }

    #[test]
    fn templates_are_mutated_and_other_objects_left_alone() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
        let web = deployment(
            "web",
            json!([{"name": "nginx", "image": "nginx"}, {"name": "app", "image": "app"}]),
            json!({}),
        );
        let mut sources = [source(vec![service.clone(), web])];
        let mutated = mutate(&mut sources, &Settings::default(), false).unwrap();
        assert!(mutated.notes.is_empty());
        let [service_out, web_out] = &sources[0].documents[..] else {
            panic!("two documents");
        };
        assert_eq!(*service_out, service);
        let template = &web_out["spec"]["template"];
        assert_eq!(template["spec"]["terminationGracePeriodSeconds"], 45);
        let sleeps: Vec<&Value> = (0..2)
            .map(|i| &template["spec"]["containers"][i]["lifecycle"]["preStop"]["sleep"]["seconds"])
            .collect();
        assert_eq!(sleeps, [&json!(10), &json!(15)]);
    }

    #[test]
    fn resource_list_warnings_become_results_with_references() {
        let mut own_hook = deployment(
            "web",
            json!([{"name": "app", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}}]),
            json!({}),
        );
        own_hook["metadata"]["namespace"] = json!("shop");
        own_hook["metadata"]["annotations"] = json!({
            "internal.config.kubernetes.io/path": "web.yaml",
            "internal.config.kubernetes.io/index": "2",
        });
        let earlier = json!({"message": "from an earlier function", "severity": "info"});
        let list = json!({
            "apiVersion": "config.kubernetes.io/v1",
            "kind": "ResourceList",
            "items": [own_hook],
            "results": [earlier],
        });
        let mut sources = [source(vec![list])];
        let mutated = mutate(&mut sources, &Settings::default(), false).unwrap();
        assert_eq!(mutated.notes.len(), 1);
        let results = &sources[0].documents[0]["results"];
        assert_eq!(results[0], earlier);
        assert_eq!(results[1]["severity"], "warning");
        assert_eq!(
            results[1]["resourceRef"],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop"})
        );
        assert_eq!(results[1]["file"], json!({"path": "web.yaml", "index": 2}));
        assert!(
            results[1]["message"]
                .as_str()
                .unwrap()
                .starts_with("lameduck: container \"app\" has its own preStop")
        );
    }

    #[test]
    fn our_earlier_results_are_replaced_and_dropped_when_fixed() {
        let web = deployment(
            "web",
            json!([{"name": "app"}]),
            json!({"lameduck.dev/sleep": "soon"}),
        );
        let list = json!({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
            "results": [{"message": "other", "severity": "info"}], "items": [web]});
        let mut sources = [source(vec![list])];
        mutate(&mut sources, &Settings::default(), false).unwrap();
        mutate(&mut sources, &Settings::default(), false).unwrap();
        let document = &mut sources[0].documents[0];
        assert_eq!(document["results"].as_array().unwrap().len(), 2);
        // The annotation fixed: our result goes, the other function's stays.
        // (Only that key: the status record must stay, or the injected hook looks like
        // the user's own.)
        let annotations = &mut document["items"][0]["spec"]["template"]["metadata"]["annotations"];
        annotations
            .as_object_mut()
            .unwrap()
            .shift_remove("lameduck.dev/sleep");
        mutate(&mut sources, &Settings::default(), false).unwrap();
        assert_eq!(
            sources[0].documents[0]["results"],
            json!([{"message": "other", "severity": "info"}])
        );
    }

    #[test]
    fn strict_resource_list_results_are_errors() {
        let web = deployment(
            "web",
            json!([{"name": "app"}]),
            json!({"lameduck.dev/sleep": "soon"}),
        );
        let list = json!({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [web]});
        let mut sources = [source(vec![list])];
        mutate(&mut sources, &Settings::default(), true).unwrap();
        assert_eq!(sources[0].documents[0]["results"][0]["severity"], "error");
    }

    #[test]
    fn a_second_pass_changes_nothing() {
        let web = deployment(
            "web",
            json!([{"name": "nginx"}, {"name": "app"}, {"name": "fluent-bit"}]),
            json!({"lameduck.dev/stagger": "3s"}),
        );
        let mut sources = [source(vec![web])];
        mutate(&mut sources, &Settings::default(), false).unwrap();
        let once = sources[0].documents.clone();
        mutate(&mut sources, &Settings::default(), false).unwrap();
        assert_eq!(sources[0].documents, once);
    }
}
