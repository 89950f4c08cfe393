//! API tokens: what scripts and the CLI use instead of a browser session.
//!
//! A token is `fbt_` + 256 random bits (base64url); only its SHA-256 is stored, so a database
//! leak reveals no usable token. Each token has a name, scopes (`roles`, `credentials`,
//! `console`), and an expiry no later than `sts.api_token_max_days`; people revoke their own.

use crate::audit::{self, NewAuditEvent};
use crate::auth::sessions::{random_token, token_hash};
use crate::directory::{local::identity_of, Identity};
use crate::store::{ApiTokenRecord, Store, StoreError};

/// What a token may do.
pub const SCOPES: [&str; 3] = ["roles", "credentials", "console"];
/// The visible prefix of every token (lets secret scanners find leaked ones).
pub const PREFIX: &str = "fbt_";

/// Why a token was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a bearer token was not accepted; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("the Authorization header must be `Bearer fbt_…`")]
    Malformed,
    #[error("this token is not known; create one at /account/tokens")]
    Unknown,
    #[error("this token was revoked; create a new one at /account/tokens")]
    Revoked,
    #[error("this token expired; create a new one at /account/tokens")]
    Expired,
    #[error("the account this token belongs to is disabled or gone")]
    AccountDisabled,
    /// A password change is pending (a one-time password or an admin's reset): until the
    /// person chooses a password, nothing acts in their name.
    #[error("a password change is pending for this account: sign in and change the password at /account/password, then create a new token")]
    PasswordChangeRequired,
}

impl TokenRejected {
    /// A short machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenRejected::Malformed => "malformed_token",
            TokenRejected::Unknown => "unknown_token",
            TokenRejected::Revoked => "revoked_token",
            TokenRejected::Expired => "expired_token",
            TokenRejected::AccountDisabled => "account_disabled",
            TokenRejected::PasswordChangeRequired => "password_change_required",
        }
    }

    /// The HTTP status: 401 when the token itself is no good, 403 when the token is good but
    /// its owner may not act now (the same answer a browser session gets).
    pub fn status(&self) -> u16 {
        match self {
            TokenRejected::PasswordChangeRequired => 403,
            _ => 401,
        }
    }
}

/// Whose token, for the store and the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub user_id: i64,
    pub username: &'a str,
}

/// The audit event of a token created or revoked: written by the operation, so every path
/// that creates or revokes a token records it alike. `actor` is the owner, or the admin who
/// revoked someone else's token.
async fn audit(store: &Store, actor: &str, owner: Owner<'_>, action: &str, name: &str, id: i64) {
    audit::record(
        store,
        NewAuditEvent {
            event_type: audit::kind::TOKEN.into(),
            actor: actor.to_string(),
            subject: owner.username.to_string(),
            outcome: audit::outcome(true),
            details: serde_json::json!({"action": action, "token_id": id, "name": name}),
            ..NewAuditEvent::default()
        },
    )
    .await;
}

/// Creates a token; returns its id and the secret, which is shown once and never again.
pub async fn create(
    store: &Store,
    owner: Owner<'_>,
    name: &str,
    days: i64,
    scopes: &[String],
    max_days: i64,
    now: i64,
) -> Result<(i64, String), CreateError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(CreateError::Invalid(
            "give the token a name of 1 to 64 characters (e.g. the laptop or job that uses it)"
                .into(),
        ));
    }
    if !(1..=max_days).contains(&days) {
        return Err(CreateError::Invalid(format!(
            "a token may live 1 to {max_days} days"
        )));
    }
    if scopes.is_empty() || scopes.iter().any(|s| !SCOPES.contains(&s.as_str())) {
        return Err(CreateError::Invalid(format!(
            "choose at least one scope of: {}",
            SCOPES.join(", ")
        )));
    }
    let secret = format!("{PREFIX}{}", random_token());
    let id = store
        .create_api_token(
            owner.user_id,
            name,
            &token_hash(&secret),
            &scopes.join(" "),
            now,
            now + days * 86_400,
        )
        .await?;
    audit(store, owner.username, owner, "created", name, id).await;
    Ok((id, secret))
}

/// Revokes one of the owner's live tokens, by the owner or an admin (`actor`); false when
/// the owner has no such live token.
pub async fn revoke(
    store: &Store,
    actor: &str,
    owner: Owner<'_>,
    id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let revoked = store.revoke_api_token(owner.user_id, id, now).await?;
    if revoked {
        audit(store, actor, owner, "revoked", "", id).await;
    }
    Ok(revoked)
}

/// The person behind a bearer token, with the token's record.
pub async fn authenticate(
    store: &Store,
    authorization: &str,
    now: i64,
) -> Result<Result<(Identity, ApiTokenRecord), TokenRejected>, StoreError> {
    let Some(secret) = authorization
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| t.starts_with(PREFIX))
    else {
        return Ok(Err(TokenRejected::Malformed));
    };
    // The lookup is by hash, so comparing secrets never happens in variable time.
    let Some(token) = store.api_token_by_hash(&token_hash(secret)).await? else {
        return Ok(Err(TokenRejected::Unknown));
    };
    if token.revoked_at.is_some() {
        return Ok(Err(TokenRejected::Revoked));
    }
    if token.expires_at <= now {
        return Ok(Err(TokenRejected::Expired));
    }
    let user = store.user_by_id(token.user_id).await?;
    if user.as_ref().is_none_or(|u| u.disabled) {
        return Ok(Err(TokenRejected::AccountDisabled));
    }
    if user.as_ref().is_some_and(|u| u.must_change_password) {
        return Ok(Err(TokenRejected::PasswordChangeRequired));
    }
    let Some(identity) = identity_of(store, token.user_id).await? else {
        return Ok(Err(TokenRejected::AccountDisabled));
    };
    store.touch_api_token(token.id, now).await?;
    Ok(Ok((identity, token)))
}

/// Whether a token carries a scope.
pub fn has_scope(token: &ApiTokenRecord, scope: &str) -> bool {
    token.scopes.split(' ').any(|s| s == scope)
}
