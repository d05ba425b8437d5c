//! Jira issues as context: the `jira_sync` job (the [`Source`] of issues the sync engine
//! runs), and live reads (one issue, a search) through the caller's connection.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tc_atlassian::AtlassianError;
use tc_atlassian::jira::{Cursor, Flavour, Jira, id_string, is_issue_key};
use tc_store::{ConnectionRecord, Scope};
use uuid::Uuid;

use super::sync::{Listed, Rendered, Source, site_key};
use super::{Product, atlassian_error};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::services::Services;
use crate::services::jobs::{JobContext, JobError, JobHandler};
use crate::views::{
    JiraIssueSummary, JiraIssueView, JiraSearchRequest, JiraSearchResponse, JiraSyncRequest,
    SyncAccepted,
};

pub const JIRA_SYNC_KIND: &str = "jira_sync";
/// The source of synced issues' contexts.
pub const JIRA_SOURCE: &str = "jira";
/// Issue keys one sync may name.
const MAX_KEYS: usize = 1000;
const MAX_JQL_LEN: usize = 10_000;
/// Part of every stored item's hash: bumping it re-renders every issue on the next sync.
const FORMAT_VERSION: &str = "jira-md-1";

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

impl Services {
    /// Accepts a sync of Jira issues into a project as a background job.
    pub async fn start_jira_sync(
        &self,
        caller: &Caller,
        req: JiraSyncRequest,
    ) -> DomainResult<SyncAccepted> {
        let (project_id, conn) = self.authorize_sync(caller, req.project_id, Product::Jira).await?;
        let jql = sync_jql(req.jql_query.as_deref(), req.issue_keys.as_deref().unwrap_or(&[]))?;
        let payload = SyncPayload { connection_id: conn.id, jql };
        self.queue_sync(caller, JIRA_SYNC_KIND, project_id, &payload).await
    }

    /// One issue, live, rendered as a sync would store it.
    pub async fn jira_issue(&self, caller: &Caller, key: &str) -> DomainResult<JiraIssueView> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Read)?;
        if !is_issue_key(key) {
            return Err(DomainError::validation(
                "key",
                format!("{key:?} is not an issue key (like OPS-123)"),
            ));
        }
        let conn = self.active_connection(caller.user_id, Product::Jira).await?;
        let jira = self.jira_client(&conn).await?;
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
        self.require_verified(caller)?;
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
        let jira = self.jira_client(&conn).await?;
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
                    id: id_string(issue.get("id")).unwrap_or_default(),
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

    async fn run_jira_sync(&self, ctx: &JobContext) -> Result<Value, JobError> {
        let job = &ctx.job;
        let payload: SyncPayload = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fatal(format!("unreadable sync request: {e}")))?;
        let conn = self.sync_connection(ctx, payload.connection_id, Product::Jira).await?;
        let jira = self.jira_client(&conn).await.map_err(|e| self.job_error(e))?;
        let source = IssueSource { jira, jql: payload.jql, site: site_key(&conn.site_url) };
        self.run_sync(ctx, Product::Jira, &conn, &source).await
    }
}

/// The issues a JQL query matches.
struct IssueSource {
    jira: Jira,
    jql: String,
    site: String,
}

#[async_trait::async_trait]
impl Source for IssueSource {
    fn source(&self) -> &'static str {
        JIRA_SOURCE
    }

    fn format(&self) -> &'static str {
        FORMAT_VERSION
    }

    async fn list(
        &self,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Listed>, AtlassianError> {
        let hits = self.jira.sweep(&self.jql, on_page).await?;
        Ok(hits
            .into_iter()
            .map(|h| Listed { id: h.id, label: h.key, version: h.updated })
            .collect())
    }

    async fn fetch(&self, id: &str) -> Result<Rendered, AtlassianError> {
        let issue = self.jira.issue(id).await?;
        let doc = self.jira.render(&issue)?;
        let mut tags = vec!["jira".to_string()];
        if !doc.issue_type.is_empty() {
            tags.push(doc.issue_type.to_lowercase());
        }
        let metadata = json!({
            "title": format!("{}: {}", doc.key, doc.summary),
            "jira_issue_key": doc.key,
            "jira_issue_id": doc.id,
            "jira_status": doc.status,
            "jira_site": self.site,
            "url": doc.url,
        });
        Ok(Rendered {
            markdown: doc.markdown,
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            tags,
            version: doc.updated,
            unknown_nodes: doc.unknown_nodes,
        })
    }

    async fn exists(&self, id: &str) -> Result<bool, AtlassianError> {
        self.jira.exists(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

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
}
