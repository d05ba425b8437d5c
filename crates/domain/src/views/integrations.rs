//! Jira and Confluence: connecting, the connection's status, syncs and live Jira reads.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tc_store::JobStatus;
use utoipa::ToSchema;
use uuid::Uuid;

/// How to connect, chosen by `kind`:
/// `datacenter` (`base_url`, `personal_access_token`: Data Center or Server, the token sent
/// as a Bearer token), `cloud_api_token` (`base_url`, `email`, `api_token`: Cloud with Basic
/// auth) or `cloud_oauth` (nothing else: answers an `authorize_url` to open).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ConnectRequest {
    /// `datacenter`, `cloud_api_token` or `cloud_oauth`.
    pub kind: Option<String>,
    /// The site, e.g. `https://jira.example.com` or `https://acme.atlassian.net`
    /// (Confluence Data Center may sit under a context path such as `/confluence`).
    pub base_url: Option<String>,
    /// Data Center or Server personal access token.
    pub personal_access_token: Option<String>,
    /// The Atlassian account's email (Cloud API token).
    pub email: Option<String>,
    /// Cloud API token.
    pub api_token: Option<String>,
}

/// The account a connection acts as.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema, PartialEq, Eq)]
pub struct AtlassianAccount {
    /// Cloud's account id, or Data Center's user name.
    pub name: String,
    pub display_name: String,
}

/// A connection's state. Never carries a secret.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ConnectionStatus {
    /// Whether syncs and live reads can use it now.
    pub connected: bool,
    /// `datacenter`, `cloud_api_token` or `cloud_oauth`; absent when not connected.
    pub kind: Option<String>,
    /// The site's URL.
    pub site: Option<String>,
    pub account: Option<AtlassianAccount>,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Why it cannot be used (a refused token, a failed OAuth refresh), for a person to act on.
    pub error: Option<String>,
    /// For `cloud_oauth`: where the user gives consent to finish connecting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
}

/// `POST /jira/sync`: which issues become context. With both, issues matching either.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct JiraSyncRequest {
    pub project_id: Option<Uuid>,
    /// A JQL query, e.g. `project = OPS AND updated >= -30d`.
    pub jql_query: Option<String>,
    /// Issue keys, e.g. `["OPS-1", "OPS-7"]` (at most 1,000).
    pub issue_keys: Option<Vec<String>>,
}

/// `POST /confluence/sync`: which pages become context.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct ConfluenceSyncRequest {
    pub project_id: Option<Uuid>,
    /// Space keys, e.g. `["ENG"]`.
    pub space_keys: Option<Vec<String>>,
    /// A CQL query, e.g. `space = ENG and label = runbook`.
    pub cql: Option<String>,
    /// Page ids.
    pub page_ids: Option<Vec<String>>,
}

/// A sync accepted as a background job.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SyncAccepted {
    pub job_id: Uuid,
    pub status: JobStatus,
    /// Where to follow it (`GET`).
    pub status_url: String,
}

/// Where a Jira or Confluence sync is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct SyncProgress {
    /// `listing`, `syncing`, `removing` or `done`.
    pub phase: String,
    /// Items the query matched (known once listing ends).
    pub items_total: usize,
    pub items_done: usize,
    pub synced: usize,
    pub unchanged: usize,
    pub failed: usize,
}

/// An item a sync could not bring in; the rest of the sync went on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct SyncFailure {
    /// The issue key or page id.
    pub item: String,
    pub message: String,
}

/// What a Jira or Confluence sync did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct SyncResult {
    /// Items the query matched.
    pub items_found: usize,
    /// Items stored or updated.
    pub synced: usize,
    /// Items already up to date.
    pub unchanged: usize,
    /// Items deleted upstream whose contexts were removed.
    pub removed: usize,
    /// Items that could not be brought in (at most 100 listed).
    pub failed: Vec<SyncFailure>,
    pub failed_total: usize,
    /// Tokens of the contexts stored.
    pub tokens: i64,
    /// Contexts stored without vectors because the model was unavailable (embedded later).
    pub chunks_deferred: usize,
    pub elapsed_ms: u64,
}

/// `POST /jira/search`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, JsonSchema)]
pub struct JiraSearchRequest {
    pub jql: Option<String>,
    /// 1–100 (default 50).
    pub max_results: Option<u32>,
    /// The `next_page_token` of the previous answer, for the next page.
    pub next_page_token: Option<String>,
}

/// An issue in search results.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct JiraIssueSummary {
    pub id: String,
    pub key: String,
    pub summary: String,
    pub status: String,
    pub issue_type: String,
    pub priority: Option<String>,
    pub assignee: Option<String>,
    pub updated: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct JiraSearchResponse {
    pub issues: Vec<JiraIssueSummary>,
    /// Pass it back for the next page; absent on the last one.
    pub next_page_token: Option<String>,
}

/// One issue, live, as the context a sync would store.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct JiraIssueView {
    pub id: String,
    pub key: String,
    pub summary: String,
    pub status: String,
    pub issue_type: String,
    pub url: String,
    pub updated: String,
    /// The issue with its description and every comment, in Markdown.
    pub markdown: String,
}

/// `DELETE .../disconnect`.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct Disconnected {
    /// False when there was no connection to remove.
    pub disconnected: bool,
}
