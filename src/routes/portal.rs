//! The portal: who you are, your groups, and your AWS roles.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::{render, Nav, SignedIn};
use crate::error::AppError;
use crate::signin::{roles_by_account, roles_of};
use crate::startup::AppState;

struct RoleView {
    arn: String,
    name: String,
}

/// One account's roles. Rendered separately and inserted into the portal: askama's generated
/// code for nested loops inside one template takes minutes to borrow-check.
#[derive(Template)]
#[template(path = "portal/account.html")]
struct AccountBlock<'a> {
    account: String,
    roles: Vec<RoleView>,
    region_select: &'a str,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "portal/index.html")]
struct PortalPage {
    nav: Option<Nav>,
    display_name: String,
    username: String,
    email: String,
    groups: Vec<String>,
    /// Each account rendered by [`AccountBlock`].
    account_blocks: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal/region_select.html")]
struct RegionSelect<'a> {
    regions: &'a [String],
}

/// `GET /`
pub async fn get_portal(
    state: web::Data<AppState>,
    user: SignedIn,
) -> Result<HttpResponse, AppError> {
    let id = &user.identity;
    let roles = roles_of(&state.profile, id);
    let region_select = RegionSelect {
        regions: &state
            .regions
            .endpoints()
            .iter()
            .map(|e| e.region.to_string())
            .collect::<Vec<_>>(),
    }
    .render()?;
    let mut account_blocks = Vec::new();
    for (account, roles) in roles_by_account(&roles) {
        let block = AccountBlock {
            account,
            roles: roles
                .into_iter()
                .map(|r| RoleView {
                    name: r.role.name().to_string(),
                    arn: r.role.to_string(),
                })
                .collect(),
            region_select: &region_select,
            csrf_token: &user.session.csrf_token,
        };
        account_blocks.push(block.render()?);
    }
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
        account_blocks,
    })
}
