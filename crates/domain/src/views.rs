//! What clients send and receive: request bodies and response views, shared by REST, MCP and the
//! dashboard, with their OpenAPI schemas (and JSON Schemas for MCP tool output). Views never carry hashes or other stored secrets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tc_store::{
    ApiKeyRecord, InvitationRecord, MemberRecord, ProjectRecord, ProjectSettings, Role, Scope,
    UserRecord,
};
use utoipa::ToSchema;
use uuid::Uuid;

// ---------- requests ----------

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    /// Required while the server registers by invitation (`REGISTRATION=invite`): the token an
    /// administrator created with `teamcontext user invite EMAIL`.
    pub invitation_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    pub name: Option<String>,
    /// Defaults to `["read", "write"]`.
    #[schema(value_type = Option<Vec<String>>, example = json!(["read"]))]
    pub scopes: Option<Vec<String>>,
    /// Restrict the key to one project.
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RotateApiKeyRequest {
    /// The key to rotate; defaults to the calling key, or with a JWT to the oldest key.
    pub key_id: Option<Uuid>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SettingsInput {
    pub auto_scan: Option<bool>,
    pub embedding_model: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `private` (default) or `team`.
    pub visibility: Option<String>,
    pub settings: Option<SettingsInput>,
}

/// Every field is optional; absent fields keep their value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateProjectRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub settings: Option<SettingsInput>,
}

/// Exactly one of `email` or `user_id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddContributorRequest {
    pub email: Option<String>,
    pub user_id: Option<Uuid>,
}

// ---------- responses ----------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            is_active: u.is_active,
            email_verified: u.email_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

fn scope_names(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(|s| s.as_str().to_string()).collect()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub project_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set when the key was rotated: it works until then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(k: ApiKeyRecord) -> Self {
        ApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: scope_names(&k.scopes),
            project_id: k.project_id,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
        }
    }
}

/// A key as created: the only time `key` is ever shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub project_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The secret key. Store it now: it cannot be shown again.
    pub key: String,
}

impl NewApiKeyView {
    pub fn new(k: ApiKeyRecord, key: String) -> Self {
        NewApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: scope_names(&k.scopes),
            project_id: k.project_id,
            created_at: k.created_at,
            key,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub project_id: Option<Uuid>,
    /// The new secret key, shown this once.
    pub key: String,
    pub previous_id: Uuid,
    /// The old key keeps working until this time.
    pub previous_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// A first API key for MCP clients, shown this once.
    pub api_key: NewApiKeyView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: UserView,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SettingsView {
    pub auto_scan: bool,
    pub embedding_model: String,
}

impl From<ProjectSettings> for SettingsView {
    fn from(s: ProjectSettings) -> Self {
        SettingsView { auto_scan: s.auto_scan, embedding_model: s.embedding_model }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// `private` or `team`.
    pub visibility: &'static str,
    pub settings: SettingsView,
    pub owner_id: Uuid,
    /// The caller's role: `owner`, `contributor`, or null for a reader of a team project.
    pub role: Option<&'static str>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the project is in the 30-day restore window.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl ProjectView {
    pub fn new(p: ProjectRecord, role: Option<Role>) -> Self {
        ProjectView {
            id: p.id,
            name: p.name,
            description: p.description,
            visibility: p.visibility.as_str(),
            settings: p.settings.into(),
            owner_id: p.owner_id,
            role: role.map(Role::as_str),
            created_at: p.created_at,
            updated_at: p.updated_at,
            deleted_at: p.deleted_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    /// `owner` or `contributor`.
    pub role: &'static str,
    pub added_at: DateTime<Utc>,
}

impl MemberView {
    pub fn new(m: MemberRecord, u: UserRecord) -> Self {
        MemberView {
            user_id: u.id,
            email: u.email,
            name: u.name,
            role: m.role.as_str(),
            added_at: m.added_at,
        }
    }
}

/// An invitation to contribute to a project: to its owner, the address invited; to the
/// invited person, who invited them where.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_name: String,
    /// The address invited (lower-cased).
    pub email: String,
    /// `contributor`.
    pub role: &'static str,
    /// `pending` until accepted or declined (neither is kept).
    pub status: &'static str,
    pub invited_by: Option<InviterView>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct InviterView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

impl InvitationView {
    pub fn new(i: InvitationRecord, project_name: &str, inviter: Option<&UserRecord>) -> Self {
        InvitationView {
            id: i.id,
            project_id: i.project_id,
            project_name: project_name.to_string(),
            email: i.email,
            role: i.role.as_str(),
            status: "pending",
            invited_by: inviter.map(|u| InviterView {
                id: u.id,
                name: u.name.clone(),
                email: u.email.clone(),
            }),
            created_at: i.created_at,
        }
    }
}

/// An operator's invitation to register, with its token (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct SignupInvitation {
    pub email: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

// ---------- context ----------

/// What a client sends with a context. Unknown fields are kept in the stored metadata.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ContextMetadataInput {
    /// Where it came from: `manual`, `api`, `claude`, `cursor`, `chatgpt`, `codebase_scan`,
    /// `jira`, `confluence`, … (lower-case letters, digits, `-`, `_`). Defaults to the MCP
    /// client's name, or `api`.
    pub source: Option<String>,
    pub tags: Option<Vec<String>>,
    pub file_path: Option<String>,
    pub language: Option<String>,
    /// Any other fields, stored as given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SaveContextRequest {
    pub content: Option<String>,
    /// Optional: the API key's project, your only project, or the project whose description
    /// best matches the content is used otherwise (the response says which).
    pub project_id: Option<Uuid>,
    pub metadata: Option<ContextMetadataInput>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SaveContextResponse {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_name: String,
    /// How the project was chosen: `explicit`, `api_key`, `only_project` or `best_match`.
    pub project_selection: &'static str,
    pub token_count: i64,
    /// Ids of the child contexts when the content was split (above 100,000 tokens).
    pub chunk_ids: Vec<Uuid>,
    pub warnings: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ContextView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub content: String,
    pub token_count: i64,
    /// `source`, `tags`, `file_path`, `created_by`, `parent_id`, `chunk_index` and whatever
    /// else was saved with it.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub accessed_count: i64,
    pub last_accessed: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SearchRequest {
    pub query: Option<String>,
    /// Search only these projects (default: every project you can read).
    pub project_ids: Option<Vec<Uuid>>,
    /// 1–100, default 10.
    pub limit: Option<u32>,
    /// Minimum cosine similarity of the best passage, -1 to 1, default 0.7 (in hybrid mode a
    /// keyword match is kept below it).
    pub similarity_threshold: Option<f32>,
    /// `hybrid` (default), `vector`, `keyword` or `two_level`.
    pub mode: Option<String>,
    /// Who is searching, for analytics: set by the MCP front door to the assistant's name;
    /// REST searches are recorded as `api`. Not part of the request body.
    #[serde(skip)]
    pub retrieved_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct PassageView {
    /// Byte offsets of the passage within `content`.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SearchResult {
    pub id: Uuid,
    pub content: String,
    /// Cosine similarity of the best passage to the query (null for a keyword-only match in a
    /// project whose vectors were made by another model).
    pub similarity_score: Option<f32>,
    /// The fused ranking score the results are ordered by (higher is better).
    pub score: f32,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub project_id: Uuid,
    pub project_name: String,
    pub token_count: i64,
    pub passage: Option<PassageView>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct RelevantProject {
    pub id: Uuid,
    pub name: String,
    pub similarity: f32,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SearchResponse {
    pub results: Vec<SearchResult>,
    /// Present in `two_level` mode: the projects searched, best first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevant_projects: Option<Vec<RelevantProject>>,
}

// ---------- analytics ----------

/// The parameters every analytics report accepts (each report reads the ones it needs).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// One project's activity, by everyone (you must be able to read it).
    pub project_id: Option<String>,
    /// Without `project_id`: your own id or nothing (reports cover your own activity). With
    /// it: narrows the project's report to one member's activity.
    pub user_id: Option<String>,
    /// Inclusive; a date (`2026-03-01`, midnight UTC) or an RFC 3339 time. Default: 30 days
    /// before `end_date`.
    pub start_date: Option<String>,
    /// Exclusive for a time; a plain date includes that whole day (UTC). Default: now.
    pub end_date: Option<String>,
    /// `day` (default), `week` (ISO, from Monday) or `month`; periods are UTC.
    pub group_by: Option<String>,
    /// Value tokens at this model's input price (default: `DEFAULT_LLM_MODEL`).
    pub model: Option<String>,
}

/// Whose activity a report covers.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ReportScope {
    /// Set when the report is one user's activity (yours).
    pub user_id: Option<Uuid>,
    /// Set when the report is one project's activity.
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SavingsPeriod {
    /// `2026-03-10`, `2026-W11` or `2026-03`.
    pub period: String,
    /// Midnight UTC of the period's first day.
    pub start: DateTime<Utc>,
    pub tokens_saved: i64,
    pub tokens_avoided: i64,
    pub contexts_retrieved: i64,
    pub savings_usd: f64,
}

/// Tokens that assistants received from TeamContext instead of having them pasted, and their
/// worth at `model`'s input price.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct CostSavingsReport {
    /// Tokens of the context retrieved.
    pub total_tokens_saved: i64,
    /// Tokens nobody had to paste (equal to the retrieved tokens today).
    pub total_tokens_avoided: i64,
    /// What pasting the avoided tokens would have cost as model input, in USD.
    pub estimated_cost_usd: f64,
    /// What the saved tokens are worth at `price_per_mtok`, in USD.
    pub estimated_savings_usd: f64,
    pub contexts_retrieved: i64,
    /// Searches made (by REST or MCP).
    pub searches: i64,
    pub model: String,
    /// USD per million input tokens.
    pub price_per_mtok: f64,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub group_by: String,
    pub scope: ReportScope,
    /// Every period overlapping the range, oldest first, including empty ones.
    pub breakdown: Vec<SavingsPeriod>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ProjectUsage {
    pub project_id: Uuid,
    pub name: String,
    /// Saves and retrievals in the range.
    pub usage_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct UsageReport {
    /// Contexts saved in the range.
    pub contexts_created: i64,
    /// Results returned by searches in the range.
    pub contexts_retrieved: i64,
    pub searches: i64,
    /// Projects the report covers (those you can read, or the one asked for).
    pub projects_count: i64,
    /// The busiest projects, most used first (at most five).
    pub top_projects: Vec<ProjectUsage>,
    /// Saves and searches per source: the assistant (`claude`, `cursor`, …), `api` for REST
    /// searches, or a saved context's own source.
    pub sources_breakdown: BTreeMap<String, i64>,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub scope: ReportScope,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct AccessedContext {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_name: String,
    /// The first 300 characters.
    pub content: String,
    /// Whether `content` was cut short.
    pub truncated: bool,
    pub access_count: i64,
    pub last_accessed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ContextInsightsReport {
    /// Most retrieved first (at most ten; never-retrieved contexts are left out).
    pub most_accessed_contexts: Vec<AccessedContext>,
    /// Contexts as saved (auto-chunked pieces count with their parent).
    pub contexts_count: i64,
    pub avg_tokens_per_context: f64,
    /// Stored text and embedding vectors, in bytes (database indexes not included).
    pub total_storage_bytes: i64,
    /// The same in MiB.
    pub total_storage_mb: f64,
    /// The project the report covers; absent for all your projects.
    pub project_id: Option<Uuid>,
}

// ---------- scans and jobs ----------

/// Options of a codebase scan; with a JSON body, also its source (`git_url`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ScanRequest {
    /// A repository to clone (https, ssh, git; file:// only where the operator allows it).
    pub git_url: Option<String>,
    /// The branch to scan (default: the repository's default branch).
    pub branch: Option<String>,
    /// Globs a file's path must match (any of them), e.g. `["*.py", "src/**/*.ts"]`.
    pub file_patterns: Option<Vec<String>>,
    /// Characters per chunk, 100–20,000 (default 1000).
    pub chunk_size: Option<u32>,
    /// Characters shared by consecutive chunks, less than `chunk_size` (default 200).
    pub chunk_overlap: Option<u32>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ScanAccepted {
    pub job_id: Uuid,
    pub status: String,
    /// Where to follow it.
    pub status_url: String,
}

/// A background job as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct JobView {
    pub job_id: Uuid,
    pub kind: String,
    pub project_id: Option<Uuid>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// For scans: `phase`, `files_total`, `files_done`, `chunks`, `files_indexed`,
    /// `files_unchanged`, `errors`.
    #[schema(value_type = Object)]
    pub progress: serde_json::Value,
    /// For a finished scan: `files_indexed`, `files_unchanged`, `files_removed`, `chunks`,
    /// `tokens`, `skipped: [{path, reason}]`, `errors: [{path, message}]`, `elapsed_ms`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub attempts: i64,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}
