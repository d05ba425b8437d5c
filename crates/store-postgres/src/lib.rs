//! The PostgreSQL implementation of [`tc_store::Store`], for a team that runs several stateless
//! replicas on one database: pgvector HNSW indexes for passage vectors (with iterative scans, so
//! a project filter keeps its recall), a generated `tsvector` column for keyword search, and job
//! claiming with `FOR UPDATE SKIP LOCKED`.
//!
//! On tokio-postgres with a deadpool connection pool; statements are prepared once per
//! connection and cached. The schema lives in `migrations/`, numbered in step with the SQLite
//! backend's, embedded in the binary (refinery) and applied by [`PgStore::connect`] under an
//! advisory lock, so replicas starting together migrate once. Connections use TLS as the URL's
//! `sslmode` asks, with libpq's meanings (`tls`). Every method is one statement or one
//! transaction; nothing is cached in the process except which vector dimensions already have an
//! index. Each storage area's trait is implemented in its own module, beside its SQL.

mod accounts;
mod analytics;
mod chat;
mod connections;
mod contexts;
mod db;
mod email_tokens;
mod embedding;
mod invitations;
mod jobs;
mod mcp_servers;
mod mcp_sessions;
mod projects;
mod rows;
mod search;
mod stories;
mod tasks;
mod user_llms;
mod web_sessions;

pub use search::vector_index_sql;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use tc_store::{PoolStatus, StoreError, StoreResult};
use tokio_postgres::error::SqlState;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Connections per replica. A request holds one for a statement or a short transaction.
const MAX_CONNECTIONS: usize = 16;
/// Serialises migrations across replicas starting together (an arbitrary, fixed key).
const MIGRATION_LOCK: i64 = 0x7465_616d_636f_6e74;

/// A TeamContext store in a PostgreSQL database. Clones share the connection pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
    /// Vector dimensions known to have their HNSW index (see [`search::ensure_indexes`]).
    indexed_dims: Arc<Mutex<HashSet<i32>>>,
    /// `hnsw.ef_search` for graph searches: recall against latency.
    ef_search: usize,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`, with TLS as its
    /// `sslmode` says: see [`tls`]) and applies pending migrations. The `vector` extension must be installable by the connecting role, or
    /// created beforehand by an administrator (`CREATE EXTENSION vector`).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = pool(url)?;
        migrate_pool(&pool).await?;
        Ok(PgStore { pool, indexed_dims: Arc::default(), ef_search: search::EF_SEARCH })
    }

    /// Sets how many candidates a graph search keeps (`hnsw.ef_search`, 200 by default, at most
    /// 1000): more finds more of the true neighbours and takes longer.
    pub fn set_ef_search(&mut self, candidates: usize) {
        self.ef_search = candidates.clamp(1, 1000);
    }

    /// A connection of the pool, for tools that work below the store's methods (the SQLite
    /// import of `tc-migrate-data`).
    pub async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Closes the pool: connections are dropped as they come back.
    pub async fn close(&self) {
        self.pool.close();
    }

    /// Applies pending migrations to the database at `url`; returns how many were applied.
    pub async fn migrate(url: &str) -> StoreResult<usize> {
        migrate_pool(&pool(url)?).await
    }
}

fn pool(url: &str) -> StoreResult<Pool> {
    let tls::Connection { config, tls } = tls::connection(url)?;
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    Pool::builder(manager)
        .max_size(MAX_CONNECTIONS)
        .timeouts(Timeouts {
            wait: Some(Duration::from_secs(10)),
            create: Some(Duration::from_secs(10)),
            recycle: Some(Duration::from_secs(5)),
        })
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::driver("connection pool", e))
}

/// Runs pending migrations, then builds any missing vector index, under an advisory lock, so
/// that of several replicas starting at once one migrates and the others find the work done.
async fn migrate_pool(pool: &Pool) -> StoreResult<usize> {
    let mut client = pool.get().await.map_err(pool_err)?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_err)?;
    let migrated = match embedded::migrations::runner().run_async(&mut **client).await {
        Ok(report) => {
            search::index_stored_dims(&client).await.map(|()| report.applied_migrations().len())
        }
        Err(e) => Err(StoreError::driver("migration failed", e)),
    };
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map_err(db_err)?;
    migrated
}

pub(crate) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::driver("database connection", e)
}

/// Maps a driver error: unique violations become [`StoreError::Conflict`] with the stable
/// constraint names the domain matches on (the same the SQLite backend reports).
pub fn db_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error()
        && *db.code() == SqlState::UNIQUE_VIOLATION
    {
        let constraint = match db.constraint() {
            Some("users_email_lower") => "users.email",
            Some("project_members_pkey") => "project_members.pkey",
            Some("project_invitations_email") => "project_invitations.email",
            Some("api_keys_hash") => "api_keys.hash",
            Some("refresh_tokens_hash") => "refresh_tokens.hash",
            Some("web_sessions_hash_key") => "web_sessions.hash",
            Some("jobs_one_active_embed") => "jobs.one_active",
            Some("mcp_servers_user_name") => "mcp_servers.name",
            _ => "unknown",
        };
        return StoreError::Conflict { constraint };
    }
    let context = match e.as_db_error() {
        Some(db) => format!("PostgreSQL {}", db.code().code()),
        None => "PostgreSQL".to_string(),
    };
    StoreError::driver(context, e)
}

pub(crate) fn expect_one(rows: u64) -> StoreResult<()> {
    if rows == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

#[async_trait::async_trait]
impl tc_store::StoreHealth for crate::PgStore {
    async fn ping(&self) -> StoreResult<()> {
        let client = self.pool.get().await.map_err(pool_err)?;
        client.execute("SELECT 1", &[]).await.map_err(db_err)?;
        Ok(())
    }
    fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        let idle = u32::try_from(status.available).unwrap_or(u32::MAX);
        let size = u32::try_from(status.size).unwrap_or(u32::MAX);
        PoolStatus { in_use: size.saturating_sub(idle), idle }
    }
}
