//! Writing lameduck's changes into a YAML document's own text, so that what it did not
//! touch (comments, flow style, quoting, blank lines) stays as the user wrote it.
//!
//! The changes are the webhook's JSON Patch operations: adding a key to a mapping
//! (`lifecycle`, `preStop`, `terminationGracePeriodSeconds`, the status annotation),
//! appending a mapping to a block sequence (the waiter to `containers`), replacing a
//! scalar, removing a key. Each is made on the text at the positions the
//! parser reports, and the text is read again before the next one. Anything else (a
//! flow mapping to change, a key sharing its line with a `- `, anchors and aliases) is
//! left to the caller, which writes the document anew; so is any result that does not
//! read back as exactly the patched value.

use json_patch::PatchOperation;
use serde_json::{Value, json};

use super::yaml::{self, Entry, Pos};

/// One operation, with its path from the document's root.
#[derive(Debug, Clone)]
pub struct Edit {
    pub path: Vec<String>,
    /// `None` removes the key.
    pub value: Option<Value>,
}

/// The document's operations with the path from the document's root: `prefix` leads
/// from the document to the object (`items/3` in a `List`).
pub(super) fn edits_of(prefix: &[String], ops: &[PatchOperation]) -> Option<Vec<Edit>> {
    ops.iter()
        .map(|op| {
            let (path, value) = match op {
                PatchOperation::Add(add) => (&add.path, Some(add.value.clone())),
                PatchOperation::Remove(remove) => (&remove.path, None),
                _ => return None,
            };
            let mut full = prefix.to_vec();
            full.extend(path.tokens().map(|t| t.decoded().into_owned()));
            Some(Edit { path: full, value })
        })
        .collect()
}

/// `region` (one document's text) with `edits` made in place, when it reads back as
/// `expected`; `None` when the document must be written anew.
pub(super) fn apply(region: &str, edits: &[Edit], expected: &Value) -> Option<String> {
    let mut text = region.to_string();
    for edit in edits {
        let pos = single_document(&text)?.1?;
        text = apply_one(&text, &pos, edit)?;
    }
    let (value, _) = single_document(&text)?;
    (value == *expected).then_some(text)
}

fn single_document(text: &str) -> Option<(Value, Option<Pos>)> {
    let mut documents = yaml::parse(text).ok()?;
    if documents.len() != 1 {
        return None;
    }
    let document = documents.pop()?;
    Some((document.value, document.pos))
}

fn apply_one(text: &str, root: &Pos, edit: &Edit) -> Option<String> {
    let (key, parents) = edit.path.split_last()?;
    let mut at = root;
    for token in parents {
        at = match at {
            Pos::Mapping { entries, .. } => &entries.iter().find(|e| e.key == *token)?.value,
            Pos::Sequence { items, .. } => items.get(token.parse::<usize>().ok()?)?,
            Pos::Scalar(_) => return None,
        };
    }
    if let (
        Pos::Sequence {
            block: true, items, ..
        },
        "-",
        Some(value),
    ) = (at, key.as_str(), &edit.value)
    {
        return append_item(text, items, value);
    }
    let Pos::Mapping {
        block: true,
        entries,
        ..
    } = at
    else {
        return None;
    };
    let column = column_of(text, entries.first()?.key_start);
    let existing = entries.iter().find(|e| e.key == *key);
    let mut out = text.to_string();
    match (&edit.value, existing) {
        // A scalar replaced by a scalar: only the value's text changes.
        (
            Some(value),
            Some(Entry {
                value: Pos::Scalar(range),
                ..
            }),
        ) if !value.is_object() && !value.is_array() => {
            let rendered = serde_saphyr::to_string(value).ok()?;
            let rendered = rendered.trim_end_matches('\n');
            if rendered.contains('\n') {
                return None;
            }
            out.replace_range(range.clone(), rendered);
        }
        (Some(value), Some(entry)) => {
            let lines = entry_lines(text, entry)?;
            out.replace_range(lines, &entry_text(key, value, column)?);
        }
        (Some(value), None) => {
            let after = entry_lines(text, entries.last()?)?.end;
            let mut insert = String::new();
            if after == text.len() && !text.ends_with('\n') {
                insert.push('\n');
            }
            insert.push_str(&entry_text(key, value, column)?);
            out.insert_str(after, &insert);
        }
        (None, Some(entry)) if entries.len() > 1 => {
            out.replace_range(entry_lines(text, entry)?, "");
        }
        (None, _) => return None,
    }
    Some(out)
}

/// `value` appended to a block sequence of mappings, its `- ` in the column of the last
/// item's (`containers/-`, the waiter).
fn append_item(text: &str, items: &[Pos], value: &Value) -> Option<String> {
    let Pos::Mapping { entries, .. } = items.last()? else {
        return None;
    };
    let first_key = entries.first()?.key_start;
    let start = line_start(text, first_key);
    let prefix = &text[start..first_key];
    let dash = prefix.find('-')?;
    if !prefix[..dash].bytes().all(|b| b == b' ') || !prefix[dash + 1..].bytes().all(|b| b == b' ')
    {
        return None;
    }
    let after = entry_lines(text, entries.last()?)?.end;
    let rendered = serde_saphyr::to_string(&json!([value])).ok()?;
    let indent = " ".repeat(dash);
    let mut insert = String::new();
    if after == text.len() && !text.ends_with('\n') {
        insert.push('\n');
    }
    for line in rendered.lines() {
        if !line.is_empty() {
            insert.push_str(&indent);
        }
        insert.push_str(line);
        insert.push('\n');
    }
    let mut out = text.to_string();
    out.insert_str(after, &insert);
    Some(out)
}

/// The column of the key at byte `at`.
fn column_of(text: &str, at: usize) -> usize {
    at - line_start(text, at)
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The whole lines an entry occupies, up to and including the newline after its value
/// (and any comment on that line). `None` when something else shares its first line
/// (`- name: x`).
fn entry_lines(text: &str, entry: &Entry) -> Option<std::ops::Range<usize>> {
    let start = line_start(text, entry.key_start);
    if !text[start..entry.key_start].bytes().all(|b| b == b' ') {
        return None;
    }
    let end = entry.value.end().max(entry.key_start);
    let end = if end > 0 && text.as_bytes().get(end - 1) == Some(&b'\n') {
        end
    } else {
        text[end..].find('\n').map_or(text.len(), |i| end + i + 1)
    };
    Some(start..end)
}

/// `key: value` as block YAML, every line indented by `column`.
fn entry_text(key: &str, value: &Value, column: usize) -> Option<String> {
    let rendered = serde_saphyr::to_string(&json!({ key: value })).ok()?;
    let indent = " ".repeat(column);
    let mut out = String::new();
    for line in rendered.lines() {
        if !line.is_empty() {
            out.push_str(&indent);
        }
        out.push_str(line);
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(path: &str, value: Option<Value>) -> Edit {
        Edit {
            path: path.split('/').map(str::to_string).collect(),
            value,
        }
    }

    #[test]
    fn a_mapping_is_appended_to_a_block_sequence_in_place() {
        let text = "spec:\n  containers:\n    - name: app   # the app\n      image: shop/app:1\n  volumes: []\n";
        let waiter = json!({"name": "lameduck-waiter", "args": ["waiter", "--port=9471"]});
        let mut expected = yaml::parse(text).unwrap()[0].value.clone();
        expected["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(waiter.clone());
        let out = apply(text, &[edit("spec/containers/-", Some(waiter))], &expected)
            .expect("appended in place");
        assert_eq!(
            out,
            "spec:\n  containers:\n    - name: app   # the app\n      image: shop/app:1\n    - name: lameduck-waiter\n      args:\n      - waiter\n      - --port=9471\n  volumes: []\n"
        );
    }

    #[test]
    fn an_item_follows_the_lists_own_indentation_or_the_document_is_written_anew() {
        let waiter = json!({"name": "w", "image": "i"});
        let append = |text: &str| {
            let mut expected = yaml::parse(text).unwrap()[0].value.clone();
            expected["spec"]["containers"]
                .as_array_mut()
                .unwrap()
                .push(waiter.clone());
            apply(
                text,
                &[edit("spec/containers/-", Some(waiter.clone()))],
                &expected,
            )
        };
        assert_eq!(
            append("spec:\n  containers:\n  - name: app\n    image: a:1\n").as_deref(),
            Some(
                "spec:\n  containers:\n  - name: app\n    image: a:1\n  - name: w\n    image: i\n"
            )
        );
        // Flow style, or an item on one line: left to the caller.
        assert_eq!(
            append("spec:\n  containers:\n  - {name: app, image: a:1}\n"),
            None
        );
        assert_eq!(append("spec:\n  containers: [{name: app}]\n"), None);
        assert_eq!(append("spec:\n  containers:\n  - name: app\n"), None);
    }

    #[test]
    fn keys_are_added_replaced_and_removed_in_place() {
        let text = "# pod\nspec:\n  terminationGracePeriodSeconds: 30 # keep me\n  containers:\n  - name: app   # the app\n    image: shop/app:1\n    ports: [{containerPort: 80}]\n  volumes: []\n";
        let edits = [
            edit("spec/terminationGracePeriodSeconds", Some(json!(40))),
            edit(
                "spec/containers/0/lifecycle",
                Some(json!({"preStop": {"sleep": {"seconds": 10}}})),
            ),
        ];
        let mut expected = yaml::parse(text).unwrap()[0].value.clone();
        expected["spec"]["terminationGracePeriodSeconds"] = json!(40);
        expected["spec"]["containers"][0]["lifecycle"] =
            json!({"preStop": {"sleep": {"seconds": 10}}});
        let out = apply(text, &edits, &expected).expect("edited in place");
        assert_eq!(
            out,
            "# pod\nspec:\n  terminationGracePeriodSeconds: 40 # keep me\n  containers:\n  - name: app   # the app\n    image: shop/app:1\n    ports: [{containerPort: 80}]\n    lifecycle:\n      preStop:\n        sleep:\n          seconds: 10\n  volumes: []\n"
        );

        let removed = apply(
            &out,
            &[edit("spec/containers/0/lifecycle", None)],
            &yaml::parse(text).unwrap()[0].value.clone().tap(|v| {
                v["spec"]["terminationGracePeriodSeconds"] = json!(40);
            }),
        );
        assert_eq!(
            removed.as_deref(),
            Some(
                "# pod\nspec:\n  terminationGracePeriodSeconds: 40 # keep me\n  containers:\n  - name: app   # the app\n    image: shop/app:1\n    ports: [{containerPort: 80}]\n  volumes: []\n"
            )
        );
    }

    #[test]
    fn what_cannot_be_done_in_place_is_refused() {
        let text = "spec: {containers: []}\n";
        let expected = json!({"spec": {"containers": [], "x": 1}});
        assert_eq!(
            apply(text, &[edit("spec/x", Some(json!(1)))], &expected),
            None
        );
    }

    proptest::proptest! {
        /// Whatever the text and the edits, reading and editing never panic, and an
        /// edit that is made reads back as the expected value.
        #[test]
        fn any_text_any_edit_never_panics(
            text in "([a-c]|: |- |\\n|  |#|\\{|\\}|\\[|\\]|, |&x|\\*x|<<|'|\"|\\||>|é)*",
            path in proptest::collection::vec("[a-c]|0|1", 1..4),
            remove in proptest::bool::ANY,
        ) {
            let edits = [Edit {
                path,
                value: (!remove).then(|| json!({"k": [1, "yes"]})),
            }];
            if let Ok(documents) = yaml::parse(&text) {
                for document in documents {
                    let region = &text[document.span.clone()];
                    if let Some(edited) = apply(region, &edits, &document.value) {
                        let again = yaml::parse(&edited).unwrap();
                        proptest::prop_assert_eq!(&again[0].value, &document.value);
                    }
                }
            }
        }
    }

    trait Tap: Sized {
        fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
    }
    impl Tap for Value {
        fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
            f(&mut self);
            self
        }
    }
}
