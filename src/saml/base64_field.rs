//! The `SAMLResponse` form field's value: standard base64 of a signed Response.
//!
//! Why a type: the console sign-in writes this value (10–100 KB) into its auto-POST page, and
//! escaping it for HTML byte by byte was ~2 % of the broker's CPU under load (`perf`, see
//! docs/scaling.md). Standard base64's alphabet (`A–Z a–z 0–9 + / =`) holds none of the
//! characters HTML gives a meaning to (`< > & " '`), so the page may write it as it is. The
//! only way to make one is [`Base64::encode`], so no other text can be written unescaped
//! through it.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Standard base64 text, made only by encoding bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64(String);

impl Base64 {
    /// The standard (padded) base64 of `bytes`.
    pub fn encode(bytes: &[u8]) -> Base64 {
        Base64(STANDARD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Base64 {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Base64 {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for Base64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Written into pages as it is: its alphabet has no character HTML would read as markup.
impl askama::filters::HtmlSafe for Base64 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_only_the_base64_alphabet_which_html_reads_as_text() {
        let every_byte: Vec<u8> = (0..=255u8).cycle().take(3 * 1024 + 2).collect();
        for len in [0, 1, 2, 3, 100, every_byte.len()] {
            let text = Base64::encode(&every_byte[..len]);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')));
            assert_eq!(
                askama::filters::escape(text.as_str(), askama::filters::Html)
                    .expect("escapes")
                    .to_string(),
                text.as_str(),
                "escaping would change nothing"
            );
            assert_eq!(
                STANDARD.decode(text.as_str()).expect("decodes"),
                &every_byte[..len]
            );
        }
    }

    #[derive(askama::Template)]
    #[template(source = "<input value=\"{{ v }}\">", ext = "html")]
    struct Field {
        v: Base64,
    }

    #[test]
    fn a_page_writes_it_unchanged() {
        use askama::Template;
        let v = Base64::encode(b"<Response ID=\"_1\"/>\xfb\xff");
        let page = Field { v: v.clone() }.render().expect("renders");
        assert_eq!(page, format!("<input value=\"{v}\">"));
    }
}
