//! Analytics reports: cost savings, usage, context insights, and their query.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// What the AI features' language model cost in the period.
    pub llm_cost_usd: f64,
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
    /// What the AI features' language model cost (prompt and completion tokens at
    /// `LLM_INPUT_PRICE_PER_MTOK` / `LLM_OUTPUT_PRICE_PER_MTOK`), in USD.
    pub llm_cost_usd: f64,
    /// `estimated_savings_usd` less `llm_cost_usd`.
    pub net_savings_usd: f64,
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
    /// Questions, summaries, mind maps and chat turns, and what their model used.
    pub ai: AiUsage,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub scope: ReportScope,
}

/// The AI features' calls and the language model's tokens and cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema, JsonSchema)]
pub struct AiCalls {
    /// Calls answered, by the model or extractively (those use no tokens).
    pub calls: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
}

/// [`AiCalls`] in all, and per feature: `qa`, `summarize`, `mindmap`, `chat`.
#[derive(Debug, Clone, Default, Serialize, ToSchema, JsonSchema)]
pub struct AiUsage {
    #[serde(flatten)]
    pub total: AiCalls,
    pub by_feature: BTreeMap<String, AiCalls>,
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
