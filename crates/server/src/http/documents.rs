//! `POST /ai/upload` and `GET /ai/upload/status/{task_id}`: documents (PDF, DOCX, HTML,
//! Markdown, plain text) uploaded as multipart form data — a `project_id` field and one or more
//! `file` parts — read, and indexed into the project by a job, the upload's task.
//!
//! The documents are read into memory to be extracted, so this route has its own limit
//! ([`MAX_UPLOAD_BYTES`], or `SCAN_MAX_UPLOAD_BYTES` when that is lower) and shares the scan
//! uploads' per-user slots. When `project_id` comes first, access is checked before a file is
//! read.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use tc_domain::services::{MAX_DOCUMENTS, UploadedDocument};
use tc_domain::views::{JobView, UploadAccepted};
use tc_domain::{DomainError, ErrorCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::scan::{UPLOADS_PER_USER, bad_part, is_multipart, part_error};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Id, Json, resource};
use crate::state::AppState;

/// Most bytes one document upload may have.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        // The route enforces its own limit, instead of the general body limit.
        .layer(DefaultBodyLimit::disable())
        .merge(OpenApiRouter::new().routes(routes!(upload_status)))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::ContextTooLarge,
        format!("the upload is larger than this server accepts for documents ({limit} bytes)"),
    )
}

/// Upload documents to remember: their text is extracted at once (a file that cannot be read
/// is refused with its reason) and indexed into the project by a background task, split along
/// headings like any document. Uploading the same file name again updates it in place.
#[utoipa::path(post, path = "/ai/upload", tag = "ai", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data",
        description = "a `project_id` field and one or more `file` parts: .pdf, .docx, .html, .md or .txt, at most 20"),
    responses((status = 202, body = UploadAccepted), (status = 400), (status = 403), (status = 404), (status = 413), (status = 422), (status = 429)))]
async fn upload(
    State(state): State<AppState>,
    Auth(caller): Auth,
    req: Request,
) -> ApiResult<(StatusCode, Json<UploadAccepted>)> {
    let accepted = accept_upload(&state, &caller, req).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Reads an upload's multipart form (`project_id`, then `file` parts) under its own limit and
/// the per-user upload slots, and hands the documents to the service: what the REST route and
/// the dashboard's upload form share. The route must not limit the body itself.
pub(crate) async fn accept_upload(
    state: &AppState,
    caller: &tc_domain::Caller,
    req: Request,
) -> ApiResult<UploadAccepted> {
    state.services.require_may_upload(caller)?;
    if !is_multipart(&req) {
        return Err(bad_part(
            "send the documents as multipart/form-data: a `project_id` field and `file` parts",
        ));
    }
    let limit = MAX_UPLOAD_BYTES.min(state.scan_upload_limit);
    let _slot = state.uploads.take(caller.user_id, UPLOADS_PER_USER).ok_or_else(|| {
        ApiError::new(
            ErrorCode::RateLimitExceeded,
            format!("you have {UPLOADS_PER_USER} uploads in progress already; retry when one ends"),
        )
    })?;
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    let mut multipart =
        Multipart::from_request(req, state).await.map_err(|e| bad_part(e.body_text()))?;
    let part_error = |e| part_error(e, too_large(limit));
    let mut project_id = None;
    let mut documents = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        match field.name().unwrap_or_default() {
            "project_id" => {
                let text = field.text().await.map_err(part_error)?;
                // A malformed id is a project that does not exist, as in paths.
                let id = Uuid::parse_str(text.trim())
                    .map_err(|_| ApiError(DomainError::project_not_found()))?;
                state.services.authorize_upload(caller, id).await?;
                project_id = Some(id);
            }
            "file" | "files" => {
                let file_name = field
                    .file_name()
                    .map(str::to_string)
                    .filter(|n| !n.trim().is_empty())
                    .ok_or_else(|| bad_part("each `file` part needs a file name"))?;
                if documents.len() == MAX_DOCUMENTS {
                    return Err(ApiError(DomainError::validation(
                        "file",
                        format!("send at most {MAX_DOCUMENTS} documents per upload"),
                    )));
                }
                let bytes = field.bytes().await.map_err(part_error)?.to_vec();
                documents.push(UploadedDocument { file_name, bytes });
            }
            other => return Err(bad_part(format!("unexpected form field {other:?}"))),
        }
    }
    let project_id = project_id.ok_or_else(|| ApiError(DomainError::missing("project_id")))?;
    Ok(state.services.upload_documents(caller, project_id, documents).await?)
}

/// An upload's task: the job indexing its documents (`queued`, `running`, `completed` with
/// the files and contexts it indexed, or `failed` with the reason).
#[utoipa::path(get, path = "/ai/upload/status/{task_id}", tag = "ai", security(("bearer" = [])),
    params(("task_id" = String, Path)), responses((status = 200, body = JobView), (status = 404)))]
async fn upload_status(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(task_id, ..): Id<resource::Job>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(state.services.job(&caller, task_id).await?))
}
