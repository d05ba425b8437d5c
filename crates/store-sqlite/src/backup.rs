//! Online backup and offline restore of the database file.
//!
//! A backup is `VACUUM INTO` from a read transaction: a consistent, compacted copy of the
//! database as of one moment, taken while the server keeps reading and writing (WAL readers do
//! not block the writer). It is written beside its destination under a temporary name, checked,
//! and renamed into place, so a failed backup never leaves a half-written file under the name
//! asked for.
//!
//! A restore checks the backup first (an SQLite file that passes `quick_check`, with our tables,
//! from this version or an older one), moves the current database and its WAL aside rather than
//! deleting them, copies the backup in the same write-then-rename way and applies any newer
//! migrations. The caller must make sure no server is using the database (see the server's
//! data-directory lock).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::Migrations;

use crate::MIGRATIONS;

/// What went wrong with a backup or restore, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose a new file name")]
    DestinationExists(PathBuf),
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    #[error("{path} is not a usable TeamContext backup: {reason}")]
    NotABackup { path: PathBuf, reason: String },
    #[error(
        "{path} comes from a newer TeamContext (schema {found}, this version knows {supported}); \
         restore it with that version"
    )]
    NewerSchema { path: PathBuf, found: i64, supported: usize },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("database error: {0}")]
    Sqlite(String),
}

fn sqlite(e: impl std::fmt::Display) -> BackupError {
    BackupError::Sqlite(e.to_string())
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

/// What a backup file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub bytes: u64,
    pub schema_version: i64,
    pub users: i64,
    pub projects: i64,
    pub contexts: i64,
}

/// Where a restore put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreOutcome {
    pub summary: BackupSummary,
    /// The database that was replaced, with its WAL, kept under this name.
    pub previous: Option<PathBuf>,
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Copies the database at `db` to `dest` while it is in use.
pub async fn backup(db: &Path, dest: &Path) -> Result<BackupSummary, BackupError> {
    let (db, dest) = (db.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || backup_blocking(&db, &dest))
        .await
        .map_err(|e| BackupError::Sqlite(format!("backup task failed: {e}")))?
}

fn backup_blocking(db: &Path, dest: &Path) -> Result<BackupSummary, BackupError> {
    if dest.exists() {
        return Err(BackupError::DestinationExists(dest.to_path_buf()));
    }
    if !db.exists() {
        return Err(BackupError::NoDatabase(db.to_path_buf()));
    }
    let partial = with_suffix(dest, ".partial");
    let _ = std::fs::remove_file(&partial);
    // A backup holds what the database holds: readable by its owner alone. VACUUM INTO writes
    // into an existing empty file, keeping its mode.
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(io(format!("creating {}", partial.display())))?;
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(sqlite)?;
    let written = conn
        .execute("VACUUM INTO ?1", [partial.to_string_lossy()])
        .map_err(sqlite)
        .and_then(|_| inspect(&partial))
        .and_then(|summary| {
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(io(format!("syncing {}", partial.display())))?;
            Ok(summary)
        });
    match written {
        Ok(summary) => {
            std::fs::rename(&partial, dest).map_err(io(format!("naming {}", dest.display())))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Checks that `path` is a TeamContext database this version can open, and counts what is in
/// it.
pub fn inspect(path: &Path) -> Result<BackupSummary, BackupError> {
    let not_a_backup =
        |reason: String| BackupError::NotABackup { path: path.to_path_buf(), reason };
    let bytes =
        std::fs::metadata(path).map_err(|e| not_a_backup(format!("cannot read it ({e})")))?.len();
    let mut header = [0u8; 16];
    std::io::Read::read_exact(
        &mut std::fs::File::open(path).map_err(|e| not_a_backup(e.to_string()))?,
        &mut header,
    )
    .map_err(|_| not_a_backup("it is too short to be an SQLite database".into()))?;
    if &header != b"SQLite format 3\0" {
        return Err(not_a_backup("it is not an SQLite database".into()));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| not_a_backup(e.to_string()))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| not_a_backup(e.to_string()))?;
    if check != "ok" {
        return Err(not_a_backup(format!("the integrity check failed: {check}")));
    }
    let schema_version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite)?;
    if schema_version > MIGRATIONS.len() as i64 {
        return Err(BackupError::NewerSchema {
            path: path.to_path_buf(),
            found: schema_version,
            supported: MIGRATIONS.len(),
        });
    }
    let count = |table: &str| -> Result<i64, BackupError> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|_| not_a_backup(format!("it has no {table} table")))
    };
    Ok(BackupSummary {
        bytes,
        schema_version,
        users: count("users")?,
        projects: count("projects")?,
        contexts: if schema_version >= 2 { count("contexts")? } else { 0 },
    })
}

/// Replaces the database at `db` with the backup at `from`; the server must be stopped.
pub async fn restore(
    from: &Path,
    db: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RestoreOutcome, BackupError> {
    let (from, db) = (from.to_path_buf(), db.to_path_buf());
    tokio::task::spawn_blocking(move || restore_blocking(&from, &db, now))
        .await
        .map_err(|e| BackupError::Sqlite(format!("restore task failed: {e}")))?
}

fn restore_blocking(
    from: &Path,
    db: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RestoreOutcome, BackupError> {
    let summary = inspect(from)?;
    let incoming = with_suffix(db, ".restoring");
    let copied = std::fs::copy(from, &incoming)
        .and_then(|_| std::fs::File::open(&incoming)?.sync_all())
        .map_err(io(format!("copying {} beside the database", from.display())));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&incoming);
        return Err(e);
    }

    let previous = if db.exists() {
        let kept = with_suffix(db, &format!(".before-restore-{}", now.format("%Y%m%dT%H%M%SZ")));
        for suffix in ["-wal", "-shm"] {
            let side = with_suffix(db, suffix);
            if side.exists() {
                let target = with_suffix(&kept, suffix);
                std::fs::rename(&side, &target)
                    .map_err(io(format!("moving {}", side.display())))?;
            }
        }
        std::fs::rename(db, &kept).map_err(io(format!("moving {} aside", db.display())))?;
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&incoming, db).map_err(io(format!("installing {}", db.display())))?;
    let mut conn = Connection::open(db).map_err(sqlite)?;
    Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).map_err(sqlite)?;
    Ok(RestoreOutcome { summary, previous })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_what_is_not_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello, this is not a database at all").unwrap();
        let err = inspect(&text).unwrap_err();
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
        let empty = dir.path().join("empty.db");
        Connection::open(&empty).unwrap().execute_batch("CREATE TABLE t (x);").unwrap();
        let err = inspect(&empty).unwrap_err();
        assert!(err.to_string().contains("no users table"), "{err}");
        let newer = dir.path().join("newer.db");
        Connection::open(&newer).unwrap().execute_batch("PRAGMA user_version = 99;").unwrap();
        assert!(matches!(inspect(&newer), Err(BackupError::NewerSchema { found: 99, .. })));
        // Nothing is touched when the backup is refused.
        let db = dir.path().join("live.db");
        std::fs::write(&db, "live bytes").unwrap();
        assert!(restore(&text, &db, chrono::Utc::now()).await.is_err());
        assert_eq!(std::fs::read(&db).unwrap(), b"live bytes");
        assert!(!with_suffix(&db, ".restoring").exists());
    }
}
