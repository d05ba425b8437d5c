//! `/projects/{id}/scan`, `/projects/{id}/scan/status/{job_id}`, `/jobs/{id}` and
//! `/jobs/{id}/cancel`.
//!
//! A scan request is JSON (`git_url` and options) or multipart: repeated `files` parts whose
//! file names are paths relative to the project root, or one `archive` part (.zip, .tar.gz),
//! with the options as form fields. Uploads may be much larger than other requests, so this route
//! has its own limit (`SCAN_MAX_UPLOAD_BYTES`). Access is checked before a byte of the body is
//! read; every part then streams to a temporary file rather than into memory, and a user has at
//! most [`UPLOADS_PER_USER`] uploads in flight at once.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use tc_domain::services::Upload;
use tc_domain::views::{JobView, ScanAccepted, ScanRequest};
use tc_domain::{DomainError, ErrorCode};
use tokio::io::AsyncWriteExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Id, Ids, Json, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_scan))
        // The route enforces SCAN_MAX_UPLOAD_BYTES itself, instead of the general body limit.
        .layer(DefaultBodyLimit::disable())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(scan_status))
                .routes(routes!(job))
                .routes(routes!(cancel_job)),
        )
}

/// Scan uploads one user may send at the same time; more answer 429.
pub const UPLOADS_PER_USER: usize = 2;

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::ContextTooLarge,
        format!(
            "the upload is larger than this server accepts ({limit} bytes, SCAN_MAX_UPLOAD_BYTES)"
        ),
    )
}

pub(super) fn bad_part(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

/// Whether a request's body is a multipart form.
pub(super) fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// A multipart failure: `too_large` when the body passed the route's limit, else a bad form.
pub(super) fn part_error(
    e: axum::extract::multipart::MultipartError,
    too_large: ApiError,
) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE || e.body_text().contains("length limit") {
        too_large
    } else {
        bad_part(e.body_text())
    }
}

/// Index a codebase into the project: from a git repository (JSON `{git_url, branch?}`) or from
/// uploaded files or an archive (multipart). Answers at once with the job to follow.
#[utoipa::path(post, path = "/projects/{id}/scan", tag = "scanning", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ScanRequest,
    responses((status = 202, body = ScanAccepted), (status = 403), (status = 404), (status = 413), (status = 422)))]
async fn start_scan(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(project_id, ..): Id<resource::Project>,
    req: Request,
) -> ApiResult<(StatusCode, Json<ScanAccepted>)> {
    let accepted = accept_scan(&state, &caller, project_id, req).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Starts a scan from a request whose body is JSON options or a multipart form, after checking
/// access and before reading the body: what the REST route and the dashboard's scan form share.
/// The route must not limit the body itself (this applies `SCAN_MAX_UPLOAD_BYTES`).
pub(crate) async fn accept_scan(
    state: &AppState,
    caller: &tc_domain::Caller,
    project_id: uuid::Uuid,
    req: Request,
) -> ApiResult<ScanAccepted> {
    state.services.authorize_scan(caller, project_id).await?;
    let limit = state.scan_upload_limit;
    let is_multipart = is_multipart(&req);
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    let (options, upload, _temp) = if is_multipart {
        let _slot = state.uploads.take(caller.user_id, UPLOADS_PER_USER).ok_or_else(|| {
            ApiError::new(
                ErrorCode::RateLimitExceeded,
                format!(
                    "you have {UPLOADS_PER_USER} scan uploads in progress already; retry when one ends"
                ),
            )
        })?;
        let multipart =
            Multipart::from_request(req, state).await.map_err(|e| bad_part(e.body_text()))?;
        read_multipart(state, multipart, limit).await?
    } else {
        let Json(options) = Json::<ScanRequest>::from_request(req, state).await.map_err(|e| {
            if e.0.code == ErrorCode::ContextTooLarge { too_large(limit) } else { e }
        })?;
        (options, None, None)
    };
    Ok(state.services.start_scan(caller, project_id, options, upload).await?)
}

/// Reads a scan's multipart form: options, then `files` parts or one `archive` part, each
/// streamed to a temporary file. The returned guard removes the temporary files once the scan is
/// set up (or the request failed).
async fn read_multipart(
    state: &AppState,
    mut multipart: Multipart,
    limit: usize,
) -> ApiResult<(ScanRequest, Option<Upload>, Option<Staged>)> {
    let mut options = ScanRequest::default();
    let mut staged = Staged::default();
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut archive: Option<(String, std::path::PathBuf)> = None;
    let part_error = |e| part_error(e, too_large(limit));
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "files" => {
                let path = field
                    .file_name()
                    .map(str::to_string)
                    .filter(|p| !p.trim().is_empty())
                    .ok_or_else(|| {
                    bad_part("each `files` part needs a file name (its path)")
                })?;
                let temp = staged.stream(state, field, part_error).await?;
                files.push((path, temp));
            }
            "archive" => {
                if archive.is_some() {
                    return Err(bad_part("send one `archive` part"));
                }
                let file_name = field.file_name().unwrap_or("archive").to_string();
                let temp = staged.stream(state, field, part_error).await?;
                archive = Some((file_name, temp));
            }
            "git_url" | "branch" | "file_patterns" | "chunk_size" | "chunk_overlap" => {
                let text = field.text().await.map_err(part_error)?;
                set_option(&mut options, &name, text.trim())?;
            }
            other => return Err(bad_part(format!("unexpected form field {other:?}"))),
        }
    }
    let upload = match (files.is_empty(), archive) {
        (false, Some(_)) => {
            return Err(bad_part("send `files` parts or one `archive` part, not both"));
        }
        (true, Some((name, path))) => Some(Upload::Archive { name, path }),
        (false, None) => Some(Upload::StagedFiles(files)),
        (true, None) => None,
    };
    Ok((options, upload, Some(staged)))
}

/// The temporary files of one upload, removed when dropped (those moved into a scan's
/// workspace are gone already).
#[derive(Default)]
struct Staged(Vec<tempfile::TempPath>);

impl Staged {
    /// Streams one part to a new temporary file in the upload directory; returns its path.
    async fn stream(
        &mut self,
        state: &AppState,
        mut field: axum::extract::multipart::Field<'_>,
        part_error: impl Fn(axum::extract::multipart::MultipartError) -> ApiError,
    ) -> ApiResult<std::path::PathBuf> {
        let internal =
            |e: std::io::Error| ApiError(DomainError::internal(format!("upload file: {e}")));
        let dir = state.scan_upload_dir.clone();
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
        let temp = tempfile::NamedTempFile::new_in(&dir).map_err(internal)?.into_temp_path();
        let path = temp.to_path_buf();
        self.0.push(temp);
        let mut out = tokio::fs::File::create(&path).await.map_err(internal)?;
        while let Some(chunk) = field.chunk().await.map_err(&part_error)? {
            out.write_all(&chunk).await.map_err(internal)?;
        }
        out.flush().await.map_err(internal)?;
        Ok(path)
    }
}

fn set_option(options: &mut ScanRequest, name: &str, value: &str) -> ApiResult<()> {
    let number = |v: &str| {
        v.parse::<u32>().map_err(|_| {
            ApiError(DomainError::validation(name, format!("`{name}` must be a whole number")))
        })
    };
    match name {
        "git_url" => options.git_url = Some(value.to_string()),
        "branch" => options.branch = Some(value.to_string()),
        // Repeated fields, or one comma-separated list.
        "file_patterns" => options
            .file_patterns
            .get_or_insert_with(Vec::new)
            .extend(value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string)),
        "chunk_size" => options.chunk_size = Some(number(value)?),
        "chunk_overlap" => options.chunk_overlap = Some(number(value)?),
        _ => {}
    }
    Ok(())
}

/// A scan's status and, once finished, its result.
#[utoipa::path(get, path = "/projects/{id}/scan/status/{job_id}", tag = "scanning",
    security(("bearer" = [])), params(("id" = String, Path), ("job_id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404)))]
async fn scan_status(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(project_id, job_id, ..): Ids<resource::Project, resource::Job>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(state.services.job_status(&caller, project_id, job_id).await?))
}

/// Any job the caller may see: a job of a project they can read, or one they started. The
/// same view as a scan's status, for every kind of job.
#[utoipa::path(get, path = "/jobs/{id}", tag = "scanning", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = JobView), (status = 404)))]
async fn job(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(job_id, ..): Id<resource::Job>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(state.services.job(&caller, job_id).await?))
}

/// Cancel a job: a queued job at once, a running one within seconds (its status says
/// `cancel_requested` until it stops).
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "scanning", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = JobView), (status = 403), (status = 404)))]
async fn cancel_job(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(job_id, ..): Id<resource::Job>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(state.services.cancel_job(&caller, job_id).await?))
}
