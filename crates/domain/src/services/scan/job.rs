//! The scan job: clone or unpack the source, select files, chunk, embed and store each file
//! incrementally, report progress and the result.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};
use tc_scan::chunk::{Sizes, chunk_file, classify};
use tc_scan::walk::{SelectOptions, select};
use tc_scan::{ScanError, Skipped, git};
use tc_store::{AnalyticsEventRecord, ContextRecord, IndexedItem, JobRecord};
use tracing::warn;
use uuid::Uuid;

use super::{
    CHUNK_DEADLINE, DATABASE_UNAVAILABLE, FILES_IN_FLIGHT, MAX_LISTED, SCAN_KIND, ScanPayload,
    ScanSource, check_git_url,
};
use crate::ErrorCode;
use crate::services::Services;
use crate::services::embedding::Purpose;
use crate::services::jobs::{JobContext, JobError, JobHandler};
use crate::views::{FileFailure, ScanPhase, ScanProgress, ScanResult, SkippedFile};

/// The scan job.
#[derive(Debug)]
pub struct ScanJob;

#[async_trait::async_trait]
impl JobHandler for ScanJob {
    fn kind(&self) -> &'static str {
        SCAN_KIND
    }

    async fn run(&self, services: &Services, ctx: &JobContext) -> Result<Value, JobError> {
        services.run_scan(ctx).await
    }

    async fn finished(&self, services: &Services, job: &JobRecord) {
        if services.scan.as_ref().is_some_and(|s| s.share_uploads)
            && let Err(e) = services.store.delete_job_input(job.id).await
        {
            warn!(job_id = %job.id, error = %e, "could not remove the scan's stored upload");
        }
        if let Ok(workspace) = services.workspace(job.id)
            && workspace.exists()
            && let Err(e) = tokio::fs::remove_dir_all(&workspace).await
        {
            warn!(job_id = %job.id, error = %e, "could not remove the scan's workspace");
        }
    }
}

impl Services {
    async fn run_scan(&self, ctx: &JobContext) -> Result<Value, JobError> {
        let started = Instant::now();
        let job = &ctx.job;
        let payload: ScanPayload = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fatal(format!("unreadable scan request: {e}")))?;
        let project_id = job.project_id.ok_or_else(|| JobError::Fatal("no project".into()))?;
        let settings = self.scan_settings().map_err(JobError::from)?.clone();
        let workspace = self.workspace(job.id).map_err(JobError::from)?;
        let mut counts = ScanProgress { phase: ScanPhase::Preparing, ..ScanProgress::default() };
        ctx.set_progress(json!(counts));

        let root = if payload.source == ScanSource::Git {
            counts.phase = ScanPhase::Cloning;
            ctx.set_progress(json!(counts));
            let url = payload.git_url.clone().unwrap_or_default();
            let checked = check_git_url(&url, &settings.allowed_hosts)
                .await
                .map_err(|e| JobError::Fatal(e.to_string()))?;
            let dest = workspace.join("clone");
            let (branch, stop) = (payload.branch.clone(), ctx.stop_flag());
            let cloned = tokio::task::spawn_blocking(move || {
                // A fresh clone on every attempt; the workspace itself may not exist yet.
                let _ = std::fs::remove_dir_all(&dest);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| ScanError::Clone(format!("workspace: {e}")))?;
                }
                git::clone(&checked, branch.as_deref(), &dest, &stop).map(|()| dest)
            })
            .await
            .map_err(|e| JobError::internal("the clone stopped unexpectedly", e))?;
            if ctx.stopped() {
                return Err(JobError::Cancelled);
            }
            cloned.map_err(|e| JobError::Retryable(e.to_string()))?
        } else {
            let root = workspace.join("src");
            if !root.exists() && settings.share_uploads {
                self.fetch_upload(job.id, &workspace).await?;
            }
            if !root.exists() {
                return Err(JobError::Fatal(
                    "the uploaded files are no longer on this server".into(),
                ));
            }
            root
        };

        counts.phase = ScanPhase::Selecting;
        ctx.set_progress(json!(counts));
        let options = SelectOptions {
            file_patterns: payload.file_patterns.clone(),
            max_file_bytes: settings.max_file_bytes,
        };
        let walk_root = root.clone();
        let selection = tokio::task::spawn_blocking(move || select(&walk_root, &options))
            .await
            .map_err(|e| JobError::internal("reading the files stopped unexpectedly", e))?
            .map_err(|e| JobError::Fatal(e.to_string()))?;
        let mut skipped: Vec<Skipped> = std::fs::read(workspace.join("archive-skipped.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        skipped.extend(selection.skipped.iter().cloned());

        let previous: HashMap<String, String> = self
            .store
            .indexed_items(project_id, &payload.origin)
            .await
            .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?
            .into_iter()
            .map(|f| (f.file_path, f.content_hash))
            .collect();
        counts.phase = ScanPhase::Indexing;
        counts.files_total = selection.files.len();
        ctx.set_progress(json!(counts));

        let sizes = Sizes {
            chunk_size: payload.chunk_size as usize,
            chunk_overlap: payload.chunk_overlap as usize,
        };
        let mut errors: Vec<FileFailure> = Vec::new();
        // Set once the model fails: the rest of the scan stores its chunks without vectors
        // (keyword search finds them at once) and the embedding job adds the vectors later.
        let model_down = AtomicBool::new(false);
        let mut chunks_deferred = 0;
        // Files are read, chunked, embedded and stored in order, but the next file is prepared
        // while this one is embedded or stored, so the model is seldom idle. Each file is still
        // stored in one transaction on its own.
        // (By index: a closure over `&SourceFile` returning a future trips the compiler's
        // higher-ranked lifetime inference inside an `async_trait` method.)
        let files = &selection.files;
        let run = ScanRun {
            job,
            project_id,
            origin: &payload.origin,
            sizes,
            previous: &previous,
            model_down: &model_down,
        };
        let mut indexed = stream::iter(0..files.len())
            .map(|i| self.index_file(&run, &files[i].path, &files[i].abs_path))
            .buffered(FILES_IN_FLIGHT);
        for file in &selection.files {
            if ctx.stopped() {
                return Err(JobError::Cancelled);
            }
            let Some(outcome) = indexed.next().await else { break };
            match outcome {
                Ok(Indexed::Unchanged) => counts.files_unchanged += 1,
                Ok(Indexed::Stored { chunks, tokens, deferred }) => {
                    counts.files_indexed += 1;
                    counts.chunks += chunks;
                    counts.tokens += tokens;
                    chunks_deferred += if deferred { chunks } else { 0 };
                }
                Err(FileError::Skip(message)) => {
                    counts.errors += 1;
                    errors.push(FileFailure { path: file.path.clone(), message });
                }
                Err(FileError::Job(e)) => return Err(e),
            }
            counts.files_done += 1;
            ctx.set_progress(json!(counts));
        }

        drop(indexed);
        // Files gone from a full snapshot (archive or repository) lose their chunks.
        let mut files_removed = 0;
        if payload.source != ScanSource::Files && !ctx.stopped() {
            let present: HashSet<&str> = selection.present.iter().map(String::as_str).collect();
            let gone: Vec<String> =
                previous.keys().filter(|p| !present.contains(p.as_str())).cloned().collect();
            if !gone.is_empty() {
                self.store
                    .remove_indexed_items(project_id, &payload.origin, &gone)
                    .await
                    .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?;
                files_removed = gone.len();
            }
        }
        if ctx.stopped() {
            return Err(JobError::Cancelled);
        }
        if chunks_deferred > 0 {
            warn!(job_id = %job.id, chunks_deferred, "scan stored chunks without vectors: the model was unavailable");
            if let Err(e) = self.ensure_embedding_job().await {
                warn!(error = ?e.cause_chain(), "could not queue the embedding job");
            }
        }
        counts.phase = ScanPhase::Done;
        ctx.set_progress(json!(counts));
        let elapsed_ms = started.elapsed().as_millis() as u64;
        self.pending.event(AnalyticsEventRecord {
            id: Uuid::now_v7(),
            user_id: job.created_by,
            project_id: Some(project_id),
            event_type: SCAN_KIND.into(),
            timestamp: self.now(),
            tokens_saved: counts.tokens,
            tokens_avoided: 0,
            contexts_retrieved: 0,
            api_calls_made: 1,
            processing_time_ms: elapsed_ms as f64,
            model: None,
            price_per_mtok: None,
            estimated_savings_usd: 0.0,
            source: Some(payload.origin.clone()),
            prompt_tokens: 0,
            completion_tokens: 0,
            llm_cost_usd: 0.0,
        });
        let skipped_total = skipped.len();
        skipped.truncate(MAX_LISTED);
        let result = ScanResult {
            files_indexed: counts.files_indexed,
            files_unchanged: counts.files_unchanged,
            files_removed,
            files_not_matched: selection.not_matched,
            chunks: counts.chunks,
            tokens: counts.tokens,
            chunks_deferred,
            skipped: skipped
                .into_iter()
                .map(|s| SkippedFile { path: s.path, reason: s.reason })
                .collect(),
            skipped_total,
            errors,
            elapsed_ms,
        };
        serde_json::to_value(result).map_err(|e| JobError::Fatal(format!("the result: {e}")))
    }

    /// Indexes one file unless its content is what the project already has.
    async fn index_file(
        &self,
        run: &ScanRun<'_>,
        path: &str,
        abs_path: &Path,
    ) -> Result<Indexed, FileError> {
        let ScanRun { job, project_id, origin, sizes, previous, model_down } = *run;
        let bytes = tokio::fs::read(abs_path)
            .await
            .map_err(|e| FileError::Skip(format!("unreadable: {e}")))?;
        let hash = tc_scan::content_hash(&bytes);
        if previous.get(path) == Some(&hash) {
            return Ok(Indexed::Unchanged);
        }
        let text =
            String::from_utf8(bytes).map_err(|_| FileError::Skip("not UTF-8 text".into()))?;
        let (owned_path, language) = (path.to_string(), classify(path).1);
        let chunking = tokio::task::spawn_blocking(move || chunk_file(&owned_path, &text, sizes));
        // The chunker bounds its own work on hostile input; this bounds what it missed, so one
        // file never holds up the scan (the thread is left to finish on its own).
        let chunks = tokio::time::timeout(CHUNK_DEADLINE, chunking)
            .await
            .map_err(|_| {
                FileError::Skip(format!("chunking took longer than {}s", CHUNK_DEADLINE.as_secs()))
            })?
            .map_err(|e| FileError::Skip(format!("chunking failed: {e}")))?;
        let now = self.now();
        let records: Vec<ContextRecord> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let tokens = crate::services::tokens::count_tokens(&chunk.text) as i64;
                ContextRecord {
                    id: Uuid::now_v7(),
                    project_id,
                    content_hash: crate::services::context::sha256_hex(&chunk.text),
                    token_count: tokens,
                    source: origin.into(),
                    file_path: Some(path.to_string()),
                    parent_id: None,
                    chunk_index: Some(i as i64),
                    metadata: json!({
                        "tags": [],
                        "language": language,
                        "start_line": chunk.start_line,
                        "end_line": chunk.end_line,
                        "symbol": chunk.symbol,
                        "scan_job_id": job.id,
                    }),
                    content: chunk.text,
                    created_by: job.created_by,
                    accessed_count: 0,
                    last_accessed: None,
                    created_at: now,
                    updated_at: now,
                }
            })
            .collect();
        let tokens = records.iter().map(|r| r.token_count).sum();
        let passages = if model_down.load(Ordering::Relaxed) {
            None
        } else {
            match self.passages_for_many(&records, Purpose::Background).await {
                Ok(passages) => Some(passages),
                Err(e) if e.code == ErrorCode::EmbeddingGenerationFailed => {
                    warn!(error = %e.message, "the model failed during a scan: the rest is embedded later");
                    model_down.store(true, Ordering::Relaxed);
                    None
                }
                Err(e) => return Err(FileError::Job(e.into())),
            }
        };
        let deferred = passages.is_none();
        let passages = passages.unwrap_or_else(|| vec![Vec::new(); records.len()]);
        let rows: Vec<_> = records.into_iter().zip(passages).collect();
        let file = IndexedItem { file_path: path.to_string(), content_hash: hash };
        self.store
            .replace_indexed_item(project_id, origin, &file, &rows)
            .await
            .map_err(|e| FileError::Job(JobError::internal(DATABASE_UNAVAILABLE, e)))?;
        Ok(Indexed::Stored { chunks: rows.len(), tokens, deferred })
    }
}

/// What every file of one scan shares.
#[derive(Clone, Copy)]
struct ScanRun<'a> {
    job: &'a JobRecord,
    project_id: Uuid,
    /// The contexts' source (`codebase_scan`, or `document_upload` for uploaded documents).
    origin: &'a str,
    sizes: Sizes,
    /// The content hash of each file the last scan stored, by path.
    previous: &'a HashMap<String, String>,
    /// Set once the model fails; see `run`.
    model_down: &'a AtomicBool,
}

enum Indexed {
    Unchanged,
    /// `deferred`: stored without vectors (the model was unavailable).
    Stored {
        chunks: usize,
        tokens: i64,
        deferred: bool,
    },
}

enum FileError {
    /// This file cannot be indexed; the scan goes on.
    Skip(String),
    /// The scan cannot go on.
    Job(JobError),
}
