//! Reading manifests: files or stdin, YAML or JSON, several documents each; and writing
//! them back in the format they came in.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ManifestError;

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
}

/// The name stdin gets in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// Reads every `-f` argument in order; no argument means stdin, as a KRM function is run
/// (kustomize and kpt pass a ResourceList on stdin and give no arguments).
pub fn read_all(files: &[PathBuf]) -> Result<Vec<Source>, ManifestError> {
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
pub fn parse(name: &str, text: &str) -> Result<Source, ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = sniff(text);
    let documents = match format {
        Format::Json => parse_json(name, text)?,
        Format::Yaml => parse_yaml(name, text)?,
    };
    Ok(Source {
        name: name.to_string(),
        format,
        documents,
    })
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

/// Empty and null documents (a stray `---`) are dropped, as `kubectl apply` does.
fn parse_yaml(name: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|error| {
        let (line, column) = error
            .location()
            .map_or((0, 0), |at| (to_usize(at.line()), to_usize(at.column())));
        ManifestError::Parse {
            name: name.to_string(),
            line,
            column,
            message: yaml_message(&error),
        }
    })
}

/// serde-saphyr's message with its own position suffix removed, as for JSON.
fn yaml_message(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    let text = text.lines().next().unwrap_or_default();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text.to_string(),
    }
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Writes documents back: JSON only when every source was JSON (a YAML stream can carry
/// JSON documents, the reverse is not true), pretty-printed, one value per document.
pub fn render(documents: &[&Value], format: Format) -> Result<String, ManifestError> {
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
pub fn output_format(sources: &[Source]) -> Format {
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
}
