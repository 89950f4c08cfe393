//! `/account/tokens`: people create (see once) and revoke their API tokens.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::{render, Nav, SignedIn};
use crate::auth::api_tokens::{create, revoke, CreateError, Owner, SCOPES};
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken, FormFields};
use crate::http::state::AppState;

struct TokenRow {
    id: i64,
    name: String,
    scopes: String,
    created: String,
    expires: String,
    last_used: String,
    status: &'static str,
}

struct GrantRow {
    id: i64,
    device: String,
    created: String,
    expires: String,
    last_used: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
struct TokensPage {
    nav: Option<Nav>,
    rows: Vec<TokenRow>,
    /// Sign-ins of the command-line client.
    grants: Vec<GrantRow>,
    scopes: Vec<&'static str>,
    max_days: i64,
    error: String,
    /// The secret of the token just created: shown this once.
    created: String,
    url: String,
}

async fn page(
    state: &AppState,
    user: &SignedIn,
    error: String,
    created: String,
) -> Result<TokensPage, AppError> {
    let at = now();
    let when = |t: Option<i64>| super::admin::when(t);
    let rows = state
        .store
        .api_tokens_of(user.identity.user_id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            status: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at <= at {
                "expired"
            } else {
                "active"
            },
            id: t.id,
            name: t.name,
            scopes: t.scopes,
            created: when(Some(t.created_at)),
            expires: when(Some(t.expires_at)),
            last_used: when(t.last_used_at),
        })
        .collect();
    let grants = state
        .store
        .cli_grants_of(user.identity.user_id)
        .await?
        .into_iter()
        .map(|g| GrantRow {
            status: if g.revoked_at.is_some() {
                "revoked"
            } else if g.expires_at <= at {
                "expired"
            } else {
                "active"
            },
            id: g.id,
            device: g.device,
            created: when(Some(g.created_at)),
            expires: when(Some(g.expires_at)),
            last_used: when(g.last_used_at),
        })
        .collect();
    Ok(TokensPage {
        nav: Some(user.nav()),
        rows,
        grants,
        scopes: SCOPES.to_vec(),
        max_days: state.settings.sts.api_token_max_days,
        error,
        created,
        url: state.url.clone(),
    })
}

/// `GET /account/tokens`
pub async fn get_tokens(
    state: web::Data<AppState>,
    user: SignedIn,
) -> Result<HttpResponse, AppError> {
    render(&page(&state, &user, String::new(), String::new()).await?)
}

/// The signed-in person as a token owner.
fn owner(user: &SignedIn) -> Owner<'_> {
    Owner {
        user_id: user.identity.user_id,
        username: &user.identity.username,
    }
}

/// `POST /account/tokens`: create. Checkboxes make `scope` repeat, so the form is read by hand.
pub async fn post_tokens(
    state: web::Data<AppState>,
    CsrfForm { user, form }: CsrfForm<FormFields>,
) -> Result<HttpResponse, AppError> {
    let field = |k: &str| form.get(k);
    let scopes: Vec<String> = form.all("scope");
    let days = field("days").trim().parse::<i64>().unwrap_or(0);
    let name = field("name");
    match create(
        &state.store,
        owner(&user),
        &name,
        days,
        &scopes,
        state.settings.sts.api_token_max_days,
        now(),
    )
    .await
    {
        Ok((_, secret)) => render(&page(&state, &user, String::new(), secret).await?),
        Err(CreateError::Invalid(why)) => {
            let mut res = render(&page(&state, &user, why, String::new()).await?)?;
            *res.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
            Ok(res)
        }
        Err(CreateError::Store(e)) => Err(e.into()),
    }
}

/// The revoke button's form.
#[derive(serde::Deserialize, Debug)]
pub struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

impl CsrfToken for RevokeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /account/tokens/{id}/revoke`
pub async fn post_revoke(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    CsrfForm { user, .. }: CsrfForm<RevokeForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let me = owner(&user);
    if !revoke(&state.store, me.username, me, id, now()).await? {
        return Err(AppError::BadRequest(
            "That token is not one of your active tokens.".into(),
        ));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/account/tokens"))
        .finish())
}

/// `POST /account/cli-sign-ins/{id}/revoke`: ends a command-line sign-in and its access tokens.
pub async fn post_revoke_cli(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    CsrfForm { user, .. }: CsrfForm<RevokeForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    if !crate::auth::cli_sign_in::revoke(&state.store, None, user.identity.user_id, id, now())
        .await?
    {
        return Err(AppError::BadRequest(
            "That is not one of your active command-line sign-ins.".into(),
        ));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/account/tokens"))
        .finish())
}
