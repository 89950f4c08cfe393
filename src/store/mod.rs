//! Persistence behind one interface with two engines: SQLite (embedded default) and PostgreSQL
//! (shared by several broker instances).
//!
//! Both engines run the very same SQL text (`$1` placeholders work in both), written once in each
//! method and dispatched by [`on_pool!`]; migrations live in paired folders with the same numbers.
//! Times are Unix seconds in `BIGINT`/`INTEGER` columns so both engines compare them alike.
//! Transactions are plain functions generic over the engine (`engine.rs`); the versioned edit
//! every admin-edited thing shares is one function (`history::versioned_write`).
//!
//! Values are read strictly: a stored value this version does not know (a rule's effect, an
//! alias's colour) is an error naming the row, never a permissive default.
//!
//! Decision: two typed pools rather than sqlx's `AnyPool`. The schema would allow `Any`
//! (BIGINT, BOOLEAN, TEXT), but SQLite needs its own connect options (WAL, busy timeout,
//! foreign keys, a `0600` file made before opening), `Any` maps SQLite's BOOLEAN columns
//! through integers, and the typed pools cost only `on_pool!`'s two-arm match.

mod accounts;
mod audit;
mod audit_queue;
mod cache;
mod cli_grants;
mod embedded;
mod encryption;
mod engine;
mod favourites;
mod groups;
mod health;
mod history;
mod keys;
mod limits;
mod pending_logins;
mod provisioning;
mod regions;
mod role_limits;
mod rules;
mod saml_logins;
mod sessions;
mod settings;
mod tokens;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use accounts::AccountRecord;
pub use audit::{emit_event, event_counts, event_kind, AuditFilter, AuditRecord, NewAuditEvent};
use cache::Caches;
pub use cache::Generations;
pub use cli_grants::{CodeRecord, GrantRecord, Rotation};
pub use encryption::EncryptionRecord;
pub use groups::{GroupRecord, Membership};
pub use health::EndpointHealth;
pub use history::{Change, HistoryRecord};
pub use keys::KeyRecord;
pub use limits::KeyStats;
pub use pending_logins::OidcLogin;
pub use provisioning::{ExternalProfile, ProvisionRefused};
pub use regions::RegionControl;
pub use role_limits::RoleSessionLimit;
pub use rules::RuleRecord;
pub use saml_logins::{SamlLogin, SamlSession};
pub use sessions::{LiveSince, SessionRecord};
pub use settings::{
    lock_for_migrations, prepare_sqlite_path, redact_url, sqlite_folder, write_private_file,
    DatabaseSettings,
};
pub use tokens::ApiTokenRecord;
pub use tokens::{OwnedGrant, OwnedToken, ADMIN_LIST_LIMIT};
pub use users::{AccountChange, NewUser, Revoked, SessionRotation, UserRecord};

/// Runs the same body against whichever pool the store holds.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store.pool() {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The database, whichever engine it is, and this instance's memory of its hot rows.
///
/// Clones share the pool and the memory; a second `connect` (another instance, or a test's
/// second broker) gets memory of its own, kept honest by the database's generations.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    cache: Arc<Caches>,
    /// SQLite's short path for the sign-in's generations read and audit insert
    /// (`embedded.rs`); `None` on PostgreSQL.
    embedded: Option<Arc<embedded::Embedded>>,
}

/// The connection pool of one engine.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What went wrong talking to the database, in terms the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (down, pool exhausted, network).
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A unique constraint refused the write (the thing exists already).
    #[error("already exists")]
    Conflict,
    /// The row the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Someone else changed the row after the caller read it; the message says who and when.
    #[error("{0}")]
    Stale(String),
    /// The operation is not allowed in the current state; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// Anything else: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            // PostgreSQL: admin shutdown / cannot connect now / database does not exist.
            sqlx::Error::Database(db)
                if matches!(
                    db.code().as_deref(),
                    Some("57P01" | "57P02" | "57P03" | "3D000")
                ) =>
            {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Other(e),
        }
    }
}

impl Store {
    fn new(pool: Pool, embedded: Option<embedded::Embedded>) -> Store {
        Store {
            pool,
            cache: Arc::default(),
            embedded: embedded.map(Arc::new),
        }
    }

    /// The pool, for the few callers (tests, migrations) that need the engine itself.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Opens the database named by the settings (creating an SQLite file and its folder if needed).
    pub async fn connect(settings: &DatabaseSettings) -> Result<Store, StoreError> {
        let acquire = Duration::from_secs(settings.acquire_timeout_secs.max(1));
        if settings.url.starts_with("sqlite:") {
            prepare_sqlite_path(&settings.url).map_err(|e| StoreError::Unavailable(e.into()))?;
            let options = SqliteConnectOptions::from_str(&settings.url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL, not NORMAL: an answered sign-in's audit event survives a power cut too;
                // grouped audit inserts (`audit_queue.rs`) pay that sync once per wave.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire)
                .connect_with(options.clone())
                .await?;
            let embedded = embedded::Embedded::open(options.get_filename())?;
            Ok(Store::new(Pool::Sqlite(pool), embedded))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire)
                .connect(&settings.url)
                .await?;
            Ok(Store::new(Pool::Postgres(pool), None))
        }
    }

    /// Applies pending migrations of this engine's folder.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.pool() {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Checks that the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Engine name for logs and `/readyz`.
    pub fn engine(&self) -> &'static str {
        match self.pool() {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection; later calls fail as `Unavailable`.
    pub async fn close(&self) {
        if let Some(embedded) = &self.embedded {
            embedded.close();
        }
        on_pool!(self, |pool| pool.close().await)
    }
}
