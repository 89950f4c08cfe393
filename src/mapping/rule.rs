//! One mapping rule as an admin writes it ([`RuleSpec`]) and as the engine runs it
//! ([`CompiledRule`]). Everything that can be checked without a group is checked when the rule
//! is saved, field by field, so the admin UI can show each error next to its input.

use regex_automata::meta::{self, Regex};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::Hir;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::session::{SessionShape, SessionSpec};
use super::template::{Template, TemplateError};
use crate::domain::aws::{Partition, Region, RoleArn, RolePair, SamlProviderArn, SessionDuration};

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Grants the role its template produces.
    #[default]
    Allow,
    /// Removes every granted role whose ARN matches its glob; applied after all allows.
    Deny,
}

impl Effect {
    pub fn as_str(&self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }

    pub fn parse(raw: &str) -> Option<Effect> {
        match raw {
            "allow" => Some(Effect::Allow),
            "deny" => Some(Effect::Deny),
            _ => None,
        }
    }
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A rule as written: in the admin form, the database and `rules.yaml` alike. The order of
/// rules (priority) is kept beside it, not in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique name, shown in dry runs and the history.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    #[serde(default)]
    pub effect: Effect,
    /// Regex over one group name. It must match the whole name (fedbroker anchors it), so
    /// `AWS-(\d{12})-(.+)` never matches `NOT-AWS-…`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Group names, and a deny rule's ARN glob, are compared ignoring case unless this is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub case_sensitive: bool,
    /// Allow: role ARN template. Deny: role ARN glob (`*`, `?`), captures allowed.
    pub role: String,
    /// SAML provider ARN template; default: the role's account's provider named in settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// SessionDuration for roles from this rule (900–43200 s); default from settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<i64>,
    /// Console page to land on (RelayState), an https URL on the partition's console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<String>,
    /// Session policies, tags and session name for roles from this rule.
    #[serde(default, skip_serializing_if = "SessionSpec::is_empty")]
    pub session: SessionSpec,
}

/// One problem with one field of a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A validated rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// What it was compiled from: an unchanged rule is reused when the set is recompiled.
    pub source: RuleSpec,
    pub name: String,
    pub effect: Effect,
    /// The pattern as the engine runs it: anchored, with the case flag.
    pub anchored: String,
    pub regex: Regex,
    /// Literal prefixes every matching group starts with (case variants spelled out), for the
    /// engine's prefilter; `None` when the pattern has none and must be tried on every group.
    pub prefixes: Option<Vec<Vec<u8>>>,
    pub role: Template,
    pub provider: Option<Template>,
    pub duration: Option<SessionDuration>,
    pub relay_state: Option<String>,
    /// Shared by every grant of the rule.
    pub session: Arc<SessionShape>,
}

/// Bounds a rule's compiled size so that one pasted monster cannot slow every sign-in.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
const NAME_MAX: usize = 100;

/// Why not the `regex` crate's default: its lazy DFA costs ~0.2 ms to set up per rule (0.25 s
/// for 1,000 rules) and buys nothing on group names of a few dozen bytes, where the bounded
/// backtracker finds captures in ~130 ns. The one-pass DFA is off too: ~0.6 ms to build for a
/// case-insensitive `\w+`, for ~50 ns saved per match.
fn engine_config() -> meta::Config {
    meta::Config::new()
        .hybrid(false)
        .dfa(false)
        .onepass(false)
        .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
}

/// Compiles an anchored pattern; the error is for people.
fn build(anchored: &str) -> Result<(Regex, Hir), String> {
    let hir = regex_syntax::Parser::new()
        .parse(anchored)
        .map_err(|e| format!("is not a valid regular expression: {e}"))?;
    let regex = meta::Builder::new()
        .configure(engine_config())
        .build_from_hir(&hir)
        .map_err(|e| {
            if e.size_limit().is_some() {
                "compiles too large for a group-name pattern: counted repetitions of Unicode classes \
                 (e.g. \\w{1,64}) are the usual cause; use + or an ASCII class such as [A-Za-z0-9_]"
                    .to_string()
            } else {
                format!("is not a valid regular expression: {e}")
            }
        })?;
    Ok((regex, hir))
}

/// Folds text for the prefilter: ASCII lower case, plus the two non-ASCII characters that
/// Unicode case folding maps onto ASCII letters (U+017F long s, U+212A Kelvin sign). Other
/// characters stay as they are.
pub fn fold_char(c: char) -> char {
    match c {
        '\u{17F}' => 's',
        '\u{212A}' => 'k',
        c => c.to_ascii_lowercase(),
    }
}

/// The folded literal prefixes of a pattern, if it has a usable set of them. Case variants
/// the parser spells out collapse into one literal; a literal is cut at its first non-ASCII
/// character (whose case variants folding would not cover), which only makes it match more.
fn prefixes(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut extractor = Extractor::new();
    extractor
        .kind(ExtractKind::Prefix)
        .limit_class(8)
        .limit_repeat(4)
        .limit_literal_len(40)
        .limit_total(64);
    let seq = extractor.extract(hir);
    let literals = seq.literals()?;
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(literals.len());
    for literal in literals {
        let text = String::from_utf8_lossy(literal.as_bytes());
        let folded: String = text
            .chars()
            .map(fold_char)
            .take_while(|c| c.is_ascii() && *c != char::REPLACEMENT_CHARACTER)
            .collect();
        if folded.is_empty() {
            return None;
        }
        out.push(folded.into_bytes());
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// The pattern as the engine runs it.
pub fn anchored_pattern(pattern: &str, case_sensitive: bool) -> String {
    let flags = if case_sensitive { "" } else { "(?i)" };
    format!("{flags}^(?:{pattern})$")
}

impl RuleSpec {
    /// A rule with every optional field at its default (enabled, case-insensitive).
    pub fn new(name: &str, effect: Effect, pattern: &str, role: &str) -> RuleSpec {
        RuleSpec {
            name: name.to_string(),
            description: String::new(),
            enabled: true,
            effect,
            pattern: pattern.to_string(),
            case_sensitive: false,
            role: role.to_string(),
            provider: None,
            session_duration: None,
            relay_state: None,
            session: SessionSpec::default(),
        }
    }

    /// Checks every field; on failure every problem is listed, each with its field.
    pub fn compile(&self, partition: Partition) -> Result<CompiledRule, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.push(field("name", "give the rule a name"));
        } else if name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
            errors.push(field(
                "name",
                format!("use at most {NAME_MAX} printable characters"),
            ));
        }
        let anchored = anchored_pattern(&self.pattern, self.case_sensitive);
        let built = if self.pattern.is_empty() {
            errors.push(field(
                "match",
                "give a regular expression over group names, e.g. ^AWS-(\\d{12})-(.+)$",
            ));
            None
        } else {
            match build(&anchored) {
                Ok(built) => Some(built),
                Err(message) => {
                    errors.push(field("match", message));
                    None
                }
            }
        };
        let (regex, hir) = match built {
            Some((r, h)) => (Some(r), Some(h)),
            None => (None, None),
        };
        let mut role = None;
        let mut provider = None;
        if let Some(regex) = &regex {
            match Template::parse(&self.role, regex) {
                Ok(t) => {
                    if let Err(e) = check_role_template(self.effect, &t, partition) {
                        errors.push(field("role", e));
                    }
                    role = Some(t);
                }
                Err(e) => errors.push(field("role", template_error(e))),
            }
            if let Some(raw) = self.provider.as_deref().filter(|p| !p.is_empty()) {
                if self.effect == Effect::Deny {
                    errors.push(field(
                        "provider",
                        "deny rules remove roles; leave the provider empty",
                    ));
                } else {
                    match Template::parse(raw, regex) {
                        Ok(t) => {
                            let sample = t.sample(partition);
                            match SamlProviderArn::parse(&sample) {
                                Err(e) => errors.push(field(
                                    "provider",
                                    format!("does not make a SAML provider ARN (with sample captures it gives `{sample}`: {})", e.rule),
                                )),
                                Ok(p) => {
                                    let pairs = role.as_ref().map(|r| RoleArn::parse(&r.sample(partition)));
                                    if let Some(Ok(r)) = pairs {
                                        if let Err(e) = RolePair::new(r, p) {
                                            errors.push(field("provider", e.rule));
                                        }
                                    }
                                }
                            }
                            provider = Some(t);
                        }
                        Err(e) => errors.push(field("provider", template_error(e))),
                    }
                }
            }
        }
        let duration = match self.session_duration {
            None => None,
            Some(_) if self.effect == Effect::Deny => {
                errors.push(field(
                    "session_duration",
                    "deny rules grant nothing; leave it empty",
                ));
                None
            }
            Some(secs) => match SessionDuration::parse(secs) {
                Ok(d) => Some(d),
                Err(e) => {
                    errors.push(field("session_duration", format!("{}; {}", e.rule, e.fix)));
                    None
                }
            },
        };
        let relay_state = match self.relay_state.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(_) if self.effect == Effect::Deny => {
                errors.push(field(
                    "relay_state",
                    "deny rules grant nothing; leave it empty",
                ));
                None
            }
            Some(url) => match check_console_url(url, partition) {
                Ok(parsed) => Some(parsed),
                Err(e) => {
                    errors.push(field("relay_state", e));
                    None
                }
            },
        };
        let session = if self.session.is_empty() {
            SessionShape::default()
        } else if self.effect == Effect::Deny {
            errors.push(field(
                "session",
                "deny rules grant nothing; leave the session policies, tags and session name empty",
            ));
            SessionShape::default()
        } else {
            match self.session.compile(partition) {
                Ok(shape) => shape,
                Err(e) => {
                    errors.extend(e);
                    SessionShape::default()
                }
            }
        };
        match (regex, role) {
            (Some(regex), Some(role)) if errors.is_empty() => Ok(CompiledRule {
                source: self.clone(),
                name: name.to_string(),
                effect: self.effect,
                anchored,
                prefixes: hir.as_ref().and_then(prefixes),
                regex,
                role,
                provider,
                duration,
                relay_state,
                session: Arc::new(session),
            }),
            _ => Err(errors),
        }
    }
}

fn template_error(e: TemplateError) -> String {
    format!("{e}")
}

fn check_role_template(effect: Effect, t: &Template, partition: Partition) -> Result<(), String> {
    let sample = t.sample(partition);
    match effect {
        Effect::Allow => RoleArn::parse(&sample).map(|_| ()).map_err(|e| {
            format!(
                "does not make an IAM role ARN (with sample captures it gives `{sample}`): {}; {}",
                e.rule, e.fix
            )
        }),
        Effect::Deny => {
            let ok_chars = sample
                .chars()
                .all(|c| super::template::is_iam_name_char(c) || ":/*?".contains(c));
            if sample.starts_with("arn:") && ok_chars && sample.contains(":role/") {
                Ok(())
            } else {
                Err(format!(
                    "is not a role ARN pattern (gives `{sample}`): write e.g. arn:aws:iam::111122223333:role/* \
                     or arn:aws:iam::*:role/*Admin* (`*` any text, `?` one character)"
                ))
            }
        }
    }
}

/// Console deep links: an https URL on one of the partition's console hosts only, so a rule
/// cannot send people to an arbitrary site through the RelayState or the federation
/// `Destination`. The address is parsed the way browsers parse it (WHATWG, the `url` crate) and
/// the host compared exactly, because a text prefix check is fooled by what browsers rewrite
/// (`https://evil.example\.console.aws.amazon.com/` is `evil.example` to a browser). Returns
/// the address as parsed, which is what is sent.
pub fn check_console_url(raw: &str, partition: Partition) -> Result<String, String> {
    let refuse = |why: &str| {
        let home = match partition {
            Partition::Aws => "https://console.aws.amazon.com/… or https://<region>.console.aws.amazon.com/…",
            Partition::AwsUsGov => "https://console.amazonaws-us-gov.com/… or https://<region>.console.amazonaws-us-gov.com/…",
            Partition::AwsCn => "https://console.amazonaws.cn/… or https://<region>.console.amazonaws.cn/…",
        };
        format!("`{raw}` is not an AWS console address ({why}): use {home}")
    };
    // The parser silently drops tabs and newlines and trims spaces; refuse them instead, so
    // what is stored is what was checked.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse("it contains spaces or control characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| refuse(&format!("it is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(refuse("it must start with https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it must not carry a user name or password"));
    }
    if url.port().is_some() || raw.split('/').nth(2).is_some_and(|a| a.contains(':')) {
        return Err(refuse("it must not name a port"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(host)) => host,
        _ => return Err(refuse("its host must be the console's name")),
    };
    let console = match partition {
        Partition::Aws => "console.aws.amazon.com",
        Partition::AwsUsGov => "console.amazonaws-us-gov.com",
        Partition::AwsCn => "console.amazonaws.cn",
    };
    let regional = |region: &str| {
        Region::parse(region).is_ok_and(|r| match partition {
            Partition::Aws => !r.as_str().starts_with("us-gov-") && !r.as_str().starts_with("cn-"),
            Partition::AwsUsGov => r.as_str().starts_with("us-gov-"),
            Partition::AwsCn => r.as_str().starts_with("cn-"),
        })
    };
    let ok = host == console
        || host
            .strip_suffix(console)
            .and_then(|p| p.strip_suffix('.'))
            .is_some_and(regional);
    if ok {
        Ok(url.to_string())
    } else {
        Err(refuse(&format!(
            "its host `{host}` is not {console} or a Region's console of the {partition} partition"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pattern: &str, role: &str) -> RuleSpec {
        RuleSpec::new("r", Effect::Allow, pattern, role)
    }

    fn errors(s: &RuleSpec) -> Vec<&'static str> {
        s.compile(Partition::Aws)
            .err()
            .map(|e| e.iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_good_rule_compiles() {
        let s = spec(
            r"AWS-(?P<account>\d{12})-(?P<role>[\w+=,.@-]+)",
            "arn:${partition}:iam::${account}:role/${role}",
        );
        let c = s.compile(Partition::Aws).expect("valid");
        assert!(c.regex.is_match("aws-123456789012-Admin"));
        assert!(!c.regex.is_match("NOT-AWS-123456789012-Admin"));
        let prefixes = c.prefixes.expect("a literal prefix");
        assert_eq!(
            prefixes,
            vec![b"aws-".to_vec()],
            "case variants fold into one"
        );
        let literal = spec("Team-Ops", "arn:aws:iam::123456789012:role/Ops")
            .compile(Partition::Aws)
            .expect("valid");
        let prefixes = literal.prefixes.expect("a literal prefix");
        assert_eq!(prefixes.len(), 1, "{prefixes:?}");
        assert!(
            b"team-ops".starts_with(&prefixes[0]) && prefixes[0].len() >= 4,
            "{prefixes:?}"
        );
    }

    #[test]
    fn patterns_without_a_literal_prefix_have_no_prefilter() {
        let c = spec(r".*-admins", "arn:aws:iam::123456789012:role/Admin")
            .compile(Partition::Aws)
            .expect("valid");
        assert!(c.prefixes.is_none());
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(errors(&spec("(", "x")), vec!["match"]);
        assert_eq!(errors(&spec("(a)", "arn:aws:s3:::$1")), vec!["role"]);
        assert_eq!(errors(&spec("(a)", "arn:aws:iam::$2:role/x")), vec!["role"]);
        let mut s = spec("(a)", "arn:aws:iam::123456789012:role/$1");
        s.session_duration = Some(60);
        s.relay_state = Some("https://evil.example/".into());
        s.provider = Some("arn:aws:iam::999999999999:saml-provider/x".into());
        s.name = String::new();
        assert_eq!(
            errors(&s),
            vec!["name", "provider", "session_duration", "relay_state"]
        );
    }

    #[test]
    fn deny_rules_take_globs() {
        let mut s = spec("Contractors", "arn:aws:iam::111122223333:role/*");
        s.effect = Effect::Deny;
        assert!(s.compile(Partition::Aws).is_ok());
        s.role = "prod-*".into();
        assert_eq!(errors(&s), vec!["role"]);
    }

    #[test]
    fn console_urls() {
        let ok = |u: &str| check_console_url(u, Partition::Aws);
        assert_eq!(
            ok("https://console.aws.amazon.com/s3/home").as_deref(),
            Ok("https://console.aws.amazon.com/s3/home")
        );
        assert!(ok("https://us-east-2.console.aws.amazon.com/ec2/").is_ok());
        assert!(
            ok("https://CONSOLE.aws.amazon.com/").is_ok(),
            "hosts ignore case"
        );
        for bad in [
            "https://console.aws.amazon.com.evil.example/",
            "https://evilconsole.aws.amazon.com/",
            "http://console.aws.amazon.com/",
            "https://user@console.aws.amazon.com/",
            "https://user:pw@console.aws.amazon.com/",
            "https://evil.example\\.console.aws.amazon.com/",
            "https://evil.example%5c.console.aws.amazon.com/",
            "https://evil.example/.console.aws.amazon.com/",
            "https://evil.example#.console.aws.amazon.com/",
            "https://evil.example?.console.aws.amazon.com/",
            "https://console.aws.amazon.com:8443/",
            "https://console.aws.amazon.com:443/",
            "https://a.b.console.aws.amazon.com/",
            "https://s3.console.aws.amazon.com/",
            "https://us-gov-west-1.console.aws.amazon.com/",
            "https://console.amazonaws-us-gov.com/",
            "https://console.aws.amazon.com/\nx",
            "https://console.aws.amazon.com/ x",
            "https://1.2.3.4/",
            "javascript:alert(1)//console.aws.amazon.com/",
            "//console.aws.amazon.com/",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let gov = |u: &str| check_console_url(u, Partition::AwsUsGov);
        assert!(gov("https://console.amazonaws-us-gov.com/").is_ok());
        assert!(gov("https://us-gov-west-1.console.amazonaws-us-gov.com/").is_ok());
        assert!(gov("https://console.aws.amazon.com/").is_err());
        let cn = |u: &str| check_console_url(u, Partition::AwsCn);
        assert!(cn("https://cn-north-1.console.amazonaws.cn/").is_ok());
        assert!(cn("https://us-east-1.console.amazonaws.cn/").is_err());
    }
}
