//! The embedded SQLite implementation of [`tc_store::Store`], on rusqlite (bundled SQLite with
//! FTS5).
//!
//! One database file in WAL mode. Reads run inline on the calling task with a connection from a
//! small pool: a WAL read from a warm page cache takes microseconds, far less than handing the
//! query to another thread and waking the task again (which is what an async SQLite driver does
//! per statement, and what capped throughput before; see docs/benchmarks.md). Writes go through
//! one writer connection on the blocking pool, because SQLite has one writer at a time and a
//! write may wait for the lock or for the disk. Migrations in `migrations/` are embedded in the
//! binary and applied by [`SqliteStore::open`]. Times are Unix milliseconds, ids UUID text. Each
//! storage area's trait is implemented in its own module, beside its SQL (`accounts`, `projects`,
//! `search`, …); this file holds the connections and [`tc_store::StoreHealth`].

mod accounts;
mod analytics;
mod ann;
pub mod backup;
mod chat;
mod connections;
mod contexts;
mod convert;
mod email_tokens;
mod embedding;
mod indexed;
mod invitations;
mod jobs;
mod mcp_servers;
mod mcp_sessions;
mod projects;
mod search;
mod stories;
mod tasks;
mod user_llms;
pub mod vectors;
mod web_sessions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;
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
    M::up(include_str!("../migrations/0010_one_embedding_job.sql")),
    M::up(include_str!("../migrations/0011_email_tokens.sql")),
    M::up(include_str!("../migrations/0012_integrations.sql")),
    M::up(include_str!("../migrations/0013_chat.sql")),
    M::up(include_str!("../migrations/0014_chat_tool_calls.sql")),
    M::up(include_str!("../migrations/0015_mcp_servers.sql")),
    M::up(include_str!("../migrations/0016_ai_usage.sql")),
    M::up(include_str!("../migrations/0017_user_llms.sql")),
    M::up(include_str!("../migrations/0018_tasks.sql")),
    M::up(include_str!("../migrations/0019_web_sessions.sql")),
    M::up(include_str!("../migrations/0020_story_drafts.sql")),
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
        let pooled = self.inner.readers.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.inner.path)?,
        };
        self.inner.readers_in_use.fetch_add(1, Ordering::Relaxed);
        let result = f(&conn);
        self.inner.readers_in_use.fetch_sub(1, Ordering::Relaxed);
        let mut readers = self.inner.readers.lock();
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
            let mut conn = inner.writer.lock();
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
        self.inner.readers.lock().clear();
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::database(format!("storage task failed: {e}")))?
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
    let io = |e: std::io::Error| StoreError::database(format!("{}: {e}", path.display()));
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
        uuid::Uuid::parse_str(&s).map_err(|_| StoreError::database("bad uuid in passages"))
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
    StoreError::driver("migration failed", e)
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
    StoreError::driver("SQLite", e)
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
    } else if message.contains("web_sessions.hash") {
        "web_sessions.hash"
    } else if message.contains("jobs.kind") {
        "jobs.one_active"
    } else if message.contains("mcp_servers.name") {
        "mcp_servers.name"
    } else {
        "unknown"
    }
}

#[async_trait::async_trait]
impl tc_store::StoreHealth for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
    }
    fn pool_status(&self) -> tc_store::PoolStatus {
        let idle_readers = self.inner.readers.lock().len();
        // The writer is busy while its lock is held (a failed try_lock means just that).
        let writer_busy = self.inner.writer.try_lock().is_none();
        tc_store::PoolStatus {
            in_use: self.inner.readers_in_use.load(Ordering::Relaxed) + u32::from(writer_busy),
            idle: idle_readers as u32 + u32::from(!writer_busy),
        }
    }
}
