//! Reading manifests: files or stdin, YAML or JSON, several documents each, keeping the
//! text of each so `output` can write back what did not change.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ManifestError;
use super::edit::Edit;
use super::yaml;

/// How a source is written. JSON is sniffed from the first character, so stdin works the
/// same as a file and a `.yaml` file holding JSON is still answered in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// One input file (or stdin) and its documents, in order.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name used in messages: the path as given, or `<stdin>`.
    pub name: String,
    pub format: Format,
    pub documents: Vec<Value>,
    /// YAML only: the text each document was read from, so one that comes out unchanged
    /// is written back exactly as it was (comments, flow style, quoting and all).
    pub original: Option<Original>,
}

/// The source text of a YAML stream and, per document, where it sits and what it read as.
#[derive(Debug, Clone)]
pub struct Original {
    pub(super) text: String,
    pub(super) documents: Vec<yaml::Document>,
    /// Per document, the changes made to it as patch operations, when that is all
    /// that changed; `None` when it must be written anew.
    pub(super) edits: Vec<Option<Vec<Edit>>>,
}

impl Source {
    /// Records what was changed in each document, so rendering can make the same
    /// changes in the text.
    pub fn set_edits(&mut self, edits: Vec<Option<Vec<Edit>>>) {
        if let Some(original) = &mut self.original {
            original.edits = edits;
        }
    }

    /// A source with no text to write back: every document is rendered.
    pub fn from_values(name: &str, format: Format, documents: Vec<Value>) -> Self {
        Source {
            name: name.to_string(),
            format,
            documents,
            original: None,
        }
    }
}

/// The name stdin gets in messages.
pub(super) const STDIN_NAME: &str = "<stdin>";

/// Reads every `-f` argument in order; no argument means stdin, as a KRM function is run
/// (kustomize and kpt pass a ResourceList on stdin and give no arguments).
pub(super) fn read_all(files: &[PathBuf]) -> Result<Vec<Source>, ManifestError> {
    if files.is_empty() {
        if std::io::stdin().is_terminal() {
            // Waiting on a terminal for a manifest nobody will type looks like a hang.
            return Err(ManifestError::NoInput);
        }
        return Ok(vec![read_stdin()?]);
    }
    let mut stdin_read = false;
    files
        .iter()
        .map(|path| {
            if path == Path::new("-") {
                if std::mem::replace(&mut stdin_read, true) {
                    return Err(ManifestError::StdinTwice);
                }
                read_stdin()
            } else {
                read_file(path)
            }
        })
        .collect()
}

fn read_stdin() -> Result<Source, ManifestError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| ManifestError::Read {
            name: STDIN_NAME.to_string(),
            source,
        })?;
    parse(STDIN_NAME, &text)
}

fn read_file(path: &Path) -> Result<Source, ManifestError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        name: name.clone(),
        source,
    })?;
    parse(&name, &text)
}

/// Parses one source's text. Positions in errors are 1-based lines and columns of `text`.
pub(super) fn parse(name: &str, text: &str) -> Result<Source, ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match sniff(text) {
        Format::Json => Ok(Source::from_values(
            name,
            Format::Json,
            parse_json(name, text)?,
        )),
        Format::Yaml => {
            let documents = yaml::parse(text).map_err(|error| ManifestError::Parse {
                name: name.to_string(),
                line: error.line,
                column: error.column,
                message: error.message,
            })?;
            Ok(Source {
                name: name.to_string(),
                format: Format::Yaml,
                documents: documents.iter().map(|d| d.value.clone()).collect(),
                original: Some(Original {
                    text: text.to_string(),
                    documents,
                    edits: Vec::new(),
                }),
            })
        }
    }
}

/// JSON starts with `{` or `[`; YAML written that way (a flow mapping at the top) is
/// rare enough in manifests to read as JSON.
fn sniff(text: &str) -> Format {
    match text.trim_start().as_bytes().first() {
        Some(b'{' | b'[') => Format::Json,
        _ => Format::Yaml,
    }
}

/// A JSON source is a stream of values (one object, or several one after another).
fn parse_json(name: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|document| {
            document.map_err(|error| ManifestError::Parse {
                name: name.to_string(),
                line: error.line(),
                column: error.column(),
                message: json_message(&error),
            })
        })
        .collect()
}

/// serde_json's message without its trailing " at line L column C", which we print in
/// front instead.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::output::render;
    use serde_json::json;

    fn parse_error(text: &str) -> (usize, usize, String) {
        match parse("f.yaml", text) {
            Err(ManifestError::Parse {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn yaml_documents_keep_order_and_drop_empty_ones() {
        let source = parse("f", "b: 1\na: 2\n---\n---\nc: [x]\n").unwrap();
        assert_eq!(source.format, Format::Yaml);
        assert_eq!(
            source.documents,
            [json!({"b": 1, "a": 2}), json!({"c": ["x"]})]
        );
        let keys: Vec<_> = source.documents[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a"]);
    }

    #[test]
    fn json_streams_are_json() {
        let source = parse("f", " {\"b\": 1, \"a\": 2}\n{\"c\": 3}").unwrap();
        assert_eq!(source.format, Format::Json);
        assert_eq!(source.documents.len(), 2);
        let rendered = render(&source.documents.iter().collect::<Vec<_>>(), Format::Json).unwrap();
        assert_eq!(
            rendered,
            "{\n  \"b\": 1,\n  \"a\": 2\n}\n{\n  \"c\": 3\n}\n"
        );
    }

    #[test]
    fn yaml_errors_name_the_line() {
        let (line, column, message) = parse_error("a: 1\n---\nb: [1, 2\nc: 3\n");
        assert!(line >= 3, "line {line}: {message}");
        assert!(column > 0);
        assert!(!message.contains(" at line "), "{message}");
    }

    #[test]
    fn json_errors_name_the_line() {
        let (line, column, message) = parse_error("{\n  \"a\": 1,\n  \"b\": }\n");
        assert_eq!((line, column), (3, 8), "{message}");
        assert_eq!(message, "expected value");
    }

    #[test]
    fn strings_that_look_like_other_types_stay_strings() {
        let text = "a: \"8080\"\nb: \"true\"\nc: \"yes\"\nd: \"1.0\"\ne: \"null\"\nf: \"\"\n";
        let source = parse("f", text).unwrap();
        let rendered = render(&[&source.documents[0]], Format::Yaml).unwrap();
        let again = parse("f", &rendered).unwrap();
        assert_eq!(again.documents, source.documents, "{rendered}");
        assert!(source.documents[0]["a"].is_string());
    }
}
