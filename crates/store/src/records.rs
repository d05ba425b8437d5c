//! The rows the store keeps, as plain Rust values. These are storage records, not API views:
//! they carry hashes and internal fields that `tc-domain` never hands to a client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    /// As the user typed it; uniqueness is case-insensitive.
    pub email: String,
    pub name: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, schemars::JsonSchema))]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Scope> {
        s.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The first characters of the key, shown in lists so a user can tell keys apart.
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub hash: String,
    pub scopes: Vec<Scope>,
    pub project_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// All tokens descended from one login share a family; reuse revokes the family.
    pub family_id: Uuid,
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, schemars::JsonSchema))]
pub enum Visibility {
    /// Only members see it.
    Private,
    /// Every account on the server may read it; only members may write.
    Team,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        s.parse().ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, schemars::JsonSchema))]
pub enum Role {
    Owner,
    Contributor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Role> {
        s.parse().ok()
    }
}

/// Per-project settings, stored as JSON so new settings need no migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    pub auto_scan: bool,
    pub embedding_model: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRecord {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub owner_id: Uuid,
    pub visibility: Visibility,
    pub settings: ProjectSettings,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which of a user's projects a list returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectListFilter {
    /// Live projects the user owns or contributes to.
    Live,
    /// Soft-deleted projects the user owns (candidates for restore).
    DeletedOwned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub added_at: DateTime<Utc>,
}

/// An invitation to join a project, addressed to an email whether or not an account has it yet.
/// It grants nothing: the membership exists once the invited account accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    /// Lower-cased.
    pub email: String,
    pub role: Role,
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// An operator's invitation to register while sign-up is by invitation (`REGISTRATION=invite`):
/// a single-use token, stored hashed, for one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupInvitationRecord {
    pub id: Uuid,
    /// Lower-cased.
    pub email: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// What a one-time email token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTokenPurpose {
    /// Set a new password without the old one (`/auth/reset-password`).
    ResetPassword,
    /// Prove the account holder reads mail at its address (`/auth/verify-email`).
    VerifyEmail,
}

impl EmailTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailTokenPurpose::ResetPassword => "reset_password",
            EmailTokenPurpose::VerifyEmail => "verify_email",
        }
    }
}

/// A single-use token mailed to an account's address, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTokenRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: EmailTokenPurpose,
    /// The address the token was sent to, lower-cased: a verification proves this address only.
    pub email: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// An MCP session as replicas share it: its owner and its protocol state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpSessionRecord {
    pub id: String,
    /// Who opened it; `None` until the server has recorded it.
    pub user_id: Option<Uuid>,
    /// The MCP SDK's session state (the client's initialize parameters), as JSON.
    pub state: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
}

/// A piece of saved context: a note, a decision, a code chunk, an issue.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    pub content: String,
    /// Lower-case hex SHA-256 of `content`.
    pub content_hash: String,
    /// Tokens of `content` in cl100k_base.
    pub token_count: i64,
    /// `manual`, `api`, `claude`, `cursor`, `codebase_scan`, `jira`, …
    pub source: String,
    pub file_path: Option<String>,
    /// Set on the chunks of an automatically split large context.
    pub parent_id: Option<Uuid>,
    pub chunk_index: Option<i64>,
    /// Everything else the client sent (tags, language, …) plus `created_by`, as a JSON object.
    pub metadata: serde_json::Value,
    pub created_by: Uuid,
    pub accessed_count: i64,
    pub last_accessed: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One embedding window of a context: bytes `start..end` of its content and their vector.
#[derive(Debug, Clone, PartialEq)]
pub struct PassageRecord {
    pub context_id: Uuid,
    pub project_id: Uuid,
    pub start: usize,
    pub end: usize,
    /// The embedding model that made `vector`.
    pub model: String,
    pub vector: Vec<f32>,
}

/// Narrows a context list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextFilter {
    pub source: Option<String>,
    pub tag: Option<String>,
    pub file_path_prefix: Option<String>,
}

/// A context found by vector search: its best passage and that passage's cosine similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorHit {
    pub context_id: Uuid,
    pub start: usize,
    pub end: usize,
    pub similarity: f32,
}

/// A context found by keyword search, with its BM25 score (higher is better).
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordHit {
    pub context_id: Uuid,
    pub score: f64,
}

/// One analytics event (SPEC §3).
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsEventRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Option<Uuid>,
    /// `context_save`, `context_retrieve`, `scan_codebase`, `jira_sync`, …
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub tokens_saved: i64,
    pub tokens_avoided: i64,
    pub contexts_retrieved: i64,
    pub api_calls_made: i64,
    pub processing_time_ms: f64,
    pub model: Option<String>,
    pub price_per_mtok: Option<f64>,
    pub estimated_savings_usd: f64,
    /// Who acted: a saved context's `source`, or the assistant (MCP client) or `api` that
    /// retrieved; reports break usage down by it.
    pub source: Option<String>,
    /// An AI call's use of the language model (0 for other events) and what it cost.
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub llm_cost_usd: f64,
}

/// Which analytics events a report covers: `from` ≤ timestamp < `until`, optionally one user's,
/// in the listed projects (and, when `include_projectless`, events tied to no project).
#[derive(Debug, Clone, PartialEq)]
pub struct EventScope {
    pub user_id: Option<Uuid>,
    pub project_ids: Vec<Uuid>,
    pub include_projectless: bool,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// What [`AnalyticsStore::event_totals`](crate::AnalyticsStore::event_totals) groups by (besides the event type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventGroup {
    /// The UTC day of the event.
    Day,
    Project,
    Source,
}

/// The key of one group of [`EventTotals`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKey {
    /// Midnight UTC of the day.
    Day(DateTime<Utc>),
    Project(Option<Uuid>),
    Source(Option<String>),
}

/// Sums over the analytics events of one group and event type.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTotals {
    pub key: EventKey,
    pub event_type: String,
    pub events: i64,
    pub tokens_saved: i64,
    pub tokens_avoided: i64,
    pub contexts_retrieved: i64,
    pub api_calls_made: i64,
    pub estimated_savings_usd: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub llm_cost_usd: f64,
}

/// Size and access figures over the contexts of some projects.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextInsights {
    /// Contexts as saved (auto-chunked children are counted with their parent).
    pub contexts: i64,
    /// The tokens of those contexts.
    pub tokens: i64,
    /// Bytes of stored text plus embedding vectors (indexes not included).
    pub storage_bytes: i64,
    /// The most accessed contexts (accessed at least once), most accessed first.
    pub most_accessed: Vec<ContextRecord>,
}

/// How busy a store's database connections are, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Connections running a statement now.
    pub in_use: u32,
    /// Open connections waiting for work.
    pub idle: u32,
}

/// Where a background job is in its life (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema, schemars::JsonSchema))]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// A durable background job: written before its work starts, leased by one worker at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: Uuid,
    /// Which handler runs it (`scan_codebase`, …).
    pub kind: String,
    pub project_id: Option<Uuid>,
    pub created_by: Uuid,
    /// The handler's input.
    pub payload: serde_json::Value,
    pub status: JobStatus,
    /// The handler's last reported progress (a JSON object).
    pub progress: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// Times a worker has started it.
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not claimable before this (retry backoff).
    pub run_after: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a worker ends the job it holds.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Succeeded(serde_json::Value),
    Failed(String),
    Cancelled,
    /// Failed this time; queue it again, claimable from `run_after` (if attempts remain;
    /// otherwise it fails with `error`).
    Retry {
        error: String,
        run_after: DateTime<Utc>,
    },
}

/// A file a codebase scan indexed: its content hash decides whether a re-scan redoes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedItem {
    pub file_path: String,
    pub content_hash: String,
}

/// A user's connection to Jira or Confluence. Its secrets are sealed by the domain before they
/// get here; the store never sees one in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// `jira` or `confluence`.
    pub product: String,
    /// `datacenter`, `cloud_api_token` or `cloud_oauth`.
    pub kind: String,
    /// Where the API is called (the site, or the OAuth gateway with the cloud id).
    pub base_url: String,
    /// The site people browse (issue and page links).
    pub site_url: String,
    pub cloud_id: Option<String>,
    /// The account email of a Cloud API token (Basic auth needs it).
    pub email: Option<String>,
    pub account_name: Option<String>,
    pub account_display_name: Option<String>,
    pub secrets: Vec<SecretRecord>,
    /// When the OAuth access token expires.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Bumped by every change of the secrets (compare-and-swap for refreshes and rotations).
    pub token_version: i64,
    /// `active`, `pending` (OAuth consent not finished) or `disabled`.
    pub status: String,
    pub error: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An MCP server a user registered for the agent. Its bearer token is sealed by the domain
/// before it gets here; `tools` caches the server's tool list as the domain wrote it (a JSON
/// array), refreshed when older than the cache's lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// Unique per user: the prefix of its tools' names.
    pub name: String,
    pub url: String,
    /// Kind `bearer_token`; `None` for a server that needs no authentication.
    pub token: Option<SecretRecord>,
    pub tools: serde_json::Value,
    pub tools_refreshed_at: Option<DateTime<Utc>>,
    /// Why the last refresh failed (the cached tools are kept); `None` after a success.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user's own language model, used by their AI calls instead of the server's. Its
/// credentials (API key and extra headers, as JSON) are sealed by the domain before they get
/// here, bound to the user's id.
#[derive(Debug, Clone, PartialEq)]
pub struct UserLlmRecord {
    pub user_id: Uuid,
    pub base_url: String,
    pub model: String,
    /// Kind `llm_credentials`.
    pub credentials: SecretRecord,
    /// The last "test connection": when, and why it failed (`None`: it answered).
    pub tested_at: Option<DateTime<Utc>>,
    pub test_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A team task: in a project (its members see it), or its creator's alone without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub id: Uuid,
    pub project_id: Option<Uuid>,
    pub title: String,
    /// Markdown.
    pub description: String,
    /// `todo`, `in_progress` or `done`.
    pub status: String,
    /// `low`, `medium` or `high`.
    pub priority: String,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<chrono::NaiveDate>,
    pub tags: Vec<String>,
    /// Contexts the task is about.
    pub context_ids: Vec<Uuid>,
    /// Jira issue keys (`OPS-12`).
    pub jira_keys: Vec<String>,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A Jira story draft: the story as it is now, every version it went through, and what
/// creating it in Jira did. The domain owns the JSON shapes; the store keeps them whole.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryDraftRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    pub created_by: Uuid,
    /// The task the created issue's key is linked to.
    pub task_id: Option<Uuid>,
    pub jira_project_key: Option<String>,
    pub parent_key: Option<String>,
    pub requirements: String,
    /// The current story (format, summary, description, criteria, labels, estimate).
    pub story: serde_json::Value,
    /// The contexts the draft was made from, as cited.
    pub sources: serde_json::Value,
    /// Every version, oldest first, with what made it.
    pub revisions: serde_json::Value,
    /// `draft`, `creating` (a create is under way) or `created`.
    pub status: String,
    /// The label a create stamps on the issue, to find it if Jira's answer is lost.
    pub create_marker: Option<String>,
    pub jira_key: Option<String>,
    pub jira_url: Option<String>,
    /// Why the last create failed.
    pub last_error: Option<String>,
    /// Bumped by every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which tasks a list returns: those of `project_ids`, plus `personal_of`'s own tasks without a
/// project, narrowed by the optional conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub project_ids: Vec<Uuid>,
    pub personal_of: Option<Uuid>,
    pub status: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub tag: Option<String>,
    /// Due strictly before this day.
    pub due_before: Option<chrono::NaiveDate>,
}

/// One sealed secret of a connection: its kind (`personal_access_token`, `api_token`,
/// `access_token`, `refresh_token`), the key version that sealed it, nonce ‖ ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub kind: String,
    pub key_version: i64,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretRecord {{ kind: {:?}, key_version: {} }}", self.kind, self.key_version)
    }
}

/// An AI chat session: a user's conversation, optionally about one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Option<Uuid>,
    /// Empty until the first message names it.
    pub title: String,
    pub created_at: DateTime<Utc>,
    /// The last activity: creation or the latest message.
    pub updated_at: DateTime<Utc>,
}

/// One message of a chat session, a row of its own (never a blob per chat), so the next turn's
/// history is rebuilt from the database by whichever replica serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessageRecord {
    pub id: Uuid,
    pub session_id: Uuid,
    /// The position in the session, set by the store when the message is appended.
    pub seq: i64,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// How an assistant message was made: `llm` or `extractive`.
    pub mode: Option<String>,
    /// `complete`, `cancelled` (the client left or stopped it) or `error`.
    pub status: String,
    pub finish_reason: Option<String>,
    /// The model that wrote it.
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// The numbered sources the answer was given (and may cite), as sent to the client.
    pub sources: serde_json::Value,
    /// Why the model could not answer (the extractive answer was given instead), or why the
    /// message ended in `error`.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The tools an agent turn called, in the order it called them (stored with the message,
    /// in a table of their own).
    pub tool_calls: Vec<ChatToolCallRecord>,
}

/// One tool call of an agent turn: what was asked, what came back, how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatToolCallRecord {
    pub id: Uuid,
    /// The id the model gave the call (answered by the tool message of the same id).
    pub call_id: String,
    pub name: String,
    /// The external MCP server the tool came from; `None` for TeamContext's own tools.
    pub server: Option<String>,
    pub arguments: serde_json::Value,
    /// The tool's answer, or `None` when it failed (then `error` says why).
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// The tool writes on the user's behalf (saves, scans, syncs).
    pub writes: bool,
    pub duration_ms: i64,
    pub created_at: DateTime<Utc>,
}

/// A browser session of the web dashboard. The token itself lives only in the user's cookie;
/// `hash` is its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// Moved forward (at most once a minute) as the session is used; the idle timeout counts
    /// from here.
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, however active the session is.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}
