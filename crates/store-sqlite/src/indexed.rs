//! What scans and syncs indexed: one row per item (a file, a Jira issue, a Confluence page)
//! with its content hash, and the replacement of an item's contexts in one transaction (so a
//! job killed mid-item leaves the old version or the new one, never a mix).

use rusqlite::{Connection, params};
use tc_store::{ContextRecord, IndexedItem, PassageRecord, StoreResult};
use uuid::Uuid;

use crate::contexts::insert_rows;
use crate::convert::{corrupt, get};
use crate::db_err;

pub(crate) fn indexed_items(
    c: &Connection,
    project_id: Uuid,
    source: &str,
) -> StoreResult<Vec<IndexedItem>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT file_path, content_hash FROM indexed_items WHERE project_id = ? AND source = ?",
        )
        .map_err(db_err)?;
    crate::convert::collect(
        stmt.query(params![project_id.to_string(), source]).map_err(db_err)?,
        |r| {
            Ok(IndexedItem {
                file_path: get(r, "file_path")?,
                content_hash: get(r, "content_hash")?,
            })
        },
    )
}

/// Deletes the contexts of `paths` of `source` (and their chunks and passages, by cascade)
/// within the transaction; returns the ids removed, for the vector index.
fn delete_item_contexts(
    tx: &rusqlite::Transaction<'_>,
    project_id: Uuid,
    source: &str,
    paths: &[String],
) -> StoreResult<Vec<Uuid>> {
    let paths = serde_json::to_string(paths).unwrap_or_default();
    let mut stmt = tx
        .prepare_cached(
            "DELETE FROM contexts WHERE project_id = ?1 AND source = ?2 \
             AND file_path IN (SELECT value FROM json_each(?3)) RETURNING id",
        )
        .map_err(db_err)?;
    let rows = stmt.query(params![project_id.to_string(), source, paths]).map_err(db_err)?;
    crate::convert::collect(rows, |r| {
        let id: String = get(r, "id")?;
        Uuid::parse_str(&id).map_err(|_| corrupt(format!("uuid {id:?}")))
    })
}

pub(crate) fn replace_indexed_item(
    c: &mut Connection,
    project_id: Uuid,
    source: &str,
    item: &IndexedItem,
    contexts: &[(ContextRecord, Vec<PassageRecord>)],
) -> StoreResult<Vec<Uuid>> {
    let tx = c.transaction().map_err(db_err)?;
    let removed =
        delete_item_contexts(&tx, project_id, source, std::slice::from_ref(&item.file_path))?;
    insert_rows(&tx, contexts)?;
    tx.execute(
        "INSERT INTO indexed_items (project_id, source, file_path, content_hash) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET content_hash = excluded.content_hash",
        params![project_id.to_string(), source, item.file_path, item.content_hash],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(removed)
}

pub(crate) fn remove_indexed_items(
    c: &mut Connection,
    project_id: Uuid,
    source: &str,
    paths: &[String],
) -> StoreResult<Vec<Uuid>> {
    let tx = c.transaction().map_err(db_err)?;
    let removed = delete_item_contexts(&tx, project_id, source, paths)?;
    tx.execute(
        "DELETE FROM indexed_items WHERE project_id = ?1 AND source = ?2 \
         AND file_path IN (SELECT value FROM json_each(?3))",
        params![project_id.to_string(), source, serde_json::to_string(paths).unwrap_or_default()],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(removed)
}

#[async_trait::async_trait]
impl tc_store::IndexedItemStore for crate::SqliteStore {
    async fn indexed_items(&self, project_id: Uuid, source: &str) -> StoreResult<Vec<IndexedItem>> {
        let source = source.to_string();
        self.read(move |c| indexed_items(c, project_id, &source))
    }
    async fn replace_indexed_item(
        &self,
        project_id: Uuid,
        source: &str,
        item: &IndexedItem,
        contexts: &[(ContextRecord, Vec<PassageRecord>)],
    ) -> StoreResult<u64> {
        let (source, item, owned, store) =
            (source.to_string(), item.clone(), contexts.to_vec(), self.clone());
        self.write(move |c| {
            let removed = replace_indexed_item(c, project_id, &source, &item, &owned)?;
            // The index follows the commit, as for every other write.
            store.inner.vectors.remove_contexts(project_id, &removed);
            for (_, passages) in &owned {
                store.inner.vectors.insert(passages);
            }
            Ok(removed.len() as u64)
        })
        .await
    }
    async fn remove_indexed_items(
        &self,
        project_id: Uuid,
        source: &str,
        paths: &[String],
    ) -> StoreResult<u64> {
        let (source, paths, store) = (source.to_string(), paths.to_vec(), self.clone());
        self.write(move |c| {
            let removed = remove_indexed_items(c, project_id, &source, &paths)?;
            store.inner.vectors.remove_contexts(project_id, &removed);
            Ok(removed.len() as u64)
        })
        .await
    }
}
