//! Context: what is saved, what is read back, and search requests and results.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a client sends with a context. Unknown fields are kept in the stored metadata.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ContextMetadataInput {
    /// Where it came from: `manual`, `api`, `claude`, `cursor`, `chatgpt`, `codebase_scan`,
    /// `document_upload`, `jira`, `confluence`, `agent`, … (lower-case letters, digits, `-`,
    /// `_`). Defaults to the MCP client's name, or `api`.
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
    /// `embedder_unavailable` when the embedding model was down: the context is stored and
    /// found by keyword search at once, and embedded by a background job later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<&'static str>,
    pub created_at: DateTime<Utc>,
}

/// Up to 100 saves in one request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BatchSaveRequest {
    /// Each item takes the fields of `POST /context/save`.
    #[schema(value_type = Vec<SaveContextRequest>)]
    pub items: Option<Vec<serde_json::Value>>,
}

/// Why one item of a batch was not saved: the error envelope's fields.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct BatchItemError {
    pub code: &'static str,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// The outcome of one item: `context` when saved, `error` when not.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct BatchItemResult {
    /// The item's position in `items`, from 0.
    pub index: usize,
    /// `saved` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<SaveContextResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BatchItemError>,
}

impl BatchItemResult {
    pub fn saved(index: usize, context: SaveContextResponse) -> Self {
        BatchItemResult { index, status: "saved", context: Some(context), error: None }
    }

    pub fn failed(index: usize, error: BatchItemError) -> Self {
        BatchItemResult { index, status: "failed", context: None, error: Some(error) }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct BatchSaveResponse {
    /// One per item, in the order of `items`.
    pub results: Vec<BatchItemResult>,
    pub saved: usize,
    pub failed: usize,
    /// `embedder_unavailable` when the items were saved without vectors (see
    /// `SaveContextResponse.degraded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<&'static str>,
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
    /// Search only these projects (default: every project you can read). `project_id` with one
    /// id, as saves and the MCP tools name it, means the same.
    #[serde(default, alias = "project_id", deserialize_with = "one_or_many")]
    pub project_ids: Option<Vec<Uuid>>,
    /// 1–100, default 10.
    pub limit: Option<u32>,
    /// Minimum cosine similarity of the best passage, -1 to 1, default 0.35 (calibrated to the
    /// model; in hybrid mode a keyword match is kept below it).
    pub similarity_threshold: Option<f32>,
    /// `hybrid` (default), `vector`, `keyword` or `two_level`.
    pub mode: Option<String>,
    /// Who is searching, for analytics: set by the MCP front door to the assistant's name;
    /// REST searches are recorded as `api`. Not part of the request body.
    #[serde(skip)]
    pub retrieved_by: Option<String>,
}

/// A list of ids, or one id alone (`"project_id": "…"`), or null.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<Uuid>>, D::Error> {
    use serde::de::Error;
    use serde_json::Value;
    let id = |v: &Value| match v.as_str().map(Uuid::parse_str) {
        Some(Ok(id)) => Ok(id),
        _ => Err(D::Error::custom(format!("{v} is not a project id"))),
    };
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items.iter().map(id).collect::<Result<_, _>>().map(Some),
        Some(one) => id(&one).map(|id| Some(vec![id])),
    }
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
    /// `embedder_unavailable` when the embedding model was down and the results come from
    /// keyword search alone, whatever the mode asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<&'static str>,
}
