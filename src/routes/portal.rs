//! The portal: who you are, your groups, and your AWS roles.

use actix_web::HttpResponse;
use askama::Template;

use super::{render, Nav, SignedIn};
use crate::error::AppError;

#[derive(Template)]
#[template(path = "portal/index.html")]
struct PortalPage {
    nav: Option<Nav>,
    display_name: String,
    username: String,
    email: String,
    groups: Vec<String>,
}

/// `GET /`
pub async fn get_portal(user: SignedIn) -> Result<HttpResponse, AppError> {
    let id = &user.identity;
    render(&PortalPage {
        nav: Some(user.nav()),
        display_name: if id.display_name.is_empty() {
            id.username.clone()
        } else {
            id.display_name.clone()
        },
        username: id.username.clone(),
        email: id.email.clone(),
        groups: id.groups.clone(),
    })
}
