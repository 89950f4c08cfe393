//! The accounts whose IAM roles must trust the broker, for `trust-policy --all` and the admin
//! page: every account the rules can reach (the rule's own account, or each account the rules
//! file names when the account comes from a group name), plus the concrete roles the groups
//! already in the database grant. See `mapping::reach` for why the rules, not only the stored
//! groups, decide: people of LDAP, OIDC and SAML sources bring their groups at sign-in.

use crate::mapping::reach::{AccountReach, Unplaced};
use crate::store::{Store, StoreError};

use super::RoleMapper;

/// Whether the sessions of some role carry tags: the settings' or a rule's. Trust policies then
/// allow `sts:TagSession`.
pub async fn sessions_carry_tags(
    store: &Store,
    mapper: &RoleMapper,
    profile: &crate::saml::profile::AwsProfile,
) -> Result<bool, StoreError> {
    Ok(profile.sends_tags() || mapper.current(store).await?.set.sends_tags())
}

/// Every account and provider that needs a trust policy, and the rules that could not be placed
/// in an account (with the reason, for the operator to fix).
pub async fn trust_targets(
    store: &Store,
    mapper: &RoleMapper,
) -> Result<(Vec<AccountReach>, Vec<Unplaced>), StoreError> {
    let compiled = mapper.current(store).await?;
    let named: Vec<String> = store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| a.account_id)
        .collect();
    let (mut reach, unplaced) = compiled.set.reach(&named);
    for pair in super::grantable_roles(store, mapper).await? {
        let (account, provider) = (pair.provider.account(), pair.provider.as_str());
        match reach
            .iter_mut()
            .find(|r| r.account == account && r.provider == provider)
        {
            Some(r) => {
                r.roles.insert(pair.role.to_string());
            }
            None => reach.push(AccountReach {
                account: account.to_string(),
                provider: provider.to_string(),
                roles: [pair.role.to_string()].into(),
                rules: Default::default(),
            }),
        }
    }
    reach.sort_by(|a, b| (&a.account, &a.provider).cmp(&(&b.account, &b.provider)));
    Ok((reach, unplaced))
}

/// The trust policy of a downstream role assumed from fedbroker sessions (see
/// `saml::trust_policy::chained_trust_policy`), or why there is none: an ARN that is not a
/// role of the configured partition, or no SourceIdentity sent (nothing would carry the person
/// along the chain).
pub fn chained_policy(
    profile: &crate::saml::profile::AwsProfile,
    downstream: &str,
    from: &[String],
    tags: bool,
) -> Result<serde_json::Value, String> {
    use crate::domain::aws::RoleArn;
    if !profile.sends_source_identity() {
        return Err(
            "fedbroker sends no SourceIdentity (saml.source_identity is empty), so a chained \
             session could not name the person: set saml.source_identity (e.g. \"{username}\") first"
                .into(),
        );
    }
    let parse = |raw: &str| -> Result<RoleArn, String> {
        let arn = RoleArn::parse(raw.trim())
            .map_err(|e| format!("`{}`: {}; {}", e.value, e.rule, e.fix))?;
        if arn.partition() != profile.partition {
            return Err(format!(
                "`{arn}` is in the {} partition, but fedbroker signs in to {}",
                arn.partition().as_str(),
                profile.partition.as_str()
            ));
        }
        Ok(arn)
    };
    let downstream = parse(downstream)?;
    let principals = from
        .iter()
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::saml::trust_policy::chained_trust_policy(
        &downstream,
        &principals,
        tags,
    ))
}
