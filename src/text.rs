//! Small text rules that modules which must not depend on each other share (admission
//! knows nothing of plans, plan nothing of HTTP), so each rule exists once.

use std::borrow::Cow;

/// `text` cut to at most `max_chars` characters, the last of them `…` when anything was
/// cut, so a reader sees that it was.
pub(crate) fn cut_with_ellipsis(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.chars().count() <= max_chars {
        return Cow::Borrowed(text);
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    Cow::Owned(cut)
}

/// Appends `text` as a JSON string literal, escaped exactly as serde_json escapes it, so
/// what is written by hand (the answer, the status record) is byte-for-byte what serde
/// would write. Runs of plain bytes are copied whole.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    out.push('"');
    let mut plain = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `index` is at an ASCII byte, so both cuts fall on character boundaries.
        out.push_str(&text[plain..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain = index + 1;
    }
    out.push_str(&text[plain..]);
    out.push('"');
}

/// A DNS-1123 label, as Service and namespace names must be (and what may go into a
/// request path unescaped).
pub(crate) fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_as_serde_escapes_them() {
        for text in [
            "app",
            "a\"b",
            "back\\slash",
            "tab\there",
            "nl\nret\r",
            "\u{8}\u{c}\u{1f}\u{7f}",
            "\u{1}x\u{0}",
            "ünïcödé … \u{2028}",
            "",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn cuts_only_what_is_too_long() {
        assert_eq!(cut_with_ellipsis("abc", 3), "abc");
        assert_eq!(cut_with_ellipsis("abcd", 3), "ab…");
        assert_eq!(cut_with_ellipsis("ééééé", 4), "ééé…");
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("shop-2"));
        assert!(!is_dns_label("shop/pods"));
        assert!(!is_dns_label("-shop"));
        assert!(!is_dns_label("shop-"));
        assert!(!is_dns_label("Shop"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
