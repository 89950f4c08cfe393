//! Writing XML directly in its exclusive canonical form (xml-exc-c14n).
//!
//! Everything fedbroker signs is emitted so that the bytes written *are* the canonical form:
//! attributes in canonical order, each namespace declared on the element that uses it, no
//! self-closing tags, no insignificant whitespace, and c14n escaping. The digest can then be taken
//! over the emitted bytes without parsing or canonicalising anything.

/// Appends text content, escaped as canonical XML does (`&`, `<`, `>`, CR).
pub fn push_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

/// Appends an attribute value, escaped as canonical XML does (`&`, `<`, `"`, TAB, LF, CR).
pub fn push_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

/// Removes characters XML 1.0 cannot carry at all (most control characters), so that a stray
/// byte in a directory attribute cannot make the document unparseable.
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_c14n() {
        let mut t = String::new();
        push_text(&mut t, "a&b<c>d\"e\r");
        assert_eq!(t, "a&amp;b&lt;c&gt;d\"e&#xD;");
        let mut a = String::new();
        push_attr(&mut a, "a&b<c>d\"e\t\n");
        assert_eq!(a, "a&amp;b&lt;c>d&quot;e&#x9;&#xA;");
        assert_eq!(xml_safe("a\u{0}b\u{7}c"), "abc");
    }
}
