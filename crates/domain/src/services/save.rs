//! Saving context, one at a time or up to [`MAX_BATCH`] in a batch: validation, token counting
//! (cl100k_base), automatic chunking of very large contexts, project inference, the vectors,
//! the write, and the analytics event of each save.
//!
//! Size rules (SPEC §6, configurable): above 10,000 tokens a save succeeds with a warning; above
//! 100,000 it is split into child contexts (`parent_id`, `chunk_index`) of about 8,300 tokens,
//! cut at line ends, and only the children are embedded and searchable; the parent keeps the
//! whole text for `GET`. The request body limit answers 413 before any of this.
//!
//! Every save of a call is embedded in one model call: a few texts run on the interactive
//! session, more (a long content's passages, a batch) on the bulk sessions side by side. When
//! the model fails or does not answer in time the contexts are stored without vectors, found by
//! keyword at once, and the embedding job adds their vectors later (`backlog`); the answer says
//! `"degraded": "embedder_unavailable"`. A batch is written in one transaction; if that fails,
//! each item is written on its own, so one item's failure never takes the others with it and
//! no item is ever half-written.

use std::time::Instant;

use serde_json::{Value, json};
use tc_store::{AnalyticsEventRecord, ContextRecord, PassageRecord, Scope};
use tracing::{instrument, warn};
use uuid::Uuid;

use super::Services;
use super::access::Access;
use super::context::{metadata_object, sha256_hex, valid_source};
use super::embedding::Purpose;
use super::tokens::{count_tokens, split_by_tokens};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::views::{
    BatchItemError, BatchItemResult, BatchSaveResponse, SaveContextRequest, SaveContextResponse,
};

/// Saves one batch may hold.
pub const MAX_BATCH: usize = 100;
/// What a save or a search says when it went on without the embedding model.
pub const EMBEDDER_UNAVAILABLE: &str = "embedder_unavailable";

/// A save checked and ready to write: its rows (without vectors yet) and its answer.
struct Prepared {
    parent: ContextRecord,
    /// The chunks of a split context; empty otherwise.
    children: Vec<ContextRecord>,
    response: SaveContextResponse,
    source: String,
    started: Instant,
}

impl Prepared {
    /// The contexts that get passages: the chunks of a split context, else the context itself.
    fn embedded(&self) -> &[ContextRecord] {
        if self.children.is_empty() { std::slice::from_ref(&self.parent) } else { &self.children }
    }

    /// The rows to insert, taking the passages of [`Self::embedded`] from `passages` in order.
    fn rows(
        &self,
        passages: &mut impl Iterator<Item = Vec<PassageRecord>>,
    ) -> Vec<(ContextRecord, Vec<PassageRecord>)> {
        if self.children.is_empty() {
            return vec![(self.parent.clone(), passages.next().unwrap_or_default())];
        }
        let mut rows = vec![(self.parent.clone(), Vec::new())];
        for child in &self.children {
            rows.push((child.clone(), passages.next().unwrap_or_default()));
        }
        rows
    }
}

/// The chunks of a context longer than `chunk_above_tokens`, each a child of it (cut at line
/// ends, about a twelfth of the limit each); empty for a context short enough to search whole.
pub(crate) fn chunks_of(parent: &ContextRecord, chunk_above_tokens: usize) -> Vec<ContextRecord> {
    if parent.token_count <= chunk_above_tokens as i64 {
        return Vec::new();
    }
    split_by_tokens(&parent.content, (chunk_above_tokens / 12).max(100))
        .into_iter()
        .enumerate()
        .map(|(i, piece)| ContextRecord {
            id: Uuid::now_v7(),
            content_hash: sha256_hex(&piece),
            token_count: count_tokens(&piece) as i64,
            parent_id: Some(parent.id),
            chunk_index: Some(i as i64),
            content: piece,
            ..parent.clone()
        })
        .collect()
}

fn item_error(e: &DomainError) -> BatchItemError {
    if let Some(cause) = e.cause_chain() {
        warn!(error = %cause, "{}", e.message);
    }
    BatchItemError {
        code: e.code.as_str(),
        message: e.message.clone(),
        details: e.details.clone().unwrap_or_else(|| json!({})),
    }
}

impl Services {
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn save_context(
        &self,
        caller: &Caller,
        req: SaveContextRequest,
        client_source: Option<&str>,
    ) -> DomainResult<SaveContextResponse> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let prepared = self.prepare_save(caller, req, client_source).await?;
        let mut saved = self.write_saves(caller, vec![prepared]).await;
        saved.remove(0)
    }

    /// Saves up to [`MAX_BATCH`] contexts, each as `save_context` would, with one result per
    /// item in their order. An item that fails (invalid, a project the caller may not write)
    /// is reported and writes nothing; the others are saved.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn save_batch(
        &self,
        caller: &Caller,
        items: Option<Vec<Value>>,
        client_source: Option<&str>,
    ) -> DomainResult<BatchSaveResponse> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let items = items.ok_or_else(|| DomainError::missing("items"))?;
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(DomainError::validation(
                "items",
                format!("`items` must hold 1 to {MAX_BATCH} saves (it holds {})", items.len()),
            ));
        }
        let mut results: Vec<Option<BatchItemResult>> = (0..items.len()).map(|_| None).collect();
        let mut prepared = Vec::new();
        let mut positions = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let outcome = match serde_json::from_value::<SaveContextRequest>(item) {
                Ok(req) => self.prepare_save(caller, req, client_source).await,
                Err(e) => Err(DomainError::validation(
                    "items",
                    format!(
                        "item {index} is not a save ({e}): it takes content, project_id and metadata"
                    ),
                )),
            };
            match outcome {
                Ok(p) => {
                    prepared.push(p);
                    positions.push(index);
                }
                Err(e) => results[index] = Some(BatchItemResult::failed(index, item_error(&e))),
            }
        }
        let written = self.write_saves(caller, prepared).await;
        for (index, outcome) in positions.into_iter().zip(written) {
            results[index] = Some(match outcome {
                Ok(saved) => BatchItemResult::saved(index, saved),
                Err(e) => BatchItemResult::failed(index, item_error(&e)),
            });
        }
        let results: Vec<BatchItemResult> = results.into_iter().flatten().collect();
        let saved = results.iter().filter(|r| r.error.is_none()).count();
        let degraded = results.iter().find_map(|r| r.context.as_ref().and_then(|c| c.degraded));
        Ok(BatchSaveResponse { saved, failed: results.len() - saved, degraded, results })
    }

    /// Checks a save and builds its rows: everything but the vectors and the write.
    async fn prepare_save(
        &self,
        caller: &Caller,
        req: SaveContextRequest,
        client_source: Option<&str>,
    ) -> DomainResult<Prepared> {
        let started = Instant::now();
        let content = req.content.ok_or_else(|| DomainError::missing("content"))?;
        if content.trim().is_empty() {
            return Err(DomainError::validation("content", "`content` must not be empty"));
        }
        let input = req.metadata.unwrap_or_default();
        let source = input
            .source
            .clone()
            .or(client_source.map(str::to_string))
            .unwrap_or_else(|| "api".into());
        if !valid_source(&source) {
            return Err(DomainError::validation(
                "metadata.source",
                "`source` must be 1–40 lower-case letters, digits, `-` or `_` (e.g. claude, cursor, api)",
            ));
        }
        let file_path = input.file_path.clone();
        let metadata = Value::Object(metadata_object(input, &source)?);

        let (project_id, selection) = match req.project_id {
            Some(id) => (id, "explicit"),
            None => self.infer_project(caller, &content).await?,
        };
        let (project, _) = self.project_for(caller, project_id, Access::Write).await?;

        let token_count = count_tokens(&content);
        let limits = self.pricing.limits;
        let mut warnings = Vec::new();
        if token_count > limits.warn_tokens {
            warnings.push(format!(
                "this context is {token_count} tokens; above {} tokens an assistant can rarely use it whole, so consider saving smaller pieces",
                limits.warn_tokens
            ));
        }
        let now = self.now();
        let parent = ContextRecord {
            id: Uuid::now_v7(),
            project_id,
            content_hash: sha256_hex(&content),
            content,
            token_count: token_count as i64,
            source: source.clone(),
            file_path,
            parent_id: None,
            chunk_index: None,
            metadata,
            created_by: caller.user_id,
            accessed_count: 0,
            last_accessed: None,
            created_at: now,
            updated_at: now,
        };
        let children = chunks_of(&parent, limits.chunk_above_tokens);
        if !children.is_empty() {
            warnings.push(format!(
                "above {} tokens: saved as {} chunks that are searched separately",
                limits.chunk_above_tokens,
                children.len()
            ));
        }
        let response = SaveContextResponse {
            id: parent.id,
            project_id,
            project_name: project.name,
            project_selection: selection,
            token_count: token_count as i64,
            chunk_ids: children.iter().map(|c| c.id).collect(),
            warnings,
            degraded: None,
            created_at: now,
        };
        Ok(Prepared { parent, children, response, source, started })
    }

    /// Picks the project for a save without `project_id` and says how it was chosen.
    async fn infer_project(
        &self,
        caller: &Caller,
        content: &str,
    ) -> DomainResult<(Uuid, &'static str)> {
        let projects = self.save_candidates(caller).await?;
        if caller.project_restriction().is_some() {
            return Ok((projects[0], "api_key"));
        }
        match projects.len() {
            0 => Err(DomainError::new(
                ErrorCode::MissingRequiredField,
                "create a project first: there is no project to save this context in",
            )
            .with_details(json!({ "field": "project_id" }))),
            1 => Ok((projects[0], "only_project")),
            _ => {
                let described = self
                    .store
                    .project_description_vectors(&projects, self.embedder.model_id())
                    .await?;
                if described.is_empty() {
                    return Err(DomainError::missing("project_id").with_details(json!({
                        "field": "project_id",
                        "reason": "you have several projects and none has a description to match against",
                    })));
                }
                let head: String = content.chars().take(2000).collect();
                let query = match self.embed(vec![head]).await {
                    Ok(mut v) => v.remove(0),
                    Err(e) if e.code == ErrorCode::EmbeddingGenerationFailed => {
                        return Err(DomainError::missing("project_id").with_details(json!({
                            "field": "project_id",
                            "reason": "you have several projects and the embedding model that matches content to them is unavailable",
                        })));
                    }
                    Err(e) => return Err(e),
                };
                let best = described
                    .iter()
                    .map(|(id, v)| (*id, tc_embed::cosine(&query, v)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(id, _)| id)
                    .ok_or_else(|| DomainError::missing("project_id"))?;
                Ok((best, "best_match"))
            }
        }
    }

    /// Embeds and writes prepared saves, one result per save in their order.
    async fn write_saves(
        &self,
        caller: &Caller,
        prepared: Vec<Prepared>,
    ) -> Vec<DomainResult<SaveContextResponse>> {
        if prepared.is_empty() {
            return Vec::new();
        }
        let contexts: Vec<ContextRecord> =
            prepared.iter().flat_map(|p| p.embedded().iter().cloned()).collect();
        let (passages, degraded) = match self.passages_for_many(&contexts, Purpose::Request).await {
            Ok(passages) => (passages, false),
            Err(e) => {
                // Stored now, found by keyword at once, embedded by the job later.
                warn!(error = ?e.cause_chain(), message = %e.message, contexts = contexts.len(), "embedding unavailable; saving without vectors");
                metrics::counter!(crate::metrics::EMBEDDING_DEFERRED)
                    .increment(contexts.len() as u64);
                (vec![Vec::new(); contexts.len()], true)
            }
        };
        let mut passages = passages.into_iter();
        let rows: Vec<Vec<(ContextRecord, Vec<PassageRecord>)>> =
            prepared.iter().map(|p| p.rows(&mut passages)).collect();

        let written: Vec<DomainResult<()>> = match self.store.insert_contexts(&rows.concat()).await
        {
            Ok(()) => rows.iter().map(|_| Ok(())).collect(),
            Err(e) if rows.len() == 1 => vec![Err(e.into())],
            Err(_) => {
                // Find the item that failed (its project deleted meanwhile, say) and keep the rest.
                let mut each = Vec::new();
                for item in &rows {
                    each.push(self.store.insert_contexts(item).await.map_err(DomainError::from));
                }
                each
            }
        };
        if degraded
            && written.iter().any(Result::is_ok)
            && let Err(e) = self.queue_embedding_job(contexts.len() as u64).await
        {
            // The periodic check queues it later; the contexts are stored either way.
            warn!(error = ?e.cause_chain(), "could not queue the embedding job");
        }
        prepared
            .into_iter()
            .zip(written)
            .map(|(p, outcome)| {
                outcome?;
                self.save_event(caller, &p);
                let mut response = p.response;
                if degraded {
                    response.degraded = Some(EMBEDDER_UNAVAILABLE);
                    response.warnings.push(
                        "the embedding model is unavailable: this context is found by keyword search now, and by meaning once the background job has embedded it".into(),
                    );
                }
                Ok(response)
            })
            .collect()
    }

    fn save_event(&self, caller: &Caller, p: &Prepared) {
        self.pending.event(AnalyticsEventRecord {
            id: Uuid::now_v7(),
            user_id: caller.user_id,
            project_id: Some(p.response.project_id),
            event_type: "context_save".into(),
            timestamp: p.response.created_at,
            tokens_saved: p.response.token_count,
            tokens_avoided: 0,
            contexts_retrieved: 0,
            api_calls_made: 1,
            processing_time_ms: p.started.elapsed().as_secs_f64() * 1000.0,
            model: None,
            price_per_mtok: None,
            estimated_savings_usd: 0.0,
            source: Some(p.source.clone()),
            prompt_tokens: 0,
            completion_tokens: 0,
            llm_cost_usd: 0.0,
        });
    }
}
