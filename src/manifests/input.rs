//! Reading manifests: files or stdin, YAML or JSON, several documents each; and writing
//! them back in the format they came in.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ManifestError;
use super::edit::{self, Edit};
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
    text: String,
    documents: Vec<yaml::Document>,
    /// Per document, the changes made to it as patch operations, when that is all
    /// that changed; `None` when it must be written anew.
    edits: Vec<Option<Vec<Edit>>>,
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

/// Writes every document of every source back: JSON only when every source was JSON (a
/// YAML stream can carry JSON documents, the reverse is not true). A YAML document that
/// comes out as it went in is copied from its source text; one lameduck changed keeps
/// the `---` line and comments in front of it and is written anew below them.
pub(super) fn render_sources(sources: &[Source]) -> Result<String, ManifestError> {
    let format = output_format(sources);
    if format == Format::Json {
        let documents: Vec<&Value> = sources.iter().flat_map(|s| &s.documents).collect();
        return render(&documents, Format::Json);
    }
    let mut out = String::new();
    for source in sources {
        // A YAML file of comments only holds no object; it still comes out as it was.
        if let Some(original) = &source.original
            && source.documents.is_empty()
            && !original.text.trim().is_empty()
        {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&original.text);
            continue;
        }
        for (index, value) in source.documents.iter().enumerate() {
            let original = source.original.as_ref().and_then(|o| {
                let edits = o.edits.get(index).and_then(Option::as_deref);
                o.documents.get(index).map(|d| (o.text.as_str(), d, edits))
            });
            let (piece, has_marker) = match original {
                Some((text, document, _)) if document.value == *value => (
                    text[document.span.clone()].to_string(),
                    document.explicit_start,
                ),
                Some((text, document, Some(edits)))
                    if let Some(edited) =
                        edit::apply(&text[document.span.clone()], edits, value) =>
                {
                    (edited, document.explicit_start)
                }
                Some((text, document, _)) => {
                    let mut piece = text[document.span.start..document.content_start].to_string();
                    if !piece.is_empty() && !piece.ends_with('\n') {
                        piece.push('\n');
                    }
                    piece.push_str(&render(&[value], Format::Yaml)?);
                    (piece, document.explicit_start)
                }
                None => (render(&[value], Format::Yaml)?, false),
            };
            if !out.is_empty() {
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                if !has_marker {
                    out.push_str("---\n");
                }
            }
            out.push_str(&piece);
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Renders values afresh, pretty-printed JSON or block YAML, one value per document.
pub(super) fn render(documents: &[&Value], format: Format) -> Result<String, ManifestError> {
    match format {
        Format::Json => {
            let mut out = String::new();
            for document in documents {
                // A `Value` always serializes.
                let text = serde_json::to_string_pretty(document)
                    .map_err(|error| ManifestError::Render(error.to_string()))?;
                out.push_str(&text);
                out.push('\n');
            }
            Ok(out)
        }
        Format::Yaml => serde_saphyr::to_string_multiple(documents)
            .map_err(|error| ManifestError::Render(error.to_string())),
    }
}

/// The output format for a set of sources.
pub(super) fn output_format(sources: &[Source]) -> Format {
    if !sources.is_empty() && sources.iter().all(|s| s.format == Format::Json) {
        Format::Json
    } else {
        Format::Yaml
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn mixed_sources_are_written_as_yaml() {
        let json = parse("a", "{}").unwrap();
        let yaml = parse("b", "a: 1").unwrap();
        assert_eq!(output_format(std::slice::from_ref(&json)), Format::Json);
        assert_eq!(output_format(&[json, yaml]), Format::Yaml);
        assert_eq!(output_format(&[]), Format::Yaml);
    }

    /// Strings that a YAML 1.1 reader (kubectl) would take for something else are quoted
    /// when a changed document is written anew.
    #[test]
    fn rendered_strings_read_back_as_strings_the_way_kubectl_reads() {
        let tricky = [
            "0755",
            "0o17",
            "0x1F",
            "0b101",
            "1_000",
            "08",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "Y",
            "N",
            "~",
            "null",
            "true",
            "1e3",
            ".5",
            "+12",
            "1:20",
            "2001-12-14",
            ".inf",
            "-.inf",
            ".nan",
            "<<",
            "=",
            "",
            " x",
            "a: b",
            "- x",
            "# x",
            "@x",
            "`x",
        ];
        for text in tricky {
            let value = serde_json::json!({ "v": text });
            let rendered = render(&[&value], Format::Yaml).unwrap();
            let again = parse("f", &rendered).unwrap();
            assert_eq!(
                again.documents[0], value,
                "{text:?} rendered as {rendered:?}"
            );
        }
    }

    #[test]
    fn unchanged_yaml_documents_are_written_back_byte_for_byte() {
        let text = "# header\napiVersion: v1\nkind: ConfigMap\ndata: {mode: '0755'}  # flow\n---\n# two\nkind: Secret\nx: 0755\n";
        let source = parse("f", text).unwrap();
        assert_eq!(source.documents[1]["x"], 493);
        assert_eq!(render_sources(&[source]).unwrap(), text);
    }

    #[test]
    fn a_changed_document_keeps_what_stands_before_it() {
        let text = "a: 1\n---\n# about b\nb: 0755\n";
        let mut source = parse("f", text).unwrap();
        source.documents[1]["c"] = json!(true);
        let out = render_sources(&[source]).unwrap();
        assert_eq!(out, "a: 1\n---\n# about b\nb: 493\nc: true\n");
    }

    #[test]
    fn sources_are_separated_once() {
        let a = parse("a", "a: 1").unwrap();
        let b = parse("b", "---\nb: 2\n").unwrap();
        let c = parse("c", "c: 3\n").unwrap();
        assert_eq!(
            render_sources(&[a, b, c]).unwrap(),
            "a: 1\n---\nb: 2\n---\nc: 3\n"
        );
    }
}
