//! XML laid out for people to read: one element per line, indented by depth. For display only
//! (the dry run's assertion preview): what is signed is the canonical form `saml::xml` writes,
//! never this.

/// `xml` with each element on a line of its own, indented two spaces a level; an element whose
/// only content is text stays on one line. Every token is copied as written (its escaping
/// included), so the text shown is the document's; input the tokenizer refuses is returned as
/// it is.
pub fn indented(xml: &str) -> String {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut out = String::with_capacity(xml.len() + xml.len() / 8);
    let mut depth = 0usize;
    // Whether the element just opened has had only text so far (its end then stays inline).
    let mut inline = false;
    // Whitespace between tags, kept back: shown only when it is an element's whole content.
    let mut blank: Option<&str> = None;
    let line = |out: &mut String, depth: usize| {
        if !out.is_empty() {
            out.push('\n');
        }
        out.extend(std::iter::repeat_n("  ", depth));
    };
    for token in Tokenizer::from(xml) {
        let Ok(token) = token else {
            return xml.to_string();
        };
        let held = blank.take();
        match token {
            Token::ElementStart { span, .. } => {
                line(&mut out, depth);
                out.push_str(span.as_str());
                inline = false;
            }
            Token::Attribute { span, .. } => {
                out.push(' ');
                out.push_str(span.as_str());
            }
            Token::ElementEnd { end, span } => match end {
                ElementEnd::Open => {
                    out.push_str(span.as_str());
                    depth += 1;
                    inline = true;
                }
                ElementEnd::Empty => out.push_str(span.as_str()),
                ElementEnd::Close(..) => {
                    depth = depth.saturating_sub(1);
                    if inline {
                        out.push_str(held.unwrap_or(""));
                    } else {
                        line(&mut out, depth);
                    }
                    out.push_str(span.as_str());
                    inline = false;
                }
            },
            Token::Text { text } if text.as_str().trim().is_empty() => {
                // An element's only content so far: it may be all of it.
                if inline {
                    blank = Some(text.as_str());
                }
            }
            // Text (and CDATA, which is text) stays on its element's line; after a child
            // element it starts a line of its own.
            Token::Text { text } => {
                if !inline {
                    line(&mut out, depth);
                }
                out.push_str(held.unwrap_or(""));
                out.push_str(text.as_str());
            }
            Token::Cdata { span, .. } => {
                if !inline {
                    line(&mut out, depth);
                }
                out.push_str(span.as_str());
            }
            Token::Comment { span, .. }
            | Token::Declaration { span, .. }
            | Token::ProcessingInstruction { span, .. }
            | Token::DtdStart { span, .. }
            | Token::EmptyDtd { span, .. }
            | Token::EntityDeclaration { span, .. }
            | Token::DtdEnd { span } => {
                line(&mut out, depth);
                out.push_str(span.as_str());
                inline = false;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::indented;

    #[test]
    fn elements_go_on_lines_of_their_own_and_text_stays_with_its_element() {
        let xml = "<a x=\"1\"><b>t &amp; u</b><c/><d><e>v</e></d></a>";
        assert_eq!(
            indented(xml),
            "<a x=\"1\">\n  <b>t &amp; u</b>\n  <c/>\n  <d>\n    <e>v</e>\n  </d>\n</a>"
        );
        // Nothing but the layout changes.
        let squeezed: String = indented(xml).lines().map(str::trim).collect();
        assert_eq!(squeezed, xml);
    }

    #[test]
    fn comments_whitespace_content_and_text_after_a_child_keep_their_place() {
        assert_eq!(indented("<a><!--c--></a>"), "<a>\n  <!--c-->\n</a>");
        assert_eq!(
            indented("<r><v> </v><w>\n  <x/>\n</w></r>"),
            "<r>\n  <v> </v>\n  <w>\n    <x/>\n  </w>\n</r>"
        );
        assert_eq!(indented("<a><b/>x</a>"), "<a>\n  <b/>\n  x\n</a>");
        assert_eq!(
            indented("<a><![CDATA[1 < 2]]></a>"),
            "<a><![CDATA[1 < 2]]></a>"
        );
    }

    #[test]
    fn what_the_tokenizer_refuses_is_shown_as_it_is() {
        assert_eq!(indented("<a><b></a"), "<a><b></a");
    }
}
