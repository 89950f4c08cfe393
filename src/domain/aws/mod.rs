//! AWS identifiers and the limits AWS sign-in and STS enforce on SAML attributes.
//!
//! Every value here is parsed once; a value that exists is one AWS accepts. The error says which
//! rule was broken and how to fix it, because AWS itself only answers "invalid SAML response".

use std::sync::LazyLock;

use regex::Regex;

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
    pub fn new(attribute: &str, value: &str, rule: &str, fix: &str) -> Self {
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

mod arn;
mod partition;
mod policy;
mod request;
mod session;

pub use arn::{AccountId, RoleArn, RolePair, SamlProviderArn};
pub use partition::{Partition, Region, RegionEntry};
pub use policy::{
    policy_plaintext_len, InlinePolicy, PolicyArn, MAX_POLICY_ARNS, MAX_POLICY_PLAINTEXT,
};
pub use request::AssumeRequest;
pub use session::*;

#[cfg(test)]
mod tests;
