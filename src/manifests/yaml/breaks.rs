//! U+2028 and U+2029 as go-yaml reads them. YAML 1.1 counts them as line breaks, YAML 1.2
//! (and so the parser) as text. go-yaml's emitter writes them raw in plain, single-quoted
//! and block scalars, then indents the "next line" as after any break; reading back, it
//! keeps the character and drops the blanks around it (flow scalars) or the block's
//! indentation after it (block scalars). Done here on the scalar the parser gave, which
//! is all that differs: the parser's structure does not depend on them.

use granit_parser::ScalarStyle;

const BREAKS: [char; 2] = ['\u{2028}', '\u{2029}'];

/// The scalar as go-yaml reads it, when its source holds a raw U+2028 or U+2029; `None`
/// when nothing changes. `source` is the scalar's text in the document (quotes included;
/// a block scalar's starts at its content, `indent` columns into its first line).
pub(super) fn as_go_yaml_reads(
    value: &str,
    source: &str,
    style: ScalarStyle,
    indent: usize,
) -> Option<String> {
    if !source.contains(BREAKS) {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    match style {
        // go-yaml's emitter escapes them (`\L`, `\P`) in double quotes, where a raw one
        // cannot be told from an escaped one in the parsed text; left as read.
        ScalarStyle::DoubleQuoted => return None,
        ScalarStyle::Literal | ScalarStyle::Folded => {
            let mut chars = value.chars().peekable();
            while let Some(c) = chars.next() {
                out.push(c);
                if BREAKS.contains(&c) {
                    for _ in 0..indent {
                        if chars.next_if_eq(&' ').is_none() {
                            break;
                        }
                    }
                }
            }
        }
        _ => {
            let mut chars = value.chars().peekable();
            while let Some(c) = chars.next() {
                if BREAKS.contains(&c) {
                    out.truncate(out.trim_end_matches([' ', '\t']).len());
                    out.push(c);
                    while chars.next_if(|&c| c == ' ' || c == '\t').is_some() {}
                } else {
                    out.push(c);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_around_a_raw_separator_go_as_go_yaml_drops_them() {
        let cases = [
            (
                "x line\u{2028}  sep y",
                "'x line\u{2028}  sep y'",
                ScalarStyle::SingleQuoted,
                Some("x line\u{2028}sep y"),
            ),
            (
                "a \u{2029}\tb",
                "a \u{2029}\tb",
                ScalarStyle::Plain,
                Some("a\u{2029}b"),
            ),
            (
                "multi\nline\u{2028}  sep\n",
                "|\n  multi\n  line\u{2028}  sep\n",
                ScalarStyle::Literal,
                Some("multi\nline\u{2028}sep\n"),
            ),
            // Spaces past the block's indentation are content.
            (
                "a\u{2028}   b",
                "|-\n  a\u{2028}   b",
                ScalarStyle::Literal,
                Some("a\u{2028} b"),
            ),
            ("x\u{2028}y", "\"x\\Ly\"", ScalarStyle::DoubleQuoted, None),
            ("plain", "plain", ScalarStyle::Plain, None),
        ];
        for (value, source, style, expected) in cases {
            assert_eq!(
                as_go_yaml_reads(value, source, style, 2).as_deref(),
                expected,
                "{source:?}"
            );
        }
    }
}
