//! Exclusive XML Canonicalization 1.0 without comments
//! (`http://www.w3.org/2001/10/xml-exc-c14n#`), of one element's subtree, optionally leaving
//! out one descendant (the enveloped `Signature`). This is the only canonicalization upstream
//! identity providers use for SAML (AD FS, Okta, Entra ID, Shibboleth, SimpleSAMLphp,
//! pysaml2/xmlsec); anything else is refused before it gets here.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::tree::{Kind, NodeId, Tree};
use crate::saml::xml::{push_attr, push_text};

/// The canonical bytes of `root`'s subtree without `skip`; `inclusive` are the prefixes of an
/// `InclusiveNamespaces PrefixList` (`#default` for the default namespace).
pub fn canonicalize(
    tree: &Tree,
    root: NodeId,
    skip: Option<NodeId>,
    inclusive: &[String],
) -> String {
    let mut out = String::new();
    let inclusive: Vec<String> = inclusive
        .iter()
        .map(|p| {
            if p == "#default" {
                String::new()
            } else {
                p.clone()
            }
        })
        .collect();
    // In scope at the root's parent: the values prefixes resolve to, though none is rendered
    // yet (exclusive canonicalization renders a declaration where it is used).
    let context = match tree.nodes[root].parent {
        Some(p) => tree.in_scope(p),
        None => tree.context().clone(),
    };
    render(
        tree,
        root,
        skip,
        &inclusive,
        &context,
        &BTreeMap::new(),
        &mut out,
    );
    out
}

fn render(
    tree: &Tree,
    id: NodeId,
    skip: Option<NodeId>,
    inclusive: &[String],
    scope: &BTreeMap<String, String>,
    rendered: &BTreeMap<String, String>,
    out: &mut String,
) {
    if Some(id) == skip {
        return;
    }
    match &tree.nodes[id].kind {
        Kind::Text(t) => push_text(out, t),
        Kind::Comment => {}
        Kind::Pi { target, content } => {
            out.push_str("<?");
            out.push_str(target);
            if !content.is_empty() {
                out.push(' ');
                out.push_str(content);
            }
            out.push_str("?>");
        }
        Kind::Element(e) => {
            // Most elements declare nothing: the maps are copied only when they change.
            let scope: Cow<'_, BTreeMap<String, String>> = if e.ns_decls.is_empty() {
                Cow::Borrowed(scope)
            } else {
                let mut own = scope.clone();
                for (p, u) in &e.ns_decls {
                    own.insert(p.clone(), u.clone());
                }
                Cow::Owned(own)
            };
            // Visibly utilised prefixes, plus the inclusive ones in scope.
            let mut used: Vec<&str> = vec![e.prefix.as_str()];
            used.extend(
                e.attrs
                    .iter()
                    .filter(|a| !a.prefix.is_empty())
                    .map(|a| a.prefix.as_str()),
            );
            used.extend(
                inclusive
                    .iter()
                    .filter(|p| scope.contains_key(p.as_str()))
                    .map(String::as_str),
            );
            used.retain(|p| *p != "xml");
            used.sort_unstable();
            used.dedup();
            let mut now_rendered: Cow<'_, BTreeMap<String, String>> = Cow::Borrowed(rendered);
            let mut decls = String::new();
            for p in used {
                let uri = scope.get(p).map(String::as_str).unwrap_or("");
                let before = rendered.get(p).map(String::as_str);
                let needed = if p.is_empty() {
                    // The default namespace: rendered when it differs from what the output
                    // already has in effect (none counts as empty).
                    before.unwrap_or("") != uri
                } else {
                    before != Some(uri)
                };
                if needed {
                    if p.is_empty() {
                        decls.push_str(" xmlns=\"");
                    } else {
                        decls.push_str(" xmlns:");
                        decls.push_str(p);
                        decls.push_str("=\"");
                    }
                    push_attr(&mut decls, uri);
                    decls.push('"');
                    now_rendered.to_mut().insert(p.to_string(), uri.to_string());
                }
            }
            let name = qname(&e.prefix, &e.local);
            out.push('<');
            out.push_str(&name);
            out.push_str(&decls);
            let mut attrs: Vec<_> = e.attrs.iter().collect();
            attrs.sort_by(|a, b| {
                (a.ns.as_str(), a.local.as_str()).cmp(&(b.ns.as_str(), b.local.as_str()))
            });
            for a in attrs {
                out.push(' ');
                out.push_str(&qname(&a.prefix, &a.local));
                out.push_str("=\"");
                push_attr(out, &a.value);
                out.push('"');
            }
            out.push('>');
            for c in &e.children {
                render(tree, *c, skip, inclusive, &scope, &now_rendered, out);
            }
            out.push_str("</");
            out.push_str(&name);
            out.push('>');
        }
    }
}

fn qname(prefix: &str, local: &str) -> String {
    if prefix.is_empty() {
        local.to_string()
    } else {
        format!("{prefix}:{local}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_used_namespaces_sorted_attributes_and_drops_comments() {
        let xml = "<r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns=\"urn:d\">\
                   <a:x z=\"1\" b:y=\"2\" a=\"&quot;\"><!-- c -->t&amp;<e/></a:x></r>";
        let t = Tree::parse(xml).expect("parses");
        let x = t.child_elements(0).next().expect("child");
        assert_eq!(
            canonicalize(&t, x, None, &[]),
            "<a:x xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" a=\"&quot;\" z=\"1\" b:y=\"2\">t&amp;<e xmlns=\"urn:d\"></e></a:x>"
        );
        assert_eq!(
            canonicalize(&t, x, None, &["#default".into()]),
            "<a:x xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" a=\"&quot;\" z=\"1\" b:y=\"2\">t&amp;<e></e></a:x>"
        );
    }

    #[test]
    fn a_fragment_renders_prefixes_declared_around_it() {
        let context = vec![("saml".to_string(), "urn:x".to_string())];
        let t = Tree::parse_in("<saml:A><saml:B/></saml:A>", &context).expect("parses");
        assert_eq!(
            canonicalize(&t, 0, None, &[]),
            "<saml:A xmlns:saml=\"urn:x\"><saml:B></saml:B></saml:A>"
        );
    }
}
