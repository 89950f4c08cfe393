//! `/admin/accounts`: account aliases (name, environment, colour) for the portal.
//!
//! Same optimistic editing as rules: each row's form carries the version it showed.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::rules::HistoryRow;
use super::{page_with_status, when};
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{AdminUser, Nav};
use crate::http::state::AppState;
use crate::mapping::{AccountAlias, Colour};
use crate::store::{Change, StoreError};

#[derive(Template)]
#[template(path = "admin/colour_select.html")]
struct ColourSelect<'a> {
    selected: &'a str,
    colours: Vec<&'static str>,
}

fn colour_select(selected: &str) -> Result<String, AppError> {
    Ok(ColourSelect {
        selected,
        colours: Colour::ALL.iter().map(Colour::as_str).collect(),
    }
    .render()?)
}

struct AccountRow {
    id: String,
    name: String,
    environment: String,
    colour_select: String,
    version: i64,
    updated: String,
    error: String,
}

#[derive(Template)]
#[template(path = "admin/accounts.html")]
struct AccountsPage {
    nav: Option<Nav>,
    rows: Vec<AccountRow>,
    new: AccountForm,
    new_colour_select: String,
    new_error: String,
    history: Vec<HistoryRow>,
}

/// One alias as posted.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct AccountForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    colour: String,
    version: Option<i64>,
    #[serde(default)]
    action: String,
}

impl CsrfToken for AccountForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl AccountForm {
    fn alias(&self) -> Result<AccountAlias, String> {
        let colour = match self.colour.as_str() {
            "" => None,
            raw => Some(
                Colour::parse(raw)
                    .ok_or_else(|| format!("colour: `{raw}` is not one of the palette"))?,
            ),
        };
        let alias = AccountAlias {
            id: self.id.trim().to_string(),
            name: self.name.trim().to_string(),
            environment: self.environment.trim().to_string(),
            colour,
        };
        alias.validate().map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(alias)
    }
}

/// Renders the list; `failed` puts a message on one row (by account id) or on the add form.
async fn page(
    state: &AppState,
    admin: &AdminUser,
    failed: Option<(&AccountForm, String)>,
) -> Result<AccountsPage, AppError> {
    let mut rows = Vec::new();
    for a in state.store.list_accounts().await? {
        let colour = a.colour.clone().unwrap_or_default();
        rows.push(AccountRow {
            colour_select: colour_select(&colour)?,
            id: a.account_id,
            name: a.name,
            environment: a.environment,
            version: a.version,
            updated: format!("{} by {}", when(Some(a.updated_at)), a.updated_by),
            error: String::new(),
        });
    }
    let mut new = AccountForm::default();
    let mut new_error = String::new();
    if let Some((form, message)) = failed {
        match rows
            .iter_mut()
            .find(|r| r.id == form.id && form.version.is_some())
        {
            Some(row) => {
                // Keep what the admin typed in the row that failed.
                row.name = form.name.clone();
                row.environment = form.environment.clone();
                row.colour_select = colour_select(&form.colour)?;
                row.error = message;
            }
            None => {
                new = form.clone();
                new_error = message;
            }
        }
    }
    let history = state
        .store
        .history(Some("account"), None, 20)
        .await?
        .into_iter()
        .map(HistoryRow::from)
        .collect();
    Ok(AccountsPage {
        nav: Some(admin.0.nav()),
        new_colour_select: colour_select(&new.colour)?,
        rows,
        new,
        new_error,
        history,
    })
}

/// `GET /admin/accounts`
pub async fn get_accounts(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    page_with_status(StatusCode::OK, &page(&state, &admin, None).await?)
}

/// `POST /admin/accounts`: add (no version), save or delete (with the row's version).
pub async fn post_accounts(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<AccountForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let change = Change {
        actor: &admin.0.identity.username,
        at: now(),
    };
    let result = if form.action == "delete" {
        let version = form.version.ok_or_else(|| {
            AppError::BadRequest("The form has no version; reload the page and try again.".into())
        })?;
        state
            .store
            .delete_account(form.id.trim(), version, &change)
            .await
    } else {
        let alias = match form.alias() {
            Ok(a) => a,
            Err(message) => {
                return page_with_status(
                    StatusCode::BAD_REQUEST,
                    &page(&state, &admin, Some((&form, message))).await?,
                )
            }
        };
        state
            .store
            .save_account(&alias, form.version, &change)
            .await
    };
    match result {
        Ok(()) => {
            tracing::info!(admin = %change.actor, account = %form.id, action = %form.action, "account alias changed");
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/admin/accounts"))
                .finish())
        }
        Err(StoreError::Conflict) => {
            let message = format!(
                "account {} has an alias already; edit it in the list",
                form.id.trim()
            );
            page_with_status(
                StatusCode::CONFLICT,
                &page(&state, &admin, Some((&form, message))).await?,
            )
        }
        Err(StoreError::Stale(why)) => {
            let message = format!(
                "{why}. Your values were not saved and are still in the row; the page now shows the saved \
                 version, so saving again replaces it with yours."
            );
            // The row keeps the admin's values but carries the saved version, so a second save
            // is deliberate.
            page_with_status(
                StatusCode::CONFLICT,
                &page(&state, &admin, Some((&form, message))).await?,
            )
        }
        Err(e) => Err(e.into()),
    }
}
