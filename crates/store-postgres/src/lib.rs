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
//! index.

mod accounts;
mod analytics;
mod contexts;
mod db;
mod from_sqlite;
mod invitations;
mod jobs;
mod mcp_sessions;
mod projects;
mod rows;
mod search;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use serde_json::Value;
use tc_store::{
    AnalyticsEventRecord, ApiKeyRecord, ContextFilter, ContextInsights, ContextRecord, EventGroup,
    EventScope, EventTotals, JobOutcome, JobRecord, JobStatus, KeywordHit, MemberRecord, Page,
    PassageRecord, PoolStatus, ProjectListFilter, ProjectRecord, RefreshOutcome,
    RefreshTokenRecord, Role, ScannedFile, StoreError, StoreResult, UserRecord, VectorHit,
};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

pub use from_sqlite::Copied;

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
        .map_err(|e| StoreError::Database(format!("connection pool: {e}")))
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
        Err(e) => Err(StoreError::Database(format!("migration failed: {e}"))),
    };
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map_err(db_err)?;
    migrated
}

pub(crate) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Database(format!("database connection: {}", with_causes(&e)))
}

/// An error and its causes, each once: a failed connection's message alone ("error performing
/// TLS handshake") hides the reason an operator needs ("invalid peer certificate: UnknownIssuer").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// Maps a driver error: unique violations become [`StoreError::Conflict`] with the stable
/// constraint names the domain matches on (the same the SQLite backend reports).
pub(crate) fn db_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error()
        && *db.code() == SqlState::UNIQUE_VIOLATION
    {
        let constraint = match db.constraint() {
            Some("users_email_lower") => "users.email",
            Some("project_members_pkey") => "project_members.pkey",
            Some("project_invitations_email") => "project_invitations.email",
            Some("api_keys_hash") => "api_keys.hash",
            Some("refresh_tokens_hash") => "refresh_tokens.hash",
            _ => "unknown",
        };
        return StoreError::Conflict { constraint };
    }
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Database(with_causes(&e)),
    }
}

pub(crate) fn expect_one(rows: u64) -> StoreResult<()> {
    if rows == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

#[async_trait::async_trait]
impl tc_store::Store for PgStore {
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

    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        accounts::insert_user(&self.pool, user).await
    }
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        accounts::user_by_id(&self.pool, id).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        accounts::user_by_email(&self.pool, email).await
    }
    async fn update_user_password(
        &self,
        id: Uuid,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        accounts::update_user_password(&self.pool, id, password_hash, at).await
    }
    async fn set_user_active(&self, id: Uuid, active: bool, at: DateTime<Utc>) -> StoreResult<()> {
        accounts::set_user_flag(&self.pool, id, accounts::UserFlag::Active, active, at).await
    }
    async fn set_user_email_verified(
        &self,
        id: Uuid,
        verified: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        accounts::set_user_flag(&self.pool, id, accounts::UserFlag::EmailVerified, verified, at)
            .await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        accounts::insert_api_key(&db::client(&self.pool).await?, key).await
    }
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<(ApiKeyRecord, UserRecord)>> {
        accounts::api_key_by_hash(&self.pool, hash).await
    }
    async fn api_key_by_id(&self, user_id: Uuid, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        accounts::api_key_by_id(&self.pool, user_id, id).await
    }
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>> {
        accounts::list_api_keys(&self.pool, user_id).await
    }
    async fn revoke_api_key(&self, user_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        accounts::revoke_api_key(&self.pool, user_id, id, at).await
    }
    async fn rotate_api_key(
        &self,
        old_id: Uuid,
        old_expires_at: DateTime<Utc>,
        new_key: &ApiKeyRecord,
    ) -> StoreResult<DateTime<Utc>> {
        accounts::rotate_api_key(&self.pool, old_id, old_expires_at, new_key).await
    }
    async fn touch_api_keys(&self, uses: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()> {
        accounts::touch_api_keys(&self.pool, uses).await
    }

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()> {
        accounts::insert_refresh_token(&self.pool, token).await
    }
    async fn consume_refresh_token(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome> {
        accounts::consume_refresh_token(&self.pool, hash, now).await
    }
    async fn revoke_refresh_family(&self, family_id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        accounts::revoke_refresh(&self.pool, accounts::RefreshScope::Family, family_id, at).await
    }
    async fn revoke_user_refresh_tokens(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        accounts::revoke_refresh(&self.pool, accounts::RefreshScope::User, user_id, at).await
    }

    async fn insert_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        projects::insert_project(&self.pool, project).await
    }
    async fn project_by_id(&self, id: Uuid) -> StoreResult<Option<ProjectRecord>> {
        projects::project_by_id(&self.pool, id).await
    }
    async fn project_with_role(
        &self,
        id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<(ProjectRecord, Option<Role>)>> {
        projects::project_with_role(&self.pool, id, user_id).await
    }
    async fn list_member_projects(
        &self,
        user_id: Uuid,
        filter: ProjectListFilter,
        page: Page,
    ) -> StoreResult<Vec<(ProjectRecord, Role)>> {
        projects::list_member_projects(&self.pool, user_id, filter, page).await
    }
    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()> {
        projects::update_project(&self.pool, project).await
    }
    async fn set_project_deleted(
        &self,
        id: Uuid,
        deleted_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        projects::set_project_deleted(&self.pool, id, deleted_at, at).await
    }
    async fn purge_deleted_projects(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        projects::purge_deleted_projects(&self.pool, before).await
    }

    async fn insert_member(&self, member: &MemberRecord) -> StoreResult<()> {
        projects::insert_member(&self.pool, member).await
    }
    async fn list_members(&self, project_id: Uuid) -> StoreResult<Vec<(MemberRecord, UserRecord)>> {
        projects::list_members(&self.pool, project_id).await
    }
    async fn delete_member(&self, project_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        projects::delete_member(&self.pool, project_id, user_id).await
    }
    async fn insert_invitation(&self, invitation: &tc_store::InvitationRecord) -> StoreResult<()> {
        invitations::insert_invitation(&self.pool, invitation).await
    }
    async fn invitation_by_id(&self, id: Uuid) -> StoreResult<Option<tc_store::InvitationRecord>> {
        invitations::invitation_by_id(&self.pool, id).await
    }
    async fn list_project_invitations(
        &self,
        project_id: Uuid,
    ) -> StoreResult<Vec<tc_store::InvitationRecord>> {
        invitations::list_project_invitations(&self.pool, project_id).await
    }
    async fn list_invitations_for(
        &self,
        email: &str,
    ) -> StoreResult<Vec<(tc_store::InvitationRecord, ProjectRecord)>> {
        invitations::list_invitations_for(&self.pool, email).await
    }
    async fn accept_invitation(&self, id: Uuid, member: &MemberRecord) -> StoreResult<()> {
        invitations::accept_invitation(&self.pool, id, member).await
    }
    async fn delete_invitation(&self, id: Uuid) -> StoreResult<()> {
        invitations::delete_invitation(&self.pool, id).await
    }
    async fn insert_signup_invitation(
        &self,
        invitation: &tc_store::SignupInvitationRecord,
    ) -> StoreResult<()> {
        invitations::insert_signup_invitation(&self.pool, invitation).await
    }
    async fn signup_invitation_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<tc_store::SignupInvitationRecord>> {
        invitations::signup_invitation_by_hash(&self.pool, token_hash).await
    }
    async fn use_signup_invitation(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        invitations::use_signup_invitation(&self.pool, id, at).await
    }
    async fn claim_mcp_session(
        &self,
        id: &str,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        mcp_sessions::claim_mcp_session(&self.pool, id, user_id, at).await
    }
    async fn set_mcp_session_state(
        &self,
        id: &str,
        state: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        mcp_sessions::set_mcp_session_state(&self.pool, id, state, at).await
    }
    async fn mcp_session(&self, id: &str) -> StoreResult<Option<tc_store::McpSessionRecord>> {
        mcp_sessions::mcp_session(&self.pool, id).await
    }
    async fn delete_mcp_session(&self, id: &str) -> StoreResult<()> {
        mcp_sessions::delete_mcp_session(&self.pool, id).await
    }
    async fn purge_mcp_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        mcp_sessions::purge_mcp_sessions(&self.pool, before).await
    }
    async fn readable_project_ids(&self, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
        projects::readable_project_ids(&self.pool, user_id).await
    }
    async fn set_project_description_vector(
        &self,
        project_id: Uuid,
        vector: Option<(&str, &[f32])>,
    ) -> StoreResult<()> {
        projects::set_description_vector(&self.pool, project_id, vector).await
    }
    async fn project_description_vectors(
        &self,
        project_ids: &[Uuid],
        model: &str,
    ) -> StoreResult<Vec<(Uuid, Vec<f32>)>> {
        projects::description_vectors(&self.pool, project_ids, model).await
    }

    async fn insert_contexts(
        &self,
        contexts: &[(ContextRecord, Vec<PassageRecord>)],
    ) -> StoreResult<()> {
        search::ensure_indexes(&self.pool, &self.indexed_dims, contexts).await?;
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await.map_err(db_err)?;
        contexts::insert_rows(&tx, contexts).await?;
        tx.commit().await.map_err(db_err)
    }
    async fn context_by_id(&self, id: Uuid) -> StoreResult<Option<ContextRecord>> {
        contexts::context_by_id(&self.pool, id).await
    }
    async fn contexts_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<ContextRecord>> {
        contexts::contexts_by_ids(&self.pool, ids).await
    }
    async fn delete_context(&self, id: Uuid) -> StoreResult<u64> {
        contexts::delete_context(&self.pool, id).await
    }
    async fn list_contexts(
        &self,
        project_id: Uuid,
        filter: &ContextFilter,
        page: Page,
    ) -> StoreResult<Vec<ContextRecord>> {
        contexts::list_contexts(&self.pool, project_id, filter, page).await
    }
    async fn record_context_access(&self, accesses: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()> {
        contexts::record_access(&self.pool, accesses).await
    }
    async fn vector_search(
        &self,
        query: &[f32],
        model: &str,
        project_ids: &[Uuid],
        limit: usize,
    ) -> StoreResult<Vec<VectorHit>> {
        search::vector_search(&self.pool, query, model, project_ids, limit, self.ef_search).await
    }
    async fn passage_similarities(
        &self,
        query: &[f32],
        model: &str,
        context_ids: &[Uuid],
    ) -> StoreResult<Vec<VectorHit>> {
        search::passage_similarities(&self.pool, query, model, context_ids).await
    }
    async fn keyword_search(
        &self,
        query: &str,
        project_ids: &[Uuid],
        limit: usize,
    ) -> StoreResult<Vec<KeywordHit>> {
        search::keyword_search(&self.pool, query, project_ids, limit).await
    }

    async fn scanned_files(&self, project_id: Uuid) -> StoreResult<Vec<ScannedFile>> {
        contexts::scanned_files(&self.pool, project_id).await
    }
    async fn replace_scanned_file(
        &self,
        project_id: Uuid,
        file: &ScannedFile,
        contexts: &[(ContextRecord, Vec<PassageRecord>)],
    ) -> StoreResult<u64> {
        search::ensure_indexes(&self.pool, &self.indexed_dims, contexts).await?;
        contexts::replace_scanned_file(&self.pool, project_id, file, contexts).await
    }
    async fn remove_scanned_files(&self, project_id: Uuid, paths: &[String]) -> StoreResult<u64> {
        contexts::remove_scanned_files(&self.pool, project_id, paths).await
    }
    async fn context_insights(
        &self,
        project_ids: &[Uuid],
        top: usize,
    ) -> StoreResult<ContextInsights> {
        contexts::context_insights(&self.pool, project_ids, top).await
    }

    async fn insert_job(&self, job: &JobRecord) -> StoreResult<()> {
        jobs::insert_job(&self.pool, job).await
    }
    async fn job_by_id(&self, id: Uuid) -> StoreResult<Option<JobRecord>> {
        jobs::job_by_id(&self.pool, id).await
    }
    async fn claim_job(
        &self,
        kinds: &[&str],
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<JobRecord>> {
        jobs::claim_job(&self.pool, kinds, worker, now, lease_until).await
    }
    async fn heartbeat_job(
        &self,
        id: Uuid,
        worker: &str,
        progress: &Value,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<bool>> {
        jobs::heartbeat_job(&self.pool, id, worker, progress, lease_until).await
    }
    async fn finish_job(
        &self,
        id: Uuid,
        worker: &str,
        outcome: &JobOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        jobs::finish_job(&self.pool, id, worker, outcome, now).await
    }
    async fn cancel_job(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<Option<JobRecord>> {
        jobs::cancel_job(&self.pool, id, now).await
    }
    async fn job_counts(&self) -> StoreResult<Vec<(JobStatus, i64)>> {
        jobs::job_counts(&self.pool).await
    }
    async fn put_job_input(
        &self,
        job_id: Uuid,
        part: i32,
        data: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        jobs::put_job_input(&self.pool, job_id, part, data, now).await
    }
    async fn job_input(&self, job_id: Uuid, part: i32) -> StoreResult<Option<Vec<u8>>> {
        jobs::job_input(&self.pool, job_id, part).await
    }
    async fn delete_job_input(&self, job_id: Uuid) -> StoreResult<()> {
        jobs::delete_job_input(&self.pool, job_id).await
    }
    async fn delete_orphan_job_inputs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        jobs::delete_orphan_job_inputs(&self.pool, before).await
    }

    async fn insert_analytics_events(&self, events: &[AnalyticsEventRecord]) -> StoreResult<()> {
        analytics::insert_events(&self.pool, events).await
    }
    async fn event_totals(
        &self,
        scope: &EventScope,
        group: EventGroup,
    ) -> StoreResult<Vec<EventTotals>> {
        analytics::event_totals(&self.pool, scope, group).await
    }
}
