//! `/admin/trust-policy`: the IAM trust policy each account's roles need.

use std::collections::BTreeSet;

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::error::AppError;
use crate::routes::{render, AdminUser, Nav};
use crate::saml::trust_policy::trust_policy;
use crate::startup::AppState;

struct AccountPolicy {
    account: String,
    roles: Vec<String>,
    policy: String,
}

#[derive(Template)]
#[template(path = "admin/trust.html")]
struct TrustPage {
    nav: Option<Nav>,
    accounts: Vec<AccountPolicy>,
    acs_urls: Vec<String>,
}

/// Every mapped role, grouped by account, with the trust policy of that account's provider.
pub async fn account_policies(
    state: &AppState,
) -> Result<Vec<(String, Vec<String>, serde_json::Value)>, AppError> {
    let groups: Vec<String> = state
        .store
        .list_groups()
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let roles = crate::domain::mapping::convention_roles(
        &groups,
        state.profile.partition,
        &state.profile.provider_name,
    );
    let acs: Vec<String> = state
        .regions
        .endpoints()
        .iter()
        .map(|e| e.acs_url.clone())
        .collect();
    let accounts: BTreeSet<String> = roles.iter().map(|r| r.role.account().to_string()).collect();
    Ok(accounts
        .into_iter()
        .map(|account| {
            let of_account: Vec<_> = roles
                .iter()
                .filter(|r| r.role.account() == account)
                .collect();
            let provider = of_account[0].provider.as_str().to_string();
            let names = of_account.iter().map(|r| r.role.to_string()).collect();
            let policy = trust_policy(
                &provider,
                &acs,
                state.profile.sends_source_identity(),
                state.profile.sends_tags(),
            );
            (account, names, policy)
        })
        .collect())
}

/// `GET /admin/trust-policy`
pub async fn get_trust(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let accounts = account_policies(&state)
        .await?
        .into_iter()
        .map(|(account, roles, policy)| AccountPolicy {
            account,
            roles,
            policy: serde_json::to_string_pretty(&policy).unwrap_or_default(),
        })
        .collect();
    render(&TrustPage {
        nav: Some(admin.0.nav()),
        accounts,
        acs_urls: state
            .regions
            .endpoints()
            .iter()
            .map(|e| e.acs_url.clone())
            .collect(),
    })
}
