//! What codebase scans indexed: one row per file with its content hash, and the replacement of
//! a file's contexts in one transaction (so a scan killed mid-file leaves the old version or the
//! new one, never a mix).

use rusqlite::{Connection, params};
use tc_store::{ContextRecord, PassageRecord, ScannedFile, StoreResult};
use uuid::Uuid;

use crate::contexts::insert_rows;
use crate::convert::{corrupt, get};
use crate::db_err;

/// The source scans give their contexts.
pub(crate) const SCAN_SOURCE: &str = "codebase_scan";

pub(crate) fn scanned_files(c: &Connection, project_id: Uuid) -> StoreResult<Vec<ScannedFile>> {
    let mut stmt = c
        .prepare_cached("SELECT file_path, content_hash FROM scanned_files WHERE project_id = ?")
        .map_err(db_err)?;
    crate::convert::collect(stmt.query([project_id.to_string()]).map_err(db_err)?, |r| {
        Ok(ScannedFile { file_path: get(r, "file_path")?, content_hash: get(r, "content_hash")? })
    })
}

/// Deletes the scan contexts of `paths` (and their chunks and passages, by cascade) within the
/// transaction; returns the ids removed, for the vector index.
fn delete_file_contexts(
    tx: &rusqlite::Transaction<'_>,
    project_id: Uuid,
    paths: &[String],
) -> StoreResult<Vec<Uuid>> {
    let paths = serde_json::to_string(paths).unwrap_or_default();
    let mut stmt = tx
        .prepare_cached(
            "DELETE FROM contexts WHERE project_id = ?1 AND source = ?2 \
             AND file_path IN (SELECT value FROM json_each(?3)) RETURNING id",
        )
        .map_err(db_err)?;
    let rows = stmt.query(params![project_id.to_string(), SCAN_SOURCE, paths]).map_err(db_err)?;
    crate::convert::collect(rows, |r| {
        let id: String = get(r, "id")?;
        Uuid::parse_str(&id).map_err(|_| corrupt(format!("uuid {id:?}")))
    })
}

pub(crate) fn replace_scanned_file(
    c: &mut Connection,
    project_id: Uuid,
    file: &ScannedFile,
    contexts: &[(ContextRecord, Vec<PassageRecord>)],
) -> StoreResult<Vec<Uuid>> {
    let tx = c.transaction().map_err(db_err)?;
    let removed = delete_file_contexts(&tx, project_id, std::slice::from_ref(&file.file_path))?;
    insert_rows(&tx, contexts)?;
    tx.execute(
        "INSERT INTO scanned_files (project_id, file_path, content_hash) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO UPDATE SET content_hash = excluded.content_hash",
        params![project_id.to_string(), file.file_path, file.content_hash],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(removed)
}

pub(crate) fn remove_scanned_files(
    c: &mut Connection,
    project_id: Uuid,
    paths: &[String],
) -> StoreResult<Vec<Uuid>> {
    let tx = c.transaction().map_err(db_err)?;
    let removed = delete_file_contexts(&tx, project_id, paths)?;
    tx.execute(
        "DELETE FROM scanned_files WHERE project_id = ?1 \
         AND file_path IN (SELECT value FROM json_each(?2))",
        params![project_id.to_string(), serde_json::to_string(paths).unwrap_or_default()],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(removed)
}

#[async_trait::async_trait]
impl tc_store::ScanStore for crate::SqliteStore {
    async fn scanned_files(
        &self,
        project_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<tc_store::ScannedFile>> {
        self.read(|c| scanned_files(c, project_id))
    }
    async fn replace_scanned_file(
        &self,
        project_id: uuid::Uuid,
        file: &tc_store::ScannedFile,
        contexts: &[(tc_store::ContextRecord, Vec<tc_store::PassageRecord>)],
    ) -> tc_store::StoreResult<u64> {
        let (file, owned, store) = (file.clone(), contexts.to_vec(), self.clone());
        self.write(move |c| {
            let removed = replace_scanned_file(c, project_id, &file, &owned)?;
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
    ) -> tc_store::StoreResult<u64> {
        let (paths, store) = (paths.to_vec(), self.clone());
        self.write(move |c| {
            let removed = remove_scanned_files(c, project_id, &paths)?;
            store.inner.vectors.remove_contexts(project_id, &removed);
            Ok(removed.len() as u64)
        })
        .await
    }
}
