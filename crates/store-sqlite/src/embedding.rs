//! The embedding backlog in SQLite: contexts without passages from the current model, adding
//! their passages once, dropping other models' passages, and project descriptions to embed.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use tc_store::{ContextRecord, PassageRecord, StoreResult};
use uuid::Uuid;

use crate::contexts::{CONTEXT_COLS, context, insert_passages};
use crate::convert::{get, get_uuid};
use crate::db_err;

/// Contexts that should have passages from `?1`: not a parent of chunks, and without them.
const BACKLOG: &str = "NOT EXISTS (SELECT 1 FROM passages p WHERE p.context_id = c.id \
     AND p.model = ?1) AND NOT EXISTS (SELECT 1 FROM contexts ch WHERE ch.parent_id = c.id)";

fn backlog(c: &Connection, model: &str) -> StoreResult<u64> {
    let sql = format!("SELECT count(*) FROM contexts c WHERE {BACKLOG}");
    let n: i64 = c.query_row(&sql, [model], |r| r.get(0)).map_err(db_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn contexts_to_embed(
    c: &Connection,
    model: &str,
    after: Option<Uuid>,
    limit: usize,
) -> StoreResult<Vec<ContextRecord>> {
    let sql = format!(
        "SELECT {CONTEXT_COLS} FROM contexts c WHERE c.id > ?2 AND {BACKLOG} ORDER BY c.id LIMIT ?3"
    );
    let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
    // Ids are lower-case UUID text, which sorts as the UUIDs do; "" is below every id.
    let after = after.map(|id| id.to_string()).unwrap_or_default();
    let rows = stmt.query(params![model, after, limit as i64]).map_err(db_err)?;
    crate::convert::collect(rows, context)
}

/// Inserts the passages of each context that exists and has none from their model yet;
/// returns the passages stored, for the vector index.
fn add_passages(c: &mut Connection, passages: &[PassageRecord]) -> StoreResult<Vec<PassageRecord>> {
    let mut by_context: BTreeMap<Uuid, Vec<&PassageRecord>> = BTreeMap::new();
    for p in passages {
        by_context.entry(p.context_id).or_default().push(p);
    }
    let tx = c.transaction().map_err(db_err)?;
    let mut stored = Vec::new();
    {
        let mut exists =
            tx.prepare_cached("SELECT 1 FROM contexts WHERE id = ?").map_err(db_err)?;
        let mut has = tx
            .prepare_cached("SELECT 1 FROM passages WHERE context_id = ?1 AND model = ?2 LIMIT 1")
            .map_err(db_err)?;
        for (id, group) in by_context {
            let id_text = id.to_string();
            let present = exists.query_row([&id_text], |_| Ok(())).optional().map_err(db_err)?;
            let model = &group[0].model;
            let done = has.query_row(params![id_text, model], |_| Ok(())).optional();
            if present.is_none() || done.map_err(db_err)?.is_some() {
                continue;
            }
            stored.extend(group);
        }
    }
    insert_passages(&tx, &stored)?;
    tx.commit().map_err(db_err)?;
    Ok(stored.into_iter().cloned().collect())
}

fn descriptions_to_embed(c: &Connection, model: &str) -> StoreResult<Vec<(Uuid, String)>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, description FROM projects WHERE deleted_at IS NULL AND description <> '' \
             AND (description_model IS NULL OR description_model <> ?1) ORDER BY id",
        )
        .map_err(db_err)?;
    let rows = stmt.query([model]).map_err(db_err)?;
    crate::convert::collect(rows, |r| Ok((get_uuid(r, "id")?, get(r, "description")?)))
}

#[async_trait::async_trait]
impl tc_store::EmbeddingStore for crate::SqliteStore {
    async fn embedding_backlog(&self, model: &str) -> StoreResult<u64> {
        let model = model.to_string();
        self.read_blocking(move |c| backlog(c, &model)).await
    }
    async fn contexts_to_embed(
        &self,
        model: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<ContextRecord>> {
        let model = model.to_string();
        self.read_blocking(move |c| contexts_to_embed(c, &model, after, limit)).await
    }
    async fn add_passages(&self, passages: &[PassageRecord]) -> StoreResult<u64> {
        let passages = passages.to_vec();
        let store = self.clone();
        self.write(move |c| {
            let stored = add_passages(c, &passages)?;
            // Indexed after the commit, so a failed insert leaves no vector behind.
            store.inner.vectors.insert(&stored);
            let contexts: std::collections::HashSet<Uuid> =
                stored.iter().map(|p| p.context_id).collect();
            Ok(contexts.len() as u64)
        })
        .await
    }
    async fn delete_passages_of_other_models(&self, model: &str) -> StoreResult<u64> {
        let model = model.to_string();
        let store = self.clone();
        self.write(move |c| {
            let n = c.execute("DELETE FROM passages WHERE model <> ?", [&model]).map_err(db_err)?;
            store.inner.vectors.retain_model(&model);
            Ok(n as u64)
        })
        .await
    }
    async fn descriptions_to_embed(&self, model: &str) -> StoreResult<Vec<(Uuid, String)>> {
        let model = model.to_string();
        self.read_blocking(move |c| descriptions_to_embed(c, &model)).await
    }
}
