//! The storage backend `DATABASE_URL` chooses: the embedded SQLite file, or PostgreSQL shared
//! by several replicas. Everything above this module sees `Arc<dyn Store>`; only start-up,
//! shutdown and the operator commands care which one it is.

use std::sync::Arc;

use tc_store::{Store, StoreResult};
use tc_store_postgres::PgStore;
use tc_store_sqlite::SqliteStore;

use crate::config::DatabaseConfig;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Backend {
    /// Opens the configured database and applies pending migrations.
    pub async fn open(database: &DatabaseConfig) -> StoreResult<Backend> {
        Ok(match database {
            DatabaseConfig::Sqlite { path } => Backend::Sqlite(SqliteStore::open(path).await?),
            DatabaseConfig::Postgres { url } => Backend::Postgres(PgStore::connect(&url.0).await?),
        })
    }

    /// Applies pending migrations without serving; returns how many.
    pub async fn migrate(database: &DatabaseConfig) -> StoreResult<usize> {
        match database {
            DatabaseConfig::Sqlite { path } => SqliteStore::migrate(path).await,
            DatabaseConfig::Postgres { url } => PgStore::migrate(&url.0).await,
        }
    }

    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Tidies up at shutdown (checkpoints SQLite's WAL, closes PostgreSQL's pool).
    pub async fn close(&self) {
        match self {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }
}
