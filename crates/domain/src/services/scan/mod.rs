//! Codebase scans (SPEC §7). This module accepts a scan (validate, put its source in a
//! workspace, write the job); `transport` carries an upload between replicas and cleans up
//! workspaces; `job` is the scan job itself (select files, chunk, embed, store incrementally).
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

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tc_scan::{ScanError, archive, git};
use tc_store::{JobStatus, Scope};
use tracing::warn;
use uuid::Uuid;

use super::Services;
use super::access::Access;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::views::{ScanAccepted, ScanProgress, ScanRequest};

mod job;
mod transport;

pub use job::ScanJob;

pub const SCAN_KIND: &str = "scan_codebase";
const SOURCE: &str = "codebase_scan";
/// The source of documents uploaded through `/ai/upload`: tracked apart from the codebase, so
/// that a full scan of the repository never removes them (they are not in it).
pub(crate) const DOCUMENT_SOURCE: &str = "document_upload";
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
    /// `OUTBOUND_ALLOWED_HOSTS`: internal git hosts a scan may clone from (`*` any, `file` for
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

/// What a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ScanSource {
    /// Individual files: they are added or updated, never removed.
    Files,
    /// An archive: a full snapshot of the project.
    Archive,
    /// A repository, cloned by the job: a full snapshot of the project.
    Git,
}

/// The job's input, stored in its row.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ScanPayload {
    source: ScanSource,
    /// The contexts' source, and the set of indexed files this scan updates (jobs queued
    /// before it existed are codebase scans).
    #[serde(default = "codebase")]
    origin: String,
    git_url: Option<String>,
    branch: Option<String>,
    file_patterns: Vec<String>,
    chunk_size: u32,
    chunk_overlap: u32,
}

fn codebase() -> String {
    SOURCE.into()
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
        self.start_scan_of(caller, project_id, req, upload, SOURCE).await
    }

    /// [`start_scan`](Self::start_scan) of the files of `origin` (a source of their own,
    /// such as uploaded documents).
    pub(crate) async fn start_scan_of(
        &self,
        caller: &Caller,
        project_id: Uuid,
        req: ScanRequest,
        upload: Option<Upload>,
        origin: &str,
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
                ScanSource::Git
            }
            (None, Some(Upload::Files(files))) if files.is_empty() => {
                return Err(DomainError::missing("files"));
            }
            (None, Some(Upload::StagedFiles(files))) if files.is_empty() => {
                return Err(DomainError::missing("files"));
            }
            (None, Some(Upload::Files(_) | Upload::StagedFiles(_))) => ScanSource::Files,
            (None, Some(Upload::Archive { .. })) => ScanSource::Archive,
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
            source,
            origin: origin.to_string(),
            git_url,
            branch: req.branch.filter(|b| !b.trim().is_empty()),
            file_patterns,
            chunk_size,
            chunk_overlap,
        };
        let job = self.queued_job(
            job_id,
            SCAN_KIND,
            Some(project_id),
            caller.user_id,
            serde_json::to_value(&payload).unwrap_or_default(),
            serde_json::to_value(ScanProgress::default()).unwrap_or_default(),
        );
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
            status: JobStatus::Queued,
            status_url: format!("/api/v1/projects/{project_id}/scan/status/{job_id}"),
        })
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
