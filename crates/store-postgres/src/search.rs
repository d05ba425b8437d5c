//! Vector and keyword search in PostgreSQL.
//!
//! Vectors: `passages.vector` has no fixed dimension (the embedding provider decides it), so each
//! dimension in use gets a partial HNSW index over `vector::halfvec(dim)` with cosine distance,
//! created the first time vectors of that dimension are stored. The graph holds its vectors at
//! half precision: half the pages to read per step of a search, room in memory for twice the
//! passages, and dimensions up to 4,000 (pgvector indexes full-precision vectors only up to
//! 2,000, less than some hosted embedding models produce). The graph only chooses candidates:
//! their distances are computed again from the stored full-precision vectors. A search asks for
//! the nearest passages inside the project filter with `hnsw.iterative_scan`, which keeps
//! walking the graph until enough rows pass the filter (without it, a 1% filter would keep 1% of
//! `ef_search` candidates). A small filtered set is ranked exactly instead: the planner reads it
//! through the project index and sorts, which beats walking a graph whose nodes are mostly
//! filtered out. The set's size comes from `passage_counts`, which triggers keep (migration 6),
//! and decides the plan: the planner's own estimate is not trusted with it.
//!
//! Keywords: the generated `tsvector` (English stemming, stopwords dropped) matched against the
//! query's words OR-ed, ranked by `ts_rank_cd`.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};

use deadpool_postgres::{GenericClient, Pool};
use pgvector::Vector;
use tc_store::{KeywordHit, PassageRecord, StoreResult, VectorHit};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::db::{self, client};
use crate::{db_err, rows};

/// Candidates the graph search keeps per query (`hnsw.ef_search`) unless the store is told
/// otherwise ([`crate::PgStore::set_ef_search`]); raised to the number of passages asked for
/// when that is larger.
pub(crate) const EF_SEARCH: usize = 200;

/// The graph's build parameters. Denser than pgvector's defaults (m 16, ef_construction 64),
/// which reached recall@10 0.89 on the 1M benchmark (docs/benchmarks.md) whatever the
/// `ef_search`: the defaults' graph does not reach every neighbour.
const HNSW_PARAMETERS: &str = "m = 24, ef_construction = 128";

/// The statement creating the HNSW index for vectors of dimension `d`. (Migration 7 dropped
/// the full-precision indexes, named `passages_hnsw_{d}`, that came before.)
/// The partial HNSW index over the passages of one vector dimension.
pub fn vector_index_sql(d: i32) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS passages_hnsw_half_{d} ON passages \
         USING hnsw ((vector::halfvec({d})) halfvec_cosine_ops) WITH ({HNSW_PARAMETERS}) \
         WHERE dim = {d}"
    )
}

/// Filtered sets up to this many passages are ranked exactly.
const EXACT_MAX_PASSAGES: i64 = 20_000;

pub(crate) fn dim(vector: &[f32]) -> i32 {
    i32::try_from(vector.len()).unwrap_or(i32::MAX)
}

/// Creates the HNSW index for every vector dimension in `contexts` that has none yet. Runs
/// before the insert's transaction: building an index on an empty dimension is instant, and
/// `IF NOT EXISTS` plus the error check make concurrent replicas safe.
pub(crate) async fn ensure_indexes<'a>(
    pool: &Pool,
    known: &Mutex<HashSet<i32>>,
    passages: impl Iterator<Item = &'a PassageRecord>,
) -> StoreResult<()> {
    let dims: HashSet<i32> = passages.map(|p| dim(&p.vector)).collect();
    for d in dims {
        if known.lock().contains(&d) {
            continue;
        }
        let c = client(pool).await?;
        let created = c.batch_execute(&vector_index_sql(d)).await;
        if let Err(e) = created {
            // Another replica created it between our check and our statement.
            let raced = e.code().is_some_and(|code| {
                *code == SqlState::DUPLICATE_TABLE || *code == SqlState::UNIQUE_VIOLATION
            });
            if !raced {
                return Err(db_err(e));
            }
        }
        known.lock().insert(d);
    }
    Ok(())
}

/// Creates the HNSW index of every dimension with stored passages that has none yet: after
/// migration 7 dropped the full-precision indexes, or when an operator dropped one. Runs under
/// the migration lock at start, so one replica builds while the others wait. Only missing
/// indexes get a `CREATE INDEX`: even one that finds its index in place first takes a lock on
/// `passages` that holds writes back, which every start need not do.
pub(crate) async fn index_stored_dims(c: &impl GenericClient) -> StoreResult<()> {
    let dims = db::query(
        c,
        "SELECT DISTINCT dim FROM passage_counts \
         WHERE n > 0 AND to_regclass(format('passages_hnsw_half_%s', dim)) IS NULL",
        &[],
    )
    .await?;
    for row in dims {
        let d: i32 = rows::get(&row, "dim")?;
        c.batch_execute(&vector_index_sql(d)).await.map_err(db_err)?;
    }
    Ok(())
}

fn to_usize(v: i64) -> usize {
    usize::try_from(v).unwrap_or(0)
}

/// Keeps each context's best passage, best first, at most `limit`.
fn best_per_context(rows: Vec<VectorHit>, limit: usize) -> Vec<VectorHit> {
    let mut best: HashMap<Uuid, VectorHit> = HashMap::new();
    for hit in rows {
        match best.get(&hit.context_id) {
            Some(kept) if kept.similarity >= hit.similarity => {}
            _ => {
                best.insert(hit.context_id, hit);
            }
        }
    }
    let mut hits: Vec<VectorHit> = best.into_values().collect();
    hits.sort_by(|a, b| {
        b.similarity.total_cmp(&a.similarity).then(a.context_id.cmp(&b.context_id))
    });
    hits.truncate(limit);
    hits
}

fn hit(r: &Row) -> StoreResult<VectorHit> {
    let distance: f64 = rows::get(r, "distance")?;
    Ok(VectorHit {
        context_id: rows::get(r, "context_id")?,
        start: to_usize(rows::get(r, "start_byte")?),
        end: to_usize(rows::get(r, "end_byte")?),
        similarity: (1.0 - distance) as f32,
    })
}

pub(crate) async fn vector_search(
    pool: &Pool,
    query: &[f32],
    model: &str,
    project_ids: &[Uuid],
    limit: usize,
    ef_search: usize,
) -> StoreResult<Vec<VectorHit>> {
    if project_ids.is_empty() || limit == 0 || query.is_empty() {
        return Ok(Vec::new());
    }
    let d = dim(query);
    let mut c = client(pool).await?;
    // Settings below are LOCAL to this transaction, so the pooled connection comes back clean.
    let tx = c.transaction().await.map_err(db_err)?;
    // The size of the filtered set, from the trigger-kept counts (migration V6).
    let counted = db::query_one(
        &tx,
        "SELECT coalesce(sum(n), 0)::bigint AS n FROM passage_counts \
         WHERE project_id = ANY($1) AND model = $2 AND dim = $3",
        &[&project_ids, &model, &d],
    )
    .await?;
    let filtered: i64 = rows::get(&counted, "n")?;
    if filtered == 0 {
        return Ok(Vec::new());
    }
    let exact = filtered <= EXACT_MAX_PASSAGES;
    // Exact ranking orders by the full-precision distance, which no index serves; the graph
    // search orders by the half-precision one its index holds.
    let order = if exact {
        "distance".to_owned()
    } else {
        format!("vector::halfvec({d}) <=> $1::vector({d})::halfvec({d})")
    };
    let sql = format!(
        "SELECT context_id, start_byte, end_byte, \
         (vector::vector({d}) <=> $1::vector({d}))::float8 AS distance \
         FROM passages WHERE project_id = ANY($2) AND model = $3 AND dim = {d} \
         ORDER BY {order} LIMIT $4"
    );
    let query = Vector::from(query.to_vec());
    // Passages to fetch: a context may have several among the nearest, so ask for more than
    // `limit` and ask again with more if the distinct contexts fall short.
    let mut want = limit * 4;
    loop {
        if !exact {
            let ef = want.max(ef_search).min(1000);
            // `enable_sort = off` holds the planner to the graph, the only plan that yields rows
            // in distance order without a sort. Left to its statistics it may read the filtered
            // set through the project index and sort it instead: a table not yet analysed (a
            // project just scanned in, before autovacuum gets to it) is estimated at a row or
            // two. That plan reads and sorts the whole set: 7.8 ms against 2.1 through the graph
            // for 23,000 passages of 32 dimensions, and it grows with the set and the dimension.
            // The counts above already say the set is large.
            tx.batch_execute(&format!(
                "SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = relaxed_order; \
                 SET LOCAL enable_sort = off"
            ))
            .await
            .map_err(db_err)?;
        }
        let wanted = i64::try_from(want).unwrap_or(i64::MAX);
        let found = db::query(&tx, &sql, &[&query, &project_ids, &model, &wanted]).await?;
        let fetched = found.len();
        let hits = best_per_context(rows::all(found, hit)?, limit);
        // Done when enough contexts were found, or every matching passage was seen.
        if hits.len() >= limit || fetched < want || wanted >= filtered {
            tx.commit().await.map_err(db_err)?;
            return Ok(hits);
        }
        want *= 4;
    }
}

pub(crate) async fn passage_similarities(
    pool: &Pool,
    query: &[f32],
    model: &str,
    context_ids: &[Uuid],
) -> StoreResult<Vec<VectorHit>> {
    if context_ids.is_empty() || query.is_empty() {
        return Ok(Vec::new());
    }
    let d = dim(query);
    let sql = format!(
        "SELECT DISTINCT ON (context_id) context_id, start_byte, end_byte, \
         (vector::vector({d}) <=> $1::vector({d}))::float8 AS distance \
         FROM passages WHERE context_id = ANY($2) AND model = $3 AND dim = {d} \
         ORDER BY context_id, distance"
    );
    let query = Vector::from(query.to_vec());
    let found = db::query(&client(pool).await?, &sql, &[&query, &context_ids, &model]).await?;
    rows::all(found, hit)
}

/// The query's words (letters, digits, underscores), lowercased, at most 64: safe to join into
/// a `to_tsquery` expression, which then stems them and drops stopwords.
fn query_words(text: &str) -> Vec<String> {
    text.split(|ch: char| !ch.is_alphanumeric() && ch != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .take(64)
        .collect()
}

pub(crate) async fn keyword_search(
    pool: &Pool,
    query: &str,
    project_ids: &[Uuid],
    limit: usize,
) -> StoreResult<Vec<KeywordHit>> {
    let words = query_words(query);
    if words.is_empty() || project_ids.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let terms = words.join(" | ");
    let c = client(pool).await?;
    // A query of stopwords only (`what is it`) is empty in English; then search the words as
    // they are, unstemmed (no index has that form, but such a query is rare).
    let check =
        db::query_one(&c, "SELECT numnode(to_tsquery('english', $1)) > 0 AS english", &[&terms])
            .await?;
    let english: bool = rows::get(&check, "english")?;
    let (document, config) = if english {
        ("c.search", "english")
    } else {
        ("to_tsvector('simple', c.content)", "simple")
    };
    let sql = format!(
        "SELECT c.id, ts_rank_cd({document}, q)::float8 AS score \
         FROM contexts c, to_tsquery('{config}', $1) q \
         WHERE {document} @@ q AND c.project_id = ANY($2) \
           AND NOT EXISTS (SELECT 1 FROM contexts ch WHERE ch.parent_id = c.id) \
         ORDER BY score DESC, c.id LIMIT $3"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let found = db::query(&c, &sql, &[&terms, &project_ids, &limit]).await?;
    rows::all(found, |r| {
        Ok(KeywordHit { context_id: rows::get(r, "id")?, score: rows::get(r, "score")? })
    })
}

#[async_trait::async_trait]
impl tc_store::SearchStore for crate::PgStore {
    async fn vector_search(
        &self,
        query: &[f32],
        model: &str,
        project_ids: &[uuid::Uuid],
        limit: usize,
    ) -> tc_store::StoreResult<Vec<tc_store::VectorHit>> {
        vector_search(&self.pool, query, model, project_ids, limit, self.ef_search).await
    }
    async fn passage_similarities(
        &self,
        query: &[f32],
        model: &str,
        context_ids: &[uuid::Uuid],
    ) -> tc_store::StoreResult<Vec<tc_store::VectorHit>> {
        passage_similarities(&self.pool, query, model, context_ids).await
    }
    async fn keyword_search(
        &self,
        query: &str,
        project_ids: &[uuid::Uuid],
        limit: usize,
    ) -> tc_store::StoreResult<Vec<tc_store::KeywordHit>> {
        keyword_search(&self.pool, query, project_ids, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_words_cannot_break_tsquery_syntax() {
        assert_eq!(
            query_words("Stripe webhook-retries & | ! ( ) :*"),
            ["stripe", "webhook", "retries"]
        );
        assert!(query_words("  ?!  ").is_empty());
    }
}
