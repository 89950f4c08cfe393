//! `POST /credentials` (CLI credentials page) and `POST /console/federation` (console through a
//! federation URL). Thin: authorise, call `credentials`, render or redirect.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{origin, render, Nav};
use crate::aws::credentials::{credentials, RoleCredentials};
use crate::aws::federation::console_url;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::state::AppState;

/// A role chosen in the portal.
#[derive(Deserialize, Debug)]
pub struct RoleForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
}

impl CsrfToken for RoleForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

struct Format {
    id: &'static str,
    label: &'static str,
    text: String,
}

#[derive(Template)]
#[template(path = "credentials.html")]
struct CredentialsPage {
    nav: Option<Nav>,
    role: String,
    assumed_role_arn: String,
    expires: String,
    region: String,
    adjusted: String,
    formats: Vec<Format>,
}

/// `credential_process` output (`Version: 1`), also the JSON API's answer.
pub fn credential_process_json(c: &RoleCredentials) -> serde_json::Value {
    serde_json::json!({
        "Version": 1,
        "AccessKeyId": c.issued.access_key_id,
        "SecretAccessKey": c.issued.secret_access_key.expose_secret(),
        "SessionToken": c.issued.session_token.expose_secret(),
        "Expiration": crate::audit::rfc3339(c.issued.expiration),
    })
}

/// A `~/.aws/credentials` profile name: alias (or account) and role, in lower case.
pub fn profile_name(account_label: &str, role_name: &str) -> String {
    let raw = format!("{account_label}-{role_name}").to_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || "_.".contains(c) {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches('-').to_string()
}

fn formats(c: &RoleCredentials, profile: &str) -> Vec<Format> {
    let (id, secret, token) = (
        c.issued.access_key_id.as_str(),
        c.issued.secret_access_key.expose_secret(),
        c.issued.session_token.expose_secret(),
    );
    vec![
        Format {
            id: "bash",
            label: "bash / zsh",
            text: format!(
                "export AWS_ACCESS_KEY_ID={id}\nexport AWS_SECRET_ACCESS_KEY={secret}\nexport AWS_SESSION_TOKEN={token}"
            ),
        },
        Format {
            id: "fish",
            label: "fish",
            text: format!(
                "set -x AWS_ACCESS_KEY_ID {id}\nset -x AWS_SECRET_ACCESS_KEY {secret}\nset -x AWS_SESSION_TOKEN {token}"
            ),
        },
        Format {
            id: "powershell",
            label: "PowerShell",
            text: format!(
                "$Env:AWS_ACCESS_KEY_ID=\"{id}\"\n$Env:AWS_SECRET_ACCESS_KEY=\"{secret}\"\n$Env:AWS_SESSION_TOKEN=\"{token}\""
            ),
        },
        Format {
            id: "credentials-file",
            label: "~/.aws/credentials",
            text: format!(
                "[{profile}]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\naws_session_token = {token}"
            ),
        },
        Format {
            id: "credential-process",
            label: "credential_process JSON",
            text: serde_json::to_string_pretty(&credential_process_json(c)).unwrap_or_default(),
        },
    ]
}

/// `POST /credentials`
pub async fn post_credentials(
    state: web::Data<AppState>,
    req: HttpRequest,
    CsrfForm { user, form }: CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let creds = credentials(
        state.aws(),
        &user.identity,
        &form.role,
        &origin(&req, &state.settings),
    )
    .await?;
    let account = creds.pair.role.account().to_string();
    let label = state
        .store
        .account(&account)
        .await?
        .map_or(account, |a| a.name);
    let profile = profile_name(&label, creds.pair.role.name());
    render(&CredentialsPage {
        nav: Some(user.nav()),
        role: creds.pair.role.to_string(),
        assumed_role_arn: creds.issued.assumed_role_arn.clone(),
        expires: super::admin::when(Some(creds.issued.expiration)),
        region: creds.issued.endpoint.region.to_string(),
        adjusted: creds.adjusted.clone().unwrap_or_default(),
        formats: formats(&creds, &profile),
    })
}

/// `POST /console/federation`: a 302 to the AWS console's federation login. The URL carries a
/// sign-in token, so it appears only in this redirect, never in a log.
pub async fn post_federation(
    state: web::Data<AppState>,
    req: HttpRequest,
    CsrfForm { user, form }: CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let url = console_url(
        state.aws(),
        &user.identity,
        &form.role,
        None,
        &origin(&req, &state.settings),
    )
    .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_are_shell_safe() {
        assert_eq!(
            profile_name("Payments prod", "Admin"),
            "payments-prod-admin"
        );
        assert_eq!(
            profile_name("123456789012", "ops/Deploy+er"),
            "123456789012-ops-deploy-er"
        );
    }
}
