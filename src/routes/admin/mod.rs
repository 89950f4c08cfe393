//! The admin area (members of the admin group only).

use actix_web::{web, HttpResponse};
use askama::Template;

use super::{render, AdminUser, Nav};
use crate::error::AppError;
use crate::startup::AppState;
use crate::store::{GroupRecord, UserRecord};

#[derive(Template)]
#[template(path = "admin/index.html")]
struct AdminPage {
    nav: Option<Nav>,
    users: Vec<UserRecord>,
    groups: Vec<GroupRecord>,
    engine: &'static str,
}

/// `GET /admin`
pub async fn get_admin(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let users = state.store.list_users().await?;
    let groups = state.store.list_groups().await?;
    render(&AdminPage {
        nav: Some(admin.0.nav()),
        users,
        groups,
        engine: state.store.engine(),
    })
}

pub mod accounts;
pub mod audit;
pub mod dryrun;
pub mod keys;
pub mod regions;
pub mod rules;
pub mod trust;

/// Formats Unix seconds for admin tables.
pub fn when(secs: Option<i64>) -> String {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "—".to_string())
}
