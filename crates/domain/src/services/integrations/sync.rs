//! The sync engine Jira issues and Confluence pages share: a [`Source`] lists what a query
//! matches with each item's version, fetches one item rendered as Markdown, and says whether an
//! item still exists; [`Services::run_sync`] does the rest.
//!
//! A sync lists every item with only its id and version (cheap pages), then fetches and stores
//! just the items whose version differs from what the project holds: re-syncs are incremental,
//! and a sync killed midway resumes where it stopped (what it stored is up to date and
//! skipped). Each item is keyed by its upstream id (Jira keys change when an issue moves) and
//! replaced whole in one transaction. Items the project holds from this site that the query no
//! longer lists are looked up one by one, and removed when the site says they no longer exist.
//! One item failing is recorded in the result and the rest go on; a refused token, a rate limit
//! that does not end, or the site down stop the job (retried later for the last two).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};
use tc_atlassian::AtlassianError;
use tc_store::{AnalyticsEventRecord, ConnectionRecord, ContextRecord, IndexedItem};
use tracing::{info, warn};
use uuid::Uuid;

use super::{Product, atlassian_error};
use crate::error::ErrorCode;
use crate::services::Services;
use crate::services::context::sha256_hex;
use crate::services::embedding::Purpose;
use crate::services::jobs::{JobContext, JobError};
use crate::services::save::chunks_of;
use crate::services::tokens::count_tokens;
use crate::views::{SyncAccepted, SyncFailure, SyncProgress, SyncResult};

/// Items fetched at once.
const ITEMS_IN_FLIGHT: usize = 4;
/// Failures listed in a result (all are counted).
const MAX_LISTED: usize = 100;
pub(super) const DATABASE_UNAVAILABLE: &str =
    "the database was unavailable; the sync will be retried";

/// One item as a listing shows it.
#[derive(Debug, Clone)]
pub(super) struct Listed {
    /// The upstream id (an issue's or a page's numeric id).
    pub id: String,
    /// What a person calls it (an issue key, a page title), for failures.
    pub label: String,
    /// Changes whenever the item does (Jira's `updated`, a page's version number).
    pub version: String,
}

/// One item rendered as a context.
#[derive(Debug, Clone)]
pub(super) struct Rendered {
    pub markdown: String,
    /// Metadata beside `tags` and `sync_job_id` (key, title, URL, …).
    pub metadata: serde_json::Map<String, Value>,
    pub tags: Vec<String>,
    /// The version the rendering is of.
    pub version: String,
    /// Rich-text node types the converter did not know.
    pub unknown_nodes: Vec<String>,
}

/// Where a sync's items come from.
#[async_trait::async_trait]
pub(super) trait Source: Send + Sync {
    /// The contexts' source (`jira`, `confluence`).
    fn source(&self) -> &'static str;
    /// Part of every stored item's version: bumping it re-renders every item on the next sync.
    fn format(&self) -> &'static str;
    /// Every item the sync covers; `on_page` hears the running count.
    async fn list(
        &self,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Listed>, AtlassianError>;
    async fn fetch(&self, id: &str) -> Result<Rendered, AtlassianError>;
    async fn exists(&self, id: &str) -> Result<bool, AtlassianError>;
}

/// `host[:port]` of a site: the part of an item's path that tells sites apart.
pub(super) fn site_key(site_url: &str) -> String {
    let parsed = url::Url::parse(site_url).ok();
    let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("site").to_string();
    match parsed.and_then(|u| u.port()) {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// What one item came to.
enum Synced {
    Unchanged,
    Stored { tokens: i64, deferred: usize },
}

/// Why one item was not synced: its own problem (recorded, the sync goes on) or the job's.
enum ItemError {
    Skip(String),
    Job(JobError),
}

/// What every item of one sync shares.
struct Run<'a> {
    job_id: Uuid,
    created_by: Uuid,
    project_id: Uuid,
    source: &'a dyn Source,
    /// `{source}/{site}/`: the path prefix of this site's items.
    prefix: String,
    previous: &'a HashMap<String, String>,
    model_down: &'a AtomicBool,
}

impl Run<'_> {
    fn stored_version(&self, version: &str) -> String {
        format!("{}:{version}", self.source.format())
    }
}

impl Services {
    /// Runs a sync job of `product` from `source` through `conn` into the job's project.
    pub(super) async fn run_sync(
        &self,
        ctx: &JobContext,
        product: Product,
        conn: &ConnectionRecord,
        source: &dyn Source,
    ) -> Result<Value, JobError> {
        let started = Instant::now();
        let job = &ctx.job;
        let project_id = job.project_id.ok_or_else(|| JobError::Fatal("no project".into()))?;
        let mut progress = SyncProgress { phase: "listing".into(), ..SyncProgress::default() };
        ctx.set_progress(json!(progress));
        let listed = {
            let mut on_page = |n: usize| {
                progress.items_total = n;
                ctx.set_progress(json!(progress));
            };
            source.list(&mut on_page).await.map_err(|e| self.sync_error(product, conn, e))?
        };
        let prefix = format!("{}/{}/", source.source(), site_key(&conn.site_url));
        let previous: HashMap<String, String> = self
            .store
            .indexed_items(project_id, source.source())
            .await
            .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?
            .into_iter()
            .filter(|i| i.file_path.starts_with(&prefix))
            .map(|i| (i.file_path, i.content_hash))
            .collect();
        progress.phase = "syncing".into();
        progress.items_total = listed.len();
        ctx.set_progress(json!(progress));

        let model_down = AtomicBool::new(false);
        let run = Run {
            job_id: job.id,
            created_by: job.created_by,
            project_id,
            source,
            prefix: prefix.clone(),
            previous: &previous,
            model_down: &model_down,
        };
        let mut result = SyncResult { items_found: listed.len(), ..SyncResult::default() };
        let mut outcomes = stream::iter(0..listed.len())
            .map(|i| self.sync_item(&run, &listed[i]))
            .buffered(ITEMS_IN_FLIGHT);
        for item in &listed {
            if ctx.stopped() {
                return Err(JobError::Cancelled);
            }
            let Some(outcome) = outcomes.next().await else { break };
            match outcome {
                Ok(Synced::Unchanged) => result.unchanged += 1,
                Ok(Synced::Stored { tokens, deferred }) => {
                    result.synced += 1;
                    result.tokens += tokens;
                    result.chunks_deferred += deferred;
                }
                Err(ItemError::Skip(message)) => {
                    result.failed_total += 1;
                    if result.failed.len() < MAX_LISTED {
                        result.failed.push(SyncFailure { item: item.label.clone(), message });
                    }
                }
                Err(ItemError::Job(e)) => return Err(e),
            }
            progress.items_done += 1;
            (progress.synced, progress.unchanged, progress.failed) =
                (result.synced, result.unchanged, result.failed_total);
            ctx.set_progress(json!(progress));
        }
        drop(outcomes);

        // Items the query no longer lists: removed if the site says they are gone.
        progress.phase = "removing".into();
        ctx.set_progress(json!(progress));
        let present: HashSet<String> = listed.iter().map(|l| format!("{prefix}{}", l.id)).collect();
        let mut gone = Vec::new();
        for path in previous.keys().filter(|p| !present.contains(*p)) {
            if ctx.stopped() {
                return Err(JobError::Cancelled);
            }
            match source.exists(path.trim_start_matches(&prefix)).await {
                Ok(false) => gone.push(path.clone()),
                Ok(true) => {}
                Err(e) => return Err(self.sync_error(product, conn, e)),
            }
        }
        if !gone.is_empty() {
            self.store
                .remove_indexed_items(project_id, source.source(), &gone)
                .await
                .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?;
        }
        result.removed = gone.len();

        if result.chunks_deferred > 0
            && let Err(e) = self.ensure_embedding_job().await
        {
            warn!(error = ?e.cause_chain(), "could not queue the embedding job");
        }
        let now = self.now();
        if let Err(e) =
            self.store.set_connection_state(conn.id, "active", None, Some(now), now).await
        {
            warn!(error = %e, "could not record the sync time");
        }
        result.elapsed_ms = started.elapsed().as_millis() as u64;
        self.pending.event(AnalyticsEventRecord {
            id: Uuid::now_v7(),
            user_id: job.created_by,
            project_id: Some(project_id),
            event_type: job.kind.clone(),
            timestamp: now,
            tokens_saved: result.tokens,
            tokens_avoided: 0,
            contexts_retrieved: 0,
            api_calls_made: 1,
            processing_time_ms: result.elapsed_ms as f64,
            model: None,
            price_per_mtok: None,
            estimated_savings_usd: 0.0,
            source: Some(source.source().into()),
            prompt_tokens: 0,
            completion_tokens: 0,
            llm_cost_usd: 0.0,
        });
        progress.phase = "done".into();
        ctx.set_progress(json!(progress));
        info!(job_id = %job.id, kind = %job.kind, found = result.items_found, synced = result.synced, unchanged = result.unchanged, removed = result.removed, failed = result.failed_total, "sync finished");
        serde_json::to_value(result).map_err(|e| JobError::Fatal(format!("the result: {e}")))
    }

    /// Who may start a sync of `product` into `project_id`: a verified caller with the `write`
    /// scope who may change the project and holds an active connection, which is answered.
    pub(super) async fn authorize_sync(
        &self,
        caller: &crate::caller::Caller,
        project_id: Option<Uuid>,
        product: Product,
    ) -> crate::error::DomainResult<(Uuid, ConnectionRecord)> {
        caller.require_scope(tc_store::Scope::Write)?;
        self.require_verified(caller)?;
        let project_id =
            project_id.ok_or_else(|| crate::error::DomainError::missing("project_id"))?;
        self.project_for(caller, project_id, crate::services::access::Access::Write).await?;
        let conn = self.active_connection(caller.user_id, product).await?;
        Ok((project_id, conn))
    }

    /// Writes a sync job of `kind` into `project_id` for the caller and wakes a worker.
    pub(super) async fn queue_sync(
        &self,
        caller: &crate::caller::Caller,
        kind: &str,
        project_id: Uuid,
        payload: &impl serde::Serialize,
    ) -> crate::error::DomainResult<SyncAccepted> {
        let payload = serde_json::to_value(payload)
            .map_err(|e| crate::error::DomainError::internal(e.to_string()))?;
        let job_id = Uuid::now_v7();
        let progress = serde_json::to_value(SyncProgress::default()).unwrap_or_default();
        let job =
            self.queued_job(job_id, kind, Some(project_id), caller.user_id, payload, progress);
        self.store.insert_job(&job).await?;
        self.job_submitted();
        Ok(SyncAccepted {
            job_id,
            status: tc_store::JobStatus::Queued,
            status_url: format!("/api/v1/jobs/{job_id}"),
        })
    }

    /// The connection a sync job runs through, once it is known that the job's starter may
    /// still change its project (a removed contributor's sync stops) and still holds the
    /// connection, active.
    pub(super) async fn sync_connection(
        &self,
        ctx: &JobContext,
        connection_id: Uuid,
        product: Product,
    ) -> Result<ConnectionRecord, JobError> {
        let job = &ctx.job;
        let project_id = job.project_id.ok_or_else(|| JobError::Fatal("no project".into()))?;
        let writable = self
            .store
            .project_with_role(project_id, job.created_by)
            .await
            .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?
            .is_some_and(|(p, role)| role.is_some() && p.deleted_at.is_none());
        if !writable {
            return Err(JobError::Fatal(
                "the project is gone or its starter may no longer change it".into(),
            ));
        }
        self.store
            .connection_by_id(connection_id)
            .await
            .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?
            .filter(|c| c.user_id == job.created_by && c.status == "active")
            .ok_or_else(|| {
                JobError::Fatal(format!(
                    "the {} connection was removed or disabled: connect again",
                    product.title()
                ))
            })
    }

    /// A failure to reach the connection's endpoint (an OAuth refresh that failed, say): a
    /// refused authorization is final, anything else is tried again later.
    pub(super) fn job_error(&self, e: crate::error::DomainError) -> JobError {
        match e.code {
            ErrorCode::JiraConnectionFailed | ErrorCode::JiraRateLimit => {
                JobError::Retryable(e.message)
            }
            _ => JobError::Fatal(e.message),
        }
    }

    /// A failure that stops a sync: a refused token disables the connection (connecting again
    /// fixes it); rate limits and outages are retried later; anything else is final.
    pub(super) fn sync_error(
        &self,
        product: Product,
        conn: &ConnectionRecord,
        e: AtlassianError,
    ) -> JobError {
        match e {
            AtlassianError::Unauthorized(m) => {
                self.disable_later(conn.id, m.clone());
                JobError::Fatal(format!(
                    "{} refused the connection's token ({m}): connect again",
                    product.title()
                ))
            }
            AtlassianError::RateLimited(m) | AtlassianError::Unavailable(m) => {
                JobError::Retryable(m)
            }
            other => JobError::Fatal(atlassian_error(product, other).message),
        }
    }

    /// Marks a connection disabled with the reason, without holding up the caller.
    pub(super) fn disable_later(&self, id: Uuid, reason: String) {
        let (store, now) = (self.store.clone(), self.now());
        tokio::spawn(async move {
            if let Err(e) =
                store.set_connection_state(id, "disabled", Some(&reason), None, now).await
            {
                warn!(connection = %id, error = %e, "could not record the refused token");
            }
        });
    }

    /// Brings one item in unless the project holds it as it is.
    async fn sync_item(&self, run: &Run<'_>, item: &Listed) -> Result<Synced, ItemError> {
        let path = format!("{}{}", run.prefix, item.id);
        if run.previous.get(&path) == Some(&run.stored_version(&item.version)) {
            return Ok(Synced::Unchanged);
        }
        let rendered = run.source.fetch(&item.id).await.map_err(|e| match e {
            AtlassianError::NotFound(_) => {
                ItemError::Skip("deleted upstream during the sync".into())
            }
            AtlassianError::BadRequest(m)
            | AtlassianError::Protocol(m)
            | AtlassianError::Forbidden(m) => ItemError::Skip(m),
            other => ItemError::Job(JobError::Retryable(other.to_string())),
        })?;
        if !rendered.unknown_nodes.is_empty() {
            info!(item = %item.label, nodes = ?rendered.unknown_nodes, "rich-text nodes rendered by the fallback");
            for node in &rendered.unknown_nodes {
                metrics::counter!(crate::metrics::ADF_UNKNOWN_NODES, "type" => node.clone())
                    .increment(1);
            }
        }
        let now = self.now();
        let mut metadata = rendered.metadata;
        metadata.insert("tags".into(), json!(rendered.tags));
        metadata.insert("sync_job_id".into(), json!(run.job_id));
        let parent = ContextRecord {
            id: Uuid::now_v7(),
            project_id: run.project_id,
            content_hash: sha256_hex(&rendered.markdown),
            token_count: count_tokens(&rendered.markdown) as i64,
            source: run.source.source().into(),
            file_path: Some(path.clone()),
            parent_id: None,
            chunk_index: None,
            metadata: Value::Object(metadata),
            content: rendered.markdown,
            created_by: run.created_by,
            accessed_count: 0,
            last_accessed: None,
            created_at: now,
            updated_at: now,
        };
        let children = chunks_of(&parent, self.pricing.limits.chunk_above_tokens);
        let tokens = parent.token_count;
        let embedded: Vec<ContextRecord> =
            if children.is_empty() { vec![parent.clone()] } else { children.clone() };
        let passages = if run.model_down.load(Ordering::Relaxed) {
            None
        } else {
            match self.passages_for_many(&embedded, Purpose::Background).await {
                Ok(p) => Some(p),
                Err(e) if e.code == ErrorCode::EmbeddingGenerationFailed => {
                    warn!(error = %e.message, "the model failed during a sync: the rest is embedded later");
                    run.model_down.store(true, Ordering::Relaxed);
                    None
                }
                Err(e) => return Err(ItemError::Job(e.into())),
            }
        };
        let deferred = if passages.is_none() { embedded.len() } else { 0 };
        let mut passages = passages.unwrap_or_else(|| vec![Vec::new(); embedded.len()]).into_iter();
        let rows: Vec<_> = if children.is_empty() {
            vec![(parent, passages.next().unwrap_or_default())]
        } else {
            std::iter::once((parent, Vec::new()))
                .chain(children.into_iter().map(|c| (c, passages.next().unwrap_or_default())))
                .collect()
        };
        let stored =
            IndexedItem { file_path: path, content_hash: run.stored_version(&rendered.version) };
        self.store
            .replace_indexed_item(run.project_id, run.source.source(), &stored, &rows)
            .await
            .map_err(|e| ItemError::Job(JobError::internal(DATABASE_UNAVAILABLE, e)))?;
        Ok(Synced::Stored { tokens, deferred })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sites_are_told_apart_by_host_and_port() {
        assert_eq!(super::site_key("https://acme.atlassian.net"), "acme.atlassian.net");
        assert_eq!(super::site_key("http://127.0.0.1:8080/jira"), "127.0.0.1:8080");
    }
}
