//! AWS identifiers and the limits AWS sign-in and STS enforce on SAML attributes.
//!
//! Every value here is parsed once; a value that exists is one AWS accepts. The error says which
//! rule was broken and how to fix it, because AWS itself only answers "invalid SAML response".

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

/// One rule of AWS broken by one value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{attribute}: `{value}` {rule}; {fix}")]
pub struct AwsRuleError {
    /// The SAML attribute or setting the value is for.
    pub attribute: String,
    /// The offending value (shortened when long).
    pub value: String,
    /// The rule AWS enforces.
    pub rule: String,
    /// How to fix it.
    pub fix: String,
}

impl AwsRuleError {
    fn new(attribute: &str, value: &str, rule: &str, fix: &str) -> Self {
        let shown: String = value.chars().take(120).collect();
        let shown = if shown.len() < value.len() {
            format!("{shown}…")
        } else {
            shown
        };
        AwsRuleError {
            attribute: attribute.to_string(),
            value: shown,
            rule: rule.to_string(),
            fix: fix.to_string(),
        }
    }
}

/// An AWS partition: each has its own sign-in endpoint, SAML audience and console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    Aws,
    AwsUsGov,
    AwsCn,
}

impl Partition {
    /// Parses `aws`, `aws-us-gov` or `aws-cn`.
    pub fn parse(raw: &str) -> Result<Partition, AwsRuleError> {
        match raw {
            "aws" => Ok(Partition::Aws),
            "aws-us-gov" => Ok(Partition::AwsUsGov),
            "aws-cn" => Ok(Partition::AwsCn),
            other => Err(AwsRuleError::new(
                "partition",
                other,
                "is not an AWS partition",
                "use aws, aws-us-gov or aws-cn",
            )),
        }
    }

    /// The name used in ARNs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsCn => "aws-cn",
        }
    }

    /// The `Audience` AWS sign-in requires in this partition.
    pub fn audience(&self) -> &'static str {
        match self {
            Partition::Aws => "urn:amazon:webservices",
            Partition::AwsUsGov => "urn:amazon:webservices:govcloud",
            Partition::AwsCn => "urn:amazon:webservices:cn-north-1",
        }
    }

    /// The SAML sign-in (ACS) URL for a Region of this partition.
    pub fn acs_url(&self, region: &Region) -> String {
        match self {
            Partition::Aws => format!("https://{}.signin.aws.amazon.com/saml", region.as_str()),
            Partition::AwsUsGov => "https://signin.amazonaws-us-gov.com/saml".to_string(),
            Partition::AwsCn => "https://signin.amazonaws.cn/saml".to_string(),
        }
    }

    /// The regional STS endpoint.
    pub fn sts_url(&self, region: &Region) -> String {
        match self {
            Partition::AwsCn => format!("https://sts.{}.amazonaws.com.cn", region.as_str()),
            _ => format!("https://sts.{}.amazonaws.com", region.as_str()),
        }
    }

    /// The console federation endpoint (getSigninToken, login) of a Region.
    pub fn federation_url(&self, region: &Region) -> String {
        match self {
            Partition::Aws => format!(
                "https://{}.signin.aws.amazon.com/federation",
                region.as_str()
            ),
            Partition::AwsUsGov => "https://signin.amazonaws-us-gov.com/federation".to_string(),
            Partition::AwsCn => "https://signin.amazonaws.cn/federation".to_string(),
        }
    }

    /// The console home of a Region: the RelayState that lands people in the Region they signed in through.
    pub fn console_url(&self, region: &Region) -> String {
        let r = region.as_str();
        match self {
            Partition::Aws => format!("https://{r}.console.aws.amazon.com/console/home?region={r}"),
            Partition::AwsUsGov => {
                format!("https://console.amazonaws-us-gov.com/console/home?region={r}")
            }
            Partition::AwsCn => format!("https://console.amazonaws.cn/console/home?region={r}"),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

static REGION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$").expect("valid regex"));
static ACCOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{12}$").expect("valid regex"));
static PROVIDER_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^arn:(aws|aws-us-gov|aws-cn):iam::([0-9]{12}):saml-provider/([A-Za-z0-9_.-]{1,128})$",
    )
    .expect("valid regex")
});
static SESSION_CHARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w+=,.@-]*$").expect("valid regex"));
static TAG_CHARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("valid regex"));

/// An AWS Region name such as `us-east-2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// Parses a Region name.
    pub fn parse(raw: &str) -> Result<Region, AwsRuleError> {
        if REGION.is_match(raw) {
            Ok(Region(raw.to_string()))
        } else {
            Err(AwsRuleError::new(
                "region",
                raw,
                "is not a Region name",
                "use a name such as us-east-2 or eu-west-1",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Parses an account id.
    pub fn parse(raw: &str) -> Result<AccountId, AwsRuleError> {
        if ACCOUNT.is_match(raw) {
            Ok(AccountId(raw.to_string()))
        } else {
            Err(AwsRuleError::new(
                "account id",
                raw,
                "is not a 12-digit AWS account id",
                "use the account's 12 digits, leading zeros included",
            ))
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_iam_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)
}

/// Splits `arn:<partition>:iam::<account>:role/<path/><name>` into (partition, account, start
/// of the name), or `None` if it is not one. Hand-written rather than a regex: the mapping
/// engine parses every ARN its templates produce, hundreds per sign-in.
fn split_role_arn(raw: &str) -> Option<(&'static str, &str, usize)> {
    let rest = raw.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let partition = Partition::parse(partition).ok()?.as_str();
    let (account, resource) = rest.strip_prefix("iam::")?.split_once(':')?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let resource = resource.strip_prefix("role/")?;
    let (path_ok, name) = match resource.rsplit_once('/') {
        None => (true, resource),
        Some((path, name)) => (
            path.split('/')
                .all(|seg| !seg.is_empty() && seg.bytes().all(is_iam_name_byte)),
            name,
        ),
    };
    let name_ok = (1..=64).contains(&name.len()) && name.bytes().all(is_iam_name_byte);
    (path_ok && name_ok).then(|| (partition, account, raw.len() - name.len()))
}

/// `arn:<partition>:iam::<account>:role/<path/><name>`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleArn {
    arn: String,
    partition: &'static str,
    account: String,
    name_start: usize,
}

impl RoleArn {
    /// Parses an IAM role ARN.
    pub fn parse(raw: &str) -> Result<RoleArn, AwsRuleError> {
        let (partition, account, name_start) = split_role_arn(raw).ok_or_else(|| {
            AwsRuleError::new(
                "Role",
                raw,
                "is not an IAM role ARN",
                "it must look like arn:aws:iam::123456789012:role/Name (partition aws, aws-us-gov or aws-cn; \
                 12-digit account; name of 1-64 characters from A-Z a-z 0-9 + = , . @ _ -)",
            )
        })?;
        Ok(RoleArn {
            arn: raw.to_string(),
            partition,
            account: account.to_string(),
            name_start,
        })
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The partition in the ARN.
    pub fn partition(&self) -> Partition {
        Partition::parse(self.partition).unwrap_or(Partition::Aws)
    }

    /// The account the role lives in.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The role name without its path.
    pub fn name(&self) -> &str {
        &self.arn[self.name_start..]
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// `arn:<partition>:iam::<account>:saml-provider/<name>`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SamlProviderArn {
    arn: String,
    account: String,
}

impl SamlProviderArn {
    /// Parses a SAML provider ARN.
    pub fn parse(raw: &str) -> Result<SamlProviderArn, AwsRuleError> {
        let caps = PROVIDER_ARN.captures(raw).ok_or_else(|| {
            AwsRuleError::new(
                "Role",
                raw,
                "is not an IAM SAML provider ARN",
                "it must look like arn:aws:iam::123456789012:saml-provider/fedbroker",
            )
        })?;
        Ok(SamlProviderArn {
            arn: raw.to_string(),
            account: caps[2].to_string(),
        })
    }

    /// The provider named `name` in a role's own account and partition: what AWS expects
    /// beside that role. Built without re-parsing, as the role is valid already.
    pub fn of_role(role: &RoleArn, name: &str) -> Result<SamlProviderArn, AwsRuleError> {
        let valid_name = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid_name {
            return Err(AwsRuleError::new(
                "Role",
                name,
                "is not a SAML provider name (1-128 of A-Z a-z 0-9 _ . -)",
                "fix saml.provider_name",
            ));
        }
        Ok(SamlProviderArn {
            arn: format!(
                "arn:{}:iam::{}:saml-provider/{name}",
                role.partition,
                role.account()
            ),
            account: role.account().to_string(),
        })
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The account of the provider.
    pub fn account(&self) -> &str {
        &self.account
    }
}

/// A role a person may assume, with the SAML provider AWS trusts for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RolePair {
    pub role: RoleArn,
    pub provider: SamlProviderArn,
}

impl RolePair {
    /// Pairs a role with its provider; both must be in the same partition and account.
    pub fn new(role: RoleArn, provider: SamlProviderArn) -> Result<RolePair, AwsRuleError> {
        let same_partition = provider
            .as_str()
            .strip_prefix("arn:")
            .and_then(|rest| rest.strip_prefix(role.partition))
            .is_some_and(|rest| rest.starts_with(':'));
        if role.account() != provider.account() || !same_partition {
            return Err(AwsRuleError::new(
                "Role",
                &format!("{},{}", role, provider.as_str()),
                "pairs a role with a SAML provider of another account or partition",
                "AWS only accepts a provider from the role's own account: use arn:<partition>:iam::<role's account>:saml-provider/<name>",
            ));
        }
        Ok(RolePair { role, provider })
    }

    /// The attribute value AWS expects: `role-arn,provider-arn`.
    pub fn attribute_value(&self) -> String {
        format!("{},{}", self.role, self.provider.as_str())
    }
}

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

fn is_session_char(c: char) -> bool {
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

/// Largest `SAMLResponse` (base64 characters) AssumeRoleWithSAML accepts.
pub const MAX_SAML_RESPONSE_BASE64: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn role_arns_with_paths_parse() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/team/a/Admin").expect("valid");
        assert_eq!(arn.account(), "123456789012");
        assert_eq!(arn.name(), "Admin");
        assert_eq!(arn.partition(), Partition::Aws);
        let gov = RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/Dev").expect("valid");
        assert_eq!(gov.partition(), Partition::AwsUsGov);
    }

    #[test]
    fn malformed_role_arns_are_refused() {
        for bad in [
            "arn:aws:iam::12345678901:role/Admin",
            "arn:aws:iam::123456789012:user/Admin",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/Ad min",
            "arn:aws-foo:iam::123456789012:role/Admin",
            "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::1:saml-provider/x",
            &format!("arn:aws:iam::123456789012:role/{}", "a".repeat(65)),
            "arn:aws:iam::123456789012:role//Admin",
            "arn:aws:iam::123456789012:role/team//Admin",
            "arn:aws:iam::123456789012:role/team/",
            "arn:aws:iam::123456789012:role/Ädmin",
            "arn:aws:iam:us-east-1:123456789012:role/Admin",
            "arn:aws:iam::123456789012:role/a:b",
            "arn:aws:iam::12345678901a:role/Admin",
            " arn:aws:iam::123456789012:role/Admin",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_role_and_a_provider_of_different_accounts_do_not_pair() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/Admin").expect("valid");
        let other =
            SamlProviderArn::parse("arn:aws:iam::210987654321:saml-provider/fb").expect("valid");
        assert!(RolePair::new(role.clone(), other).is_err());
        let same =
            SamlProviderArn::parse("arn:aws:iam::123456789012:saml-provider/fb").expect("valid");
        let pair = RolePair::new(role, same).expect("pairs");
        assert_eq!(
            pair.attribute_value(),
            "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/fb"
        );
    }

    #[test]
    fn partitions_have_their_own_audience_and_endpoints() {
        let r = Region::parse("us-gov-west-1").expect("region");
        assert_eq!(
            Partition::AwsUsGov.audience(),
            "urn:amazon:webservices:govcloud"
        );
        assert_eq!(
            Partition::AwsUsGov.acs_url(&r),
            "https://signin.amazonaws-us-gov.com/saml"
        );
        assert_eq!(
            Partition::AwsCn.acs_url(&r),
            "https://signin.amazonaws.cn/saml"
        );
        let e2 = Region::parse("us-east-2").expect("region");
        assert_eq!(
            Partition::Aws.acs_url(&e2),
            "https://us-east-2.signin.aws.amazon.com/saml"
        );
        assert!(Partition::Aws
            .console_url(&e2)
            .starts_with("https://us-east-2.console.aws.amazon.com/"));
    }

    #[test]
    fn long_names_get_a_stable_hash_suffix() {
        let long = format!("{}@example.com", "a".repeat(80));
        let a = sanitize_session_text(&long);
        assert_eq!(a.len(), 64);
        assert!(looks_rewritten(&a), "{a}");
        assert_eq!(a, sanitize_session_text(&long), "stable");
        assert_ne!(
            a,
            sanitize_session_text(&format!("{}@example.org", "a".repeat(80)))
        );
        assert!(RoleSessionName::parse(&sanitize_session_text("x")).is_ok());
        assert!(SourceIdentity::parse(&sanitize_session_text("aws:root")).is_ok());
    }

    #[test]
    fn any_rewrite_is_marked_not_only_a_shortening() {
        let jorg = sanitize_session_text("Jörg Müller");
        assert!(jorg.starts_with("J-rg-M-ller-"), "{jorg}");
        assert!(looks_rewritten(&jorg), "{jorg}");
        assert_eq!(sanitize_session_text("alice"), "alice", "clean names stay");
        assert_ne!(sanitize_session_text("bob smith"), "bob-smith");
        // A raw name shaped like a rewrite is itself rewritten, so it cannot pose as one.
        let forged = sanitize_session_text("bob smith");
        assert_ne!(sanitize_session_text(&forged), forged);
    }

    fn corp_and_entra() -> SessionNaming {
        SessionNaming::new([
            ("corp".to_string(), "@corp".to_string()),
            ("entra".to_string(), "@entra".to_string()),
        ])
    }

    #[test]
    fn external_people_carry_their_sources_suffix() {
        let n = corp_and_entra();
        assert_eq!(n.name("local", "bob-smith"), "bob-smith");
        assert_eq!(n.name("corp", "bob-smith"), "bob-smith@corp");
        let oidc = n.name("entra", "bob smith");
        assert!(
            oidc.starts_with("bob-smith-") && oidc.ends_with("@entra"),
            "{oidc}"
        );
        // A local name ending in a source's suffix does not pass for that source's person.
        assert_ne!(n.name("local", "bob-smith@corp"), "bob-smith@corp");
        assert!(!n.name("local", "bob-smith@CORP").ends_with("@CORP"));
        // A source no longer configured still gets a suffix of its own.
        assert_eq!(n.name("gone", "bob"), "bob@gone");
    }

    #[test]
    fn session_suffixes_are_checked() {
        assert!(check_session_suffix("@corp").is_ok());
        assert!(check_session_suffix("@corp.example-1").is_ok());
        for bad in [
            "",
            "@",
            "corp",
            "@co@rp",
            "@co rp",
            "@corp:x",
            "@x-0123456789abcdef",
        ] {
            assert!(check_session_suffix(bad).is_err(), "{bad}");
        }
        assert!(check_session_suffix(&format!("@{}", "a".repeat(MAX_SESSION_SUFFIX))).is_err());
    }

    /// A person (source, raw name) whose name shares `base` with others, plus a tail that
    /// often makes distinct people sanitise alike under a weaker scheme.
    fn person(base: String) -> impl Strategy<Value = (&'static str, String)> {
        (
            prop_oneof![Just("local"), Just("corp"), Just("entra")],
            prop_oneof![
                Just(""),
                Just("@corp"),
                Just("@CORP"),
                Just("@entra"),
                Just(" "),
                Just("-"),
                Just("-0123456789abcdef"),
            ],
        )
            .prop_map(move |(source, tail)| (source, format!("{base}{tail}")))
    }

    fn two_people() -> impl Strategy<Value = ((&'static str, String), (&'static str, String))> {
        prop_oneof!["[ab -@.é]{0,4}", "[ab]{60,70}"]
            .prop_flat_map(|base| (person(base.clone()), person(base)))
    }

    proptest! {
        #[test]
        fn sanitised_text_is_always_a_valid_session_name_and_source_identity(raw in "\\PC{0,100}") {
            let s = sanitize_session_text(&raw);
            prop_assert!(RoleSessionName::parse(&s).is_ok(), "{s}");
            prop_assert!(SourceIdentity::parse(&s).is_ok(), "{s}");
        }

        #[test]
        fn every_source_and_raw_name_gives_a_valid_name(
            source in prop_oneof![Just("local"), Just("corp"), Just("entra"), Just("gone")],
            raw in "\\PC{0,100}",
        ) {
            let s = corp_and_entra().name(source, &raw);
            prop_assert!(s.len() <= 64 && s.chars().all(is_session_char), "{s}");
            prop_assert!(RoleSessionName::parse(&s).is_ok(), "{s}");
            prop_assert!(SourceIdentity::parse(&s).is_ok(), "{s}");
        }

    }

    proptest! {
        // Many cases: colliding pairs are a few in a thousand draws.
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn distinct_people_never_share_a_name((a, b) in two_people()) {
            let n = corp_and_entra();
            prop_assume!(a != b);
            prop_assert_ne!(n.name(a.0, &a.1), n.name(b.0, &b.1), "{:?} and {:?}", a, b);
        }
    }
}
