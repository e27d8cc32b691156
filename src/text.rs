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
