//! A password sign-in behind the limiter: the attempt is reserved before any password is
//! checked, and afterwards reported as it happened. Only a password that was really checked
//! and found wrong (or belonged to a disabled account) counts against the limits; a source
//! that is down, a busy broker or an unknown source do not, so they cannot lock people out.

use crate::auth::limiter::{LoginLimiter, Verdict};
use crate::directory::{password_sign_in, Identity, SignInFailure, Sources};
use crate::store::{Store, StoreError};

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum Outcome {
    SignedIn(Identity),
    /// Refused by the limiter before any password was checked.
    Limited {
        retry_after_secs: i64,
    },
    Failed(SignInFailure),
}

/// Someone asking to sign in with a password, from `addr`, through `source` (`local` or a
/// directory's id).
pub struct PasswordAttempt<'a> {
    pub source: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    pub addr: &'a str,
}

/// Reserves the attempt, checks the password at its source, and reports to the limiter
/// whether the attempt counts.
pub async fn sign_in_with_password(
    limiter: &LoginLimiter,
    store: &Store,
    sources: &Sources,
    attempt: PasswordAttempt<'_>,
    now: i64,
) -> Result<Outcome, StoreError> {
    let reserved = match limiter.reserve(attempt.username, attempt.addr, now).await? {
        Verdict::Allowed(reserved) => reserved,
        Verdict::Limited { retry_after_secs } => return Ok(Outcome::Limited { retry_after_secs }),
    };
    let outcome = password_sign_in(
        store,
        sources,
        attempt.source,
        attempt.username,
        attempt.password,
        now,
    )
    .await;
    match &outcome {
        Ok(_) => limiter.succeeded(reserved).await?,
        Err(SignInFailure::WrongCredentials | SignInFailure::Disabled) => {}
        Err(_) => limiter.not_counted(reserved).await?,
    }
    Ok(match outcome {
        Ok(identity) => Outcome::SignedIn(identity),
        Err(failure) => Outcome::Failed(failure),
    })
}
