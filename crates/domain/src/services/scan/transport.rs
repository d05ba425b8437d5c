//! How a prepared upload reaches the worker that runs its scan: packed into the job's input
//! when replicas share the database, unpacked into the worker's own workspace; and the upkeep
//! that removes workspaces and inputs no job will use.

use std::path::Path;

use tc_scan::archive;
use tracing::warn;
use uuid::Uuid;

use super::{INPUT_PART_BYTES, ORPHAN_INPUT_HOURS};
use crate::error::{DomainError, DomainResult};
use crate::services::Services;
use crate::services::jobs::JobError;

impl Services {
    /// Packs a prepared upload (the workspace) and stores it as the job's input, so that a
    /// worker on any replica can run the scan. On failure nothing of it stays stored.
    pub(super) async fn share_upload(&self, job_id: Uuid, workspace: &Path) -> DomainResult<()> {
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
    pub(super) async fn fetch_upload(
        &self,
        job_id: Uuid,
        workspace: &Path,
    ) -> Result<bool, JobError> {
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
