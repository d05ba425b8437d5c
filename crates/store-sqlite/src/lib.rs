//! The embedded SQLite implementation of [`tc_store::Store`], on rusqlite (bundled SQLite with
//! FTS5).
//!
//! One database file in WAL mode. Reads run inline on the calling task with a connection from a
//! small pool: a WAL read from a warm page cache takes microseconds, far less than handing the
//! query to another thread and waking the task again (which is what an async SQLite driver does
//! per statement, and what capped throughput before; see docs/benchmarks.md). Writes go through
//! one writer connection on the blocking pool, because SQLite has one writer at a time and a
//! write may wait for the lock or for the disk. Migrations in `migrations/` are embedded in the
//! binary and applied by [`SqliteStore::open`]. Times are Unix milliseconds, ids UUID text.

mod accounts;
mod analytics;
mod ann;
pub mod backup;
mod contexts;
mod convert;
mod invitations;
mod jobs;
mod mcp_sessions;
mod projects;
mod scans;
pub mod vectors;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};
use tc_store::{StoreError, StoreResult};

/// The schema history. Never edit an applied step; add a new one (expand, then contract).
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../migrations/0001_accounts_and_projects.sql")),
    M::up(include_str!("../migrations/0002_contexts_and_search.sql")),
    M::up(include_str!("../migrations/0003_analytics_rollup.sql")),
    M::up(include_str!("../migrations/0004_jobs_and_scans.sql")),
    M::up(include_str!("../migrations/0005_job_inputs.sql")),
    M::up(include_str!("../migrations/0006_passage_counts.sql")),
    M::up(include_str!("../migrations/0007_half_precision_graphs.sql")),
    M::up(include_str!("../migrations/0008_invitations.sql")),
    M::up(include_str!("../migrations/0009_mcp_sessions.sql")),
];

/// Idle reader connections kept for reuse; more are opened on demand under load.
const MAX_IDLE_READERS: usize = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A TeamContext store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Reader connections taken from the pool (or opened) and not yet returned.
    readers_in_use: AtomicU32,
    vectors: vectors::VectorIndex,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_path_buf();
        blocking(move || {
            let mut writer = open_writer(&path)?;
            Migrations::from_slice(MIGRATIONS).to_latest(&mut writer).map_err(migration_err)?;
            let vectors = vectors::VectorIndex::default();
            load_vectors(&writer, &vectors)?;
            // Searches scan exactly until the graphs are built; the thread ends by itself.
            drop(vectors.build_graphs());
            Ok(SqliteStore {
                inner: Arc::new(Inner {
                    path,
                    writer: Mutex::new(writer),
                    readers: Mutex::new(Vec::new()),
                    readers_in_use: AtomicU32::new(0),
                    vectors,
                }),
            })
        })
        .await
    }

    /// Applies pending migrations to the database at `path`; returns how many were applied.
    pub async fn migrate(path: &Path) -> StoreResult<usize> {
        let path = path.to_path_buf();
        blocking(move || {
            let mut conn = open_writer(&path)?;
            let migrations = Migrations::from_slice(MIGRATIONS);
            let pending = migrations.pending_migrations(&conn).map_err(migration_err)?;
            migrations.to_latest(&mut conn).map_err(migration_err)?;
            Ok(usize::try_from(pending).unwrap_or(0))
        })
        .await
    }

    /// Runs `f` on a reader connection, inline. Use only for queries that touch a bounded number
    /// of rows; a scan over a whole table belongs on the blocking pool.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.inner.path)?,
        };
        self.inner.readers_in_use.fetch_add(1, Ordering::Relaxed);
        let result = f(&conn);
        self.inner.readers_in_use.fetch_sub(1, Ordering::Relaxed);
        let mut readers = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    /// Runs `f` with a reader connection on the blocking pool: for reads that scan many rows.
    pub(crate) async fn read_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let store = self.clone();
        blocking(move || store.read(f)).await
    }

    /// Runs `f` with the writer connection on the blocking pool.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await
    }

    /// Checkpoints the WAL into the main file (for a tidy shutdown; safe to skip).
    pub async fn close(&self) {
        let _ = self
            .write(|conn| {
                conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(db_err)?;
                Ok(())
            })
            .await;
        self.inner.readers.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Database(format!("storage task failed: {e}")))?
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_writer(path: &Path) -> StoreResult<Connection> {
    make_private(path)?;
    let conn = Connection::open(path).map_err(db_err)?;
    configure(&conn)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .map_err(db_err)?;
    Ok(conn)
}

/// Creates the database file readable by its owner alone (mode 0600), or makes an existing
/// one so: it holds password hashes and every team's context. SQLite gives the WAL and
/// shared-memory files it creates the database file's mode; existing ones are set too.
pub(crate) fn make_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e: std::io::Error| StoreError::Database(format!("{}: {e}", path.display()));
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(io)?;
    let mut companions = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        companions.push(PathBuf::from(name));
    }
    for file in companions.iter().filter(|f| f.exists()) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(db_err)?;
    configure(&conn)?;
    Ok(conn)
}

/// Fills the in-process index from the `passages` table.
fn load_vectors(conn: &Connection, index: &vectors::VectorIndex) -> StoreResult<()> {
    let mut stmt = conn
        .prepare("SELECT context_id, project_id, start_byte, end_byte, model, vector FROM passages")
        .map_err(db_err)?;
    let mut rows = stmt.query([]).map_err(db_err)?;
    let mut batch = Vec::with_capacity(4096);
    let parse = |s: String| {
        uuid::Uuid::parse_str(&s).map_err(|_| StoreError::Database("bad uuid in passages".into()))
    };
    while let Some(row) = rows.next().map_err(db_err)? {
        let blob: Vec<u8> = row.get(5).map_err(db_err)?;
        batch.push(tc_store::PassageRecord {
            context_id: parse(row.get(0).map_err(db_err)?)?,
            project_id: parse(row.get(1).map_err(db_err)?)?,
            start: row.get::<_, i64>(2).map_err(db_err)? as usize,
            end: row.get::<_, i64>(3).map_err(db_err)? as usize,
            model: row.get(4).map_err(db_err)?,
            vector: vectors::from_blob(&blob),
        });
        if batch.len() == batch.capacity() {
            index.load(&batch);
            batch.clear();
        }
    }
    index.load(&batch);
    Ok(())
}

fn migration_err(e: rusqlite_migration::Error) -> StoreError {
    StoreError::Database(format!("migration failed: {e}"))
}

/// Translates a driver error, naming the unique constraint when one was broken.
pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &e
        && failure.code == rusqlite::ErrorCode::ConstraintViolation
        && matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    {
        return StoreError::Conflict {
            constraint: constraint_name(message.as_deref().unwrap_or("")),
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
    } else if message.contains("project_invitations") {
        "project_invitations.email"
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
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
    }
    fn pool_status(&self) -> tc_store::PoolStatus {
        let idle_readers = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner()).len();
        // The writer is busy while its lock is held (a failed try_lock means just that).
        let writer_busy = self.inner.writer.try_lock().is_err();
        tc_store::PoolStatus {
            in_use: self.inner.readers_in_use.load(Ordering::Relaxed) + u32::from(writer_busy),
            idle: idle_readers as u32 + u32::from(!writer_busy),
        }
    }

    async fn insert_user(&self, user: &tc_store::UserRecord) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |c| accounts::insert_user(c, &user)).await
    }
    async fn user_by_id(&self, id: uuid::Uuid) -> StoreResult<Option<tc_store::UserRecord>> {
        self.read(|c| accounts::user_by_id(c, id))
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<tc_store::UserRecord>> {
        self.read(|c| accounts::user_by_email(c, email))
    }
    async fn update_user_password(
        &self,
        id: uuid::Uuid,
        password_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let hash = password_hash.to_string();
        self.write(move |c| accounts::update_user_password(c, id, &hash, at)).await
    }
    async fn set_user_active(
        &self,
        id: uuid::Uuid,
        active: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| accounts::set_user_flag(c, id, accounts::UserFlag::Active, active, at))
            .await
    }
    async fn set_user_email_verified(
        &self,
        id: uuid::Uuid,
        verified: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| {
            accounts::set_user_flag(c, id, accounts::UserFlag::EmailVerified, verified, at)
        })
        .await
    }

    async fn insert_api_key(&self, key: &tc_store::ApiKeyRecord) -> StoreResult<()> {
        let key = key.clone();
        self.write(move |c| accounts::insert_api_key(c, &key)).await
    }
    async fn api_key_by_hash(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(tc_store::ApiKeyRecord, tc_store::UserRecord)>> {
        self.read(|c| accounts::api_key_by_hash(c, hash))
    }
    async fn api_key_by_id(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> StoreResult<Option<tc_store::ApiKeyRecord>> {
        self.read(|c| accounts::api_key_by_id(c, user_id, id))
    }
    async fn list_api_keys(&self, user_id: uuid::Uuid) -> StoreResult<Vec<tc_store::ApiKeyRecord>> {
        self.read(|c| accounts::list_api_keys(c, user_id))
    }
    async fn revoke_api_key(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| accounts::revoke_api_key(c, user_id, id, at)).await
    }
    async fn rotate_api_key(
        &self,
        old_id: uuid::Uuid,
        old_expires_at: chrono::DateTime<chrono::Utc>,
        new_key: &tc_store::ApiKeyRecord,
    ) -> StoreResult<chrono::DateTime<chrono::Utc>> {
        let new_key = new_key.clone();
        self.write(move |c| accounts::rotate_api_key(c, old_id, old_expires_at, &new_key)).await
    }
    async fn touch_api_keys(
        &self,
        uses: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        let uses = uses.to_vec();
        self.write(move |c| accounts::touch_api_keys(c, &uses)).await
    }

    async fn insert_refresh_token(&self, token: &tc_store::RefreshTokenRecord) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |c| accounts::insert_refresh_token(c, &token)).await
    }
    async fn consume_refresh_token(
        &self,
        hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<tc_store::RefreshOutcome> {
        let hash = hash.to_string();
        self.write(move |c| accounts::consume_refresh_token(c, &hash, now)).await
    }
    async fn revoke_refresh_family(
        &self,
        family_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| {
            accounts::revoke_refresh(c, accounts::RefreshScope::Family, family_id, at)
        })
        .await
    }
    async fn revoke_user_refresh_tokens(
        &self,
        user_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| accounts::revoke_refresh(c, accounts::RefreshScope::User, user_id, at))
            .await
    }

    async fn insert_project(&self, project: &tc_store::ProjectRecord) -> StoreResult<()> {
        let project = project.clone();
        self.write(move |c| projects::insert_project(c, &project)).await
    }
    async fn project_by_id(&self, id: uuid::Uuid) -> StoreResult<Option<tc_store::ProjectRecord>> {
        self.read(|c| projects::project_by_id(c, id))
    }
    async fn project_with_role(
        &self,
        id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> StoreResult<Option<(tc_store::ProjectRecord, Option<tc_store::Role>)>> {
        self.read(|c| projects::project_with_role(c, id, user_id))
    }
    async fn list_member_projects(
        &self,
        user_id: uuid::Uuid,
        filter: tc_store::ProjectListFilter,
        page: tc_store::Page,
    ) -> StoreResult<Vec<(tc_store::ProjectRecord, tc_store::Role)>> {
        self.read(|c| projects::list_member_projects(c, user_id, filter, page))
    }
    async fn update_project(&self, project: &tc_store::ProjectRecord) -> StoreResult<()> {
        let project = project.clone();
        self.write(move |c| projects::update_project(c, &project)).await
    }
    async fn set_project_deleted(
        &self,
        id: uuid::Uuid,
        deleted_at: Option<chrono::DateTime<chrono::Utc>>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.write(move |c| projects::set_project_deleted(c, id, deleted_at, at)).await
    }
    async fn purge_deleted_projects(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64> {
        let store = self.clone();
        self.write(move |c| {
            let ids = projects::purgeable_projects(c, before)?;
            let purged = projects::purge_deleted_projects(c, before)?;
            store.inner.vectors.remove_projects(&ids);
            Ok(purged)
        })
        .await
    }

    async fn insert_member(&self, member: &tc_store::MemberRecord) -> StoreResult<()> {
        let member = member.clone();
        self.write(move |c| projects::insert_member(c, &member)).await
    }
    async fn list_members(
        &self,
        project_id: uuid::Uuid,
    ) -> StoreResult<Vec<(tc_store::MemberRecord, tc_store::UserRecord)>> {
        self.read(|c| projects::list_members(c, project_id))
    }
    async fn delete_member(&self, project_id: uuid::Uuid, user_id: uuid::Uuid) -> StoreResult<()> {
        self.write(move |c| projects::delete_member(c, project_id, user_id)).await
    }

    async fn insert_invitation(&self, invitation: &tc_store::InvitationRecord) -> StoreResult<()> {
        let invitation = invitation.clone();
        self.write(move |c| invitations::insert_invitation(c, &invitation)).await
    }
    async fn invitation_by_id(
        &self,
        id: uuid::Uuid,
    ) -> StoreResult<Option<tc_store::InvitationRecord>> {
        self.read(|c| invitations::invitation_by_id(c, id))
    }
    async fn list_project_invitations(
        &self,
        project_id: uuid::Uuid,
    ) -> StoreResult<Vec<tc_store::InvitationRecord>> {
        self.read(|c| invitations::list_project_invitations(c, project_id))
    }
    async fn list_invitations_for(
        &self,
        email: &str,
    ) -> StoreResult<Vec<(tc_store::InvitationRecord, tc_store::ProjectRecord)>> {
        self.read(|c| invitations::list_invitations_for(c, email))
    }
    async fn accept_invitation(
        &self,
        id: uuid::Uuid,
        member: &tc_store::MemberRecord,
    ) -> StoreResult<()> {
        let member = member.clone();
        self.write(move |c| invitations::accept_invitation(c, id, &member)).await
    }
    async fn delete_invitation(&self, id: uuid::Uuid) -> StoreResult<()> {
        self.write(move |c| invitations::delete_invitation(c, id)).await
    }
    async fn insert_signup_invitation(
        &self,
        invitation: &tc_store::SignupInvitationRecord,
    ) -> StoreResult<()> {
        let invitation = invitation.clone();
        self.write(move |c| invitations::insert_signup_invitation(c, &invitation)).await
    }
    async fn signup_invitation_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<tc_store::SignupInvitationRecord>> {
        self.read(|c| invitations::signup_invitation_by_hash(c, token_hash))
    }
    async fn use_signup_invitation(
        &self,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        self.write(move |c| invitations::use_signup_invitation(c, id, at)).await
    }

    async fn claim_mcp_session(
        &self,
        id: &str,
        user_id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| mcp_sessions::claim_mcp_session(c, &id, user_id, at)).await
    }
    async fn set_mcp_session_state(
        &self,
        id: &str,
        state: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let (id, state) = (id.to_string(), state.to_string());
        self.write(move |c| mcp_sessions::set_mcp_session_state(c, &id, &state, at)).await
    }
    async fn mcp_session(&self, id: &str) -> StoreResult<Option<tc_store::McpSessionRecord>> {
        self.read(|c| mcp_sessions::mcp_session(c, id))
    }
    async fn delete_mcp_session(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| mcp_sessions::delete_mcp_session(c, &id)).await
    }
    async fn purge_mcp_sessions(&self, before: chrono::DateTime<chrono::Utc>) -> StoreResult<u64> {
        self.write(move |c| mcp_sessions::purge_mcp_sessions(c, before)).await
    }

    async fn readable_project_ids(&self, user_id: uuid::Uuid) -> StoreResult<Vec<uuid::Uuid>> {
        self.read(|c| projects::readable_project_ids(c, user_id))
    }
    async fn set_project_description_vector(
        &self,
        project_id: uuid::Uuid,
        vector: Option<(&str, &[f32])>,
    ) -> StoreResult<()> {
        let vector = vector.map(|(model, v)| (model.to_string(), v.to_vec()));
        self.write(move |c| projects::set_description_vector(c, project_id, vector)).await
    }
    async fn project_description_vectors(
        &self,
        project_ids: &[uuid::Uuid],
        model: &str,
    ) -> StoreResult<Vec<(uuid::Uuid, Vec<f32>)>> {
        self.read(|c| projects::description_vectors(c, project_ids, model))
    }

    async fn insert_contexts(
        &self,
        contexts: &[(tc_store::ContextRecord, Vec<tc_store::PassageRecord>)],
    ) -> StoreResult<()> {
        let owned = contexts.to_vec();
        let store = self.clone();
        self.write(move |c| {
            contexts::insert_contexts(c, &owned)?;
            // Indexed only after the commit, so a failed insert leaves no vector behind.
            for (_, passages) in &owned {
                store.inner.vectors.insert(passages);
            }
            Ok(())
        })
        .await
    }
    async fn context_by_id(&self, id: uuid::Uuid) -> StoreResult<Option<tc_store::ContextRecord>> {
        self.read(|c| contexts::context_by_id(c, id))
    }
    async fn contexts_by_ids(
        &self,
        ids: &[uuid::Uuid],
    ) -> StoreResult<Vec<tc_store::ContextRecord>> {
        self.read(|c| contexts::contexts_by_ids(c, ids))
    }
    async fn delete_context(&self, id: uuid::Uuid) -> StoreResult<u64> {
        let store = self.clone();
        self.write(move |c| match contexts::delete_context(c, id)? {
            None => Ok(0),
            Some((project_id, ids)) => {
                store.inner.vectors.remove_contexts(project_id, &ids);
                Ok(ids.len() as u64)
            }
        })
        .await
    }
    async fn list_contexts(
        &self,
        project_id: uuid::Uuid,
        filter: &tc_store::ContextFilter,
        page: tc_store::Page,
    ) -> StoreResult<Vec<tc_store::ContextRecord>> {
        self.read(|c| contexts::list_contexts(c, project_id, filter, page))
    }
    async fn record_context_access(
        &self,
        accesses: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        let accesses = accesses.to_vec();
        self.write(move |c| contexts::record_access(c, &accesses)).await
    }
    async fn vector_search(
        &self,
        query: &[f32],
        model: &str,
        project_ids: &[uuid::Uuid],
        limit: usize,
    ) -> StoreResult<Vec<tc_store::VectorHit>> {
        let (query, model, ids, store) =
            (query.to_vec(), model.to_string(), project_ids.to_vec(), self.clone());
        // A scan over many passages: keep it off the async workers.
        blocking(move || Ok(store.inner.vectors.search(&query, &model, &ids, limit))).await
    }
    async fn passage_similarities(
        &self,
        query: &[f32],
        model: &str,
        context_ids: &[uuid::Uuid],
    ) -> StoreResult<Vec<tc_store::VectorHit>> {
        self.read(|c| contexts::passage_similarities(c, query, model, context_ids))
    }
    async fn scanned_files(
        &self,
        project_id: uuid::Uuid,
    ) -> StoreResult<Vec<tc_store::ScannedFile>> {
        self.read(|c| scans::scanned_files(c, project_id))
    }
    async fn replace_scanned_file(
        &self,
        project_id: uuid::Uuid,
        file: &tc_store::ScannedFile,
        contexts: &[(tc_store::ContextRecord, Vec<tc_store::PassageRecord>)],
    ) -> StoreResult<u64> {
        let (file, owned, store) = (file.clone(), contexts.to_vec(), self.clone());
        self.write(move |c| {
            let removed = scans::replace_scanned_file(c, project_id, &file, &owned)?;
            // The index follows the commit, as for every other write.
            store.inner.vectors.remove_contexts(project_id, &removed);
            for (_, passages) in &owned {
                store.inner.vectors.insert(passages);
            }
            Ok(removed.len() as u64)
        })
        .await
    }
    async fn remove_scanned_files(
        &self,
        project_id: uuid::Uuid,
        paths: &[String],
    ) -> StoreResult<u64> {
        let (paths, store) = (paths.to_vec(), self.clone());
        self.write(move |c| {
            let removed = scans::remove_scanned_files(c, project_id, &paths)?;
            store.inner.vectors.remove_contexts(project_id, &removed);
            Ok(removed.len() as u64)
        })
        .await
    }
    async fn context_insights(
        &self,
        project_ids: &[uuid::Uuid],
        top: usize,
    ) -> StoreResult<tc_store::ContextInsights> {
        let ids = project_ids.to_vec();
        self.read_blocking(move |c| contexts::context_insights(c, &ids, top)).await
    }
    async fn keyword_search(
        &self,
        query: &str,
        project_ids: &[uuid::Uuid],
        limit: usize,
    ) -> StoreResult<Vec<tc_store::KeywordHit>> {
        self.read(|c| contexts::keyword_search(c, query, project_ids, limit))
    }

    async fn insert_job(&self, job: &tc_store::JobRecord) -> StoreResult<()> {
        let job = job.clone();
        self.write(move |c| jobs::insert_job(c, &job)).await
    }
    async fn job_by_id(&self, id: uuid::Uuid) -> StoreResult<Option<tc_store::JobRecord>> {
        self.read(|c| jobs::job_by_id(c, id))
    }
    async fn claim_job(
        &self,
        kinds: &[&str],
        worker: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<tc_store::JobRecord>> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let worker = worker.to_string();
        self.write(move |c| {
            let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
            jobs::claim_job(c, &kinds, &worker, now, lease_until)
        })
        .await
    }
    async fn heartbeat_job(
        &self,
        id: uuid::Uuid,
        worker: &str,
        progress: &serde_json::Value,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<bool>> {
        let (worker, progress) = (worker.to_string(), progress.clone());
        self.write(move |c| jobs::heartbeat_job(c, id, &worker, &progress, lease_until)).await
    }
    async fn finish_job(
        &self,
        id: uuid::Uuid,
        worker: &str,
        outcome: &tc_store::JobOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        let (worker, outcome) = (worker.to_string(), outcome.clone());
        self.write(move |c| jobs::finish_job(c, id, &worker, &outcome, now)).await
    }
    async fn cancel_job(
        &self,
        id: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<tc_store::JobRecord>> {
        self.write(move |c| jobs::cancel_job(c, id, now)).await
    }
    async fn job_counts(&self) -> StoreResult<Vec<(tc_store::JobStatus, i64)>> {
        self.read(jobs::job_counts)
    }
    async fn put_job_input(
        &self,
        job_id: uuid::Uuid,
        part: i32,
        data: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let data = data.to_vec();
        self.write(move |c| jobs::put_job_input(c, job_id, part, &data, now)).await
    }
    async fn job_input(&self, job_id: uuid::Uuid, part: i32) -> StoreResult<Option<Vec<u8>>> {
        self.read_blocking(move |c| jobs::job_input(c, job_id, part)).await
    }
    async fn delete_job_input(&self, job_id: uuid::Uuid) -> StoreResult<()> {
        self.write(move |c| jobs::delete_job_input(c, job_id)).await
    }
    async fn delete_orphan_job_inputs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64> {
        self.write(move |c| jobs::delete_orphan_job_inputs(c, before)).await
    }

    async fn insert_analytics_events(
        &self,
        events: &[tc_store::AnalyticsEventRecord],
    ) -> StoreResult<()> {
        let events = events.to_vec();
        self.write(move |c| analytics::insert_events(c, &events)).await
    }
    async fn event_totals(
        &self,
        scope: &tc_store::EventScope,
        group: tc_store::EventGroup,
    ) -> StoreResult<Vec<tc_store::EventTotals>> {
        let scope = scope.clone();
        self.read_blocking(move |c| analytics::event_totals(c, &scope, group)).await
    }
}
