//! Contexts and their passages in SQLite: inserts, reads, lists, cascading deletes, access counts and insights.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{
    ContextFilter, ContextInsights, ContextRecord, Page, PassageRecord, StoreError, StoreResult,
};
use uuid::Uuid;

use crate::convert::{self, ms, opt_ms};
use crate::db_err;
use crate::vectors::to_blob;

pub(crate) const CONTEXT_COLS: &str = "c.id, c.project_id, c.content, c.content_hash, c.token_count, \
     c.source, c.file_path, c.parent_id, c.chunk_index, c.metadata, c.created_by, \
     c.accessed_count, c.last_accessed, c.created_at, c.updated_at";

pub(crate) fn ids_json(ids: &[Uuid]) -> String {
    serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>()).unwrap_or_default()
}

const INSERT_PASSAGE: &str = "INSERT INTO passages (context_id, project_id, start_byte, end_byte, \
     model, vector) VALUES (?, ?, ?, ?, ?, ?)";

/// Inserts one passage with a statement prepared from [`INSERT_PASSAGE`].
fn insert_passage_row(
    stmt: &mut rusqlite::CachedStatement<'_>,
    p: &PassageRecord,
) -> StoreResult<()> {
    stmt.execute(params![
        p.context_id.to_string(),
        p.project_id.to_string(),
        p.start as i64,
        p.end as i64,
        p.model,
        to_blob(&p.vector)
    ])
    .map_err(db_err)?;
    Ok(())
}

/// Inserts passages within the caller's transaction.
pub(crate) fn insert_passages(
    tx: &rusqlite::Transaction<'_>,
    passages: &[&PassageRecord],
) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(INSERT_PASSAGE).map_err(db_err)?;
    for p in passages {
        insert_passage_row(&mut stmt, p)?;
    }
    Ok(())
}

pub(crate) fn insert_contexts(
    c: &mut Connection,
    contexts: &[(ContextRecord, Vec<PassageRecord>)],
) -> StoreResult<()> {
    let tx = c.transaction().map_err(db_err)?;
    insert_rows(&tx, contexts)?;
    tx.commit().map_err(db_err)
}

/// Inserts contexts and their passages within the caller's transaction.
pub(crate) fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    contexts: &[(ContextRecord, Vec<PassageRecord>)],
) -> StoreResult<()> {
    {
        let mut insert_context = tx
            .prepare_cached(
                "INSERT INTO contexts (id, project_id, content, content_hash, token_count, source, \
                 file_path, parent_id, chunk_index, metadata, created_by, accessed_count, \
                 last_accessed, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(db_err)?;
        let mut insert_passage = tx.prepare_cached(INSERT_PASSAGE).map_err(db_err)?;
        for (ctx, passages) in contexts {
            insert_context
                .execute(params![
                    ctx.id.to_string(),
                    ctx.project_id.to_string(),
                    ctx.content,
                    ctx.content_hash,
                    ctx.token_count,
                    ctx.source,
                    ctx.file_path,
                    ctx.parent_id.map(|p| p.to_string()),
                    ctx.chunk_index,
                    ctx.metadata.to_string(),
                    ctx.created_by.to_string(),
                    ctx.accessed_count,
                    opt_ms(ctx.last_accessed),
                    ms(ctx.created_at),
                    ms(ctx.updated_at)
                ])
                .map_err(db_err)?;
            for p in passages {
                insert_passage_row(&mut insert_passage, p)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn context(row: &rusqlite::Row<'_>) -> StoreResult<ContextRecord> {
    let metadata: String = row.get("metadata").map_err(db_err)?;
    let uuid = |col: &str| -> StoreResult<Uuid> {
        let text: String = row.get(col).map_err(db_err)?;
        Uuid::parse_str(&text).map_err(|_| StoreError::database(format!("bad uuid in {col}")))
    };
    let parent: Option<String> = row.get("parent_id").map_err(db_err)?;
    Ok(ContextRecord {
        id: uuid("id")?,
        project_id: uuid("project_id")?,
        content: row.get("content").map_err(db_err)?,
        content_hash: row.get("content_hash").map_err(db_err)?,
        token_count: row.get("token_count").map_err(db_err)?,
        source: row.get("source").map_err(db_err)?,
        file_path: row.get("file_path").map_err(db_err)?,
        parent_id: parent
            .map(|p| Uuid::parse_str(&p).map_err(|_| StoreError::database("bad parent id")))
            .transpose()?,
        chunk_index: row.get("chunk_index").map_err(db_err)?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::database(format!("bad context metadata: {e}")))?,
        created_by: uuid("created_by")?,
        accessed_count: row.get("accessed_count").map_err(db_err)?,
        last_accessed: convert::get_opt_time(row, "last_accessed")?,
        created_at: convert::get_time(row, "created_at")?,
        updated_at: convert::get_time(row, "updated_at")?,
    })
}

pub(crate) fn context_by_id(c: &Connection, id: Uuid) -> StoreResult<Option<ContextRecord>> {
    let mut stmt = c
        .prepare_cached(&format!("SELECT {CONTEXT_COLS} FROM contexts c WHERE c.id = ?"))
        .map_err(db_err)?;
    convert::first(stmt.query([id.to_string()]).map_err(db_err)?, context)
}

pub(crate) fn contexts_by_ids(c: &Connection, ids: &[Uuid]) -> StoreResult<Vec<ContextRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {CONTEXT_COLS} FROM contexts c WHERE c.id IN (SELECT value FROM json_each(?))"
        ))
        .map_err(db_err)?;
    convert::collect(stmt.query([ids_json(ids)]).map_err(db_err)?, context)
}

/// Deletes a context and its chunks; returns the project and the ids deleted (empty if none).
pub(crate) fn delete_context(
    c: &mut Connection,
    id: Uuid,
) -> StoreResult<Option<(Uuid, Vec<Uuid>)>> {
    let tx = c.transaction().map_err(db_err)?;
    let found = {
        let mut stmt = tx
            .prepare_cached("SELECT id, project_id FROM contexts WHERE id = ?1 OR parent_id = ?1")
            .map_err(db_err)?;
        convert::collect(stmt.query([id.to_string()]).map_err(db_err)?, |r| {
            let id: String = r.get(0).map_err(db_err)?;
            let project: String = r.get(1).map_err(db_err)?;
            let parse = |s: &str| Uuid::parse_str(s).map_err(|_| StoreError::database("bad uuid"));
            Ok((parse(&id)?, parse(&project)?))
        })?
    };
    let Some(&(_, project_id)) = found.first() else {
        return Ok(None);
    };
    // Chunks and passages go by cascade.
    tx.execute("DELETE FROM contexts WHERE id = ?", [id.to_string()]).map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(Some((project_id, found.into_iter().map(|(id, _)| id).collect())))
}

pub(crate) fn list_contexts(
    c: &Connection,
    project_id: Uuid,
    filter: &ContextFilter,
    page: Page,
) -> StoreResult<Vec<ContextRecord>> {
    let mut conditions = vec!["c.project_id = ?".to_string()];
    let mut values: Vec<String> = vec![project_id.to_string()];
    if let Some(source) = &filter.source {
        conditions.push("c.source = ?".into());
        values.push(source.clone());
    }
    if let Some(prefix) = &filter.file_path_prefix {
        conditions.push("c.file_path LIKE ? ESCAPE '\\'".into());
        let escaped = prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        values.push(format!("{escaped}%"));
    }
    if let Some(tag) = &filter.tag {
        conditions.push(
            "EXISTS (SELECT 1 FROM json_each(c.metadata, '$.tags') t WHERE t.value = ?)".into(),
        );
        values.push(tag.clone());
    }
    if let Some(before) = page.before {
        conditions.push("c.id < ?".into());
        values.push(before.to_string());
    }
    // LIMIT is part of the text: a bound LIMIT makes SQLite recompile the statement.
    let sql = format!(
        "SELECT {CONTEXT_COLS} FROM contexts c WHERE {} ORDER BY c.id DESC LIMIT {}",
        conditions.join(" AND "),
        page.limit
    );
    let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
    let rows = stmt.query(rusqlite::params_from_iter(values.iter())).map_err(db_err)?;
    convert::collect(rows, context)
}

pub(crate) fn record_access(
    c: &mut Connection,
    accesses: &[(Uuid, DateTime<Utc>)],
) -> StoreResult<()> {
    let tx = c.transaction().map_err(db_err)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE contexts SET accessed_count = accessed_count + 1, \
                 last_accessed = MAX(COALESCE(last_accessed, 0), ?) WHERE id = ?",
            )
            .map_err(db_err)?;
        for (id, at) in accesses {
            stmt.execute(params![ms(*at), id.to_string()]).map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

pub(crate) fn context_insights(
    c: &Connection,
    project_ids: &[Uuid],
    top: usize,
) -> StoreResult<ContextInsights> {
    let ids = ids_json(project_ids);
    let (contexts, tokens, text_bytes): (i64, i64, i64) = c
        .query_row(
            "SELECT count(*) FILTER (WHERE parent_id IS NULL), \
             COALESCE(sum(token_count) FILTER (WHERE parent_id IS NULL), 0), \
             COALESCE(sum(length(CAST(content AS BLOB))), 0) \
             FROM contexts WHERE project_id IN (SELECT value FROM json_each(?))",
            [&ids],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(db_err)?;
    let vector_bytes: i64 = c
        .query_row(
            "SELECT COALESCE(sum(length(vector)), 0) FROM passages \
             WHERE project_id IN (SELECT value FROM json_each(?))",
            [&ids],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {CONTEXT_COLS} FROM contexts c \
             WHERE c.project_id IN (SELECT value FROM json_each(?)) AND c.accessed_count > 0 \
             ORDER BY c.accessed_count DESC, c.id LIMIT {top}"
        ))
        .map_err(db_err)?;
    let most_accessed = convert::collect(stmt.query([&ids]).map_err(db_err)?, context)?;
    Ok(ContextInsights {
        contexts,
        tokens,
        storage_bytes: text_bytes + vector_bytes,
        most_accessed,
    })
}

#[async_trait::async_trait]
impl tc_store::ContextStore for crate::SqliteStore {
    async fn insert_contexts(
        &self,
        contexts: &[(tc_store::ContextRecord, Vec<tc_store::PassageRecord>)],
    ) -> tc_store::StoreResult<()> {
        let owned = contexts.to_vec();
        let store = self.clone();
        self.write(move |c| {
            insert_contexts(c, &owned)?;
            // Indexed only after the commit, so a failed insert leaves no vector behind.
            for (_, passages) in &owned {
                store.inner.vectors.insert(passages);
            }
            Ok(())
        })
        .await
    }
    async fn context_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::ContextRecord>> {
        self.read(|c| context_by_id(c, id))
    }
    async fn contexts_by_ids(
        &self,
        ids: &[uuid::Uuid],
    ) -> tc_store::StoreResult<Vec<tc_store::ContextRecord>> {
        self.read(|c| contexts_by_ids(c, ids))
    }
    async fn delete_context(&self, id: uuid::Uuid) -> tc_store::StoreResult<u64> {
        let store = self.clone();
        self.write(move |c| match delete_context(c, id)? {
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
    ) -> tc_store::StoreResult<Vec<tc_store::ContextRecord>> {
        self.read(|c| list_contexts(c, project_id, filter, page))
    }
    async fn record_context_access(
        &self,
        accesses: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> tc_store::StoreResult<()> {
        let accesses = accesses.to_vec();
        self.write(move |c| record_access(c, &accesses)).await
    }
    async fn context_insights(
        &self,
        project_ids: &[uuid::Uuid],
        top: usize,
    ) -> tc_store::StoreResult<tc_store::ContextInsights> {
        let ids = project_ids.to_vec();
        self.read_blocking(move |c| context_insights(c, &ids, top)).await
    }
}
