//! What the store's engine-generic functions need of an engine.
//!
//! Transactions are plain functions generic over `DB: sqlx::Database`, so SQLite and
//! PostgreSQL run the very same SQL text; each spells out the encodings it binds (Rust has no
//! trait alias that carries such bounds to its users). `Store` methods pick the pool with
//! [`on_pool!`](super::on_pool), the one place that names the engines.

/// How many rows a statement touched, on either engine (sqlx has no common trait for it).
pub(super) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}
