//! Context search (SPEC §6): `vector`, `keyword`, `hybrid` (the default) and `two_level`.
//!
//! The candidate set is exactly the projects the caller may read (members' projects and team
//! projects, never deleted ones), narrowed to `project_ids` when given and to an API key's
//! project. Both retrievers search inside that set, so a filter never costs recall.
//!
//! `two_level` first ranks the candidate projects by their description embedding and keeps the
//! top 3 (all of them when none has a description yet), then searches like hybrid.
//!
//! Hybrid fuses the vector ranking and the BM25 ranking with Reciprocal Rank Fusion
//! (k = 60, each list cut at `RRF_DEPTH`). A result is kept when its best passage reaches
//! `similarity_threshold` *or* it matched the query's words: a strong keyword match (an error
//! code, a function name) may stand below the threshold. Results are ordered by fused score.
//! In `keyword` mode nothing is embedded and `similarity_score` is null.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::json;
use tc_store::{ContextRecord, Scope, VectorHit};
use tracing::instrument;
use uuid::Uuid;

use super::Services;
use super::context::context_view;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::views::{PassageView, RelevantProject, SearchRequest, SearchResponse, SearchResult};

const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 100;
const DEFAULT_THRESHOLD: f32 = 0.7;

/// The similarity floor for searches an assistant makes on the user's behalf (MCP
/// `get_relevant_context`). all-MiniLM-L6-v2 puts clearly related passages at cosine 0.3–0.6,
/// so the REST default of 0.7 would hide most of what an assistant should see; keyword matches
/// are kept below the floor anyway (hybrid search).
pub const ASSISTANT_SIMILARITY_THRESHOLD: f32 = 0.3;

/// Results an assistant's search returns unless it asks for another number: few, since each one
/// lands in its context window.
pub const ASSISTANT_DEFAULT_LIMIT: u32 = 5;
const MAX_QUERY_CHARS: usize = 10_000;
const RRF_K: f32 = 60.0;
const RRF_DEPTH: usize = 100;
const TWO_LEVEL_PROJECTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Hybrid,
    Vector,
    Keyword,
    TwoLevel,
}

impl Mode {
    fn parse(mode: Option<&str>) -> DomainResult<Mode> {
        match mode.unwrap_or("hybrid") {
            "hybrid" => Ok(Mode::Hybrid),
            "vector" => Ok(Mode::Vector),
            "keyword" => Ok(Mode::Keyword),
            "two_level" => Ok(Mode::TwoLevel),
            other => Err(DomainError::validation(
                "mode",
                format!("unknown mode {other:?}; use hybrid, vector, keyword or two_level"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Vector => "vector",
            Mode::Keyword => "keyword",
            Mode::TwoLevel => "two_level",
        }
    }
}

/// One ranked candidate before it is turned into a result.
#[derive(Debug, Clone)]
struct Ranked {
    id: Uuid,
    score: f32,
    vector: Option<VectorHit>,
}

impl Services {
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn search(
        &self,
        caller: &Caller,
        req: SearchRequest,
    ) -> DomainResult<SearchResponse> {
        caller.require_scope(Scope::Read)?;
        self.require_verified(caller)?;
        self.require_may_retrieve(caller)?;
        let started = Instant::now();
        let query = req.query.ok_or_else(|| DomainError::missing("query"))?;
        let query = query.trim().to_string();
        if query.is_empty() {
            return Err(DomainError::validation("query", "`query` must not be empty"));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(DomainError::validation(
                "query",
                format!("`query` must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(DomainError::validation(
                "limit",
                format!("`limit` must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let limit = limit as usize;
        let threshold = req.similarity_threshold.unwrap_or(DEFAULT_THRESHOLD);
        if !(-1.0..=1.0).contains(&threshold) {
            return Err(DomainError::validation(
                "similarity_threshold",
                "`similarity_threshold` is a cosine similarity, between -1 and 1",
            ));
        }
        let mode = Mode::parse(req.mode.as_deref())?;
        let mut candidates = self.search_candidates(caller, req.project_ids).await?;

        let needs_vector = mode != Mode::Keyword;
        let query_vector = if needs_vector && !candidates.is_empty() {
            Some(self.embed(vec![query.clone()]).await?.remove(0))
        } else {
            None
        };
        let mut relevant_projects = None;
        if mode == Mode::TwoLevel
            && let Some(qv) = &query_vector
        {
            let ranked = self.rank_projects(&candidates, qv).await?;
            // No project has a description to rank by: the first level cannot choose, so the
            // second searches them all rather than nothing.
            if !ranked.is_empty() {
                candidates = ranked.iter().map(|p| p.id).collect();
            }
            relevant_projects = Some(ranked);
        }

        let ranked = match (mode, &query_vector) {
            (_, _) if candidates.is_empty() => Vec::new(),
            (Mode::Keyword, _) => self
                .store
                .keyword_search(&query, &candidates, limit)
                .await?
                .into_iter()
                .map(|h| Ranked { id: h.context_id, score: h.score as f32, vector: None })
                .collect(),
            (Mode::Vector, Some(qv)) => self
                .store
                .vector_search(qv, self.embedder.model_id(), &candidates, limit)
                .await?
                .into_iter()
                .filter(|h| h.similarity >= threshold)
                .map(|h| Ranked { id: h.context_id, score: h.similarity, vector: Some(h) })
                .collect(),
            (Mode::Hybrid | Mode::TwoLevel, Some(qv)) => {
                self.hybrid(&query, qv, &candidates, limit, threshold).await?
            }
            (_, None) => Vec::new(),
        };

        let results = self.materialise(ranked, limit).await?;
        metrics::histogram!(crate::metrics::SEARCH_SECONDS, "mode" => mode.as_str())
            .record(started.elapsed().as_secs_f64());
        let searched_one = if candidates.len() == 1 { candidates.first().copied() } else { None };
        self.pending.accessed(results.iter().map(|r| r.id), self.now());
        self.retrieval_events(
            caller,
            &results,
            searched_one,
            req.retrieved_by.as_deref().unwrap_or("api"),
            started.elapsed().as_secs_f64() * 1000.0,
        );
        Ok(SearchResponse { results, relevant_projects })
    }

    /// The projects a search may look in.
    async fn search_candidates(
        &self,
        caller: &Caller,
        requested: Option<Vec<Uuid>>,
    ) -> DomainResult<Vec<Uuid>> {
        let readable = self.readable_for(caller).await?;
        let Some(requested) = requested else { return Ok(readable) };
        let readable: HashSet<Uuid> = readable.into_iter().collect();
        let mut out = Vec::new();
        for id in requested {
            if !readable.contains(&id) {
                return Err(
                    DomainError::project_not_found().with_details(json!({ "project_id": id }))
                );
            }
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Two-level search, first level: the caller's projects by description similarity.
    async fn rank_projects(
        &self,
        candidates: &[Uuid],
        query: &[f32],
    ) -> DomainResult<Vec<RelevantProject>> {
        let vectors =
            self.store.project_description_vectors(candidates, self.embedder.model_id()).await?;
        let mut scored: Vec<(Uuid, f32)> =
            vectors.iter().map(|(id, v)| (*id, tc_embed::cosine(query, v))).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(TWO_LEVEL_PROJECTS);
        let mut out = Vec::new();
        for (id, similarity) in scored {
            if let Some(p) = self.store.project_by_id(id).await? {
                out.push(RelevantProject { id, name: p.name, similarity });
            }
        }
        Ok(out)
    }

    async fn hybrid(
        &self,
        query: &str,
        query_vector: &[f32],
        candidates: &[Uuid],
        limit: usize,
        threshold: f32,
    ) -> DomainResult<Vec<Ranked>> {
        // Each list is cut at the fusion depth: a context beyond it in both scores nothing.
        let depth = RRF_DEPTH.max(limit);
        let model = self.embedder.model_id();
        let mut vector_hits =
            self.store.vector_search(query_vector, model, candidates, depth).await?;
        let keyword_hits = self.store.keyword_search(query, candidates, depth).await?;
        let mut fused: HashMap<Uuid, f32> = HashMap::new();
        for (rank, hit) in vector_hits.iter().enumerate() {
            *fused.entry(hit.context_id).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
        let keyword_ids: HashSet<Uuid> = keyword_hits.iter().map(|h| h.context_id).collect();
        for (rank, hit) in keyword_hits.iter().enumerate() {
            *fused.entry(hit.context_id).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
        // Keyword-only hits still report their similarity and best passage.
        let ranked_by_vector: HashSet<Uuid> = vector_hits.iter().map(|h| h.context_id).collect();
        let keyword_only: Vec<Uuid> =
            keyword_ids.iter().filter(|id| !ranked_by_vector.contains(id)).copied().collect();
        vector_hits
            .extend(self.store.passage_similarities(query_vector, model, &keyword_only).await?);
        let by_id: HashMap<Uuid, &VectorHit> =
            vector_hits.iter().map(|h| (h.context_id, h)).collect();
        let mut ranked: Vec<Ranked> = fused
            .into_iter()
            .filter(|(id, _)| {
                keyword_ids.contains(id) || by_id.get(id).is_some_and(|h| h.similarity >= threshold)
            })
            .map(|(id, score)| Ranked { id, score, vector: by_id.get(&id).map(|h| (*h).clone()) })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        ranked.truncate(limit);
        Ok(ranked)
    }

    /// Loads the ranked contexts and builds results in rank order.
    async fn materialise(
        &self,
        ranked: Vec<Ranked>,
        limit: usize,
    ) -> DomainResult<Vec<SearchResult>> {
        let ids: Vec<Uuid> = ranked.iter().take(limit).map(|r| r.id).collect();
        let records: HashMap<Uuid, ContextRecord> =
            self.store.contexts_by_ids(&ids).await?.into_iter().map(|c| (c.id, c)).collect();
        let mut names: HashMap<Uuid, String> = HashMap::new();
        let projects: HashSet<Uuid> = records.values().map(|c| c.project_id).collect();
        for project_id in projects {
            let name = self.store.project_by_id(project_id).await?.map(|p| p.name);
            names.insert(project_id, name.unwrap_or_default());
        }
        let mut results = Vec::new();
        for r in ranked.into_iter().take(limit) {
            // A context deleted between ranking and loading simply drops out.
            let Some(record) = records.get(&r.id).cloned() else { continue };
            let passage = r.vector.as_ref().and_then(|h| {
                record.content.get(h.start..h.end).map(|text| PassageView {
                    start: h.start,
                    end: h.end,
                    text: text.to_string(),
                })
            });
            let view = context_view(record);
            results.push(SearchResult {
                id: view.id,
                similarity_score: r.vector.as_ref().map(|h| h.similarity),
                score: r.score,
                project_name: names.get(&view.project_id).cloned().unwrap_or_default(),
                project_id: view.project_id,
                token_count: view.token_count,
                metadata: view.metadata,
                content: view.content,
                passage,
            });
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::Mode;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse(None).unwrap(), Mode::Hybrid);
        assert_eq!(Mode::parse(Some("two_level")).unwrap(), Mode::TwoLevel);
        assert!(Mode::parse(Some("fuzzy")).is_err());
    }
}
