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

/// `prefix` and 160 random bits in hex: an XML ID (an NCName when `prefix` starts with `_` or
/// a letter) that no one can guess or repeat.
///
/// From the thread's CSPRNG (`rand::thread_rng`: ChaCha12, seeded from the operating system
/// and reseeded from it every 64 KiB), which cannot fail once seeded. OpenSSL's `RAND_bytes`,
/// used before, took ~1.4 % of a console sign-in's CPU for its two IDs (`perf`, see
/// docs/scaling.md), and its error had to be handled at every call.
pub fn random_id(prefix: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
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

    #[test]
    fn random_ids_are_160_bits_of_hex_and_never_repeat() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| random_id("_")).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            let hex = id.strip_prefix('_').expect("prefix");
            assert_eq!(hex.len(), 40);
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        // Each bit position takes both values across draws (a stuck bit would show here).
        let bytes: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| hex::decode(&id[1..]).expect("hex"))
            .collect();
        for bit in 0..160 {
            let ones = bytes
                .iter()
                .filter(|b| b[bit / 8] >> (bit % 8) & 1 == 1)
                .count();
            assert!(
                (4_000..6_000).contains(&ones),
                "bit {bit}: {ones} ones in 10,000"
            );
        }
    }
}
