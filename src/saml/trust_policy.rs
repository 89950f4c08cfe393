//! The IAM trust policy every federated role needs.
//!
//! AWS turns the bearer `Recipient` into the `SAML:aud` condition key, so a role that does not
//! list a Region's ACS URL fails as soon as fedbroker fails over to that Region. Sending
//! SourceIdentity or session tags additionally needs `sts:SetSourceIdentity` / `sts:TagSession`.
//! These prerequisites are otherwise discovered by failure; this generator states them.

use serde_json::{json, Value};

use crate::domain::aws::RoleArn;
use crate::mapping::reach::AccountReach;

/// The trust policy document for roles trusting `provider_arn`.
pub fn trust_policy(
    provider_arn: &str,
    acs_urls: &[String],
    source_identity: bool,
    tags: bool,
) -> Value {
    let mut actions = vec!["sts:AssumeRoleWithSAML"];
    if source_identity {
        actions.push("sts:SetSourceIdentity");
    }
    if tags {
        actions.push("sts:TagSession");
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": actions,
            "Condition": {"StringEquals": {"SAML:aud": acs_urls}}
        }]
    })
}

/// The trust policy of a *downstream* role: one assumed (`sts:AssumeRole`) from a session
/// fedbroker opened, by role chaining. It keeps CloudTrail naming the person along the chain:
/// - the caller's session must carry a SourceIdentity (`Null` on `aws:SourceIdentity`), which
///   fedbroker sets at sign-in and AWS carries, unchangeable, into the chained session
///   (`sts:SourceIdentity` must equal it);
/// - the new session's name must be that SourceIdentity (`sts:RoleSessionName` equal to
///   `${aws:SourceIdentity}`), so the assumed-role ARN names the person too;
/// - `sts:SetSourceIdentity` is allowed, because AssumeRole from a session with a
///   SourceIdentity sets it on the new session, and `sts:TagSession` when sessions carry tags
///   (transitive tags are passed on).
///
/// `principals`: the upstream role ARNs, or the downstream role's account root when none are
/// named (its IAM policies then decide which roles may call AssumeRole).
pub fn chained_trust_policy(downstream: &RoleArn, principals: &[RoleArn], tags: bool) -> Value {
    let principal: Vec<String> = if principals.is_empty() {
        vec![format!(
            "arn:{}:iam::{}:root",
            downstream.partition().as_str(),
            downstream.account()
        )]
    } else {
        principals.iter().map(ToString::to_string).collect()
    };
    let mut actions = vec!["sts:AssumeRole", "sts:SetSourceIdentity"];
    if tags {
        actions.push("sts:TagSession");
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ChainedFromFedbrokerSessions",
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": actions,
            "Condition": {
                "Null": {"aws:SourceIdentity": "false"},
                "StringEquals": {
                    "sts:SourceIdentity": "${aws:SourceIdentity}",
                    "sts:RoleSessionName": "${aws:SourceIdentity}"
                }
            }
        }]
    })
}

/// The trust policy of one account's SAML provider, with the roles and rules that need it.
#[derive(Debug, Clone)]
pub struct ProviderPolicy {
    pub account: String,
    pub roles: Vec<String>,
    pub rules: Vec<String>,
    pub policy: Value,
}

/// One policy per account and SAML provider (roles of an account share their provider).
/// `encrypting`: (provider ARN, IdP ID) of the providers that take encrypted assertions; their
/// policies also list each sign-in endpoint's `…/saml/acs/<IdP ID>`, where those arrive.
pub fn policies_by_provider(
    targets: &[AccountReach],
    acs_urls: &[String],
    source_identity: bool,
    tags: bool,
    encrypting: &[(String, String)],
) -> Vec<ProviderPolicy> {
    targets
        .iter()
        .map(|t| {
            let mut urls = acs_urls.to_vec();
            if let Some((_, idp_id)) = encrypting.iter().find(|(p, _)| *p == t.provider) {
                urls.extend(
                    acs_urls
                        .iter()
                        .map(|u| super::encrypt::encrypted_acs_url(u, idp_id)),
                );
            }
            ProviderPolicy {
                account: t.account.clone(),
                roles: t.roles.iter().cloned().collect(),
                rules: t.rules.iter().cloned().collect(),
                policy: trust_policy(&t.provider, &urls, source_identity, tags),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_acs_url_and_the_extra_actions() {
        let urls = vec![
            "https://us-east-2.signin.aws.amazon.com/saml".to_string(),
            "https://us-west-2.signin.aws.amazon.com/saml".to_string(),
        ];
        let p = trust_policy(
            "arn:aws:iam::123456789012:saml-provider/fedbroker",
            &urls,
            true,
            false,
        );
        let stmt = &p["Statement"][0];
        assert_eq!(
            stmt["Principal"]["Federated"],
            "arn:aws:iam::123456789012:saml-provider/fedbroker"
        );
        assert_eq!(
            stmt["Action"],
            json!(["sts:AssumeRoleWithSAML", "sts:SetSourceIdentity"])
        );
        assert_eq!(stmt["Condition"]["StringEquals"]["SAML:aud"], json!(urls));
        let all = trust_policy("p", &urls, true, true);
        assert_eq!(
            all["Statement"][0]["Action"].as_array().map(Vec::len),
            Some(3)
        );
    }
}
