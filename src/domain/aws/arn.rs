//! Account ids, role and SAML provider ARNs, and the `role,provider` pairs AWS sign-in reads.

use std::fmt;

use super::*;

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
