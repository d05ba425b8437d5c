//! Documents uploaded to be remembered (`POST /ai/upload`): each file's text is extracted at
//! once (so a file that cannot be read is refused with its reason, before anything is stored),
//! as Markdown, and the documents are indexed by a scan job of the project like uploaded files,
//! under `documents/` (`<file name>.md` unless it is Markdown already): split along their
//! headings, embedded, searchable, and updated in place when the same file is uploaded again.
//! Their source is `document_upload`, tracked apart from the codebase's files, so a full scan
//! of the repository leaves them alone. The job is the upload's task.

use tc_documents::DocumentError;
use tracing::instrument;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::services::scan::DOCUMENT_SOURCE;
use crate::services::{Services, Upload};
use crate::views::{ScanRequest, UploadAccepted, UploadedDocumentView};

/// Documents one upload may hold.
pub const MAX_DOCUMENTS: usize = 20;
/// The folder uploaded documents are indexed under.
const FOLDER: &str = "documents";

/// One uploaded file.
#[derive(Debug, Clone)]
pub struct UploadedDocument {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl Services {
    /// What uploading needs, checked before the request is read: the `write` scope and a
    /// verified account.
    pub fn require_may_upload(&self, caller: &Caller) -> DomainResult<()> {
        caller.require_scope(tc_store::Scope::Write)?;
        self.require_verified(caller)
    }

    /// Checks the caller may add to `project_id` (before the files are read).
    pub async fn authorize_upload(&self, caller: &Caller, project_id: Uuid) -> DomainResult<()> {
        self.authorize_scan(caller, project_id).await
    }

    /// `POST /ai/upload`: extracts every document's text, then starts the job that indexes
    /// them.
    #[instrument(skip_all, fields(user_id = %caller.user_id, %project_id))]
    pub async fn upload_documents(
        &self,
        caller: &Caller,
        project_id: Uuid,
        documents: Vec<UploadedDocument>,
    ) -> DomainResult<UploadAccepted> {
        self.authorize_upload(caller, project_id).await?;
        if documents.is_empty() {
            return Err(DomainError::missing("file"));
        }
        if documents.len() > MAX_DOCUMENTS {
            return Err(DomainError::validation(
                "file",
                format!("send at most {MAX_DOCUMENTS} documents per upload"),
            ));
        }
        let extracted = tokio::task::spawn_blocking(move || {
            documents
                .into_iter()
                .map(|d| {
                    let name = base_name(&d.file_name);
                    tc_documents::extract(&name, &d.bytes).map(|e| (name, e))
                })
                .collect::<Result<Vec<_>, DocumentError>>()
        })
        .await
        .map_err(|e| DomainError::internal(format!("document extraction failed: {e}")))?
        .map_err(|e| DomainError::validation("file", e.to_string()))?;

        let mut files = Vec::with_capacity(extracted.len());
        let mut views = Vec::with_capacity(extracted.len());
        for (name, doc) in extracted {
            // A Markdown file keeps its name; the others are named as what they became
            // (`guide.pdf.md`), so `guide.pdf` and `guide.docx` do not overwrite each other.
            let path = if name.to_ascii_lowercase().ends_with(".md") {
                format!("{FOLDER}/{name}")
            } else {
                format!("{FOLDER}/{name}.md")
            };
            views.push(UploadedDocumentView {
                file_name: name,
                kind: doc.kind.as_str().to_string(),
                characters: doc.markdown.chars().count() as u64,
                path: path.clone(),
            });
            files.push((path, doc.markdown.into_bytes()));
        }
        let upload = Some(Upload::Files(files));
        let started = self
            .start_scan_of(caller, project_id, ScanRequest::default(), upload, DOCUMENT_SOURCE)
            .await?;
        Ok(UploadAccepted {
            task_id: started.job_id,
            project_id,
            status: started.status,
            status_url: format!("/api/v1/ai/upload/status/{}", started.job_id),
            documents: views,
        })
    }
}

/// The file name without any folder a client put before it, with characters a path cannot
/// hold replaced.
fn base_name(raw: &str) -> String {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    let cleaned: String =
        name.chars().map(|c| if c.is_control() || c == ':' { '_' } else { c }).collect();
    match cleaned.trim_matches('.') {
        "" => "document".into(),
        // A hidden file would be passed over by the scan.
        _ if cleaned.starts_with('.') => format!("document{cleaned}"),
        _ => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::base_name;

    #[test]
    fn a_file_name_loses_its_folders_and_never_hides() {
        assert_eq!(base_name("guide.pdf"), "guide.pdf");
        assert_eq!(base_name("team/docs/guide.pdf"), "guide.pdf");
        assert_eq!(base_name(r"C:\Users\ann\guide.docx"), "guide.docx");
        assert_eq!(base_name("../../etc/passwd"), "passwd");
        assert_eq!(base_name(".md"), "document.md");
        assert_eq!(base_name(".."), "document");
        assert_eq!(base_name("  notes.txt "), "notes.txt");
        assert_eq!(base_name("a:b\u{7}.md"), "a_b_.md");
    }
}
