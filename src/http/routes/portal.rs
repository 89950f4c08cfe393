//! The portal: who you are, your groups, and your AWS roles grouped by account alias, with a
//! search that works with and without JavaScript and favourites pinned on top.

use std::collections::{HashMap, HashSet};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render, Nav, SignedIn};
use crate::auth::access::RoleRefused;
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::middleware::CSP;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::state::AppState;
use crate::rules::role_list::{list_roles, ListedRole};
use crate::store::AccountRecord;

struct RoleView {
    arn: String,
    name: String,
    /// The role's bookmarkable link.
    link: String,
    favourite: bool,
    /// Lower-case text the search matches against (role, account id, alias, environment).
    search: String,
}

/// One account's roles. Rendered separately and inserted into the portal: askama's generated
/// code for nested loops inside one template takes minutes to borrow-check.
#[derive(Template)]
#[template(path = "portal/account.html")]
struct AccountBlock<'a> {
    block_id: &'a str,
    account: &'a str,
    alias: &'a str,
    environment: &'a str,
    colour: &'a str,
    roles: Vec<RoleView>,
    region_select: &'a str,
    csrf_token: &'a str,
    query: &'a str,
}

#[derive(Template)]
#[template(path = "portal/index.html")]
struct PortalPage {
    nav: Option<Nav>,
    display_name: String,
    username: String,
    email: String,
    groups: Vec<String>,
    query: String,
    total_roles: usize,
    shown_roles: usize,
    contact: String,
    /// Favourites first, then each account, each rendered by [`AccountBlock`].
    account_blocks: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal/region_select.html")]
struct RegionSelect<'a> {
    regions: &'a [String],
    /// The Region an admin pinned: then the only choice, and labelled so.
    pinned: Option<String>,
}

/// How far back "Recently used" looks.
const RECENT_DAYS: i64 = 30;

/// `GET /?q=...`
#[derive(Deserialize, Debug, Default)]
pub struct PortalQuery {
    #[serde(default)]
    q: String,
}

/// `GET /`
pub async fn get_portal(
    state: web::Data<AppState>,
    user: SignedIn,
    query: web::Query<PortalQuery>,
) -> Result<HttpResponse, AppError> {
    let id = &user.identity;
    let evaluation = state.rules.evaluate(&state.store, &id.groups).await?;
    let aliases: HashMap<String, AccountRecord> = state
        .store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| (a.account_id.clone(), a))
        .collect();
    let favourites: HashSet<String> = state
        .store
        .favourites(id.user_id)
        .await?
        .into_iter()
        .collect();
    let recent = state
        .store
        .recently_used_roles(&id.username, now() - RECENT_DAYS * 86_400, 20)
        .await?;
    let list = list_roles(&evaluation, &aliases, &favourites, &recent, &query.q);

    let region_select = RegionSelect {
        regions: &state
            .regions
            .endpoints()
            .iter()
            .map(|e| e.region.to_string())
            .collect::<Vec<_>>(),
        pinned: state
            .regions
            .pinned()
            .await
            .map_err(crate::aws::assertion::SignInError::from)?
            .map(|r| r.to_string()),
    }
    .render()?;
    let view = |r: &ListedRole| RoleView {
        arn: r.arn.clone(),
        name: r.name.clone(),
        link: r.link.clone(),
        favourite: r.favourite,
        search: r.search.clone(),
    };
    let mut account_blocks = Vec::new();
    for (block_id, title, roles) in [
        ("favourites", "Favourites", &list.favourites),
        ("recent", "Recently used", &list.recent),
    ] {
        if roles.is_empty() {
            continue;
        }
        account_blocks.push(
            AccountBlock {
                block_id,
                account: "",
                alias: title,
                environment: "",
                colour: "",
                roles: roles.iter().map(view).collect(),
                region_select: &region_select,
                csrf_token: &user.session.csrf_token,
                query: &query.q,
            }
            .render()?,
        );
    }
    for (account, roles) in &list.accounts {
        let alias = aliases.get(account);
        account_blocks.push(
            AccountBlock {
                block_id: &format!("account-{account}"),
                account,
                alias: alias.map_or("", |a| a.name.as_str()),
                environment: alias.map_or("", |a| a.environment.as_str()),
                colour: alias.and_then(|a| a.colour.as_deref()).unwrap_or(""),
                roles: roles.iter().map(view).collect(),
                region_select: &region_select,
                csrf_token: &user.session.csrf_token,
                query: &query.q,
            }
            .render()?,
        );
    }
    let mut page = render(&PortalPage {
        nav: Some(user.nav()),
        display_name: if id.display_name.is_empty() {
            id.username.clone()
        } else {
            id.display_name.clone()
        },
        username: id.username.clone(),
        email: id.email.clone(),
        groups: id.groups.clone(),
        query: query.q.clone(),
        total_roles: list.total,
        shown_roles: list.shown,
        contact: state.settings.admin.contact.clone(),
        account_blocks,
    })?;
    allow_federation_form_action(&state, &mut page);
    Ok(page)
}

/// The Console button of a role with a session policy, and the federation button, are
/// answered with a redirect to an AWS federation endpoint, which `form-action` governs too:
/// widens it to those endpoints' origins, for the page given only.
pub fn allow_federation_form_action(state: &AppState, page: &mut HttpResponse) {
    let origins = state.federation.origins(state.sts.regions()).join(" ");
    let csp = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origins}"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&csp) {
        page.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Pin or unpin a role.
#[derive(Deserialize, Debug)]
pub struct FavouriteForm {
    #[serde(default)]
    csrf_token: String,
    role: String,
    /// "1" pins, anything else unpins.
    #[serde(default)]
    pin: String,
    /// The search to return to.
    #[serde(default)]
    q: String,
}

impl CsrfToken for FavouriteForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /portal/favourites`
pub async fn post_favourite(
    state: web::Data<AppState>,
    req: HttpRequest,
    CsrfForm { user, form }: CsrfForm<FavouriteForm>,
) -> Result<HttpResponse, AppError> {
    let pin = form.pin == "1";
    if pin {
        let evaluation = state
            .rules
            .evaluate(&state.store, &user.identity.groups)
            .await?;
        crate::auth::access::permitted_roles(
            &state.store,
            &user.identity,
            &evaluation,
            &form.role,
            false,
            "favourite",
            &super::origin(&req, &state.settings),
        )
        .await
        .map_err(|e| match e {
            RoleRefused::NotGranted(role) => AppError::Forbidden(format!(
                "`{role}` is not one of your roles, so it cannot be pinned."
            )),
            other => other.into(),
        })?;
    }
    state
        .store
        .set_favourite(user.identity.user_id, &form.role, pin, now())
        .await?;
    let location = if form.q.trim().is_empty() {
        "/#roles".to_string()
    } else {
        format!(
            "/?{}#roles",
            serde_urlencoded::to_string([("q", form.q.trim())]).unwrap_or_default()
        )
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish())
}
