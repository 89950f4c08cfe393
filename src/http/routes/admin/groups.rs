//! `/admin/groups`: local groups with their members, and what each group maps to through the
//! rules; creating groups and adding or removing members. Thin: the changes and their audit
//! events are in `auth::user_admin`.
//!
//! A group is addressed by `?name=`, not by a path segment: directory group names hold spaces,
//! slashes and commas (`CN=AWS Admins,OU=Groups`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{page_with_status, refusal};
use crate::auth::user_admin::{self, revoked_text};
use crate::clock::now;
use crate::directory::admin::describe_source;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{AdminUser, Nav};
use crate::http::state::AppState;
use crate::store::GroupRecord;

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage {
    nav: Option<Nav>,
    groups: Vec<GroupRecord>,
    new_name: String,
    error: String,
}

struct MemberRow {
    username: String,
    source: String,
    local: bool,
}

/// A role the group maps to, and the rule that grants it.
struct RoleRow {
    role: String,
    rule: String,
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage {
    nav: Option<Nav>,
    name: String,
    members: Vec<MemberRow>,
    roles: Vec<RoleRow>,
    message: String,
    error: String,
}

/// `?name=` picks one group.
#[derive(Deserialize, Debug, Default)]
pub struct GroupQuery {
    #[serde(default)]
    name: String,
}

/// Create a group, or add or remove a member.
#[derive(Deserialize, Debug, Default)]
pub struct GroupForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    username: String,
}

impl CsrfToken for GroupForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

async fn list_page(
    state: &AppState,
    admin: &AdminUser,
    new_name: String,
    error: String,
) -> Result<GroupsPage, AppError> {
    Ok(GroupsPage {
        nav: Some(admin.0.nav()),
        groups: state.store.list_groups().await?,
        new_name,
        error,
    })
}

async fn group_page(
    state: &AppState,
    admin: &AdminUser,
    name: &str,
    message: String,
    error: String,
) -> Result<GroupPage, AppError> {
    let members = state
        .store
        .group_members(name)
        .await?
        .ok_or(AppError::NotFound)?;
    let sources = &state.settings.sources;
    // What the group grants by itself: a rule that needs it together with another group shows
    // on the dry run of a person instead.
    let roles = state
        .rules
        .evaluate(&state.store, &[name.to_string()])
        .await?
        .granted
        .into_iter()
        .map(|g| RoleRow {
            role: g.pair.role.as_str().to_string(),
            rule: g.cause.rule.clone(),
        })
        .collect();
    Ok(GroupPage {
        nav: Some(admin.0.nav()),
        name: name.to_string(),
        members: members
            .into_iter()
            .map(|(username, source)| MemberRow {
                local: source == "local",
                source: describe_source(sources, &source),
                username,
            })
            .collect(),
        roles,
        message,
        error,
    })
}

/// `GET /admin/groups[?name=]`
pub async fn get_groups(
    state: web::Data<AppState>,
    admin: AdminUser,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, AppError> {
    if query.name.is_empty() {
        let page = list_page(&state, &admin, String::new(), String::new()).await?;
        return page_with_status(StatusCode::OK, &page);
    }
    let page = group_page(&state, &admin, &query.name, String::new(), String::new()).await?;
    page_with_status(StatusCode::OK, &page)
}

/// `POST /admin/groups`: `create` (`name`), `add-member` or `remove-member` (`name`, `username`).
pub async fn post_groups(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<GroupForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let store = &state.store;
    let actor = admin.0.identity.username.as_str();
    let at = now();
    if form.action == "create" {
        return match user_admin::create_group(store, actor, &form.name, at).await {
            Ok(name) => {
                let message = format!("Created the group `{name}`.");
                let page =
                    group_page(&state, &admin, name.as_str(), message, String::new()).await?;
                page_with_status(StatusCode::OK, &page)
            }
            Err(e) => {
                let page = list_page(&state, &admin, form.name.clone(), refusal(e)?).await?;
                page_with_status(StatusCode::BAD_REQUEST, &page)
            }
        };
    }
    let member = match form.action.as_str() {
        "add-member" => true,
        "remove-member" => false,
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown action `{other}`: use create, add-member or remove-member"
            )))
        }
    };
    let done = match user_admin::find_user(store, &form.username).await {
        Ok(user) => {
            let admin_group = &state.settings.admin.group;
            user_admin::set_membership(store, actor, admin_group, &form.name, &user, member, at)
                .await
        }
        Err(e) => Err(e),
    }
    .map(|revoked| {
        let who = form.username.trim();
        if member {
            format!("Added {who}.")
        } else {
            format!("Removed {who}; {}.", revoked_text(&revoked))
        }
    });
    let (status, message, error) = match done {
        Ok(message) => (StatusCode::OK, message, String::new()),
        Err(e) => (StatusCode::BAD_REQUEST, String::new(), refusal(e)?),
    };
    let page = group_page(&state, &admin, form.name.trim(), message, error).await?;
    page_with_status(status, &page)
}
