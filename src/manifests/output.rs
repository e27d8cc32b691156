//! Writing manifests back in the format they came in: a YAML document lameduck did not
//! change is copied from its text, one it changed gets its edits written into the text.

use serde_json::Value;

use super::ManifestError;
use super::edit;
use super::input::{Format, Source};

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
    use crate::manifests::input::parse;
    use serde_json::json;

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
