//! Jira issues as context: the `jira_sync` job, and live reads (one issue, a search) through
//! the caller's connection.
//!
//! A sync lists every issue the query matches with only its id, key and `updated` (cheap
//! pages), then fetches and stores just the issues whose `updated` differs from what the
//! project holds: re-syncs are incremental, and a sync killed midway resumes where it stopped
//! (what it stored is up to date and skipped). Each issue is one item, keyed by its numeric id
//! (keys change when an issue moves), replaced whole in one transaction. Issues the project
//! holds from this site that the query no longer lists are looked up one by one, and removed
//! when Jira says they no longer exist. One issue failing is recorded in the result and the
//! rest go on; a refused token, a rate limit that does not end, or Jira down stop the job
//! (retried later for the last two).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tc_atlassian::AtlassianError;
use tc_atlassian::jira::{Cursor, Flavour, Hit, Jira, is_issue_key};
use tc_store::{
    AnalyticsEventRecord, ConnectionRecord, ContextRecord, IndexedItem, JobStatus, Scope,
};
use tracing::{info, warn};
use uuid::Uuid;

use super::{Product, atlassian_error};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::services::Services;
use crate::services::access::Access;
use crate::services::embedding::Purpose;
use crate::services::jobs::{JobContext, JobError, JobHandler};
use crate::services::save::chunks_of;
use crate::services::tokens::count_tokens;
use crate::views::{
    JiraIssueSummary, JiraIssueView, JiraSearchRequest, JiraSearchResponse, JiraSyncRequest,
    SyncAccepted, SyncFailure, SyncProgress, SyncResult,
};

pub const JIRA_SYNC_KIND: &str = "jira_sync";
/// The source of synced issues' contexts.
pub const JIRA_SOURCE: &str = "jira";
/// Issue keys one sync may name.
const MAX_KEYS: usize = 1000;
const MAX_JQL_LEN: usize = 10_000;
/// Issues fetched at once.
const ISSUES_IN_FLIGHT: usize = 4;
/// Failures listed in a result (all are counted).
const MAX_LISTED: usize = 100;
/// Part of every stored item's hash: bumping it re-renders every issue on the next sync.
const FORMAT_VERSION: &str = "jira-md-1";
const DATABASE_UNAVAILABLE: &str = "the database was unavailable; the sync will be retried";

#[derive(Debug, Serialize, Deserialize)]
struct SyncPayload {
    connection_id: Uuid,
    /// The query the sync runs (the request's JQL and keys combined).
    jql: String,
}

/// The Jira sync job.
#[derive(Debug)]
pub struct JiraSyncJob;

#[async_trait::async_trait]
impl JobHandler for JiraSyncJob {
    fn kind(&self) -> &'static str {
        JIRA_SYNC_KIND
    }

    async fn run(&self, services: &Services, ctx: &JobContext) -> Result<Value, JobError> {
        services.run_jira_sync(ctx).await
    }
}

/// The query of a sync: the user's JQL (its ORDER BY dropped: the sync does not need one)
/// and the keys, either matching.
fn sync_jql(jql: Option<&str>, keys: &[String]) -> DomainResult<String> {
    let mut parts = Vec::new();
    if let Some(jql) = jql.map(str::trim).filter(|j| !j.is_empty()) {
        if jql.len() > MAX_JQL_LEN {
            return Err(DomainError::validation("jql_query", "`jql_query` is too long"));
        }
        parts.push(format!("({})", without_order_by(jql)));
    }
    if !keys.is_empty() {
        if keys.len() > MAX_KEYS {
            return Err(DomainError::validation(
                "issue_keys",
                format!("at most {MAX_KEYS} `issue_keys` per sync"),
            ));
        }
        if let Some(bad) = keys.iter().find(|k| !is_issue_key(k)) {
            return Err(DomainError::validation(
                "issue_keys",
                format!("{bad:?} is not an issue key (like OPS-123)"),
            ));
        }
        parts.push(format!("key in ({})", keys.join(", ")));
    }
    if parts.is_empty() {
        return Err(DomainError::validation(
            "jql_query",
            "give `jql_query`, `issue_keys`, or both",
        ));
    }
    Ok(parts.join(" OR "))
}

/// JQL without a trailing `ORDER BY …` (outside quotes), which cannot stand inside parentheses.
fn without_order_by(jql: &str) -> &str {
    let lower = jql.to_ascii_lowercase();
    match lower.rfind("order by") {
        Some(at) if !jql[at..].contains(['"', '\'']) => jql[..at].trim_end(),
        _ => jql,
    }
}

/// `host[:port]` of a site: the part of an item's path that tells sites apart.
fn site_key(site_url: &str) -> String {
    let parsed = url::Url::parse(site_url).ok();
    let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("site").to_string();
    match parsed.and_then(|u| u.port()) {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// What one issue came to.
enum Synced {
    Unchanged,
    Stored { tokens: i64, deferred: usize },
}

/// Why one issue was not synced: its own problem (recorded, the sync goes on) or the job's.
enum ItemError {
    Skip(String),
    Job(JobError),
}

/// What every issue of one sync shares.
struct SyncRun<'a> {
    job_id: Uuid,
    created_by: Uuid,
    project_id: Uuid,
    jira: &'a Jira,
    site: &'a str,
    previous: &'a HashMap<String, String>,
    model_down: &'a AtomicBool,
}

impl Services {
    /// Accepts a sync of Jira issues into a project as a background job.
    pub async fn start_jira_sync(
        &self,
        caller: &Caller,
        req: JiraSyncRequest,
    ) -> DomainResult<SyncAccepted> {
        caller.require_scope(Scope::Write)?;
        self.require_verified(caller)?;
        let project_id = req.project_id.ok_or_else(|| DomainError::missing("project_id"))?;
        self.project_for(caller, project_id, Access::Write).await?;
        let jql = sync_jql(req.jql_query.as_deref(), req.issue_keys.as_deref().unwrap_or(&[]))?;
        let conn = self.active_connection(caller.user_id, Product::Jira).await?;
        let job_id = Uuid::now_v7();
        let payload = SyncPayload { connection_id: conn.id, jql };
        let job = self.queued_job(
            job_id,
            JIRA_SYNC_KIND,
            Some(project_id),
            caller.user_id,
            serde_json::to_value(&payload).unwrap_or_default(),
            serde_json::to_value(SyncProgress::default()).unwrap_or_default(),
        );
        self.store.insert_job(&job).await?;
        self.job_submitted();
        Ok(SyncAccepted {
            job_id,
            status: JobStatus::Queued,
            status_url: format!("/api/v1/jobs/{job_id}"),
        })
    }

    /// One issue, live, rendered as a sync would store it.
    pub async fn jira_issue(&self, caller: &Caller, key: &str) -> DomainResult<JiraIssueView> {
        caller.require_scope(Scope::Read)?;
        if !is_issue_key(key) {
            return Err(DomainError::validation(
                "key",
                format!("{key:?} is not an issue key (like OPS-123)"),
            ));
        }
        let conn = self.active_connection(caller.user_id, Product::Jira).await?;
        let jira = self.jira_client(&conn)?;
        let issue = jira.issue(key).await.map_err(|e| self.live_error(&conn, e))?;
        let doc = jira.render(&issue).map_err(|e| atlassian_error(Product::Jira, e))?;
        Ok(JiraIssueView {
            id: doc.id,
            key: doc.key,
            summary: doc.summary,
            status: doc.status,
            issue_type: doc.issue_type,
            url: doc.url,
            updated: doc.updated,
            markdown: doc.markdown,
        })
    }

    /// A JQL search, live, one page at a time.
    pub async fn jira_search(
        &self,
        caller: &Caller,
        req: JiraSearchRequest,
    ) -> DomainResult<JiraSearchResponse> {
        caller.require_scope(Scope::Read)?;
        let jql = req.jql.map(|j| j.trim().to_string()).filter(|j| !j.is_empty());
        let jql = jql.ok_or_else(|| DomainError::missing("jql"))?;
        if jql.len() > MAX_JQL_LEN {
            return Err(DomainError::validation("jql", "`jql` is too long"));
        }
        let max = req.max_results.unwrap_or(50);
        if !(1..=100).contains(&max) {
            return Err(DomainError::validation("max_results", "`max_results` must be 1–100"));
        }
        let conn = self.active_connection(caller.user_id, Product::Jira).await?;
        let jira = self.jira_client(&conn)?;
        let cursor = match (req.next_page_token, jira.flavour()) {
            (None, _) => None,
            (Some(t), Flavour::Cloud) => Some(Cursor::Token(t)),
            (Some(t), Flavour::DataCenter) => Some(Cursor::Offset(t.parse().map_err(|_| {
                DomainError::validation(
                    "next_page_token",
                    "`next_page_token` is not one this API gave",
                )
            })?)),
        };
        let fields = ["summary", "status", "issuetype", "priority", "assignee", "updated"];
        let page = jira
            .search_page(&jql, &fields, u64::from(max), cursor.as_ref())
            .await
            .map_err(|e| self.live_error(&conn, e))?;
        let text = |issue: &Value, pointer: &str| {
            issue.pointer(pointer).and_then(Value::as_str).map(str::to_string)
        };
        let issues = page
            .issues
            .iter()
            .map(|issue| {
                let key = text(issue, "/key").unwrap_or_default();
                JiraIssueSummary {
                    id: issue
                        .get("id")
                        .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                        .unwrap_or_default(),
                    url: jira.issue_url(&key),
                    key,
                    summary: text(issue, "/fields/summary").unwrap_or_default(),
                    status: text(issue, "/fields/status/name").unwrap_or_default(),
                    issue_type: text(issue, "/fields/issuetype/name").unwrap_or_default(),
                    priority: text(issue, "/fields/priority/name"),
                    assignee: text(issue, "/fields/assignee/displayName"),
                    updated: text(issue, "/fields/updated"),
                }
            })
            .collect();
        let next_page_token = page.next.map(|c| match c {
            Cursor::Token(t) => t,
            Cursor::Offset(n) => n.to_string(),
        });
        Ok(JiraSearchResponse { issues, next_page_token })
    }

    /// A live call's failure; a refused token also marks the connection.
    fn live_error(&self, conn: &ConnectionRecord, e: AtlassianError) -> DomainError {
        if let AtlassianError::Unauthorized(m) = &e {
            self.disable_later(conn.id, m.clone());
        }
        atlassian_error(Product::Jira, e)
    }

    /// Marks a connection disabled with the reason, without holding up the caller.
    fn disable_later(&self, id: Uuid, reason: String) {
        let (store, now) = (self.store.clone(), self.now());
        tokio::spawn(async move {
            if let Err(e) =
                store.set_connection_state(id, "disabled", Some(&reason), None, now).await
            {
                warn!(connection = %id, error = %e, "could not record the refused token");
            }
        });
    }

    async fn run_jira_sync(&self, ctx: &JobContext) -> Result<Value, JobError> {
        let started = Instant::now();
        let job = &ctx.job;
        let payload: SyncPayload = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fatal(format!("unreadable sync request: {e}")))?;
        let project_id = job.project_id.ok_or_else(|| JobError::Fatal("no project".into()))?;
        // The starter must still be able to change the project (a removed contributor's sync
        // stops) and still hold the connection.
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
        let conn = self
            .store
            .connection_by_id(payload.connection_id)
            .await
            .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?
            .filter(|c| c.user_id == job.created_by && c.status == "active")
            .ok_or_else(|| {
                JobError::Fatal("the Jira connection was removed or disabled: connect again".into())
            })?;
        let jira = self.jira_client(&conn).map_err(|e| JobError::Fatal(e.message))?;
        let mut progress = SyncProgress { phase: "listing".into(), ..SyncProgress::default() };
        ctx.set_progress(json!(progress));

        let hits = jira
            .sweep(&payload.jql, |n| {
                progress.items_total = n;
                ctx.set_progress(json!(progress));
            })
            .await
            .map_err(|e| self.sync_error(&conn, e))?;
        let site = site_key(&conn.site_url);
        let prefix = format!("jira/{site}/");
        let previous: HashMap<String, String> = self
            .store
            .indexed_items(project_id, JIRA_SOURCE)
            .await
            .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?
            .into_iter()
            .filter(|i| i.file_path.starts_with(&prefix))
            .map(|i| (i.file_path, i.content_hash))
            .collect();
        progress.phase = "syncing".into();
        progress.items_total = hits.len();
        ctx.set_progress(json!(progress));

        let model_down = AtomicBool::new(false);
        let run = SyncRun {
            job_id: job.id,
            created_by: job.created_by,
            project_id,
            jira: &jira,
            site: &site,
            previous: &previous,
            model_down: &model_down,
        };
        let mut result = SyncResult { items_found: hits.len(), ..SyncResult::default() };
        let mut outcomes = stream::iter(0..hits.len())
            .map(|i| self.sync_issue(&run, &hits[i]))
            .buffered(ISSUES_IN_FLIGHT);
        for hit in &hits {
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
                        result.failed.push(SyncFailure { item: hit.key.clone(), message });
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

        // Issues the query no longer lists: removed if Jira says they are gone.
        progress.phase = "removing".into();
        ctx.set_progress(json!(progress));
        let listed: HashSet<String> = hits.iter().map(|h| format!("{prefix}{}", h.id)).collect();
        let mut gone = Vec::new();
        for path in previous.keys().filter(|p| !listed.contains(*p)) {
            if ctx.stopped() {
                return Err(JobError::Cancelled);
            }
            let id = path.trim_start_matches(&prefix);
            match jira.exists(id).await {
                Ok(false) => gone.push(path.clone()),
                Ok(true) => {}
                Err(e) => return Err(self.sync_error(&conn, e)),
            }
        }
        if !gone.is_empty() {
            self.store
                .remove_indexed_items(project_id, JIRA_SOURCE, &gone)
                .await
                .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?;
        }
        result.removed = gone.len();

        if result.chunks_deferred > 0
            && let Err(e) = self.ensure_embedding_job().await
        {
            warn!(error = ?e.cause_chain(), "could not queue the embedding job");
        }
        if let Err(e) = self
            .store
            .set_connection_state(conn.id, "active", None, Some(self.now()), self.now())
            .await
        {
            warn!(error = %e, "could not record the sync time");
        }
        result.elapsed_ms = started.elapsed().as_millis() as u64;
        self.pending.event(AnalyticsEventRecord {
            id: Uuid::now_v7(),
            user_id: job.created_by,
            project_id: Some(project_id),
            event_type: JIRA_SYNC_KIND.into(),
            timestamp: self.now(),
            tokens_saved: result.tokens,
            tokens_avoided: 0,
            contexts_retrieved: 0,
            api_calls_made: 1,
            processing_time_ms: result.elapsed_ms as f64,
            model: None,
            price_per_mtok: None,
            estimated_savings_usd: 0.0,
            source: Some(JIRA_SOURCE.into()),
        });
        progress.phase = "done".into();
        ctx.set_progress(json!(progress));
        info!(job_id = %job.id, found = result.items_found, synced = result.synced, unchanged = result.unchanged, removed = result.removed, failed = result.failed_total, "Jira sync finished");
        serde_json::to_value(result).map_err(|e| JobError::Fatal(format!("the result: {e}")))
    }

    /// A failure that stops the sync: a refused token disables the connection (connecting
    /// again fixes it); rate limits and outages are retried later; anything else is final.
    fn sync_error(&self, conn: &ConnectionRecord, e: AtlassianError) -> JobError {
        match e {
            AtlassianError::Unauthorized(m) => {
                self.disable_later(conn.id, m.clone());
                JobError::Fatal(format!("Jira refused the connection's token ({m}): connect again"))
            }
            AtlassianError::RateLimited(m) | AtlassianError::Unavailable(m) => {
                JobError::Retryable(m)
            }
            other => JobError::Fatal(atlassian_error(Product::Jira, other).message),
        }
    }

    /// Brings one issue in unless the project holds it as it is.
    async fn sync_issue(&self, run: &SyncRun<'_>, hit: &Hit) -> Result<Synced, ItemError> {
        let path = format!("jira/{}/{}", run.site, hit.id);
        if run.previous.get(&path) == Some(&format!("{FORMAT_VERSION}:{}", hit.updated)) {
            return Ok(Synced::Unchanged);
        }
        let issue = run.jira.issue(&hit.id).await.map_err(|e| match e {
            AtlassianError::NotFound(_) => {
                ItemError::Skip("deleted in Jira during the sync".into())
            }
            AtlassianError::BadRequest(m)
            | AtlassianError::Protocol(m)
            | AtlassianError::Forbidden(m) => ItemError::Skip(m),
            other => ItemError::Job(JobError::Retryable(other.to_string())),
        })?;
        let doc = run.jira.render(&issue).map_err(|e| ItemError::Skip(e.to_string()))?;
        if !doc.unknown_nodes.is_empty() {
            info!(key = %doc.key, nodes = ?doc.unknown_nodes, "ADF nodes rendered by the fallback");
            for node in &doc.unknown_nodes {
                metrics::counter!(crate::metrics::ADF_UNKNOWN_NODES, "type" => node.clone())
                    .increment(1);
            }
        }
        let now = self.now();
        let issue_type = doc.issue_type.to_lowercase();
        let mut tags = vec!["jira".to_string()];
        if !issue_type.is_empty() {
            tags.push(issue_type);
        }
        let parent = ContextRecord {
            id: Uuid::now_v7(),
            project_id: run.project_id,
            content_hash: super::super::context::sha256_hex(&doc.markdown),
            token_count: count_tokens(&doc.markdown) as i64,
            source: JIRA_SOURCE.into(),
            file_path: Some(path.clone()),
            parent_id: None,
            chunk_index: None,
            metadata: json!({
                "tags": tags,
                "title": format!("{}: {}", doc.key, doc.summary),
                "jira_issue_key": doc.key,
                "jira_issue_id": doc.id,
                "jira_status": doc.status,
                "jira_site": run.site,
                "url": doc.url,
                "sync_job_id": run.job_id,
            }),
            content: doc.markdown,
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
        let item = IndexedItem {
            file_path: path,
            content_hash: format!("{FORMAT_VERSION}:{}", doc.updated),
        };
        self.store
            .replace_indexed_item(run.project_id, JIRA_SOURCE, &item, &rows)
            .await
            .map_err(|e| ItemError::Job(JobError::internal(DATABASE_UNAVAILABLE, e)))?;
        Ok(Synced::Stored { tokens, deferred })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_query_joins_jql_and_keys() {
        assert_eq!(
            sync_jql(Some("project = OPS ORDER BY updated DESC"), &[]).unwrap(),
            "(project = OPS)"
        );
        assert_eq!(
            sync_jql(Some("summary ~ \"order by\""), &["OPS-1".into()]).unwrap(),
            "(summary ~ \"order by\") OR key in (OPS-1)"
        );
        assert_eq!(sync_jql(None, &["A-1".into(), "B-2".into()]).unwrap(), "key in (A-1, B-2)");
        assert_eq!(sync_jql(Some("  "), &[]).unwrap_err().code, ErrorCode::ValidationFailed);
        assert_eq!(
            sync_jql(None, &["x) OR (1=1".into()]).unwrap_err().code,
            ErrorCode::ValidationFailed
        );
    }

    #[test]
    fn sites_are_told_apart_by_host_and_port() {
        assert_eq!(site_key("https://acme.atlassian.net"), "acme.atlassian.net");
        assert_eq!(site_key("http://127.0.0.1:8080/jira"), "127.0.0.1:8080");
    }
}
