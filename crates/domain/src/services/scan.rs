//! Codebase scans (SPEC §7): accepting a scan (validate, put its source in a workspace, write
//! the job) and the scan job itself (select files, chunk, embed, store incrementally).
//!
//! Each scan gets a workspace, `ScanSettings::workspace_dir/<job id>`. Uploaded files and
//! unpacked archives are written there before the job row exists, so a restart finds them; a git
//! source is cloned there by the job (again on each attempt). The workspace is removed when the
//! job is final. When replicas share the database (`ScanSettings::share_uploads`), the prepared
//! upload is instead packed into the job's input in the store, and whichever replica's worker
//! runs the job unpacks it into its own workspace.
//!
//! A scan is incremental and safe to run twice: a file whose content hash matches what the
//! project last indexed is skipped, a changed file's chunks are replaced in one transaction, and
//! files gone from an archive or repository lose their chunks. That is also what makes a job
//! taken over after a crash finish the same work without duplicating it. Uploads of individual
//! `files` add or update those files only: they never remove anything.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tc_scan::chunk::{Sizes, chunk_file, classify};
use tc_scan::walk::{SelectOptions, select};
use tc_scan::{ScanError, Skipped, archive, git};
use tc_store::{AnalyticsEventRecord, ContextRecord, JobRecord, JobStatus, ScannedFile, Scope};
use tracing::warn;
use uuid::Uuid;

use super::Services;
use super::access::Access;
use super::jobs::{JobContext, JobError, JobHandler};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::views::{ScanAccepted, ScanRequest};

pub const SCAN_KIND: &str = "scan_codebase";
const SOURCE: &str = "codebase_scan";
const DEFAULT_CHUNK_SIZE: u32 = 1000;
const DEFAULT_CHUNK_OVERLAP: u32 = 200;
/// At most this many skipped files are listed in a result (the rest are counted).
const MAX_LISTED: usize = 1000;
/// Files being prepared, embedded or stored at once during a scan.
const FILES_IN_FLIGHT: usize = 2;
/// What a job's error says when the database failed (the cause is logged).
const DATABASE_UNAVAILABLE: &str = "the database was unavailable; the scan will be retried";
/// A file whose chunking takes longer is reported as an error and the scan goes on.
const CHUNK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// A shared upload is stored in parts of this size.
const INPUT_PART_BYTES: usize = 8 * 1024 * 1024;
/// A job input this old whose job was never written is removed.
const ORPHAN_INPUT_HOURS: i64 = 24;

/// Where scans work and what they may reach.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub workspace_dir: PathBuf,
    /// `SCAN_ALLOWED_HOSTS`: internal git hosts a scan may clone from (`*` any, `file` for
    /// `file://`).
    pub allowed_hosts: Vec<String>,
    pub max_file_bytes: u64,
    /// Whether uploads must be readable by other replicas' workers (a shared database): they
    /// are then stored with the job as well as in this server's workspace.
    pub share_uploads: bool,
}

/// What a scan reads, besides a git URL.
#[derive(Debug)]
pub enum Upload {
    /// Files with their paths relative to the project root.
    Files(Vec<(String, Vec<u8>)>),
    /// Files already on disk (temporary files of the request, moved into the workspace), with
    /// their paths relative to the project root.
    StagedFiles(Vec<(String, PathBuf)>),
    /// An archive file already on disk (a temporary file of the request) and its name.
    Archive { name: String, path: PathBuf },
}

/// The job's input, stored in its row.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ScanPayload {
    /// `files`, `archive` or `git`.
    source: String,
    git_url: Option<String>,
    branch: Option<String>,
    file_patterns: Vec<String>,
    chunk_size: u32,
    chunk_overlap: u32,
}

fn invalid(field: &str, message: impl Into<String>) -> DomainError {
    DomainError::validation(field, message)
}

fn scan_error(field: &str, e: ScanError) -> DomainError {
    match e {
        ScanError::Io { .. } => DomainError::internal(e.to_string()),
        other => invalid(field, other.to_string()),
    }
}

impl Services {
    /// Whether `caller` may scan into `project_id`: asked before an upload is read, so that
    /// nobody can make the server receive and store data for a project they cannot change.
    pub async fn authorize_scan(&self, caller: &Caller, project_id: Uuid) -> DomainResult<()> {
        caller.require_scope(Scope::Write)?;
        self.require_verified(caller)?;
        self.project_for(caller, project_id, Access::Write).await?;
        Ok(())
    }

    fn scan_settings(&self) -> DomainResult<&ScanSettings> {
        self.scan.as_ref().ok_or_else(|| DomainError::internal("scanning is not configured"))
    }

    fn workspace(&self, job_id: Uuid) -> DomainResult<PathBuf> {
        Ok(self.scan_settings()?.workspace_dir.join(job_id.to_string()))
    }

    /// Accepts a scan of `project_id`: checks everything that can be checked now, puts the
    /// source in the job's workspace, writes the job and wakes a worker.
    pub async fn start_scan(
        &self,
        caller: &Caller,
        project_id: Uuid,
        req: ScanRequest,
        upload: Option<Upload>,
    ) -> DomainResult<ScanAccepted> {
        self.authorize_scan(caller, project_id).await?;
        let settings = self.scan_settings()?.clone();
        let chunk_size = req.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !(100..=20_000).contains(&chunk_size) {
            return Err(invalid(
                "chunk_size",
                "`chunk_size` must be between 100 and 20000 characters",
            ));
        }
        let chunk_overlap = req.chunk_overlap.unwrap_or(DEFAULT_CHUNK_OVERLAP.min(chunk_size / 2));
        if chunk_overlap >= chunk_size {
            return Err(invalid("chunk_overlap", "`chunk_overlap` must be less than `chunk_size`"));
        }
        let file_patterns = req.file_patterns.unwrap_or_default();
        tc_scan::walk::check_patterns(&file_patterns)
            .map_err(|e| scan_error("file_patterns", e))?;
        let git_url = req.git_url.filter(|u| !u.trim().is_empty());
        let source = match (&git_url, &upload) {
            (Some(_), Some(_)) => {
                return Err(invalid("git_url", "send either `git_url` or files, not both"));
            }
            (None, None) => return Err(DomainError::missing("git_url")),
            (Some(url), None) => {
                check_git_url(url, &settings.allowed_hosts)
                    .await
                    .map_err(|e| scan_error("git_url", e))?;
                "git"
            }
            (None, Some(Upload::Files(files))) if files.is_empty() => {
                return Err(DomainError::missing("files"));
            }
            (None, Some(Upload::StagedFiles(files))) if files.is_empty() => {
                return Err(DomainError::missing("files"));
            }
            (None, Some(Upload::Files(_) | Upload::StagedFiles(_))) => "files",
            (None, Some(Upload::Archive { .. })) => "archive",
        };

        let job_id = Uuid::now_v7();
        let workspace = self.workspace(job_id)?;
        if let Some(upload) = upload {
            let root = workspace.join("src");
            let prepared = tokio::task::spawn_blocking(move || prepare_upload(&root, upload))
                .await
                .map_err(|e| DomainError::internal(format!("upload task failed: {e}")))?;
            let shared = match prepared {
                Ok(()) if settings.share_uploads => self.share_upload(job_id, &workspace).await,
                other => other,
            };
            // A shared upload lives in the store only: whichever replica runs the job unpacks
            // it, and nothing is left behind on this one.
            if shared.is_err() || settings.share_uploads {
                let _ = std::fs::remove_dir_all(&workspace);
            }
            shared?;
        }
        let payload = ScanPayload {
            source: source.into(),
            git_url,
            branch: req.branch.filter(|b| !b.trim().is_empty()),
            file_patterns,
            chunk_size,
            chunk_overlap,
        };
        let now = self.now();
        let job = JobRecord {
            id: job_id,
            kind: SCAN_KIND.into(),
            project_id: Some(project_id),
            created_by: caller.user_id,
            payload: serde_json::to_value(&payload).unwrap_or_default(),
            status: JobStatus::Queued,
            progress: json!({"phase": "queued"}),
            result: None,
            error: None,
            attempts: 0,
            max_attempts: self.job_settings.max_attempts,
            run_after: now,
            lease_owner: None,
            lease_until: None,
            cancel_requested: false,
            created_at: now,
            started_at: None,
            finished_at: None,
        };
        if let Err(e) = self.store.insert_job(&job).await {
            let _ = std::fs::remove_dir_all(&workspace);
            if let Err(e) = self.store.delete_job_input(job_id).await {
                warn!(%job_id, error = %e, "could not remove the input of a scan never queued");
            }
            return Err(e.into());
        }
        self.job_submitted();
        Ok(ScanAccepted {
            job_id,
            status: "queued".into(),
            status_url: format!("/api/v1/projects/{project_id}/scan/status/{job_id}"),
        })
    }
}

impl Services {
    /// Packs a prepared upload (the workspace) and stores it as the job's input, so that a
    /// worker on any replica can run the scan. On failure nothing of it stays stored.
    async fn share_upload(&self, job_id: Uuid, workspace: &Path) -> DomainResult<()> {
        let internal = |e: String| DomainError::internal(format!("sharing the upload: {e}"));
        let dir = workspace.to_path_buf();
        let packed = tokio::task::spawn_blocking(move || archive::pack_tar_gz(&dir, Vec::new()))
            .await
            .map_err(|e| internal(e.to_string()))?
            .map_err(|e| internal(e.to_string()))?;
        let now = self.now();
        for (part, bytes) in packed.chunks(INPUT_PART_BYTES).enumerate() {
            let part = i32::try_from(part).map_err(|e| internal(e.to_string()))?;
            if let Err(e) = self.store.put_job_input(job_id, part, bytes, now).await {
                let _ = self.store.delete_job_input(job_id).await;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Unpacks a scan's stored input into `workspace` (on a replica other than the one that
    /// received the upload). False when no input is stored.
    async fn fetch_upload(&self, job_id: Uuid, workspace: &Path) -> Result<bool, JobError> {
        let retry = |e: String| JobError::internal("the uploaded files could not be read", e);
        let mut packed = Vec::new();
        for part in 0.. {
            match self.store.job_input(job_id, part).await.map_err(|e| retry(e.to_string()))? {
                Some(bytes) => packed.extend_from_slice(&bytes),
                None => break,
            }
        }
        if packed.is_empty() {
            return Ok(false);
        }
        let dest = workspace.to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
            let file = dest.with_extension("tar.gz");
            std::fs::write(&file, &packed).map_err(|e| e.to_string())?;
            let unpacked = archive::extract(&file, archive::Format::TarGz, &dest);
            let _ = std::fs::remove_file(&file);
            unpacked.map(|_| ()).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| retry(e.to_string()))?
        .map_err(retry)?;
        Ok(true)
    }

    /// Removes what scans left on this server's disk when they could not clean up after
    /// themselves (a cancel while the server stopped, a kill -9): the workspaces of jobs that
    /// are final, and workspaces and upload files older than [`ORPHAN_INPUT_HOURS`] whose job
    /// never came to exist. Returns how many entries went.
    pub async fn purge_stale_workspaces(&self) -> DomainResult<usize> {
        let Ok(settings) = self.scan_settings() else { return Ok(0) };
        let Ok(entries) = std::fs::read_dir(&settings.workspace_dir) else { return Ok(0) };
        let cutoff = std::time::SystemTime::now()
            - std::time::Duration::from_secs(ORPHAN_INPUT_HOURS as u64 * 3600);
        let mut removed = 0;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            let name = entry.file_name().to_string_lossy().into_owned();
            let job_id = name.split('.').next().and_then(|n| Uuid::parse_str(n).ok());
            let stale = match job_id {
                Some(id) => match self.store.job_by_id(id).await? {
                    Some(job) => job.status.is_final(),
                    None => old,
                },
                // An upload's temporary file: in use only while its request runs.
                None => old,
            };
            if !stale {
                continue;
            }
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => removed += 1,
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "could not remove a stale scan file")
                }
            }
        }
        Ok(removed)
    }

    /// Removes job inputs left by scans that were never queued (the server stopped between
    /// storing the upload and writing the job).
    pub async fn purge_orphan_job_inputs(&self) -> DomainResult<u64> {
        let cutoff = self.now() - chrono::Duration::hours(ORPHAN_INPUT_HOURS);
        Ok(self.store.delete_orphan_job_inputs(cutoff).await?)
    }
}

/// [`git::check_url`] on the blocking pool: it resolves the host name, which may wait on a slow
/// DNS server, and must not hold up an async thread meanwhile.
async fn check_git_url(url: &str, allowed: &[String]) -> Result<git::CheckedUrl, ScanError> {
    let (url, allowed) = (url.to_string(), allowed.to_vec());
    tokio::task::spawn_blocking(move || git::check_url(&url, &allowed))
        .await
        .unwrap_or_else(|e| Err(ScanError::RefusedUrl(format!("the check stopped: {e}"))))
}

/// Writes uploaded files, or unpacks an archive, under `root`.
fn prepare_upload(root: &Path, upload: Upload) -> DomainResult<()> {
    std::fs::create_dir_all(root).map_err(|e| DomainError::internal(format!("workspace: {e}")))?;
    match upload {
        Upload::Files(files) => {
            for (name, bytes) in files {
                let path = archive::safe_join(root, &name).map_err(|e| scan_error("files", e))?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| DomainError::internal(format!("workspace: {e}")))?;
                }
                std::fs::write(&path, bytes)
                    .map_err(|e| DomainError::internal(format!("workspace: {e}")))?;
            }
            Ok(())
        }
        Upload::StagedFiles(files) => {
            for (name, staged) in files {
                let path = archive::safe_join(root, &name).map_err(|e| scan_error("files", e))?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| DomainError::internal(format!("workspace: {e}")))?;
                }
                // The staging directory is beside the workspaces, so this is a rename; a copy
                // covers a staging directory on another file system.
                if std::fs::rename(&staged, &path).is_err() {
                    std::fs::copy(&staged, &path)
                        .map_err(|e| DomainError::internal(format!("workspace: {e}")))?;
                }
            }
            Ok(())
        }
        Upload::Archive { name, path } => {
            let Some(format) = archive::Format::from_name(&name) else {
                return Err(invalid("archive", "the archive must be a .zip, .tar.gz or .tgz file"));
            };
            let skipped =
                archive::extract(&path, format, root).map_err(|e| scan_error("archive", e))?;
            // Links the archive held are reported with the scan's other skipped files.
            let note = serde_json::to_vec(&skipped).unwrap_or_default();
            let parent = root.parent().unwrap_or(root);
            std::fs::write(parent.join("archive-skipped.json"), note)
                .map_err(|e| DomainError::internal(format!("workspace: {e}")))
        }
    }
}

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

/// Counters a scan reports as progress and in its result.
#[derive(Debug, Default, Serialize)]
struct Counts {
    phase: &'static str,
    files_total: usize,
    files_done: usize,
    files_indexed: usize,
    files_unchanged: usize,
    chunks: usize,
    tokens: i64,
    errors: usize,
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
        let mut counts = Counts { phase: "preparing", ..Counts::default() };
        ctx.set_progress(json!(counts));

        let root = if payload.source == "git" {
            counts.phase = "cloning";
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

        counts.phase = "selecting";
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
            .scanned_files(project_id)
            .await
            .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?
            .into_iter()
            .map(|f| (f.file_path, f.content_hash))
            .collect();
        counts.phase = "indexing";
        counts.files_total = selection.files.len();
        ctx.set_progress(json!(counts));

        let sizes = Sizes {
            chunk_size: payload.chunk_size as usize,
            chunk_overlap: payload.chunk_overlap as usize,
        };
        let mut errors: Vec<Value> = Vec::new();
        // Files are read, chunked, embedded and stored in order, but the next file is prepared
        // while this one is embedded or stored, so the model is seldom idle. Each file is still
        // stored in one transaction on its own.
        // (By index: a closure over `&SourceFile` returning a future trips the compiler's
        // higher-ranked lifetime inference inside an `async_trait` method.)
        let files = &selection.files;
        let mut indexed = stream::iter(0..files.len())
            .map(|i| {
                self.index_file(
                    job,
                    project_id,
                    &files[i].path,
                    &files[i].abs_path,
                    sizes,
                    &previous,
                )
            })
            .buffered(FILES_IN_FLIGHT);
        for file in &selection.files {
            if ctx.stopped() {
                return Err(JobError::Cancelled);
            }
            let Some(outcome) = indexed.next().await else { break };
            match outcome {
                Ok(Indexed::Unchanged) => counts.files_unchanged += 1,
                Ok(Indexed::Stored { chunks, tokens }) => {
                    counts.files_indexed += 1;
                    counts.chunks += chunks;
                    counts.tokens += tokens;
                }
                Err(FileError::Skip(message)) => {
                    counts.errors += 1;
                    errors.push(json!({"path": file.path, "message": message}));
                }
                Err(FileError::Job(e)) => return Err(e),
            }
            counts.files_done += 1;
            ctx.set_progress(json!(counts));
        }

        drop(indexed);
        // Files gone from a full snapshot (archive or repository) lose their chunks.
        let mut files_removed = 0;
        if payload.source != "files" && !ctx.stopped() {
            let present: HashSet<&str> = selection.present.iter().map(String::as_str).collect();
            let gone: Vec<String> =
                previous.keys().filter(|p| !present.contains(p.as_str())).cloned().collect();
            if !gone.is_empty() {
                self.store
                    .remove_scanned_files(project_id, &gone)
                    .await
                    .map_err(|e| JobError::internal(DATABASE_UNAVAILABLE, e))?;
                files_removed = gone.len();
            }
        }
        if ctx.stopped() {
            return Err(JobError::Cancelled);
        }
        counts.phase = "done";
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
            source: Some(SOURCE.into()),
        });
        let skipped_total = skipped.len();
        skipped.truncate(MAX_LISTED);
        Ok(json!({
            "files_indexed": counts.files_indexed,
            "files_unchanged": counts.files_unchanged,
            "files_removed": files_removed,
            "files_not_matched": selection.not_matched,
            "chunks": counts.chunks,
            "tokens": counts.tokens,
            "skipped": skipped,
            "skipped_total": skipped_total,
            "errors": errors,
            "elapsed_ms": elapsed_ms,
        }))
    }

    /// Indexes one file unless its content is what the project already has.
    async fn index_file(
        &self,
        job: &JobRecord,
        project_id: Uuid,
        path: &str,
        abs_path: &Path,
        sizes: Sizes,
        previous: &HashMap<String, String>,
    ) -> Result<Indexed, FileError> {
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
                let tokens = super::context::count_tokens(&chunk.text) as i64;
                ContextRecord {
                    id: Uuid::now_v7(),
                    project_id,
                    content_hash: super::context::sha256_hex(&chunk.text),
                    token_count: tokens,
                    source: SOURCE.into(),
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
        let passages =
            self.passages_for_many(&records).await.map_err(|e| FileError::Job(e.into()))?;
        let rows: Vec<_> = records.into_iter().zip(passages).collect();
        let file = ScannedFile { file_path: path.to_string(), content_hash: hash };
        self.store
            .replace_scanned_file(project_id, &file, &rows)
            .await
            .map_err(|e| FileError::Job(JobError::internal(DATABASE_UNAVAILABLE, e)))?;
        Ok(Indexed::Stored { chunks: rows.len(), tokens })
    }
}

enum Indexed {
    Unchanged,
    Stored { chunks: usize, tokens: i64 },
}

enum FileError {
    /// This file cannot be indexed; the scan goes on.
    Skip(String),
    /// The scan cannot go on.
    Job(JobError),
}
