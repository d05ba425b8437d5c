//! Codebase scans and the jobs that run them.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
