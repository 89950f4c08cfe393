//! What shapes a session: RoleSessionName, SourceIdentity, SessionDuration and session tags,
//! each checked against the limits AWS enforces.

use sha2::{Digest, Sha256};

use super::*;

fn session_like(attribute: &str, raw: &str) -> Result<String, AwsRuleError> {
    let n = raw.chars().count();
    if !(2..=64).contains(&n) {
        return Err(AwsRuleError::new(
            attribute,
            raw,
            &format!("has {n} characters, but AWS requires 2 to 64"),
            "change the template in the [saml] settings, or let fedbroker sanitise it",
        ));
    }
    if !SESSION_CHARS.is_match(raw) {
        return Err(AwsRuleError::new(
            attribute,
            raw,
            "contains characters AWS rejects (allowed: A-Z a-z 0-9 + = , . @ _ -)",
            "change the template in the [saml] settings, or let fedbroker sanitise it",
        ));
    }
    Ok(raw.to_string())
}

/// Hex digits of the SHA-256 that marks a rewritten session name: 64 bits, so nobody can
/// choose a raw name whose rewrite lands on another person's (a 32-bit mark can be searched
/// for in minutes).
const MARK_HEX: usize = 16;

/// Longest per-source suffix: leaves room for a rewritten name's readable part and its mark.
pub const MAX_SESSION_SUFFIX: usize = 32;

pub(super) fn is_session_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Whether `s` ends the way a rewritten name does (`-` and 16 lowercase hex digits). A raw
/// name that looks like this is rewritten too, so a plain name never equals a rewritten one.
pub fn looks_rewritten(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > MARK_HEX
        && b[b.len() - MARK_HEX - 1] == b'-'
        && b[b.len() - MARK_HEX..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// Checks a per-source session name suffix: `@` first and nowhere else, then AWS's
/// session-name alphabet, at most [`MAX_SESSION_SUFFIX`] characters. The single leading `@`
/// is what makes names unambiguous: no suffix can end another, and a rewritten name's
/// `-<hex>` mark never ends with one.
pub fn check_session_suffix(suffix: &str) -> Result<(), String> {
    let ok = suffix.len() >= 2
        && suffix.len() <= MAX_SESSION_SUFFIX
        && suffix.starts_with('@')
        && suffix[1..].chars().all(|c| is_session_char(c) && c != '@')
        && !looks_rewritten(suffix);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{suffix}` must be `@` followed by 1-{} of A-Z a-z 0-9 + = , . _ - (no second `@`)",
            MAX_SESSION_SUFFIX - 1
        ))
    }
}

/// Turns the rendered `[saml]` templates into RoleSessionName and SourceIdentity values that
/// AWS accepts and that never belong to two people, since CloudTrail attributes every action
/// of a session to them.
///
/// A value from an external source gets that source's suffix (default `@<source id>`); a local
/// user's gets none. A value is sent as it is (plus the suffix) only when it is already in
/// AWS's alphabet and length, does not end like a rewritten value and (for a local user) does
/// not end with a source's suffix. Anything else is rewritten: disallowed characters become
/// `-`, the text is cut to fit, and `-` plus 16 hex digits of the SHA-256 of the source and
/// the original is appended (before the suffix). So a name decodes to exactly one source (by
/// its suffix) and one original (as it is, or through the hash).
#[derive(Debug, Clone, Default)]
pub struct SessionNaming {
    /// Source id → suffix, for every configured external source.
    suffixes: std::collections::BTreeMap<String, String>,
}

impl SessionNaming {
    /// `suffixes`: (source id, suffix) of every external source, already checked with
    /// [`check_session_suffix`] and distinct.
    pub fn new(suffixes: impl IntoIterator<Item = (String, String)>) -> SessionNaming {
        SessionNaming {
            suffixes: suffixes.into_iter().collect(),
        }
    }

    /// The suffix of a source: none for `local`, the configured one, or `@<id>` for a source
    /// no longer configured.
    pub fn suffix_of(&self, source: &str) -> String {
        if source.is_empty() || source == "local" {
            return String::new();
        }
        self.suffixes.get(source).cloned().unwrap_or_else(|| {
            let id: String = source
                .chars()
                .map(|c| {
                    if is_session_char(c) && c != '@' {
                        c
                    } else {
                        '-'
                    }
                })
                .take(MAX_SESSION_SUFFIX - 1)
                .collect();
            format!("@{id}")
        })
    }

    /// The value sent for `raw` (a rendered template) of a person from `source`.
    pub fn name(&self, source: &str, raw: &str) -> String {
        let suffix = self.suffix_of(source);
        let whole = format!("{raw}{suffix}");
        // Ignoring case: `bob@CORP` must not pass for corp's `bob` in a case-blind search.
        let lower = whole.to_ascii_lowercase();
        let takes_another_sources_suffix = self
            .suffixes
            .iter()
            .any(|(id, s)| id != source && lower.ends_with(&s.to_ascii_lowercase()));
        let clean = raw.chars().all(is_session_char)
            && (2..=64).contains(&whole.len())
            && !looks_rewritten(raw)
            && !takes_another_sources_suffix;
        if clean {
            return whole;
        }
        let mut hasher = Sha256::new();
        hasher.update(source.as_bytes());
        hasher.update([0]);
        hasher.update(raw.as_bytes());
        let mark = &hex::encode(hasher.finalize())[..MARK_HEX];
        let room = 64 - suffix.len() - 1 - MARK_HEX;
        let keep: String = raw
            .chars()
            .map(|c| if is_session_char(c) { c } else { '-' })
            .take(room)
            .collect();
        let keep = if keep.is_empty() {
            "u".to_string()
        } else {
            keep
        };
        format!("{keep}-{mark}{suffix}")
    }
}

/// [`SessionNaming::name`] for a local user when no source is configured.
pub fn sanitize_session_text(raw: &str) -> String {
    SessionNaming::default().name("local", raw)
}

/// `RoleSessionName`: 2–64 characters of `[A-Za-z0-9_+=,.@-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSessionName(String);

impl RoleSessionName {
    /// Parses a value exactly as given.
    pub fn parse(raw: &str) -> Result<RoleSessionName, AwsRuleError> {
        session_like("RoleSessionName", raw).map(RoleSessionName)
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `SourceIdentity`: like a session name, and never starting with `aws:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIdentity(String);

impl SourceIdentity {
    /// Parses a value exactly as given.
    pub fn parse(raw: &str) -> Result<SourceIdentity, AwsRuleError> {
        let v = session_like("SourceIdentity", raw)?;
        if v.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsRuleError::new(
                "SourceIdentity",
                raw,
                "starts with the reserved prefix aws:",
                "change the source identity template",
            ));
        }
        Ok(SourceIdentity(v))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `SessionDuration` in seconds: 900 (15 minutes) to 43200 (12 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionDuration(u32);

impl SessionDuration {
    /// Checks the range.
    pub fn parse(secs: i64) -> Result<SessionDuration, AwsRuleError> {
        if (900..=43200).contains(&secs) {
            Ok(SessionDuration(secs as u32))
        } else {
            Err(AwsRuleError::new(
                "SessionDuration",
                &secs.to_string(),
                "is outside 900 to 43200 seconds",
                "choose between 15 minutes and 12 hours (and no more than the role's MaxSessionDuration)",
            ))
        }
    }

    /// Seconds.
    pub fn secs(&self) -> u32 {
        self.0
    }
}

/// Session tags: at most 50, keys 1–128 and values 0–256 characters of AWS's tag alphabet,
/// keys unique ignoring case and not starting with `aws:`, transitive keys among the keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionTags {
    tags: Vec<(String, String)>,
    transitive: Vec<String>,
}

impl SessionTags {
    /// Checks every tag; returns all violations, not just the first.
    pub fn parse(
        tags: Vec<(String, String)>,
        transitive: Vec<String>,
    ) -> Result<SessionTags, Vec<AwsRuleError>> {
        let mut errors = Vec::new();
        if tags.len() > 50 {
            errors.push(AwsRuleError::new(
                "PrincipalTag",
                &format!("{} tags", tags.len()),
                "is more than the 50 session tags AWS accepts",
                "send fewer tags",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (key, value) in &tags {
            let attr = format!("PrincipalTag:{key}");
            let klen = key.chars().count();
            if !(1..=128).contains(&klen) || !TAG_CHARS.is_match(key) {
                errors.push(AwsRuleError::new(
                    &attr,
                    key,
                    "is not a valid tag key (1-128 letters, digits, spaces and _ . : / = + - @)",
                    "rename the tag in the [saml] principal_tags setting",
                ));
            }
            if key.to_ascii_lowercase().starts_with("aws:") {
                errors.push(AwsRuleError::new(
                    &attr,
                    key,
                    "uses the reserved prefix aws:",
                    "rename the tag",
                ));
            }
            if !seen.insert(key.to_lowercase()) {
                errors.push(AwsRuleError::new(
                    &attr,
                    key,
                    "appears twice (tag keys are case-insensitive in AWS)",
                    "keep one of them",
                ));
            }
            if value.chars().count() > 256 || !TAG_CHARS.is_match(value) {
                errors.push(AwsRuleError::new(
                    &attr,
                    value,
                    "is not a valid tag value (at most 256 letters, digits, spaces and _ . : / = + - @)",
                    "change the template or the user's attribute",
                ));
            }
        }
        for key in &transitive {
            if !tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                errors.push(AwsRuleError::new(
                    "TransitiveTagKeys",
                    key,
                    "names a tag that is not sent",
                    "list only keys of principal_tags",
                ));
            }
        }
        if errors.is_empty() {
            Ok(SessionTags { tags, transitive })
        } else {
            Err(errors)
        }
    }

    /// The tags, in order.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }

    /// Keys that follow the session through role chaining.
    pub fn transitive(&self) -> &[String] {
        &self.transitive
    }

    /// Whether any tag is sent (the role then needs `sts:TagSession`).
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

/// After this long, a learned MaxSessionDuration is put to STS again (seconds): an
/// administrator may have raised the role's limit since.
pub const REPROBE_AFTER_SECS: i64 = 86_400;

/// Largest `SAMLResponse` (base64 characters) AssumeRoleWithSAML accepts.
pub const MAX_SAML_RESPONSE_BASE64: usize = 100_000;

/// Checks a session tag key as written in a rule or the settings: 1-128 characters of AWS's
/// tag alphabet, not starting with `aws:`.
pub fn check_tag_key(key: &str) -> Result<(), String> {
    let n = key.chars().count();
    if !(1..=128).contains(&n) || !TAG_CHARS.is_match(key) {
        return Err(format!(
            "tag key `{key}` must be 1-128 letters, digits, spaces and _ . : / = + - @"
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!(
            "tag key `{key}` uses the prefix aws:, which AWS reserves"
        ));
    }
    Ok(())
}
