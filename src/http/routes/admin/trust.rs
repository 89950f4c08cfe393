//! `/admin/trust-policy`: the IAM trust policy each account's roles need.

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::http::error::AppError;
use crate::http::routes::{render, AdminUser, Nav};
use crate::http::state::AppState;
use crate::saml::trust_policy::policies_by_provider;

struct AccountPolicy {
    account: String,
    roles: Vec<String>,
    rules: Vec<String>,
    policy: String,
}

#[derive(Template)]
#[template(path = "admin/trust.html")]
struct TrustPage {
    nav: Option<Nav>,
    accounts: Vec<AccountPolicy>,
    unplaced: Vec<crate::mapping::reach::Unplaced>,
    acs_urls: Vec<String>,
    chained: ChainedQuery,
    chained_policy: String,
    chained_error: String,
}

/// `?chained=ROLE_ARN&from=...`: the trust policy of a role assumed from fedbroker sessions.
#[derive(serde::Deserialize, Debug, Default)]
pub struct ChainedQuery {
    #[serde(default)]
    chained: String,
    /// Upstream role ARNs, one per line.
    #[serde(default)]
    from: String,
}

/// `GET /admin/trust-policy`
pub async fn get_trust(
    state: web::Data<AppState>,
    admin: AdminUser,
    query: web::Query<ChainedQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let (targets, unplaced) = crate::rules::trust_targets(&state.store, &state.rules).await?;
    let acs_urls = state.regions.acs_urls();
    let tags =
        crate::rules::sessions_carry_tags(&state.store, &state.rules, &state.profile).await?;
    let (chained_policy, chained_error) = if query.chained.trim().is_empty() {
        (String::new(), String::new())
    } else {
        let from: Vec<String> = query.from.lines().map(str::to_string).collect();
        match crate::rules::chained_policy(&state.profile, &query.chained, &from, tags) {
            Ok(p) => (
                serde_json::to_string_pretty(&p).unwrap_or_default(),
                String::new(),
            ),
            Err(e) => (String::new(), e),
        }
    };
    let accounts = policies_by_provider(
        &targets,
        &acs_urls,
        state.profile.sends_source_identity(),
        tags,
        &state.store.encrypting_providers().await?,
    )
    .into_iter()
    .map(|p| AccountPolicy {
        account: p.account,
        roles: p.roles,
        rules: p.rules,
        policy: serde_json::to_string_pretty(&p.policy).unwrap_or_default(),
    })
    .collect();
    render(&TrustPage {
        nav: Some(admin.0.nav()),
        accounts,
        unplaced,
        acs_urls,
        chained: query,
        chained_policy,
        chained_error,
    })
}
