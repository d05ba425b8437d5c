//! Codebase scans and the jobs that run them.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tc_store::JobStatus;
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
    pub status: JobStatus,
    /// Where to follow it.
    pub status_url: String,
}

/// A background job as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct JobView {
    pub job_id: Uuid,
    pub kind: String,
    pub project_id: Option<Uuid>,
    pub status: JobStatus,
    /// How far the job is: a [`ScanProgress`] for `scan_codebase`, a [`SyncProgress`] for
    /// `jira_sync`, an object of counts for other kinds.
    #[schema(value_type = Object)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub progress: serde_json::Value,
    /// What a job that succeeded produced: a [`ScanResult`] for `scan_codebase`, a
    /// [`SyncResult`] for `jira_sync`.
    #[schema(value_type = Option<Object>)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub attempts: i64,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where a scan is.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScanPhase {
    #[default]
    Queued,
    Preparing,
    Cloning,
    Selecting,
    Indexing,
    Done,
}

/// A scan's counters while it runs (its job's `progress`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ScanProgress {
    pub phase: ScanPhase,
    /// Files selected for indexing.
    pub files_total: usize,
    /// Of those, files looked at so far.
    pub files_done: usize,
    pub files_indexed: usize,
    /// Files whose content the project already had.
    pub files_unchanged: usize,
    pub chunks: usize,
    pub tokens: i64,
    /// Files that could not be indexed.
    pub errors: usize,
}

/// A file a scan did not read, and why (too large, binary, generated, ignored, …).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// A file a scan read but could not index.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct FileFailure {
    pub path: String,
    pub message: String,
}

/// What a finished scan did (its job's `result`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ScanResult {
    pub files_indexed: usize,
    pub files_unchanged: usize,
    /// Files gone from the archive or repository since the last scan, whose chunks were removed.
    pub files_removed: usize,
    /// Files left out by `file_patterns`.
    pub files_not_matched: usize,
    pub chunks: usize,
    pub tokens: i64,
    /// Chunks stored without vectors because the embedding model was unavailable: keyword
    /// search finds them at once, and the embedding job adds their vectors when the model is
    /// back (see `teamcontext_embedding_backlog`).
    pub chunks_deferred: usize,
    /// The first 1,000 skipped files; `skipped_total` counts them all.
    pub skipped: Vec<SkippedFile>,
    pub skipped_total: usize,
    pub errors: Vec<FileFailure>,
    pub elapsed_ms: u64,
}
