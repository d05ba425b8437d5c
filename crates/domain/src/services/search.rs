//! Context search (SPEC §6): `vector`, `keyword`, `hybrid` (the default) and `two_level`.
//!
//! The candidate set is exactly the projects the caller may read (members' projects and team
//! projects, never deleted ones), narrowed to `project_ids` when given and to an API key's
//! project. Both retrievers search inside that set, so a filter never costs recall.
//!
//! `two_level` first ranks the candidate projects by their description embedding and keeps the
//! top 3 (all of them when none has a description yet), then searches like hybrid.
//!
//! Hybrid fuses the two retrievers' top `FUSION_DEPTH` by a convex combination of normalised
//! scores: `VECTOR_WEIGHT` × cosine ÷ the best cosine of the list, plus the rest × BM25 ÷ the
//! best BM25 of the list (a context missing from a list scores 0 there). Chosen on the two
//! public evaluation sets (`make eval`, docs/benchmarks.md "Fusion"): plain RRF lost to vector
//! search alone on prose questions, where the keyword side is weak; this wins on prose and on
//! code. A result is kept when its best passage reaches `similarity_threshold` *or* it matched
//! the query's words: a strong keyword match (an error code, a function name) may stand below
//! the threshold. Results are ordered by fused score (0 to 1), which is their `score`.
//! In `keyword` mode nothing is embedded and `similarity_score` is null.
//!
//! When the embedding model fails or does not answer within the embedding timeout, every mode
//! answers from keyword search (two-level over all candidate projects) and the response says
//! `"degraded": "embedder_unavailable"`; a metric counts such searches.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::json;
use tc_store::{ContextRecord, Scope, VectorHit};
use tracing::{instrument, warn};
use uuid::Uuid;

use super::Services;
use super::context::context_view;
use super::save::EMBEDDER_UNAVAILABLE;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::views::{PassageView, RelevantProject, SearchRequest, SearchResponse, SearchResult};

const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 100;

/// The default `similarity_threshold`, in REST and MCP alike, calibrated to all-MiniLM-L6-v2 on
/// the evaluation sets: of the relevant results vector search ranks in the top 10, 95% score at
/// least 0.45 on prose questions and 0.39 on code (docs/benchmarks.md, "Threshold"); plain
/// paraphrases score 0.25–0.45. Keyword matches are kept below it in hybrid search.
pub const DEFAULT_SIMILARITY_THRESHOLD: f32 = 0.35;

/// Results an assistant's search returns unless it asks for another number: few, since each one
/// lands in its context window.
pub const ASSISTANT_DEFAULT_LIMIT: u32 = 5;
const MAX_QUERY_CHARS: usize = 10_000;
/// How deep each retriever's list is fused.
const FUSION_DEPTH: usize = 100;
/// The vector side's weight in hybrid fusion; the keyword side has the rest.
pub const VECTOR_WEIGHT: f32 = 0.9;
/// The vector side's weight for a query that names code (see [`names_code`]): the words of an
/// identifier or an error code say more than the model's sense of them.
pub const CODE_QUERY_VECTOR_WEIGHT: f32 = 0.6;
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
        let threshold = req.similarity_threshold.unwrap_or(DEFAULT_SIMILARITY_THRESHOLD);
        if !(-1.0..=1.0).contains(&threshold) {
            return Err(DomainError::validation(
                "similarity_threshold",
                "`similarity_threshold` is a cosine similarity, between -1 and 1",
            ));
        }
        let mode = Mode::parse(req.mode.as_deref())?;
        let mut candidates = self.search_candidates(caller, req.project_ids).await?;

        let needs_vector = mode != Mode::Keyword;
        let mut degraded = None;
        let query_vector = if needs_vector && !candidates.is_empty() {
            match self.embed(vec![query.clone()]).await {
                Ok(mut v) => Some(v.remove(0)),
                Err(e) => {
                    // Keyword search still answers; the response says what was missing.
                    warn!(error = ?e.cause_chain(), message = %e.message, "embedding unavailable; searching by keyword");
                    metrics::counter!(crate::metrics::SEARCH_DEGRADED, "mode" => mode.as_str())
                        .increment(1);
                    degraded = Some(EMBEDDER_UNAVAILABLE);
                    None
                }
            }
        } else {
            None
        };
        let mut relevant_projects = None;
        if mode == Mode::TwoLevel && degraded.is_some() {
            // No query vector to rank projects by: every candidate is searched.
            relevant_projects = Some(Vec::new());
        }
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
            (Mode::Keyword, _) | (_, None) => self
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
        Ok(SearchResponse { results, relevant_projects, degraded })
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
        let depth = FUSION_DEPTH.max(limit);
        let model = self.embedder.model_id();
        let mut vector_hits =
            self.store.vector_search(query_vector, model, candidates, depth).await?;
        let keyword_hits = self.store.keyword_search(query, candidates, depth).await?;
        let fused = fuse(
            vector_hits.iter().map(|h| (h.context_id, h.similarity)),
            keyword_hits.iter().map(|h| (h.context_id, h.score as f32)),
            vector_weight(query),
        );
        let keyword_ids: HashSet<Uuid> = keyword_hits.iter().map(|h| h.context_id).collect();
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

/// Whether `query` names code: a word with `_` or `::`, a call `()`, a camel-case or
/// Pascal-case identifier (`getUser`, `JoinHandle`), an error code (`E0432`, `ECONNREFUSED`),
/// or something quoted in backticks.
pub fn names_code(query: &str) -> bool {
    query.split_whitespace().any(|word| {
        let w = word.trim_matches(|c: char| ",;:!?.'\"()".contains(c));
        let inner_capital = w.chars().skip(1).any(|c| c.is_ascii_uppercase())
            && w.chars().any(|c| c.is_ascii_lowercase())
            && w.chars().all(|c| c.is_ascii_alphanumeric());
        let letters_and_digits = w.chars().any(|c| c.is_ascii_uppercase())
            && w.chars().any(|c| c.is_ascii_digit())
            && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let constant =
            w.len() >= 5 && w.chars().all(|c| c.is_ascii_uppercase()) && w.starts_with('E');
        word.contains("::")
            || word.contains("()")
            || word.starts_with('`')
            || (w.contains('_') && w.chars().any(|c| c.is_ascii_alphabetic()))
            || inner_capital
            || letters_and_digits
            || constant
    })
}

/// The vector side's weight in the fusion for `query`.
pub fn vector_weight(query: &str) -> f32 {
    if names_code(query) { CODE_QUERY_VECTOR_WEIGHT } else { VECTOR_WEIGHT }
}

/// The hybrid score of every context in either list (each best first): `vector_weight` × its
/// cosine over the list's best (negative cosines count 0), plus the rest × its BM25 over the
/// list's best.
pub fn fuse(
    vector: impl Iterator<Item = (Uuid, f32)>,
    keyword: impl Iterator<Item = (Uuid, f32)>,
    vector_weight: f32,
) -> HashMap<Uuid, f32> {
    let mut fused: HashMap<Uuid, f32> = HashMap::new();
    let mut add = |hits: Vec<(Uuid, f32)>, weight: f32| {
        let best = hits.iter().map(|h| h.1).fold(0.0f32, f32::max);
        if best <= 0.0 {
            // Nothing positive to normalise by: the list still counts, at nothing.
            for (id, _) in hits {
                fused.entry(id).or_default();
            }
            return;
        }
        for (id, score) in hits {
            *fused.entry(id).or_default() += weight * (score / best).clamp(0.0, 1.0);
        }
    };
    add(vector.collect(), vector_weight);
    add(keyword.collect(), 1.0 - vector_weight);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn fusion_keeps_both_sides_and_lets_agreement_win() {
        // 1 is first by meaning only, 2 first by words only, 3 second in both.
        let fused = fuse(
            [(id(1), 0.62), (id(3), 0.58), (id(4), 0.20)].into_iter(),
            [(id(2), 12.0), (id(3), 9.0)].into_iter(),
            VECTOR_WEIGHT,
        );
        let mut order: Vec<(Uuid, f32)> = fused.into_iter().collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        let order: Vec<Uuid> = order.into_iter().map(|(i, _)| i).collect();
        assert_eq!(order, [id(3), id(1), id(4), id(2)]);
        // Every candidate of either list is kept, with a score between 0 and 1.
        let fused = fuse([(id(1), 0.5)].into_iter(), [(id(2), 3.0)].into_iter(), VECTOR_WEIGHT);
        assert_eq!(fused.len(), 2);
        assert!(fused.values().all(|s| (0.0..=1.0).contains(s)));
        assert!((fused[&id(1)] - VECTOR_WEIGHT).abs() < 1e-6, "the best cosine scores the weight");
    }

    #[test]
    fn lists_with_nothing_positive_count_nothing() {
        let fused = fuse([(id(1), -0.1)].into_iter(), std::iter::empty(), VECTOR_WEIGHT);
        assert_eq!(fused[&id(1)], 0.0);
    }

    #[test]
    fn queries_that_name_code() {
        for code in [
            "where is parse_config called",
            "tokio::spawn_blocking",
            "what does getUserName return",
            "JoinHandle abort",
            "error E0432 unresolved import",
            "ECONNREFUSED on deploy",
            "the `retry` option",
            "call init() twice",
        ] {
            assert!(names_code(code), "{code}");
        }
        for prose in [
            "How do I upgrade Debian?",
            "What is the GNU/Linux FAQ about?",
            "Can I use apt.conf to set a proxy?",
            "Returns a new handle to the runtime.",
            "Why does my USB disk not mount?",
        ] {
            assert!(!names_code(prose), "{prose}");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::parse(None).unwrap(), Mode::Hybrid);
        assert_eq!(Mode::parse(Some("two_level")).unwrap(), Mode::TwoLevel);
        assert!(Mode::parse(Some("fuzzy")).is_err());
    }
}
