//! The embedded SQLite implementation of [`tc_store::Store`].
//!
//! One database file in WAL mode, opened through two pools: a single-connection writer (SQLite
//! allows one writer at a time; funnelling writes through one connection avoids `SQLITE_BUSY`
//! on lock upgrades) and a small pool of readers that proceed concurrently with it. Migrations
//! in `migrations/` are embedded in the binary and applied by [`SqliteStore::open`]. Times are
//! stored as Unix milliseconds, ids as UUID text.

mod accounts;
mod convert;
mod projects;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tc_store::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A TeamContext store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, true).await
    }

    /// Opens the database; with `migrate` false, refuses a database whose schema is behind.
    pub async fn open_with(path: &Path, migrate: bool) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        if migrate {
            MIGRATOR
                .run(&writer)
                .await
                .map_err(|e| StoreError::Database(e.to_string()))?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(db_err)?;
        Ok(SqliteStore { writer, reader })
    }

    /// Applies pending migrations and returns how many were applied.
    pub async fn migrate(path: &Path) -> StoreResult<usize> {
        let store = Self::open_with(path, false).await?;
        let applied_before = store.applied_migrations().await?;
        MIGRATOR
            .run(&store.writer)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(store.applied_migrations().await? - applied_before)
    }

    async fn applied_migrations(&self) -> StoreResult<usize> {
        let exists: Option<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        if exists.is_none() {
            return Ok(0);
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Translates a driver error, naming the unique constraint when one was broken.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Conflict {
            constraint: constraint_name(db.message()),
        };
    }
    StoreError::Database(e.to_string())
}

/// SQLite reports `UNIQUE constraint failed: table.column[, ...]`; map it to the stable names
/// the domain layer matches on (the same names the PostgreSQL backend reports).
fn constraint_name(message: &str) -> &'static str {
    if message.contains("users.email") {
        "users.email"
    } else if message.contains("project_members") {
        "project_members.pkey"
    } else if message.contains("api_keys.hash") {
        "api_keys.hash"
    } else if message.contains("refresh_tokens.hash") {
        "refresh_tokens.hash"
    } else {
        "unknown"
    }
}

#[async_trait::async_trait]
impl tc_store::Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_user(&self, user: &tc_store::UserRecord) -> StoreResult<()> {
        accounts::insert_user(&self.writer, user).await
    }
    async fn user_by_id(&self, id: uuid::Uuid) -> StoreResult<Option<tc_store::UserRecord>> {
        accounts::user_by_id(&self.reader, id).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<tc_store::UserRecord>> {
        accounts::user_by_email(&self.reader, email).await
    }
    async fn update_user_password(
        &self,
        id: uuid::Uuid,
        password_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        accounts::update_user_password(&self.writer, id, password_hash, at).await
    }
    async fn set_user_active(
        &self,
        id: uuid::Uuid,
        active: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        accounts::set_user_flag(&self.writer, id, "is_active", active, at).await
    }
    async fn set_user_email_verified(
        &self,
        id: uuid::Uuid,
        verified: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        accounts::set_user_flag(&self.writer, id, "email_verified", verified, at).await
    }

    async fn insert_api_key(&self, key: &tc_store::ApiKeyRecord) -> StoreResult<()> {
        accounts::insert_api_key(&self.writer, key).await
    }
    async fn api_key_by_hash(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(tc_store::ApiKeyRecord, tc_store::UserRecord)>> {
        accounts::api_key_by_hash(&self.reader, hash).await
    }
    async fn api_key_by_id(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> StoreResult<Option<tc_store::ApiKeyRecord>> {
        accounts::api_key_by_id(&self.reader, user_id, id).await
    }
    async fn list_api_keys(&self, user_id: uuid::Uuid) -> StoreResult<Vec<tc_store::ApiKeyRecord>> {
        accounts::list_api_keys(&self.reader, user_id).await
    }
    async fn revoke_api_key(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        accounts::revoke_api_key(&self.writer, user_id, id, at).await
    }
    async fn rotate_api_key(
        &self,
        old_id: uuid::Uuid,
        old_expires_at: chrono::DateTime<chrono::Utc>,
        new_key: &tc_store::ApiKeyRecord,
    ) -> StoreResult<chrono::DateTime<chrono::Utc>> {
        accounts::rotate_api_key(&self.writer, old_id, old_expires_at, new_key).await
    }
    async fn touch_api_keys(
        &self,
        uses: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        accounts::touch_api_keys(&self.writer, uses).await
    }

    async fn insert_refresh_token(&self, token: &tc_store::RefreshTokenRecord) -> StoreResult<()> {
        accounts::insert_refresh_token(&self.writer, token).await
    }
    async fn consume_refresh_token(
        &self,
        hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<tc_store::RefreshOutcome> {
        accounts::consume_refresh_token(&self.writer, hash, now).await
    }
    async fn revoke_refresh_family(
        &self,
        family_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        accounts::revoke_refresh(&self.writer, "family_id", family_id, at).await
    }
    async fn revoke_user_refresh_tokens(
        &self,
        user_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        accounts::revoke_refresh(&self.writer, "user_id", user_id, at).await
    }

    async fn insert_project(&self, project: &tc_store::ProjectRecord) -> StoreResult<()> {
        projects::insert_project(&self.writer, project).await
    }
    async fn project_by_id(&self, id: uuid::Uuid) -> StoreResult<Option<tc_store::ProjectRecord>> {
        projects::project_by_id(&self.reader, id).await
    }
    async fn project_with_role(
        &self,
        id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> StoreResult<Option<(tc_store::ProjectRecord, Option<tc_store::Role>)>> {
        projects::project_with_role(&self.reader, id, user_id).await
    }
    async fn list_member_projects(
        &self,
        user_id: uuid::Uuid,
        filter: tc_store::ProjectListFilter,
        page: tc_store::Page,
    ) -> StoreResult<Vec<(tc_store::ProjectRecord, tc_store::Role)>> {
        projects::list_member_projects(&self.reader, user_id, filter, page).await
    }
    async fn update_project(&self, project: &tc_store::ProjectRecord) -> StoreResult<()> {
        projects::update_project(&self.writer, project).await
    }
    async fn set_project_deleted(
        &self,
        id: uuid::Uuid,
        deleted_at: Option<chrono::DateTime<chrono::Utc>>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        projects::set_project_deleted(&self.writer, id, deleted_at, at).await
    }
    async fn purge_deleted_projects(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64> {
        projects::purge_deleted_projects(&self.writer, before).await
    }

    async fn insert_member(&self, member: &tc_store::MemberRecord) -> StoreResult<()> {
        projects::insert_member(&self.writer, member).await
    }
    async fn list_members(
        &self,
        project_id: uuid::Uuid,
    ) -> StoreResult<Vec<(tc_store::MemberRecord, tc_store::UserRecord)>> {
        projects::list_members(&self.reader, project_id).await
    }
    async fn delete_member(&self, project_id: uuid::Uuid, user_id: uuid::Uuid) -> StoreResult<()> {
        projects::delete_member(&self.writer, project_id, user_id).await
    }
}

/// Marks SQL assembled with `format!` as safe. Every caller builds its statement only from
/// constants and fixed column names in this crate; values always go through `bind`.
pub(crate) fn audited(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}
