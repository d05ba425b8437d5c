//! Retrieval in SQLite: exact passage similarities from the stored vectors, keyword search with
//! FTS5 BM25, and vector search through the in-process index (`vectors`).

use std::collections::HashMap;

use rusqlite::{Connection, params};
use tc_store::{KeywordHit, StoreError, StoreResult, VectorHit};
use uuid::Uuid;

use crate::contexts::ids_json;
use crate::{SqliteStore, convert, db_err, vectors};

/// The best passage of each named context, scored exactly against its stored vectors.
pub(crate) fn passage_similarities(
    c: &Connection,
    query: &[f32],
    model: &str,
    ids: &[Uuid],
) -> StoreResult<Vec<VectorHit>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = c
        .prepare_cached(
            "SELECT context_id, start_byte, end_byte, vector FROM passages
             WHERE model = ?1 AND context_id IN (SELECT value FROM json_each(?2))",
        )
        .map_err(db_err)?;
    let rows = convert::collect(stmt.query((model, ids_json(ids))).map_err(db_err)?, |r| {
        let id: String = r.get(0).map_err(db_err)?;
        let id = Uuid::parse_str(&id).map_err(|_| StoreError::database("bad uuid"))?;
        let vector = vectors::from_blob(&r.get::<_, Vec<u8>>(3).map_err(db_err)?);
        let similarity = if vector.len() == query.len() {
            vector.iter().zip(query).map(|(a, b)| a * b).sum()
        } else {
            f32::NEG_INFINITY
        };
        Ok(VectorHit {
            context_id: id,
            start: r.get::<_, i64>(1).map_err(db_err)? as usize,
            end: r.get::<_, i64>(2).map_err(db_err)? as usize,
            similarity,
        })
    })?;
    let mut best: HashMap<Uuid, VectorHit> = HashMap::new();
    for hit in rows.into_iter().filter(|h| h.similarity.is_finite()) {
        match best.get(&hit.context_id) {
            Some(known) if known.similarity >= hit.similarity => {}
            _ => {
                best.insert(hit.context_id, hit);
            }
        }
    }
    Ok(best.into_values().collect())
}

/// Words too common to say anything about relevance; a match on them alone is no match.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "has",
    "have", "how", "i", "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to",
    "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "you",
];

/// Turns free text into an FTS5 query that cannot be a syntax error: every word that is not a
/// stopword becomes a quoted term (the porter tokenizer stems it) and the terms are OR-ed, so
/// BM25 ranks by how many and how rare. A query of stopwords only searches for them all.
pub(crate) fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let meaningful: Vec<&String> =
        words.iter().filter(|w| !STOPWORDS.contains(&w.as_str())).collect();
    let chosen: Vec<&String> =
        if meaningful.is_empty() { words.iter().collect() } else { meaningful };
    let terms: Vec<String> = chosen.iter().take(64).map(|w| format!("\"{w}\"")).collect();
    if terms.is_empty() { None } else { Some(terms.join(" OR ")) }
}

pub(crate) fn keyword_search(
    c: &Connection,
    query: &str,
    project_ids: &[Uuid],
    limit: usize,
) -> StoreResult<Vec<KeywordHit>> {
    let Some(fts) = fts_query(query) else { return Ok(Vec::new()) };
    if project_ids.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT c.id, bm25(contexts_fts) AS score FROM contexts_fts \
             JOIN contexts c ON c.rowid = contexts_fts.rowid \
             WHERE contexts_fts MATCH ?1 AND c.project_id IN (SELECT value FROM json_each(?2)) \
             AND NOT EXISTS (SELECT 1 FROM contexts ch WHERE ch.parent_id = c.id) \
             ORDER BY score LIMIT {limit}"
        ))
        .map_err(db_err)?;
    convert::collect(stmt.query(params![fts, ids_json(project_ids)]).map_err(db_err)?, |r| {
        let id: String = r.get(0).map_err(db_err)?;
        let score: f64 = r.get(1).map_err(db_err)?;
        Ok(KeywordHit {
            context_id: Uuid::parse_str(&id).map_err(|_| StoreError::database("bad uuid"))?,
            // SQLite's bm25() is negated so that smaller sorts first.
            score: -score,
        })
    })
}

#[async_trait::async_trait]
impl tc_store::SearchStore for SqliteStore {
    async fn vector_search(
        &self,
        query: &[f32],
        model: &str,
        project_ids: &[uuid::Uuid],
        limit: usize,
    ) -> tc_store::StoreResult<Vec<tc_store::VectorHit>> {
        let (query, model, ids, store) =
            (query.to_vec(), model.to_string(), project_ids.to_vec(), self.clone());
        // A scan over many passages: keep it off the async workers.
        crate::blocking(move || Ok(store.inner.vectors.search(&query, &model, &ids, limit))).await
    }
    async fn passage_similarities(
        &self,
        query: &[f32],
        model: &str,
        context_ids: &[uuid::Uuid],
    ) -> tc_store::StoreResult<Vec<tc_store::VectorHit>> {
        self.read(|c| passage_similarities(c, query, model, context_ids))
    }
    async fn keyword_search(
        &self,
        query: &str,
        project_ids: &[uuid::Uuid],
        limit: usize,
    ) -> tc_store::StoreResult<Vec<tc_store::KeywordHit>> {
        self.read(|c| keyword_search(c, query, project_ids, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn fts_queries_are_always_valid() {
        assert_eq!(
            fts_query("How do we handle Stripe webhook-retries?").as_deref(),
            Some("\"handle\" OR \"stripe\" OR \"webhook\" OR \"retries\"")
        );
        assert_eq!(fts_query("what is it").as_deref(), Some("\"what\" OR \"is\" OR \"it\""));
        assert_eq!(fts_query("\" OR NEAR( * ^"), Some("\"near\"".into()));
        assert_eq!(fts_query("  ?!  "), None);
    }
}
