//! SAML endpoints: metadata, the SSO entry point, and the console sign-in auto-POST.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::Nav;
use crate::aws::console::{console_sign_in, ConsoleSignIn};
use crate::http::error::AppError;
use crate::http::middleware::CSP;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::state::AppState;
use crate::saml::base64_field::Base64;

/// The metadata document, with every published certificate.
pub async fn metadata_xml(state: &AppState) -> Result<String, AppError> {
    let sso = format!("{}/saml/sso", state.url);
    Ok(state.keys.metadata(&state.profile.entity_id, &sso).await?)
}

/// `GET /saml/metadata`: upload to IAM with `aws iam create-saml-provider --saml-metadata-document file://...`.
pub async fn get_metadata(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let xml = metadata_xml(&state).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/samlmetadata+xml; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "inline; filename=\"fedbroker-idp-metadata.xml\"",
        ))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(xml))
}

/// `GET /saml/sso`: AWS never sends AuthnRequests to IAM SAML providers (sign-in is
/// IdP-initiated), so the SSO endpoint in the metadata just leads to the portal.
pub async fn get_sso() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .finish()
}

/// The console form in the portal.
#[derive(Deserialize, Debug)]
pub struct ConsoleForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    region: String,
    /// A console page to land on (a bookmarked link's `landing`); the rule's otherwise.
    #[serde(default)]
    landing: String,
}

impl CsrfToken for ConsoleForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Template)]
#[template(path = "saml/autopost.html")]
struct AutoPostPage {
    nav: Option<Nav>,
    acs_url: String,
    saml_response: Base64,
    relay_state: String,
    region: String,
    reason: &'static str,
    roles: Vec<String>,
}

/// `POST /saml/aws/sso`: signs a Response for the chosen role and Region (or the first healthy
/// Region) and answers with a page that posts it to that Region's AWS sign-in endpoint; a role
/// whose rule has a session policy is sent to the federation link instead (a 302 whose URL
/// holds a sign-in token, so no referrer goes with it).
pub async fn post_console(
    state: web::Data<AppState>,
    req: HttpRequest,
    CsrfForm { user, form }: CsrfForm<ConsoleForm>,
) -> Result<HttpResponse, AppError> {
    let region = Some(form.region.as_str()).filter(|r| !r.is_empty());
    let landing = Some(form.landing.trim()).filter(|l| !l.is_empty());
    let origin = super::origin(&req, &state.settings);
    let post = match console_sign_in(
        state.aws(),
        &user.identity,
        &form.role,
        region,
        landing,
        &origin,
    )
    .await?
    {
        ConsoleSignIn::Post(post) => post,
        ConsoleSignIn::FederationLink(url) => {
            return Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, url))
                .insert_header((header::REFERRER_POLICY, "no-referrer"))
                .finish())
        }
    };
    let acs_origin = origin_of(&post.acs_url);
    let html = AutoPostPage {
        nav: Some(user.nav()),
        acs_url: post.acs_url,
        saml_response: post.saml_response,
        relay_state: post.relay_state,
        region: post.region,
        reason: post.reason,
        roles: post.roles,
    }
    .render()?;
    // This page (and only this page) may post a form to the AWS sign-in endpoint.
    let csp = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {acs_origin}"),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .body(html))
}

/// `scheme://host[:port]` of a URL, for a CSP source.
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "'none'".to_string();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_keep_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://us-east-2.signin.aws.amazon.com/saml"),
            "https://us-east-2.signin.aws.amazon.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:4567/saml"),
            "http://127.0.0.1:4567"
        );
    }
}
