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
