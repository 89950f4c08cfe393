//! Re-checking an external person when one of their API tokens is used.
//!
//! A token lives for weeks, while the groups of an LDAP or OIDC person were read at their last
//! sign-in. Someone removed from a group (or from the directory) must lose the role at once,
//! not when their token expires. So every use of a token of an external person asks the
//! source again where that is possible:
//!
//! - LDAP: the service account reads the entry (it must still exist and match `user_filter`)
//!   and its groups, which replace the groups that source gave;
//! - OIDC: a provider cannot be asked about someone without them, so the token works only for
//!   `reauth_after_secs` after their last sign-in in the browser, which refreshes the groups.
//!
//! Every decision is recorded in the audit log.

use crate::audit::Origin;
use crate::audit::{self, kind, NewAuditEvent};
use crate::directory::{local::identity_of, Identity, Sources};
use crate::store::{Store, StoreError};

/// Why a token of an external person was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "your last sign-in through {provider} was more than {after} ago; sign in again in \
         the browser (at /login, \"Sign in with {provider}\"), then this token works again"
    )]
    ReauthRequired { provider: String, after: String },
    #[error("the directory {directory} no longer lists this account, so its tokens are refused")]
    Gone { directory: String },
    #[error(
        "the directory {directory} cannot be reached to confirm your groups; try again in a minute"
    )]
    SourceDown { directory: String },
    #[error("the sign-in source `{0}` of this account is no longer configured")]
    SourceRemoved(String),
}

impl Refused {
    /// A short machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::ReauthRequired { .. } => "reauth_required",
            Refused::Gone { .. } => "account_gone",
            Refused::SourceDown { .. } => "source_unavailable",
            Refused::SourceRemoved(_) => "source_removed",
        }
    }

    /// Whether the refusal is temporary (the source is down) rather than about the person.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Refused::SourceDown { .. })
    }
}

/// Checks the holder of an API token against their source; returns their identity with the
/// groups now known, or why the token is refused. Local people pass unchanged.
pub async fn token_holder(
    store: &Store,
    sources: &Sources,
    identity: Identity,
    origin: &Origin,
    now: i64,
) -> Result<Result<Identity, Refused>, StoreError> {
    if identity.source == "local" {
        return Ok(Ok(identity));
    }
    let decision = decide(store, sources, &identity, now).await?;
    let (outcome, reason) = match &decision {
        Ok(_) => (
            true,
            "the source still vouches for this account".to_string(),
        ),
        Err(refused) => (false, refused.to_string()),
    };
    audit::record(
        store,
        NewAuditEvent {
            event_type: kind::TOKEN.into(),
            actor: identity.username.clone(),
            subject: identity.username.clone(),
            outcome: audit::outcome(outcome),
            source_addr: origin.addr.clone(),
            user_agent: origin.user_agent.clone(),
            details: serde_json::json!({
                "action": "source_recheck",
                "source": identity.source,
                "reason": reason,
                "code": decision.as_ref().err().map(Refused::code),
            }),
            ..NewAuditEvent::default()
        },
    )
    .await;
    match decision {
        Ok(()) => Ok(identity_of(store, identity.user_id)
            .await?
            .ok_or(Refused::Gone {
                directory: identity.source.clone(),
            })),
        Err(refused) => Ok(Err(refused)),
    }
}

async fn decide(
    store: &Store,
    sources: &Sources,
    identity: &Identity,
    now: i64,
) -> Result<Result<(), Refused>, StoreError> {
    if let Some(directory) = sources
        .ldap
        .iter()
        .find(|l| l.settings.id == identity.source)
    {
        let Some(user) = store.user_by_id(identity.user_id).await? else {
            return Ok(Err(Refused::Gone {
                directory: directory.settings.name.clone(),
            }));
        };
        let Some(subject) = user.subject.filter(|s| !s.is_empty()) else {
            return Ok(Err(Refused::Gone {
                directory: directory.settings.name.clone(),
            }));
        };
        return match directory.recheck(&subject).await {
            Ok(Some(person)) => {
                store
                    .replace_source_groups(user.id, &identity.source, &person.groups, now)
                    .await?;
                Ok(Ok(()))
            }
            Ok(None) => {
                // Gone from the directory: the groups it gave go too.
                store
                    .replace_source_groups(user.id, &identity.source, &[], now)
                    .await?;
                Ok(Err(Refused::Gone {
                    directory: directory.settings.name.clone(),
                }))
            }
            Err(e) => {
                tracing::warn!(source = %identity.source, error = %e, "LDAP re-check of a token holder failed");
                Ok(Err(Refused::SourceDown {
                    directory: directory.settings.name.clone(),
                }))
            }
        };
    }
    // Upstream OIDC and SAML providers cannot be asked about a person: a recent browser
    // sign-in stands in.
    let upstream = sources
        .oidc
        .iter()
        .map(|p| {
            (
                &p.settings.id,
                &p.settings.name,
                p.settings.reauth_after_secs,
            )
        })
        .chain(
            sources
                .saml
                .iter()
                .map(|s| (&s.id, &s.name, s.reauth_after_secs)),
        )
        .find(|(id, _, _)| **id == identity.source);
    if let Some((_, name, reauth_after_secs)) = upstream {
        let last = store
            .user_by_id(identity.user_id)
            .await?
            .and_then(|u| u.last_login_at)
            .unwrap_or(0);
        let max_age = i64::try_from(reauth_after_secs).unwrap_or(i64::MAX);
        return Ok(if now.saturating_sub(last) > max_age {
            Err(Refused::ReauthRequired {
                provider: name.clone(),
                after: span(reauth_after_secs),
            })
        } else {
            Ok(())
        });
    }
    Ok(Err(Refused::SourceRemoved(identity.source.clone())))
}

/// `12 hours`, `90 minutes`, `45 seconds`.
fn span(secs: u64) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} hours", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} minutes", secs / 60)
    } else {
        format!("{secs} seconds")
    }
}
