//! Server-side sessions: opaque random ids in a cookie, stored hashed, with idle and absolute
//! timeouts. The id is rotated at every sign-in, so a session id planted before sign-in
//! (session fixation) is worthless afterwards.

use crate::domain::session::{SessionPolicy, SessionState};
pub use crate::domain::token::{random_token, secrets_equal, token_hash};
use crate::store::{SessionRecord, Store, StoreError};

/// A session that was just created; `cookie_value` goes to the browser and nowhere else.
#[derive(Debug)]
pub struct NewSession {
    pub cookie_value: String,
    pub csrf_token: String,
}

impl NewSession {
    /// Fresh random values for a session: a new one, or one kept under a new id (rotation).
    pub fn generate() -> Self {
        Self {
            cookie_value: random_token(),
            csrf_token: random_token(),
        }
    }
}

/// A valid session presented by a browser.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
}

/// Creates, resolves and ends sessions.
#[derive(Clone, Debug)]
pub struct SessionService {
    store: Store,
    policy: SessionPolicy,
}

impl SessionService {
    /// A service enforcing `policy`.
    pub fn new(store: Store, policy: SessionPolicy) -> Self {
        Self { store, policy }
    }

    /// The timeouts in force.
    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// Starts a session for a user, ending the one the browser presented before (`replaces`).
    pub async fn create(
        &self,
        user_id: i64,
        client_addr: &str,
        user_agent: &str,
        replaces: Option<&str>,
        now: i64,
    ) -> Result<NewSession, StoreError> {
        if let Some(old) = replaces {
            self.store.delete_session(&token_hash(old)).await?;
        }
        let cookie_value = random_token();
        let csrf_token = random_token();
        let ua: String = user_agent.chars().take(256).collect();
        self.store
            .insert_session(&SessionRecord {
                id_hash: token_hash(&cookie_value),
                user_id,
                csrf_token: csrf_token.clone(),
                created_at: now,
                last_seen_at: now,
                client_addr: client_addr.to_string(),
                user_agent: ua,
            })
            .await?;
        Ok(NewSession {
            cookie_value,
            csrf_token,
        })
    }

    /// Resolves a cookie value to a valid session, ending it if it has expired.
    pub async fn resolve(
        &self,
        cookie_value: &str,
        now: i64,
    ) -> Result<Option<ActiveSession>, StoreError> {
        let id_hash = token_hash(cookie_value);
        // From memory only when that copy alone proves the session active and fresh enough
        // (its last-seen time can only be older than the stored one); every other decision
        // (touch, expiry) is made on the stored row.
        let (generation, remembered) = self.store.remembered_session(&id_hash).await?;
        if let Some(record) = remembered {
            if self.policy.evaluate(record.times(), now) == (SessionState::Active { touch: false })
            {
                return Ok(Some(ActiveSession {
                    id_hash,
                    user_id: record.user_id,
                    csrf_token: record.csrf_token,
                }));
            }
        }
        let Some(mut record) = self.store.session_by_hash(&id_hash).await? else {
            return Ok(None);
        };
        match self.policy.evaluate(record.times(), now) {
            SessionState::Active { touch } => {
                if touch {
                    self.store.touch_session(&id_hash, now).await?;
                    record.last_seen_at = now;
                }
                self.store.remember_session(generation, record.clone());
                Ok(Some(ActiveSession {
                    id_hash,
                    user_id: record.user_id,
                    csrf_token: record.csrf_token,
                }))
            }
            SessionState::IdleExpired | SessionState::AbsoluteExpired => {
                self.store.delete_session(&id_hash).await?;
                Ok(None)
            }
        }
    }

    /// Ends a session.
    pub async fn revoke(&self, session: &ActiveSession) -> Result<(), StoreError> {
        self.store.delete_session(&session.id_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }

    #[test]
    fn stored_hash_is_not_the_token() {
        let t = random_token();
        assert_ne!(token_hash(&t), t);
        assert_eq!(token_hash(&t).len(), 64);
    }
}
