//! Sign-ins of the command-line client `fedbroker-cli`: a small OAuth 2.0 authorization server
//! for one registered public client, with the authorization-code flow, PKCE S256 (RFC 7636) and
//! a loopback redirect (RFC 8252).
//!
//! Why not long-lived API tokens on laptops: a token copied from a page lives for days and is
//! revoked by hand. Here the person signs in in the browser (with every rule of the broker's
//! sign-in), approves the device on a consent page, and the client gets an access token for an
//! hour plus a refresh token bound to the grant, rotated on every use; a replayed old refresh
//! token revokes the grant (someone holds a copy). A password change, a disable or a removal
//! from a group revokes grants with the person's sessions (`store::users::revoke_access`).
//!
//! Access tokens are ordinary API tokens (`fbt_…`, every scope) tied to their grant, so the
//! whole `/api/v1` works for the client, with the same checks as for any token.

use sha2::{Digest, Sha256};

use crate::audit;
use crate::domain::token::{random_token, secrets_equal, token_hash};
use crate::store::{GrantRecord, NewAuditEvent, Rotation, Store, StoreError};

/// The one registered client.
pub const CLIENT_ID: &str = "fedbroker-cli";
/// Seconds between the consent page and the client redeeming the code.
pub const CODE_LIFETIME_SECS: i64 = 120;
/// Seconds an access token lives; the client refreshes before.
pub const ACCESS_LIFETIME_SECS: i64 = 3600;
/// The shortest grant a client may ask for.
pub const MIN_GRANT_SECS: i64 = 900;
/// Seconds after a rotation in which the refresh token before may still be used once (a client
/// whose answer was lost); see `Store::rotate_cli_grant`.
pub const REFRESH_GRACE_SECS: i64 = 30;
/// The path that shows a code to paste back, for clients on hosts without a browser.
pub const PASTE_PATH: &str = "/oauth/code";

const REFRESH_PREFIX: &str = "fbr_";
const CODE_PREFIX: &str = "fbc_";

/// The parameters of `GET /oauth/authorize`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub code_challenge: String,
    #[serde(default)]
    pub code_challenge_method: String,
    #[serde(default)]
    pub state: String,
    /// What the client calls the machine (its host name), shown on the consent page.
    #[serde(default)]
    pub device: String,
    /// Seconds the client asks the grant to last (text, so that a form can carry it back).
    #[serde(default)]
    pub lifetime: String,
}

/// An authorization request that passed every check.
#[derive(Debug, Clone)]
pub struct Authorize {
    pub redirect_uri: String,
    pub code_challenge: String,
    pub state: String,
    pub device: String,
    pub lifetime_secs: i64,
}

/// Why an authorization request is refused. It is shown on a page, never sent to the redirect
/// address: a request that fails these checks has no address that is safe to send anything to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    #[error("this sign-in link is not for fedbroker's command-line client (client_id must be `{CLIENT_ID}`)")]
    UnknownClient,
    #[error("the client asked for `response_type={0}`; only `code` is offered")]
    ResponseType(String),
    #[error("the return address `{0}` is not this machine's loopback (http://127.0.0.1:PORT/callback) nor the paste page; sign-in codes go nowhere else")]
    RedirectUri(String),
    #[error("the client did not send a PKCE S256 challenge; update fedbroker-cli")]
    Pkce,
    #[error("the client sent no state (or one over 256 characters); start again with `fedbroker-cli login`")]
    State,
}

/// Checks a request before anything is shown: the client, the redirect address (loopback or
/// the paste page, exactly), PKCE S256 and state; the device name is cleaned for display and
/// the lifetime clamped to `[MIN_GRANT_SECS, max_lifetime_secs]`.
pub fn check_authorize(
    p: &AuthorizeParams,
    broker_url: &str,
    max_lifetime_secs: i64,
) -> Result<Authorize, AuthorizeError> {
    if p.client_id != CLIENT_ID {
        return Err(AuthorizeError::UnknownClient);
    }
    if p.response_type != "code" {
        return Err(AuthorizeError::ResponseType(p.response_type.clone()));
    }
    if !is_allowed_redirect(&p.redirect_uri, broker_url) {
        return Err(AuthorizeError::RedirectUri(p.redirect_uri.clone()));
    }
    let challenge_ok = p.code_challenge_method == "S256"
        && (43..=128).contains(&p.code_challenge.len())
        && p.code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !challenge_ok {
        return Err(AuthorizeError::Pkce);
    }
    if p.state.is_empty() || p.state.len() > 256 {
        return Err(AuthorizeError::State);
    }
    let device: String = p
        .device
        .chars()
        .filter(|c| c.is_alphanumeric() || "-_. ".contains(*c))
        .take(64)
        .collect();
    let device = if device.trim().is_empty() {
        "an unnamed device".to_string()
    } else {
        device.trim().to_string()
    };
    let max = max_lifetime_secs.max(MIN_GRANT_SECS);
    Ok(Authorize {
        redirect_uri: p.redirect_uri.clone(),
        code_challenge: p.code_challenge.clone(),
        state: p.state.clone(),
        device,
        lifetime_secs: p
            .lifetime
            .trim()
            .parse::<i64>()
            .unwrap_or(max)
            .clamp(MIN_GRANT_SECS, max),
    })
}

/// `http://127.0.0.1:PORT/callback` or `http://[::1]:PORT/callback` (RFC 8252: any port, the
/// path exact, nothing else), or this broker's paste page.
pub fn is_allowed_redirect(uri: &str, broker_url: &str) -> bool {
    if uri == format!("{broker_url}{PASTE_PATH}") {
        return true;
    }
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    url.scheme() == "http"
        && loopback
        && url.port().is_some()
        && url.path() == "/callback"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
}

/// Records the person's consent: a single-use code for the client.
pub async fn issue_code(
    store: &Store,
    user_id: i64,
    request: &Authorize,
    now: i64,
) -> Result<String, StoreError> {
    let code = format!("{CODE_PREFIX}{}", random_token());
    store
        .insert_oauth_code(
            &token_hash(&code),
            user_id,
            &request.redirect_uri,
            &request.code_challenge,
            &request.device,
            request.lifetime_secs,
            now,
            now + CODE_LIFETIME_SECS,
        )
        .await?;
    Ok(code)
}

/// What the token endpoint answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    /// When the grant ends and the person must sign in again (Unix seconds).
    pub refresh_expires_at: i64,
}

/// Why the token endpoint refuses (`invalid_grant` unless said otherwise, RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::Store(_) => "temporarily_unavailable",
        }
    }
}

fn not_signed_in(why: &str) -> TokenError {
    TokenError::InvalidGrant(format!("{why}; sign in again with `fedbroker-cli login`"))
}

/// Redeems a code (once) for the first tokens of a new grant.
pub async fn redeem(
    store: &Store,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
    now: i64,
) -> Result<Tokens, TokenError> {
    if !(43..=128).contains(&verifier.len()) {
        return Err(TokenError::InvalidRequest(
            "code_verifier must be 43 to 128 characters (RFC 7636)".into(),
        ));
    }
    let Some(record) = store.take_oauth_code(&token_hash(code)).await? else {
        return Err(not_signed_in(
            "the sign-in code is unknown or was used already",
        ));
    };
    if record.expires_at <= now {
        return Err(not_signed_in("the sign-in code has expired"));
    }
    if record.redirect_uri != redirect_uri {
        return Err(not_signed_in(
            "the sign-in code was issued for another return address",
        ));
    }
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        Sha256::digest(verifier.as_bytes()),
    );
    if !secrets_equal(&challenge, &record.code_challenge) {
        return Err(not_signed_in(
            "the PKCE verifier does not match the challenge",
        ));
    }
    match store.user_by_id(record.user_id).await? {
        Some(user) if !user.disabled && !user.must_change_password => {}
        _ => return Err(not_signed_in("this account cannot sign in now")),
    }
    let refresh = format!("{REFRESH_PREFIX}{}", random_token());
    let expires_at = now + record.lifetime_secs;
    let id = store
        .create_cli_grant(
            record.user_id,
            &record.device,
            &token_hash(&refresh),
            now,
            expires_at,
        )
        .await?;
    let grant = GrantRecord {
        id,
        user_id: record.user_id,
        device: record.device,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    record_grant_event(store, None, &grant, "cli_sign_in", now).await;
    access_for(store, &grant, refresh, now).await
}

/// Rotates a refresh token and hands out a new access token.
pub async fn refresh(store: &Store, refresh_token: &str, now: i64) -> Result<Tokens, TokenError> {
    let next = format!("{REFRESH_PREFIX}{}", random_token());
    match store
        .rotate_cli_grant(
            &token_hash(refresh_token),
            &token_hash(&next),
            now,
            REFRESH_GRACE_SECS,
        )
        .await?
    {
        Rotation::Unknown => Err(not_signed_in("this sign-in is unknown")),
        Rotation::Replayed(grant) => {
            record_grant_event(store, None, &grant, "cli_refresh_replayed", now).await;
            Err(not_signed_in(
                "this refresh token was used before, so a copy may exist elsewhere: the sign-in \
                 was revoked",
            ))
        }
        Rotation::Rotated(grant) if grant.revoked_at.is_some() => {
            Err(not_signed_in("this sign-in was revoked"))
        }
        Rotation::Rotated(grant) if grant.expires_at <= now => Err(not_signed_in(
            "this sign-in has reached the end of its lifetime",
        )),
        Rotation::Rotated(grant) => access_for(store, &grant, next, now).await,
    }
}

/// Ends one of a person's grants (and its access tokens), recorded with who ended it (the
/// person, or an admin: `by`); false when there is none.
pub async fn revoke(
    store: &Store,
    by: Option<&str>,
    user_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let grant = store
        .cli_grants_of(user_id)
        .await?
        .into_iter()
        .find(|g| g.id == id);
    let revoked = store.revoke_cli_grant(user_id, id, now).await?;
    if let (true, Some(grant)) = (revoked, grant) {
        record_grant_event(store, by, &grant, "cli_sign_in_revoked", now).await;
    }
    Ok(revoked)
}

async fn access_for(
    store: &Store,
    grant: &GrantRecord,
    refresh_token: String,
    now: i64,
) -> Result<Tokens, TokenError> {
    let access = format!("{}{}", super::api_tokens::PREFIX, random_token());
    let expires_at = (now + ACCESS_LIFETIME_SECS).min(grant.expires_at);
    store
        .create_cli_access_token(
            grant,
            &token_hash(&access),
            &super::api_tokens::SCOPES.join(" "),
            now,
            expires_at,
        )
        .await?;
    Ok(Tokens {
        access_token: access,
        token_type: "Bearer",
        expires_in: expires_at - now,
        refresh_token,
        refresh_expires_at: grant.expires_at,
    })
}

/// `by`: who acted when it was not the person themselves (an admin).
async fn record_grant_event(
    store: &Store,
    by: Option<&str>,
    grant: &GrantRecord,
    action: &str,
    now: i64,
) {
    let username = store
        .user_by_id(grant.user_id)
        .await
        .ok()
        .flatten()
        .map(|u| u.username)
        .unwrap_or_default();
    let event = NewAuditEvent {
        event_type: audit::kind::TOKEN.into(),
        actor: by.map_or_else(|| username.clone(), str::to_string),
        subject: username,
        outcome: audit::outcome(action != "cli_refresh_replayed"),
        details: serde_json::json!({
            "action": action, "grant_id": grant.id, "device": grant.device,
            "expires_at": grant.expires_at,
        }),
        ..NewAuditEvent::default()
    };
    store.record_event(&event, now).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROKER: &str = "https://broker.example.com";

    fn params(redirect_uri: &str) -> AuthorizeParams {
        AuthorizeParams {
            response_type: "code".into(),
            client_id: CLIENT_ID.into(),
            redirect_uri: redirect_uri.into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            code_challenge_method: "S256".into(),
            state: "xyz".into(),
            device: "laptop\u{202e}<b>".into(),
            lifetime: "10000000".into(),
        }
    }

    #[test]
    fn only_loopback_callbacks_and_the_paste_page_are_return_addresses() {
        for ok in [
            "http://127.0.0.1:49152/callback",
            "http://[::1]:8400/callback",
            "https://broker.example.com/oauth/code",
        ] {
            assert!(is_allowed_redirect(ok, BROKER), "{ok}");
        }
        for bad in [
            "http://localhost:49152/callback",
            "https://127.0.0.1:49152/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:49152/callback/",
            "http://127.0.0.1:49152/callback?x=1",
            "http://127.0.0.1:49152/other",
            "http://evil@127.0.0.1:49152/callback",
            "http://127.0.0.2.evil.example:80/callback",
            "https://evil.example/callback",
            "https://broker.example.com/oauth/code?x",
            "https://broker.example.com.evil.example/oauth/code",
            "",
        ] {
            assert!(!is_allowed_redirect(bad, BROKER), "{bad}");
        }
    }

    #[test]
    fn a_request_is_checked_and_its_device_and_lifetime_tamed() {
        let ok = check_authorize(&params("http://127.0.0.1:5000/callback"), BROKER, 43_200)
            .expect("valid");
        assert_eq!(ok.device, "laptopb");
        assert_eq!(ok.lifetime_secs, 43_200);
        let mut short = params("http://127.0.0.1:5000/callback");
        short.lifetime = "1".into();
        assert_eq!(
            check_authorize(&short, BROKER, 43_200)
                .expect("valid")
                .lifetime_secs,
            MIN_GRANT_SECS
        );
        type Change = fn(&mut AuthorizeParams);
        let cases: [(Change, AuthorizeError); 5] = [
            (
                |p| p.client_id = "other".into(),
                AuthorizeError::UnknownClient,
            ),
            (
                |p| p.response_type = "token".into(),
                AuthorizeError::ResponseType("token".into()),
            ),
            (
                |p| p.code_challenge_method = "plain".into(),
                AuthorizeError::Pkce,
            ),
            (|p| p.code_challenge = "short".into(), AuthorizeError::Pkce),
            (|p| p.state = String::new(), AuthorizeError::State),
        ];
        for (change, expected) in cases {
            let mut p = params("http://127.0.0.1:5000/callback");
            change(&mut p);
            assert_eq!(check_authorize(&p, BROKER, 43_200).err(), Some(expected));
        }
    }
}
