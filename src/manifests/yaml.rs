//! YAML read the way kubectl reads it.
//!
//! kubectl turns YAML into JSON with `sigs.k8s.io/yaml`, which parses with go-yaml v2:
//! YAML 1.1 plain scalars (`0755` is the octal 493, `yes`/`on`/`y` are true, `1_000` is
//! 1000, timestamps stay strings), anchors and `<<` merge keys, and map keys that are not
//! strings written as the strings JSON needs. serde-saphyr reads YAML 1.2 into the
//! shape serde asks for, so `0755` came out as `755.0`; this module builds the JSON value
//! from the parser's events with go-yaml v2's rules instead. `tests/yaml-diff` checks it
//! against `sigs.k8s.io/yaml` itself.
//!
//! Each document also keeps where it sits in the source, so a document lameduck does not
//! change can be written back exactly as it was read, comments and all.
//!
//! Two more go-yaml ways: a quoted scalar's continuation lines may sit at or left of
//! their key (`kubectl get -o yaml` wraps long strings, and a formatter that indents
//! sequences leaves those lines where they were); the parser accepts that unless told to
//! be strict. And U+2028/U+2029 are line breaks to go-yaml, text to YAML 1.2 (`breaks`).
//! `tests/yaml-diff` also checks thousands of generated objects written by kubectl's
//! emitter and others.

mod breaks;
mod scalar;

use std::collections::HashMap;
use std::ops::Range;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, StructureStyle};
use serde_json::{Map, Value};

use scalar::{is_core, json_key, scalar};
pub use scalar::{non_finite, resolve_plain};

/// One document of a YAML stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
    /// The document's bytes in the source: from the end of the previous document (so
    /// its `---` line and leading comments are included) to its own end.
    pub span: Range<usize>,
    /// Where its content starts: what comes before (`---`, comments) can be kept when
    /// the content is written anew.
    pub content_start: usize,
    /// Whether the region holds a `---` line, so no separator needs to be added.
    pub explicit_start: bool,
    /// Where each node sits, for editing the document in place. An alias is a leaf
    /// here: a change beneath one is not made in place.
    pub pos: Option<Pos>,
}

/// What went wrong, with a 1-based line and column when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Most values an alias may copy in one source. An alias is a copy of the anchored
/// value, so a few lines of nested aliases could otherwise ask for billions (the
/// "billion laughs").
const MAX_ALIAS_NODES: usize = 1_000_000;

/// Reads every document of `text`. A document that is empty or `null` (a stray `---`)
/// is dropped, as `kubectl apply` does.
pub fn parse(text: &str) -> Result<Vec<Document>, YamlError> {
    let mut loader = Loader {
        source: text,
        anchors: HashMap::new(),
        alias_nodes: 0,
    };
    let mut parser = Parser::new_from_str(text);
    // Every document with its region, empty ones too, so the regions tile the text.
    let mut all: Vec<Document> = Vec::new();
    let mut region_start = 0;
    loop {
        let (event, span) = next(&mut parser)?;
        match event {
            Event::StreamStart => {}
            Event::StreamEnd => break,
            Event::DocumentStart(explicit_start, _) => {
                loader.anchors.clear();
                let (first, span) = next(&mut parser)?;
                let content_start = byte_range(&span).start.max(region_start);
                let (value, pos) = loader.node(first, span, &mut parser)?;
                let (end, end_span) = next(&mut parser)?;
                if !matches!(end, Event::DocumentEnd) {
                    return Err(error_at(&end_span, "expected the end of the document"));
                }
                // An implicit end has an empty span where the content stopped; an
                // explicit `...` is part of this document.
                let end_at = byte_range(&end_span).end.max(region_start);
                all.push(Document {
                    value,
                    span: region_start..end_at,
                    content_start: content_start.min(end_at),
                    explicit_start,
                    pos: Some(pos),
                });
                region_start = end_at;
            }
            _ => return Err(error_at(&span, "unexpected YAML event")),
        }
    }
    // Empty documents are dropped; their text (a stray `---`, comments, blank lines)
    // goes with the document before them, or the first one after when none is before.
    let mut documents: Vec<Document> = Vec::new();
    let mut pending: Option<(usize, bool)> = None;
    for document in all {
        if document.value.is_null() {
            match documents.last_mut() {
                Some(last) => last.span.end = document.span.end,
                None => {
                    let (_, explicit) = pending.get_or_insert((document.span.start, false));
                    *explicit |= document.explicit_start;
                }
            }
            continue;
        }
        let (start, explicit) = pending.take().unwrap_or((document.span.start, false));
        documents.push(Document {
            span: start..document.span.end,
            explicit_start: document.explicit_start || explicit,
            ..document
        });
    }
    if let Some(first) = documents.first_mut() {
        first.span.start = 0;
    }
    if let Some(last) = documents.last_mut() {
        last.span.end = text.len();
    }
    Ok(documents)
}

fn next<'a>(
    parser: &mut Parser<'a, granit_parser::StrInput<'a>>,
) -> Result<(Event<'a>, Span), YamlError> {
    // Comments are presentation, not data (the whole document's text is kept instead).
    let event = loop {
        match parser.next_event() {
            Some(Ok((Event::Comment(..) | Event::Anchor(..), _))) => {}
            other => break other,
        }
    };
    match event {
        Some(Ok(pair)) => Ok(pair),
        Some(Err(error)) => Err(scan_error(&error)),
        None => Err(YamlError {
            line: 0,
            column: 0,
            message: "unexpected end of input".into(),
        }),
    }
}

fn scan_error(error: &ScanError) -> YamlError {
    YamlError {
        line: error.marker().line(),
        column: error.marker().col() + 1,
        message: error.info(),
    }
}

fn error_at(span: &Span, message: impl Into<String>) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: message.into(),
    }
}

/// Spans from a `&str` parser always carry byte offsets.
fn byte_range(span: &Span) -> Range<usize> {
    span.byte_range().unwrap_or(0..0)
}

struct Loader<'s> {
    /// The whole text, for the few scalars whose source must be looked at again.
    source: &'s str,
    /// Anchored values of the current document, with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    alias_nodes: usize,
}

/// Where a node sits in the source, for editing a document in place.
#[derive(Debug, Clone, PartialEq)]
pub enum Pos {
    Scalar(Range<usize>),
    Sequence {
        block: bool,
        items: Vec<Pos>,
        end: usize,
    },
    Mapping {
        block: bool,
        entries: Vec<Entry>,
        end: usize,
    },
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_start: usize,
    pub value: Pos,
}

impl Pos {
    /// Where the node's content ends: its last scalar for block collections (whose own
    /// end event sits at the next token, possibly lines further).
    pub fn end(&self) -> usize {
        match self {
            Pos::Scalar(range) => range.end,
            Pos::Sequence { end, .. } | Pos::Mapping { end, .. } => *end,
        }
    }
}

impl Loader<'_> {
    /// Builds the node that starts with `event`.
    fn node<'a>(
        &mut self,
        event: Event<'a>,
        span: Span,
        parser: &mut Parser<'a, granit_parser::StrInput<'a>>,
    ) -> Result<(Value, Pos), YamlError> {
        let start = byte_range(&span).start;
        let (value, pos, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let source = self.source.get(byte_range(&span)).unwrap_or_default();
                let indent = span.start.col();
                let text = match breaks::as_go_yaml_reads(&text, source, style, indent) {
                    Some(read) => std::borrow::Cow::Owned(read),
                    None => text,
                };
                (
                    scalar(&text, style, tag.as_deref()).map_err(|m| error_at(&span, m))?,
                    Pos::Scalar(byte_range(&span)),
                    anchor,
                )
            }
            Event::Alias(id) => {
                let Some((value, nodes)) = self.anchors.get(&id) else {
                    return Err(error_at(&span, "alias to an unknown anchor"));
                };
                self.alias_nodes = self.alias_nodes.saturating_add(*nodes);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(error_at(
                        &span,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} values"),
                    ));
                }
                return Ok((value.clone(), Pos::Scalar(byte_range(&span))));
            }
            Event::SequenceStart(style, anchor, _) => {
                let block = style == StructureStyle::Block;
                let mut items = Vec::new();
                let mut positions = Vec::new();
                let end = loop {
                    let (event, span) = next(parser)?;
                    if matches!(event, Event::SequenceEnd) {
                        break byte_range(&span).end;
                    }
                    let (item, pos) = self.node(event, span, parser)?;
                    items.push(item);
                    positions.push(pos);
                };
                let end = if block {
                    positions.last().map_or(start, Pos::end)
                } else {
                    end
                };
                let pos = Pos::Sequence {
                    block,
                    items: positions,
                    end,
                };
                (Value::Array(items), pos, anchor)
            }
            Event::MappingStart(style, anchor, _) => {
                let block = style == StructureStyle::Block;
                let (value, entries, end) = self.mapping(parser)?;
                let end = if block {
                    entries.last().map_or(start, |e| e.value.end())
                } else {
                    end
                };
                (
                    value,
                    Pos::Mapping {
                        block,
                        entries,
                        end,
                    },
                    anchor,
                )
            }
            _ => return Err(error_at(&span, "unexpected YAML event")),
        };
        if anchor != 0 {
            self.anchors
                .insert(anchor, (value.clone(), count_nodes(&value)));
        }
        Ok((value, pos))
    }

    /// A mapping as go-yaml v2 fills a map: keys in order, a later one replacing an
    /// earlier one; `<<` copies the merged mappings' keys in at that point (the first of
    /// a list of mappings wins). Two keys written the same are refused, since kubectl's
    /// strict decoding refuses them too and the user surely meant one of them.
    fn mapping<'a>(
        &mut self,
        parser: &mut Parser<'a, granit_parser::StrInput<'a>>,
    ) -> Result<(Value, Vec<Entry>, usize), YamlError> {
        let mut map = Map::new();
        let mut entries = Vec::new();
        // Line of each key written in this mapping (merged keys do not count).
        let mut written: HashMap<String, usize> = HashMap::new();
        let end = loop {
            let (event, key_span) = next(parser)?;
            if matches!(event, Event::MappingEnd) {
                break byte_range(&key_span).end;
            }
            let is_merge = matches!(
                &event,
                Event::Scalar(text, ScalarStyle::Plain, _, tag)
                    if text == "<<" && tag.as_deref().is_none_or(|t| is_core(t, "merge"))
            );
            let (key, _) = self.node(event, key_span, parser)?;
            let (value_event, value_span) = next(parser)?;
            let (value, value_pos) = self.node(value_event, value_span, parser)?;
            if is_merge {
                merge(&mut map, value).map_err(|m| error_at(&key_span, m))?;
                continue;
            }
            let key = json_key(&key).map_err(|m| error_at(&key_span, m))?;
            let line = key_span.start.line();
            if let Some(first) = written.insert(key.clone(), line) {
                return Err(error_at(
                    &key_span,
                    format!(
                        "key {key:?} appears twice in one mapping (lines {first} and {line}); keep one"
                    ),
                ));
            }
            entries.push(Entry {
                key: key.clone(),
                key_start: byte_range(&key_span).start,
                value: value_pos,
            });
            map.insert(key, value);
        };
        Ok((Value::Object(map), entries, end))
    }
}

/// `<<: *base` or `<<: [*a, *b]`: the merged keys are set at this point, the first
/// mapping of a list winning over the later ones.
fn merge(map: &mut Map<String, Value>, value: Value) -> Result<(), String> {
    match value {
        Value::Object(merged) => {
            for (key, value) in merged {
                map.insert(key, value);
            }
            Ok(())
        }
        Value::Array(list) => {
            for item in list.into_iter().rev() {
                match item {
                    Value::Object(merged) => {
                        for (key, value) in merged {
                            map.insert(key, value);
                        }
                    }
                    _ => {
                        return Err("a merge key (<<) takes a mapping or a list of mappings".into());
                    }
                }
            }
            Ok(())
        }
        _ => Err("a merge key (<<) takes a mapping or a list of mappings".into()),
    }
}

fn count_nodes(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(text: &str) -> Value {
        let documents = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        documents[0].value.clone()
    }

    #[test]
    fn yaml_1_1_scalars() {
        let cases = [
            ("0755", json!(493)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            ("-0x1F", json!(-31)),
            ("0b101", json!(5)),
            ("1_000", json!(1000)),
            ("08", json!(8.0)),
            ("yes", json!(true)),
            ("Off", json!(false)),
            ("y", json!(true)),
            ("n", json!(false)),
            ("~", json!(null)),
            ("2001-12-14", json!("2001-12-14")),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("1e400", json!("1e400")),
            ("1.2.3", json!("1.2.3")),
            ("yEs", json!("yEs")),
        ];
        for (text, expected) in cases {
            assert_eq!(value(&format!("v: {text}\n"))["v"], expected, "{text}");
        }
        assert_eq!(value("v: '0755'\n")["v"], json!("0755"));
        assert_eq!(value("v: \"yes\"\n")["v"], json!("yes"));
        assert_eq!(value("v: !!str 0755\n")["v"], json!("0755"));
        assert_eq!(value("v: |\n  0755\n")["v"], json!("0755\n"));
    }

    #[test]
    fn anchors_merge_keys_and_key_order() {
        let doc = value("base: &b {x: 1, w: 2}\nd:\n  <<: *b\n  w: 3\nz: *b\n");
        assert_eq!(doc["d"], json!({"x": 1, "w": 3}));
        assert_eq!(doc["z"], json!({"x": 1, "w": 2}));
        // go-yaml v2 reads the key `y` as the boolean true, as kubectl does.
        assert_eq!(value("y: 1\n"), json!({"true": 1}));
        let keys: Vec<_> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["base", "d", "z"]);
    }

    #[test]
    fn duplicate_keys_are_named_with_their_lines() {
        let error = parse("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(error.line, 4);
        assert_eq!(
            error.message,
            "key \"c\" appears twice in one mapping (lines 3 and 4); keep one"
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let error = parse(&text).unwrap_err();
        assert!(error.message.contains("aliases expand"), "{error:?}");
    }

    #[test]
    fn documents_know_their_source_text() {
        let text = "# first\na: 1\n---\n# second\nb: [1, 2] # flow\n---\n";
        let documents = parse(text).unwrap();
        assert_eq!(documents.len(), 2);
        let pieces: Vec<&str> = documents.iter().map(|d| &text[d.span.clone()]).collect();
        assert_eq!(pieces.concat(), text);
        assert!(pieces[1].contains("# flow"));
    }
}
