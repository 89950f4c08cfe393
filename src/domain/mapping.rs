//! Which AWS roles a person's groups grant.
//!
//! Until mapping rules are configured, fedbroker applies the convention AD FS made common:
//! a group named `AWS-<12-digit account>-<role name>` grants
//! `arn:<partition>:iam::<account>:role/<role name>` through the account's SAML provider
//! `arn:<partition>:iam::<account>:saml-provider/<provider name>`. Matching ignores case in the
//! `AWS-` prefix only; the role name keeps its spelling because IAM role names are case-sensitive
//! in ARNs.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::aws::{Partition, RoleArn, RolePair, SamlProviderArn};

static CONVENTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i:aws)-([0-9]{12})-([\w+=,.@-]{1,64})$").expect("valid regex")
});

/// The role pairs the groups grant under the `AWS-<account>-<role>` convention, sorted and
/// de-duplicated. Groups that do not follow it are ignored.
pub fn convention_roles(
    groups: &[String],
    partition: Partition,
    provider_name: &str,
) -> Vec<RolePair> {
    let mut out = BTreeSet::new();
    for group in groups {
        let Some(caps) = CONVENTION.captures(group) else {
            continue;
        };
        let (account, role) = (&caps[1], &caps[2]);
        let p = partition.as_str();
        let pair = RoleArn::parse(&format!("arn:{p}:iam::{account}:role/{role}")).and_then(|r| {
            SamlProviderArn::parse(&format!(
                "arn:{p}:iam::{account}:saml-provider/{provider_name}"
            ))
            .and_then(|prov| RolePair::new(r, prov))
        });
        if let Ok(pair) = pair {
            out.insert(pair);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn convention_groups_become_role_pairs() {
        let roles = convention_roles(
            &groups(&[
                "AWS-123456789012-Admin",
                "aws-210987654321-Dev",
                "staff",
                "AWS-123-Admin",
                "AWS-123456789012-Ad min",
            ]),
            Partition::Aws,
            "fedbroker",
        );
        let values: Vec<String> = roles.iter().map(RolePair::attribute_value).collect();
        assert_eq!(
            values,
            vec![
                "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/fedbroker",
                "arn:aws:iam::210987654321:role/Dev,arn:aws:iam::210987654321:saml-provider/fedbroker",
            ]
        );
    }

    #[test]
    fn the_partition_is_part_of_the_arn() {
        let roles = convention_roles(
            &groups(&["AWS-123456789012-Admin"]),
            Partition::AwsUsGov,
            "idp",
        );
        assert_eq!(
            roles[0].role.as_str(),
            "arn:aws-us-gov:iam::123456789012:role/Admin"
        );
    }

    #[test]
    fn duplicates_collapse() {
        let roles = convention_roles(
            &groups(&["AWS-123456789012-Admin", "aws-123456789012-Admin"]),
            Partition::Aws,
            "p",
        );
        assert_eq!(roles.len(), 1);
    }
}
