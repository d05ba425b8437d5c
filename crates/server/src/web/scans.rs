//! Codebase scans from the browser: upload an archive or a folder's files, or name a git
//! repository; then follow the scan live (htmx polls a fragment each second until the job
//! ends) through to its counts, skipped files and errors, with a cancel button. The upload goes
//! through the same acceptance path as `POST /api/v1/projects/{id}/scan` (its size limit,
//! streaming to disk, per-user upload slots).

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use tc_domain::views::{JobView, ScanProgress, ScanResult};
use tc_domain::{DomainError, ErrorCode, WebCaller};
use tc_store::JobStatus;

use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, live_fragment, page, page_with_status,
    status_of, when,
};
use super::path_id;
use super::session::Web;
use crate::state::AppState;

fn job_not_found() -> DomainError {
    DomainError::not_found("job")
}

/// `GET /projects/{id}/scans`
pub async fn form(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    form_page(&state, &web, &raw, None).await
}

async fn form_page(
    state: &AppState,
    web: &WebCaller,
    raw: &str,
    error: Option<&DomainError>,
) -> Response {
    let Some(id) = path_id(raw) else {
        return error_page(Some(web), DomainError::project_not_found());
    };
    let project = match state.services.get_project(&web.caller, id).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(web), e),
    };
    let action = format!("/projects/{id}/scans?csrf={}", web.csrf);
    let mb = state.scan_upload_limit / (1024 * 1024);
    let body = html! {
        p.crumbs { a href="/projects" { "Projects" } " / " a href={"/projects/" (id)} { (project.name) } " / Scan" }
        h1 { "Scan a codebase into " (project.name) }
        p.lede { "Source files are split into chunks along functions and classes, and each chunk becomes searchable context. A file scanned again is skipped when unchanged." }
        @if let Some(e) = error { (form_error(e)) }
        section.panel aria-labelledby="archive" {
            h2 #archive { "Upload an archive" }
            form.stack method="post" action=(action) enctype="multipart/form-data" {
                label { "Archive" span.hint { ".zip, .tar.gz or .tgz, up to " (mb) " MB." }
                    input type="file" name="archive" accept=".zip,.tar.gz,.tgz,application/zip,application/gzip" required; }
                button type="submit" { "Upload and scan" }
            }
        }
        section.panel aria-labelledby="folder" {
            h2 #folder { "Upload a folder" }
            form.stack method="post" action=(action) enctype="multipart/form-data" {
                label { "Folder" span.hint { "Every file in it, with its path." }
                    input type="file" name="files" multiple webkitdirectory required; }
                button type="submit" { "Upload and scan" }
            }
        }
        section.panel aria-labelledby="git" {
            h2 #git { "Clone a git repository" }
            form.stack method="post" action=(action) enctype="multipart/form-data" {
                label { "Repository URL" span.hint { "https:// URL of a repository this server can reach." }
                    input type="url" name="git_url" placeholder="https://github.com/owner/repo.git" required; }
                label { "Branch" span.hint { "Optional: the default branch otherwise." }
                    input type="text" name="branch"; }
                button type="submit" { "Clone and scan" }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    page_with_status(
        status,
        Chrome::signed_in(web, Nav::Projects),
        &format!("Scan into {}", project.name),
        body,
    )
}

/// `POST /projects/{id}/scans` (multipart; its CSRF token rides in the query)
pub async fn start(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
    req: Request,
) -> Response {
    let Some(id) = path_id(&raw) else {
        return error_page(Some(&web), DomainError::project_not_found());
    };
    match crate::http::scan::accept_scan(&state, &web.caller, id, req).await {
        Ok(accepted) => {
            Redirect::to(&format!("/projects/{id}/scans/{}", accepted.job_id)).into_response()
        }
        Err(e)
            if matches!(
                e.0.code,
                ErrorCode::ProjectNotFound | ErrorCode::InsufficientPermissions
            ) =>
        {
            error_page(Some(&web), e.0)
        }
        Err(e) => form_page(&state, &web, &raw, Some(&e.0)).await,
    }
}

async fn load(
    state: &AppState,
    web: &WebCaller,
    raw: &str,
    raw_job: &str,
) -> Result<(uuid::Uuid, JobView), DomainError> {
    let id = path_id(raw).ok_or_else(DomainError::project_not_found)?;
    let job_id = path_id(raw_job).ok_or_else(job_not_found)?;
    Ok((id, state.services.job_status(&web.caller, id, job_id).await?))
}

/// `GET /projects/{id}/scans/{job_id}`
pub async fn status(
    State(state): State<AppState>,
    Web(web): Web,
    Path((raw, raw_job)): Path<(String, String)>,
) -> Response {
    let (id, job) = match load(&state, &web, &raw, &raw_job).await {
        Ok(found) => found,
        Err(e) => return error_page(Some(&web), e),
    };
    let project =
        state.services.get_project(&web.caller, id).await.map(|p| p.name).unwrap_or_default();
    let body = html! {
        p.crumbs { a href="/projects" { "Projects" } " / " a href={"/projects/" (id)} { (project) } " / Scan" }
        h1 { "Scan of " (project) }
        (progress(&web, id, &job))
    };
    page(Chrome::signed_in(&web, Nav::Projects), "Scan", body)
}

/// `GET /projects/{id}/scans/{job_id}/progress`: the live part of the status page.
pub async fn fragment(
    State(state): State<AppState>,
    Web(web): Web,
    Path((raw, raw_job)): Path<(String, String)>,
) -> Response {
    match load(&state, &web, &raw, &raw_job).await {
        Ok((id, job)) => live_fragment(progress(&web, id, &job)),
        Err(e) => error_page(Some(&web), e),
    }
}

fn finished(status: JobStatus) -> bool {
    matches!(status, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled)
}

/// The job's state; while it runs, a region that replaces itself every second.
fn progress(web: &WebCaller, project_id: uuid::Uuid, job: &JobView) -> Markup {
    let url = format!("/projects/{project_id}/scans/{}/progress", job.job_id);
    let running = !finished(job.status);
    let p: Option<ScanProgress> = serde_json::from_value(job.progress.clone()).ok();
    let result: Option<ScanResult> =
        job.result.clone().and_then(|r| serde_json::from_value(r).ok());
    html! {
        div #scan-progress .panel aria-live="polite"
            hx-get=[running.then_some(&url)] hx-trigger=[running.then_some("every 1s")] hx-swap=[running.then_some("outerHTML")] {
            p { strong { "Status: " } span #scan-status { (status_label(job.status)) }
                @if job.cancel_requested && running { " (cancelling)" } }
            @if let Some(p) = &p {
                @if running {
                    label { "Files " (p.files_done) " of " (p.files_total)
                        progress max=(p.files_total.max(1)) value=(p.files_done) {} }
                }
                p.meta { (format!("{:?}", p.phase).to_lowercase()) " · " (p.files_indexed) " indexed · " (super::count(p.chunks, "chunk")) " · " (super::count(p.tokens, "token")) " · " (super::count(p.errors, "error")) }
            }
            @if let Some(error) = &job.error { div.error-box role="alert" { (error) } }
            @if let Some(r) = &result { (result_view(r)) }
            div.actions {
                @if running {
                    form.inline method="post" action={"/jobs/" (job.job_id) "/cancel"} {
                        (csrf_field(web))
                        button.danger type="submit" { "Cancel the scan" }
                    }
                    noscript { a href=(format!("/projects/{project_id}/scans/{}", job.job_id)) { "Refresh" } }
                } @else {
                    a.button href={"/projects/" (project_id)} { "See the project's context" }
                    a.button.secondary href={"/projects/" (project_id) "/scans"} { "Scan again" }
                }
            }
            p.meta { "Started " (when(job.started_at.unwrap_or(job.created_at)))
                @if let Some(t) = job.finished_at { " · finished " (when(t)) } }
        }
    }
}

fn status_label(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Succeeded => "finished",
        JobStatus::Failed => "failed",
        JobStatus::Cancelled => "cancelled",
    }
}

fn result_view(r: &ScanResult) -> Markup {
    html! {
        div.stats {
            div.stat { b { (r.files_indexed) } span { "files indexed" } }
            div.stat { b { (r.files_unchanged) } span { "unchanged" } }
            div.stat { b { (r.chunks) } span { "chunks" } }
            div.stat { b { (r.tokens) } span { "tokens" } }
            div.stat { b { (r.skipped_total) } span { "skipped" } }
            div.stat { b { (r.errors.len()) } span { "errors" } }
        }
        p.meta { (r.files_removed) " removed since the last scan · " (r.files_not_matched) " not matched · " (format!("{:.1}", r.elapsed_ms as f64 / 1000.0)) " s" }
        @if !r.errors.is_empty() {
            details open {
                summary { "Files that could not be indexed (" (r.errors.len()) ")" }
                ul { @for f in &r.errors { li { code { (f.path) } " — " (f.message) } } }
            }
        }
        @if !r.skipped.is_empty() {
            details {
                summary { "Skipped files (" (r.skipped_total) ")" }
                ul { @for f in &r.skipped { li { code { (f.path) } " — " (f.reason) } } }
            }
        }
    }
}

/// `POST /jobs/{id}/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    Web(web): Web,
    Path(raw): Path<String>,
) -> Response {
    let Some(job_id) = path_id(&raw) else { return error_page(Some(&web), job_not_found()) };
    match state.services.cancel_job(&web.caller, job_id).await {
        Ok(job) => match job.project_id {
            Some(p) => Redirect::to(&format!("/projects/{p}/scans/{job_id}")).into_response(),
            None => Redirect::to("/projects").into_response(),
        },
        Err(e) => error_page(Some(&web), e),
    }
}
