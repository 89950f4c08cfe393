//! ARN templates with capture references: `$1`, `${1}`, `${account}`, `$$` for a literal `$`,
//! and the built-in `${partition}` (the configured partition, unless the pattern has a group of
//! that name).
//!
//! Why not `regex::Captures::expand`: it reads `$1_x` as a group named `1_x` and silently puts
//! nothing for unknown names. Here every reference is checked against the pattern when the rule
//! is saved, and every captured value must be made of IAM name characters
//! (`A-Z a-z 0-9 + = , . @ _ -`), so a group name can never add a `:` or `/` and reshape the ARN.

use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::PatternID;

use crate::domain::aws::Partition;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Index(usize),
    Name(String),
    Partition,
}

/// A parsed template whose references all exist in its rule's pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`$` at position {0} starts no reference: write $1, ${{name}}, or $$ for a literal $")]
    Dangling(usize),
    #[error("`${{` at position {0} is never closed with `}}`")]
    Unclosed(usize),
    #[error("`${{{0}}}` is not a group name: use letters, digits and _")]
    BadName(String),
    #[error("`${0}` refers to capture group {0}, but the pattern has only {1}")]
    NoSuchIndex(usize, usize),
    #[error("`${{{0}}}` refers to a named group the pattern does not have")]
    NoSuchName(String),
}

/// Why one expansion produced nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("capture `{0}` is empty")]
    Empty(String),
    #[error(
        "capture `{name}` is `{value}`, which has characters IAM names do not allow (allowed: A-Z a-z 0-9 + = , . @ _ -)"
    )]
    Unsafe { name: String, value: String },
}

/// Characters a captured value may contain: IAM's name alphabet. No `:` or `/`, so captures
/// cannot add ARN fields or path segments.
pub fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

impl Template {
    /// Parses `raw` and checks every reference against `regex`'s groups.
    pub fn parse(raw: &str, regex: &Regex) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = raw.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            if c != '$' {
                literal.push(c);
                continue;
            }
            let part = match chars.peek().copied() {
                Some((_, '$')) => {
                    chars.next();
                    literal.push('$');
                    continue;
                }
                Some((_, '{')) => {
                    chars.next();
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed(at));
                    }
                    reference(&name, regex)?
                }
                Some((_, d)) if d.is_ascii_digit() => {
                    let mut digits = String::new();
                    while let Some((_, d)) = chars.peek().copied() {
                        if !d.is_ascii_digit() {
                            break;
                        }
                        digits.push(d);
                        chars.next();
                    }
                    reference(&digits, regex)?
                }
                _ => return Err(TemplateError::Dangling(at)),
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// Whether the template refers to any capture (a template without one gives the same ARN
    /// for every matching group).
    pub fn has_captures(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Index(_) | Part::Name(_)))
    }

    /// Fills the template from one match of `haystack`.
    pub fn expand(
        &self,
        haystack: &str,
        caps: &Captures,
        partition: Partition,
    ) -> Result<String, ExpandError> {
        let text = |span: Option<regex_automata::Span>| span.map_or("", |s| &haystack[s.range()]);
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            let (label, value) = match part {
                Part::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Part::Partition => {
                    out.push_str(partition.as_str());
                    continue;
                }
                Part::Index(i) => (i.to_string(), text(caps.get_group(*i))),
                Part::Name(n) => (n.clone(), text(caps.get_group_by_name(n))),
            };
            if value.is_empty() {
                return Err(ExpandError::Empty(label));
            }
            if !value.chars().all(is_iam_name_char) {
                return Err(ExpandError::Unsafe {
                    name: label,
                    value: value.to_string(),
                });
            }
            out.push_str(value);
        }
        Ok(out)
    }

    /// The template with each capture replaced by a value that is valid where it stands (an
    /// account id in the account field, a name elsewhere): used at save time to check that the
    /// template's fixed parts make an ARN of the right kind.
    pub fn sample(&self, partition: Partition) -> String {
        self.fill(partition, |field| match field {
            1 => partition.as_str(),
            4 => "123456789012",
            _ => "Sample",
        })
    }

    /// Whether a capture stands in the account field (the fifth `:`-separated one).
    pub fn account_from_capture(&self) -> bool {
        let mut account = false;
        self.fill(Partition::Aws, |field| {
            account |= field == 4;
            ""
        });
        account
    }

    /// The template as it reads for one account: captures in the account field become
    /// `account`, every other capture `*` (any name a group may bring).
    pub fn for_account(&self, partition: Partition, account: &str) -> String {
        self.fill(partition, |field| if field == 4 { account } else { "*" })
    }

    /// The template with each capture replaced by `value(field)`, `field` being the index of
    /// the `:`-separated ARN field the capture stands in (captures never contain `:`, so the
    /// literals before a capture fix its field).
    fn fill<'v>(&self, partition: Partition, mut value: impl FnMut(usize) -> &'v str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Partition => out.push_str(partition.as_str()),
                Part::Index(_) | Part::Name(_) => {
                    let field = out.matches(':').count();
                    out.push_str(value(field));
                }
            }
        }
        out
    }
}

fn reference(name: &str, regex: &Regex) -> Result<Part, TemplateError> {
    let info = regex.group_info();
    let groups = info.group_len(PatternID::ZERO).saturating_sub(1);
    if let Ok(i) = name.parse::<usize>() {
        return if i == 0 || i <= groups {
            Ok(Part::Index(i))
        } else {
            Err(TemplateError::NoSuchIndex(i, groups))
        };
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(TemplateError::BadName(name.to_string()));
    }
    if info
        .pattern_names(PatternID::ZERO)
        .flatten()
        .any(|n| n == name)
    {
        Ok(Part::Name(name.to_string()))
    } else if name == "partition" {
        Ok(Part::Partition)
    } else {
        Err(TemplateError::NoSuchName(name.to_string()))
    }
}

/// `*` (any run, `/` included) and `?` (one character) over a whole ARN, as in IAM policies.
/// Deny rules use it; iterative with one backtrack point, so no pattern is slow.
///
/// Unless `case_sensitive`, letters match ignoring case, like the rule's group pattern: a deny
/// that is stricter about case than the allow it guards lets `role/Landing` through a
/// `role/*landing*` deny (and IAM role names are unique ignoring case anyway).
pub fn glob_match(pattern: &str, text: &str, case_sensitive: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if case_sensitive {
            s.chars().collect()
        } else {
            s.chars().map(super::rule::fold_char).collect()
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> Regex {
        Regex::new(p).expect("test regex")
    }

    fn expand(t: &Template, r: &Regex, hay: &str) -> Result<String, ExpandError> {
        let mut caps = r.create_captures();
        r.captures(hay, &mut caps);
        assert!(caps.is_match(), "{hay} matches");
        t.expand(hay, &caps, Partition::Aws)
    }

    #[test]
    fn references_by_number_and_name() {
        let r = re(r"^AWS-(?P<account>\d{12})-(\w+)$");
        let t = Template::parse("arn:${partition}:iam::${account}:role/$2", &r).expect("valid");
        let hay = "AWS-123456789012-Admin";
        let mut caps = r.create_captures();
        r.captures(hay, &mut caps);
        assert_eq!(
            t.expand(hay, &caps, Partition::AwsCn).expect("expands"),
            "arn:aws-cn:iam::123456789012:role/Admin"
        );
    }

    #[test]
    fn unknown_references_are_refused_at_parse_time() {
        let r = re(r"^AWS-(\d{12})$");
        assert_eq!(
            Template::parse("arn:aws:iam::$1:role/$2", &r),
            Err(TemplateError::NoSuchIndex(2, 1))
        );
        assert_eq!(
            Template::parse("${role}", &r),
            Err(TemplateError::NoSuchName("role".into()))
        );
        assert_eq!(Template::parse("x$", &r), Err(TemplateError::Dangling(1)));
        assert_eq!(Template::parse("${1", &r), Err(TemplateError::Unclosed(0)));
        assert_eq!(
            Template::parse("${a-b}", &r),
            Err(TemplateError::BadName("a-b".into()))
        );
    }

    #[test]
    fn dollar_dollar_is_a_literal() {
        let r = re("x");
        let t = Template::parse("a$$b", &r).expect("valid");
        assert_eq!(expand(&t, &r, "x").expect("expands"), "a$b");
    }

    #[test]
    fn captures_with_separators_are_refused() {
        let r = re(r"^G-(.+)$");
        let t = Template::parse("arn:aws:iam::123456789012:role/$1", &r).expect("valid");
        assert!(matches!(
            expand(&t, &r, "G-x:role/y"),
            Err(ExpandError::Unsafe { .. })
        ));
    }

    #[test]
    fn samples_put_an_account_in_the_account_field() {
        let r = re(r"^(\d+)-(\w+)$");
        let t = Template::parse("arn:aws:iam::$1:role/team/$2", &r).expect("valid");
        assert_eq!(
            t.sample(Partition::Aws),
            "arn:aws:iam::123456789012:role/team/Sample"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match(
            "arn:aws:iam::*:role/*Admin*",
            "arn:aws:iam::123456789012:role/ops/Admin",
            true
        ));
        assert!(glob_match("a?c", "abc", true));
        assert!(!glob_match("a?c", "ac", true));
        assert!(!glob_match(
            "arn:aws:iam::111111111111:role/*",
            "arn:aws:iam::222222222222:role/Admin",
            false
        ));
        assert!(glob_match("*", "", true));
        assert!(!glob_match("", "x", false));
    }

    #[test]
    fn globs_ignore_case_unless_told_not_to() {
        let deny = "arn:aws:iam::*:role/*landing*";
        let role = "arn:aws:iam::123456789012:role/Landing";
        assert!(glob_match(deny, role, false));
        assert!(!glob_match(deny, role, true));
        assert!(glob_match("A?C", "abc", false));
    }
}
