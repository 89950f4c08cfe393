//! The admin area (members of the admin group only).

use actix_web::{web, HttpResponse};
use askama::Template;

use super::{render, AdminUser, Nav};
use crate::http::error::AppError;
use crate::http::state::AppState;
use std::collections::HashMap;

use crate::directory::admin::{admin_group_names, admin_origin};
use crate::store::{Membership, UserRecord};

#[derive(Template)]
#[template(path = "admin/index.html")]
struct AdminPage {
    nav: Option<Nav>,
    /// Only the people who hold admin rights: the whole directory is on `/admin/users`.
    admins: Vec<UserRow>,
    user_count: usize,
    group_count: usize,
    engine: &'static str,
}

/// A user on the admin page, with where their admin right comes from (empty: none).
struct UserRow {
    user: UserRecord,
    admin: String,
}

/// `GET /admin`
pub async fn get_admin(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let mut memberships: HashMap<i64, Vec<Membership>> = HashMap::new();
    for group in admin_group_names(&state.settings.admin.group, &state.settings.sources) {
        for (user_id, source) in state.store.members_of_group(&group).await? {
            memberships.entry(user_id).or_default().push(Membership {
                group: group.clone(),
                source,
            });
        }
    }
    let users = state.store.list_users().await?;
    let user_count = users.len();
    let admins = users
        .into_iter()
        .map(|user| {
            let admin = memberships
                .get(&user.id)
                .and_then(|m| admin_origin(&state.settings.admin.group, &state.settings.sources, m))
                .map(|o| o.to_string())
                .unwrap_or_default();
            UserRow { user, admin }
        })
        .filter(|row| !row.admin.is_empty())
        .collect();
    render(&AdminPage {
        nav: Some(admin.0.nav()),
        admins,
        user_count,
        group_count: state.store.list_groups().await?.len(),
        engine: state.store.engine(),
    })
}

pub mod accounts;
pub mod audit;
pub mod dryrun;
pub mod encryption;
pub mod groups;
pub mod keys;
pub mod regions;
pub mod rule_form;
pub mod rules;
pub mod sources;
pub mod tokens;
pub mod trust;
pub mod users;

/// Formats Unix seconds for admin tables.
pub fn when(secs: Option<i64>) -> String {
    secs.map(crate::clock::readable)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "—".to_string())
}

/// An admin page with a status of its own (a refused form is answered 400 with the form).
fn page_with_status<T: Template>(
    status: actix_web::http::StatusCode,
    page: &T,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// A refusal an admin can act on is shown on the page; a store failure is an error page.
fn refusal(e: crate::auth::user_admin::UserAdminError) -> Result<String, AppError> {
    use crate::auth::user_admin::UserAdminError;
    match e {
        UserAdminError::Invalid(why) => Ok(why),
        UserAdminError::Store(s) => Err(s.into()),
        UserAdminError::Local(l) => Err(l.into()),
    }
}
