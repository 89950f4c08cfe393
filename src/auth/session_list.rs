//! The sessions people see and end: their own on `/account/sessions`, everyone's for admins on
//! `/admin/sessions`. A page names a session by a handle (16 hex digits of a SHA-256 of its
//! stored hash), never by the hash the cookie is checked against; ending one is recorded in the
//! audit log as `access.revoked`, and every instance drops it at once (the sessions generation).

use sha2::{Digest, Sha256};

use crate::audit::{self, NewAuditEvent, Origin};
use crate::domain::session::SessionPolicy;
use crate::store::{LiveSince, SessionRecord, Store, StoreError};

/// Most sessions the admin list shows.
pub const ADMIN_LIST_LIMIT: i64 = 500;

/// One session as a page shows it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub handle: String,
    pub username: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client_addr: String,
    pub user_agent: String,
    /// The session this page was asked from.
    pub current: bool,
}

/// The page handle of a stored session.
pub fn handle_of(id_hash: &str) -> String {
    let digest = Sha256::digest(format!("session-handle:{id_hash}").as_bytes());
    hex::encode(digest)[..16].to_string()
}

fn view(s: SessionRecord, username: String, current_hash: &str) -> SessionView {
    SessionView {
        handle: handle_of(&s.id_hash),
        current: s.id_hash == current_hash,
        username,
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        client_addr: s.client_addr,
        user_agent: s.user_agent,
    }
}

/// The sessions still alive at `now` under `policy` (expired ones wait for the pruner).
fn live(policy: SessionPolicy, now: i64) -> LiveSince {
    LiveSince {
        seen_after: now - policy.idle_timeout_secs,
        created_after: now - policy.absolute_timeout_secs,
    }
}

/// A person's own live sessions, most recently used first.
pub async fn own_sessions(
    store: &Store,
    policy: SessionPolicy,
    now: i64,
    user_id: i64,
    username: &str,
    current_hash: &str,
) -> Result<Vec<SessionView>, StoreError> {
    Ok(store
        .sessions_of_user(user_id, live(policy, now))
        .await?
        .into_iter()
        .map(|s| view(s, username.to_string(), current_hash))
        .collect())
}

/// Everyone's live sessions (or one person's), for admins: at most [`ADMIN_LIST_LIMIT`] and
/// one more, which tells the page that there are more than it shows.
pub async fn all_sessions(
    store: &Store,
    policy: SessionPolicy,
    now: i64,
    username: Option<&str>,
    current_hash: &str,
) -> Result<Vec<SessionView>, StoreError> {
    Ok(store
        .all_sessions(username, live(policy, now), ADMIN_LIST_LIMIT + 1)
        .await?
        .into_iter()
        .map(|(s, name)| view(s, name, current_hash))
        .collect())
}

async fn record(
    store: &Store,
    actor: &str,
    subject: &str,
    origin: &Origin,
    cause: &str,
    details: serde_json::Value,
) {
    let mut all = serde_json::json!({"cause": cause});
    if let (Some(all), serde_json::Value::Object(extra)) = (all.as_object_mut(), details) {
        all.extend(extra);
    }
    audit::record(
        store,
        NewAuditEvent {
            event_type: audit::kind::REVOKED.into(),
            actor: actor.to_string(),
            subject: subject.to_string(),
            outcome: audit::outcome(true),
            source_addr: origin.addr.clone(),
            user_agent: origin.user_agent.clone(),
            details: all,
            ..NewAuditEvent::default()
        },
    )
    .await;
}

/// Ends the session named `handle`: one of `owner`'s, or (an admin, `owner` None) anyone's.
/// `false` when no such session exists (already ended, or not theirs).
pub async fn end_session(
    store: &Store,
    owner: Option<(i64, &str)>,
    handle: &str,
    actor: &str,
    origin: &Origin,
) -> Result<bool, StoreError> {
    let candidates: Vec<(SessionRecord, String)> = match owner {
        Some((user_id, username)) => store
            .sessions_of_user(user_id, LiveSince::ANY)
            .await?
            .into_iter()
            .map(|s| (s, username.to_string()))
            .collect(),
        None => store.all_sessions(None, LiveSince::ANY, i64::MAX).await?,
    };
    let Some((session, username)) = candidates
        .into_iter()
        .find(|(s, _)| handle_of(&s.id_hash) == handle)
    else {
        return Ok(false);
    };
    if !store.end_session(&session.id_hash).await? {
        return Ok(false);
    }
    let cause = if owner.is_some() {
        "session ended by its owner"
    } else {
        "session ended by an administrator"
    };
    let details = serde_json::json!({
        "sessions_ended": 1,
        "session": handle,
        "session_addr": session.client_addr,
    });
    record(store, actor, &username, origin, cause, details).await;
    Ok(true)
}

/// Ends every session of a person but `keep` (the one asking); returns how many.
pub async fn end_other_sessions(
    store: &Store,
    user_id: i64,
    username: &str,
    keep: &str,
    origin: &Origin,
) -> Result<usize, StoreError> {
    let ended = store.end_sessions_except(user_id, keep).await?;
    if ended > 0 {
        let details = serde_json::json!({"sessions_ended": ended, "kept": handle_of(keep)});
        record(
            store,
            username,
            username,
            origin,
            "other sessions ended by their owner",
            details,
        )
        .await;
    }
    Ok(usize::try_from(ended).unwrap_or(usize::MAX))
}
