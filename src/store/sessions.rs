//! Server-side browser sessions, stored by the SHA-256 of their cookie value so that a copy of
//! the database does not hand out live sessions.

use super::{on_pool, Store, StoreError};

/// A stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client_addr: String,
    pub user_agent: String,
}

impl SessionRecord {
    pub fn times(&self) -> crate::domain::session::SessionTimes {
        crate::domain::session::SessionTimes {
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
        }
    }
}

/// Which stored sessions still count: seen after the idle cut-off and created after the
/// absolute one. Lists leave out sessions that have expired but are not pruned yet.
#[derive(Debug, Clone, Copy)]
pub struct LiveSince {
    pub seen_after: i64,
    pub created_after: i64,
}

impl LiveSince {
    /// Every stored session, expired or not (to end one by its handle).
    pub const ANY: LiveSince = LiveSince {
        seen_after: i64::MIN,
        created_after: i64::MIN,
    };
}

impl Store {
    /// Stores a new session.
    pub async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, \
                 client_addr, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&s.id_hash)
            .bind(s.user_id)
            .bind(&s.csrf_token)
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(&s.client_addr)
            .bind(&s.user_agent)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Finds a session by the hash of its cookie value.
    pub async fn session_by_hash(
        &self,
        id_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, SessionRecord>(
            "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, client_addr, user_agent \
             FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .fetch_optional(pool)
        .await?)
        })
    }

    /// A session as this instance last read it, if no session was ended or rotated anywhere
    /// since, with the current sessions generation (to remember what is read next under).
    /// Its `last_seen_at` may be older than the stored one (another instance's touch), never
    /// newer: fit for "still active?", not for "expired?" (ask [`Store::session_by_hash`]).
    pub async fn remembered_session(
        &self,
        id_hash: &str,
    ) -> Result<(i64, Option<SessionRecord>), StoreError> {
        let generation = self.generations().await?.sessions;
        Ok((generation, self.cache.sessions.get(generation, id_hash)))
    }

    /// Remembers a session read from the database after `generation` was read.
    pub fn remember_session(&self, generation: i64, record: SessionRecord) {
        self.cache
            .sessions
            .put(generation, record.id_hash.clone(), record);
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// A person's sessions, most recently used first.
    pub async fn sessions_of_user(
        &self,
        user_id: i64,
        live: LiveSince,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, SessionRecord>(
                "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, client_addr, user_agent \
                 FROM sessions WHERE user_id = $1 AND last_seen_at > $2 AND created_at > $3 \
                 ORDER BY last_seen_at DESC",
            )
            .bind(user_id)
            .bind(live.seen_after)
            .bind(live.created_after)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Everyone's sessions (or one person's, by username), most recently used first, each with
    /// its owner's username; at most `limit`.
    pub async fn all_sessions(
        &self,
        username: Option<&str>,
        live: LiveSince,
        limit: i64,
    ) -> Result<Vec<(SessionRecord, String)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            session: SessionRecord,
            username: String,
        }
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as::<_, Row>(
                "SELECT s.id_hash, s.user_id, s.csrf_token, s.created_at, s.last_seen_at, \
                 s.client_addr, s.user_agent, u.username FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE ($1 IS NULL OR u.username = $1) AND s.last_seen_at > $2 AND s.created_at > $3 \
                 ORDER BY s.last_seen_at DESC LIMIT $4",
            )
            .bind(username)
            .bind(live.seen_after)
            .bind(live.created_after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|r| (r.session, r.username)).collect())
    }

    /// Ends one session; whether it was still there (a concurrent sign-out or prune may have
    /// ended it first).
    pub async fn end_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n > 0)
    }

    /// Ends every session of a person but `keep`; returns how many.
    pub async fn end_sessions_except(&self, user_id: i64, keep: &str) -> Result<u64, StoreError> {
        Ok(on_pool!(self, |pool| sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2"
        )
        .bind(user_id)
        .bind(keep)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// Ends one session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.end_session(id_hash).await.map(|_| ())
    }

    /// Removes sessions that can no longer be valid and failure records older than `failures_before`.
    pub async fn prune(
        &self,
        idle_before: i64,
        created_before: i64,
        failures_before: i64,
    ) -> Result<u64, StoreError> {
        on_pool!(self, |pool| {
            let sessions =
                sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                    .bind(idle_before)
                    .bind(created_before)
                    .execute(pool)
                    .await?
                    .rows_affected();
            let failures = sqlx::query("DELETE FROM login_failures WHERE at < $1")
                .bind(failures_before)
                .execute(pool)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM limit_locks WHERE used_at < $1")
                .bind(failures_before)
                .execute(pool)
                .await?;
            Ok(sessions + failures)
        })
    }
}
