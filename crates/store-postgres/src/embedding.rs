//! The embedding backlog in PostgreSQL: contexts without passages from the current model,
//! adding their passages once, dropping other models' passages, and project descriptions to
//! embed (in step with the SQLite store's `embedding` module).

use std::collections::HashSet;

use tc_store::{ContextRecord, PassageRecord, StoreResult};
use uuid::Uuid;

use crate::contexts::insert_passages;
use crate::db::{self, client};
use crate::rows::{self, CONTEXT_COLS};

/// Contexts that should have passages from `$1`: not a parent of chunks, and without them.
const BACKLOG: &str = "NOT EXISTS (SELECT 1 FROM passages p WHERE p.context_id = c.id \
     AND p.model = $1) AND NOT EXISTS (SELECT 1 FROM contexts ch WHERE ch.parent_id = c.id)";

#[async_trait::async_trait]
impl tc_store::EmbeddingStore for crate::PgStore {
    async fn embedding_backlog(&self, model: &str) -> StoreResult<u64> {
        let sql = format!("SELECT count(*) AS n FROM contexts c WHERE {BACKLOG}");
        let row = db::query_one(&client(&self.pool).await?, &sql, &[&model]).await?;
        let n: i64 = rows::get(&row, "n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn contexts_to_embed(
        &self,
        model: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<ContextRecord>> {
        let sql = format!(
            "SELECT {CONTEXT_COLS} FROM contexts c WHERE c.id > $2 AND {BACKLOG} \
             ORDER BY c.id LIMIT $3"
        );
        let after = after.unwrap_or(Uuid::nil());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found = db::query(&client(&self.pool).await?, &sql, &[&model, &after, &limit]).await?;
        rows::all(found, rows::context)
    }

    async fn add_passages(&self, passages: &[PassageRecord]) -> StoreResult<u64> {
        if passages.is_empty() {
            return Ok(0);
        }
        crate::search::ensure_indexes(&self.pool, &self.indexed_dims, passages.iter()).await?;
        let ids: Vec<Uuid> =
            passages.iter().map(|p| p.context_id).collect::<HashSet<_>>().into_iter().collect();
        let mut client = self.pool.get().await.map_err(crate::pool_err)?;
        let tx = client.transaction().await.map_err(crate::db_err)?;
        // Locking the contexts makes two workers adding passages to one context take turns,
        // so the second sees the first's passages and adds none.
        let present = db::query(
            &tx,
            "SELECT id FROM contexts WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[&ids],
        )
        .await?;
        let present: HashSet<Uuid> =
            present.iter().map(|r| rows::get(r, "id")).collect::<StoreResult<_>>()?;
        let done = db::query(
            &tx,
            "SELECT DISTINCT context_id, model FROM passages WHERE context_id = ANY($1)",
            &[&ids],
        )
        .await?;
        let done: HashSet<(Uuid, String)> = done
            .iter()
            .map(|r| Ok((rows::get(r, "context_id")?, rows::get(r, "model")?)))
            .collect::<StoreResult<_>>()?;
        let kept: Vec<&PassageRecord> = passages
            .iter()
            .filter(|p| {
                present.contains(&p.context_id) && !done.contains(&(p.context_id, p.model.clone()))
            })
            .collect();
        insert_passages(&tx, &kept).await?;
        tx.commit().await.map_err(crate::db_err)?;
        Ok(kept.iter().map(|p| p.context_id).collect::<HashSet<_>>().len() as u64)
    }

    async fn delete_passages_of_other_models(&self, model: &str) -> StoreResult<u64> {
        let c = client(&self.pool).await?;
        db::execute(&c, "DELETE FROM passages WHERE model <> $1", &[&model]).await
    }

    async fn descriptions_to_embed(&self, model: &str) -> StoreResult<Vec<(Uuid, String)>> {
        let found = db::query(
            &client(&self.pool).await?,
            "SELECT id, description FROM projects WHERE deleted_at IS NULL AND description <> '' \
             AND (description_model IS NULL OR description_model <> $1) ORDER BY id",
            &[&model],
        )
        .await?;
        found.iter().map(|r| Ok((rows::get(r, "id")?, rows::get(r, "description")?))).collect()
    }
}
