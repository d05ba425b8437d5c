//! Contexts, their passages, scanned files and context insights in PostgreSQL. Batches are
//! written with one `INSERT … SELECT FROM unnest(…)` per table, so a scan's file of a hundred
//! chunks is two statements, not two hundred round trips.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use pgvector::Vector;
use tc_store::{
    ContextFilter, ContextInsights, ContextRecord, IndexedItem, Page, PassageRecord, StoreResult,
};
use uuid::Uuid;

use crate::db::{self, client};
use crate::db_err;
use crate::rows::{self, CONTEXT_COLS};

/// Inserts contexts and their passages within the caller's transaction. A chunk may come before
/// its parent in the batch: foreign keys are checked at the end of each statement.
pub(crate) async fn insert_rows(
    tx: &impl GenericClient,
    contexts: &[(ContextRecord, Vec<PassageRecord>)],
) -> StoreResult<()> {
    if contexts.is_empty() {
        return Ok(());
    }
    let c: Vec<&ContextRecord> = contexts.iter().map(|(c, _)| c).collect();
    db::execute(
        tx,
        "INSERT INTO contexts (id, project_id, content, content_hash, token_count, source, \
         file_path, parent_id, chunk_index, metadata, created_by, accessed_count, last_accessed, \
         created_at, updated_at) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], \
         $6::text[], $7::text[], $8::uuid[], $9::bigint[], $10::jsonb[], $11::uuid[], \
         $12::bigint[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[])",
        &[
            &c.iter().map(|c| c.id).collect::<Vec<_>>(),
            &c.iter().map(|c| c.project_id).collect::<Vec<_>>(),
            &c.iter().map(|c| c.content.as_str()).collect::<Vec<_>>(),
            &c.iter().map(|c| c.content_hash.as_str()).collect::<Vec<_>>(),
            &c.iter().map(|c| c.token_count).collect::<Vec<_>>(),
            &c.iter().map(|c| c.source.as_str()).collect::<Vec<_>>(),
            &c.iter().map(|c| c.file_path.as_deref()).collect::<Vec<_>>(),
            &c.iter().map(|c| c.parent_id).collect::<Vec<_>>(),
            &c.iter().map(|c| c.chunk_index).collect::<Vec<_>>(),
            &c.iter().map(|c| &c.metadata).collect::<Vec<_>>(),
            &c.iter().map(|c| c.created_by).collect::<Vec<_>>(),
            &c.iter().map(|c| c.accessed_count).collect::<Vec<_>>(),
            &c.iter().map(|c| c.last_accessed).collect::<Vec<_>>(),
            &c.iter().map(|c| c.created_at).collect::<Vec<_>>(),
            &c.iter().map(|c| c.updated_at).collect::<Vec<_>>(),
        ],
    )
    .await?;

    let p: Vec<&PassageRecord> = contexts.iter().flat_map(|(_, p)| p).collect();
    insert_passages(tx, &p).await
}

/// Inserts passages within the caller's transaction, in one statement.
pub(crate) async fn insert_passages(
    tx: &impl GenericClient,
    p: &[&PassageRecord],
) -> StoreResult<()> {
    if p.is_empty() {
        return Ok(());
    }
    let offset = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    db::execute(
        tx,
        "INSERT INTO passages (context_id, project_id, start_byte, end_byte, model, dim, vector) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::text[], \
         $6::int[], $7::vector[])",
        &[
            &p.iter().map(|p| p.context_id).collect::<Vec<_>>(),
            &p.iter().map(|p| p.project_id).collect::<Vec<_>>(),
            &p.iter().map(|p| offset(p.start)).collect::<Vec<_>>(),
            &p.iter().map(|p| offset(p.end)).collect::<Vec<_>>(),
            &p.iter().map(|p| p.model.as_str()).collect::<Vec<_>>(),
            &p.iter().map(|p| crate::search::dim(&p.vector)).collect::<Vec<_>>(),
            &p.iter().map(|p| Vector::from(p.vector.clone())).collect::<Vec<_>>(),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn context_by_id(pool: &Pool, id: Uuid) -> StoreResult<Option<ContextRecord>> {
    let sql = format!("SELECT {CONTEXT_COLS} FROM contexts c WHERE c.id = $1");
    let row = db::query_opt(&client(pool).await?, &sql, &[&id]).await?;
    row.as_ref().map(rows::context).transpose()
}

pub(crate) async fn contexts_by_ids(pool: &Pool, ids: &[Uuid]) -> StoreResult<Vec<ContextRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {CONTEXT_COLS} FROM contexts c WHERE c.id = ANY($1)");
    rows::all(db::query(&client(pool).await?, &sql, &[&ids]).await?, rows::context)
}

pub(crate) async fn delete_context(pool: &Pool, id: Uuid) -> StoreResult<u64> {
    // The count includes the chunks, which go (with every passage) by cascade.
    let row = db::query_one(
        &client(pool).await?,
        "WITH doomed AS (SELECT count(*) AS n FROM contexts WHERE id = $1 OR parent_id = $1), \
              deleted AS (DELETE FROM contexts WHERE id = $1 RETURNING id) \
         SELECT CASE WHEN EXISTS (SELECT 1 FROM deleted) THEN (SELECT n FROM doomed) ELSE 0 END \
         AS gone",
        &[&id],
    )
    .await?;
    let gone: i64 = rows::get(&row, "gone")?;
    Ok(u64::try_from(gone).unwrap_or(0))
}

pub(crate) async fn list_contexts(
    pool: &Pool,
    project_id: Uuid,
    filter: &ContextFilter,
    page: Page,
) -> StoreResult<Vec<ContextRecord>> {
    let prefix = filter.file_path_prefix.as_ref().map(|prefix| {
        let escaped = prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("{escaped}%")
    });
    let sql = format!(
        "SELECT {CONTEXT_COLS} FROM contexts c WHERE c.project_id = $1 \
         AND ($2::text IS NULL OR c.source = $2) \
         AND ($3::text IS NULL OR c.file_path LIKE $3) \
         AND ($4::text IS NULL OR c.metadata -> 'tags' ? $4) \
         AND ($5::uuid IS NULL OR c.id < $5) \
         ORDER BY c.id DESC LIMIT $6"
    );
    let found = db::query(
        &client(pool).await?,
        &sql,
        &[&project_id, &filter.source, &prefix, &filter.tag, &page.before, &i64::from(page.limit)],
    )
    .await?;
    rows::all(found, rows::context)
}

pub(crate) async fn record_access(
    pool: &Pool,
    accesses: &[(Uuid, DateTime<Utc>)],
) -> StoreResult<()> {
    if accesses.is_empty() {
        return Ok(());
    }
    let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = accesses.iter().copied().unzip();
    // Each entry is one access; a context accessed twice in the batch counts two.
    db::execute(
        &client(pool).await?,
        "UPDATE contexts c SET accessed_count = c.accessed_count + a.n, \
         last_accessed = GREATEST(c.last_accessed, a.at) \
         FROM (SELECT id, count(*) AS n, max(at) AS at \
               FROM unnest($1::uuid[], $2::timestamptz[]) AS t (id, at) GROUP BY id) a \
         WHERE c.id = a.id",
        &[&ids, &times],
    )
    .await?;
    Ok(())
}

pub(crate) async fn indexed_items(
    pool: &Pool,
    project_id: Uuid,
    source: &str,
) -> StoreResult<Vec<IndexedItem>> {
    let found = db::query(
        &client(pool).await?,
        "SELECT file_path, content_hash FROM indexed_items WHERE project_id = $1 AND source = $2",
        &[&project_id, &source],
    )
    .await?;
    rows::all(found, |r| {
        Ok(IndexedItem {
            file_path: rows::get(r, "file_path")?,
            content_hash: rows::get(r, "content_hash")?,
        })
    })
}

/// Deletes the contexts of `paths` of `source` (chunks and passages by cascade) within the
/// transaction; returns how many.
async fn delete_item_contexts(
    tx: &impl GenericClient,
    project_id: Uuid,
    source: &str,
    paths: &[String],
) -> StoreResult<u64> {
    db::execute(
        tx,
        "DELETE FROM contexts WHERE project_id = $1 AND source = $2 AND file_path = ANY($3)",
        &[&project_id, &source, &paths],
    )
    .await
}

pub(crate) async fn replace_indexed_item(
    pool: &Pool,
    project_id: Uuid,
    source: &str,
    item: &IndexedItem,
    contexts: &[(ContextRecord, Vec<PassageRecord>)],
) -> StoreResult<u64> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    let removed =
        delete_item_contexts(&tx, project_id, source, std::slice::from_ref(&item.file_path))
            .await?;
    insert_rows(&tx, contexts).await?;
    db::execute(
        &tx,
        "INSERT INTO indexed_items (project_id, source, file_path, content_hash) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, source, file_path) \
         DO UPDATE SET content_hash = excluded.content_hash",
        &[&project_id, &source, &item.file_path, &item.content_hash],
    )
    .await?;
    tx.commit().await.map_err(db_err)?;
    Ok(removed)
}

pub(crate) async fn remove_indexed_items(
    pool: &Pool,
    project_id: Uuid,
    source: &str,
    paths: &[String],
) -> StoreResult<u64> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    let removed = delete_item_contexts(&tx, project_id, source, paths).await?;
    db::execute(
        &tx,
        "DELETE FROM indexed_items WHERE project_id = $1 AND source = $2 AND file_path = ANY($3)",
        &[&project_id, &source, &paths],
    )
    .await?;
    tx.commit().await.map_err(db_err)?;
    Ok(removed)
}

pub(crate) async fn context_insights(
    pool: &Pool,
    project_ids: &[Uuid],
    top: usize,
) -> StoreResult<ContextInsights> {
    let c = client(pool).await?;
    // Chunked children count with their parent; storage is the text plus 4 bytes a dimension.
    let totals = db::query_one(
        &c,
        "SELECT count(*) FILTER (WHERE parent_id IS NULL) AS contexts, \
         COALESCE(sum(token_count) FILTER (WHERE parent_id IS NULL), 0)::bigint AS tokens, \
         COALESCE(sum(octet_length(content)), 0)::bigint AS text_bytes \
         FROM contexts WHERE project_id = ANY($1)",
        &[&project_ids],
    )
    .await?;
    let vectors = db::query_one(
        &c,
        "SELECT COALESCE(sum(dim::bigint * 4), 0)::bigint AS bytes FROM passages \
         WHERE project_id = ANY($1)",
        &[&project_ids],
    )
    .await?;
    let sql = format!(
        "SELECT {CONTEXT_COLS} FROM contexts c \
         WHERE c.project_id = ANY($1) AND c.accessed_count > 0 \
         ORDER BY c.accessed_count DESC, c.id LIMIT $2"
    );
    let top = i64::try_from(top).unwrap_or(i64::MAX);
    let found = db::query(&c, &sql, &[&project_ids, &top]).await?;
    let text_bytes: i64 = rows::get(&totals, "text_bytes")?;
    let vector_bytes: i64 = rows::get(&vectors, "bytes")?;
    Ok(ContextInsights {
        contexts: rows::get(&totals, "contexts")?,
        tokens: rows::get(&totals, "tokens")?,
        storage_bytes: text_bytes + vector_bytes,
        most_accessed: rows::all(found, rows::context)?,
    })
}

#[async_trait::async_trait]
impl tc_store::ContextStore for crate::PgStore {
    async fn insert_contexts(
        &self,
        contexts: &[(tc_store::ContextRecord, Vec<tc_store::PassageRecord>)],
    ) -> tc_store::StoreResult<()> {
        crate::search::ensure_indexes(
            &self.pool,
            &self.indexed_dims,
            contexts.iter().flat_map(|(_, p)| p),
        )
        .await?;
        let mut client = self.pool.get().await.map_err(crate::pool_err)?;
        let tx = client.transaction().await.map_err(crate::db_err)?;
        insert_rows(&tx, contexts).await?;
        tx.commit().await.map_err(crate::db_err)
    }
    async fn context_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::ContextRecord>> {
        context_by_id(&self.pool, id).await
    }
    async fn contexts_by_ids(
        &self,
        ids: &[uuid::Uuid],
    ) -> tc_store::StoreResult<Vec<tc_store::ContextRecord>> {
        contexts_by_ids(&self.pool, ids).await
    }
    async fn delete_context(&self, id: uuid::Uuid) -> tc_store::StoreResult<u64> {
        delete_context(&self.pool, id).await
    }
    async fn list_contexts(
        &self,
        project_id: uuid::Uuid,
        filter: &tc_store::ContextFilter,
        page: tc_store::Page,
    ) -> tc_store::StoreResult<Vec<tc_store::ContextRecord>> {
        list_contexts(&self.pool, project_id, filter, page).await
    }
    async fn record_context_access(
        &self,
        accesses: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)],
    ) -> tc_store::StoreResult<()> {
        record_access(&self.pool, accesses).await
    }
    async fn context_insights(
        &self,
        project_ids: &[uuid::Uuid],
        top: usize,
    ) -> tc_store::StoreResult<tc_store::ContextInsights> {
        context_insights(&self.pool, project_ids, top).await
    }
}

#[async_trait::async_trait]
impl tc_store::IndexedItemStore for crate::PgStore {
    async fn indexed_items(&self, project_id: Uuid, source: &str) -> StoreResult<Vec<IndexedItem>> {
        indexed_items(&self.pool, project_id, source).await
    }
    async fn replace_indexed_item(
        &self,
        project_id: Uuid,
        source: &str,
        item: &IndexedItem,
        contexts: &[(ContextRecord, Vec<PassageRecord>)],
    ) -> StoreResult<u64> {
        crate::search::ensure_indexes(
            &self.pool,
            &self.indexed_dims,
            contexts.iter().flat_map(|(_, p)| p),
        )
        .await?;
        replace_indexed_item(&self.pool, project_id, source, item, contexts).await
    }
    async fn remove_indexed_items(
        &self,
        project_id: Uuid,
        source: &str,
        paths: &[String],
    ) -> StoreResult<u64> {
        remove_indexed_items(&self.pool, project_id, source, paths).await
    }
}
