//! `/admin/users`: every account (local and from the identity sources), creating local users
//! with a one-time password shown once, and one page per person (`?name=`) to reset, disable,
//! sign out everywhere and manage local group memberships. Thin: the changes and their audit
//! events are in `auth::user_admin`.
//!
//! A person is addressed by `?name=`, not by a path segment: names from a source may hold
//! `/`, `+` or `%`, which a router keeps encoded in a path.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::when;
use super::{page_with_status, refusal};
use crate::auth::user_admin::{self, revoked_text, NewLocalUser, UserAdminError};
use crate::clock::now;
use crate::directory::admin::{admin_origin, describe_source};
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{AdminUser, Nav};
use crate::http::state::AppState;
use crate::store::UserRecord;

/// An account in the list.
struct UserRow {
    username: String,
    display_name: String,
    email: String,
    source: String,
    status: &'static str,
    last_sign_in: String,
}

fn status(u: &UserRecord) -> &'static str {
    if u.disabled {
        "disabled"
    } else if u.must_change_password {
        "must change password"
    } else {
        "active"
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: Option<Nav>,
    rows: Vec<UserRow>,
    new: NewUserForm,
    error: String,
    groups: Vec<String>,
    /// The account just created and its one-time password: shown this once.
    created_user: String,
    created_password: String,
}

/// The "new local user" form (`action=create`), and the actions on one person's page
/// (`name`, `action`, `group`).
#[derive(Deserialize, Debug, Default, Clone)]
pub struct NewUserForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    /// The person an action is about.
    #[serde(default)]
    name: String,
    /// The group of `add-group` and `remove-group`.
    #[serde(default)]
    group: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    /// Comma-separated local groups.
    #[serde(default)]
    groups: String,
}

impl CsrfToken for NewUserForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Every group's name, for the forms' suggestions.
async fn group_names(state: &AppState) -> Result<Vec<String>, AppError> {
    Ok(state
        .store
        .list_groups()
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect())
}

async fn users_page(
    state: &AppState,
    admin: &AdminUser,
    new: NewUserForm,
    error: String,
    created: Option<(String, String)>,
) -> Result<UsersPage, AppError> {
    let sources = &state.settings.sources;
    let rows = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            status: status(&u),
            source: describe_source(sources, &u.source),
            last_sign_in: when(u.last_login_at),
            username: u.username,
            display_name: u.display_name,
            email: u.email,
        })
        .collect();
    let groups = group_names(state).await?;
    let (created_user, created_password) = created.unwrap_or_default();
    Ok(UsersPage {
        nav: Some(admin.0.nav()),
        rows,
        new,
        error,
        groups,
        created_user,
        created_password,
    })
}

/// `?name=` picks one person.
#[derive(Deserialize, Debug, Default)]
pub struct UserQuery {
    #[serde(default)]
    name: String,
}

/// `GET /admin/users[?name=]`
pub async fn get_users(
    state: web::Data<AppState>,
    admin: AdminUser,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, AppError> {
    if !query.name.is_empty() {
        // The same resolution as the actions: `IVY` is the page of `ivy`.
        let user = match user_admin::find_user(&state.store, &query.name).await {
            Ok(user) => user,
            Err(UserAdminError::Store(e)) => return Err(e.into()),
            Err(_) => return Err(AppError::NotFound),
        };
        let page = user_page(
            &state,
            &admin,
            &user.username,
            String::new(),
            String::new(),
            String::new(),
        )
        .await?;
        return page_with_status(StatusCode::OK, &page);
    }
    let page = users_page(&state, &admin, NewUserForm::default(), String::new(), None).await?;
    page_with_status(StatusCode::OK, &page)
}

/// `POST /admin/users`: `action=create` makes a local user and shows their one-time password
/// once; any other action is about the person `name` (see [`act_on_user`]).
pub async fn post_users(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<NewUserForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    if form.action != "create" {
        return act_on_user(&state, &admin, &form).await;
    }
    let new = user_admin::parse_groups(&form.groups).map(|groups| NewLocalUser {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        email: form.email.clone(),
        groups,
    });
    let created = match new {
        Ok(new) => {
            user_admin::create_user(&state.store, &admin.0.identity.username, &new, None, now())
                .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok((username, issued)) => {
            let password = issued.one_time.unwrap_or_default();
            let page = users_page(
                &state,
                &admin,
                NewUserForm::default(),
                String::new(),
                Some((username.as_str().to_string(), password)),
            )
            .await?;
            page_with_status(StatusCode::OK, &page)
        }
        Err(e) => {
            let why = refusal(e)?;
            let page = users_page(&state, &admin, form, why, None).await?;
            page_with_status(StatusCode::BAD_REQUEST, &page)
        }
    }
}

/// A membership on a person's page.
struct MembershipRow {
    group: String,
    /// Granted here (removable), or reported by a source at sign-in (read only).
    local: bool,
    source: String,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    nav: Option<Nav>,
    username: String,
    display_name: String,
    email: String,
    local: bool,
    source: String,
    subject: String,
    created: String,
    last_sign_in: String,
    status: &'static str,
    disabled: bool,
    admin: String,
    memberships: Vec<MembershipRow>,
    attributes: Vec<(String, String)>,
    roles: Vec<String>,
    groups: Vec<String>,
    /// What the last action did, or why it was refused.
    message: String,
    error: String,
    /// A one-time password just issued: shown this once.
    one_time_password: String,
}

async fn user_page(
    state: &AppState,
    admin: &AdminUser,
    username: &str,
    message: String,
    error: String,
    one_time_password: String,
) -> Result<UserPage, AppError> {
    let user = state
        .store
        .user_by_username(username)
        .await?
        .ok_or(AppError::NotFound)?;
    let sources = &state.settings.sources;
    let memberships = state.store.memberships_of_user(user.id).await?;
    let admin_right = admin_origin(&state.settings.admin.group, sources, &memberships)
        .map(|o| o.to_string())
        .unwrap_or_default();
    let member_of: Vec<String> = memberships.iter().map(|m| m.group.clone()).collect();
    let roles = state
        .rules
        .evaluate(&state.store, &member_of)
        .await?
        .granted
        .iter()
        .map(|g| g.pair.role.as_str().to_string())
        .collect();
    let attributes: BTreeMap<String, String> =
        serde_json::from_str(&user.attributes).unwrap_or_default();
    let mut groups = group_names(state).await?;
    groups.retain(|g| !member_of.contains(g));
    Ok(UserPage {
        nav: Some(admin.0.nav()),
        status: status(&user),
        disabled: user.disabled,
        local: user.source == "local",
        source: describe_source(sources, &user.source),
        subject: user.subject.clone().unwrap_or_default(),
        created: when(Some(user.created_at)),
        last_sign_in: when(user.last_login_at),
        admin: admin_right,
        memberships: memberships
            .into_iter()
            .map(|m| MembershipRow {
                local: m.source == "local",
                source: describe_source(sources, &m.source),
                group: m.group,
            })
            .collect(),
        attributes: attributes.into_iter().collect(),
        roles,
        groups,
        message,
        error,
        one_time_password,
        username: user.username,
        display_name: user.display_name,
        email: user.email,
    })
}

/// An action on one person's page: `reset`, `disable`, `enable`, `sign-out`, `add-group` or
/// `remove-group` (with `group`). The person is resolved first (404 before any change), the
/// change is made on that record, and the page answers with what was done, or why not.
async fn act_on_user(
    state: &AppState,
    admin: &AdminUser,
    form: &NewUserForm,
) -> Result<HttpResponse, AppError> {
    let store = &state.store;
    let actor = admin.0.identity.username.as_str();
    let user = match user_admin::find_user(store, &form.name).await {
        Ok(user) => user,
        Err(UserAdminError::Store(e)) => return Err(e.into()),
        Err(_) => return Err(AppError::NotFound),
    };
    let username = user.username.as_str();
    let admin_group = state.settings.admin.group.as_str();
    let at = now();
    let mut one_time = String::new();
    let done = match form.action.as_str() {
        "reset" => user_admin::reset_password(store, actor, &user, None, at)
            .await
            .map(|(issued, revoked)| {
                one_time = issued.one_time.unwrap_or_default();
                format!("New one-time password issued; {}.", revoked_text(&revoked))
            }),
        "disable" => user_admin::set_disabled(store, actor, &user, true, at)
            .await
            .map(|r| format!("Disabled; {}.", revoked_text(&r))),
        "enable" => user_admin::set_disabled(store, actor, &user, false, at)
            .await
            .map(|_| "Enabled: they can sign in again.".to_string()),
        "sign-out" => user_admin::sign_out_everywhere(store, actor, &user, at)
            .await
            .map(|r| format!("Signed out everywhere; {}.", revoked_text(&r))),
        "add-group" => {
            user_admin::set_membership(store, actor, admin_group, &form.group, &user, true, at)
                .await
                .map(|_| format!("Added to `{}`.", form.group.trim()))
        }
        "remove-group" => {
            user_admin::set_membership(store, actor, admin_group, &form.group, &user, false, at)
                .await
                .map(|r| {
                    format!(
                        "Removed from `{}`; {}.",
                        form.group.trim(),
                        revoked_text(&r)
                    )
                })
        }
        other => Err(UserAdminError::Invalid(format!(
            "unknown action `{other}`: use create, reset, disable, enable, sign-out, add-group or \
             remove-group"
        ))),
    };
    let (status, message, error) = match done {
        Ok(message) => {
            tracing::info!(admin = %actor, user = %username, action = %form.action, "user changed");
            (StatusCode::OK, message, String::new())
        }
        Err(e) => (StatusCode::BAD_REQUEST, String::new(), refusal(e)?),
    };
    // Rendered rather than redirected: the page says what the action ended, and shows a
    // one-time password this once.
    let page = user_page(state, admin, username, message, error, one_time).await?;
    page_with_status(status, &page)
}
