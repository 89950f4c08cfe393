//! A strict, read-only XML tree for what upstream identity providers send.
//!
//! Signature checks and the reading of values run over this one tree, so the element whose
//! signature was verified is the very element that is read (no second parser that could see
//! another document). It refuses what a SAML message never needs: a DOCTYPE (and with it
//! external entities and entity expansion), entity references other than the five predefined
//! ones and character references, and nesting deeper than [`MAX_DEPTH`]. Comments are kept as
//! nodes so that [`Tree::text`] can join the text around them: exclusive canonicalization
//! drops comments, so `admin@example.com<!---->.evil.test` verifies as signed and must be read
//! whole.

use std::collections::BTreeMap;
use std::rc::Rc;

/// Deeper nesting than any SAML message has; refused to bound recursion.
pub const MAX_DEPTH: usize = 64;

/// An index into [`Tree::nodes`].
pub type NodeId = usize;

/// One namespace-qualified attribute.
#[derive(Debug, Clone)]
pub struct Attr {
    pub prefix: String,
    pub local: String,
    /// The namespace URI ("" for an unprefixed attribute).
    pub ns: String,
    pub value: String,
}

/// An element with its own namespace declarations (prefix "" is the default namespace).
#[derive(Debug, Clone)]
pub struct Element {
    pub prefix: String,
    pub local: String,
    pub ns: String,
    pub attrs: Vec<Attr>,
    pub ns_decls: Vec<(String, String)>,
    pub children: Vec<NodeId>,
}

/// What a node is.
#[derive(Debug, Clone)]
pub enum Kind {
    Element(Element),
    Text(String),
    Comment,
    Pi { target: String, content: String },
}

/// A node and its parent.
#[derive(Debug, Clone)]
pub struct Node {
    pub parent: Option<NodeId>,
    pub kind: Kind,
}

/// A parsed document; node 0 is the root element.
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Namespaces in scope around the root (a decrypted assertion's enclosing Response).
    context: BTreeMap<String, String>,
}

/// Why a document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    #[error(
        "the XML declares a DOCTYPE, which SAML messages never need (entity attacks are refused)"
    )]
    Doctype,
    #[error("the XML uses the entity `&{0};`, which SAML messages never need")]
    Entity(String),
    #[error("the XML nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("the XML uses the undeclared namespace prefix `{0}`")]
    UnknownPrefix(String),
    #[error("the XML is not well-formed: {0}")]
    Malformed(String),
}

/// An element whose start tag is being read: prefix, local name, raw (prefix, local, value)
/// attributes.
type PendingTag = (String, String, Vec<(String, String, String)>);

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

impl Tree {
    /// Parses a whole document (one root element).
    pub fn parse(xml: &str) -> Result<Tree, TreeError> {
        Self::parse_in(xml, &[])
    }

    /// Parses a document whose prefixes may also come from `context` (prefix, URI): a
    /// decrypted assertion may use prefixes its enclosing Response declared.
    pub fn parse_in(xml: &str, context: &[(String, String)]) -> Result<Tree, TreeError> {
        let mut nodes: Vec<Node> = Vec::new();
        // Open elements, innermost last.
        let mut open: Vec<NodeId> = Vec::new();
        // Namespace scopes, innermost last; the base scope holds the context.
        let base: BTreeMap<String, String> = context.iter().cloned().collect();
        // Shared, so an element without declarations (most of them) costs no copy.
        let mut scopes: Vec<Rc<BTreeMap<String, String>>> = vec![Rc::new(base.clone())];
        let mut pending: Option<PendingTag> = None;
        let mut root_done = false;
        let malformed = |e: &dyn std::fmt::Display| TreeError::Malformed(e.to_string());

        for token in xmlparser::Tokenizer::from(xml) {
            let token = token.map_err(|e| malformed(&e))?;
            use xmlparser::Token;
            match token {
                Token::Declaration { .. } => {}
                Token::DtdStart { .. } | Token::EmptyDtd { .. } => return Err(TreeError::Doctype),
                Token::EntityDeclaration { .. } | Token::DtdEnd { .. } => {
                    return Err(TreeError::Doctype)
                }
                Token::ElementStart { prefix, local, .. } => {
                    if root_done && open.is_empty() {
                        return Err(TreeError::Malformed(
                            "content after the root element".into(),
                        ));
                    }
                    if open.len() >= MAX_DEPTH {
                        return Err(TreeError::TooDeep);
                    }
                    pending = Some((prefix.as_str().into(), local.as_str().into(), Vec::new()));
                }
                Token::Attribute {
                    prefix,
                    local,
                    value,
                    ..
                } => {
                    let value = unescape(&normalise_attr(value.as_str()))?;
                    if let Some((_, _, attrs)) = pending.as_mut() {
                        attrs.push((prefix.as_str().into(), local.as_str().into(), value));
                    }
                }
                Token::ElementEnd { end, .. } => match end {
                    xmlparser::ElementEnd::Open | xmlparser::ElementEnd::Empty => {
                        let (prefix, local, raw) = pending
                            .take()
                            .ok_or_else(|| TreeError::Malformed("stray tag end".into()))?;
                        let mut ns_decls = Vec::new();
                        let mut plain = Vec::new();
                        for (p, l, v) in raw {
                            if p.is_empty() && l == "xmlns" {
                                ns_decls.push((String::new(), v));
                            } else if p == "xmlns" {
                                ns_decls.push((l, v));
                            } else {
                                plain.push((p, l, v));
                            }
                        }
                        let mut scope = scopes.last().cloned().unwrap_or_default();
                        if !ns_decls.is_empty() {
                            let own = Rc::make_mut(&mut scope);
                            for (p, u) in &ns_decls {
                                own.insert(p.clone(), u.clone());
                            }
                        }
                        let resolve = |p: &str| -> Result<String, TreeError> {
                            if p == "xml" {
                                return Ok(XML_NS.into());
                            }
                            scope
                                .get(p)
                                .cloned()
                                .ok_or_else(|| TreeError::UnknownPrefix(p.to_string()))
                        };
                        let ns = if prefix.is_empty() {
                            scope.get("").cloned().unwrap_or_default()
                        } else {
                            resolve(&prefix)?
                        };
                        let mut attrs = Vec::new();
                        for (p, l, v) in plain {
                            let ans = if p.is_empty() {
                                String::new()
                            } else {
                                resolve(&p)?
                            };
                            if attrs.iter().any(|a: &Attr| a.local == l && a.ns == ans) {
                                return Err(TreeError::Malformed(format!(
                                    "attribute `{l}` appears twice"
                                )));
                            }
                            attrs.push(Attr {
                                prefix: p,
                                local: l,
                                ns: ans,
                                value: v,
                            });
                        }
                        let id = nodes.len();
                        let parent = open.last().copied();
                        nodes.push(Node {
                            parent,
                            kind: Kind::Element(Element {
                                prefix,
                                local,
                                ns,
                                attrs,
                                ns_decls,
                                children: Vec::new(),
                            }),
                        });
                        if let Some(p) = parent {
                            push_child(&mut nodes, p, id);
                        }
                        if matches!(end, xmlparser::ElementEnd::Open) {
                            open.push(id);
                            scopes.push(scope);
                        } else if open.is_empty() {
                            root_done = true;
                        }
                    }
                    xmlparser::ElementEnd::Close(prefix, local) => {
                        let id = open
                            .pop()
                            .ok_or_else(|| TreeError::Malformed("stray closing tag".into()))?;
                        scopes.pop();
                        if let Kind::Element(e) = &nodes[id].kind {
                            if e.prefix != prefix.as_str() || e.local != local.as_str() {
                                return Err(TreeError::Malformed(format!(
                                    "`{}` closed by `{}`",
                                    e.local,
                                    local.as_str()
                                )));
                            }
                        }
                        if open.is_empty() {
                            root_done = true;
                        }
                    }
                },
                Token::Text { text } => {
                    let Some(&parent) = open.last() else {
                        if text.as_str().trim().is_empty() {
                            continue;
                        }
                        return Err(TreeError::Malformed("text outside the root element".into()));
                    };
                    let value = unescape(&normalise_newlines(text.as_str()))?;
                    push_text(&mut nodes, parent, value);
                }
                Token::Cdata { text, .. } => {
                    let Some(&parent) = open.last() else {
                        return Err(TreeError::Malformed(
                            "CDATA outside the root element".into(),
                        ));
                    };
                    push_text(&mut nodes, parent, normalise_newlines(text.as_str()));
                }
                Token::Comment { .. } => {
                    if let Some(&parent) = open.last() {
                        let id = nodes.len();
                        nodes.push(Node {
                            parent: Some(parent),
                            kind: Kind::Comment,
                        });
                        push_child(&mut nodes, parent, id);
                    }
                }
                Token::ProcessingInstruction {
                    target, content, ..
                } => {
                    if let Some(&parent) = open.last() {
                        let id = nodes.len();
                        nodes.push(Node {
                            parent: Some(parent),
                            kind: Kind::Pi {
                                target: target.as_str().into(),
                                content: content
                                    .map(|c| c.as_str().to_string())
                                    .unwrap_or_default(),
                            },
                        });
                        push_child(&mut nodes, parent, id);
                    }
                }
            }
        }
        if nodes.is_empty() || !open.is_empty() {
            return Err(TreeError::Malformed("the document ends early".into()));
        }
        Ok(Tree {
            nodes,
            context: base,
        })
    }

    /// The element at `id`; `None` for text, comments and processing instructions.
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.nodes.get(id)?.kind {
            Kind::Element(e) => Some(e),
            _ => None,
        }
    }

    /// Whether `id` is the element `{ns}local`.
    pub fn is(&self, id: NodeId, ns: &str, local: &str) -> bool {
        self.element(id)
            .is_some_and(|e| e.ns == ns && e.local == local)
    }

    /// The child elements of `id`.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.element(id)
            .map(|e| e.children.as_slice())
            .unwrap_or(&[])
            .iter()
            .copied()
            .filter(|c| self.element(*c).is_some())
    }

    /// The child elements of `id` named `{ns}local`.
    pub fn children_named<'a>(
        &'a self,
        id: NodeId,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id)
            .filter(move |c| self.is(*c, ns, local))
    }

    /// The only child `{ns}local` of `id`; `None` when there is none or more than one.
    pub fn only_child(&self, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
        let mut it = self.children_named(id, ns, local);
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// Every element of the document, in document order.
    pub fn elements(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).filter(|i| self.element(*i).is_some())
    }

    /// The unqualified attribute `name` of element `id`.
    pub fn attr(&self, id: NodeId, name: &str) -> Option<&str> {
        self.element(id)?
            .attrs
            .iter()
            .find(|a| a.ns.is_empty() && a.local == name)
            .map(|a| a.value.as_str())
    }

    /// All text inside `id`, comments skipped: the value as the signer's canonical form saw it.
    pub fn text(&self, id: NodeId) -> String {
        let mut out = String::new();
        self.collect_text(id, &mut out);
        out
    }

    fn collect_text(&self, id: NodeId, out: &mut String) {
        match &self.nodes[id].kind {
            Kind::Text(t) => out.push_str(t),
            Kind::Element(e) => {
                for c in &e.children {
                    self.collect_text(*c, out);
                }
            }
            _ => {}
        }
    }

    /// The namespaces in scope at element `id` (its own declarations, its ancestors', and the
    /// context the document was parsed in).
    pub fn in_scope(&self, id: NodeId) -> BTreeMap<String, String> {
        let mut chain = Vec::new();
        let mut at = Some(id);
        while let Some(i) = at {
            chain.push(i);
            at = self.nodes[i].parent;
        }
        let mut scope = self.context.clone();
        for i in chain.into_iter().rev() {
            if let Some(e) = self.element(i) {
                for (p, u) in &e.ns_decls {
                    scope.insert(p.clone(), u.clone());
                }
            }
        }
        scope
    }

    /// The namespaces in scope around the root.
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }

    /// Whether `ancestor` is `id` or one of its ancestors.
    pub fn contains(&self, ancestor: NodeId, id: NodeId) -> bool {
        let mut at = Some(id);
        while let Some(i) = at {
            if i == ancestor {
                return true;
            }
            at = self.nodes[i].parent;
        }
        false
    }
}

fn push_child(nodes: &mut [Node], parent: NodeId, child: NodeId) {
    if let Kind::Element(e) = &mut nodes[parent].kind {
        e.children.push(child);
    }
}

/// Adjacent text (split by entity references in the tokenizer) is one node, as in the XPath
/// data model that canonicalization uses.
fn push_text(nodes: &mut Vec<Node>, parent: NodeId, value: String) {
    let last = match &nodes[parent].kind {
        Kind::Element(e) => e.children.last().copied(),
        _ => None,
    };
    if let Some(last) = last {
        if let Kind::Text(t) = &mut nodes[last].kind {
            t.push_str(&value);
            return;
        }
    }
    let id = nodes.len();
    nodes.push(Node {
        parent: Some(parent),
        kind: Kind::Text(value),
    });
    push_child(nodes, parent, id);
}

fn normalise_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Attribute-value normalisation (XML 1.0 §3.3.3): literal whitespace becomes a space before
/// character references are expanded.
fn normalise_attr(s: &str) -> String {
    normalise_newlines(s).replace(['\n', '\t'], " ")
}

/// Expands the predefined entities and character references; refuses any other entity.
fn unescape(s: &str) -> Result<String, TreeError> {
    if !s.contains('&') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| TreeError::Malformed("an `&` without `;`".into()))?;
        let name = &after[..end];
        let ch = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if name.starts_with("#x") => u32::from_str_radix(&name[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    TreeError::Malformed(format!("bad character reference `&{name};`"))
                })?,
            _ if name.starts_with('#') => name[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    TreeError::Malformed(format!("bad character reference `&{name};`"))
                })?,
            _ => return Err(TreeError::Entity(name.to_string())),
        };
        out.push(ch);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_joins_around_comments_and_entities() {
        let t = Tree::parse("<a:x xmlns:a=\"urn:a\">admin@example.com<!---->.evil&amp;test</a:x>")
            .expect("parses");
        assert_eq!(t.text(0), "admin@example.com.evil&test");
        assert!(t.is(0, "urn:a", "x"));
    }

    #[test]
    fn doctypes_and_unknown_entities_are_refused() {
        let xxe = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
        assert_eq!(Tree::parse(xxe).expect_err("doctype"), TreeError::Doctype);
        assert!(matches!(
            Tree::parse("<r>&x;</r>"),
            Err(TreeError::Entity(_))
        ));
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(Tree::parse(&deep).expect_err("deep"), TreeError::TooDeep);
        assert!(Tree::parse("<a><b></a>").is_err());
        assert!(Tree::parse("<p:a/>").is_err());
    }
}
